//! `disbmon history`: a job's runs, or one unit's rate over time and every email it was sent.

use super::common::{find_job, open_store};
use crate::app::exit;
use crate::domain::id::UnitId;
use crate::domain::message::OutboxStatus;
use chrono::{DateTime, Utc};
use std::path::Path;

pub(super) fn history(config_path: Option<&Path>, job: &str, unit: Option<&str>) -> i32 {
    let (config, store) = match open_store(config_path) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let tz = config.timezone;
    let fmt = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string();
    let Some(unit) = unit else {
        match store.runs(job, 1000) {
            Ok(runs) if runs.is_empty() => sayln!("job {job}: no runs recorded"),
            Ok(runs) => {
                sayln!("job {job}: {} run(s), newest first", runs.len());
                for r in runs {
                    sayln!(
                        "  {}  {:<11} {} unit(s) behind, {} sent, {} not delivered{}",
                        fmt(r.scheduled_at),
                        r.outcome,
                        r.units_behind.unwrap_or(0),
                        r.emails_sent.unwrap_or(0),
                        r.emails_failed.unwrap_or(0),
                        r.error
                            .map(|e| format!("\n      {}", e.replace('\n', "\n      ")))
                            .unwrap_or_default()
                    );
                }
            }
            Err(e) => {
                esayln!("{e}");
                return exit::ERROR;
            }
        }
        return exit::OK;
    };
    // A unit's history includes that of the units it succeeded (the job's `successors`).
    let mut ids = vec![UnitId::from(unit)];
    if let Ok(j) = find_job(&config, job) {
        let mut grew = true;
        while grew {
            grew = false;
            for (old, new) in &j.successors {
                if ids.contains(new) && !ids.contains(old) {
                    ids.push(old.clone());
                    grew = true;
                }
            }
        }
    }
    let mut figures = Vec::new();
    let mut messages = Vec::new();
    for id in &ids {
        match (store.unit_history(job, id), store.unit_messages(job, id)) {
            (Ok(f), Ok(m)) => {
                figures.extend(f);
                messages.extend(m);
            }
            (Err(e), _) | (_, Err(e)) => {
                esayln!("{e}");
                return exit::ERROR;
            }
        }
    }
    figures.sort_by_key(|r| r.scheduled_at);
    messages.sort_by_key(|m| m.id);
    if ids.len() > 1 {
        sayln!(
            "(including the units it succeeded: {})",
            ids[1..].join(", ")
        );
    }
    if figures.is_empty() && messages.is_empty() {
        sayln!("job {job}, unit {unit}: nothing recorded (check the ids: `disbmon history --job {job}` lists the runs)");
        return exit::OK;
    }
    sayln!("job {job}, unit {unit}: rate over time");
    sayln!(
        "  {:<10}  {:>8}  {:>8}  {:<9}  decision",
        "as of",
        "rate %",
        "expected",
        "status"
    );
    for r in &figures {
        sayln!(
            "  {:<10}  {:>8}  {:>8.2}  {:<9}  {}",
            r.as_of,
            r.figures
                .rate
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "-".into()),
            r.figures.expected,
            r.figures.status.as_str(),
            r.reason.map(|r| r.as_str()).unwrap_or("-")
        );
    }
    sayln!("\nemails");
    if messages.is_empty() {
        sayln!("  none");
    }
    for m in &messages {
        let state = match m.status {
            OutboxStatus::Sent => format!("delivered {}", m.sent_at.map(fmt).unwrap_or_default()),
            OutboxStatus::Failed => format!("FAILED: {}", m.last_error.clone().unwrap_or_default()),
            other => format!(
                "{other}, {} tr{} so far{}",
                m.attempts,
                if m.attempts == 1 { "y" } else { "ies" },
                m.last_error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        };
        sayln!(
            "  {}  to {}  why: {}  — {}\n      {}",
            fmt(m.created_at),
            m.recipient,
            m.reason.map(|r| r.as_str()).unwrap_or(m.kind.as_str()),
            state,
            m.subject
        );
    }
    exit::OK
}
