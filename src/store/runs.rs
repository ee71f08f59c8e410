//! Runs: one row per (job, scheduled time), claimed before it starts so that a slot runs once,
//! finished with its outcome and counts; the daemon's heartbeat, when it first and last watched
//! each job, and the operator notices already sent.

use super::db::{Store, StoreError};
use super::liveness::orphaned;
use super::sql::{opt_ts, parse_ts, ts};
use chrono::{DateTime, Timelike, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

/// How many instants a hand run tries before it gives up (a second's worth).
const MANUAL_TRIES: u32 = 1000;

/// How a run ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunOutcome {
    #[default]
    Running,
    /// Decided and its messages queued; delivery may still be going on.
    Queued,
    Ok,
    Failed,
    /// Cut off by a shutdown or a crash; a scheduled one counts as missed at the next start.
    Interrupted,
    /// Recorded, but its messages held by the mass-mailing guard for an operator to release.
    Held,
}

crate::base::names::named!(RunOutcome {
    Running => "running",
    Queued => "queued",
    Ok => "ok",
    Failed => "failed",
    Interrupted => "interrupted",
    Held => "held",
});

crate::base::names::named!(Trigger {
    Schedule => "schedule",
    Manual => "manual",
});

crate::store::sql::sql_text!(RunOutcome, Trigger);

/// Who started a run: the daemon's schedule, or a person (`disbmon once`). Only scheduled runs
/// are ever replayed as missed slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Manual,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub job: String,
    pub scheduled_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub outcome: RunOutcome,
    pub trigger: Trigger,
    pub units_behind: Option<u32>,
    pub emails_sent: Option<u32>,
    pub emails_failed: Option<u32>,
    pub error: Option<String>,
}

/// What a finished run recorded.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    pub outcome: RunOutcome,
    pub attempts: u32,
    pub units_behind: u32,
    pub emails_sent: u32,
    pub emails_failed: u32,
    pub error: Option<String>,
}

/// When the daemon first and last watched a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

