//! The tables emails and the terminal show: fixed-width text tables (widths count characters, so
//! Vietnamese names line up), the ranked table of all units, and plan tables of a unit's
//! projects and further denominators.

use super::words::{points, status_label};
use crate::domain::money::{format_billion, format_pct, format_pct_opt, Language};
use crate::domain::rates::{points_ahead, UnitRate};
use crate::notify::templates::views;

/// The unit's slowest projects: project, plan, disbursed, rate.
pub(super) fn projects_table(projects: &[(String, i64, i64)], lang: Language) -> views::Table {
    let header = match lang {
        Language::Vi => [
            "Dự án",
            "Kế hoạch (tỷ đồng)",
            "Giải ngân (tỷ đồng)",
            "Tỷ lệ",
        ],
        Language::En => ["Project", "Plan (bn VND)", "Disbursed (bn VND)", "Rate"],
    };
    let rows = projects.iter().map(|(project, plan, paid)| {
        let name = match project.is_empty() {
            true => "–".to_string(),
            false => project.clone(),
        };
        (name, *plan, *paid)
    });
    plan_table(header, rows, lang)
}

/// Plan, disbursement and rate under each further denominator ("capital_source:NSTW").
pub(super) fn denominators_table(
    denominators: &[(String, i64, i64)],
    lang: Language,
) -> views::Table {
    let header = match lang {
        Language::Vi => [
            "Nguồn vốn / kế hoạch",
            "Kế hoạch (tỷ đồng)",
            "Giải ngân (tỷ đồng)",
            "Tỷ lệ",
        ],
        Language::En => [
            "Capital source / layer",
            "Plan (bn VND)",
            "Disbursed (bn VND)",
            "Rate",
        ],
    };
    let rows = denominators.iter().map(|(key, plan, paid)| {
        let name = match (key.split_once(':'), lang) {
            (Some(("capital_source", c)), Language::Vi) => format!("Nguồn vốn {c}"),
            (Some(("capital_source", c)), Language::En) => format!("Capital source {c}"),
            (Some(("layer", l)), Language::Vi) => format!("Kế hoạch {l}"),
            (Some(("layer", l)), Language::En) => format!("Plan layer {l}"),
            _ => key.clone(),
        };
        (name, *plan, *paid)
    });
    plan_table(header, rows, lang)
}

/// A table of (name, plan, disbursed) rows with their rates, for both parts of an email.
pub(super) fn plan_table(
    header: [&str; 4],
    rows: impl Iterator<Item = (String, i64, i64)>,
    lang: Language,
) -> views::Table {
    let header: Vec<String> = header.iter().map(|s| s.to_string()).collect();
    let rows: Vec<Vec<String>> = rows
        .map(|(name, plan, paid)| {
            let rate = (plan > 0).then(|| paid as f64 * 100.0 / plan as f64);
            vec![
                name,
                format_billion(plan, lang),
                format_billion(paid, lang),
                format_pct_opt(rate, lang),
            ]
        })
        .collect();
    let right = vec![false, true, true, true];
    let text = text_table(&header, &rows, &right, &PIPES);
    views::Table {
        colours: vec![String::new(); rows.len()],
        header,
        rows,
        right,
        text,
    }
}

/// A fixed-width text table; widths count characters, so Vietnamese names line up.
/// Table layout for text: how columns are separated, and whether a rule follows the header.
pub struct TextStyle {
    pub separator: &'static str,
    pub rule: Option<&'static str>,
}

/// The digest's style: `a | b`, with a `--+--` rule.
pub const PIPES: TextStyle = TextStyle {
    separator: " | ",
    rule: Some("-+-"),
};

pub fn text_table(
    header: &[String],
    rows: &[Vec<String>],
    right: &[bool],
    style: &TextStyle,
) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = " ".repeat(width[i] - c.chars().count());
                if right[i] {
                    format!("{pad}{c}")
                } else {
                    format!("{c}{pad}")
                }
            })
            .collect();
        format!("{}\n", parts.join(style.separator).trim_end())
    };
    let mut out = line(header);
    if let Some(joint) = style.rule {
        let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&format!("{}\n", rule.join(joint)));
    }
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

/// The ranked table of all units, as in official reports.
pub fn ranked_rows(
    units: &[UnitRate],
    lang: Language,
) -> (Vec<String>, Vec<Vec<String>>, Vec<bool>) {
    let header: Vec<String> = match lang {
        Language::Vi => [
            "STT",
            "Đơn vị",
            "Kế hoạch (tỷ đồng)",
            "Giải ngân (tỷ đồng)",
            "Tỷ lệ",
            "Mốc",
            "Chênh lệch",
            "Trạng thái",
        ],
        Language::En => [
            "No.",
            "Unit",
            "Plan (bn VND)",
            "Disbursed (bn VND)",
            "Rate",
            "Expected",
            "Gap (pp)",
            "Status",
        ],
    }
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rows = units
        .iter()
        .enumerate()
        .map(|(i, u)| {
            vec![
                (i + 1).to_string(),
                u.unit_name.clone(),
                format_billion(u.plan, lang),
                format_billion(u.disbursed, lang),
                format_pct_opt(u.rate_pct, lang),
                format_pct(u.expected_pct, lang),
                points(points_ahead(u.rate_pct, u.expected_pct), lang),
                match (u.nothing_paid, lang) {
                    (true, Language::Vi) => {
                        format!("{} – chưa giải ngân", status_label(u.status, lang))
                    }
                    (true, Language::En) => {
                        format!("{} – nothing paid", status_label(u.status, lang))
                    }
                    (false, _) => status_label(u.status, lang).to_string(),
                },
            ]
        })
        .collect();
    let mut right = vec![true, false, true, true, true, true, true, false];
    let (mut header, mut rows): (Vec<String>, Vec<Vec<String>>) = (header, rows);
    // On current pace, where each unit will be at the close (31/1), when past years say.
    if units.iter().any(|u| u.projection.is_some()) {
        header.extend(match lang {
            Language::Vi => ["Dự báo 31/12".to_string(), "Dự báo 31/1".to_string()],
            Language::En => ["Projected 31/12".to_string(), "Projected 31/1".to_string()],
        });
        right.extend([true, true]);
        for (row, u) in rows.iter_mut().zip(units) {
            match &u.projection {
                Some(p) => row.extend([
                    format_pct(p.dec31.mid, lang),
                    format!(
                        "{}{}",
                        format_pct(p.jan31.mid, lang),
                        if p.at_risk { " ⚠" } else { "" }
                    ),
                ]),
                None => row.extend(["–".to_string(), "–".to_string()]),
            }
        }
    }
    (header, rows, right)
}
