//! Loading what the operators wrote, as every command and the daemon need it: the config with
//! the email templates it names, and every job of its jobs folder — or every problem at once.

use crate::config::daemon::Config;
use crate::config::job::Job;
use crate::config::read::Problem;
use crate::notify::templates::Templates;
use std::path::Path;
use std::sync::Arc;

/// The daemon config and the email templates it names (the built-in ones, with the overrides of
/// `templates_dir`).
#[derive(Debug, Clone)]
pub struct Setup {
    pub config: Config,
    pub templates: Arc<Templates>,
}

/// The config from `explicit` (`--config`), else `config/disbmon.toml`, else the embedded
/// defaults; `env` reads the environment variables it names. The templates are checked with
/// everything else, so one `disbmon check` lists every problem.
pub fn config(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Setup, Vec<Problem>> {
    let mut templates = None;
    let config = Config::load(
        explicit,
        env,
        &mut |dir| match Templates::with_overrides(dir) {
            Ok(t) => {
                templates = Some(t);
                Vec::new()
            }
            Err(found) => found.iter().map(ToString::to_string).collect(),
        },
    )?;
    Ok(Setup {
        config,
        templates: Arc::new(templates.unwrap_or_default()),
    })
}

/// The config and every job, or every problem of both.
pub fn all(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Setup, Vec<Job>), Vec<Problem>> {
    let setup = config(explicit, env)?;
    let jobs = crate::config::jobs::load_all(&setup.config)?;
    Ok((setup, jobs))
}
