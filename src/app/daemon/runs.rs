//! Each scheduled run: claimed in the store so that a slot runs once, tried again with backoff
//! when its data was rejected or it failed, recorded, and told to the operators when it failed.

use super::env::{local, Env, Scheduled};
use super::notices::notify_operators;
use crate::app::pipeline;
use crate::config::job::Job;
use crate::domain::money::Language;
use crate::store::runs::RunOutcome;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Starts the run of `slot` unless the previous run is still going or the slot already ran.
pub(super) fn start(s: &mut Scheduled, slot: DateTime<Utc>, env: &Env) {
    let job = s.job.clone();
    if s.busy() {
        tracing::warn!(job = %job.name, "skipping the run of {}: the previous run is still going", local(&job, slot));
        env.shared
            .metrics(|m| *m.skipped.entry(job.name.clone()).or_default() += 1);
        return;
    }
    match env.store.claim(&job.name, slot, env.clock.now()) {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(job = %job.name, "the run of {} already took place; not running it again", local(&job, slot));
            return;
        }
        Err(e) => {
            tracing::error!(job = %job.name, "cannot record the run of {}: {e}; not running it", local(&job, slot));
            return;
        }
    }
    let env = env.clone();
    s.task = Some(tokio::spawn(async move {
        run_with_retries(job, slot, env).await
    }));
}

/// One scheduled run: tries, backoff between them, the record, and the operators' notice. Only
/// a rejected run (a source down, bad data) is tried again; messages that could not be delivered
/// stay in the outbox, whose worker keeps trying them.
pub(super) async fn run_with_retries(job: Arc<Job>, slot: DateTime<Utc>, mut env: Env) {
    let as_of = slot.with_timezone(&job.timezone).date_naive();
    let began = env.clock.now();
    let mut errors: Vec<String> = Vec::new();
    let mut attempts = 0;
    tracing::info!(job = %job.name, "run of {} starts (as of {as_of})", local(&job, slot));
    let report = loop {
        attempts += 1;
        let run = pipeline::Run {
            job: &job,
            config: &env.setup.config,
            templates: &env.setup.templates,
            store: &env.store,
            clock: env.clock.as_ref(),
            scheduled: slot,
            as_of,
            dry_run: false,
        };
        let report = pipeline::run_job(&run).await;
        let ok = !report.is_failure();
        if !ok {
            errors.push(format!("try {attempts}: {}", report.failure_summary()));
        }
        if ok || attempts > job.retries.len() {
            break report;
        }
        let delay = job.retries[attempts - 1];
        tracing::warn!(job = %job.name, "run of {} failed (try {attempts}); retrying in {} s: {}", local(&job, slot), delay.as_secs(), errors.last().map(String::as_str).unwrap_or(""));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = env.stopping.wait_for(|s| *s) => {
                tracing::warn!(job = %job.name, "shutdown during the backoff of the run of {}; recorded as interrupted", local(&job, slot));
                let _ = env.store.interrupt_scheduled(Some(&job.name));
                return;
            }
        }
    };
    let mut result = report.result(attempts as u32);
    if !errors.is_empty() && result.outcome == RunOutcome::Failed {
        result.error = Some(errors.join("\n"));
    }
    let ok = result.outcome == RunOutcome::Ok;
    env.shared.last_run(
        &job.name,
        (!ok).then(|| result.error.clone().unwrap_or_default()),
    );
    let now = env.clock.now();
    if let Err(e) = env.store.finish(&job.name, slot, now, &result) {
        tracing::error!(job = %job.name, "{e}");
    }
    env.shared.metrics(|m| {
        *m.runs
            .entry((job.name.clone(), result.outcome.to_string()))
            .or_default() += 1;
        let d = m.duration.entry(job.name.clone()).or_default();
        d.0 += (now - began).to_std().unwrap_or_default().as_secs_f64();
        d.1 += 1;
        *m.emails_sent.entry(job.name.clone()).or_default() += u64::from(result.emails_sent);
        *m.emails_failed.entry(job.name.clone()).or_default() += u64::from(result.emails_failed);
        if ok {
            m.last_success.insert(job.name.clone(), now.timestamp());
        }
    });
    env.outbox_wake.notify_one();
    if ok {
        tracing::info!(
            job = %job.name,
            "run of {} done: {} unit(s) behind, {} message(s) sent, {} waiting in the outbox",
            local(&job, slot),
            result.units_behind,
            result.emails_sent,
            result.emails_failed
        );
        return;
    }
    if result.outcome == RunOutcome::Held {
        // The operators were told by the run itself, with the command that releases the messages.
        tracing::warn!(job = %job.name, "run of {} done, its messages held: {}", local(&job, slot), result.error.as_deref().unwrap_or(""));
        return;
    }
    tracing::error!(job = %job.name, "run of {} failed after {attempts} tr{}", local(&job, slot), if attempts == 1 { "y" } else { "ies" });
    let (subject, mut lines) = match job.language {
        Language::Vi => (
            format!(
                "[disbmon] công việc {} không chạy được: lần chạy {}",
                job.name,
                local(&job, slot)
            ),
            vec![
                format!(
                    "Lần chạy công việc `{}` theo lịch lúc {} (số liệu đến ngày {}) không thành công sau {attempts} lần thử.",
                    job.name,
                    local(&job, slot),
                    as_of.format("%d/%m/%Y")
                ),
                format!("Tệp công việc: {}", job.file.display()),
                "Lý do:".to_string(),
            ],
        ),
        Language::En => (
            format!("[disbmon] job {} failed: run of {}", job.name, local(&job, slot)),
            vec![
                format!(
                    "The run of job `{}` scheduled for {} (as of {as_of}) failed after {attempts} tr{}.",
                    job.name,
                    local(&job, slot),
                    if attempts == 1 { "y" } else { "ies" }
                ),
                format!("Job file: {}", job.file.display()),
                "Why:".to_string(),
            ],
        ),
    };
    lines.extend(errors.iter().map(|e| format!("  {e}")));
    lines.push(match job.language {
        Language::Vi => "Hệ thống vẫn chạy các lần theo lịch tiếp theo. Lệnh `disbmon once JOB --dry-run` cho xem lỗi.".into(),
        Language::En => "The daemon goes on with the next scheduled runs. `disbmon once JOB --dry-run` shows the problem by hand.".into(),
    });
    notify_operators(&env, &job.name, job.language, &subject, &lines).await;
}
