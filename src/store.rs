//! The state store: SQLite under `state_dir` (WAL, versioned migrations). Holds every scheduled
//! run (its identity is the job and the scheduled time), the daemon's last heartbeat (to tell which
//! slots were missed while it was down), and the operator notices already sent.

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
];

/// How a run ended (or that it has not).
pub mod outcome {
    pub const RUNNING: &str = "running";
    /// Decided and its messages queued; delivery may still be going on.
    pub const QUEUED: &str = "queued";
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

/// What the store remembers of a unit between runs, per job, unit and plan year.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Memory {
    /// The status at the last accepted run (`behind`, `critical`, `on_track`, `no_plan`).
    pub status: String,
    /// The as-of date the current episode of being behind began.
    pub episode_since: Option<NaiveDate>,
    /// Alerts queued in this episode.
    pub alerts_in_episode: u32,
    pub last_alert_at: Option<DateTime<Utc>>,
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
    pub status: String,
}

/// One decision about one unit in one run.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    pub unit: String,
    pub status: String,
    pub reason: String,
    pub escalated: bool,
    pub message_id: Option<String>,
}

/// A rendered message to queue: one outbox row per envelope recipient, so that one refused
/// recipient never holds up the others.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message_id: String,
    pub unit: Option<String>,
    pub kind: &'static str,
    pub reason: Option<String>,
    pub recipients: Vec<String>,
    pub subject: String,
    pub raw: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub message_id: String,
    pub job: String,
    pub unit: Option<String>,
    pub kind: String,
    pub reason: Option<String>,
    pub recipient: String,
    pub subject: String,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
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

/// A unit's figures in one run, for its history.
#[derive(Debug, Clone)]
pub struct FiguresRecord {
    pub scheduled_at: DateTime<Utc>,
    pub as_of: NaiveDate,
    pub figures: Figures,
    pub reason: Option<String>,
}

fn date(s: &str) -> rusqlite::Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

const OUTBOX_COLUMNS: &str = "id, message_id, job, unit, kind, reason, recipient, subject, status, attempts, next_attempt_at, last_error, created_at, sent_at, raw";

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
        sent_at: r
            .get::<_, Option<String>>(13)?
            .map(|s| parse_ts(&s))
            .transpose()?,
        raw: r.get(14)?,
    })
}

