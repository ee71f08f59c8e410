//! The year-end projection in words: a unit's, and the whole job's with how many units are at
//! risk.

use super::context::Context;
use crate::domain::id::PlanYear;
use crate::domain::money::{format_date, format_number, format_pct, Language};
use crate::domain::rates::{Basis, Projection, Range};
use crate::domain::rule::{december, window_end, Status};

/// "78,0 % đến 31/12/2026 (72,5–81,0 %), 88,0 % đến 31/01/2027 (…)": a unit's projection.
pub fn projection_text(p: &Projection, plan_year: PlanYear, lang: Language) -> String {
    let range = |r: Range| match (r.high - r.low).abs() < 0.05 {
        true => format_pct(r.mid, lang),
        false => format!(
            "{} ({}–{})",
            format_pct(r.mid, lang),
            format_number(r.low, 1, lang),
            format_pct(r.high, lang)
        ),
    };
    let dec31 = format_date(december(plan_year));
    let close = format_date(window_end(plan_year));
    let years: Vec<String> = p.years.iter().map(|y| y.to_string()).collect();
    let basis = match (p.basis, lang) {
        (Basis::Unit, Language::Vi) => "của đơn vị",
        (Basis::Group, Language::Vi) => "của nhóm đơn vị",
        (Basis::Job, Language::Vi) => "của toàn bộ các đơn vị",
        (Basis::Unit, Language::En) => "the unit's own",
        (Basis::Group, Language::En) => "its peer group's",
        (Basis::Job, Language::En) => "all units'",
    };
    match lang {
        Language::Vi => format!(
            "theo tiến độ hiện nay: {} đến {dec31}, {} đến {close} (theo diễn biến giải ngân các năm {} {basis})",
            range(p.dec31),
            range(p.jan31),
            years.join(", ")
        ),
        Language::En => format!(
            "on current pace: {} by {dec31}, {} by {close} (following {basis} pace in {})",
            range(p.dec31),
            range(p.jan31),
            years.join(", ")
        ),
    }
}

/// The digest's line on the projection: the whole job's, and how many units are at risk.
pub(super) fn projection_summary(ctx: &Context) -> Option<String> {
    let lang = ctx.language;
    let projected: Vec<_> = ctx
        .rates
        .units
        .iter()
        .filter_map(|u| u.projection.as_ref().map(|p| (u, p)))
        .collect();
    if projected.is_empty() {
        return None;
    }
    let plan: f64 = projected.iter().map(|(u, _)| u.plan as f64).sum();
    let weighted = |f: &dyn Fn(&Projection) -> f64| {
        projected
            .iter()
            .map(|(u, p)| f(p) * u.plan as f64)
            .sum::<f64>()
            / plan.max(1.0)
    };
    let (dec31, jan31) = (weighted(&|p| p.dec31.mid), weighted(&|p| p.jan31.mid));
    let at_risk = projected.iter().filter(|(_, p)| p.at_risk).count();
    let on_track_at_risk = projected
        .iter()
        .filter(|(u, p)| p.at_risk && u.status == Status::OnTrack)
        .count();
    let dec = format_date(december(ctx.plan_year));
    let close = format_date(window_end(ctx.plan_year));
    Some(match lang {
        Language::Vi => format!(
            "Theo tiến độ hiện nay, dự báo đạt {} đến {dec} và {} đến {close}; {at_risk}/{} đơn vị có nguy cơ không đạt mục tiêu cuối năm (trong đó {on_track_at_risk} đơn vị hiện vẫn đạt tiến độ).",
            format_pct(dec31, lang),
            format_pct(jan31, lang),
            projected.len()
        ),
        Language::En => format!(
            "On current pace: {} by {dec}, {} by {close}; {at_risk} of {} units are projected to miss a year-end target ({on_track_at_risk} of them on track today).",
            format_pct(dec31, lang),
            format_pct(jan31, lang),
            projected.len()
        ),
    })
}
