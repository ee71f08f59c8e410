//! The admin HTTP listener of the daemon: `/healthz` (the scheduler loop is alive), `/metrics`
//! (Prometheus text format), `/status` (JSON: each job's schedule, next and last run) and the
//! read-only dashboard (`dashboard`: `/`, `/jobs/…`, `/outbox`).

use super::http::bounded;
use super::shared::JobView;
use super::shared::Shared;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::fmt::Write;
use std::sync::Arc;

/// Serves the admin listener until it fails.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .merge(crate::web::dashboard::routes())
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            authorised,
        ));
    // `/healthz` says only whether the loop is alive, for probes that carry no token.
    let app = Router::new()
        .route("/healthz", get(healthz))
        .merge(guarded)
        .layer(axum::middleware::from_fn(bounded))
        .with_state(shared);
    let e = crate::web::http::serve(listener, app).await;
    tracing::error!("the admin listener stopped: {e}");
}

/// With a token configured, a request must carry it: `Authorization: Bearer TOKEN`, or HTTP
/// Basic with the token as password.
async fn authorised(
    State(s): State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(token) = &s.token() {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or("");
        // Scripts send the token as a bearer token; a person's browser asks for it as the
        // password of HTTP Basic (any user name).
        let bearer = given.strip_prefix("Bearer ").map(str::to_string);
        let basic = given
            .strip_prefix("Basic ")
            .and_then(|b| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|pair| pair.split_once(':').map(|(_, p)| p.to_string()));
        let offered = bearer.or(basic).unwrap_or_default();
        if !crate::base::secret::same_secret(offered.trim(), token.expose()) {
            return (
                StatusCode::UNAUTHORIZED,
                axum::response::AppendHeaders([
                    (header::WWW_AUTHENTICATE, "Bearer"),
                    (header::WWW_AUTHENTICATE, "Basic realm=\"disbmon\", charset=\"UTF-8\""),
                ]),
                "this listener requires the admin token (admin.token_env / admin.token_file): `Authorization: Bearer <token>`, or in a browser any user name with the token as password\n",
            )
                .into_response();
        }
    }
    next.run(request).await
}

