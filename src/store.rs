//! The state store: SQLite under `state_dir` (WAL, versioned migrations). Holds every scheduled
//! run (its identity is the job and the scheduled time), the daemon's last heartbeat (to tell which
//! slots were missed while it was down), and the operator notices already sent.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Schema migrations, in order; the database's `user_version` says how many have been applied.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    scheduled_at TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL,
    units_behind INTEGER,
    emails_sent INTEGER,
    emails_failed INTEGER,
    error TEXT,
    UNIQUE (job, scheduled_at)
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE notices (job TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, sent_at TEXT NOT NULL,
                      PRIMARY KEY (job, kind, key));
"#];

/// How a run ended (or that it has not).
pub mod outcome {
    pub const RUNNING: &str = "running";
    pub const OK: &str = "ok";
    pub const FAILED: &str = "failed";
    /// Cut off by a shutdown or a crash; the next start treats the slot as missed.
    pub const INTERRUPTED: &str = "interrupted";
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub job: String,
    pub scheduled_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub outcome: String,
    pub units_behind: Option<u32>,
    pub emails_sent: Option<u32>,
    pub emails_failed: Option<u32>,
    pub error: Option<String>,
}

/// What a finished run recorded.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    pub outcome: &'static str,
    pub attempts: u32,
    pub units_behind: u32,
    pub emails_sent: u32,
    pub emails_failed: u32,
    pub error: Option<String>,
}

pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_ts(s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
}