impl Store {
    /// The remembered state of every unit of a job for a plan year.
    pub fn memory(&self, job: &str, plan_year: i32) -> Result<HashMap<String, Memory>, String> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT unit, status, episode_since, alerts_in_episode, last_alert_at, suppressed FROM alert_state
                 WHERE job = ?1 AND plan_year = ?2",
            )?;
            let rows = st.query_map(params![job, plan_year], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Memory {
                        status: r.get(1)?,
                        episode_since: r.get::<_, Option<String>>(2)?.map(|s| date(&s)).transpose()?,
                        alerts_in_episode: r.get(3)?,
                        last_alert_at: r.get::<_, Option<String>>(4)?.map(|s| parse_ts(&s)).transpose()?,
                        suppressed: r.get::<_, i64>(5)? != 0,
                    },
                ))
            })?;
            rows.collect()
        })
    }

    /// Units of a job silenced on `day`.
    pub fn silenced(&self, job: &str, day: NaiveDate) -> Result<HashSet<String>, String> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT unit FROM silences WHERE job = ?1 AND removed_at IS NULL AND until >= ?2",
            )?;
            let rows = st.query_map(params![job, day.to_string()], |r| r.get::<_, String>(0))?;
            rows.collect()
        })
    }

    /// Records an accepted run in one transaction: its figures, its decisions, the units' new
    /// memory and every message it queues — before any delivery is tried.
    #[allow(clippy::too_many_arguments)]
    pub fn record_run(
        &self,
        job: &str,
        scheduled: DateTime<Utc>,
        as_of: NaiveDate,
        plan_year: i32,
        figures: &[Figures],
        decisions: &[DecisionRecord],
        memory: &[(String, Memory)],
        messages: &[NewMessage],
        issues_json: &str,
        now: DateTime<Utc>,
        deadline: Duration,
    ) -> Result<(), String> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| "state store lock poisoned".to_string())?;
        let fail = |e: rusqlite::Error| format!("state store {}: {e}", self.path.display());
        let tx = conn.transaction().map_err(fail)?;
        let (sched, day) = (ts(scheduled), as_of.to_string());
        // Once this commits, the run's work is done: its messages are in the outbox. `queued` keeps a
        // crash after this point from counting the run as cut off (and running it again).
        tx.execute(
            "UPDATE runs SET as_of = ?3, data_issues = ?4,
                 outcome = CASE WHEN outcome = 'running' THEN 'queued' ELSE outcome END
             WHERE job = ?1 AND scheduled_at = ?2",
            params![job, sched, day, issues_json],
        )
        .map_err(fail)?;
        for f in figures {
            tx.execute(
                "INSERT OR REPLACE INTO unit_figures (job, scheduled_at, as_of, plan_year, unit, plan, disbursed, rate, expected, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![job, sched, day, plan_year, f.unit, f.plan, f.disbursed, f.rate, f.expected, f.status],
            )
            .map_err(fail)?;
        }
        for d in decisions {
            tx.execute(
                "INSERT INTO decisions (job, scheduled_at, unit, plan_year, status, reason, escalated, message_id, decided_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![job, sched, d.unit, plan_year, d.status, d.reason, d.escalated, d.message_id, ts(now)],
            )
            .map_err(fail)?;
        }
        for (unit, m) in memory {
            tx.execute(
                "INSERT OR REPLACE INTO alert_state (job, unit, plan_year, status, episode_since, alerts_in_episode, last_alert_at, suppressed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    job,
                    unit,
                    plan_year,
                    m.status,
                    m.episode_since.map(|d| d.to_string()),
                    m.alerts_in_episode,
                    m.last_alert_at.map(ts),
                    m.suppressed
                ],
            )
            .map_err(fail)?;
        }
        Self::queue(&tx, job, messages, now, deadline).map_err(fail)?;
        tx.commit().map_err(fail)
    }

    fn queue(
        c: &Connection,
        job: &str,
        messages: &[NewMessage],
        now: DateTime<Utc>,
        deadline: Duration,
    ) -> rusqlite::Result<()> {
        let until = now + chrono::Duration::from_std(deadline).unwrap_or(chrono::Duration::days(1));
        for m in messages {
            for rcpt in &m.recipients {
                // The same logical message to the same recipient is queued once.
                c.execute(
                    "INSERT OR IGNORE INTO outbox (message_id, job, unit, kind, reason, recipient, subject, raw, status, next_attempt_at, deadline_at, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10, ?9)",
                    params![m.message_id, job, m.unit, m.kind, m.reason, rcpt, m.subject, m.raw, ts(now), ts(until)],
                )?;
            }
        }
        Ok(())
    }

    /// Queues messages outside a run (operator notices).
    pub fn enqueue(
        &self,
        job: &str,
        messages: &[NewMessage],
        now: DateTime<Utc>,
        deadline: Duration,
    ) -> Result<(), String> {
        self.with(|c| Self::queue(c, job, messages, now, deadline))
    }

    /// Records a run's data issues (JSON) and as-of date.
    pub fn record_issues(
        &self,
        job: &str,
        scheduled: DateTime<Utc>,
        as_of: NaiveDate,
        issues_json: &str,
    ) -> Result<(), String> {
        self.with(|c| {
            c.execute(
                "UPDATE runs SET as_of = ?3, data_issues = ?4 WHERE job = ?1 AND scheduled_at = ?2",
                params![job, ts(scheduled), as_of.to_string(), issues_json],
            )?;
            Ok(())
        })
    }

    /// Messages that were being sent when the process died go back to pending: they may reach a
    /// recipient twice, with the same Message-ID.
    pub fn release_sending(&self) -> Result<usize, String> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET status = 'pending' WHERE status = 'sending'",
                [],
            )
        })
    }

    /// Takes the next due message for sending (marks it `sending`), oldest first.
    pub fn take_due(
        &self,
        now: DateTime<Utc>,
        only_message_ids: Option<&[String]>,
    ) -> Result<Option<OutboxRow>, String> {
        self.with(|c| {
            let rows: Vec<OutboxRow> = {
                let mut st = c.prepare(&format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT 50"
                ))?;
                let r = st.query_map(params![ts(now)], outbox_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
                r
            };
            for row in rows {
                if let Some(ids) = only_message_ids {
                    if !ids.contains(&row.message_id) {
                        continue;
                    }
                }
                let taken = c.execute("UPDATE outbox SET status = 'sending' WHERE id = ?1 AND status = 'pending'", params![row.id])?;
                if taken == 1 {
                    return Ok(Some(row));
                }
            }
            Ok(None)
        })
    }

    pub fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), String> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
                params![id, ts(now)],
            )?;
            Ok(())
        })
    }

    /// A transient failure: try again at `next`, unless that is past the message's deadline.
    pub fn mark_retry(&self, id: i64, error: &str, next: DateTime<Utc>) -> Result<bool, String> {
        self.with(|c| {
            let deadline: String = c.query_row("SELECT deadline_at FROM outbox WHERE id = ?1", params![id], |r| r.get(0))?;
            let give_up = next > parse_ts(&deadline)?;
            c.execute(
                "UPDATE outbox SET status = ?2, attempts = attempts + 1, last_error = ?3, next_attempt_at = ?4 WHERE id = ?1",
                params![id, if give_up { "failed" } else { "pending" }, error, ts(next)],
            )?;
            Ok(!give_up)
        })
    }

    pub fn mark_failed(&self, id: i64, error: &str) -> Result<(), String> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                params![id, error],
            )?;
            Ok(())
        })
    }

    /// Puts a message that was being sent back (the server went away mid-pass) without counting a try.
    pub fn release(&self, id: i64) -> Result<(), String> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET status = 'pending' WHERE id = ?1 AND status = 'sending'",
                params![id],
            )?;
            Ok(())
        })
    }

    /// Outbox rows with these statuses (all jobs), oldest first.
    pub fn outbox(&self, statuses: &[&str]) -> Result<Vec<OutboxRow>, String> {
        self.with(|c| {
            let list = statuses
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(",");
            let mut st = c.prepare(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status IN ({list}) ORDER BY id"
            ))?;
            let rows = st.query_map([], outbox_row)?;
            rows.collect()
        })
    }

    /// The rows of these logical messages.
    pub fn messages(&self, message_ids: &[String]) -> Result<Vec<OutboxRow>, String> {
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
    pub fn retry(&self, id: i64, now: DateTime<Utc>, deadline: Duration) -> Result<bool, String> {
        let until = now + chrono::Duration::from_std(deadline).unwrap_or(chrono::Duration::days(1));
        self.with(|c| {
            let n = c.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?2, deadline_at = ?3, reported = 0 WHERE id = ?1 AND status = 'failed'",
                params![id, ts(now), ts(until)],
            )?;
            Ok(n == 1)
        })
    }

    /// Failed messages of a job not yet listed in a digest; marks them listed.
    pub fn take_unreported_failures(&self, job: &str) -> Result<Vec<OutboxRow>, String> {
        self.with(|c| {
            let rows = {
                let mut st = c.prepare(&format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE job = ?1 AND status = 'failed' AND reported = 0 ORDER BY id"
                ))?;
                let r = st.query_map(params![job], outbox_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
                r
            };
            c.execute("UPDATE outbox SET reported = 1 WHERE job = ?1 AND status = 'failed'", params![job])?;
            Ok(rows)
        })
    }

    pub fn add_silence(
        &self,
        job: &str,
        unit: &str,
        until: NaiveDate,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, String> {
        self.with(|c| {
            c.execute(
                "INSERT INTO silences (job, unit, until, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![job, unit, until.to_string(), reason, ts(now)],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    pub fn silences(&self) -> Result<Vec<Silence>, String> {
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

    pub fn remove_silence(&self, id: i64, now: DateTime<Utc>) -> Result<bool, String> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE silences SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL",
                params![id, ts(now)],
            )? == 1)
        })
    }

    /// A unit's figures in every run of a job, oldest first, with the decision of each run.
    pub fn unit_history(&self, job: &str, unit: &str) -> Result<Vec<FiguresRecord>, String> {
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

    /// Every message queued for a unit of a job, oldest first.
    pub fn unit_messages(&self, job: &str, unit: &str) -> Result<Vec<OutboxRow>, String> {
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
