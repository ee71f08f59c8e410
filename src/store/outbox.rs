//! The outbox: one row per message and envelope recipient, taken under a lease by one drainer at
//! a time, marked sent, retried with a deadline, or failed; rows whose sender died are put back.

use super::db::{Store, StoreError};
use super::liveness::orphaned;
use super::sql::{later, opt_ts, parse_ts, ts};
use crate::domain::message::{NewMessage, OutboxRow, OutboxStatus};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::time::Duration;

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
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
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
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
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

impl Store {
    /// Stores each message's body once and a row per recipient; returns how many rows were new.
    /// `held`: the rows wait for an operator to release them (the mass-mailing guard).
    pub(super) fn queue(
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
}
