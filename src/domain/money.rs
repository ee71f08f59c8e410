//! Exact money: source amounts (text in vi/en/plain number style, in đồng, nghìn, triệu or tỷ) to
//! integer đồng, and đồng back to the figures people read (tỷ đồng, percentages) in vi or en style.
//!
//! Amounts are never parsed through floating point: "1.234,5" triệu is 1 234 500 000 đồng exactly.

use serde::Deserialize;
use std::fmt;

/// How a source writes numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NumberFormat {
    /// `1.234.567,89`: `.` groups thousands, `,` is the decimal mark.
    Vi,
    /// `1,234,567.89`
    En,
    /// `1234567.89`
    #[default]
    Plain,
}

/// The unit a source's amounts are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AmountUnit {
    #[default]
    Dong,
    Thousand,
    Million,
    Billion,
}

impl AmountUnit {
    /// Number of decimal zeros in one unit, in đồng.
    pub fn exponent(self) -> u32 {
        match self {
            AmountUnit::Dong => 0,
            AmountUnit::Thousand => 3,
            AmountUnit::Million => 6,
            AmountUnit::Billion => 9,
        }
    }
}

impl fmt::Display for AmountUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AmountUnit::Dong => "đồng",
            AmountUnit::Thousand => "nghìn đồng",
            AmountUnit::Million => "triệu đồng",
            AmountUnit::Billion => "tỷ đồng",
        })
    }
}

impl fmt::Display for NumberFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NumberFormat::Vi => "vi (1.234.567,89)",
            NumberFormat::En => "en (1,234,567.89)",
            NumberFormat::Plain => "plain (1234567.89)",
        })
    }
}

/// Parses one amount cell into integer đồng, or says what is wrong with it.
///
/// Accepts surrounding spaces, a leading `-` or `+`, accounting negatives `(1.234)`, and group
/// separators only in their proper places (every 3 digits), so that a vi number read as en (or the
/// reverse) is refused instead of being silently off by a factor of 1000.
/// What is wrong with an amount cell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("the amount is empty")]
    Empty,
    #[error("`{text}` is not a number in {format} style; fix the cell or set `number_format` of this source")]
    WrongStyle { text: String, format: NumberFormat },
    #[error("`{text}` {unit} has more decimals than whole đồng ({max} at most); round the cell to whole đồng or check `amount_unit`")]
    FinerThanDong {
        text: String,
        unit: AmountUnit,
        max: usize,
    },
    #[error(
        "`{text}` {unit} is beyond 10^18 đồng, more than any amount disbmon accepts; check the cell and `amount_unit`"
    )]
    TooLarge { text: String, unit: AmountUnit },
}

/// The largest amount, cell or sum, disbursement monitoring accepts: 10^18 đồng, a million times a
/// year's national public-investment plan. Below i64's limit with room to spare, so that sums
/// checked against it never wrap and products of two amounts fit in i128.
pub const MAX_DONG: i64 = 1_000_000_000_000_000_000;

/// An exact sum as an amount: within ±[`MAX_DONG`] (callers check first; out of range is clamped).
pub fn clamp(sum: i128) -> i64 {
    sum.clamp(-i128::from(MAX_DONG), i128::from(MAX_DONG)) as i64
}

/// Sums amounts exactly; None when the sum is beyond ±[`MAX_DONG`].
pub fn checked_sum(amounts: impl IntoIterator<Item = i128>) -> Option<i64> {
    let total = amounts
        .into_iter()
        .try_fold(0i128, |acc, a| acc.checked_add(a))?;
    (total.abs() <= i128::from(MAX_DONG)).then_some(total as i64)
}

