//! `disbmon check` (every problem of the config and the jobs at once, and each job's next run
//! times) and `disbmon status` (each job's schedule and last runs, from the state store).

use super::common::{env, print_problems};
use crate::app::exit;
use crate::app::setup;
use crate::base::clock::Clock;
use crate::config::read::Problem;
use crate::config::{job_load, jobs};
use crate::store::db::Store;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

pub(super) fn check(config_path: Option<&Path>, clock: &dyn Clock) -> i32 {
    let mut problems = Vec::new();
    let config = match setup::config(config_path, &env) {
        Ok(s) => Some(s.config),
        Err(p) => {
            problems.extend(p);
            None
        }
    };
    // The jobs are checked even when the config is broken, with its default zone.
    let (jobs_dir, zone) = match &config {
        Some(c) => (c.jobs_dir.clone(), c.timezone),
        None => (PathBuf::from("jobs"), chrono_tz::Asia::Ho_Chi_Minh),
    };
    if let Some(c) = &config {
        sayln!(
            "config: {} (jobs in {}, state in {}, zone {})",
            c.file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "embedded defaults".into()),
            c.jobs_dir.display(),
            c.state_dir.display(),
            c.timezone
        );
    }
    let files = match jobs::files(&jobs_dir) {
        Ok(f) => {
            problems.extend(f.unreadable);
            f.files
        }
        Err(p) => {
            problems.push(p);
            Vec::new()
        }
    };
    if files.is_empty() && problems.is_empty() && config.is_some() {
        problems.push(Problem {
            file: jobs_dir.clone(),
            key: String::new(),
            message: "no job files (*.toml) here; add one (see docs/jobs.md)".into(),
        });
    }
    let now = clock.now();
    for file in files {
        match job_load::load_with(&file, zone, true) {
            Ok(job) => {
                let next: Vec<String> = job
                    .schedule
                    .upcoming(job.timezone, now, 3)
                    .iter()
                    .map(|t| t.format("%a %Y-%m-%d %H:%M %Z").to_string())
                    .collect();
                if let Some(c) = &config {
                    problems.extend(jobs::outside_allowed(c, &job));
                }
                if next.is_empty() {
                    problems.push(Problem {
                        file: file.clone(),
                        key: "schedule".into(),
                        message: format!(
                            "`{}` never fires (e.g. 30 February); fix the day and month",
                            job.schedule.expression()
                        ),
                    });
                }
                sayln!(
                    "job {} ({}): `{}` in {}; next: {}",
                    job.name,
                    file.display(),
                    job.schedule.expression(),
                    job.timezone,
                    next.join(", ")
                );
            }
            Err(p) => problems.extend(p.list),
        }
    }
    if problems.is_empty() {
        sayln!("all valid");
        exit::OK
    } else {
        print_problems(&problems);
        exit::CONFIG
    }
}

pub(super) fn status(config_path: Option<&Path>, clock: &dyn Clock) -> i32 {
    let (setup, jobs) = match setup::all(config_path, &env) {
        Ok(v) => v,
        Err(p) => {
            print_problems(&p);
            return exit::CONFIG;
        }
    };
    let config = &setup.config;
    let store = match Store::open(&config.state_dir) {
        Ok(s) => s,
        Err(e) => {
            esayln!("{e}");
            return exit::ERROR;
        }
    };
    let now = clock.now();
    match store.heartbeat() {
        Ok(Some(t)) => sayln!(
            "daemon last seen {} (state {})",
            t.with_timezone(&config.timezone)
                .format("%Y-%m-%d %H:%M:%S %Z"),
            store.path().display()
        ),
        Ok(None) => sayln!(
            "the daemon has not run yet (state {})",
            store.path().display()
        ),
        Err(e) => esayln!("{e}"),
    }
    for job in &jobs {
        let tz = job.timezone;
        let fmt = |t: DateTime<Utc>| {
            t.with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        };
        let next = job
            .schedule
            .next_after(tz, now)
            .map(|t| fmt(t.with_timezone(&Utc)))
            .unwrap_or_else(|| "never".into());
        sayln!(
            "\njob {}: `{}` in {tz}; next run {next}",
            job.name,
            job.schedule.expression()
        );
        match store.runs(&job.name, 5) {
            Ok(runs) if runs.is_empty() => sayln!("  no runs yet"),
            Ok(runs) => {
                for r in runs {
                    sayln!(
                        "  run of {}: {}{}, {} tr{}, {} unit(s) behind, {} sent, {} failed{}",
                        fmt(r.scheduled_at),
                        r.outcome,
                        r.finished_at
                            .map(|t| format!(" at {}", fmt(t)))
                            .unwrap_or_default(),
                        r.attempts,
                        if r.attempts == 1 { "y" } else { "ies" },
                        r.units_behind.unwrap_or(0),
                        r.emails_sent.unwrap_or(0),
                        r.emails_failed.unwrap_or(0),
                        r.error
                            .map(|e| format!("\n    {}", e.replace('\n', "\n    ")))
                            .unwrap_or_default()
                    );
                }
            }
            Err(e) => esayln!("{e}"),
        }
    }
    exit::OK
}
