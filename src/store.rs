//! The state store: SQLite under `state_dir` (WAL, versioned migrations). Holds every run (its
//! identity is the job and the scheduled time; who started it), each unit's figures and the
//! decision about it, the units' alert memory, the outbox (one row per message and recipient,
//! with a lease while it is being sent), silences, when the daemon first and last watched each job,
//! and the operator notices already sent. States are enums stored as the TEXT they always were.
//! Also the daemon's lock on the state folder.

use crate::decide::Reason;
pub use crate::ledger::UnitDetail;
use crate::rule::Status;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Schema migrations, in order; the database's `user_version` says how many have been applied.
const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    r#"
ALTER TABLE runs ADD COLUMN as_of TEXT;
ALTER TABLE runs ADD COLUMN data_issues TEXT;
CREATE TABLE unit_figures (
    job TEXT NOT NULL, scheduled_at TEXT NOT NULL, as_of TEXT NOT NULL, plan_year INTEGER NOT NULL,
    unit TEXT NOT NULL, plan INTEGER NOT NULL, disbursed INTEGER NOT NULL, rate REAL, expected REAL NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (job, scheduled_at, unit)
);
CREATE TABLE alert_state (
    job TEXT NOT NULL, unit TEXT NOT NULL, plan_year INTEGER NOT NULL,
    status TEXT NOT NULL,
    episode_since TEXT,
    alerts_in_episode INTEGER NOT NULL DEFAULT 0,
    last_alert_at TEXT,
    suppressed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job, unit, plan_year)
);
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY, job TEXT NOT NULL, scheduled_at TEXT NOT NULL, unit TEXT NOT NULL,
    plan_year INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, escalated INTEGER NOT NULL,
    message_id TEXT, decided_at TEXT NOT NULL
);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY, message_id TEXT NOT NULL, job TEXT NOT NULL, unit TEXT, kind TEXT NOT NULL,
    reason TEXT, recipient TEXT NOT NULL, subject TEXT NOT NULL, raw BLOB NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL,
    deadline_at TEXT NOT NULL, last_error TEXT, created_at TEXT NOT NULL, sent_at TEXT,
    reported INTEGER NOT NULL DEFAULT 0,
    UNIQUE (message_id, recipient)
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE TABLE silences (
    id INTEGER PRIMARY KEY, job TEXT NOT NULL, unit TEXT NOT NULL, until TEXT NOT NULL, reason TEXT NOT NULL,
    created_at TEXT NOT NULL, removed_at TEXT
);
"#,
    // Who started a run (manual runs are never replayed), leases on messages being sent, when an
    // alert last reached a unit, and when the daemon first and last watched each job.
    r#"
ALTER TABLE runs ADD COLUMN started_by TEXT NOT NULL DEFAULT 'schedule';
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE outbox ADD COLUMN owner INTEGER;
ALTER TABLE outbox ADD COLUMN lease_until TEXT;
ALTER TABLE alert_state ADD COLUMN last_delivered_at TEXT;
CREATE TABLE job_seen (job TEXT PRIMARY KEY, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL);
INSERT INTO job_seen (job, first_seen, last_seen)
    SELECT DISTINCT r.job, m.value, m.value FROM runs r JOIN meta m ON m.key = 'heartbeat';
CREATE INDEX outbox_message ON outbox (message_id);
-- A unit's decisions (alert in flight), and a sent message's decision (last delivered alert).
CREATE INDEX decisions_unit ON decisions (job, unit, plan_year);
CREATE INDEX decisions_message ON decisions (message_id);
"#,
    // One stored copy of each message, its recipients beside it (a row each); the run that
    // queued a message, so that a run's messages held by the mass-mailing guard can be released.
    r#"
CREATE TABLE message_bodies (message_id TEXT PRIMARY KEY, raw BLOB NOT NULL);
INSERT OR IGNORE INTO message_bodies (message_id, raw) SELECT message_id, raw FROM outbox ORDER BY id;
ALTER TABLE outbox DROP COLUMN raw;
ALTER TABLE outbox ADD COLUMN run_id INTEGER;
CREATE INDEX outbox_run ON outbox (run_id);
"#,
    // The next message to send found in the index, however many have been sent before it.
    r#"
CREATE INDEX outbox_waiting ON outbox (status, id);
"#,
    // What the dashboard shows of a unit beyond its figures, from the latest run that measured it:
    // its name, its curve, last year's, the milestones, its capital sources.
    r#"
CREATE TABLE unit_details (
    job TEXT NOT NULL, unit TEXT NOT NULL, scheduled_at TEXT NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (job, unit)
);
"#,
    // Units' answers to their alerts (reasons, commitments): through a signed link (`link_id`,
    // used once) or from the answers source (`source_key`, imported once); what the unit had
    // disbursed when it answered, to check its commitments against later.
    r#"
CREATE TABLE answers (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL, unit TEXT NOT NULL, plan_year INTEGER NOT NULL,
    via TEXT NOT NULL, link_id TEXT UNIQUE, source_key TEXT UNIQUE,
    received_at TEXT NOT NULL, ip TEXT,
    reasons TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
    disbursed_then INTEGER NOT NULL
);
CREATE INDEX answers_unit ON answers (job, unit, plan_year);
CREATE TABLE commitments (
    answer_id INTEGER NOT NULL REFERENCES answers (id),
    amount INTEGER NOT NULL, due TEXT NOT NULL
);
CREATE INDEX commitments_answer ON commitments (answer_id);
-- The answer form reads one unit's latest figures of a plan year.
CREATE INDEX unit_figures_unit ON unit_figures (job, unit, plan_year, scheduled_at);
"#,
];

/// One as-of date's stored figures: unit → (plan, disbursed).
pub type StoredDay = (NaiveDate, HashMap<String, (i64, i64)>);

