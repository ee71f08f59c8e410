//! The daemon (`disbmon run`): runs every job on its own schedule, one run at a time per job,
//! each run recorded in the state store before it starts so that a restart never runs a slot twice.
//! Catches up missed slots, retries failed runs with backoff, tells operators about failures and
//! silent jobs, stops gracefully on SIGTERM/SIGINT and reloads on SIGHUP.
//!
//! The loop sleeps until the earliest next run (or at most [`env::TICK`]), so that heartbeats and
//! the dead-man check keep going; every decision about time uses the injected clock.

pub mod catch_up;
pub mod env;
mod notices;
mod outbox;
mod reload;
mod runs;

#[cfg(test)]
mod tests;

use crate::app::exit;
use crate::app::setup::{self, Setup};
use crate::base::clock::Clock;
use crate::config::job::Job;
use crate::store::db::Store;
use crate::store::lock::{DaemonLock, LockError};
use crate::web::shared::Shared;
use chrono::{DateTime, Utc};
use env::{local, publish, Control, Env, Scheduled, TICK};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Runs the daemon until `control.shutdown` resolves. Returns the exit code. Every decision about
/// time uses `clock`; the loop's sleeps are tokio's, so tests can pause and advance time.
pub async fn run<S: Future<Output = ()>>(
    config_path: Option<PathBuf>,
    clock: Arc<dyn Clock>,
    control: Control<S>,
) -> i32 {
    let Control {
        shutdown,
        reload: mut reloads,
    } = control;
    tokio::pin!(shutdown);
    let (setup, jobs, _lock, store) = match start_up(config_path.as_deref()) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let shared = Arc::new(Shared::new(
        store.clone(),
        setup.config.admin_token.clone(),
        TICK,
    ));
    if let Err(code) = listen(&setup, &store, &shared, &clock).await {
        return code;
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let setup = Arc::new(setup);
    let (config_tx, config_rx) = watch::channel(setup.clone());
    let mut env = Env {
        current: config_rx,
        setup,
        store: store.clone(),
        clock: clock.clone(),
        shared: shared.clone(),
        stopping: stop_rx,
        outbox_wake: Arc::new(tokio::sync::Notify::new()),
        notices: Arc::new(AtomicU64::new(0)),
    };
    // Messages pending from before (a crash, a mail server that was down) go out before anything
    // else; rows a dead process was sending are taken back by the drainer.
    outbox::deliver_pending(&env).await;
    let worker = tokio::spawn(outbox::outbox_worker(env.clone()));
    let mut scheduled = schedule(jobs, &env);
    publish(&scheduled, &shared);
    tracing::info!(
        "disbmon started with {} job(s); state in {}",
        scheduled.len(),
        store.path().display()
    );
    loop {
        let now = clock.now();
        let names: Vec<&str> = scheduled.keys().map(String::as_str).collect();
        if let Err(e) = store.beat(now, &names) {
            tracing::error!("{e}");
        }
        shared.alive();
        let earliest = scheduled.values().filter_map(|s| s.next).min();
        let wait = earliest
            .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(TICK)
            .min(TICK);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut shutdown => { tracing::info!("stopping"); break; }
            Some(()) = reloads.recv() => {
                reload::reload(&config_tx, config_path.as_deref(), &mut scheduled, &mut env);
                publish(&scheduled, &shared);
                continue;
            }
        }
        let now = clock.now();
        start_due(&mut scheduled, now, &env);
        notices::dead_man(&scheduled, &env, now).await;
        publish(&scheduled, &shared);
    }
    let _ = stop_tx.send(true);
    shut_down(scheduled, &store, env.setup.config.shutdown_grace).await;
    worker.abort();
    tracing::info!("stopped");
    exit::OK
}

/// The config and jobs, the lock on the state folder and the store — or the exit code after
/// logging why not.
fn start_up(
    config_path: Option<&std::path::Path>,
) -> Result<(Setup, Vec<Job>, DaemonLock, Arc<Store>), i32> {
    let (setup, jobs) =
        setup::all(config_path, &|k| std::env::var(k).ok()).map_err(|problems| {
            for p in &problems {
                tracing::error!("{p}");
            }
            tracing::error!(
                "{} problems in the configuration; fix them (see `disbmon check`)",
                problems.len()
            );
            exit::CONFIG
        })?;
    let state_dir = &setup.config.state_dir;
    // One daemon per state folder: a second one would re-run slots and re-send messages.
    let lock = DaemonLock::acquire(state_dir).map_err(|e| {
        tracing::error!("{e}");
        match e {
            LockError::Held { .. } => exit::LOCKED,
            LockError::Io { .. } => exit::ERROR,
        }
    })?;
    let store = Store::open(state_dir).map_err(|e| {
        tracing::error!("{e}");
        exit::ERROR
    })?;
    Ok((setup, jobs, lock, Arc::new(store)))
}

