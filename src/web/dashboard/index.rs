//! `/`: every job with its schedule, its last run and how many units are behind.

use super::pages::{known_jobs, page, when, zone, PageError, Params};
use crate::domain::money::format_date;
use crate::store::figures::LatestFigures;
use crate::web::shared::Shared;
use axum::extract::{Query, State};
use axum::response::Html;
use chrono::DateTime;
use minijinja::context;
use serde::Serialize;
use std::sync::Arc;

pub(super) async fn index(
    State(s): State<Arc<Shared>>,
    Query(params): Query<Params>,
) -> Result<Html<String>, PageError> {
    #[derive(Serialize)]
    struct Row {
        name: String,
        schedule: String,
        timezone: String,
        next_run: Option<String>,
        last_run: Option<String>,
        outcome: Option<String>,
        as_of: Option<String>,
        units: usize,
        behind: usize,
    }
    let views = s.jobs();
    let mut rows = Vec::new();
    for name in known_jobs(&s)? {
        let view = views.iter().find(|v| v.name == name);
        let tz = zone(&views, &name);
        let last = s.store().runs(&name, 1)?.into_iter().next();
        let latest = s.store().latest_figures(&name)?;
        let (as_of, units, behind) = match &latest {
            Some(LatestFigures { as_of, figures, .. }) => (
                Some(format_date(*as_of)),
                figures.len(),
                figures.iter().filter(|f| f.status.is_alerted()).count(),
            ),
            None => (None, 0, 0),
        };
        rows.push(Row {
            schedule: view.map(|v| v.schedule.clone()).unwrap_or_default(),
            timezone: view.map(|v| v.timezone.clone()).unwrap_or_default(),
            next_run: view
                .and_then(|v| v.next_run_ts)
                .and_then(|t| DateTime::from_timestamp(t, 0))
                .map(|t| when(t, tz)),
            last_run: last.as_ref().map(|r| when(r.scheduled_at, tz)),
            outcome: last.map(|r| r.outcome.to_string()),
            as_of,
            units,
            behind,
            name,
        });
    }
    page("index.html", &params, "/", context! { jobs => rows })
}
