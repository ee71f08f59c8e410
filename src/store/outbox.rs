//! The outbox: one row per message and envelope recipient, taken under a lease by one drainer at
//! a time, marked sent, retried with a deadline, or failed; rows whose sender died are put back.

use super::db::{Store, StoreError};
use super::liveness::orphaned;
use super::sent::fold_sent;
use super::sql::{later, opt_ts, parse_ts, ts};
use crate::domain::message::{MessageKind, NewMessage, OutboxRow, OutboxStatus};
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

/// Which due messages a drainer takes next.
#[derive(Debug, Clone, Copy)]
pub struct Take<'a> {
    pub now: DateTime<Utc>,
    /// How long the taker may hold the rows before another drainer takes them back.
    pub lease: Duration,
    /// Only rows of these messages (a run delivers its own messages first, whatever else
    /// waits); None: the oldest due rows of any message.
    pub only: Option<&'a [String]>,
    /// At most this many rows, leased in one transaction: a commit writes whole pages, so leasing
    /// a batch writes about what leasing one row did.
    pub most: usize,
}

/// How many message ids one statement of `take_due` names (SQLite's limit on parameters is far
/// above it); a drainer hands it at most this many at once.
pub const IDS_AT_ONCE: usize = 64;

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
    /// recipient twice, with the same Message-ID); rows whose lease ran out are due anyway. What
    /// was noted delivered is marked sent first, so that it is never taken back.
    pub fn release_orphans(&self) -> Result<usize, StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            fold_sent(&tx)?;
            let mut n = 0;
            for id in orphaned(&tx, "SELECT id, owner FROM outbox WHERE status = 'sending'")? {
                n += tx.execute(
                    "UPDATE outbox SET status = 'pending', owner = NULL, lease_until = NULL WHERE id = ?1 AND status = 'sending'",
                    params![id],
                )?;
            }
            tx.commit()?;
            Ok(n)
        })
    }

    /// Takes the next due messages for sending, oldest first, at most `take.most` rows: marks
    /// them `sending` under a lease held by this process. Due: pending and its time has come, or
    /// being sent under a lease that ran out. The deliveries noted since the last take are folded
    /// into the outbox in the same transaction.
    pub fn take_due(&self, take: Take<'_>) -> Result<Vec<Taken>, StoreError> {
        let now = ts(take.now);
        let lease = ts(later(take.now, take.lease));
        let most = take.most.max(1);
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            fold_sent(&tx)?;
            let mut rows = match take.only {
                Some(ids) => {
                    let due = "((status = 'pending' AND next_attempt_at <= ?1) OR (status = 'sending' AND lease_until <= ?1))";
                    let mut rows = Vec::new();
                    for chunk in ids.chunks(IDS_AT_ONCE) {
                        if rows.len() >= most {
                            break;
                        }
                        // Found by the message index, whatever else waits (left to itself, the
                        // planner walks every due row for the order by id: a run's delivery
                        // grew with the square of its messages).
                        let marks = (0..chunk.len()).map(|i| format!("?{}", i + 3)).collect::<Vec<_>>().join(", ");
                        let mut st = tx.prepare(&format!(
                            "SELECT {OUTBOX_COLUMNS} FROM outbox INDEXED BY outbox_message WHERE {due} AND message_id IN ({marks}) ORDER BY id LIMIT ?2"
                        ))?;
                        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&now, &most];
                        values.extend(chunk.iter().map(|id| id as &dyn rusqlite::ToSql));
                        let found = st.query_map(values.as_slice(), outbox_row)?;
                        for row in found {
                            rows.push(row?);
                        }
                    }
                    rows
                }
                // The oldest pending rows and the oldest rows whose lease ran out, each walked to
                // in id order in its status (not past every row sent before them), the older first.
                None => {
                    let first = |status: &str, time: &str| -> rusqlite::Result<Vec<OutboxRow>> {
                        let mut st = tx.prepare(&format!(
                            "SELECT {OUTBOX_COLUMNS} FROM outbox INDEXED BY outbox_waiting WHERE status = '{status}' AND {time} <= ?1 ORDER BY id LIMIT ?2"
                        ))?;
                        let found = st.query_map(params![now, most], outbox_row)?;
                        found.collect()
                    };
                    let mut rows = first("pending", "next_attempt_at")?;
                    rows.extend(first("sending", "lease_until")?);
                    rows
                }
            };
            rows.sort_by_key(|r| r.id);
            rows.truncate(most);
            let mut taken = Vec::with_capacity(rows.len());
            let mut body: Option<(String, Vec<u8>)> = None;
            // A batch's bodies share their run's dictionary, read once.
            let mut dicts: Option<(i64, Vec<u8>)> = None;
            for row in rows {
                tx.execute(
                    "UPDATE outbox SET status = 'sending', owner = ?2, lease_until = ?3 WHERE id = ?1",
                    params![row.id, std::process::id(), lease],
                )?;
                // A message's recipients' rows lie side by side: its body is read once for them.
                let raw = match &body {
                    Some((id, raw)) if *id == row.message_id => raw.clone(),
                    _ => {
                        let (raw, packed, dict): (Vec<u8>, i64, Option<i64>) = tx.query_row(
                            "SELECT raw, packed, dict FROM message_bodies WHERE message_id = ?1",
                            params![row.message_id],
                            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                        )?;
                        let dict = match dict {
                            Some(id) => {
                                if dicts.as_ref().is_none_or(|(d, _)| *d != id) {
                                    let raw: Vec<u8> = tx.query_row(
                                        "SELECT raw FROM message_dicts WHERE id = ?1",
                                        params![id],
                                        |r| r.get(0),
                                    )?;
                                    dicts = Some((id, raw));
                                }
                                dicts.as_ref().map(|(_, d)| d.as_slice())
                            }
                            None => None,
                        };
                        let raw = unpacked(raw, packed, dict)?;
                        body = Some((row.message_id.clone(), raw.clone()));
                        raw
                    }
                };
                taken.push(Taken { row, raw });
            }
            tx.commit()?;
            Ok(taken)
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

    /// Delivered: noted in a row of its own, one small page written (marking the outbox row and
    /// its indexes at once wrote several, a message at a time). The outbox row and the unit's
    /// alert memory (reminders count from a delivery) are marked with the next rows taken, or by
    /// `settle`; until then the row reads as being sent, and is never taken back.
    pub fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO outbox_sent (id, sent_at) VALUES (?1, ?2)",
                params![id, ts(now)],
            )?;
            Ok(())
        })
    }

    /// Marks sent what was noted delivered: the end of a delivery pass.
    pub fn settle(&self) -> Result<usize, StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = fold_sent(&tx)?;
            tx.commit()?;
            Ok(n)
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

    /// Puts rows taken but not tried back (the pass stopped before their turn), without
    /// counting a try.
    pub fn release(&self, ids: &[i64]) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for id in ids {
                tx.execute(
                    "UPDATE outbox SET status = 'pending', owner = NULL, lease_until = NULL
                     WHERE id = ?1 AND status = 'sending' AND id NOT IN (SELECT id FROM outbox_sent)",
                    params![id],
                )?;
            }
            tx.commit()
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
        // The run's first alert is the others' dictionary: they differ from it in the unit's
        // name and figures, and compress to those (a digest, with its workbook, would be a
        // large one, and is like no alert).
        let first = messages
            .iter()
            .find(|m| m.kind == MessageKind::Alert && m.raw.len() <= DICTIONARY_AT_MOST);
        let mut shared = match first {
            Some(first) if messages.len() > 1 => {
                c.execute(
                    "INSERT INTO message_dicts (raw) VALUES (?1)",
                    params![first.raw],
                )?;
                let id = c.last_insert_rowid();
                let compressor =
                    zstd::bulk::Compressor::with_dictionary(1, &first.raw).map_err(packing)?;
                Some((id, compressor))
            }
            _ => None,
        };
        for m in messages {
            let (raw, dict) = match &mut shared {
                Some((id, compressor)) => {
                    (compressor.compress(&m.raw).map_err(packing)?, Some(*id))
                }
                None => (packed(&m.raw)?, None),
            };
            c.execute(
                "INSERT OR IGNORE INTO message_bodies (message_id, raw, packed, dict) VALUES (?1, ?2, 1, ?3)",
                params![m.message_id, raw, dict],
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

/// The largest message that is made the dictionary of its run's others.
const DICTIONARY_AT_MOST: usize = 256 << 10;

/// A body as stored alone: zstd at its fastest level (a rendered message is mostly text and
/// markup; it shrinks to about a quarter, and so does what each run writes).
fn packed(raw: &[u8]) -> rusqlite::Result<Vec<u8>> {
    zstd::bulk::compress(raw, 1).map_err(packing)
}

fn packing(e: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

/// A stored body as sent: as it was (stored before compression came), or decompressed, with its
/// run's dictionary when it was compressed against one.
fn unpacked(raw: Vec<u8>, packed: i64, dict: Option<&[u8]>) -> rusqlite::Result<Vec<u8>> {
    if packed == 0 {
        return Ok(raw);
    }
    let failed = |e: std::io::Error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    };
    let input = std::io::BufReader::new(raw.as_slice());
    let mut decoder = match dict {
        Some(d) => zstd::stream::read::Decoder::with_dictionary(input, d),
        None => zstd::stream::read::Decoder::with_buffer(input),
    }
    .map_err(failed)?;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut decoder, &mut out).map_err(failed)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 8, m, 0).unwrap()
    }

    fn message(n: usize, recipients: &[&str]) -> NewMessage {
        NewMessage {
            message_id: format!("<m{n}@test>"),
            unit: None,
            kind: MessageKind::Digest,
            reason: None,
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
            subject: format!("m {n}"),
            raw: format!(
                "Subject: m {n}\r\n\r\n{}\r\n",
                "Kế hoạch vốn ".repeat(n * 50)
            )
            .into_bytes(),
        }
    }

    fn take(s: &Store, now: DateTime<Utc>, only: Option<&[String]>, most: usize) -> Vec<Taken> {
        s.take_due(Take {
            now,
            lease: Duration::from_secs(60),
            only,
            most,
        })
        .unwrap()
    }

    fn status(s: &Store, id: i64) -> OutboxStatus {
        s.with(|c| {
            c.query_row(
                "SELECT status FROM outbox WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
        })
        .unwrap()
    }

    #[test]
    fn a_batch_is_taken_oldest_first_with_each_body_as_queued() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let queued: Vec<_> = (1..=5).map(|n| message(n, &["a@x.vn", "b@x.vn"])).collect();
        assert_eq!(
            s.enqueue("j", &queued, t(0), Duration::from_secs(3600))
                .unwrap(),
            10
        );
        let first = take(&s, t(1), None, 3);
        assert_eq!(
            first.iter().map(|x| x.row.id).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(first[0].raw, queued[0].raw);
        assert_eq!(first[2].raw, queued[1].raw);
        // This run's messages first: only rows of the messages named.
        let ids = [queued[4].message_id.clone()];
        let mine = take(&s, t(1), Some(&ids), 8);
        assert_eq!(mine.iter().map(|x| x.row.id).collect::<Vec<_>>(), [9, 10]);
        assert_eq!(mine[1].raw, queued[4].raw);
        let rest = take(&s, t(1), None, 8);
        assert_eq!(
            rest.iter().map(|x| x.row.id).collect::<Vec<_>>(),
            [4, 5, 6, 7, 8]
        );
        assert!(
            take(&s, t(1), None, 8).is_empty(),
            "everything is being sent"
        );
        // The bodies are kept compressed.
        let stored: i64 = s
            .with(|c| {
                c.query_row("SELECT SUM(LENGTH(raw)) FROM message_bodies", [], |r| {
                    r.get(0)
                })
            })
            .unwrap();
        let plain: usize = queued.iter().map(|m| m.raw.len()).sum();
        assert!((stored as usize) * 4 < plain, "{stored} stored of {plain}");
    }

    #[test]
    fn a_delivery_noted_is_never_taken_back_and_is_marked_sent_when_folded() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.enqueue(
            "j",
            &[message(1, &["a@x.vn"]), message(2, &["b@x.vn"])],
            t(0),
            Duration::from_secs(3600),
        )
        .unwrap();
        let taken = take(&s, t(1), None, 8);
        assert_eq!(taken.len(), 2);
        s.mark_sent(taken[0].row.id, t(2)).unwrap();
        assert_eq!(
            status(&s, 1),
            OutboxStatus::Sending,
            "noted, not yet folded"
        );
        // Its lease runs out and its taker dies: the delivered row stays delivered, the other is
        // taken again.
        s.with(|c| c.execute("UPDATE outbox SET owner = 4194305", []))
            .unwrap();
        assert_eq!(s.release_orphans().unwrap(), 1);
        assert_eq!(status(&s, 1), OutboxStatus::Sent);
        assert_eq!(status(&s, 2), OutboxStatus::Pending);
        let again = take(&s, t(10), None, 8);
        assert_eq!(again.iter().map(|x| x.row.id).collect::<Vec<_>>(), [2]);
        s.mark_sent(2, t(11)).unwrap();
        // A store opened after its process stopped folds what it noted.
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(status(&s, 2), OutboxStatus::Sent);
        let sent_at: String = s
            .with(|c| c.query_row("SELECT sent_at FROM outbox WHERE id = 2", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(sent_at, ts(t(11)));
        // Released rows never include a delivered one.
        s.release(&[1, 2]).unwrap();
        assert_eq!(
            (status(&s, 1), status(&s, 2)),
            (OutboxStatus::Sent, OutboxStatus::Sent)
        );
        assert_eq!(s.settle().unwrap(), 0);
    }

    #[test]
    fn a_run_s_alerts_are_stored_against_its_first_and_come_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let template =
            "Kính gửi: đơn vị. Tỷ lệ giải ngân của đơn vị thấp hơn mức cần đạt. ".repeat(80);
        let alerts: Vec<NewMessage> = (1..=20)
            .map(|n| NewMessage {
                message_id: format!("<a{n}@test>"),
                kind: MessageKind::Alert,
                recipients: vec![format!("u{n}@x.vn")],
                raw: format!("Subject: đơn vị {n}\r\n\r\n{template}{}\r\n", n * 7919).into_bytes(),
                ..message(0, &[])
            })
            .collect();
        s.enqueue("j", &alerts, t(0), Duration::from_secs(3600))
            .unwrap();
        let taken = take(&s, t(1), None, 100);
        assert_eq!(taken.len(), 20);
        for (m, x) in alerts.iter().zip(&taken) {
            assert_eq!(x.raw, m.raw, "{}", m.message_id);
        }
        let (stored, dicts): (i64, i64) = s
            .with(|c| {
                c.query_row(
                    "SELECT SUM(LENGTH(raw)), (SELECT COUNT(*) FROM message_dicts) FROM message_bodies WHERE dict IS NOT NULL",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
            })
            .unwrap();
        assert_eq!(dicts, 1);
        // Each but the first is little more than what it has of its own.
        assert!(
            stored < 20 * 200,
            "{stored} bytes stored for 20 alerts of {} bytes",
            alerts[0].raw.len()
        );
    }
}
