//! What the daemon's scheduler loop publishes for the admin listener and the dashboard to read:
//! the jobs as it sees them, counters, the jobs whose last run failed, and when it last went
//! round.

use crate::store::db::Store;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Counters since the daemon started.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (job, outcome) → runs.
    pub runs: BTreeMap<(String, String), u64>,
    /// job → (seconds, count).
    pub duration: BTreeMap<String, (f64, u64)>,
    pub last_success: BTreeMap<String, i64>,
    pub emails_sent: BTreeMap<String, u64>,
    pub emails_failed: BTreeMap<String, u64>,
    /// Ticks skipped because the previous run of the job was still going.
    pub skipped: BTreeMap<String, u64>,
    /// Messages the outbox worker delivered or gave up (retries of earlier runs' messages).
    pub outbox_sent: Option<u64>,
    pub outbox_failed: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub name: String,
    pub schedule: String,
    pub timezone: String,
    pub next_run: Option<String>,
    #[serde(skip)]
    pub next_run_ts: Option<i64>,
    pub running: bool,
    /// The job's language (operator notices are written in it).
    #[serde(skip)]
    pub language: crate::domain::money::Language,
}

/// What the scheduler loop publishes and the listener reads.
pub struct Shared {
    pub(super) store: Arc<Store>,
    pub(super) metrics: Mutex<Metrics>,
    pub(super) jobs: Mutex<Vec<JobView>>,
    /// When the loop last went round (monotonic: the wall clock may be pinned or jump).
    pub(super) alive: Mutex<Option<tokio::time::Instant>>,
    /// The longest the loop sleeps between two rounds: one that has not gone round for three of
    /// these is stuck.
    pub(super) tick: std::time::Duration,
    /// The bearer token `/metrics` and `/status` require, when one is configured; replaced on
    /// SIGHUP (a leaked token is rotated without a restart).
    pub(super) token: Mutex<Option<crate::base::secret::Secret>>,
    /// Jobs whose last run failed (after its retries), with why: `/healthz` names them.
    pub(super) failing: Mutex<BTreeMap<String, String>>,
}

impl Shared {
    /// `tick`: the longest the loop sleeps between two rounds.
    pub fn new(
        store: Arc<Store>,
        token: Option<crate::base::secret::Secret>,
        tick: std::time::Duration,
    ) -> Shared {
        Shared {
            store,
            metrics: Mutex::new(Metrics::default()),
            jobs: Mutex::new(Vec::new()),
            alive: Mutex::new(None),
            tick,
            token: Mutex::new(token),
            failing: Mutex::new(BTreeMap::new()),
        }
    }

    /// The admin token from now on (a reload).
    pub fn set_token(&self, token: Option<crate::base::secret::Secret>) {
        // A value is only ever swapped whole under this lock: a poisoned one still holds a token.
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = token;
    }

    /// The admin token in force.
    pub(super) fn token(&self) -> Option<crate::base::secret::Secret> {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records how a job's last run ended: `Some(why)` when it failed.
    pub fn last_run(&self, job: &str, failure: Option<String>) {
        if let Ok(mut f) = self.failing.lock() {
            match failure {
                Some(why) => f.insert(job.to_string(), why),
                None => f.remove(job),
            };
        }
    }

    pub fn metrics(&self, f: impl FnOnce(&mut Metrics)) {
        if let Ok(mut m) = self.metrics.lock() {
            f(&mut m);
        }
    }

    pub fn set_jobs(&self, jobs: Vec<JobView>) {
        if let Ok(mut j) = self.jobs.lock() {
            *j = jobs;
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The jobs as the scheduler loop last published them.
    pub fn jobs(&self) -> Vec<JobView> {
        self.jobs.lock().map(|j| j.clone()).unwrap_or_default()
    }

    pub fn alive(&self) {
        if let Ok(mut a) = self.alive.lock() {
            *a = Some(crate::base::clock::monotonic());
        }
    }
}