/// A unit's answer to record.
#[derive(Debug, Clone)]
pub struct NewAnswer {
    pub job: String,
    pub unit: String,
    pub plan_year: i32,
    /// "form" (through a signed link) or "source" (the answers source).
    pub via: &'static str,
    pub link_id: Option<String>,
    pub source_key: Option<String>,
    pub received_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub reasons: Vec<String>,
    pub note: String,
    /// What the unit had disbursed (đồng) in the figures it answered to.
    pub disbursed_then: i64,
    /// (amount in đồng, due date): "20 tỷ đồng more by 15/11".
    pub commitments: Vec<(i64, NaiveDate)>,
}

/// A recorded answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Answer {
    pub id: i64,
    pub unit: String,
    pub via: String,
    pub received_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub reasons: Vec<String>,
    pub note: String,
    pub disbursed_then: i64,
    pub link_id: Option<String>,
    pub commitments: Vec<(i64, NaiveDate)>,
}

/// Makes an enum storable as the TEXT it has always been stored as. `own` types get their
/// `as_str` and `Display` here; the others (`Status`, `Reason`) have their own `as_str`, and only
/// their variants are listed.
macro_rules! sql_text {
    (own $t:ident, $($v:ident => $s:literal),+ $(,)?) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $($t::$v => $s),+ }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        sql_text!($t: $($v),+);
    };
    ($t:ident: $($v:ident),+ $(,)?) => {
        // Fails to compile when a variant is added to the enum but not to this list.
        const _: fn($t) = |v| match v {
            $($t::$v)|+ => {}
        };
        impl std::str::FromStr for $t {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                [$($t::$v),+]
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownValue { kind: stringify!($t), value: s.to_string() })
            }
        }
        impl rusqlite::types::ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }
        impl rusqlite::types::FromSql for $t {
            fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                v.as_str()?.parse().map_err(|e: UnknownValue| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

/// A stored state this disbmon does not know (a newer one wrote it, or the file was edited).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}` in the state store; upgrade disbmon")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

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
sql_text!(own RunOutcome, Running => "running", Queued => "queued", Ok => "ok", Failed => "failed",
    Interrupted => "interrupted", Held => "held");

/// Who started a run: the daemon's schedule, or a person (`disbmon once`). Only scheduled runs
/// are ever replayed as missed slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Manual,
}
sql_text!(own Trigger, Schedule => "schedule", Manual => "manual");

/// Where one outbox row (one message to one recipient) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    Pending,
    /// Taken by a drainer, under a lease; taken back when the lease runs out or its process died.
    Sending,
    Sent,
    Failed,
    /// Held by the mass-mailing guard until an operator releases the run (`outbox release`).
    Held,
}
sql_text!(own OutboxStatus, Pending => "pending", Sending => "sending", Sent => "sent",
    Failed => "failed", Held => "held");

/// What a queued message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Alert,
    Digest,
    /// To the operators (a failed run, a silent job, messages given up): never reported about
    /// itself when it fails, so that a broken mail setup cannot loop.
    Operator,
}
sql_text!(own MessageKind, Alert => "alert", Digest => "digest", Operator => "operator");

sql_text!(Status: Critical, Behind, OnTrack, NoPlan);
sql_text!(Reason: First, Worsened, Reminder, SilenceEnded, Recovered, Silenced, Unchanged, Held, AtRisk);

/// Why the state store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot create the state folder {path}: {source}; check state_dir and its permissions"
    )]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("state store {path} has schema version {found}, newer than this disbmon knows ({known}); upgrade disbmon")]
    TooNew {
        path: PathBuf,
        found: usize,
        known: usize,
    },
    #[error("state store {0}: a thread failed while using it; restart disbmon")]
    Poisoned(PathBuf),
}

/// Why `disbmon run` may not start on a state folder.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another `disbmon run` (PID {pid}) already uses the state folder {dir}; stop it first, or give this one its own state_dir")]
    Held { dir: PathBuf, pid: String },
    #[error("cannot lock {path}: {source}; check state_dir and its permissions")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held by `disbmon run` for its whole life: one daemon per state folder. The lock is the
/// kernel's (flock), so it goes away with the process however it ends.
#[derive(Debug)]
pub struct DaemonLock {
    _file: std::fs::File,
}

impl DaemonLock {
    pub fn acquire(state_dir: &Path) -> Result<DaemonLock, LockError> {
        use std::io::{Read, Seek, Write};
        let path = state_dir.join("disbmon.lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        private_dir(state_dir).map_err(io)?;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(LockError::Held {
                    dir: state_dir.to_path_buf(),
                    pid: pid.trim().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DaemonLock { _file: file })
    }
}

/// The ids of the rows `select` yields (id, owner PID) whose owning process is gone.
fn orphaned(c: &Connection, select: &str) -> rusqlite::Result<Vec<i64>> {
    let mut st = c.prepare(select)?;
    let rows = st.query_map([], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Option<u32>>(1)?))
    })?;
    let mut dead = Vec::new();
    for row in rows {
        let (id, pid) = row?;
        if pid.is_none_or(|p| !process_alive(p)) {
            dead.push(id);
        }
    }
    Ok(dead)
}

/// Whether the process that took a row may still be working on it. On Linux a process that is
/// gone has no /proc entry; elsewhere the lease alone decides.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc_root = Path::new("/proc/self");
    if !proc_root.exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
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

/// The database file in the state folder.
pub const FILE: &str = "disbmon.sqlite3";

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

fn opt_ts(s: Option<String>) -> rusqlite::Result<Option<DateTime<Utc>>> {
    s.map(|s| parse_ts(&s)).transpose()
}

/// A unit's figures and their as-of date, from `SELECT unit, plan, disbursed, rate, expected,
/// status, as_of FROM unit_figures`.
fn figures_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Figures, NaiveDate)> {
    Ok((
        Figures {
            unit: r.get(0)?,
            plan: r.get(1)?,
            disbursed: r.get(2)?,
            rate: r.get(3)?,
            expected: r.get(4)?,
            status: r.get(5)?,
        },
        date(&r.get::<_, String>(6)?)?,
    ))
}

fn date(s: &str) -> rusqlite::Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn later(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(1))
}

