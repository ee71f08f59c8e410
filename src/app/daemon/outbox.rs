//! The daemon's outbox worker: every few seconds, or at once when a run queued messages, one
//! drainer pass with the config in force; messages given up are told to the operators.

use super::env::Env;
use super::notices::notify_operators;
use crate::app::outbox::Drainer;
use crate::domain::message::MessageKind;
use crate::domain::money::Language;
use std::time::Duration;

/// How often the outbox worker looks for messages due for another try.
pub(super) const OUTBOX_TICK: Duration = Duration::from_secs(2);

/// One outbox pass with the current configuration; messages given up are reported to the
/// operators (they are also listed in their job's next digest).
pub(super) async fn deliver_pending(env: &Env) {
    let setup = env.current.borrow().clone();
    let env = &Env {
        setup,
        ..env.clone()
    };
    let drainer = match Drainer::new(&env.store, &env.setup.config.mail, env.clock.as_ref()) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("outbox: {e}");
            return;
        }
    };
    let pass = drainer.drain(&[]).await;
    pass.log();
    env.shared.metrics(|m| {
        *m.outbox_sent.get_or_insert(0) += pass.sent as u64;
        *m.outbox_failed.get_or_insert(0) += pass.failed as u64;
    });
    // Operator notices themselves are not reported again if they fail (no loop).
    let failures: Vec<_> = pass
        .failures
        .iter()
        .filter(|f| f.kind != MessageKind::Operator)
        .collect();
    if failures.is_empty() {
        return;
    }
    // In the language of the first failed message's job.
    let language = language_of(env, &failures[0].job);
    let n = failures.len();
    let (subject, head, tail) = match language {
        Language::Vi => (
            format!("[disbmon] {n} thư không gửi được"),
            format!("{n} thư không gửi được và đã dừng gửi:"),
            "`disbmon outbox` liệt kê các thư này; `disbmon outbox retry ID` xếp một thư để gửi lại.",
        ),
        Language::En => (
            format!("[disbmon] {n} message(s) could not be delivered"),
            format!("{n} message(s) could not be delivered and were given up:"),
            "`disbmon outbox` lists them; `disbmon outbox retry ID` queues one again.",
        ),
    };
    let mut lines = vec![head];
    lines.extend(failures.iter().map(|f| {
        format!(
            "  job {}, to {}: {}\n    {}",
            f.job, f.recipient, f.subject, f.why
        )
    }));
    lines.push(tail.into());
    notify_operators(env, &failures[0].job, language, &subject, &lines).await;
}

/// A job's language, as the scheduler loop last published it (Vietnamese for a job it no longer
/// runs).
pub(super) fn language_of(env: &Env, job: &str) -> Language {
    env.shared
        .jobs()
        .iter()
        .find(|j| j.name == job)
        .map(|j| j.language)
        .unwrap_or_default()
}

/// Delivers due messages every few seconds, or at once when a run has queued some.
pub(super) async fn outbox_worker(env: Env) {
    let mut stopping = env.stopping.clone();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(OUTBOX_TICK) => {}
            _ = env.outbox_wake.notified() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        deliver_pending(&env).await;
    }
}
