//! The read-only dashboard on the admin listener: the jobs, each job's latest run (counts, the
//! ranked table, the chart), a unit's page (figures, curve, every run and every email), the runs of
//! a job and the outbox. Pages are rendered on the server from templates with auto-escaping and
//! work without JavaScript; the style sheet, the font and the charts are served from here, so no
//! request leaves the machine. Nothing here changes state: every route is a GET that reads the store.

use crate::admin::{JobView, Shared};
use crate::chart::{
    self,
    figures::{curve_chart, ranking_chart},
};
use crate::money::{
    format_billion, format_date, format_number, format_pct, format_pct_opt, Language,
};
use crate::notify::render::status_label;
use crate::rule::Status;
use crate::store::{Figures, LatestFigures, OutboxStatus, StoreError, UnitDetail};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use minijinja::{context, Environment, Value};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

/// The pages' templates, compiled into the binary (`.html`: every value is HTML-escaped).
const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../templates/dashboard/base.html"),
    ),
    (
        "index.html",
        include_str!("../templates/dashboard/index.html"),
    ),
    ("job.html", include_str!("../templates/dashboard/job.html")),
    (
        "unit.html",
        include_str!("../templates/dashboard/unit.html"),
    ),
    (
        "runs.html",
        include_str!("../templates/dashboard/runs.html"),
    ),
    (
        "outbox.html",
        include_str!("../templates/dashboard/outbox.html"),
    ),
];
const STYLE: &str = include_str!("../templates/dashboard/style.css");
const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// How many runs the runs page lists.
const RUNS_LISTED: usize = 200;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(index))
        .route("/jobs/{job}", get(job))
        .route("/jobs/{job}/chart.png", get(job_chart))
        .route("/jobs/{job}/runs", get(runs))
        .route("/jobs/{job}/units/{unit}", get(unit))
        .route("/jobs/{job}/units/{unit}/curve.png", get(unit_curve))
        .route("/outbox", get(outbox))
        .route("/static/style.css", get(style))
        .route("/static/DejaVuSans.ttf", get(font))
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.add_filter("urlpath", |v: String| {
            percent_encoding::utf8_percent_encode(&v, SEGMENT).to_string()
        });
        for (name, source) in TEMPLATES {
            // The templates are ours and tested; one that does not parse fails its page, loudly.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!("dashboard template {name}: {e}");
            }
        }
        env
    })
}

