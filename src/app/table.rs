//! The ranked table `disbmon once` prints: every unit with its figures, status and projection,
//! fitted to the terminal (at most 120 columns unless `--wide`). In a fitted table a unit's name
//! is cut before a column is left out, the id stays whole, and the status' qualifiers become
//! marks explained under the table, so that a row never wraps in an ordinary terminal.

use crate::domain::money::{format_billion, format_number, Language};
use crate::domain::rates::{points_ahead, Range, UnitRate};
use crate::notify::render::fit::{fit_table, Column, Give};
use crate::notify::render::words::status_label;
use std::fmt::Write;

/// The default and largest width of the table, in characters: an ordinary terminal.
pub const DEFAULT_WIDTH: usize = 120;

/// The shortest a unit's name is cut to before a column is left out.
const NAME_MIN: usize = 20;

/// The table of `units` in at most `width` characters a line (`None`: `--wide`, everything).
pub fn ranked_table(
    units: &[UnitRate],
    average_pct: Option<f64>,
    lang: Language,
    width: Option<usize>,
) -> String {
    let projected = units.iter().any(|u| u.projection.is_some());
    let marks = width.is_some();
    let columns = columns(projected, lang);
    let rows: Vec<Vec<String>> = units
        .iter()
        .map(|u| row(u, projected, marks, lang))
        .collect();
    let fitted = fit_table(&columns, &rows, width);
    let mut out = fitted.text;
    let legend = legend(units, average_pct, marks, lang);
    if !legend.is_empty() {
        let line = legend.join("   ");
        // One mark a line where the legend would wrap.
        let fits = width.is_none_or(|w| line.chars().count() <= w);
        let _ = writeln!(out, "{}", if fits { line } else { legend.join("\n") });
    }
    if !fitted.left_out.is_empty() {
        let left_out = fitted.left_out.join(", ");
        let width = width.unwrap_or(DEFAULT_WIDTH);
        let note = match lang {
            Language::Vi => {
                format!("(bỏ bớt cột cho vừa {width} ký tự: {left_out}; --wide hiện đủ mọi cột)")
            }
            Language::En => format!(
                "(left out to fit {width} characters: {left_out}; --wide shows every column)"
            ),
        };
        for line in wrap(&note, width) {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// `text` in lines of at most `width` characters, broken between words (a longer word alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let needed = line.chars().count() + 1 + word.chars().count();
        if !line.is_empty() && needed > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

fn columns(projected: bool, lang: Language) -> Vec<Column> {
    let c = |header: &[&str], right: bool, give: Give| Column {
        header: header.iter().map(|s| s.to_string()).collect(),
        right,
        give,
    };
    // Left out first: the projection at 31/12 (31/1 is the close), the shortfall, then amounts.
    let (vi, en): (&[&[&str]], &[&[&str]]) = (
        &[
            &["Hạng"],
            &["Mã ĐV"],
            &["Đơn vị"],
            &["Kế hoạch", "(tỷ)"],
            &["Giải ngân", "(tỷ)"],
            &["Tỷ lệ", "%"],
            &["Chênh", "lệch"],
            &["Còn thiếu", "(tỷ)"],
            &["Trạng thái"],
            &["Dự báo", "31/12 %"],
            &["Dự báo", "31/1 %"],
        ],
        &[
            &["Rank"],
            &["Unit id"],
            &["Unit"],
            &["Plan", "(bn)"],
            &["Disbursed", "(bn)"],
            &["Rate", "%"],
            &["Gap", "pp"],
            &["Shortfall", "(bn)"],
            &["Status"],
            &["Proj.", "31/12 %"],
            &["Proj.", "31/1 %"],
        ],
    );
    let headers = match lang {
        Language::Vi => vi,
        Language::En => en,
    };
    let gives = [
        (true, Give::Never),
        (false, Give::Never),
        (false, Give::Cut { min: NAME_MIN }),
        (true, Give::Leave { order: 5 }),
        (true, Give::Leave { order: 4 }),
        (true, Give::Never),
        (true, Give::Leave { order: 6 }),
        (true, Give::Leave { order: 2 }),
        (false, Give::Never),
        (true, Give::Leave { order: 1 }),
        (true, Give::Leave { order: 3 }),
    ];
    let shown = if projected { 11 } else { 9 };
    headers
        .iter()
        .zip(gives)
        .take(shown)
        .map(|(h, (right, give))| c(h, right, give))
        .collect()
}

/// One unit's row; with `marks`, the status' qualifiers as marks ("°", "*") the legend explains.
fn row(u: &UnitRate, projected: bool, marks: bool, lang: Language) -> Vec<String> {
    let number = |v: Option<f64>| {
        v.map(|v| format_number(v, 2, lang))
            .unwrap_or_else(|| "-".into())
    };
    let (nothing, below) = match (marks, lang) {
        (true, _) => (" °", " *"),
        (false, Language::Vi) => (" (chưa giải ngân)", " (dưới bình quân)"),
        (false, Language::En) => (" (nothing paid)", " (below avg)"),
    };
    let status = match lang {
        Language::Vi => status_label(u.status, lang),
        Language::En => u.status.as_str(),
    };
    let mut row = vec![
        u.rank.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
        u.unit_id.to_string(),
        u.unit_name.clone(),
        format_billion(u.plan, lang),
        format_billion(u.disbursed, lang),
        number(u.rate_pct),
        // Below the target is negative, as Vietnamese reports write it.
        number(points_ahead(u.rate_pct, u.expected_pct)),
        format_billion(u.shortfall, lang),
        format!(
            "{status}{}{}",
            if u.nothing_paid { nothing } else { "" },
            if u.below_average { below } else { "" }
        ),
    ];
    if projected {
        let p = u.projection.as_ref();
        let at = |r: Option<Range>| {
            r.map(|r| format_number(r.mid, 1, lang))
                .unwrap_or_else(|| "-".into())
        };
        let risk = if p.is_some_and(|p| p.at_risk) {
            " !"
        } else {
            ""
        };
        row.push(at(p.map(|p| p.dec31)));
        row.push(format!("{}{risk}", at(p.map(|p| p.jan31))));
    }
    row
}

/// What the marks in the table mean, only those it shows.
fn legend(
    units: &[UnitRate],
    average_pct: Option<f64>,
    marks: bool,
    lang: Language,
) -> Vec<String> {
    let average = average_pct
        .map(|a| format!(" ({} %)", format_number(a, 2, lang)))
        .unwrap_or_default();
    let mut out = Vec::new();
    if marks && units.iter().any(|u| u.nothing_paid) {
        out.push(match lang {
            Language::Vi => "° chưa giải ngân".to_string(),
            Language::En => "° nothing paid".to_string(),
        });
    }
    if marks && units.iter().any(|u| u.below_average) {
        out.push(match lang {
            Language::Vi => format!("* dưới tỷ lệ bình quân{average}"),
            Language::En => format!("* below the average rate{average}"),
        });
    }
    if units
        .iter()
        .any(|u| u.projection.as_ref().is_some_and(|p| p.at_risk))
    {
        out.push(match lang {
            Language::Vi => "! dự báo không đạt mục tiêu 31/12 hoặc 31/1".to_string(),
            Language::En => "! projected to miss the 31/12 or 31/1 target".to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn a_note_wraps_between_words() {
        assert_eq!(wrap("bỏ bớt cột cho vừa", 10), ["bỏ bớt cột", "cho vừa"]);
        assert_eq!(wrap("a verylongword b", 5), ["a", "verylongword", "b"]);
        assert_eq!(wrap("", 5), [""]);
    }
}
