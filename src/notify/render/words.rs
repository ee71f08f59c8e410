//! The words of the emails, per language: labels, statuses, the gap in percentage points with
//! its sign as Vietnamese reports write it, and signed amounts.

use crate::domain::money::{format_billion, format_number, Language};
#[cfg(doc)]
use crate::domain::rates::points_ahead;
use crate::domain::rule::Status;

/// A gap in percentage points ([`points_ahead`]) with one decimal and its sign: "−35,3" when
/// behind, "+2,0" when ahead; a gap that rounds to nothing is "0,0", without a sign.
pub fn points(ahead: Option<f64>, lang: Language) -> String {
    let Some(v) = ahead else {
        return "–".into();
    };
    let shown = format_number(v.abs(), 1, lang);
    let nothing = shown.chars().all(|c| c == '0' || c == ',' || c == '.');
    match (nothing, v > 0.0) {
        (true, _) => shown,
        (false, true) => format!("+{shown}"),
        (false, false) => format!("−{shown}"),
    }
}

/// A change in đồng as "+12,500 tỷ đồng" / "−1,000 tỷ đồng".
pub(super) fn signed_billion(dong: i64, lang: Language) -> String {
    let sign = match dong {
        d if d > 0 => "+",
        d if d < 0 => "−",
        _ => "",
    };
    format!("{sign}{}", format_billion(dong.saturating_abs(), lang))
}

pub fn status_label(s: Status, lang: Language) -> &'static str {
    match (lang, s) {
        (Language::Vi, Status::Critical) => "Chậm nghiêm trọng",
        (Language::Vi, Status::Behind) => "Chậm tiến độ",
        (Language::Vi, Status::OnTrack) => "Đạt tiến độ",
        (Language::Vi, Status::NoPlan) => "Chưa có kế hoạch vốn",
        (Language::En, Status::Critical) => "Critical",
        (Language::En, Status::Behind) => "Behind",
        (Language::En, Status::OnTrack) => "On track",
        (Language::En, Status::NoPlan) => "No plan",
    }
}

/// Labels and sentences, per language.
pub(super) struct Words {
    pub(super) tag: &'static str,
    pub(super) plan: &'static str,
    pub(super) disbursed: &'static str,
    pub(super) rate: &'static str,
    pub(super) expected: &'static str,
    pub(super) gap: &'static str,
    pub(super) shortfall: &'static str,
    pub(super) rank: &'static str,
    pub(super) average: &'static str,
    pub(super) status: &'static str,
    pub(super) reason: &'static str,
    pub(super) billion: &'static str,
    pub(super) points: &'static str,
    pub(super) units: &'static str,
    pub(super) projection: &'static str,
}

pub(super) const VI: Words = Words {
    tag: "Giải ngân",
    plan: "Kế hoạch vốn",
    disbursed: "Đã giải ngân",
    rate: "Tỷ lệ giải ngân",
    expected: "Mức cần đạt theo tiến độ",
    gap: "Chênh lệch so với tiến độ",
    shortfall: "Số vốn cần giải ngân thêm để đạt tiến độ",
    rank: "Xếp hạng",
    average: "Tỷ lệ giải ngân bình quân",
    status: "Đánh giá",
    reason: "Lý do gửi thư",
    billion: "tỷ đồng",
    points: "điểm phần trăm",
    units: "đơn vị",
    projection: "Dự báo",
};

pub(super) const EN: Words = Words {
    tag: "Disbursement",
    plan: "Capital plan",
    disbursed: "Disbursed",
    rate: "Disbursement rate",
    expected: "Expected by this date",
    gap: "Gap to the expected rate",
    shortfall: "Still to disburse to be on track",
    rank: "Rank",
    average: "Average rate",
    status: "Status",
    reason: "Why this email",
    billion: "billion VND",
    points: "percentage points",
    units: "units",
    projection: "Projection",
};

pub(super) fn words(lang: Language) -> &'static Words {
    match lang {
        Language::Vi => &VI,
        Language::En => &EN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_has_the_sign_of_what_is_shown() {
        let vi = Language::Vi;
        assert_eq!(points(Some(-35.26), vi), "−35,3");
        assert_eq!(points(Some(2.0), Language::En), "+2.0");
        // Rounds to nothing: no sign, whichever side of zero it came from.
        assert_eq!(points(Some(-0.04), vi), "0,0");
        assert_eq!(points(Some(0.04), vi), "0,0");
        assert_eq!(points(None, vi), "–");
    }
}