/// Creates a folder (and its parents) that only its owner may enter: 0700 on Unix. A folder that
/// exists keeps its mode — an operator may have chosen another.
pub fn private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Creates a file only its owner may read (0600 on Unix), unless it exists.
fn private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(|_| ())
}

impl Store {
    /// Opens (creating if needed) `state_dir/disbmon.sqlite3` and brings its schema up to date.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        private_dir(state_dir).map_err(|source| StoreError::Folder {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join(FILE);
        // Created readable by its owner only (SQLite gives its journal files the same mode):
        // the store holds every message sent, with its recipients.
        private_file(&path).map_err(|source| StoreError::Folder {
            path: path.clone(),
            source,
        })?;
        let fail = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
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
        let migrated = (|| -> Result<(), StoreError> {
            let version: usize = conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(fail)?;
            if version > MIGRATIONS.len() {
                return Err(StoreError::TooNew {
                    path: path.clone(),
                    found: version,
                    known: MIGRATIONS.len(),
                });
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

    fn fail(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Poisoned(self.path.clone()))?;
        f(&mut conn).map_err(|e| self.fail(e))
    }

    /// Records that the run (job, scheduled) starts now. False when that slot already ran or is
    /// running: a slot runs once, across restarts. An interrupted slot may be claimed again.
    pub fn claim(
        &self,
        job: &str,
        scheduled: DateTime<Utc>,
        now: DateTime<Utc>,
        trigger: Trigger,
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            let inserted = c.execute(
                "INSERT INTO runs (job, scheduled_at, started_at, outcome, started_by, pid) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (job, scheduled_at) DO UPDATE SET started_at = excluded.started_at, outcome = excluded.outcome,
                     finished_at = NULL, error = NULL, pid = excluded.pid
                 WHERE runs.outcome = 'interrupted'",
                params![job, ts(scheduled), ts(now), RunOutcome::Running, trigger, std::process::id()],
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
            let tx = c.transaction()?;
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
}

/// When the daemon first and last watched a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

/// What the store remembers of a unit between runs, per job, unit and plan year.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Memory {
    /// The status at the last accepted run; None for a unit never seen.
    pub status: Option<Status>,
    /// The as-of date the current episode of being behind began.
    pub episode_since: Option<NaiveDate>,
    /// Alerts queued in this episode.
    pub alerts_in_episode: u32,
    /// When the last alert of this episode was queued.
    pub last_alert_at: Option<DateTime<Utc>>,
    /// When an alert of this episode last reached the unit's address (reminders count from it).
    pub last_delivered_at: Option<DateTime<Utc>>,
    /// An alert to the unit is still in the outbox (read from the outbox, never stored).
    pub alert_in_flight: bool,
    /// An alert was due but silenced: it goes out once the silence ends.
    pub suppressed: bool,
}

/// One unit's figures in one run.
#[derive(Debug, Clone)]
pub struct Figures {
    pub unit: String,
    pub plan: i64,
    pub disbursed: i64,
    pub rate: Option<f64>,
    pub expected: f64,
    pub status: Status,
}

/// One decision about one unit in one run.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    pub unit: String,
    pub status: Status,
    pub reason: Reason,
    pub escalated: bool,
    pub message_id: Option<String>,
}

/// A rendered message to queue: one outbox row per envelope recipient, so that one refused
/// recipient never holds up the others.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message_id: String,
    pub unit: Option<String>,
    pub kind: MessageKind,
    pub reason: Option<Reason>,
    pub recipients: Vec<String>,
    pub subject: String,
    pub raw: Vec<u8>,
}

/// Everything an accepted run stores, in one transaction, before any delivery is tried.
#[derive(Debug, Clone)]
pub struct RunRecordSet {
    pub job: String,
    pub scheduled: DateTime<Utc>,
    pub as_of: NaiveDate,
    pub plan_year: i32,
    pub figures: Vec<Figures>,
    pub decisions: Vec<DecisionRecord>,
    pub memory: Vec<(String, Memory)>,
    pub messages: Vec<NewMessage>,
    /// Failed outbox rows this run's digest lists: marked reported with the run.
    pub reported_failures: Vec<i64>,
    pub issues_json: String,
    /// The messages wait for an operator (`disbmon outbox release`) instead of being sent.
    pub held: bool,
    /// Each unit's detail for the dashboard (replaces the one an earlier run stored).
    pub details: Vec<UnitDetail>,
}

impl RunRecordSet {
    /// What a run stores of its rates, decisions and messages.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        job: &str,
        scheduled: DateTime<Utc>,
        as_of: NaiveDate,
        plan_year: i32,
        rates: &crate::compute::Rates,
        decision: &crate::decide::Decision,
        outgoing: &crate::notify::queue::Outgoing,
        failures: &[OutboxRow],
        issues: &[crate::ledger::DataIssue],
    ) -> RunRecordSet {
        let figures = rates
            .units
            .iter()
            .map(|u| Figures {
                unit: u.unit_id.clone(),
                plan: u.plan,
                disbursed: u.disbursed,
                rate: u.rate_pct,
                expected: u.expected_pct,
                status: u.status,
            })
            .collect();
        let alert_ids: std::collections::HashMap<&str, &Option<String>> = decision
            .alerts
            .iter()
            .zip(&outgoing.alert_ids)
            .map(|(a, id)| (a.unit.unit_id.as_str(), id))
            .rev() // the first alert of a unit wins, as a search from the front would find it
            .collect();
        let decisions = decision
            .decisions
            .iter()
            .map(|d| DecisionRecord {
                unit: d.unit_id.clone(),
                status: d.status,
                reason: d.reason,
                escalated: d.escalated,
                message_id: alert_ids
                    .get(d.unit_id.as_str())
                    .and_then(|id| (*id).clone()),
            })
            .collect();
        RunRecordSet {
            job: job.to_string(),
            scheduled,
            as_of,
            plan_year,
            figures,
            decisions,
            memory: decision.memory.clone(),
            messages: outgoing.messages.clone(),
            // Only a digest that was built lists them.
            reported_failures: if outgoing.digest_id.is_some() {
                failures.iter().map(|f| f.id).collect()
            } else {
                Vec::new()
            },
            issues_json: serde_json::to_string(issues).unwrap_or_default(),
            held: false,
            details: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub message_id: String,
    pub job: String,
    pub unit: Option<String>,
    pub kind: MessageKind,
    pub reason: Option<String>,
    pub recipient: String,
    pub subject: String,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A run whose messages the mass-mailing guard holds.
#[derive(Debug, Clone)]
pub struct HeldRun {
    pub run_id: i64,
    pub job: String,
    pub scheduled: DateTime<Utc>,
    pub messages: u64,
}

/// A message taken for sending: its row, and the one stored copy of its body.
#[derive(Debug, Clone)]
pub struct Taken {
    pub row: OutboxRow,
    pub raw: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Silence {
    pub id: i64,
    pub job: String,
    pub unit: String,
    pub until: NaiveDate,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// The figures of a job's latest run.
#[derive(Debug, Clone)]
pub struct LatestFigures {
    pub scheduled: DateTime<Utc>,
    pub as_of: NaiveDate,
    pub figures: Vec<Figures>,
}

/// An earlier run's as-of date and each unit's disbursement then.
pub type Previous = (NaiveDate, HashMap<String, i64>);

/// A unit's figures in one run, for its history.
#[derive(Debug, Clone)]
pub struct FiguresRecord {
    pub scheduled_at: DateTime<Utc>,
    pub as_of: NaiveDate,
    pub figures: Figures,
    pub reason: Option<Reason>,
}

const OUTBOX_COLUMNS: &str = "id, message_id, job, unit, kind, reason, recipient, subject, status, attempts, next_attempt_at, last_error, created_at, sent_at";

fn outbox_row(r: &rusqlite::Row) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        message_id: r.get(1)?,
        job: r.get(2)?,
        unit: r.get(3)?,
        kind: r.get(4)?,
        reason: r.get(5)?,
        recipient: r.get(6)?,
        subject: r.get(7)?,
        status: r.get(8)?,
        attempts: r.get(9)?,
        next_attempt_at: parse_ts(&r.get::<_, String>(10)?)?,
        last_error: r.get(11)?,
        created_at: parse_ts(&r.get::<_, String>(12)?)?,
        sent_at: opt_ts(r.get(13)?)?,
    })
}

/// Which due message a drainer takes next.
#[derive(Debug, Clone, Copy)]
pub struct Take<'a> {
    pub now: DateTime<Utc>,
    /// How long the taker may hold the row before another drainer takes it back.
    pub lease: Duration,
    /// Only a row of this message (a run delivers its own messages first, whatever else
    /// waits); None: the oldest due row of any message.
    pub only: Option<&'a str>,
}

impl Store {
    /// The remembered state of every unit of a job for a plan year.
    pub fn memory(&self, job: &str, plan_year: i32) -> Result<HashMap<String, Memory>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT a.unit, a.status, a.episode_since, a.alerts_in_episode, a.last_alert_at, a.suppressed, a.last_delivered_at,
                     EXISTS (SELECT 1 FROM decisions d JOIN outbox o ON o.message_id = d.message_id
                             WHERE d.job = a.job AND d.unit = a.unit AND d.plan_year = a.plan_year
                               AND o.kind = 'alert' AND o.status IN ('pending', 'sending'))
                 FROM alert_state a WHERE a.job = ?1 AND a.plan_year = ?2",
            )?;
            let rows = st.query_map(params![job, plan_year], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Memory {
                        status: r.get(1)?,
                        episode_since: r.get::<_, Option<String>>(2)?.map(|s| date(&s)).transpose()?,
                        alerts_in_episode: r.get(3)?,
                        last_alert_at: opt_ts(r.get(4)?)?,
                        suppressed: r.get::<_, i64>(5)? != 0,
                        last_delivered_at: opt_ts(r.get(6)?)?,
                        alert_in_flight: r.get(7)?,
                    },
                ))
            })?;
            rows.collect()
        })
    }

    /// Units of a job silenced on `day`.
    pub fn silenced(&self, job: &str, day: NaiveDate) -> Result<HashSet<String>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT unit FROM silences WHERE job = ?1 AND removed_at IS NULL AND until >= ?2",
            )?;
            let rows = st.query_map(params![job, day.to_string()], |r| r.get::<_, String>(0))?;
            rows.collect()
        })
    }

    /// Records an accepted run in one transaction: its figures, its decisions, the units' new
    /// memory, every message it queues, and the failures its digest lists — before any delivery
    /// is tried. Nothing of it is stored when any of it fails.
    pub fn record_run(
        &self,
        run: &RunRecordSet,
        now: DateTime<Utc>,
        deadline: Duration,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let (job, plan_year) = (&run.job, run.plan_year);
            let (sched, day) = (ts(run.scheduled), run.as_of.to_string());
            // Once this commits, the run's work is done: its messages are in the outbox. `queued`
            // keeps a crash after this point from counting the run as cut off (and running it again).
            tx.execute(
                "UPDATE runs SET as_of = ?3, data_issues = ?4,
                     outcome = CASE WHEN outcome = 'running' THEN 'queued' ELSE outcome END
                 WHERE job = ?1 AND scheduled_at = ?2",
                params![job, sched, day, run.issues_json],
            )?;
            for f in &run.figures {
                tx.execute(
                    "INSERT OR REPLACE INTO unit_figures (job, scheduled_at, as_of, plan_year, unit, plan, disbursed, rate, expected, status)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![job, sched, day, plan_year, f.unit, f.plan, f.disbursed, f.rate, f.expected, f.status],
                )?;
            }
            for d in &run.details {
                let detail = serde_json::to_string(d).unwrap_or_default();
                tx.execute(
                    "INSERT OR REPLACE INTO unit_details (job, unit, scheduled_at, detail) VALUES (?1, ?2, ?3, ?4)",
                    params![job, d.unit, sched, detail],
                )?;
            }
            for d in &run.decisions {
                tx.execute(
                    "INSERT INTO decisions (job, scheduled_at, unit, plan_year, status, reason, escalated, message_id, decided_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![job, sched, d.unit, plan_year, d.status, d.reason, d.escalated, d.message_id, ts(now)],
                )?;
            }
            for (unit, m) in &run.memory {
                tx.execute(
                    "INSERT OR REPLACE INTO alert_state (job, unit, plan_year, status, episode_since, alerts_in_episode, last_alert_at, suppressed, last_delivered_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        job,
                        unit,
                        plan_year,
                        m.status,
                        m.episode_since.map(|d| d.to_string()),
                        m.alerts_in_episode,
                        m.last_alert_at.map(ts),
                        m.suppressed,
                        m.last_delivered_at.map(ts),
                    ],
                )?;
            }
            let run_id: Option<i64> = tx
                .query_row(
                    "SELECT id FROM runs WHERE job = ?1 AND scheduled_at = ?2",
                    params![job, sched],
                    |r| r.get(0),
                )
                .optional()?;
            Self::queue(&tx, job, &run.messages, now, deadline, run_id, run.held)?;
            for id in &run.reported_failures {
                tx.execute("UPDATE outbox SET reported = 1 WHERE id = ?1", params![id])?;
            }
            tx.commit()
        })
    }

    /// Stores each message's body once and a row per recipient; returns how many rows were new.
    /// `held`: the rows wait for an operator to release them (the mass-mailing guard).
    fn queue(
        c: &Connection,
        job: &str,
        messages: &[NewMessage],
        now: DateTime<Utc>,
        deadline: Duration,
        run: Option<i64>,
        held: bool,
    ) -> rusqlite::Result<usize> {
        let until = later(now, deadline);
        let status = if held {
            OutboxStatus::Held
        } else {
            OutboxStatus::Pending
        };
        let mut n = 0;
        for m in messages {
            c.execute(
                "INSERT OR IGNORE INTO message_bodies (message_id, raw) VALUES (?1, ?2)",
                params![m.message_id, m.raw],
            )?;
            for rcpt in &m.recipients {
                // The same logical message to the same recipient is queued once.
                n += c.execute(
                    "INSERT OR IGNORE INTO outbox (message_id, job, unit, kind, reason, recipient, subject, status, next_attempt_at, deadline_at, created_at, run_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?9, ?11)",
                    params![m.message_id, job, m.unit, m.kind, m.reason, rcpt, m.subject, status, ts(now), ts(until), run],
                )?;
            }
        }
        Ok(n)
    }

    /// Queues messages outside a run (operator notices); returns how many rows were new.
    pub fn enqueue(
        &self,
        job: &str,
        messages: &[NewMessage],
        now: DateTime<Utc>,
        deadline: Duration,
    ) -> Result<usize, StoreError> {
        self.with(|c| Self::queue(c, job, messages, now, deadline, None, false))
    }

    /// Records a rejected run's data issues (JSON) and as-of date.
    pub fn record_issues(
        &self,
        job: &str,
        scheduled: DateTime<Utc>,
        as_of: NaiveDate,
        issues_json: &str,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE runs SET as_of = ?3, data_issues = ?4 WHERE job = ?1 AND scheduled_at = ?2",
                params![job, ts(scheduled), as_of.to_string(), issues_json],
            )?;
            Ok(())
        })
    }

    /// Rows taken by a process that has since died go back to pending at once (they may reach a
    /// recipient twice, with the same Message-ID); rows whose lease ran out are due anyway.
    pub fn release_orphans(&self) -> Result<usize, StoreError> {
        self.with(|c| {
            let mut n = 0;
            for id in orphaned(c, "SELECT id, owner FROM outbox WHERE status = 'sending'")? {
                n += c.execute(
                    "UPDATE outbox SET status = 'pending', owner = NULL, lease_until = NULL WHERE id = ?1 AND status = 'sending'",
                    params![id],
                )?;
            }
            Ok(n)
        })
    }

    /// Takes the next due message for sending: marks it `sending` under a lease held by this
    /// process. Due: pending and its time has come, or being sent under a lease that ran out.
    pub fn take_due(&self, take: Take<'_>) -> Result<Option<Taken>, StoreError> {
        let now = ts(take.now);
        let lease = ts(later(take.now, take.lease));
        self.with(|c| {
            let tx = c.transaction()?;
            let due = "((status = 'pending' AND next_attempt_at <= ?1) OR (status = 'sending' AND lease_until <= ?1))";
            // Two statements, so that a run's own message is found by its index.
            let found = match take.only {
                Some(id) => tx
                    .query_row(
                        &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE {due} AND message_id = ?2 ORDER BY id LIMIT 1"),
                        params![now, id],
                        outbox_row,
                    )
                    .optional()?,
                // The oldest pending row and the oldest row whose lease ran out, each walked to
                // in id order in its status (not past every row sent before it), the older first.
                None => {
                    let first = |status: &str, time: &str| {
                        tx.query_row(
                            &format!("SELECT {OUTBOX_COLUMNS} FROM outbox INDEXED BY outbox_waiting WHERE status = '{status}' AND {time} <= ?1 ORDER BY id LIMIT 1"),
                            params![now],
                            outbox_row,
                        )
                        .optional()
                    };
                    match (first("pending", "next_attempt_at")?, first("sending", "lease_until")?) {
                        (Some(p), Some(l)) => Some(if l.id < p.id { l } else { p }),
                        (p, l) => p.or(l),
                    }
                }
            };
            let Some(row) = found else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE outbox SET status = 'sending', owner = ?2, lease_until = ?3 WHERE id = ?1",
                params![row.id, std::process::id(), lease],
            )?;
            let raw: Vec<u8> = tx.query_row(
                "SELECT raw FROM message_bodies WHERE message_id = ?1",
                params![row.message_id],
                |r| r.get(0),
            )?;
            tx.commit()?;
            Ok(Some(Taken { row, raw }))
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

    /// Releases the messages a run's mass-mailing guard held: they are sent from now on (by the
    /// daemon, `disbmon once` or `disbmon outbox send`). Returns how many rows were released, and
    /// the run's job.
    pub fn release_held(
        &self,
        run_id: i64,
        now: DateTime<Utc>,
        deadline: Duration,
    ) -> Result<(Option<String>, usize), StoreError> {
        self.with(|c| {
            let job: Option<String> = c
                .query_row("SELECT job FROM runs WHERE id = ?1", params![run_id], |r| r.get(0))
                .optional()?;
            let n = c.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?2, deadline_at = ?3 WHERE run_id = ?1 AND status = 'held'",
                params![run_id, ts(now), ts(later(now, deadline))],
            )?;
            Ok((job, n))
        })
    }

    /// Held messages, counted per run.
    pub fn held_runs(&self) -> Result<Vec<HeldRun>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT r.id, r.job, r.scheduled_at, COUNT(DISTINCT o.message_id) FROM outbox o JOIN runs r ON r.id = o.run_id
                 WHERE o.status = 'held' GROUP BY r.id ORDER BY r.id",
            )?;
            let rows = st.query_map([], |r| {
                Ok(HeldRun {
                    run_id: r.get(0)?,
                    job: r.get(1)?,
                    scheduled: parse_ts(&r.get::<_, String>(2)?)?,
                    messages: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Delivered. An alert's delivery is remembered for the unit: reminders count from it.
    pub fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = NULL, owner = NULL, lease_until = NULL WHERE id = ?1",
                params![id, ts(now)],
            )?;
            tx.execute(
                "UPDATE alert_state SET last_delivered_at = ?2
                 WHERE last_alert_at IS NOT NULL AND (last_delivered_at IS NULL OR last_delivered_at < ?2)
                   AND (job, unit, plan_year) IN (
                     SELECT d.job, d.unit, d.plan_year FROM decisions d JOIN outbox o ON o.message_id = d.message_id
                     WHERE o.id = ?1 AND o.kind = 'alert' AND d.reason != 'recovered')",
                params![id, ts(now)],
            )?;
            tx.commit()
        })
    }

    /// A transient failure: try again at `next`, unless that is past the message's deadline.
    pub fn mark_retry(
        &self,
        id: i64,
        error: &str,
        next: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            let deadline: String = c.query_row("SELECT deadline_at FROM outbox WHERE id = ?1", params![id], |r| r.get(0))?;
            let give_up = next > parse_ts(&deadline)?;
            let status = if give_up { OutboxStatus::Failed } else { OutboxStatus::Pending };
            c.execute(
                "UPDATE outbox SET status = ?2, attempts = attempts + 1, last_error = ?3, next_attempt_at = ?4, owner = NULL, lease_until = NULL WHERE id = ?1",
                params![id, status, error, ts(next)],
            )?;
            Ok(!give_up)
        })
    }

    pub fn mark_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?2, owner = NULL, lease_until = NULL WHERE id = ?1",
                params![id, error],
            )?;
            Ok(())
        })
    }

    /// Puts a message that was being sent back (the server went away mid-pass) without counting a try.
    pub fn release(&self, id: i64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET status = 'pending', owner = NULL, lease_until = NULL WHERE id = ?1 AND status = 'sending'",
                params![id],
            )?;
            Ok(())
        })
    }

    /// Outbox rows with these statuses (all jobs), oldest first.
    pub fn outbox(&self, statuses: &[OutboxStatus]) -> Result<Vec<OutboxRow>, StoreError> {
        self.with(|c| {
            let marks = vec!["?"; statuses.len()].join(",");
            let mut st = c.prepare(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status IN ({marks}) ORDER BY id"
            ))?;
            let rows = st.query_map(rusqlite::params_from_iter(statuses), outbox_row)?;
            rows.collect()
        })
    }

    /// How many messages wait (pending or being sent), without loading them.
    pub fn waiting(&self) -> Result<u64, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')",
                [],
                |r| r.get(0),
            )
        })
    }

    /// The rows of these logical messages.
    pub fn messages(&self, message_ids: &[String]) -> Result<Vec<OutboxRow>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE message_id = ?1 ORDER BY id"
            ))?;
            let mut out = Vec::new();
            for id in message_ids {
                for r in st.query_map(params![id], outbox_row)? {
                    out.push(r?);
                }
            }
            Ok(out)
        })
    }

    /// Re-queues a failed message with a new deadline. False when there is no such failed message.
    pub fn retry(
        &self,
        id: i64,
        now: DateTime<Utc>,
        deadline: Duration,
    ) -> Result<bool, StoreError> {
        let until = later(now, deadline);
        self.with(|c| {
            let n = c.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?2, deadline_at = ?3, reported = 0 WHERE id = ?1 AND status = 'failed'",
                params![id, ts(now), ts(until)],
            )?;
            Ok(n == 1)
        })
    }

    /// Failed messages of a job not yet listed in a digest. They are marked listed by the
    /// [`Store::record_run`] of the run whose digest lists them, so a run that fails to record
    /// leaves them for the next one.
    pub fn unreported_failures(&self, job: &str) -> Result<Vec<OutboxRow>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE job = ?1 AND status = 'failed' AND reported = 0 AND kind != 'operator' ORDER BY id"
            ))?;
            let rows = st.query_map(params![job], outbox_row)?;
            rows.collect()
        })
    }

    pub fn add_silence(
        &self,
        job: &str,
        unit: &str,
        until: NaiveDate,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO silences (job, unit, until, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![job, unit, until.to_string(), reason, ts(now)],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    pub fn silences(&self) -> Result<Vec<Silence>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT id, job, unit, until, reason, created_at FROM silences WHERE removed_at IS NULL ORDER BY id")?;
            let rows = st.query_map([], |r| {
                Ok(Silence {
                    id: r.get(0)?,
                    job: r.get(1)?,
                    unit: r.get(2)?,
                    until: date(&r.get::<_, String>(3)?)?,
                    reason: r.get(4)?,
                    created_at: parse_ts(&r.get::<_, String>(5)?)?,
                })
            })?;
            rows.collect()
        })
    }

    pub fn remove_silence(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE silences SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL",
                params![id, ts(now)],
            )? == 1)
        })
    }

    /// A unit's figures in every run of a job, oldest first, with the decision of each run.
    pub fn unit_history(&self, job: &str, unit: &str) -> Result<Vec<FiguresRecord>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT f.scheduled_at, f.as_of, f.plan, f.disbursed, f.rate, f.expected, f.status, d.reason
                 FROM unit_figures f LEFT JOIN decisions d
                   ON d.job = f.job AND d.scheduled_at = f.scheduled_at AND d.unit = f.unit
                 WHERE f.job = ?1 AND f.unit = ?2 ORDER BY f.scheduled_at",
            )?;
            let rows = st.query_map(params![job, unit], |r| {
                Ok(FiguresRecord {
                    scheduled_at: parse_ts(&r.get::<_, String>(0)?)?,
                    as_of: date(&r.get::<_, String>(1)?)?,
                    figures: Figures {
                        unit: unit.to_string(),
                        plan: r.get(2)?,
                        disbursed: r.get(3)?,
                        rate: r.get(4)?,
                        expected: r.get(5)?,
                        status: r.get(6)?,
                    },
                    reason: r.get(7)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The figures of a job's latest run that measured its units: when it was scheduled, its
    /// as-of date, and every unit's figures.
    pub fn latest_figures(&self, job: &str) -> Result<Option<LatestFigures>, StoreError> {
        self.with(|c| {
            let latest: Option<String> = c.query_row(
                "SELECT MAX(scheduled_at) FROM unit_figures WHERE job = ?1",
                params![job],
                |r| r.get(0),
            )?;
            let Some(sched) = latest else {
                return Ok(None);
            };
            let mut st = c.prepare(
                "SELECT unit, plan, disbursed, rate, expected, status, as_of FROM unit_figures
                 WHERE job = ?1 AND scheduled_at = ?2",
            )?;
            let mut as_of = None;
            let rows = st
                .query_map(params![job, sched], figures_row)?
                .map(|row| {
                    row.map(|(f, d)| {
                        as_of = Some(d);
                        f
                    })
                })
                .collect::<rusqlite::Result<Vec<_>>>()?;
            match as_of {
                Some(as_of) => Ok(Some(LatestFigures {
                    scheduled: parse_ts(&sched)?,
                    as_of,
                    figures: rows,
                })),
                None => Ok(None),
            }
        })
    }

    /// The latest run of plan year `plan_year` with data before `before`: its as-of date and each
    /// unit's disbursement (what "since the previous run" compares with).
    pub fn previous_disbursed(
        &self,
        job: &str,
        plan_year: i32,
        before: NaiveDate,
    ) -> Result<Option<Previous>, StoreError> {
        self.with(|c| {
            let latest: Option<(String, String)> = c
                .query_row(
                    "SELECT scheduled_at, as_of FROM unit_figures
                     WHERE job = ?1 AND plan_year = ?2 AND as_of < ?3
                     ORDER BY as_of DESC, scheduled_at DESC LIMIT 1",
                    params![job, plan_year, before.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((sched, as_of)) = latest else {
                return Ok(None);
            };
            let mut st = c.prepare(
                "SELECT unit, disbursed FROM unit_figures WHERE job = ?1 AND scheduled_at = ?2",
            )?;
            let rows = st.query_map(params![job, sched], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(Some((
                date(&as_of)?,
                rows.collect::<rusqlite::Result<_>>()?,
            )))
        })
    }

    /// Every unit's stored detail of a job (names, curves), by unit id.
    pub fn unit_details(&self, job: &str) -> Result<HashMap<String, UnitDetail>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT unit, detail FROM unit_details WHERE job = ?1")?;
            let rows = st.query_map(params![job], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = HashMap::new();
            for row in rows {
                let (unit, detail) = row?;
                // A detail written by another version that no longer reads is left out, not fatal.
                if let Ok(d) = serde_json::from_str(&detail) {
                    out.insert(unit, d);
                }
            }
            Ok(out)
        })
    }

    /// One unit's stored detail.
    pub fn unit_detail(&self, job: &str, unit: &str) -> Result<Option<UnitDetail>, StoreError> {
        self.with(|c| {
            let detail: Option<String> = c
                .query_row(
                    "SELECT detail FROM unit_details WHERE job = ?1 AND unit = ?2",
                    params![job, unit],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(detail.and_then(|d| serde_json::from_str(&d).ok()))
        })
    }

    /// Records a unit's answer with its commitments, once: a link already used (or a source row
    /// already imported) gives `Ok(None)` and records nothing.
    pub fn record_answer(&self, a: &NewAnswer) -> Result<Option<i64>, StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO answers (job, unit, plan_year, via, link_id, source_key, received_at, ip, reasons, note, disbursed_then)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    a.job,
                    a.unit,
                    a.plan_year,
                    a.via,
                    a.link_id,
                    a.source_key,
                    a.received_at.to_rfc3339(),
                    a.ip,
                    a.reasons.join(","),
                    a.note,
                    a.disbursed_then
                ],
            )?;
            if inserted == 0 {
                return Ok(None);
            }
            let id = tx.last_insert_rowid();
            for (amount, due) in &a.commitments {
                tx.execute(
                    "INSERT INTO commitments (answer_id, amount, due) VALUES (?1, ?2, ?3)",
                    params![id, amount, due.to_string()],
                )?;
            }
            tx.commit()?;
            Ok(Some(id))
        })
    }

    /// Every run's figures of a plan year, one set per as-of date (the latest run of that date):
    /// (as-of date, unit → (plan, disbursed)), oldest first. What a past year looked like when
    /// the sources no longer hold it.
    pub fn year_figures(&self, job: &str, plan_year: i32) -> Result<Vec<StoredDay>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT f.as_of, f.unit, f.plan, f.disbursed FROM unit_figures f
                 JOIN (SELECT as_of, MAX(scheduled_at) AS latest FROM unit_figures
                       WHERE job = ?1 AND plan_year = ?2 GROUP BY as_of) l
                   ON f.as_of = l.as_of AND f.scheduled_at = l.latest
                 WHERE f.job = ?1 AND f.plan_year = ?2 ORDER BY f.as_of",
            )?;
            let mut days: Vec<StoredDay> = Vec::new();
            let rows = st.query_map(params![job, plan_year], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            for row in rows {
                let (as_of, unit, plan, paid) = row?;
                let day = date(&as_of)?;
                match days.last_mut() {
                    Some((d, m)) if *d == day => {
                        m.insert(unit, (plan, paid));
                    }
                    _ => days.push((day, HashMap::from([(unit, (plan, paid))]))),
                }
            }
            Ok(days)
        })
    }

    /// One unit's figures in a plan year, from the latest run that measured it, with that run's
    /// as-of date.
    pub fn unit_figures(
        &self,
        job: &str,
        unit: &str,
        plan_year: i32,
    ) -> Result<Option<(NaiveDate, Figures)>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT unit, plan, disbursed, rate, expected, status, as_of FROM unit_figures
                 WHERE job = ?1 AND unit = ?2 AND plan_year = ?3
                 ORDER BY scheduled_at DESC LIMIT 1",
                params![job, unit, plan_year],
                figures_row,
            )
            .optional()
            .map(|found| found.map(|(f, as_of)| (as_of, f)))
        })
    }

    /// When a link was used, if it was.
    pub fn link_used(&self, link_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.with(|c| {
            let at: Option<String> = c
                .query_row(
                    "SELECT received_at FROM answers WHERE link_id = ?1",
                    params![link_id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(at.and_then(|t| DateTime::parse_from_rfc3339(&t).ok().map(|t| t.to_utc())))
        })
    }

    /// Every answer of a job's units in a plan year, oldest first, with its commitments.
    pub fn answers(&self, job: &str, plan_year: i32) -> Result<Vec<Answer>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, unit, via, received_at, ip, reasons, note, disbursed_then, link_id FROM answers
                 WHERE job = ?1 AND plan_year = ?2 ORDER BY received_at, id",
            )?;
            let mut answers: Vec<Answer> = st
                .query_map(params![job, plan_year], |r| {
                    let at: String = r.get(3)?;
                    let reasons: String = r.get(5)?;
                    Ok(Answer {
                        id: r.get(0)?,
                        unit: r.get(1)?,
                        via: r.get(2)?,
                        received_at: DateTime::parse_from_rfc3339(&at)
                            .map(|t| t.to_utc())
                            .unwrap_or_default(),
                        ip: r.get(4)?,
                        reasons: reasons
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect(),
                        note: r.get(6)?,
                        disbursed_then: r.get(7)?,
                        link_id: r.get(8)?,
                        commitments: Vec::new(),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut st =
                c.prepare("SELECT amount, due FROM commitments WHERE answer_id = ?1 ORDER BY due")?;
            for a in &mut answers {
                a.commitments = st
                    .query_map(params![a.id], |r| {
                        let due: String = r.get(1)?;
                        Ok((r.get::<_, i64>(0)?, due))
                    })?
                    .filter_map(|r| r.ok())
                    .filter_map(|(amount, due)| due.parse().ok().map(|d| (amount, d)))
                    .collect();
            }
            Ok(answers)
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

    /// Every message queued for a unit of a job, oldest first.
    pub fn unit_messages(&self, job: &str, unit: &str) -> Result<Vec<OutboxRow>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE job = ?1 AND unit = ?2 ORDER BY id"
            ))?;
            let rows = st.query_map(params![job, unit], outbox_row)?;
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
    fn a_store_of_the_previous_schema_keeps_its_waiting_messages() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Connection::open(dir.path().join("disbmon.sqlite3")).unwrap();
            for sql in &MIGRATIONS[..3] {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", 3).unwrap();
            for rcpt in ["a@x.vn", "b@x.vn"] {
                c.execute(
                    "INSERT INTO outbox (message_id, job, kind, recipient, subject, raw, status, next_attempt_at, deadline_at, created_at)
                     VALUES ('<m@x>', 'j', 'digest', ?1, 's', X'6869', 'pending', ?2, ?3, ?2)",
                    params![rcpt, ts(t(1)), ts(t(9))],
                )
                .unwrap();
            }
        }
        let s = Store::open(dir.path()).unwrap();
        let bodies: i64 = s
            .with(|c| c.query_row("SELECT COUNT(*) FROM message_bodies", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(bodies, 1);
        let taken = s
            .take_due(Take {
                now: t(2),
                lease: Duration::from_secs(60),
                only: None,
            })
            .unwrap()
            .unwrap();
        assert_eq!(
            (taken.row.recipient.as_str(), taken.raw.as_slice()),
            ("a@x.vn", &b"hi"[..])
        );
    }

    #[test]
    fn a_slot_runs_once_across_reopening_and_an_interrupted_one_can_run_again() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let sched = Trigger::Schedule;
        assert!(s.claim("weekly", t(1), t(1), sched).unwrap());
        assert!(!s.claim("weekly", t(1), t(2), sched).unwrap());
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert!(!s.claim("weekly", t(1), t(2), sched).unwrap());
        assert_eq!(s.interrupt_scheduled(None).unwrap(), 1);
        assert_eq!(s.interrupted("weekly").unwrap(), vec![t(1)]);
        assert!(s.claim("weekly", t(1), t(3), sched).unwrap());
        let r = RunResult {
            outcome: RunOutcome::Ok,
            attempts: 1,
            units_behind: 3,
            emails_sent: 4,
            ..Default::default()
        };
        s.finish("weekly", t(1), t(4), &r).unwrap();
        assert!(!s.claim("weekly", t(1), t(5), sched).unwrap());
        let runs = s.runs("weekly", 10).unwrap();
        assert_eq!(
            (runs.len(), runs[0].outcome, runs[0].emails_sent),
            (1, RunOutcome::Ok, Some(4))
        );
        assert_eq!(s.last_success("weekly").unwrap(), Some(t(4)));
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
