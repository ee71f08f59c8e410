//! The outbox: every email is stored, fully rendered, before any delivery is tried (by the run
//! that decides it, in the same transaction as the decision). One drainer sends them all — for
//! `disbmon once`, `disbmon outbox send` and the daemon alike — over `mail.smtp.connections`
//! lanes at once, each sending the next of the due rows taken for them a batch at a time under a
//! lease (a row whose taker died is taken back), each delivery noted as it happens: a message
//! refused for good (5xx) is recorded as failed with the server's reply; one that fails for now
//! (no connection, a timeout, 4xx) is tried again with exponential backoff until its deadline.
//! Each row has one envelope recipient, so one refused recipient never holds up others.

use crate::base::clock::Clock;
use crate::config::daemon::MailConfig;
use crate::domain::address::Mailbox;
use crate::domain::message::MessageKind;
use crate::notify::deliver::Lane;
use crate::notify::deliver::Mailer;
use crate::notify::deliver::MailerError;
use crate::store::db::{Store, StoreError};
use crate::store::outbox::{Take, Taken, IDS_AT_ONCE};
use std::time::Duration;

/// A message given up in a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenUp {
    pub job: String,
    pub kind: MessageKind,
    pub recipient: String,
    pub subject: String,
    pub why: String,
}

/// What one delivery pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub failed: usize,
    pub deferred: usize,
    /// Messages given up in this pass.
    pub failures: Vec<GivenUp>,
    /// The state store failed; the pass stopped there (messages stay queued).
    pub store_error: Option<String>,
}

impl Pass {
    /// The pass ends here because the state store failed; the messages stay queued.
    fn stop(&mut self, e: StoreError) {
        tracing::error!("outbox: {e}");
        self.store_error = Some(e.to_string());
    }

    /// One log line, when the pass did anything.
    pub fn log(&self) {
        if self.sent + self.deferred + self.failed > 0 {
            tracing::info!(
                "outbox: {} sent, {} deferred, {} failed",
                self.sent,
                self.deferred,
                self.failed
            );
        }
    }
}

/// The wait before try `attempts + 1`: `initial`, doubling, at most an hour.
pub fn backoff(initial: Duration, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.min(16));
    initial
        .saturating_mul(factor)
        .min(Duration::from_secs(3600))
}

/// What the lanes of one pass share: its tally, whether it must stop, and the rows taken for
/// them and not yet sent.
struct Lanes<'p> {
    pass: std::sync::Mutex<Pass>,
    stop: std::sync::atomic::AtomicBool,
    queue: std::sync::Mutex<Queue<'p>>,
}

/// Rows taken a batch at a time for all lanes, and which messages the next batch is taken from.
struct Queue<'p> {
    rows: std::collections::VecDeque<Taken>,
    /// This run's messages, in the slices of them not yet taken; then any message.
    prefer: &'p [String],
    /// Every due row has been taken.
    done: bool,
}