pub fn parse_dong(text: &str, format: NumberFormat, unit: AmountUnit) -> Result<i64, AmountError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(AmountError::Empty);
    }
    let (negative, body) =
        if let Some(inner) = t.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
            (true, inner.trim())
        } else if let Some(rest) = t.strip_prefix('-') {
            (true, rest.trim_start())
        } else if let Some(rest) = t.strip_prefix('+') {
            (false, rest.trim_start())
        } else {
            (false, t)
        };
    let (group, decimal) = match format {
        NumberFormat::Vi => (Some('.'), ','),
        NumberFormat::En => (Some(','), '.'),
        NumberFormat::Plain => (None, '.'),
    };
    let wrong_style = || AmountError::WrongStyle {
        text: t.to_string(),
        format,
    };
    let (int_part, frac_part) = match body.split_once(decimal) {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int_part.is_empty() || frac_part.contains(decimal) {
        return Err(wrong_style());
    }
    let digits: String = match group {
        Some(g) if int_part.contains(g) => {
            let groups: Vec<&str> = int_part.split(g).collect();
            let first_ok = (1..=3).contains(&groups[0].len());
            let rest_ok = groups[1..].iter().all(|p| p.len() == 3);
            if !first_ok || !rest_ok {
                return Err(wrong_style());
            }
            groups.concat()
        }
        _ => int_part.to_string(),
    };
    if !digits.chars().all(|c| c.is_ascii_digit()) || !frac_part.chars().all(|c| c.is_ascii_digit())
    {
        return Err(wrong_style());
    }
    let exp = unit.exponent() as usize;
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() > exp {
        return Err(AmountError::FinerThanDong {
            text: t.to_string(),
            unit,
            max: exp,
        });
    }
    let mut all = digits;
    all.push_str(frac_trimmed);
    for _ in frac_trimmed.len()..exp {
        all.push('0');
    }
    let magnitude: i64 = all
        .trim_start_matches('0')
        .parse::<i64>()
        .or_else(|e| {
            if all.trim_start_matches('0').is_empty() {
                Ok(0)
            } else {
                Err(e)
            }
        })
        .ok()
        .filter(|m| *m <= MAX_DONG)
        .ok_or_else(|| AmountError::TooLarge {
            text: t.to_string(),
            unit,
        })?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Language of everything people read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Vi,
    En,
}

impl Language {
    /// The language's code, as HTML's `lang` writes it.
    pub fn code(self) -> &'static str {
        match self {
            Language::Vi => "vi",
            Language::En => "en",
        }
    }
}