impl Store {
    /// Records that the daemon's run of the slot (job, scheduled) starts now. False when that
    /// slot already ran or is running: a slot runs once, across restarts. An interrupted slot may
    /// be claimed again.
    pub fn claim(
        &self,
        job: &str,
        scheduled: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            let inserted = c.execute(
                "INSERT INTO runs (job, scheduled_at, started_at, outcome, started_by, pid) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (job, scheduled_at) DO UPDATE SET started_at = excluded.started_at, outcome = excluded.outcome,
                     finished_at = NULL, error = NULL, pid = excluded.pid
                 WHERE runs.outcome = 'interrupted'",
                params![job, ts(scheduled), ts(now), RunOutcome::Running, Trigger::Schedule, std::process::id()],
            )?;
            Ok(inserted == 1)
        })
    }

    /// Claims a run a person started now (`disbmon once`): a hand run is its own run, so it
    /// takes the first free instant from `now` on, in milliseconds, never a whole second (the
    /// daemon's slots are whole seconds, and a hand run must not take one). Two hand runs in the
    /// same millisecond, or with the same `DISBMON_NOW`, get two instants, two identities, two
    /// history rows; no row is ever taken over. Returns the instant claimed.
    pub fn claim_manual(&self, job: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
        let ms = chrono::Duration::milliseconds(1);
        let mut at = now
            .with_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
            .unwrap_or(now);
        for _ in 0..MANUAL_TRIES {
            if at.timestamp_subsec_millis() == 0 {
                at += ms;
            }
            let inserted = self.with(|c| {
                c.execute(
                    "INSERT INTO runs (job, scheduled_at, started_at, outcome, started_by, pid) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (job, scheduled_at) DO NOTHING",
                    params![job, ts(at), ts(now), RunOutcome::Running, Trigger::Manual, std::process::id()],
                )
            })?;
            if inserted == 1 {
                return Ok(at);
            }
            at += ms;
        }
        Err(StoreError::Crowded {
            job: job.to_string(),
            from: ts(now),
            tries: MANUAL_TRIES,
        })
    }

    pub fn finish(
        &self,
        job: &str,
        scheduled: DateTime<Utc>,
        now: DateTime<Utc>,
        r: &RunResult,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE runs SET finished_at = ?3, attempts = ?4, outcome = ?5, units_behind = ?6, emails_sent = ?7,
                     emails_failed = ?8, error = ?9
                 WHERE job = ?1 AND scheduled_at = ?2",
                params![job, ts(scheduled), ts(now), r.attempts, r.outcome, r.units_behind, r.emails_sent, r.emails_failed, r.error],
            )?;
            Ok(())
        })
    }

    /// Marks the daemon's scheduled runs still `running` as interrupted (after a crash, or when
    /// the shutdown grace ran out). Only the daemon calls this, under its lock, so no live
    /// process owns them; manual runs are left to [`Store::interrupt_orphaned_manual`].
    pub fn interrupt_scheduled(&self, job: Option<&str>) -> Result<usize, StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE runs SET outcome = 'interrupted'
                 WHERE outcome = 'running' AND started_by = 'schedule' AND (?1 IS NULL OR job = ?1)",
                params![job],
            )
        })
    }

    /// Manual runs whose process is gone (a `disbmon once` killed mid-run) are marked
    /// interrupted. They are never replayed: a person started them, a person runs them again.
    pub fn interrupt_orphaned_manual(&self) -> Result<usize, StoreError> {
        self.with(|c| {
            let mut n = 0;
            for id in orphaned(
                c,
                "SELECT id, pid FROM runs WHERE outcome = 'running' AND started_by = 'manual'",
            )? {
                n += c.execute(
                    "UPDATE runs SET outcome = 'interrupted', error = 'the process running it stopped before it finished' WHERE id = ?1 AND outcome = 'running'",
                    params![id],
                )?;
            }
            Ok(n)
        })
    }

    fn record(r: &rusqlite::Row) -> rusqlite::Result<RunRecord> {
        Ok(RunRecord {
            job: r.get(0)?,
            scheduled_at: parse_ts(&r.get::<_, String>(1)?)?,
            started_at: parse_ts(&r.get::<_, String>(2)?)?,
            finished_at: opt_ts(r.get(3)?)?,
            attempts: r.get(4)?,
            outcome: r.get(5)?,
            units_behind: r.get(6)?,
            emails_sent: r.get(7)?,
            emails_failed: r.get(8)?,
            error: r.get(9)?,
            trigger: r.get(10)?,
        })
    }

    const COLUMNS: &'static str =
        "job, scheduled_at, started_at, finished_at, attempts, outcome, units_behind, emails_sent, emails_failed, error, started_by";

    /// The runs of a job, newest scheduled first.
    pub fn runs(&self, job: &str, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {} FROM runs WHERE job = ?1 ORDER BY scheduled_at DESC LIMIT ?2",
                Self::COLUMNS
            ))?;
            let rows = st.query_map(params![job, limit as i64], Self::record)?;
            rows.collect()
        })
    }

    pub fn last_success(&self, job: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT finished_at FROM runs WHERE job = ?1 AND outcome = 'ok' ORDER BY finished_at DESC LIMIT 1",
                params![job],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .map(|s| parse_ts(&s))
            .transpose()
        })
    }

    /// Interrupted scheduled slots of a job, oldest first.
    pub fn interrupted(&self, job: &str) -> Result<Vec<DateTime<Utc>>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT scheduled_at FROM runs WHERE job = ?1 AND outcome = 'interrupted' AND started_by = 'schedule' ORDER BY scheduled_at")?;
            let rows = st.query_map(params![job], |r| parse_ts(&r.get::<_, String>(0)?))?;
            rows.collect()
        })
    }

    /// The daemon's last sign of life before now (None on a first start).
    pub fn heartbeat(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.with(|c| {
            c.query_row("SELECT value FROM meta WHERE key = 'heartbeat'", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
            .map(|s| parse_ts(&s))
            .transpose()
        })
    }

    /// The daemon is alive at `now` and watching these jobs. Each job keeps its own "seen"
    /// times: a job added while the daemon was down has missed nothing.
    pub fn beat(&self, now: DateTime<Utc>, jobs: &[&str]) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('heartbeat', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![ts(now)],
            )?;
            for job in jobs {
                tx.execute(
                    "INSERT INTO job_seen (job, first_seen, last_seen) VALUES (?1, ?2, ?2)
                     ON CONFLICT (job) DO UPDATE SET last_seen = excluded.last_seen",
                    params![job, ts(now)],
                )?;
            }
            tx.commit()
        })
    }

    /// When the daemon first and last watched a job: None for a job it has never had.
    pub fn job_seen(&self, job: &str) -> Result<Option<Seen>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT first_seen, last_seen FROM job_seen WHERE job = ?1",
                params![job],
                |r| {
                    Ok(Seen {
                        first: parse_ts(&r.get::<_, String>(0)?)?,
                        last: parse_ts(&r.get::<_, String>(1)?)?,
                    })
                },
            )
            .optional()
        })
    }

    /// True the first time a notice (job, kind, key) is recorded: operators are told once.
    pub fn notice_once(
        &self,
        job: &str,
        kind: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            let n = c.execute(
                "INSERT INTO notices (job, kind, key, sent_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![job, kind, key, ts(now)],
            )?;
            Ok(n == 1)
        })
    }

    /// The id of a run (job, scheduled), as `disbmon history` and `outbox release` name it.
    pub fn run_id(&self, job: &str, scheduled: DateTime<Utc>) -> Result<Option<i64>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT id FROM runs WHERE job = ?1 AND scheduled_at = ?2",
                params![job, ts(scheduled)],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// The jobs the store has runs of, by name.
    pub fn jobs(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT DISTINCT job FROM runs ORDER BY job")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, h, 0, 0).unwrap()
    }

    #[test]
    fn a_slot_runs_once_across_reopening_and_an_interrupted_one_can_run_again() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(s.claim("weekly", t(1), t(1)).unwrap());
        assert!(!s.claim("weekly", t(1), t(2)).unwrap());
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert!(!s.claim("weekly", t(1), t(2)).unwrap());
        assert_eq!(s.interrupt_scheduled(None).unwrap(), 1);
        assert_eq!(s.interrupted("weekly").unwrap(), vec![t(1)]);
        assert!(s.claim("weekly", t(1), t(3)).unwrap());
        let r = RunResult {
            outcome: RunOutcome::Ok,
            attempts: 1,
            units_behind: 3,
            emails_sent: 4,
            ..Default::default()
        };
        s.finish("weekly", t(1), t(4), &r).unwrap();
        assert!(!s.claim("weekly", t(1), t(5)).unwrap());
        let runs = s.runs("weekly", 10).unwrap();
        assert_eq!(
            (runs.len(), runs[0].outcome, runs[0].emails_sent),
            (1, RunOutcome::Ok, Some(4))
        );
        assert_eq!(s.last_success("weekly").unwrap(), Some(t(4)));
    }

    #[test]
    fn a_hand_run_takes_an_instant_of_its_own_never_a_slot() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let first = s.claim_manual("weekly", t(1)).unwrap();
        let second = s.claim_manual("weekly", t(1)).unwrap();
        assert_eq!(first, t(1) + chrono::Duration::milliseconds(1));
        assert_eq!(second, t(1) + chrono::Duration::milliseconds(2));
        // The daemon's slot at the whole second stays free.
        assert!(s.claim("weekly", t(1), t(1)).unwrap());
        // Finished or cut off, a hand run's row is never taken over.
        s.finish("weekly", first, t(2), &RunResult::default())
            .unwrap();
        assert_eq!(s.interrupt_orphaned_manual().unwrap(), 0);
        let third = s.claim_manual("weekly", first).unwrap();
        assert_eq!(third, t(1) + chrono::Duration::milliseconds(3));
        assert_eq!(s.runs("weekly", 10).unwrap().len(), 4);
    }

    #[test]
    fn heartbeat_and_notices() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.heartbeat().unwrap(), None);
        s.beat(t(7), &["j"]).unwrap();
        s.beat(t(8), &["j", "k"]).unwrap();
        assert_eq!(s.heartbeat().unwrap(), Some(t(8)));
        let seen = |first, last| Some(Seen { first, last });
        assert_eq!(s.job_seen("j").unwrap(), seen(t(7), t(8)));
        assert_eq!(s.job_seen("k").unwrap(), seen(t(8), t(8)));
        assert_eq!(s.job_seen("new").unwrap(), None);
        assert!(s.notice_once("j", "silence", "x", t(7)).unwrap());
        assert!(!s.notice_once("j", "silence", "x", t(8)).unwrap());
    }
}
