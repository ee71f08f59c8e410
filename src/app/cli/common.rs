//! What the commands share: loading the config and a job (saying every problem), assessing a
//! job as `once --dry-run` would, and the state store when there is one.

use crate::app::assessment::{self, Assessment};
use crate::app::exit;
use crate::app::setup::{self, Setup};
use crate::base::clock::Clock;
use crate::config::daemon::Config;
use crate::config::job::Job;
use crate::config::read::Problem;
use crate::config::{job_load, jobs};
use crate::store::db::{Store, FILE};
use crate::store::figures::Previous;
use chrono::NaiveDate;
use std::path::{Path, PathBuf};

/// Text from the data or a remote server, as a terminal may print it.
pub(super) fn esc(text: &str) -> std::borrow::Cow<'_, str> {
    crate::base::text::escape(text)
}

/// The process environment, as config loading reads it.
pub(super) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Every problem, then how many and what to do.
pub(super) fn print_problems(problems: &[Problem]) {
    for p in problems {
        esayln!("{p}");
    }
    esayln!(
        "{} problem{} found; fix them and run `disbmon check` again",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
}

/// The job a name (`jobs/NAME.toml`) or a path names, loaded and checked. The other `*.toml`
/// entries of the jobs folder that cannot be read are named on stderr: each is a job that would
/// not run.
pub(super) fn find_job(config: &Config, name: &str) -> Result<Job, Vec<Problem>> {
    let path = if name.ends_with(".toml") || name.contains('/') || name.contains('\\') {
        PathBuf::from(name)
    } else {
        config.jobs_dir.join(format!("{name}.toml"))
    };
    let found = jobs::files(&config.jobs_dir).unwrap_or_default();
    for p in found.unreadable.iter().filter(|p| p.file != path) {
        esayln!("warning: {p}");
    }
    if let Some(why) = jobs::unreadable(&path) {
        return Err(vec![Problem {
            file: path,
            key: String::new(),
            message: why,
        }]);
    }
    if !path.is_file() {
        let known = found
            .files
            .iter()
            .filter_map(|f| f.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(vec![Problem {
            file: path,
            key: String::new(),
            message: format!(
                "no such job file; jobs in {}: {}",
                config.jobs_dir.display(),
                if known.is_empty() { "none" } else { &known }
            ),
        }]);
    }
    job_load::load(&path, config.timezone).map_err(|p| p.list)
}

/// The config and its templates, or the exit code after saying every problem.
pub(super) fn load_setup(config: Option<&Path>) -> Result<Setup, i32> {
    setup::config(config, &env).map_err(|p| {
        print_problems(&p);
        exit::CONFIG
    })
}

/// The config and the job `job` names, or the exit code after saying every problem.
pub(super) fn load(config: Option<&Path>, job: &str) -> Result<(Setup, Job), i32> {
    let setup = load_setup(config)?;
    let job = find_job(&setup.config, job).map_err(|p| {
        print_problems(&p);
        exit::CONFIG
    })?;
    Ok((setup, job))
}

/// Each unit's disbursement at the previous run, read from the state store when there is one
/// (a preview or a report never creates it).
pub(super) fn stored_previous(config: &Config, job: &Job, a: &Assessment) -> Option<Previous> {
    if !config.state_dir.join(FILE).is_file() {
        return None;
    }
    let store = Store::open(&config.state_dir).ok()?;
    store
        .previous_disbursed(&job.name, a.plan_year, a.as_of)
        .ok()
        .flatten()
}

/// Loads a job and assesses it as `once --dry-run` would (nothing recorded or sent). On a
/// failure or rejected data, says why (`instead`: what is not done then) and gives the exit code.
pub(super) async fn assessed(
    config: Option<&Path>,
    job: &str,
    as_of: Option<NaiveDate>,
    clock: &dyn Clock,
    instead: &str,
) -> Result<(Setup, Job, Assessment), i32> {
    let (setup, job) = load(config, job)?;
    let a = assess_loaded(&setup.config, &job, as_of, clock, instead).await?;
    Ok((setup, job, a))
}

/// [`assessed`] for a job already loaded.
pub(super) async fn assess_loaded(
    config: &Config,
    job: &Job,
    as_of: Option<NaiveDate>,
    clock: &dyn Clock,
    instead: &str,
) -> Result<Assessment, i32> {
    let as_of = as_of.unwrap_or_else(|| clock.now().with_timezone(&job.timezone).date_naive());
    // The job's cache (downloads, the daily cube) is read and kept up to date as a run's is:
    // a report, preview or backtest of any date reads the cube, not the whole source again.
    let cache = config.job_cache(&job.name);
    let a = assessment::assess_with(job, &config.mail, as_of, Some(&cache), clock)
        .await
        .map_err(|e| {
            esayln!("{e}");
            exit::ERROR
        })?;
    if a.rejected() {
        for i in &a.issues {
            esayln!("{i}");
        }
        esayln!("job {}: the data was rejected; {instead}", job.name);
        return Err(exit::DATA);
    }
    // Past years the sources no longer hold, from the runs the state store kept (an existing
    // store only: these commands record nothing).
    let mut a = a;
    if config.state_dir.join(FILE).is_file() {
        let added = Store::open(&config.state_dir)
            .and_then(|store| assessment::add_stored_history(&mut a, job, &store));
        if let Err(e) = added {
            esayln!("note: past years from the state store are left out: {e}");
        }
    }
    Ok(a)
}

/// The config and the opened state store, or the exit code after saying why.
pub(super) fn open_store(config_path: Option<&Path>) -> Result<(Config, Store), i32> {
    let config = load_setup(config_path)?.config;
    let store = Store::open(&config.state_dir).map_err(|e| {
        esayln!("{e}");
        exit::ERROR
    })?;
    Ok((config, store))
}
