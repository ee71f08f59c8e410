//! The jobs folder: which job files there are, and the checks that need the daemon config and a
//! job together.

use super::daemon::Config;
use super::job::Job;
use super::read::Problem;
use std::path::{Path, PathBuf};

/// The job files in the jobs folder, sorted.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, Problem> {
    let entries = std::fs::read_dir(dir).map_err(|e| Problem {
        file: dir.to_path_buf(),
        key: String::new(),
        message: format!("cannot read the jobs folder: {e}; check jobs_dir"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// A job's own recipients (cc, digest, escalation) outside `mail.allowed_domains`: the config
/// contradicts itself, and `check` says so before any mail is refused.
pub fn outside_allowed(config: &Config, job: &Job) -> Vec<Problem> {
    let lists = [
        ("alerts.cc", &job.cc),
        ("alerts.digest_to", &job.digest_to),
        ("alerts.escalate_to", &job.escalate_to),
    ];
    let mut problems = Vec::new();
    for (key, list) in lists {
        for (i, m) in list.iter().enumerate() {
            if !config.mail.allows(m.email.as_str()) {
                problems.push(Problem {
                    file: job.file.clone(),
                    key: format!("{key}[{i}]"),
                    message: format!(
                        "`{}` is outside mail.allowed_domains ({}); mail to it would be refused — correct it, or add its domain to the config",
                        m.email,
                        config.mail.allowed_domains.join(", ")
                    ),
                });
            }
        }
    }
    problems
}

/// Every job of the config's jobs folder, or every problem found in them.
pub fn load_all(config: &Config) -> Result<Vec<Job>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut jobs = Vec::new();
    for f in files(&config.jobs_dir).map_err(|p| vec![p])? {
        match crate::config::job_load::load(&f, config.timezone) {
            Ok(j) => {
                problems.extend(outside_allowed(config, &j));
                jobs.push(j);
            }
            Err(p) => problems.extend(p.list),
        }
    }
    match problems.is_empty() {
        true => Ok(jobs),
        false => Err(problems),
    }
}