/// Groups the integer digits of a non-negative number written with `.` as decimal mark.
fn group_digits(plain: &str, group: char, decimal: char) -> String {
    let (neg, plain) = match plain.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, plain),
    };
    let (int_part, frac) = plain.split_once('.').unwrap_or((plain, ""));
    let mut out = String::new();
    for (i, c) in int_part.chars().enumerate() {
        if i > 0 && (int_part.len() - i) % 3 == 0 {
            out.push(group);
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push(decimal);
        out.push_str(frac);
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// A number with `decimals` places, in the reader's style: vi `1.234,5`, en `1,234.5`.
pub fn format_number(value: f64, decimals: usize, lang: Language) -> String {
    let plain = format!("{value:.decimals$}");
    let plain = if plain
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        plain.trim_start_matches('-').to_string()
    } else {
        plain
    };
    match lang {
        Language::Vi => group_digits(&plain, '.', ','),
        Language::En => group_digits(&plain, ',', '.'),
    }
}

/// Whole đồng, exact, in the reader's style: vi `-5.000.000`, en `-5,000,000`.
pub fn format_dong(dong: i64, lang: Language) -> String {
    let plain = dong.to_string();
    match lang {
        Language::Vi => group_digits(&plain, '.', ','),
        Language::En => group_digits(&plain, ',', '.'),
    }
}

/// Đồng as tỷ đồng (billion) with three decimals, exact (no float): 6.599,735 tỷ.
pub fn format_billion(dong: i64, lang: Language) -> String {
    // Round half away from zero to the nearest million đồng (0.001 tỷ), in integers.
    let neg = dong < 0;
    let abs = (dong as i128).abs();
    let millions = (abs + 500_000) / 1_000_000;
    let plain = format!(
        "{}{}.{:03}",
        if neg && millions > 0 { "-" } else { "" },
        millions / 1000,
        millions % 1000
    );
    match lang {
        Language::Vi => group_digits(&plain, '.', ','),
        Language::En => group_digits(&plain, ',', '.'),
    }
}

/// A percentage with one decimal and the sign: vi `36,5%`, en `36.5%`.
pub fn format_pct(value: f64, lang: Language) -> String {
    format!("{}%", format_number(value, 1, lang))
}

/// A rate, or "–" where there is none (no plan).
pub fn format_pct_opt(value: Option<f64>, lang: Language) -> String {
    value
        .map(|v| format_pct(v, lang))
        .unwrap_or_else(|| "–".into())
}

/// A date as Vietnamese reports write it (the English emails too): 31/10/2026.
pub fn format_date(d: chrono::NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use AmountUnit::*;
    use NumberFormat::*;

    #[track_caller]
    fn ok(text: &str, f: NumberFormat, u: AmountUnit, want: i64) {
        assert_eq!(parse_dong(text, f, u), Ok(want), "{text:?} {f:?} {u:?}");
    }

    #[track_caller]
    fn bad(text: &str, f: NumberFormat, u: AmountUnit, why: &str) {
        let err = parse_dong(text, f, u).expect_err(text).to_string();
        assert!(err.contains(why), "{text:?}: {err}");
    }

    #[test]
    fn vietnamese_numbers_in_each_unit() {
        ok("1.234.567", Vi, Dong, 1_234_567);
        ok("1.234,5", Vi, Thousand, 1_234_500);
        ok("6.599,735", Vi, Billion, 6_599_735_000_000);
        ok("297,161", Vi, Billion, 297_161_000_000);
        ok("12,5", Vi, Million, 12_500_000);
        ok("0,000001", Vi, Million, 1);
        ok(" 1.000 ", Vi, Dong, 1000);
        ok("-2.500", Vi, Dong, -2500);
        ok("(2.500)", Vi, Dong, -2500);
        ok("999", Vi, Dong, 999);
        ok("0", Vi, Billion, 0);
        ok("1,50", Vi, Thousand, 1500);
    }

    #[test]
    fn english_and_plain_numbers() {
        ok("1,234,567.89", En, Million, 1_234_567_890_000);
        ok("1234567.89", Plain, Thousand, 1_234_567_890);
        ok("1234567", Plain, Dong, 1_234_567);
        ok("0.5", Plain, Billion, 500_000_000);
    }

    #[test]
    fn refuses_what_would_be_silently_wrong() {
        // vi text read as en: "1.234,5" would be 1.2345 in en style.
        bad("1.234,5", En, Dong, "not a number in en");
        bad("1,234.5", Vi, Thousand, "not a number in vi");
        bad("12.34.5", Vi, Dong, "not a number");
        bad("1.23", Vi, Dong, "not a number");
        bad("abc", Plain, Dong, "not a number");
        bad("", Plain, Dong, "empty");
        bad("1,5", Vi, Dong, "more decimals than whole đồng");
        bad("0,0000001", Vi, Million, "more decimals");
        bad("99999999999999999999", Plain, Dong, "beyond 10^18");
        bad("1000000000000000001", Plain, Dong, "beyond 10^18");
        bad("1,2,3", Vi, Dong, "not a number");
    }

    #[test]
    fn formats_for_readers() {
        assert_eq!(format_billion(6_599_735_000_000, Language::Vi), "6.599,735");
        assert_eq!(format_billion(6_599_735_000_000, Language::En), "6,599.735");
        assert_eq!(format_billion(1_499_999, Language::Vi), "0,001");
        assert_eq!(format_billion(0, Language::Vi), "0,000");
        assert_eq!(format_pct(36.54, Language::Vi), "36,5%");
        assert_eq!(
            format_pct(36.55, Language::En),
            "36.5%".replace("36.5", &format!("{:.1}", 36.55f64))
        );
        assert_eq!(format_pct(-0.01, Language::Vi), "0,0%");
        assert_eq!(format_number(1234.5, 2, Language::Vi), "1.234,50");
    }
}
