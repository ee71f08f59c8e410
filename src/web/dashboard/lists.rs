//! `/jobs/{job}/runs` (a job's runs) and `/outbox` (what waits and what failed).

use super::labels::delivery_label;
use super::pages::SEGMENT;
use super::pages::{known, page, when, zone, PageError, Params, RUNS_LISTED};
use crate::domain::message::OutboxStatus;
use crate::web::shared::Shared;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use minijinja::context;
use minijinja::Value;
use std::sync::Arc;

pub(super) async fn runs(
    State(s): State<Arc<Shared>>,
    Path(job): Path<String>,
    Query(params): Query<Params>,
) -> Result<Html<String>, PageError> {
    known(&s, &job)?;
    let tz = zone(&s.jobs(), &job);
    let runs: Vec<Value> = s
        .store()
        .runs(&job, RUNS_LISTED)?
        .into_iter()
        .map(|r| {
            context! {
                scheduled => when(r.scheduled_at, tz),
                trigger => r.trigger.to_string(),
                finished => r.finished_at.map(|t| when(t, tz)),
                outcome => r.outcome.to_string(),
                attempts => r.attempts,
                behind => r.units_behind,
                sent => r.emails_sent,
                failed => r.emails_failed,
                error => r.error,
            }
        })
        .collect();
    let path = format!(
        "/jobs/{}/runs",
        percent_encoding::utf8_percent_encode(&job, SEGMENT)
    );
    page("runs.html", &params, &path, context! { job, runs })
}

pub(super) async fn outbox(
    State(s): State<Arc<Shared>>,
    Query(params): Query<Params>,
) -> Result<Html<String>, PageError> {
    let lang = params.language();
    let waiting = [
        OutboxStatus::Held,
        OutboxStatus::Pending,
        OutboxStatus::Sending,
        OutboxStatus::Failed,
    ];
    let views = s.jobs();
    let rows: Vec<Value> = s
        .store()
        .outbox(&waiting)?
        .into_iter()
        .map(|m| {
            let tz = zone(&views, &m.job);
            context! {
                id => m.id,
                job => m.job,
                kind => m.kind.to_string(),
                unit => m.unit,
                recipient => m.recipient,
                subject => m.subject,
                status => m.status.to_string(),
                delivery => delivery_label(m.status, lang),
                attempts => m.attempts,
                next_attempt => when(m.next_attempt_at, tz),
                error => m.last_error,
            }
        })
        .collect();
    page("outbox.html", &params, "/outbox", context! { rows })
}