async fn healthz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    // The loop wakes at least every tick; a loop that has not gone round for three is stuck.
    let last = s.alive.lock().ok().and_then(|a| *a);
    let limit = 3 * s.tick;
    // The loop decides the status; jobs whose last run failed are named, so that a failing run
    // (bad data, a server down, a bug caught in a run) is seen without reading the logs.
    let failing: String = s
        .failing
        .lock()
        .map(|f| {
            f.iter()
                .map(|(job, why)| {
                    let why = crate::base::text::truncate(&crate::base::text::escape(why), 300)
                        .into_owned();
                    format!(
                        "degraded: job {}: last run failed: {why}\n",
                        crate::base::text::escape(job)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    match last.map(|t| t.elapsed()) {
        Some(age) if age <= limit => (StatusCode::OK, format!("ok\n{failing}")),
        Some(age) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the scheduler loop last ran {} s ago\n", age.as_secs()),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the scheduler loop has not started\n".to_string(),
        ),
    }
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn metrics(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let mut out = String::new();
    let jobs = s.jobs.lock().map(|j| j.clone()).unwrap_or_default();
    if let Ok(m) = s.metrics.lock() {
        let _ = writeln!(out, "# HELP disbmon_runs_total Runs finished, by job and outcome.\n# TYPE disbmon_runs_total counter");
        for ((job, outcome), n) in &m.runs {
            let _ = writeln!(
                out,
                "disbmon_runs_total{{job=\"{}\",outcome=\"{}\"}} {n}",
                label(job),
                label(outcome)
            );
        }
        let _ = writeln!(out, "# HELP disbmon_run_duration_seconds Time from a run's start to its end, retries included.\n# TYPE disbmon_run_duration_seconds summary");
        for (job, (sum, count)) in &m.duration {
            let _ = writeln!(
                out,
                "disbmon_run_duration_seconds_sum{{job=\"{}\"}} {sum}",
                label(job)
            );
            let _ = writeln!(
                out,
                "disbmon_run_duration_seconds_count{{job=\"{}\"}} {count}",
                label(job)
            );
        }
        let _ = writeln!(out, "# HELP disbmon_last_success_timestamp_seconds When the job last completed successfully.\n# TYPE disbmon_last_success_timestamp_seconds gauge");
        for j in &jobs {
            let last = m.last_success.get(&j.name).copied().or_else(|| {
                s.store
                    .last_success(&j.name)
                    .ok()
                    .flatten()
                    .map(|t| t.timestamp())
            });
            if let Some(t) = last {
                let _ = writeln!(
                    out,
                    "disbmon_last_success_timestamp_seconds{{job=\"{}\"}} {t}",
                    label(&j.name)
                );
            }
        }
        let _ = writeln!(out, "# HELP disbmon_next_run_timestamp_seconds When the job runs next.\n# TYPE disbmon_next_run_timestamp_seconds gauge");
        for j in &jobs {
            if let Some(t) = j.next_run_ts {
                let _ = writeln!(
                    out,
                    "disbmon_next_run_timestamp_seconds{{job=\"{}\"}} {t}",
                    label(&j.name)
                );
            }
        }
        for (name, help, map) in [
            (
                "disbmon_emails_sent_total",
                "Messages delivered.",
                &m.emails_sent,
            ),
            (
                "disbmon_emails_failed_total",
                "Messages that could not be delivered.",
                &m.emails_failed,
            ),
            (
                "disbmon_skipped_ticks_total",
                "Scheduled runs skipped because the previous run was still going.",
                &m.skipped,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for j in &jobs {
                let _ = writeln!(
                    out,
                    "{name}{{job=\"{}\"}} {}",
                    label(&j.name),
                    map.get(&j.name).copied().unwrap_or(0)
                );
            }
        }
    }
    if let Ok(m) = s.metrics.lock() {
        let _ = writeln!(out, "# HELP disbmon_outbox_sent_total Messages delivered by the outbox worker (retries, and messages left from before).\n# TYPE disbmon_outbox_sent_total counter");
        let _ = writeln!(
            out,
            "disbmon_outbox_sent_total {}",
            m.outbox_sent.unwrap_or(0)
        );
        let _ = writeln!(out, "# HELP disbmon_outbox_failed_total Messages the outbox worker gave up on.\n# TYPE disbmon_outbox_failed_total counter");
        let _ = writeln!(
            out,
            "disbmon_outbox_failed_total {}",
            m.outbox_failed.unwrap_or(0)
        );
    }
    let pending = s.store.waiting().unwrap_or(0);
    let _ = writeln!(out, "# HELP disbmon_outbox_pending Messages waiting in the outbox.\n# TYPE disbmon_outbox_pending gauge\ndisbmon_outbox_pending {pending}");
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

#[derive(Serialize)]
struct LastRun {
    scheduled_at: String,
    finished_at: Option<String>,
    outcome: String,
    attempts: u32,
    units_behind: Option<u32>,
    emails_sent: Option<u32>,
    emails_failed: Option<u32>,
    error: Option<String>,
}

#[derive(Serialize)]
struct JobStatus {
    #[serde(flatten)]
    job: JobView,
    last_run: Option<LastRun>,
}

async fn status(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let jobs = s.jobs.lock().map(|j| j.clone()).unwrap_or_default();
    let out: Vec<JobStatus> = jobs
        .into_iter()
        .map(|job| {
            let tz: chrono_tz::Tz = job.timezone.parse().unwrap_or(chrono_tz::UTC);
            let last_run = s
                .store
                .runs(&job.name, 1)
                .ok()
                .and_then(|r| r.into_iter().next())
                .map(|r| LastRun {
                    scheduled_at: r.scheduled_at.with_timezone(&tz).to_rfc3339(),
                    finished_at: r.finished_at.map(|t| t.with_timezone(&tz).to_rfc3339()),
                    outcome: r.outcome.to_string(),
                    attempts: r.attempts,
                    units_behind: r.units_behind,
                    emails_sent: r.emails_sent,
                    emails_failed: r.emails_failed,
                    error: r.error,
                });
            JobStatus { job, last_run }
        })
        .collect();
    Json(serde_json::json!({ "jobs": out }))
}
