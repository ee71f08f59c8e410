//! What the daemon tells the operators: a notice queued in the outbox like any message (each its
//! own Message-ID), and the dead-man check — a job that has not succeeded for too long.

use super::env::{local, Env, Scheduled};
use crate::domain::money::Language;
use crate::notify::queue;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// Queues a notice to the operators in the outbox, and wakes its worker. Each notice is its own
/// message (its Message-ID carries the time and a counter), however alike two subjects are.
/// `lang`: the job's language, which the notice is written in.
pub(super) async fn notify_operators(
    env: &Env,
    job: &str,
    lang: Language,
    subject: &str,
    lines: &[String],
) {
    if env.setup.config.operators.is_empty() {
        tracing::error!("no operators configured to tell: {subject}");
        return;
    }
    let now = env.clock.now();
    let n = env.notices.fetch_add(1, Ordering::Relaxed);
    let identity = format!(
        "operator|{job}|{subject}|{}|{}|{n}",
        now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        std::process::id()
    );
    let operators = queue::Operators {
        mail: &env.setup.config.mail,
        operators: &env.setup.config.operators,
        templates: &env.setup.templates,
    };
    let message = match queue::operator_message(&operators, lang, subject, lines, &identity, now) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!("could not tell the operators ({subject}): {e}");
            return;
        }
    };
    let deadline = env.setup.config.mail.retry_deadline;
    match env.store.enqueue(job, &[message], now, deadline) {
        Ok(n) if n > 0 => {
            tracing::info!("operators told: {subject}");
            env.outbox_wake.notify_one();
        }
        Ok(_) => tracing::error!("the notice to the operators was already queued: {subject}"),
        Err(e) => tracing::error!("could not tell the operators ({subject}): {e}"),
    }
}

/// Tells operators once when a job has not succeeded for longer than its silence limit.
pub(super) async fn dead_man(
    scheduled: &BTreeMap<String, Scheduled>,
    env: &Env,
    now: DateTime<Utc>,
) {
    for s in scheduled.values() {
        let Some(limit) = s.job.silence_limit(now) else {
            continue;
        };
        let last = env.store.last_success(&s.job.name).ok().flatten();
        // A job that never succeeded is silent since the daemon first watched it — a time kept
        // in the store, so a restart does not make it a new silence (and a new notice).
        let Some(started) = env
            .store
            .job_seen(&s.job.name)
            .ok()
            .flatten()
            .map(|s| s.first)
        else {
            continue;
        };
        let since = last.unwrap_or(started);
        let silent = (now - since).to_std().unwrap_or_default();
        if silent <= limit {
            continue;
        }
        let key = last
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| format!("never since {}", started.to_rfc3339()));
        if !env
            .store
            .notice_once(&s.job.name, "silence", &key, now)
            .unwrap_or(false)
        {
            continue;
        }
        let hours = silent.as_secs() / 3600;
        let (subject, lines) = match s.job.language {
            Language::Vi => (
                format!("[disbmon] công việc {} đã {hours} giờ không chạy thành công", s.job.name),
                vec![
                    match last {
                        Some(t) => format!("Công việc `{}` chạy thành công lần cuối lúc {}.", s.job.name, local(&s.job, t)),
                        None => format!("Công việc `{}` chưa chạy thành công lần nào kể từ khi hệ thống khởi động lúc {}.", s.job.name, local(&s.job, started)),
                    },
                    format!("Giới hạn của công việc (max_silence, hoặc gấp đôi chu kỳ) là {} giây. Xem các lần chạy gần đây bằng `disbmon status`.", limit.as_secs()),
                ],
            ),
            Language::En => (
                format!("[disbmon] job {} has not completed successfully for {hours} h", s.job.name),
                vec![
                    match last {
                        Some(t) => format!("Job `{}` last completed successfully at {}.", s.job.name, local(&s.job, t)),
                        None => format!("Job `{}` has not completed successfully since the daemon started at {}.", s.job.name, local(&s.job, started)),
                    },
                    format!("Its limit (max_silence, or twice its period) is {} s. Check its recent runs with `disbmon status`.", limit.as_secs()),
                ],
            ),
        };
        tracing::error!(job = %s.job.name, "{subject}");
        notify_operators(env, &s.job.name, s.job.language, &subject, &lines).await;
    }
}
