//! `disbmon outbox`: what waits and what failed, retrying a failed message, releasing a held
//! run, and sending everything due (for setups that run `once` from cron).

use super::args::OutboxAction;
use super::common::{esc, open_store};
use crate::app::exit;
use crate::base::clock::Clock;
use crate::config::daemon::Config;
use crate::domain::message::OutboxStatus;
use crate::store::db::Store;
use std::path::Path;

pub(super) async fn outbox(
    config_path: Option<&Path>,
    action: Option<OutboxAction>,
    clock: &dyn Clock,
) -> i32 {
    let (config, store) = match open_store(config_path) {
        Ok(v) => v,
        Err(code) => return code,
    };
    match action {
        Some(OutboxAction::Retry { id }) => {
            match store.retry(id, clock.now(), config.mail.retry_deadline) {
                Ok(true) => {
                    sayln!("message {id} queued again; the daemon, the next `disbmon once` or `disbmon outbox send` sends it");
                    exit::OK
                }
                Ok(false) => {
                    esayln!("no failed message {id}; `disbmon outbox` lists them");
                    exit::USAGE
                }
                Err(e) => {
                    esayln!("{e}");
                    exit::ERROR
                }
            }
        }
        Some(OutboxAction::Send) => send_due(&config, &store, clock).await,
        Some(OutboxAction::Release { run }) => {
            match store.release_held(run, clock.now(), config.mail.retry_deadline) {
                Ok((Some(job), n)) if n > 0 => {
                    sayln!("run {run} of job {}: {n} held message(s) released; the daemon, the next `disbmon once` or `disbmon outbox send` sends them", esc(&job));
                    exit::OK
                }
                Ok(_) => {
                    esayln!("run {run} has no held messages; `disbmon outbox` lists the held runs");
                    exit::USAGE
                }
                Err(e) => {
                    esayln!("{e}");
                    exit::ERROR
                }
            }
        }
        None => match store.outbox(&[
            OutboxStatus::Pending,
            OutboxStatus::Sending,
            OutboxStatus::Failed,
        ]) {
            Ok(rows) => {
                let held = match store.held_runs() {
                    Ok(held) => {
                        for h in &held {
                            let (id, n) = (h.run_id, h.messages);
                            sayln!(
                                "HELD  run {id}  job {}  {}  {n} message(s) held by the mass-mailing guard; release them with `disbmon outbox release {id}`",
                                esc(&h.job),
                                h.scheduled.to_rfc3339()
                            );
                        }
                        held.len()
                    }
                    Err(e) => {
                        esayln!("{e}");
                        return exit::ERROR;
                    }
                };
                if rows.is_empty() && held == 0 {
                    sayln!("the outbox is empty: every message was delivered");
                }
                for r in rows {
                    sayln!(
                        "{}  {:<7}  job {}  {}  to {}  tries {}  {}\n      {}",
                        r.id,
                        r.status,
                        r.job,
                        r.unit
                            .as_deref()
                            .map(|u| format!("unit {u}"))
                            .unwrap_or_else(|| r.kind.to_string()),
                        r.recipient,
                        r.attempts,
                        match r.status {
                            OutboxStatus::Failed =>
                                format!("error: {}", r.last_error.unwrap_or_default()),
                            _ => format!(
                                "next try {}{}",
                                r.next_attempt_at.to_rfc3339(),
                                r.last_error
                                    .map(|e| format!(", last error: {e}"))
                                    .unwrap_or_default()
                            ),
                        },
                        r.subject
                    );
                }
                exit::OK
            }
            Err(e) => {
                esayln!("{e}");
                exit::ERROR
            }
        },
    }
}

/// `disbmon outbox send`: one drainer pass over everything due, then what is left.
async fn send_due(config: &Config, store: &Store, clock: &dyn Clock) -> i32 {
    let drainer = match crate::app::outbox::Drainer::new(store, &config.mail, clock) {
        Ok(d) => d,
        Err(e) => {
            esayln!("{e}");
            return exit::ERROR;
        }
    };
    let pass = drainer.drain(&[]).await;
    sayln!(
        "{} sent, {} deferred, {} given up ({})",
        pass.sent,
        pass.deferred,
        pass.failed,
        drainer.mailer().describe()
    );
    for f in &pass.failures {
        esayln!(
            "not delivered: job {}, to {}: {}: {}",
            f.job,
            f.recipient,
            f.subject,
            f.why
        );
    }
    if let Some(e) = pass.store_error {
        esayln!("{e}");
        return exit::ERROR;
    }
    match store.waiting() {
        Ok(0) if pass.failed == 0 => exit::OK,
        Ok(n) => {
            if n > 0 {
                esayln!("{n} message(s) still wait in the outbox (`disbmon outbox` lists them)");
            }
            exit::DELIVERY
        }
        Err(e) => {
            esayln!("{e}");
            exit::ERROR
        }
    }
}
