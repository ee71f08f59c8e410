//! `/jobs/{job}`: a job's latest run — counts, the ranked table (sortable), the ranking chart.

use super::labels::labels;
use super::pages::SEGMENT;
use super::pages::{known, page, png, when, zone, PageError, Params};
use crate::domain::id::UnitId;
use crate::domain::ledger::UnitDetail;
use crate::domain::money::format_date;
use crate::domain::money::{format_billion, format_pct, format_pct_opt, Language};
use crate::domain::rates::{points_ahead, rank_desc};
use crate::domain::rule::Status;
use crate::notify::chart::figures::ranking_chart;
use crate::notify::render::words::{points, status_label};
use crate::store::figures::LatestFigures;
use crate::store::record::Figures;
use crate::web::shared::Shared;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use minijinja::context;
use minijinja::Value;
use serde::Serialize;
use std::sync::Arc;

/// A unit's row in the ranked table, with the raw values it sorts by.
#[derive(Serialize)]
pub(super) struct Ranked {
    pub(super) rank: String,
    pub(super) unit: String,
    pub(super) name: String,
    pub(super) plan: String,
    pub(super) disbursed: String,
    pub(super) rate: String,
    pub(super) expected: String,
    pub(super) gap: String,
    pub(super) status: &'static str,
    pub(super) status_label: &'static str,
    /// The projected rate at 31/1 ("–" without one), and whether it misses a target.
    pub(super) projected: String,
    pub(super) at_risk: bool,
    #[serde(skip)]
    pub(super) key: (Option<u32>, i64, i64, Option<f64>, Option<f64>, Status),
}

/// Ranks (1 = highest rate; ties share a rank) of the units with a plan, exactly as the run
/// ranked them.
pub(super) fn ranks(figures: &[Figures]) -> std::collections::HashMap<&str, u32> {
    let with_plan: Vec<&Figures> = figures.iter().filter(|f| f.plan > 0).collect();
    let pairs: Vec<(i64, i64)> = with_plan.iter().map(|f| (f.disbursed, f.plan)).collect();
    with_plan
        .iter()
        .zip(rank_desc(&pairs))
        .map(|(f, rank)| (f.unit.as_str(), rank))
        .collect()
}

pub(super) fn average(figures: &[Figures]) -> Option<f64> {
    let (p, d) = figures
        .iter()
        .filter(|f| f.plan > 0)
        .fold((0i128, 0i128), |(p, d), f| {
            (p + i128::from(f.plan), d + i128::from(f.disbursed))
        });
    (p > 0).then(|| d as f64 * 100.0 / p as f64)
}

pub(super) fn name_of<'a>(
    details: &'a std::collections::HashMap<UnitId, UnitDetail>,
    unit: &'a str,
) -> &'a str {
    details
        .get(unit)
        .map(|d| d.name.as_str())
        .filter(|n| !n.is_empty())
        .unwrap_or(unit)
}

/// How far ahead of the expected rate (negative when behind), in percentage points.
pub(super) fn gap(f: &Figures) -> Option<f64> {
    points_ahead(f.rate, f.expected)
}

