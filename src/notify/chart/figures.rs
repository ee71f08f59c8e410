//! The charts disbmon draws from a run's figures, with their words in the reader's language: the
//! ranking (the digest, the job page) and a unit's curve (its alert, its page).

use super::curve::curve_png;
use super::ranking::ranking_png;
use super::spec::{shown, Bar, ChartError, CurveChart, Ranking, Tone};
use crate::domain::ledger::UnitDetail;
use crate::domain::money::{format_date, format_pct_opt, Language};
use crate::domain::rule::Status;
use chrono::NaiveDate;

fn tone(s: Status) -> Tone {
    match s {
        Status::Critical => Tone::Critical,
        Status::Behind => Tone::Behind,
        Status::OnTrack => Tone::OnTrack,
        Status::NoPlan => Tone::Neutral,
    }
}

/// The ranking chart of a set of figures, as the digest and the job page show it.
pub fn ranking_chart(
    figures: &[(String, Option<f64>, Status)],
    expected: Option<f64>,
    average: Option<f64>,
    lang: Language,
) -> Result<Vec<u8>, ChartError> {
    let bars: Vec<Bar> = figures
        .iter()
        .filter_map(|(name, rate, status)| {
            rate.map(|rate| Bar {
                label: name.clone(),
                rate,
                tone: tone(*status),
            })
        })
        .collect();
    let (shown, cut) = shown(&bars);
    let behind = figures.iter().filter(|f| f.2 == Status::Behind).count();
    let critical = figures.iter().filter(|f| f.2 == Status::Critical).count();
    let caption = cut.then(|| match lang {
        Language::Vi => format!(
            "{} đơn vị có tỷ lệ thấp nhất trong {}; {critical} chậm nghiêm trọng, {behind} chậm tiến độ",
            shown.len(),
            bars.len()
        ),
        Language::En => format!(
            "the {} lowest of {} units; {critical} critical, {behind} behind",
            shown.len(),
            bars.len()
        ),
    });
    let (title, expected_label, average_label) = match lang {
        Language::Vi => (
            "Tỷ lệ giải ngân theo đơn vị (%)",
            format!("Mức cần đạt {}", format_pct_opt(expected, lang)),
            format!("Bình quân {}", format_pct_opt(average, lang)),
        ),
        Language::En => (
            "Disbursement rate by unit (%)",
            format!("Expected {}", format_pct_opt(expected, lang)),
            format!("Average {}", format_pct_opt(average, lang)),
        ),
    };
    ranking_png(&Ranking {
        lang,
        title,
        bars: shown,
        expected,
        average,
        expected_label: &expected_label,
        average_label: &average_label,
        caption: caption.as_deref(),
    })
}

/// A unit's curve chart: its cumulative rate, the milestones, last year's curve, today.
pub fn curve_chart(d: &UnitDetail, lang: Language) -> Result<Vec<u8>, ChartError> {
    let plan = d.plan;
    let rate = |paid: i64, plan: i64| paid as f64 * 100.0 / plan as f64;
    let unit: Vec<(NaiveDate, f64)> = match plan > 0 {
        true => d
            .curve
            .iter()
            .map(|(day, paid)| (*day, rate(*paid, plan)))
            .collect(),
        false => Vec::new(),
    };
    // Payments of January count for the year before too: a curve that is zero until then means
    // the sources do not hold last year's payments, not that nothing was paid.
    let held = d
        .last_year_curve
        .iter()
        .any(|(day, paid)| *paid > 0 && *day < crate::domain::rule::window_start(d.plan_year));
    let last_year: Vec<(NaiveDate, f64)> = match d.last_year_plan {
        Some(p) if p > 0 && held => d
            .last_year_curve
            .iter()
            .filter_map(|(day, paid)| {
                day.checked_add_months(chrono::Months::new(12))
                    .map(|day| (day, rate(*paid, p)))
            })
            .collect(),
        _ => Vec::new(),
    };
    let start = crate::domain::rule::window_start(d.plan_year);
    let end = crate::domain::rule::window_end(d.plan_year);
    let (title, unit_label, milestone_label, last_year_label, today_label, y_label) = match lang {
        Language::Vi => (
            format!("Tiến độ giải ngân lũy kế năm {} — {}", d.plan_year, d.name),
            "Đơn vị",
            "Mốc tiến độ",
            "Năm trước",
            format!("Ngày {}", format_date(d.as_of)),
            "Tỷ lệ giải ngân (%)",
        ),
        Language::En => (
            format!("Cumulative disbursement {} — {}", d.plan_year, d.name),
            "Unit",
            "Milestones",
            "Last year",
            format!("As of {}", format_date(d.as_of)),
            "Disbursement rate (%)",
        ),
    };
    let mut milestones = vec![(start, 0.0)];
    milestones.extend(d.milestones.iter().copied());
    curve_png(&CurveChart {
        lang,
        title: &title,
        start,
        end,
        unit: &unit,
        milestones: &milestones,
        last_year: (!last_year.is_empty()).then_some(last_year.as_slice()),
        today: d.as_of,
        unit_label,
        milestone_label,
        last_year_label,
        today_label: &today_label,
        y_label,
    })
}
