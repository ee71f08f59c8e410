//! The outbox: every email is stored, fully rendered, before any delivery is tried (by the run
//! that decides it, in the same transaction as the decision). Delivery takes due messages one by
//! one: a message refused for good (5xx) is recorded as failed with the server's reply; one that
//! fails for now (no connection, a timeout, 4xx) is tried again with exponential backoff until its
//! deadline. Each row has one envelope recipient, so one refused recipient never holds up others.

use crate::clock::Clock;
use crate::notify::Mailer;
use crate::store::Store;
use lettre::message::Mailbox;
use std::time::Duration;

/// What one delivery pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub failed: usize,
    pub deferred: usize,
    /// Messages given up in this pass: (job, recipient, subject, why).
    pub failures: Vec<(String, String, String, String)>,
}

/// The wait before try `attempts + 1`: `initial`, doubling, at most an hour.
pub fn backoff(initial: Duration, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.min(16));
    initial
        .saturating_mul(factor)
        .min(Duration::from_secs(3600))
}

/// Sends the due messages (all, or only those with these Message-IDs). Stops early when the
/// server itself fails: the rest wait for the next pass rather than each hitting the same failure.
pub async fn deliver(
    store: &Store,
    mailer: &Mailer,
    from: &Mailbox,
    clock: &dyn Clock,
    retry_initial: Duration,
    only: Option<&[String]>,
) -> Pass {
    let mut pass = Pass::default();
    loop {
        let row = match store.take_due(clock.now(), only) {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => {
                tracing::error!("outbox: {e}");
                break;
            }
        };
        let result = mailer.send_raw(from, &row.recipient, &row.raw).await;
        let now = clock.now();
        let recorded = match &result {
            Ok(()) => {
                pass.sent += 1;
                store.mark_sent(row.id, now)
            }
            Err(f) if f.permanent => {
                pass.failed += 1;
                pass.failures.push((
                    row.job.clone(),
                    row.recipient.clone(),
                    row.subject.clone(),
                    f.message.clone(),
                ));
                tracing::error!(message = %row.message_id, to = %row.recipient, "not delivered: {}", f.message);
                store.mark_failed(row.id, &f.message)
            }
            Err(f) => {
                let next = now
                    + chrono::Duration::from_std(backoff(retry_initial, row.attempts))
                        .unwrap_or_default();
                match store.mark_retry(row.id, &f.message, next) {
                    Ok(true) => {
                        pass.deferred += 1;
                        tracing::warn!(message = %row.message_id, to = %row.recipient, "delivery deferred: {}", f.message);
                        Ok(())
                    }
                    Ok(false) => {
                        pass.failed += 1;
                        pass.failures.push((
                            row.job.clone(),
                            row.recipient.clone(),
                            row.subject.clone(),
                            f.message.clone(),
                        ));
                        tracing::error!(message = %row.message_id, to = %row.recipient, "given up at its deadline: {}", f.message);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = recorded {
            tracing::error!("outbox: {e}");
        }
        if matches!(&result, Err(f) if f.server_down) {
            break;
        }
    }
    pass
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