/// What a path segment may carry unescaped (RFC 3986 unreserved characters).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
enum PageError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the page could not be rendered: {0}")]
    Template(#[from] minijinja::Error),
    #[error("the chart could not be drawn: {0}")]
    Chart(#[from] chart::ChartError),
    #[error("{0}")]
    NotFound(String),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match self {
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            _ => {
                tracing::error!("dashboard: {self}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, format!("{self}\n")).into_response()
    }
}

#[derive(Debug, Default, Deserialize)]
struct Params {
    lang: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
}

impl Params {
    fn language(&self) -> Language {
        match self.lang.as_deref() {
            Some("en") => Language::En,
            _ => Language::Vi,
        }
    }

    /// The query every link on the page carries, so that the language stays as chosen.
    fn keep(&self) -> &'static str {
        match self.language() {
            Language::En => "?lang=en",
            Language::Vi => "",
        }
    }
}

/// Renders a page with what every page shows (language, labels, the link to the other language).
fn page(name: &str, params: &Params, path: &str, ctx: Value) -> Result<Html<String>, PageError> {
    let lang = params.language();
    let (other, other_href) = match lang {
        Language::Vi => ("en", format!("{path}?lang=en")),
        Language::En => ("vi", path.to_string()),
    };
    let common = context! {
        lang => match lang { Language::Vi => "vi", Language::En => "en" },
        t => labels(lang),
        q => params.keep(),
        other_lang => other,
        other_lang_href => other_href,
        version => env!("CARGO_PKG_VERSION"),
    };
    let template = environment().get_template(name)?;
    Ok(Html(template.render(context! { ..ctx, ..common })?))
}

fn when(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%d/%m/%Y %H:%M").to_string()
}

/// A job's time zone, from the jobs as the scheduler loop published them (`Shared::jobs`).
fn zone(views: &[JobView], job: &str) -> chrono_tz::Tz {
    views
        .iter()
        .find(|j| j.name == job)
        .and_then(|j| j.timezone.parse().ok())
        .unwrap_or(chrono_tz::Asia::Ho_Chi_Minh)
}

/// The jobs the daemon runs and those the store has runs of.
fn known_jobs(shared: &Shared) -> Result<Vec<String>, StoreError> {
    let mut names: Vec<String> = shared.jobs().into_iter().map(|j| j.name).collect();
    for stored in shared.store().jobs()? {
        if !names.contains(&stored) {
            names.push(stored);
        }
    }
    names.sort();
    Ok(names)
}

fn known(shared: &Shared, job: &str) -> Result<(), PageError> {
    match known_jobs(shared)?.iter().any(|j| j == job) {
        true => Ok(()),
        false => Err(PageError::NotFound(format!(
            "there is no job `{job}` here; the jobs are listed at /"
        ))),
    }
}

async fn index(
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

/// A unit's row in the ranked table, with the raw values it sorts by.
#[derive(Serialize)]
struct Ranked {
    rank: String,
    unit: String,
    name: String,
    plan: String,
    disbursed: String,
    rate: String,
    expected: String,
    gap: String,
    status: &'static str,
    status_label: &'static str,
    /// The projected rate at 31/1 ("–" without one), and whether it misses a target.
    projected: String,
    at_risk: bool,
    #[serde(skip)]
    key: (Option<u32>, i64, i64, Option<f64>, Option<f64>, Status),
}

/// Ranks (1 = highest rate; ties share a rank) of the units with a plan.
fn ranks(figures: &[Figures]) -> std::collections::HashMap<&str, u32> {
    let mut with_plan: Vec<&Figures> = figures.iter().filter(|f| f.plan > 0).collect();
    // Exactly as the run ranks them: d₁·p₂ against d₂·p₁, never through floating point.
    let cmp = |a: &&Figures, b: &&Figures| {
        (i128::from(b.disbursed) * i128::from(a.plan))
            .cmp(&(i128::from(a.disbursed) * i128::from(b.plan)))
    };
    with_plan.sort_by(cmp);
    let mut out = std::collections::HashMap::new();
    let mut rank = 0;
    for (i, f) in with_plan.iter().enumerate() {
        if i == 0 || cmp(&with_plan[i - 1], f) != std::cmp::Ordering::Equal {
            rank = i as u32 + 1;
        }
        out.insert(f.unit.as_str(), rank);
    }
    out
}

fn average(figures: &[Figures]) -> Option<f64> {
    let (p, d) = figures
        .iter()
        .filter(|f| f.plan > 0)
        .fold((0i128, 0i128), |(p, d), f| {
            (p + i128::from(f.plan), d + i128::from(f.disbursed))
        });
    (p > 0).then(|| d as f64 * 100.0 / p as f64)
}

fn name_of<'a>(
    details: &'a std::collections::HashMap<String, UnitDetail>,
    unit: &'a str,
) -> &'a str {
    details
        .get(unit)
        .map(|d| d.name.as_str())
        .filter(|n| !n.is_empty())
        .unwrap_or(unit)
}

fn gap(f: &Figures) -> Option<f64> {
    f.rate.map(|r| r - f.expected)
}

fn signed(v: Option<f64>, lang: Language) -> String {
    match v {
        Some(v) if v > 0.0 => format!("+{}", format_number(v, 1, lang)),
        Some(v) => format_number(v, 1, lang).replace('-', "−"),
        None => "–".into(),
    }
}

async fn job(
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
                unit: f.unit.clone(),
                name: name_of(&details, &f.unit).to_string(),
                plan: format_billion(f.plan, lang),
                disbursed: format_billion(f.disbursed, lang),
                rate: format_pct_opt(f.rate, lang),
                expected: format_pct(f.expected, lang),
                gap: signed(gap(f), lang),
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

fn png(bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response()
}

async fn job_chart(
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

async fn unit_curve(
    State(s): State<Arc<Shared>>,
    Path((job, unit)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    known(&s, &job)?;
    let Some(detail) = s.store().unit_detail(&job, &unit)? else {
        return Err(PageError::NotFound(format!(
            "job `{job}` has no unit `{unit}` measured yet"
        )));
    };
    Ok(png(curve_chart(&detail, params.language())?))
}

/// A row of name, plan, disbursed and rate (a denominator's, a project's).
fn plan_row(name: &str, plan: i64, paid: i64, lang: Language) -> Value {
    context! {
        name,
        plan => format_billion(plan, lang),
        disbursed => format_billion(paid, lang),
        rate => format_pct_opt((plan > 0).then(|| paid as f64 * 100.0 / plan as f64), lang),
    }
}

fn reason_label(reason: &str, lang: Language) -> String {
    let vi = match reason {
        "first" => "bắt đầu chậm: gửi cảnh báo",
        "worsened" => "chuyển sang chậm nghiêm trọng: gửi cảnh báo",
        "reminder" => "vẫn chậm: gửi nhắc lại",
        "silence_ended" => "hết tạm dừng: gửi cảnh báo",
        "recovered" => "đã đạt tiến độ: gửi thông báo",
        "silenced" => "đang tạm dừng nhắc: không gửi",
        "unchanged" => "không đổi: không gửi",
        "held" => "chờ duyệt gửi",
        "at_risk" => "dự báo không đạt mục tiêu cuối năm: gửi cảnh báo",
        other => other,
    };
    match lang {
        Language::Vi => vi.to_string(),
        Language::En => reason.replace('_', " "),
    }
}

fn delivery_label(status: OutboxStatus, lang: Language) -> &'static str {
    match (lang, status) {
        (Language::Vi, OutboxStatus::Sent) => "đã gửi",
        (Language::Vi, OutboxStatus::Pending) => "đang chờ gửi",
        (Language::Vi, OutboxStatus::Sending) => "đang gửi",
        (Language::Vi, OutboxStatus::Failed) => "không gửi được",
        (Language::Vi, OutboxStatus::Held) => "chờ duyệt",
        (Language::En, OutboxStatus::Sent) => "sent",
        (Language::En, OutboxStatus::Pending) => "pending",
        (Language::En, OutboxStatus::Sending) => "being sent",
        (Language::En, OutboxStatus::Failed) => "failed",
        (Language::En, OutboxStatus::Held) => "held",
    }
}

async fn unit(
    State(s): State<Arc<Shared>>,
    Path((job, unit)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Result<Html<String>, PageError> {
    known(&s, &job)?;
    let lang = params.language();
    let tz = zone(&s.jobs(), &job);
    let detail = s.store().unit_detail(&job, &unit)?;
    let latest = s.store().latest_figures(&job)?;
    let history = s.store().unit_history(&job, &unit)?;
    if detail.is_none() && history.is_empty() {
        return Err(PageError::NotFound(format!(
            "job `{job}` has no unit `{unit}`; its units are listed at /jobs/{job}"
        )));
    }
    let figures = latest.as_ref().and_then(|l| {
        let (as_of, all) = (&l.as_of, &l.figures);
        let ranks = ranks(all);
        all.iter().find(|f| f.unit == unit).map(|f| {
            let rank = ranks.get(f.unit.as_str()).copied();
            (
                *as_of,
                context! {
                    plan => format_billion(f.plan, lang),
                    disbursed => format_billion(f.disbursed, lang),
                    rate => format_pct_opt(f.rate, lang),
                    expected => format_pct(f.expected, lang),
                    gap => signed(gap(f), lang),
                    rank => format!("{}/{}", rank.map(|r| r.to_string()).unwrap_or_else(|| "–".into()), ranks.len()),
                    status => f.status.as_str(),
                    status_label => status_label(f.status, lang),
                },
            )
        })
    });
    let denominators: Vec<Value> = detail
        .iter()
        .flat_map(|d| d.denominators.iter())
        .map(|(key, plan, paid)| {
            let name = key
                .strip_prefix("capital_source:")
                .map(|c| format!("{} {c}", labels(lang).capital_source))
                .or_else(|| {
                    key.strip_prefix("layer:")
                        .map(|l| format!("{} {l}", labels(lang).layer))
                })
                .unwrap_or_else(|| key.clone());
            plan_row(&name, *plan, *paid, lang)
        })
        .collect();
    let projects: Vec<Value> = detail
        .iter()
        .flat_map(|d| d.projects.iter())
        .map(|(name, plan, paid)| plan_row(name, *plan, *paid, lang))
        .collect();
    let history: Vec<Value> = history
        .iter()
        .rev()
        .map(|h| {
            let f = &h.figures;
            context! {
                run_at => when(h.scheduled_at, tz),
                as_of => format_date(h.as_of),
                plan => format_billion(f.plan, lang),
                disbursed => format_billion(f.disbursed, lang),
                rate => format_pct_opt(f.rate, lang),
                expected => format_pct(f.expected, lang),
                status => f.status.as_str(),
                status_label => status_label(f.status, lang),
                decision => h.reason.map(|r| reason_label(r.as_str(), lang)).unwrap_or_default(),
            }
        })
        .collect();
    let messages: Vec<Value> = s
        .store()
        .unit_messages(&job, &unit)?
        .iter()
        .rev()
        .map(|m| {
            context! {
                created => when(m.created_at, tz),
                kind => m.kind.to_string(),
                reason => m.reason.as_deref().map(|r| reason_label(r, lang)).unwrap_or_default(),
                recipient => m.recipient.clone(),
                subject => m.subject.clone(),
                status => m.status.to_string(),
                delivery => match m.sent_at {
                    Some(t) => format!("{} {}", delivery_label(m.status, lang), when(t, tz)),
                    None => delivery_label(m.status, lang).to_string(),
                },
                error => m.last_error.clone(),
            }
        })
        .collect();
    let name = detail
        .as_ref()
        .map(|d| d.name.clone())
        .unwrap_or_else(|| unit.clone());
    let path = format!(
        "/jobs/{}/units/{}",
        percent_encoding::utf8_percent_encode(&job, SEGMENT),
        percent_encoding::utf8_percent_encode(&unit, SEGMENT)
    );
    let curve_alt = match lang {
        Language::Vi => {
            format!("Biểu đồ: tỷ lệ giải ngân lũy kế của {name} so với các mốc tiến độ")
        }
        Language::En => {
            format!("Chart: cumulative disbursement rate of {name} against the milestones")
        }
    };
    let projection = detail.as_ref().and_then(|d| {
        d.projection
            .as_ref()
            .map(|p| crate::notify::render::projection_text(p, d.plan_year, lang))
    });
    let at_risk = detail
        .as_ref()
        .and_then(|d| d.projection.as_ref())
        .is_some_and(|p| p.at_risk);
    // What the unit answered this year, and how each commitment stands against its figures now.
    let disbursed_now = latest.as_ref().and_then(|l| {
        l.figures
            .iter()
            .find(|f| f.unit == unit)
            .map(|f| (l.as_of, f.disbursed))
    });
    let answers: Vec<Value> = match detail.as_ref() {
        Some(d) => s
            .store()
            .answers(&job, d.plan_year)?
            .into_iter()
            .filter(|a| a.unit == unit)
            .rev()
            .map(|a| {
                let commitments: Vec<String> = a
                    .commitments
                    .iter()
                    .map(|(amount, due)| match disbursed_now {
                        Some((as_of, now)) => crate::answers::commitment_line(
                            *amount,
                            *due,
                            now.saturating_sub(a.disbursed_then),
                            as_of,
                            a.received_at.with_timezone(&tz).date_naive(),
                            lang,
                        ),
                        None => format!("{} – {}", format_billion(*amount, lang), format_date(*due)),
                    })
                    .collect();
                context! {
                    received => when(a.received_at, tz),
                    via => match (a.via.as_str(), lang) {
                        ("form", Language::Vi) => "qua đường dẫn",
                        ("form", Language::En) => "through the link",
                        (_, Language::Vi) => "từ văn bản (nguồn giải trình)",
                        (_, Language::En) => "from a letter (answers source)",
                    },
                    ip => a.ip.clone().unwrap_or_default(),
                    link => a.link_id.clone().unwrap_or_default(),
                    reasons => a.reasons.iter().map(|r| crate::answers::reason_label(r, lang).to_string()).collect::<Vec<_>>(),
                    note => a.note.clone(),
                    commitments,
                }
            })
            .collect(),
        None => Vec::new(),
    };
    let ctx = context! {
        job,
        unit,
        name,
        answers,
        projection,
        at_risk,
        as_of => figures.as_ref().map(|(d, _)| format_date(*d)),
        figures => figures.map(|(_, f)| f),
        curve_alt,
        denominators,
        projects,
        history,
        messages,
    };
    page("unit.html", &params, &path, ctx)
}

async fn runs(
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

async fn outbox(
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

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

async fn font() -> Response {
    ([(header::CONTENT_TYPE, "font/ttf")], FONT).into_response()
}

/// The words on the pages, per language.
#[derive(Serialize)]
struct Labels {
    app: &'static str,
    jobs: &'static str,
    job: &'static str,
    job_title: &'static str,
    outbox: &'static str,
    outbox_lead: &'static str,
    outbox_empty: &'static str,
    other_lang: &'static str,
    read_only: &'static str,
    schedule: &'static str,
    next_run: &'static str,
    last_run: &'static str,
    outcome: &'static str,
    as_of: &'static str,
    units: &'static str,
    unit: &'static str,
    behind: &'static str,
    critical: &'static str,
    on_track: &'static str,
    no_plan: &'static str,
    no_jobs: &'static str,
    no_runs: &'static str,
    runs: &'static str,
    run_at: &'static str,
    units_ranked: &'static str,
    average: &'static str,
    expected: &'static str,
    money_unit: &'static str,
    billion: &'static str,
    rank: &'static str,
    plan: &'static str,
    disbursed: &'static str,
    rate: &'static str,
    gap: &'static str,
    status: &'static str,
    by_denominator: &'static str,
    denominator: &'static str,
    capital_source: &'static str,
    layer: &'static str,
    projects: &'static str,
    projected: &'static str,
    at_risk: &'static str,
    answers: &'static str,
    no_answers: &'static str,
    project: &'static str,
    no_projects: &'static str,
    history: &'static str,
    decision: &'static str,
    emails: &'static str,
    no_emails: &'static str,
    queued_at: &'static str,
    kind: &'static str,
    reason: &'static str,
    recipient: &'static str,
    subject: &'static str,
    delivery: &'static str,
    scheduled: &'static str,
    started_by: &'static str,
    finished: &'static str,
    attempts: &'static str,
    sent: &'static str,
    failed: &'static str,
    error: &'static str,
    next_attempt: &'static str,
}

fn labels(lang: Language) -> &'static Labels {
    const VI: Labels = Labels {
        app: "Giám sát giải ngân vốn đầu tư công",
        jobs: "Công việc",
        job: "Công việc",
        job_title: "Tình hình giải ngân kế hoạch vốn năm",
        outbox: "Hộp thư đi",
        outbox_lead: "Thư đang chờ gửi, đang gửi, chờ duyệt và không gửi được.",
        outbox_empty: "Không có thư nào đang chờ hoặc lỗi.",
        other_lang: "English",
        read_only: "Trang chỉ để xem: không thao tác nào ở đây thay đổi dữ liệu",
        schedule: "Lịch chạy",
        next_run: "Lần chạy tới",
        last_run: "Lần chạy gần nhất",
        outcome: "Kết quả",
        as_of: "Số liệu đến ngày",
        units: "Đơn vị",
        unit: "Đơn vị",
        behind: "chậm tiến độ",
        critical: "chậm nghiêm trọng",
        on_track: "đạt tiến độ",
        no_plan: "chưa có kế hoạch",
        no_jobs: "Chưa có công việc nào.",
        no_runs: "Chưa có lần chạy nào có số liệu.",
        runs: "Các lần chạy",
        run_at: "Lần chạy",
        units_ranked: "đơn vị được xếp hạng",
        average: "bình quân",
        expected: "Mức cần đạt",
        money_unit: "Đơn vị tính: tỷ đồng",
        billion: "tỷ đồng",
        rank: "Xếp hạng",
        plan: "Kế hoạch vốn",
        disbursed: "Giải ngân",
        rate: "Tỷ lệ",
        gap: "Chênh lệch (điểm %)",
        status: "Trạng thái",
        by_denominator: "Theo nguồn vốn / cấp kế hoạch",
        denominator: "Nguồn vốn / cấp",
        capital_source: "Nguồn vốn",
        layer: "Kế hoạch",
        projects: "Dự án chậm nhất",
        projected: "Dự báo 31/1",
        at_risk: "có nguy cơ không đạt mục tiêu cuối năm",
        answers: "Giải trình và cam kết của đơn vị",
        no_answers: "Đơn vị chưa giải trình trong năm kế hoạch này.",
        project: "Dự án",
        no_projects: "Nguồn số liệu không có mã dự án.",
        history: "Diễn biến qua các lần chạy",
        decision: "Quyết định",
        emails: "Thư đã gửi cho đơn vị",
        no_emails: "Chưa gửi thư nào cho đơn vị.",
        queued_at: "Thời điểm",
        kind: "Loại",
        reason: "Lý do",
        recipient: "Người nhận",
        subject: "Tiêu đề",
        delivery: "Gửi",
        scheduled: "Theo lịch",
        started_by: "Khởi chạy",
        finished: "Kết thúc",
        attempts: "Số lần thử",
        sent: "Đã gửi",
        failed: "Lỗi gửi",
        error: "Lỗi",
        next_attempt: "Thử lại lúc",
    };
    const EN: Labels = Labels {
        app: "Public-investment disbursement monitor",
        jobs: "Jobs",
        job: "Job",
        job_title: "Disbursement of the capital plan",
        outbox: "Outbox",
        outbox_lead: "Messages waiting, being sent, held for release, and failed.",
        outbox_empty: "No message is waiting or failed.",
        other_lang: "Tiếng Việt",
        read_only: "Read-only: nothing here changes any data",
        schedule: "Schedule",
        next_run: "Next run",
        last_run: "Last run",
        outcome: "Outcome",
        as_of: "As of",
        units: "Units",
        unit: "Unit",
        behind: "behind",
        critical: "critical",
        on_track: "on track",
        no_plan: "no plan",
        no_jobs: "No jobs yet.",
        no_runs: "No run with figures yet.",
        runs: "Runs",
        run_at: "Run",
        units_ranked: "units ranked",
        average: "average",
        expected: "Expected",
        money_unit: "Amounts in billion đồng",
        billion: "billion đồng",
        rank: "Rank",
        plan: "Plan",
        disbursed: "Disbursed",
        rate: "Rate",
        gap: "Gap (points)",
        status: "Status",
        by_denominator: "By capital source / plan layer",
        denominator: "Source / layer",
        capital_source: "Capital source",
        layer: "Plan layer",
        projects: "Slowest projects",
        projected: "Projected 31/1",
        at_risk: "at risk of missing the year-end target",
        answers: "The unit's answers and commitments",
        no_answers: "The unit has not answered in this plan year.",
        project: "Project",
        no_projects: "The sources carry no project ids.",
        history: "Every run",
        decision: "Decision",
        emails: "Emails to the unit",
        no_emails: "No email has been sent to the unit.",
        queued_at: "Queued",
        kind: "Kind",
        reason: "Reason",
        recipient: "Recipient",
        subject: "Subject",
        delivery: "Delivery",
        scheduled: "Scheduled",
        started_by: "Started by",
        finished: "Finished",
        attempts: "Attempts",
        sent: "Sent",
        failed: "Failed",
        error: "Error",
        next_attempt: "Next attempt",
    };
    match lang {
        Language::Vi => &VI,
        Language::En => &EN,
    }
}