impl Store {
    /// Opens (creating if needed) `state_dir/disbmon.sqlite3` and brings its schema up to date.
    pub fn open(state_dir: &Path) -> Result<Store, String> {
        std::fs::create_dir_all(state_dir).map_err(|e| {
            format!(
                "cannot create the state folder {}: {e}; check state_dir and its permissions",
                state_dir.display()
            )
        })?;
        let path = state_dir.join("disbmon.sqlite3");
        let fail = |e: rusqlite::Error| format!("state store {}: {e}", path.display());
        let conn = Connection::open(&path).map_err(fail)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        // The write lock is taken before the version is read, so that two processes opening a
        // new store at once (the daemon and `disbmon status`) do not both migrate it.
        conn.execute_batch("BEGIN IMMEDIATE").map_err(fail)?;
        let migrated = (|| -> Result<(), String> {
            let version: usize = conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(fail)?;
            if version > MIGRATIONS.len() {
                return Err(format!(
                    "state store {} has schema version {version}, newer than this disbmon knows ({}); upgrade disbmon",
                    path.display(),
                    MIGRATIONS.len()
                ));
            }
            for sql in &MIGRATIONS[version..] {
                conn.execute_batch(sql).map_err(fail)?;
            }
            conn.pragma_update(None, "user_version", MIGRATIONS.len())
                .map_err(fail)
        })();
        match migrated {
            Ok(()) => conn.execute_batch("COMMIT").map_err(fail)?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        Ok(Store {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, String> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| "state store lock poisoned".to_string())?;
        f(&conn).map_err(|e| format!("state store {}: {e}", self.path.display()))
    }

    /// Records that the run (job, scheduled) starts now. False when that slot already ran or is
    /// running: a slot runs once, across restarts. An interrupted slot may be claimed again.
    pub fn claim(
        &self,
        job: &str,
        scheduled: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, String> {
        self.with(|c| {
            let inserted = c.execute(
                "INSERT INTO runs (job, scheduled_at, started_at, outcome) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (job, scheduled_at) DO UPDATE SET started_at = excluded.started_at, outcome = excluded.outcome,
                     finished_at = NULL, error = NULL
                 WHERE runs.outcome = 'interrupted'",
                params![job, ts(scheduled), ts(now), outcome::RUNNING],
            )?;
            Ok(inserted == 1)
        })
    }

    pub fn finish(
        &self,
        job: &str,
        scheduled: DateTime<Utc>,
        now: DateTime<Utc>,
        r: &RunResult,
    ) -> Result<(), String> {
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

    /// Marks runs still `running` as interrupted (after a crash, or when the shutdown grace ran out).
    pub fn interrupt_running(&self, job: Option<&str>) -> Result<usize, String> {
        self.with(|c| match job {
            Some(j) => c.execute(
                "UPDATE runs SET outcome = 'interrupted' WHERE outcome = 'running' AND job = ?1",
                params![j],
            ),
            None => c.execute(
                "UPDATE runs SET outcome = 'interrupted' WHERE outcome = 'running'",
                [],
            ),
        })
    }

    fn record(r: &rusqlite::Row) -> rusqlite::Result<RunRecord> {
        Ok(RunRecord {
            job: r.get(0)?,
            scheduled_at: parse_ts(&r.get::<_, String>(1)?)?,
            started_at: parse_ts(&r.get::<_, String>(2)?)?,
            finished_at: r
                .get::<_, Option<String>>(3)?
                .map(|s| parse_ts(&s))
                .transpose()?,
            attempts: r.get(4)?,
            outcome: r.get(5)?,
            units_behind: r.get(6)?,
            emails_sent: r.get(7)?,
            emails_failed: r.get(8)?,
            error: r.get(9)?,
        })
    }

    const COLUMNS: &'static str =
        "job, scheduled_at, started_at, finished_at, attempts, outcome, units_behind, emails_sent, emails_failed, error";

    /// The runs of a job, newest scheduled first.
    pub fn runs(&self, job: &str, limit: usize) -> Result<Vec<RunRecord>, String> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {} FROM runs WHERE job = ?1 ORDER BY scheduled_at DESC LIMIT ?2",
                Self::COLUMNS
            ))?;
            let rows = st.query_map(params![job, limit as i64], Self::record)?;
            rows.collect()
        })
    }

    pub fn last_success(&self, job: &str) -> Result<Option<DateTime<Utc>>, String> {
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

    /// Interrupted slots of a job, oldest first.
    pub fn interrupted(&self, job: &str) -> Result<Vec<DateTime<Utc>>, String> {
        self.with(|c| {
            let mut st = c.prepare("SELECT scheduled_at FROM runs WHERE job = ?1 AND outcome = 'interrupted' ORDER BY scheduled_at")?;
            let rows = st.query_map(params![job], |r| parse_ts(&r.get::<_, String>(0)?))?;
            rows.collect()
        })
    }

    /// The daemon's last sign of life before now (None on a first start).
    pub fn heartbeat(&self) -> Result<Option<DateTime<Utc>>, String> {
        self.with(|c| {
            c.query_row("SELECT value FROM meta WHERE key = 'heartbeat'", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
            .map(|s| parse_ts(&s))
            .transpose()
        })
    }

    pub fn beat(&self, now: DateTime<Utc>) -> Result<(), String> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('heartbeat', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![ts(now)],
            )?;
            Ok(())
        })
    }

    /// True the first time a notice (job, kind, key) is recorded: operators are told once.
    pub fn notice_once(
        &self,
        job: &str,
        kind: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, String> {
        self.with(|c| {
            let n = c.execute(
                "INSERT INTO notices (job, kind, key, sent_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![job, kind, key, ts(now)],
            )?;
            Ok(n == 1)
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
        assert_eq!(s.interrupt_running(None).unwrap(), 1);
        assert_eq!(s.interrupted("weekly").unwrap(), vec![t(1)]);
        assert!(s.claim("weekly", t(1), t(3)).unwrap());
        let r = RunResult {
            outcome: outcome::OK,
            attempts: 1,
            units_behind: 3,
            emails_sent: 4,
            ..Default::default()
        };
        s.finish("weekly", t(1), t(4), &r).unwrap();
        assert!(!s.claim("weekly", t(1), t(5)).unwrap());
        let runs = s.runs("weekly", 10).unwrap();
        assert_eq!(
            (runs.len(), runs[0].outcome.as_str(), runs[0].emails_sent),
            (1, "ok", Some(4))
        );
        assert_eq!(s.last_success("weekly").unwrap(), Some(t(4)));
    }

    #[test]
    fn heartbeat_and_notices() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.heartbeat().unwrap(), None);
        s.beat(t(7)).unwrap();
        assert_eq!(s.heartbeat().unwrap(), Some(t(7)));
        assert!(s.notice_once("j", "silence", "x", t(7)).unwrap());
        assert!(!s.notice_once("j", "silence", "x", t(8)).unwrap());
    }
}
