//! What the scheduler loop and each run task hold: the jobs as scheduled, the config and store in
//! force, the clock, and the channels that stop them and wake the outbox worker.

use crate::app::setup::Setup;
use crate::base::clock::Clock;
use crate::config::job::Job;
use crate::store::db::Store;
use crate::web::shared::{JobView, Shared};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The longest the loop sleeps: heartbeats, the dead-man check and the health endpoint rely on it.
pub const TICK: Duration = Duration::from_secs(5);

/// A job as the loop holds it.
pub(super) struct Scheduled {
    pub(super) job: Arc<Job>,
    pub(super) next: Option<DateTime<Utc>>,
    pub(super) task: Option<JoinHandle<()>>,
}

impl Scheduled {
    pub(super) fn busy(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }
}

pub(super) fn local(job: &Job, t: DateTime<Utc>) -> String {
    t.with_timezone(&job.timezone)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// Everything a run task needs, cloned per run.
#[derive(Clone)]
pub(super) struct Env {
    /// The config and templates in force for this task.
    pub(super) setup: Arc<Setup>,
    pub(super) store: Arc<Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) shared: Arc<Shared>,
    pub(super) stopping: watch::Receiver<bool>,
    /// Wakes the outbox worker (a run queued messages).
    pub(super) outbox_wake: Arc<tokio::sync::Notify>,
    /// The configuration in force, for tasks that outlive a reload (the outbox worker).
    pub(super) current: watch::Receiver<Arc<Setup>>,
    /// Makes each operator notice its own message, even with the same subject at the same time.
    pub(super) notices: Arc<AtomicU64>,
}

/// How the daemon is told to stop and to reload: signals in the binary, channels in tests.
pub struct Control<S> {
    /// Resolves when the daemon should stop (SIGTERM, SIGINT).
    pub shutdown: S,
    /// A message per reload request (SIGHUP).
    pub reload: mpsc::Receiver<()>,
}

pub(super) fn publish(scheduled: &BTreeMap<String, Scheduled>, shared: &Shared) {
    let jobs = scheduled
        .values()
        .map(|s| JobView {
            name: s.job.name.clone(),
            schedule: s.job.schedule.expression().to_string(),
            timezone: s.job.timezone.to_string(),
            next_run: s
                .next
                .map(|t| t.with_timezone(&s.job.timezone).to_rfc3339()),
            next_run_ts: s.next.map(|t| t.timestamp()),
            running: s.busy(),
            language: s.job.language,
        })
        .collect();
    shared.set_jobs(jobs);
}