impl Lanes<'_> {
    fn record(&self, f: impl FnOnce(&mut Pass)) {
        f(&mut self.pass.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// The one sender: takes due rows from the outbox and hands them to the mail transport.
pub struct Drainer<'a> {
    store: &'a Store,
    mailer: Mailer,
    mail: &'a MailConfig,
    from: &'a Mailbox,
    clock: &'a dyn Clock,
    retry_initial: Duration,
}

impl<'a> Drainer<'a> {
    /// A drainer of `store` through the configured mail transport.
    pub fn new(
        store: &'a Store,
        mail: &'a MailConfig,
        clock: &'a dyn Clock,
    ) -> Result<Drainer<'a>, MailerError> {
        Ok(Drainer {
            store,
            mailer: Mailer::new(mail)?,
            mail,
            from: &mail.from,
            clock,
            retry_initial: mail.retry_initial,
        })
    }

    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// How many rows one take leases for the lanes: enough that a transaction's pages are shared
    /// by many messages (each commit writes whole pages: the outbox rows', its two indexes', the
    /// units' memory), and every lane has its share at once.
    fn batch(&self) -> usize {
        (8 * self.mailer.lanes()).max(32)
    }

    /// How long a taken row is held before another drainer may take it back: longer than the
    /// rows of a batch ahead of it on one lane may take (the transport's own bound each), so a
    /// live sender never loses its row.
    fn lease(&self) -> Duration {
        let waits = self.batch().div_ceil(self.mailer.lanes()) as u32;
        self.mailer.per_message_bound().saturating_mul(waits) + Duration::from_secs(30)
    }

    /// Sends every due message — those with Message-IDs in `prefer` first, then all others, oldest
    /// first — until none is due. Stops early when the server itself fails: the rest wait for the
    /// next pass rather than each hitting the same failure. This is the only place mail is sent.
    pub async fn drain(&self, prefer: &[String]) -> Pass {
        let mut pass = Pass::default();
        match self.store.release_orphans() {
            Ok(n) if n > 0 => tracing::warn!(
                "{n} message(s) were being sent by a process that stopped; sending them again (a recipient may get one twice, with the same Message-ID)"
            ),
            Ok(_) => {}
            Err(e) => {
                pass.stop(e);
                return pass;
            }
        }
        // One lane per connection (`mail.smtp.connections`), all in this task: each sends the
        // next taken row, so at most one message per connection is in flight.
        let shared = Lanes {
            pass: std::sync::Mutex::new(pass),
            stop: std::sync::atomic::AtomicBool::new(false),
            queue: std::sync::Mutex::new(Queue {
                rows: Default::default(),
                prefer,
                done: false,
            }),
        };
        let lanes = (0..self.mailer.lanes()).map(|_| self.lane(&shared));
        futures_util::future::join_all(lanes).await;
        // Rows taken but not tried (the pass stopped) go back at once, not when their lease ends;
        // what was delivered is marked sent before the pass reports.
        let left: Vec<i64> = {
            let queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.rows.iter().map(|t| t.row.id).collect()
        };
        let settled = self.store.release(&left).and_then(|()| self.store.settle());
        if let Err(e) = settled {
            shared.record(|pass| pass.stop(e));
        }
        shared.pass.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// The next row to send, from the rows taken for the lanes; when none is left, the next batch
    /// taken: of `prefer`'s messages while any is due, then of any.
    fn next(&self, shared: &Lanes) -> Result<Option<Taken>, StoreError> {
        let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(taken) = queue.rows.pop_front() {
                return Ok(Some(taken));
            }
            if queue.done {
                return Ok(None);
            }
            let head = &queue.prefer[..queue.prefer.len().min(IDS_AT_ONCE)];
            let only = (!head.is_empty()).then_some(head);
            let batch = self.store.take_due(Take {
                now: self.clock.now(),
                lease: self.lease(),
                only,
                most: self.batch(),
            })?;
            if batch.is_empty() {
                match only {
                    // None of these is due any more: on to the rest of this run's messages.
                    Some(ids) => queue.prefer = &queue.prefer[ids.len()..],
                    None => queue.done = true,
                }
            }
            queue.rows.extend(batch);
        }
    }

    /// One connection's share of a pass: the next taken row, until none is due or the pass stops.
    async fn lane(&self, shared: &Lanes<'_>) {
        use std::sync::atomic::Ordering;
        let mut lane = self.mailer.lane();
        while !shared.stop.load(Ordering::Relaxed) {
            match self.next(shared) {
                Ok(Some(taken)) => {
                    if !self.send(&mut lane, &taken, shared).await {
                        shared.stop.store(true, Ordering::Relaxed);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    shared.record(|pass| pass.stop(e));
                    shared.stop.store(true, Ordering::Relaxed);
                }
            }
        }
        lane.close().await;
    }

    /// Sends one taken row and records what became of it. False when the pass must stop: the
    /// server (or folder) itself failed, or the store did.
    async fn send(&self, lane: &mut Lane<'_>, taken: &Taken, shared: &Lanes<'_>) -> bool {
        let row = &taken.row;
        // The last guard of `mail.allowed_domains`: a row queued before the list was set, or
        // to an address the config itself names, goes nowhere it may not.
        let result = if self.mail.allows(&row.recipient) {
            lane.send_raw(self.from, &row.recipient, &taken.raw).await
        } else {
            Err(crate::notify::deliver::SendFailure {
                message: format!(
                    "`{}` is outside mail.allowed_domains ({}); not sent",
                    row.recipient,
                    self.mail.allowed_domains.join(", ")
                ),
                server_down: false,
                permanent: true,
            })
        };
        let now = self.clock.now();
        let given_up = |why: &str| GivenUp {
            job: row.job.clone(),
            kind: row.kind,
            recipient: row.recipient.clone(),
            subject: row.subject.clone(),
            why: why.to_string(),
        };
        let recorded = match &result {
            Ok(()) => {
                shared.record(|pass| pass.sent += 1);
                self.store.mark_sent(row.id, now)
            }
            Err(f) if f.permanent => {
                shared.record(|pass| {
                    pass.failed += 1;
                    pass.failures.push(given_up(&f.message));
                });
                tracing::error!(message = %row.message_id, to = %row.recipient, "not delivered: {}", f.message);
                self.store.mark_failed(row.id, &f.message)
            }
            Err(f) => {
                let next = now
                    + chrono::Duration::from_std(backoff(self.retry_initial, row.attempts))
                        .unwrap_or_default();
                match self.store.mark_retry(row.id, &f.message, next) {
                    Ok(true) => {
                        shared.record(|pass| pass.deferred += 1);
                        tracing::warn!(message = %row.message_id, to = %row.recipient, "delivery deferred: {}", f.message);
                        Ok(())
                    }
                    Ok(false) => {
                        shared.record(|pass| {
                            pass.failed += 1;
                            pass.failures.push(given_up(&f.message));
                        });
                        tracing::error!(message = %row.message_id, to = %row.recipient, "given up at its deadline: {}", f.message);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = recorded {
            shared.record(|pass| pass.stop(e));
            return false;
        }
        !matches!(&result, Err(f) if f.server_down)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let s = Duration::from_secs(30);
        assert_eq!(backoff(s, 0), Duration::from_secs(30));
        assert_eq!(backoff(s, 1), Duration::from_secs(60));
        assert_eq!(backoff(s, 3), Duration::from_secs(240));
        assert_eq!(backoff(s, 10), Duration::from_secs(3600));
        assert_eq!(backoff(s, 100), Duration::from_secs(3600));
    }
}
