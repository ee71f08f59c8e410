//! The read-only dashboard on the admin listener: the jobs, each job's latest run (counts, the
//! ranked table, the chart), a unit's page (figures, curve, every run and every email), the runs of
//! a job and the outbox. Pages are rendered on the server from templates with auto-escaping and
//! work without JavaScript; the style sheet, the font and the charts are served from here, so no
//! request leaves the machine. Nothing here changes state: every route is a GET that reads the store.

mod index;
mod job;
mod labels;
mod lists;
mod pages;
mod unit;

use crate::web::shared::Shared;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The dashboard's routes, for the admin listener to serve behind its token.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(index::index))
        .route("/jobs/{job}", get(job::job))
        .route("/jobs/{job}/chart.png", get(job::job_chart))
        .route("/jobs/{job}/runs", get(lists::runs))
        .route("/jobs/{job}/units/{unit}", get(unit::unit))
        .route("/jobs/{job}/units/{unit}/curve.png", get(unit::unit_curve))
        .route("/outbox", get(lists::outbox))
        .route("/static/style.css", get(pages::style))
        .route("/static/DejaVuSans.ttf", get(pages::font))
}