pub(super) async fn job(
    State(s): State<Arc<Shared>>,
    Path(job): Path<String>,
    Query(params): Query<Params>,
) -> Result<Html<String>, PageError> {
    known(&s, &job)?;
    let lang = params.language();
    let path = format!(
        "/jobs/{}",
        percent_encoding::utf8_percent_encode(&job, SEGMENT)
    );
    let Some(LatestFigures {
        scheduled,
        as_of,
        figures,
    }) = s.store().latest_figures(&job)?
    else {
        return page(
            "job.html",
            &params,
            &path,
            context! { job, latest => false },
        );
    };
    let details = s.store().unit_details(&job)?;
    let ranks = ranks(&figures);
    let mut rows: Vec<Ranked> = figures
        .iter()
        .map(|f| {
            let rank = ranks.get(f.unit.as_str()).copied();
            Ranked {
                rank: rank.map(|r| r.to_string()).unwrap_or_else(|| "–".into()),
                unit: f.unit.to_string(),
                name: name_of(&details, &f.unit).to_string(),
                plan: format_billion(f.plan, lang),
                disbursed: format_billion(f.disbursed, lang),
                rate: format_pct_opt(f.rate, lang),
                expected: format_pct(f.expected, lang),
                gap: points(gap(f), lang),
                status: f.status.as_str(),
                status_label: status_label(f.status, lang),
                projected: details
                    .get(&f.unit)
                    .and_then(|d| d.projection.as_ref())
                    .map(|p| format_pct(p.jan31.mid, lang))
                    .unwrap_or_else(|| "–".into()),
                at_risk: details
                    .get(&f.unit)
                    .and_then(|d| d.projection.as_ref())
                    .is_some_and(|p| p.at_risk),
                key: (rank, f.plan, f.disbursed, f.rate, gap(f), f.status),
            }
        })
        .collect();
    const SORTS: [&str; 8] = [
        "rank",
        "unit",
        "plan",
        "disbursed",
        "rate",
        "expected",
        "gap",
        "status",
    ];
    let sort = params
        .sort
        .as_deref()
        .filter(|k| SORTS.contains(k))
        .unwrap_or("rank");
    let descending = params.dir.as_deref() == Some("desc");
    let float = |a: Option<f64>, b: Option<f64>| {
        a.unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&b.unwrap_or(f64::NEG_INFINITY))
    };
    rows.sort_by(|a, b| {
        let order = match sort {
            "unit" => a.name.cmp(&b.name),
            "plan" => a.key.1.cmp(&b.key.1),
            "disbursed" => a.key.2.cmp(&b.key.2),
            "rate" | "expected" => float(a.key.3, b.key.3),
            "gap" => float(a.key.4, b.key.4),
            "status" => a.key.5.cmp(&b.key.5),
            // Units without a rank (no plan) last.
            _ => a
                .key
                .0
                .unwrap_or(u32::MAX)
                .cmp(&b.key.0.unwrap_or(u32::MAX)),
        };
        let order = if descending { order.reverse() } else { order };
        order.then_with(|| a.unit.cmp(&b.unit))
    });
    let t = labels(lang);
    let columns: Vec<Value> = [
        ("rank", t.rank, "num"),
        ("unit", t.unit, ""),
        ("plan", t.plan, "num"),
        ("disbursed", t.disbursed, "num"),
        ("rate", t.rate, "num"),
        ("expected", t.expected, "num"),
        ("gap", t.gap, "num"),
        ("status", t.status, ""),
    ]
    .into_iter()
    .map(|(key, label, class)| {
        let current = sort == key;
        let next_dir = if current && !descending { "desc" } else { "asc" };
        let lang_q = match lang {
            Language::En => "&lang=en",
            Language::Vi => "",
        };
        context! {
            label,
            class,
            href => format!("{path}?sort={key}&dir={next_dir}{lang_q}"),
            arrow => match (current, descending) { (true, false) => "▲", (true, true) => "▼", _ => "" },
        }
    })
    .collect();
    let count = |st: Status| figures.iter().filter(|f| f.status == st).count();
    let expected = figures.first().map(|f| f.expected);
    let tz = zone(&s.jobs(), &job);
    let ctx = context! {
        job,
        latest => true,
        plan_year => details.values().next().map(|d| d.plan_year),
        as_of => format_date(as_of),
        run_at => when(scheduled, tz),
        counts => context! {
            ranked => ranks.len(),
            critical => count(Status::Critical),
            behind => count(Status::Behind),
            on_track => count(Status::OnTrack),
            no_plan => count(Status::NoPlan),
        },
        average => format_pct_opt(average(&figures), lang),
        expected => format_pct_opt(expected, lang),
        chart_alt => match lang {
            Language::Vi => format!("Biểu đồ: các đơn vị xếp theo tỷ lệ giải ngân đến {}", format_date(as_of)),
            Language::En => format!("Chart: units ranked by disbursement rate as of {}", format_date(as_of)),
        },
        projected => details.values().any(|d| d.projection.is_some()),
        columns,
        rows,
    };
    page("job.html", &params, &path, ctx)
}

pub(super) async fn job_chart(
    State(s): State<Arc<Shared>>,
    Path(job): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    known(&s, &job)?;
    let Some(LatestFigures { figures, .. }) = s.store().latest_figures(&job)? else {
        return Err(PageError::NotFound(format!(
            "job `{job}` has no run with figures yet"
        )));
    };
    let details = s.store().unit_details(&job)?;
    let ranks = ranks(&figures);
    let mut ordered: Vec<&Figures> = figures.iter().filter(|f| f.plan > 0).collect();
    ordered.sort_by_key(|f| (ranks.get(f.unit.as_str()).copied(), f.unit.clone()));
    let rows: Vec<(String, Option<f64>, Status)> = ordered
        .iter()
        .map(|f| (name_of(&details, &f.unit).to_string(), f.rate, f.status))
        .collect();
    let expected = figures.first().map(|f| f.expected);
    let bytes = ranking_chart(&rows, expected, average(&figures), params.language())?;
    Ok(png(bytes))
}
