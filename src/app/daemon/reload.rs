//! SIGHUP: the config and jobs read again; the old ones keep running when anything is wrong.

use super::env::local;
use super::env::{Env, Scheduled};
use crate::app::setup::{self, Setup};
use crate::config::daemon::AnswersConfig;
use chrono::Utc;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use tokio::sync::watch;

/// Re-reads config and jobs; keeps the old ones when anything is wrong.
pub(super) fn reload(
    config_tx: &watch::Sender<Arc<Setup>>,
    config_path: Option<&std::path::Path>,
    scheduled: &mut BTreeMap<String, Scheduled>,
    env: &mut Env,
) {
    tracing::info!("SIGHUP: reloading the configuration");
    let (setup, jobs) = match setup::all(config_path, &|k| std::env::var(k).ok()) {
        Ok(v) => v,
        Err(problems) => {
            for p in &problems {
                tracing::error!("{p}");
            }
            tracing::error!(
                "the new configuration is rejected ({} problems); the old one keeps running",
                problems.len()
            );
            return;
        }
    };
    let Setup {
        mut config,
        templates,
    } = setup;
    let old = &env.setup.config;
    if config.state_dir != old.state_dir || config.admin_listen != old.admin_listen {
        tracing::warn!("state_dir and admin.listen take effect at the next start");
        // The configuration in force says what is in force.
        config.state_dir = old.state_dir.clone();
        config.admin_listen = old.admin_listen;
    }
    // The admin token is replaced at once (a leaked one is rotated without a restart), but never
    // dropped while the listener in force is reachable from other machines.
    let open_listener = old.admin_listen.is_some_and(|a| !a.ip().is_loopback());
    match (&config.admin_token, open_listener) {
        (None, true) => {
            tracing::warn!("the admin listener listens beyond loopback until the next start: it keeps requiring the old admin token");
            config.admin_token = old.admin_token.clone();
        }
        (token, _) => {
            let changed =
                token.as_ref().map(|t| t.expose()) != old.admin_token.as_ref().map(|t| t.expose());
            if changed {
                tracing::info!("the admin token is replaced");
            }
            env.shared.set_token(token.clone());
        }
    }
    // The answers listener checks links with the key it started with: runs keep signing with it
    // (and keep sending links, or none) until the next start.
    let same = |a: &AnswersConfig, b: &AnswersConfig| {
        a.listen == b.listen
            && a.public_url == b.public_url
            && a.key.expose() == b.key.expose()
            && a.per_minute == b.per_minute
            && a.trusted_proxies == b.trusted_proxies
    };
    let changed = match (&config.answers, &old.answers) {
        (Some(a), Some(b)) => !same(a, b),
        (None, None) => false,
        _ => true,
    };
    if changed {
        tracing::warn!("[answers] takes effect at the next start; until then links are signed and checked as before");
        config.answers = old.answers.clone();
    }
    env.setup = Arc::new(Setup { config, templates });
    let _ = config_tx.send(env.setup.clone());
    let now = env.clock.now();
    let names: HashSet<String> = jobs.iter().map(|j| j.name.clone()).collect();
    scheduled.retain(|name, _| {
        let keep = names.contains(name);
        if !keep {
            tracing::info!(job = %name, "job removed");
        }
        keep
    });
    for job in jobs {
        let next = job
            .schedule
            .next_after(job.timezone, now)
            .map(|t| t.with_timezone(&Utc));
        match scheduled.get_mut(&job.name) {
            Some(s) if s.job.text == job.text => {}
            Some(s) => {
                tracing::info!(job = %job.name, "job changed");
                s.job = Arc::new(job);
                s.next = next;
            }
            None => {
                tracing::info!(job = %job.name, "job added; next run {}", next.map(|t| local(&job, t)).unwrap_or_else(|| "never".into()));
                scheduled.insert(
                    job.name.clone(),
                    Scheduled {
                        job: Arc::new(job),
                        next,
                        task: None,
                    },
                );
            }
        }
    }
}
