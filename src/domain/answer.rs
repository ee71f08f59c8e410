//! Units' answers to their alerts: the reasons they give (a code list a department can count),
//! a note, and their commitments (an amount by a date); the one check of an answer, whether it
//! came through the form or from a letter typed into the answers source; and how a commitment
//! stands against what was disbursed since.

use super::id::PlanYear;
use super::money::{
    format_billion, format_date, format_pct_opt, AmountUnit, Language, NumberFormat,
};
use crate::domain::id::UnitId;
use chrono::{DateTime, NaiveDate, Utc};

/// The reasons units give, as codes a department can count (the code list of the domain notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// Site clearance, compensation, resettlement.
    Gpmb,
    /// Investment procedures, project adjustments.
    ThuTuc,
    /// Bidding, contractor selection.
    DauThau,
    /// Contractor capacity.
    NhaThau,
    /// Material prices and supply.
    VatLieu,
    /// Slow payment and settlement dossiers.
    ThanhToan,
    /// ODA and concessional-loan procedures.
    Oda,
    /// Capital not yet assigned or allocated in detail.
    ChuaPhanBo,
    /// Weather, natural disasters.
    ThoiTiet,
    /// The 2025 reorganisation of units.
    SapXep,
    /// Other: the note says what.
    Khac,
}
crate::base::names::named!(ReasonCode {
    Gpmb => "gpmb",
    ThuTuc => "thu_tuc",
    DauThau => "dau_thau",
    NhaThau => "nha_thau",
    VatLieu => "vat_lieu",
    ThanhToan => "thanh_toan",
    Oda => "oda",
    ChuaPhanBo => "chua_phan_bo",
    ThoiTiet => "thoi_tiet",
    SapXep => "sap_xep",
    Khac => "khac",
});

impl ReasonCode {
    /// The reason as a person reads it, in `lang`.
    pub fn label(self, lang: Language) -> &'static str {
        let (vi, en) = match self {
            ReasonCode::Gpmb => (
                "Vướng mắc giải phóng mặt bằng",
                "Site clearance, compensation, resettlement",
            ),
            ReasonCode::ThuTuc => (
                "Thủ tục đầu tư, điều chỉnh dự án",
                "Investment procedures, project adjustments",
            ),
            ReasonCode::DauThau => ("Lựa chọn nhà thầu", "Bidding, contractor selection"),
            ReasonCode::NhaThau => ("Năng lực nhà thầu", "Contractor capacity"),
            ReasonCode::VatLieu => ("Giá, nguồn cung vật liệu", "Material prices and supply"),
            ReasonCode::ThanhToan => (
                "Hồ sơ thanh toán, quyết toán chậm",
                "Slow payment and settlement dossiers",
            ),
            ReasonCode::Oda => (
                "Thủ tục vốn ODA, vốn vay ưu đãi",
                "ODA and concessional-loan procedures",
            ),
            ReasonCode::ChuaPhanBo => (
                "Chưa được giao, phân bổ chi tiết vốn",
                "Capital not yet assigned or allocated in detail",
            ),
            ReasonCode::ThoiTiet => ("Thời tiết, thiên tai", "Weather, natural disasters"),
            ReasonCode::SapXep => (
                "Sắp xếp tổ chức bộ máy, đơn vị hành chính",
                "The 2025 reorganisation of units",
            ),
            ReasonCode::Khac => ("Khác", "Other"),
        };
        match lang {
            Language::Vi => vi,
            Language::En => en,
        }
    }
}

/// Reason codes as they are stored and hashed: "gpmb,dau_thau".
pub fn codes(reasons: &[ReasonCode]) -> String {
    reasons
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reason codes read back from [`codes`]' text.
pub fn parse_codes(text: &str) -> Result<Vec<ReasonCode>, crate::base::names::UnknownName> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

/// How an answer reached disbmon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The unit's own form, through its alert's signed link.
    Form,
    /// The job's answers source: the department typed in a letter.
    Source,
}
crate::base::names::named!(Via {
    Form => "form",
    Source => "source",
});