/// Starts the admin listener and, with `[answers]`, the answer form's; the exit code when an
/// address cannot be listened on.
async fn listen(
    setup: &Setup,
    store: &Arc<Store>,
    shared: &Arc<Shared>,
    clock: &Arc<dyn Clock>,
) -> Result<(), i32> {
    let config = &setup.config;
    if let Some(addr) = config.admin_listen {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            tracing::error!(
                "cannot listen on {addr} (admin.listen): {e}; choose another address, or \"off\""
            );
            exit::CONFIG
        })?;
        let addr = listener.local_addr().unwrap_or(addr);
        tracing::info!("admin listener on http://{addr} (/healthz, /metrics, /status)");
        tokio::spawn(crate::web::admin::serve(listener, shared.clone()));
    }
    if let Some(answers) = &config.answers {
        let listener = tokio::net::TcpListener::bind(answers.listen)
            .await
            .map_err(|e| {
                tracing::error!(
                    "cannot listen on {} (answers.listen): {e}; choose another address",
                    answers.listen
                );
                exit::CONFIG
            })?;
        let addr = listener.local_addr().unwrap_or(answers.listen);
        tracing::info!(
            "answers listener on http://{addr} (links point at {}/a/…)",
            answers.public_url
        );
        let known = shared.clone();
        let jobs: crate::web::answer_form::Jobs = Arc::new(move |job: &str| {
            known.jobs().into_iter().find(|j| j.name == job).map(|j| {
                let zone = j.timezone.parse().unwrap_or(chrono_tz::Asia::Ho_Chi_Minh);
                (j.language, zone)
            })
        });
        let (answers, store, clock) = (answers.clone(), store.clone(), clock.clone());
        tokio::spawn(async move {
            crate::web::answer_form::serve(listener, &answers, store, clock, jobs).await
        });
    }
    Ok(())
}

/// Each job with its next slot, and the missed slot it catches up (started now).
fn schedule(jobs: Vec<Job>, env: &Env) -> BTreeMap<String, Scheduled> {
    let store = &env.store;
    let started = env.clock.now();
    // This daemon holds the lock, so a scheduled run still marked running was cut off by a crash.
    match store.interrupt_scheduled(None) {
        Ok(n) if n > 0 => tracing::warn!(
            "{n} run(s) were cut off when the daemon last stopped; they count as missed"
        ),
        Err(e) => tracing::error!("{e}"),
        _ => {}
    }
    if let Err(e) = store.interrupt_orphaned_manual() {
        tracing::error!("{e}");
    }
    let mut scheduled = BTreeMap::new();
    for job in jobs {
        let job = Arc::new(job);
        let interrupted = store.interrupted(&job.name).unwrap_or_default();
        let last_seen = store.job_seen(&job.name).unwrap_or_else(|e| {
            tracing::error!("{e}");
            None
        });
        let decision = catch_up::catch_up(
            &job,
            last_seen.map(|s| s.last),
            &interrupted,
            started,
            job.catch_up,
        );
        if let Some((first, last)) = decision.skipped {
            tracing::warn!(job = %job.name, "missed runs from {} to {} are not caught up (older than catch_up, or a later one runs instead)", local(&job, first), local(&job, last));
        }
        let mut s = Scheduled {
            next: job
                .schedule
                .next_after(job.timezone, started)
                .map(|t| t.with_timezone(&Utc)),
            job,
            task: None,
        };
        if let Some(slot) = decision.run {
            tracing::info!(job = %s.job.name, "catching up the missed run of {}", local(&s.job, slot));
            runs::start(&mut s, slot, env);
        }
        scheduled.insert(s.job.name.clone(), s);
    }
    scheduled
}

/// Starts every job whose slot has come. Slots that passed while the loop was busy are not run
/// one by one: the latest runs.
fn start_due(scheduled: &mut BTreeMap<String, Scheduled>, now: DateTime<Utc>, env: &Env) {
    for s in scheduled.values_mut() {
        let Some(due) = s.next.filter(|t| *t <= now) else {
            continue;
        };
        s.next = s
            .job
            .schedule
            .next_after(s.job.timezone, now)
            .map(|t| t.with_timezone(&Utc));
        runs::start(s, due, env);
    }
}

/// Lets runs in progress finish within the grace period; a run cut off is recorded as
/// interrupted (a missed slot at the next start).
async fn shut_down(scheduled: BTreeMap<String, Scheduled>, store: &Store, grace: Duration) {
    let tasks: Vec<(String, JoinHandle<()>)> = scheduled
        .into_iter()
        .filter_map(|(name, s)| s.task.filter(|t| !t.is_finished()).map(|t| (name, t)))
        .collect();
    if !tasks.is_empty() {
        tracing::info!(
            "waiting up to {} s for {} run(s) in progress",
            grace.as_secs(),
            tasks.len()
        );
    }
    let deadline = tokio::time::sleep(grace);
    tokio::pin!(deadline);
    for (name, mut task) in tasks {
        tokio::select! {
            _ = &mut task => {}
            _ = &mut deadline => {
                task.abort();
                tracing::warn!(job = %name, "run cut off at the end of the shutdown grace period; recorded as interrupted");
                if let Err(e) = store.interrupt_scheduled(Some(&name)) {
                    tracing::error!("{e}");
                }
            }
        }
    }
}
