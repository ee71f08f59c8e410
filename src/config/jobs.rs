//! The jobs folder: which job files there are, and the checks that need the daemon config and a
//! job together.

use super::daemon::Config;
use super::job::Job;
use super::read::Problem;
use std::path::{Path, PathBuf};

/// What the jobs folder holds: the job files, sorted, and every `*.toml` entry that cannot be
/// read as one, with why — a job that vanished in silence would be a unit never alerted.
#[derive(Debug, Default)]
pub struct JobFiles {
    pub files: Vec<PathBuf>,
    pub unreadable: Vec<Problem>,
}

/// The `*.toml` entries of the jobs folder. Names starting with a dot are not jobs (an editor's
/// lock file, `.#weekly.toml`, is a dangling link while a job is being edited).
pub fn files(dir: &Path) -> Result<JobFiles, Problem> {
    let entries = std::fs::read_dir(dir).map_err(|e| Problem {
        file: dir.to_path_buf(),
        key: String::new(),
        message: format!("cannot read the jobs folder: {e}; check jobs_dir"),
    })?;
    let mut found = JobFiles::default();
    for entry in entries {
        let path = match entry {
            Ok(e) => e.path(),
            Err(e) => {
                found.unreadable.push(Problem {
                    file: dir.to_path_buf(),
                    key: String::new(),
                    message: format!("cannot list an entry of the jobs folder: {e}; check the folder and its permissions"),
                });
                continue;
            }
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref().is_none_or(|n| n.starts_with('.'))
            || path.extension().is_none_or(|x| x != "toml")
        {
            continue;
        }
        match unreadable(&path) {
            None => found.files.push(path),
            Some(why) => found.unreadable.push(Problem {
                file: path,
                key: String::new(),
                message: why,
            }),
        }
    }
    found.files.sort();
    found.unreadable.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(found)
}

/// Why `path` cannot be read as a job file (None: it is a file, or can be tried as one).
pub fn unreadable(path: &Path) -> Option<String> {
    let link = std::fs::symlink_metadata(path).ok()?;
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => None,
        Ok(m) if m.is_dir() => Some(
            "a folder, not a job file; rename it (a job is a *.toml file), or move it out of the jobs folder".into(),
        ),
        Ok(_) => Some("not a regular file (a device, a pipe or a socket); a job is a *.toml file".into()),
        Err(e) if link.is_symlink() => {
            let to = std::fs::read_link(path)
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "?".into());
            // ELOOP: the kernel gave up following links.
            Some(if e.raw_os_error() == Some(40) {
                format!("a symbolic link to `{to}` that loops back on itself; point it at the job file, or remove it")
            } else if e.kind() == std::io::ErrorKind::NotFound {
                format!("a symbolic link to `{to}`, which does not exist; point it at the job file, or remove it")
            } else {
                format!("a symbolic link to `{to}`, which cannot be read: {e}; check it and its permissions")
            })
        }
        Err(e) => Some(format!("cannot be read: {e}; check it and its permissions")),
    }
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
    let found = files(&config.jobs_dir).map_err(|p| vec![p])?;
    problems.extend(found.unreadable);
    for f in found.files {
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