/// The most commitments one answer records, and the longest note.
pub const MAX_COMMITMENTS: usize = 5;
pub const MAX_NOTE_CHARS: usize = 2_000;

/// What was answered, checked: reasons from the code list, a note (required with "khac"), and
/// the commitments.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub reasons: Vec<ReasonCode>,
    pub note: String,
    pub commitments: Vec<(i64, NaiveDate)>,
}

/// One problem with an answer: which field and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub field: String,
    pub problem: String,
}

/// Checks an answer given as text: `reasons` (codes), the note, and commitments as (amount in
/// billion đồng as written, due date as written). The same checks for the form and the source.
pub fn check(
    reasons: &[String],
    note: &str,
    commitments: &[(String, String)],
    plan_year: PlanYear,
    today: NaiveDate,
    (number_format, unit): (NumberFormat, AmountUnit),
    parse_date: &dyn Fn(&str) -> Option<NaiveDate>,
) -> Result<Checked, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut codes: Vec<ReasonCode> = Vec::new();
    for r in reasons
        .iter()
        .flat_map(|r| r.split([',', ';']))
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        match r.parse::<ReasonCode>() {
            Ok(c) if !codes.contains(&c) => codes.push(c),
            Ok(_) => {}
            Err(_) => problems.push(Problem {
                field: "reasons".into(),
                problem: format!(
                    "`{}` is not a reason code; use one of {}",
                    crate::base::text::truncate(&crate::base::text::escape(r), 40),
                    ReasonCode::ALL
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }
    if codes.is_empty() && problems.is_empty() {
        problems.push(Problem {
            field: "reasons".into(),
            problem: "give at least one reason".into(),
        });
    }
    // Notes go into emails and pages: control and direction characters out, on one line.
    let note = crate::base::text::one_line(note.trim());
    let note = note.as_ref();
    if codes.contains(&ReasonCode::Khac) && note.is_empty() {
        problems.push(Problem {
            field: "note".into(),
            problem: "with the reason \"khac\" (other), say what it is in the note".into(),
        });
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        problems.push(Problem {
            field: "note".into(),
            problem: format!("the note is longer than {MAX_NOTE_CHARS} characters; shorten it"),
        });
    }
    let given: Vec<&(String, String)> = commitments
        .iter()
        .filter(|(a, d)| !a.trim().is_empty() || !d.trim().is_empty())
        .collect();
    if given.len() > MAX_COMMITMENTS {
        problems.push(Problem {
            field: "commitments".into(),
            problem: format!("at most {MAX_COMMITMENTS} commitments per answer"),
        });
    }
    let last_day = crate::domain::rule::window_end(plan_year);
    let mut checked = Vec::new();
    for (i, (amount, due)) in given.iter().enumerate() {
        let field = |what: &str| format!("commitments[{}].{what}", i + 1);
        let amount = match crate::domain::money::parse_dong(amount, number_format, unit) {
            Ok(a) if a > 0 => Some(a),
            _ => {
                problems.push(Problem {
                    field: field("amount"),
                    problem: format!(
                        "`{}` is not an amount above 0{}; write e.g. 20 or 12,5",
                        crate::base::text::truncate(&crate::base::text::escape(amount), 40),
                        match unit {
                            AmountUnit::Billion => " in billion đồng",
                            AmountUnit::Million => " in million đồng",
                            AmountUnit::Thousand => " in thousand đồng",
                            AmountUnit::Dong => " in đồng",
                        }
                    ),
                });
                None
            }
        };
        let due = match parse_date(due.trim()) {
            Some(d) if d >= today && d <= last_day => Some(d),
            Some(_) => {
                problems.push(Problem {
                    field: field("due"),
                    problem: format!(
                        "the date must be from today ({}) to the close of the plan year ({})",
                        format_date(today),
                        format_date(last_day)
                    ),
                });
                None
            }
            None => {
                problems.push(Problem {
                    field: field("due"),
                    problem: format!(
                        "`{}` is not a date; write DD/MM/YYYY",
                        crate::base::text::truncate(&crate::base::text::escape(due), 40)
                    ),
                });
                None
            }
        };
        if let (Some(a), Some(d)) = (amount, due) {
            checked.push((a, d));
        }
    }
    match problems.is_empty() {
        true => Ok(Checked {
            reasons: codes,
            note: note.to_string(),
            commitments: checked,
        }),
        false => Err(problems),
    }
}

/// How a commitment stands: the amount promised from the answer, what was disbursed since.
pub fn commitment_line(
    amount: i64,
    due: NaiveDate,
    since: i64,
    as_of: NaiveDate,
    answered: NaiveDate,
    lang: Language,
) -> String {
    let share = (amount > 0).then(|| 100.0 * since as f64 / amount as f64);
    let state = match (since >= amount, as_of > due, lang) {
        (true, _, Language::Vi) => "đã đạt",
        (false, true, Language::Vi) => "quá hạn, chưa đạt",
        (false, false, Language::Vi) => "chưa đến hạn",
        (true, _, Language::En) => "met",
        (false, true, Language::En) => "overdue, not met",
        (false, false, Language::En) => "not yet due",
    };
    match lang {
        Language::Vi => format!(
            "cam kết giải ngân thêm {} tỷ đồng đến {}; từ ngày giải trình ({}) đã giải ngân thêm {} tỷ đồng ({}) — {state}",
            format_billion(amount, lang),
            format_date(due),
            format_date(answered),
            format_billion(since.max(0), lang),
            format_pct_opt(share.map(|s| s.max(0.0)), lang)
        ),
        Language::En => format!(
            "committed {} bn VND more by {}; disbursed {} bn VND since the answer ({}) ({}) — {state}",
            format_billion(amount, lang),
            format_date(due),
            format_billion(since.max(0), lang),
            format_date(answered),
            format_pct_opt(share.map(|s| s.max(0.0)), lang)
        ),
    }
}

/// A unit's answer to record.
#[derive(Debug, Clone)]
pub struct NewAnswer {
    pub job: String,
    pub unit: UnitId,
    pub plan_year: PlanYear,
    pub via: Via,
    pub link_id: Option<String>,
    pub source_key: Option<String>,
    pub received_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub reasons: Vec<ReasonCode>,
    pub note: String,
    /// What the unit had disbursed (đồng) in the figures it answered to.
    pub disbursed_then: i64,
    /// (amount in đồng, due date): "20 tỷ đồng more by 15/11".
    pub commitments: Vec<(i64, NaiveDate)>,
}

/// A recorded answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Answer {
    pub id: i64,
    pub unit: UnitId,
    pub via: Via,
    pub received_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub reasons: Vec<ReasonCode>,
    pub note: String,
    pub disbursed_then: i64,
    pub link_id: Option<String>,
    pub commitments: Vec<(i64, NaiveDate)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_alike_whatever_brings_them() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let date = |d: &str| NaiveDate::parse_from_str(d, "%d/%m/%Y").ok();
        let ok = check(
            &["gpmb; dau_thau".into(), "gpmb".into()],
            "",
            &[
                ("20".into(), "15/11/2026".into()),
                (String::new(), String::new()),
            ],
            PlanYear::new(2026),
            today,
            (NumberFormat::Vi, AmountUnit::Billion),
            &date,
        )
        .unwrap();
        assert_eq!(ok.reasons, vec![ReasonCode::Gpmb, ReasonCode::DauThau]);
        assert_eq!(
            ok.commitments,
            vec![(20_000_000_000, date("15/11/2026").unwrap())]
        );
        let bad = check(
            &["khac".into(), "<script>".into()],
            "",
            &[("-3".into(), "01/01/2020".into())],
            PlanYear::new(2026),
            today,
            (NumberFormat::Vi, AmountUnit::Billion),
            &date,
        )
        .unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "reasons",
                "note",
                "commitments[1].amount",
                "commitments[1].due"
            ]
        );
    }
}
