//! `/jobs/{job}/units/{unit}`: one unit's figures and curve, its denominators and projects, its
//! answers, every run that measured it and every email it was sent.

use super::job::{gap, ranks};
use super::labels::{delivery_label, labels, reason_label};
use super::pages::SEGMENT;
use super::pages::{known, page, png, when, zone, PageError, Params};
use crate::domain::money::{format_billion, format_date, format_pct, format_pct_opt, Language};
use crate::notify::chart::figures::curve_chart;
use crate::notify::render::words::{points, status_label};
use crate::web::shared::Shared;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use minijinja::{context, Value};
use std::sync::Arc;

pub(super) async fn unit_curve(
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
pub(super) fn plan_row(name: &str, plan: i64, paid: i64, lang: Language) -> Value {
    context! {
        name,
        plan => format_billion(plan, lang),
        disbursed => format_billion(paid, lang),
        rate => format_pct_opt((plan > 0).then(|| paid as f64 * 100.0 / plan as f64), lang),
    }
}

pub(super) async fn unit(
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
                    gap => points(gap(f), lang),
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
                decision => h.reason.map(|r| reason_label(r, lang)).unwrap_or_default(),
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
                reason => m.reason.map(|r| reason_label(r, lang)).unwrap_or_default(),
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
            .map(|p| crate::notify::render::projection::projection_text(p, d.plan_year, lang))
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
                        Some((as_of, now)) => crate::domain::answer::commitment_line(
                            *amount,
                            *due,
                            now.saturating_sub(a.disbursed_then),
                            as_of,
                            a.received_at.with_timezone(&tz).date_naive(),
                            lang,
                        ),
                        None => {
                            format!("{} – {}", format_billion(*amount, lang), format_date(*due))
                        }
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
                    reasons => a.reasons.iter().map(|r| r.label(lang)).collect::<Vec<_>>(),
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
