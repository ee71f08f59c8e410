//! Renders alerts and the digest as text and HTML, in Vietnamese or English. Pure: no I/O.
//! Everything that comes from the data is escaped in the HTML part.

use super::templates::{views, Templates};
use crate::address::Mailbox;
use crate::compute::{Rates, UnitRate};
use crate::decide::{Alert, Reason};
use crate::ledger::DataIssue;
use crate::money::{
    format_billion, format_date, format_number, format_pct, format_pct_opt, Language,
};
use crate::rule::{PlanYear, Status};
use chrono::NaiveDate;

/// A rendered email, ready to be built into a MIME message.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Files sent along (the digest's workbook).
    pub attachments: Vec<Attachment>,
    /// Pictures the HTML part shows (`cid:`), sent as `multipart/related` parts beside it.
    pub inline: Vec<Inline>,
}

/// A picture inside the HTML part, referred to as `cid:{cid}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Inline {
    pub cid: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// A file sent along with an email.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// What every message of one run shares.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub job: &'a str,
    pub language: Language,
    pub as_of: NaiveDate,
    pub plan_year: PlanYear,
    pub rates: &'a Rates,
    /// How many units are ranked (counted once, not for each alert).
    pub ranked: usize,
    /// The next milestone on or after the as-of date.
    pub next_milestone: Option<(NaiveDate, f64)>,
    /// Each unit's curve, denominators and previous figures, by unit id.
    pub details: &'a std::collections::BTreeMap<String, crate::ledger::UnitDetail>,
    /// Charts in the mail (`alerts.charts`).
    pub charts: bool,
    pub templates: &'a Templates,
    /// The reallocation proposal, when units are projected.
    pub reallocation: Option<&'a crate::reallocation::Proposal>,
    /// The job's time zone: the day an answer was given is the day there.
    pub zone: chrono_tz::Tz,
    /// The first milestone after the as-of date: when this run's answer links expire.
    pub milestones_after: Option<NaiveDate>,
    /// The units' answers this plan year (oldest first), by unit.
    pub answers: Option<&'a std::collections::BTreeMap<String, Vec<crate::store::Answer>>>,
    /// Signs the answer links alerts carry (`[answers]`), and the job's zone their expiry is in.
    pub links: Option<(&'a crate::answers::Signer, chrono_tz::Tz)>,
}

/// "Giải trình ngày 03/11/2026: …" — a unit's answers this year and how its commitments stand.
fn answer_section(
    answers: &[crate::store::Answer],
    disbursed_now: i64,
    (as_of, zone): (NaiveDate, chrono_tz::Tz),
    lang: Language,
) -> Option<views::Section> {
    let last = answers.last()?;
    let day =
        |a: &crate::store::Answer| format_date(a.received_at.with_timezone(&zone).date_naive());
    let reasons: Vec<&str> = last
        .reasons
        .iter()
        .map(|r| crate::answers::reason_label(r, lang))
        .collect();
    let note = match last.note.is_empty() {
        true => String::new(),
        false => format!(" — {}", last.note),
    };
    let label = match lang {
        Language::Vi => "Nguyên nhân",
        Language::En => "Reasons",
    };
    let mut lines = vec![format!("{label}: {}{note}", reasons.join("; "))];
    for a in answers {
        for (amount, due) in &a.commitments {
            lines.push(crate::answers::commitment_line(
                *amount,
                *due,
                disbursed_now.saturating_sub(a.disbursed_then),
                as_of,
                a.received_at.with_timezone(&zone).date_naive(),
                lang,
            ));
        }
    }
    Some(views::Section {
        title: match lang {
            Language::Vi => format!(
                "Giải trình của đơn vị (ngày {}) và việc thực hiện cam kết",
                day(last)
            ),
            Language::En => format!("The unit's answer ({}) and its commitments", day(last)),
        },
        lines,
    })
}

/// The digest's account of the answers: how many units behind answered, commitments due soon
/// or overdue, and each answering unit's reasons and commitments.
fn answers_summary(ctx: &Context) -> Option<views::Section> {
    let answers = ctx.answers?;
    // Without links and without any answer (no `[answers]`, no letters), nothing to count.
    if answers.is_empty() && ctx.links.is_none() {
        return None;
    }
    let lang = ctx.language;
    let behind: Vec<&UnitRate> = ctx
        .rates
        .units
        .iter()
        .filter(|u| u.status.is_alerted())
        .collect();
    if answers.is_empty() && behind.is_empty() {
        return None;
    }
    let answered = behind
        .iter()
        .filter(|u| answers.contains_key(&u.unit_id))
        .count();
    let week = ctx.as_of + chrono::Days::new(7);
    let mut due_soon = 0;
    let mut overdue = 0;
    let mut lines = Vec::new();
    for u in &ctx.rates.units {
        let Some(mine) = answers.get(&u.unit_id) else {
            continue;
        };
        for a in mine {
            for (amount, due) in &a.commitments {
                let since = u.disbursed.saturating_sub(a.disbursed_then);
                if *due >= ctx.as_of && *due <= week && since < *amount {
                    due_soon += 1;
                }
                if *due < ctx.as_of && since < *amount {
                    overdue += 1;
                }
            }
        }
        if let Some(section) = answer_section(mine, u.disbursed, (ctx.as_of, ctx.zone), lang) {
            lines.push(format!("{}: {}", u.unit_name, section.lines.join("; ")));
        }
    }
    let head = match lang {
        Language::Vi => format!(
            "{answered}/{} đơn vị chậm tiến độ đã giải trình; {due_soon} cam kết đến hạn trong 7 ngày tới; {overdue} cam kết quá hạn chưa đạt.",
            behind.len()
        ),
        Language::En => format!(
            "{answered} of {} units behind have answered; {due_soon} commitments fall due within 7 days; {overdue} are overdue and not met.",
            behind.len()
        ),
    };
    lines.insert(0, head);
    Some(views::Section {
        title: match lang {
            Language::Vi => "Giải trình và cam kết của các đơn vị".into(),
            Language::En => "Units' answers and commitments".into(),
        },
        lines,
    })
}

/// A message that could not be delivered, as the digest reports it.
#[derive(Debug, Clone)]
pub struct Delivered<'a> {
    pub unit_id: &'a str,
    pub unit_name: &'a str,
    pub error: Option<&'a str>,
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The gap to the target in percentage points, as Vietnamese reports write it: how far below the
/// target a unit is, "−35,3" when behind, "+2,0" when ahead. (`gap_pct` is expected − rate.)
fn points(gap: Option<f64>, lang: Language) -> String {
    match gap.map(|g| -g) {
        Some(v) if v > 0.0 => format!("+{}", format_number(v, 1, lang)),
        Some(v) if v < 0.0 => format!("−{}", format_number(-v, 1, lang)),
        Some(v) => format_number(v, 1, lang),
        None => "–".into(),
    }
}

/// A change in đồng as "+12,500 tỷ đồng" / "−1,000 tỷ đồng".
fn signed_billion(dong: i64, lang: Language) -> String {
    let sign = match dong {
        d if d > 0 => "+",
        d if d < 0 => "−",
        _ => "",
    };
    format!("{sign}{}", format_billion(dong.saturating_abs(), lang))
}

/// The content id of a chart in an email.
const CHART_CID: &str = "bieu-do@disbmon";

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
struct Words {
    tag: &'static str,
    plan: &'static str,
    disbursed: &'static str,
    rate: &'static str,
    expected: &'static str,
    gap: &'static str,
    shortfall: &'static str,
    rank: &'static str,
    average: &'static str,
    status: &'static str,
    reason: &'static str,
    billion: &'static str,
    points: &'static str,
    units: &'static str,
    projection: &'static str,
}

const VI: Words = Words {
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

const EN: Words = Words {
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

fn words(lang: Language) -> &'static Words {
    match lang {
        Language::Vi => &VI,
        Language::En => &EN,
    }
}

/// The alert a unit that is behind receives.
pub fn unit_alert(ctx: &Context, alert: &Alert) -> Email {
    let u = &alert.unit;
    let lang = ctx.language;
    let w = words(lang);
    let as_of = format_date(ctx.as_of);
    let rate = format_pct_opt(u.rate_pct, lang);
    let expected = format_pct(u.expected_pct, lang);
    let subject = match (lang, u.status) {
        (Language::Vi, Status::Critical) => format!(
            "[{} {}] {}: đạt {rate}, chậm nghiêm trọng so với mức cần đạt {expected} (đến {as_of})",
            w.tag, ctx.plan_year, u.unit_name
        ),
        (Language::Vi, _) => format!(
            "[{} {}] {}: đạt {rate}, chưa đạt mức cần đạt {expected} (đến {as_of})",
            w.tag, ctx.plan_year, u.unit_name
        ),
        (Language::En, Status::Critical) => format!(
            "[{} {}] {}: {rate} disbursed, critically below the expected {expected} (as of {as_of})",
            w.tag, ctx.plan_year, u.unit_name
        ),
        (Language::En, _) => format!(
            "[{} {}] {}: {rate} disbursed, below the expected {expected} (as of {as_of})",
            w.tag, ctx.plan_year, u.unit_name
        ),
    };
    let recovered = alert.reason == Reason::Recovered;
    let subject = match (lang, recovered) {
        (Language::Vi, true) => format!(
            "[{} {}] {}: đã đạt tiến độ, tỷ lệ {rate} (mức cần đạt {expected}, đến {as_of})",
            w.tag, ctx.plan_year, u.unit_name
        ),
        (Language::En, true) => format!(
            "[{} {}] {}: back on track, {rate} disbursed (expected {expected}, as of {as_of})",
            w.tag, ctx.plan_year, u.unit_name
        ),
        _ if alert.reason == Reason::AtRisk => match lang {
            Language::Vi => format!(
                "[{} {}] {}: đạt {rate}, đúng tiến độ nhưng dự báo không đạt mục tiêu cuối năm (đến {as_of})",
                w.tag, ctx.plan_year, u.unit_name
            ),
            Language::En => format!(
                "[{} {}] {}: {rate} disbursed, on track but projected to miss the year-end target (as of {as_of})",
                w.tag, ctx.plan_year, u.unit_name
            ),
        },
        _ => subject,
    };
    // "[Giải ngân 2026]" becomes "[Giải ngân 2026][Báo cáo cấp trên]" for an escalated alert.
    let subject = match (&alert.escalation, lang) {
        (Some(_), Language::Vi) => subject.replacen("] ", "][Báo cáo cấp trên] ", 1),
        (Some(_), Language::En) => subject.replacen("] ", "][Escalated] ", 1),
        (None, _) => subject,
    };
    let why = match (lang, alert.reason) {
        (Language::Vi, Reason::First) => "đơn vị bắt đầu chậm so với tiến độ",
        (Language::Vi, Reason::Worsened) => "đơn vị chuyển sang mức chậm nghiêm trọng",
        (Language::Vi, Reason::Reminder) => "nhắc lại: đơn vị vẫn chậm tiến độ",
        (Language::Vi, Reason::SilenceEnded) => {
            "hết thời gian tạm dừng nhắc, đơn vị vẫn chậm tiến độ"
        }
        (Language::Vi, Reason::Recovered) => "đơn vị đã trở lại đúng tiến độ",
        (Language::En, Reason::First) => "the unit has fallen behind",
        (Language::En, Reason::Worsened) => "the unit is now critically behind",
        (Language::En, Reason::Reminder) => "reminder: the unit is still behind",
        (Language::En, Reason::SilenceEnded) => "a silence has ended and the unit is still behind",
        (Language::En, Reason::Recovered) => "the unit is back on track",
        (Language::Vi, Reason::AtRisk) => {
            "đơn vị đang đạt tiến độ nhưng dự báo không đạt mục tiêu cuối năm nếu giữ nhịp độ hiện nay"
        }
        (Language::En, Reason::AtRisk) => {
            "the unit is on track today but projected to miss a year-end target at its current pace"
        }
        (_, Reason::Silenced | Reason::Unchanged | Reason::Held) => "",
    };
    let escalation = alert.escalation.as_ref().map(|e| {
        // "30/06/2026 (đạt 38,5%, mục tiêu 50,0%); …": each milestone missed in a row.
        let missed: Vec<String> = e
            .missed
            .iter()
            .map(|m| {
                let (rate, target) = (format_pct(m.rate_pct, lang), format_pct(m.target_pct, lang));
                match lang {
                    Language::Vi => format!("{} (đạt {rate}, mục tiêu {target})", format_date(m.date)),
                    Language::En => format!("{} ({rate} against {target})", format_date(m.date)),
                }
            })
            .collect();
        match (lang, missed.is_empty()) {
            (Language::Vi, false) => format!(
                "Thư này được gửi đồng thời đến cấp trên vì đơn vị không đạt {} mốc tiến độ liên tiếp: {}.",
                missed.len(),
                missed.join("; ")
            ),
            (Language::En, false) => format!(
                "This alert is escalated: the unit missed {} milestones in a row: {}.",
                missed.len(),
                missed.join("; ")
            ),
            (Language::Vi, true) => format!(
                "Thư này được gửi đồng thời đến cấp trên vì đơn vị chậm tiến độ từ ngày {} và đã được nhắc {} lần.",
                format_date(e.since),
                e.alerts_before
            ),
            (Language::En, true) => format!(
                "This alert is escalated: the unit has been behind since {} and has been alerted {} times.",
                format_date(e.since),
                e.alerts_before
            ),
        }
    });
    let n = ctx.ranked;
    let average = format_pct_opt(ctx.rates.average_pct, lang);
    let below = match (lang, u.below_average) {
        (Language::Vi, true) => " (đơn vị thấp hơn bình quân)",
        (Language::En, true) => " (the unit is below the average)",
        _ => "",
    };
    let rows: Vec<(&str, String)> = vec![
        (
            w.plan,
            format!("{} {}", format_billion(u.plan, lang), w.billion),
        ),
        (
            w.disbursed,
            format!("{} {}", format_billion(u.disbursed, lang), w.billion),
        ),
        (w.rate, rate.clone()),
        (w.expected, expected.clone()),
        (w.gap, format!("{} {}", points(u.gap_pct, lang), w.points)),
        (
            w.shortfall,
            format!("{} {}", format_billion(u.shortfall, lang), w.billion),
        ),
        (
            w.rank,
            format!(
                "{}/{n} {}",
                u.rank.map(|r| r.to_string()).unwrap_or_else(|| "–".into()),
                w.units
            ),
        ),
        (w.average, format!("{average}{below}")),
        (w.status, status_label(u.status, lang).to_string()),
        (w.reason, why.to_string()),
    ];
    // "Dự báo theo tiến độ hiện nay: …", a sentence under the table (too long for a cell).
    let projection = u.projection.as_ref().map(|p| {
        let mut text = format!(
            "{} {}",
            w.projection,
            projection_text(p, ctx.plan_year, lang)
        );
        text.push_str(match (p.at_risk, lang) {
            (true, Language::Vi) => "; đơn vị có nguy cơ không đạt mục tiêu cuối năm.",
            (true, Language::En) => "; the unit is at risk of missing the year-end target.",
            (false, _) => ".",
        });
        text
    });
    let (greeting, intro, next, ask, footer) = match lang {
        Language::Vi => (
            format!("Kính gửi: {}", u.unit_name),
            format!(
                "Theo số liệu đến ngày {as_of}, tình hình giải ngân kế hoạch vốn đầu tư công năm {} của đơn vị như sau:",
                ctx.plan_year
            ),
            ctx.next_milestone.map(|(d, p)| {
                format!("Mốc tiếp theo: giải ngân {} kế hoạch vốn đến ngày {}.", format_pct(p, lang), format_date(d))
            }),
            "Đề nghị đơn vị khẩn trương rà soát nguyên nhân, có giải pháp đẩy nhanh tiến độ giải ngân và báo cáo kết quả thực hiện.".to_string(),
            format!("Thư này được gửi tự động bởi hệ thống giám sát giải ngân (disbmon, công việc `{}`). Đơn vị mã {}.", ctx.job, u.unit_id),
        ),
        Language::En => (
            format!("To: {}", u.unit_name),
            format!("Public-investment disbursement of the {} capital plan as of {as_of}:", ctx.plan_year),
            ctx.next_milestone
                .map(|(d, p)| format!("Next milestone: {} of the plan by {}.", format_pct(p, lang), format_date(d))),
            "Please review the causes, take measures to speed up disbursement and report on the results.".to_string(),
            format!("Sent automatically by the disbursement monitor (disbmon, job `{}`). Unit id {}.", ctx.job, u.unit_id),
        ),
    };
    let ask = if recovered {
        match lang {
            Language::Vi => {
                "Cảm ơn đơn vị; đề nghị tiếp tục duy trì tiến độ giải ngân.".to_string()
            }
            Language::En => "Thank you; please keep up the pace of disbursement.".to_string(),
        }
    } else {
        ask
    };
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let detail = ctx.details.get(&u.unit_id);
    // What changed since the previous run of the year: "+12,500 tỷ đồng so với ngày 24/10/2026".
    let change = detail.and_then(|d| d.previous).map(|(day, before)| {
        let delta = signed_billion(u.disbursed.saturating_sub(before), lang);
        match lang {
            Language::Vi => format!(
                "Giải ngân so với ngày {} (lần tổng hợp trước): {delta} {}.",
                format_date(day),
                w.billion
            ),
            Language::En => format!(
                "Disbursed since {} (the previous run): {delta} {}.",
                format_date(day),
                w.billion
            ),
        }
    });
    let sources = detail
        .filter(|d| !d.denominators.is_empty())
        .map(|d| denominators_table(&d.denominators, lang));
    let projects = detail
        .filter(|d| !d.projects.is_empty())
        .map(|d| projects_table(&d.projects, lang));
    let mut inline = Vec::new();
    let chart = match (ctx.charts, detail) {
        (true, Some(d)) => match crate::chart::figures::curve_chart(d, lang) {
            Ok(png) => {
                inline.push(Inline {
                    cid: CHART_CID.into(),
                    content_type: "image/png",
                    bytes: png,
                });
                Some(views::Chart {
                    cid: CHART_CID.into(),
                    alt: match lang {
                        Language::Vi => format!(
                            "Biểu đồ: tỷ lệ giải ngân lũy kế của đơn vị ({rate}) so với các mốc tiến độ (mức cần đạt {expected} đến {as_of})"
                        ),
                        Language::En => format!(
                            "Chart: the unit's cumulative disbursement rate ({rate}) against the milestones (expected {expected} by {as_of})"
                        ),
                    },
                })
            }
            Err(e) => {
                // The alert goes out without its picture rather than not at all.
                tracing::warn!(unit = %u.unit_id, "the alert's chart could not be drawn: {e}");
                None
            }
        },
        _ => None,
    };
    let view = views::Alert {
        lang: lang.code(),
        subject: subject.clone(),
        greeting,
        intro,
        rows: rows
            .iter()
            .map(|(k, v)| views::Row {
                label: k.to_string(),
                padded: format!("{k}{}", " ".repeat(width - k.chars().count())),
                value: v.clone(),
            })
            .collect(),
        change,
        projection,
        next,
        sources,
        projects,
        chart,
        escalation,
        answer: ctx
            .answers
            .and_then(|a| a.get(&u.unit_id))
            .and_then(|a| answer_section(a, u.disbursed, (ctx.as_of, ctx.zone), lang)),
        answer_link: match (ctx.links, recovered) {
            (Some((signer, zone)), false) => Some(answer_link(ctx, signer, zone, u, alert.reason)),
            _ => None,
        },
        ask,
        footer,
    };
    let mut cc = alert.cc.clone();
    if let Some(e) = &alert.escalation {
        cc.extend(e.to.iter().cloned());
    }
    Email {
        to: alert.to.clone(),
        cc,
        subject,
        text: ctx.templates.render("alert.txt", &view),
        html: ctx.templates.render("alert.html", &view),
        attachments: Vec::new(),
        inline,
    }
}

/// The signed link an alert carries, valid until the end of the next milestone's day after the
/// as-of date (the close of the plan year after the last one).
fn answer_link(
    ctx: &Context,
    signer: &crate::answers::Signer,
    zone: chrono_tz::Tz,
    u: &UnitRate,
    reason: Reason,
) -> views::AnswerLink {
    use chrono::TimeZone;
    let lang = ctx.language;
    let until = ctx
        .milestones_after
        .unwrap_or_else(|| crate::rule::window_end(ctx.plan_year));
    let expires = (until + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .and_then(|t| zone.from_local_datetime(&t).earliest())
        .map(|t| t.timestamp())
        // A day with no midnight in the zone: the end of it in UTC.
        .unwrap_or_else(|| {
            (until + chrono::Days::new(1))
                .and_time(chrono::NaiveTime::MIN)
                .and_utc()
                .timestamp()
        });
    let link = crate::answers::Link {
        job: ctx.job.to_string(),
        unit: u.unit_id.clone(),
        plan_year: ctx.plan_year,
        id: crate::answers::link_id(
            ctx.job,
            &u.unit_id,
            ctx.plan_year,
            ctx.as_of,
            reason.as_str(),
        ),
        expires,
    };
    views::AnswerLink {
        url: signer.url(&link),
        text: match lang {
            Language::Vi => {
                "Đề nghị đơn vị giải trình nguyên nhân và đăng ký cam kết giải ngân tại:".into()
            }
            Language::En => "Please give the causes and your commitments at:".into(),
        },
        expires: match lang {
            Language::Vi => format!(
                "(đường dẫn dành riêng cho đơn vị, dùng được một lần, đến hết ngày {})",
                format_date(until)
            ),
            Language::En => format!(
                "(a link for this unit only, usable once, until the end of {})",
                format_date(until)
            ),
        },
    }
}

/// The unit's slowest projects: project, plan, disbursed, rate.
fn projects_table(projects: &[(String, i64, i64)], lang: Language) -> views::Table {
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
fn denominators_table(denominators: &[(String, i64, i64)], lang: Language) -> views::Table {
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
fn plan_table(
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
                points(u.gap_pct, lang),
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

/// "78,0 % đến 31/12/2026 (72,5–81,0 %), 88,0 % đến 31/01/2027 (…)": a unit's projection.
pub fn projection_text(
    p: &crate::projection::Projection,
    plan_year: PlanYear,
    lang: Language,
) -> String {
    let range = |r: crate::projection::Range| match (r.high - r.low).abs() < 0.05 {
        true => format_pct(r.mid, lang),
        false => format!(
            "{} ({}–{})",
            format_pct(r.mid, lang),
            crate::money::format_number(r.low, 1, lang),
            format_pct(r.high, lang)
        ),
    };
    let dec31 = NaiveDate::from_ymd_opt(plan_year, 12, 31)
        .map(format_date)
        .unwrap_or_default();
    let close = format_date(crate::rule::window_end(plan_year));
    let years: Vec<String> = p.years.iter().map(|y| y.to_string()).collect();
    let basis = match (p.basis, lang) {
        (crate::projection::Basis::Unit, Language::Vi) => "của đơn vị",
        (crate::projection::Basis::Group, Language::Vi) => "của nhóm đơn vị",
        (crate::projection::Basis::Job, Language::Vi) => "của toàn bộ các đơn vị",
        (crate::projection::Basis::Unit, Language::En) => "the unit's own",
        (crate::projection::Basis::Group, Language::En) => "its peer group's",
        (crate::projection::Basis::Job, Language::En) => "all units'",
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
fn projection_summary(ctx: &Context) -> Option<String> {
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
    let weighted = |f: &dyn Fn(&crate::projection::Projection) -> f64| {
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
    let day = |d: Option<NaiveDate>| d.map(format_date).unwrap_or_default();
    let dec = day(NaiveDate::from_ymd_opt(ctx.plan_year, 12, 31));
    let close = format_date(crate::rule::window_end(ctx.plan_year));
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

/// The reallocation proposal as the digest shows it: who could release, who could absorb, and
/// the totals, balanced.
fn reallocation_view(p: &crate::reallocation::Proposal, lang: Language) -> views::Reallocation {
    let bn = |d: i64| format_billion(d, lang);
    let (title, note, release_header, absorb_header) = match lang {
        Language::Vi => (
            "Đề xuất điều chuyển vốn (dự thảo để lãnh đạo xem xét, quyết định)",
            "Đề xuất tự động dựa trên dự báo theo tiến độ hiện nay; chỉ mang tính tham khảo, việc điều chuyển do cấp có thẩm quyền quyết định.",
            ["Đơn vị có thể điều chuyển vốn", "Kế hoạch (tỷ đồng)", "Dự báo 31/1", "Có thể điều chuyển (tỷ đồng)", "Chi tiết"],
            ["Đơn vị có thể tiếp nhận vốn", "Kế hoạch (tỷ đồng)", "Nhu cầu (tỷ đồng)", "Dự báo 31/12", "Có thể tiếp nhận (tỷ đồng)"],
        ),
        Language::En => (
            "Reallocation proposal (a draft for the leadership to decide)",
            "Proposed automatically from the projection on current pace; advisory only: the competent authority decides any transfer.",
            ["Unit that could release", "Plan (bn VND)", "Projected 31/1", "Releasable (bn VND)", "Detail"],
            ["Unit that could absorb", "Plan (bn VND)", "Need (bn VND)", "Projected 31/12", "Absorbable (bn VND)"],
        ),
    };
    let detail = |r: &crate::reallocation::Release| {
        let mut parts: Vec<String> = r
            .by_source
            .iter()
            .map(|(s, a)| format!("{s}: {}", bn(*a)))
            .collect();
        parts.extend(
            r.projects
                .iter()
                .take(3)
                .map(|(project, _, a)| format!("{project}: {}", bn(*a))),
        );
        parts.join("; ")
    };
    let mut release_rows: Vec<Vec<String>> = p
        .releases
        .iter()
        .map(|r| {
            vec![
                r.unit_name.clone(),
                bn(r.plan),
                format_pct(r.projected_pct, lang),
                bn(r.amount),
                detail(r),
            ]
        })
        .collect();
    let total = match lang {
        Language::Vi => "Tổng cộng",
        Language::En => "Total",
    };
    release_rows.push(vec![
        total.into(),
        String::new(),
        String::new(),
        bn(p.releasable),
        String::new(),
    ]);
    let mut absorb_rows: Vec<Vec<String>> = p
        .absorbs
        .iter()
        .map(|a| {
            vec![
                a.unit_name.clone(),
                bn(a.plan),
                bn(a.need),
                format_pct(a.projected_pct, lang),
                bn(a.amount),
            ]
        })
        .collect();
    absorb_rows.push(vec![
        total.into(),
        String::new(),
        String::new(),
        String::new(),
        bn(p.absorbable),
    ]);
    let table = |header: [&str; 5], mut rows: Vec<Vec<String>>, mut right: Vec<bool>| {
        let mut header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
        // A detail column with nothing in it (no capital sources, no projects) is left out.
        if !right[4] && rows.iter().all(|r| r[4].is_empty()) {
            header.pop();
            right.pop();
            rows.iter_mut().for_each(|r| {
                r.pop();
            });
        }
        let text = text_table(&header, &rows, &right, &PIPES);
        views::Table {
            colours: vec![String::new(); rows.len()],
            header,
            rows,
            right,
            text,
        }
    };
    let balance = match lang {
        Language::Vi => vec![
            format!("Có thể điều chuyển: {} tỷ đồng; có thể tiếp nhận: {} tỷ đồng.", bn(p.releasable), bn(p.absorbable)),
            format!("Đề xuất điều chuyển: {} tỷ đồng; còn {} tỷ đồng chưa có đơn vị tiếp nhận; nhu cầu còn thiếu {} tỷ đồng.", bn(p.movable), bn(p.unplaced), bn(p.unmet)),
        ],
        Language::En => vec![
            format!("Releasable: {} bn VND; absorbable: {} bn VND.", bn(p.releasable), bn(p.absorbable)),
            format!("Proposed to move: {} bn VND; {} bn VND releasable with no unit to take it; need left unmet: {} bn VND.", bn(p.movable), bn(p.unplaced), bn(p.unmet)),
        ],
    };
    views::Reallocation {
        title: title.into(),
        note: note.into(),
        release: table(
            release_header,
            release_rows,
            vec![false, true, true, true, false],
        ),
        absorb: table(
            absorb_header,
            absorb_rows,
            vec![false, true, true, true, true],
        ),
        balance,
    }
}

/// The digest for the finance department: counts, the ranked table, who was told, who could not
/// be, and every data issue.
pub fn digest(
    ctx: &Context,
    to: &[Mailbox],
    queued: usize,
    failed: &[Delivered],
    unreachable: &[UnitRate],
    issues: &[DataIssue],
    attachment: Option<&str>,
) -> Email {
    let lang = ctx.language;
    let w = words(lang);
    let units = &ctx.rates.units;
    let count = |s: Status| units.iter().filter(|u| u.status == s).count();
    let (critical, behind) = (count(Status::Critical), count(Status::Behind));
    // "0 %" is two different things: nothing allocated yet, or allocated and nothing paid.
    let no_plan = count(Status::NoPlan);
    let nothing_paid = units.iter().filter(|u| u.nothing_paid).count();
    let compared = units
        .iter()
        .filter(|u| u.rate_last_year.is_some() && u.rate_pct.is_some())
        .count();
    let worse = units.iter().filter(|u| u.worse_than_last_year).count();
    let ranked = ctx.ranked;
    let below = units.iter().filter(|u| u.below_average).count();
    let above = units
        .iter()
        .filter(|u| u.rank.is_some() && !u.below_average)
        .count();
    let average = format_pct_opt(ctx.rates.average_pct, lang);
    let expected = format_pct(ctx.rates.expected_pct, lang);
    let as_of = format_date(ctx.as_of);
    let total_plan: i64 = units.iter().map(|u| u.plan).sum();
    let total_paid: i64 = units.iter().map(|u| u.disbursed).sum();

    let (subject, summary) = match lang {
        Language::Vi => (
            format!(
                "[{} {}] Tổng hợp đến ngày {as_of}: {}/{} đơn vị chậm tiến độ, bình quân {average}",
                w.tag,
                ctx.plan_year,
                behind + critical,
                ranked
            ),
            vec![
                format!("Tình hình giải ngân kế hoạch vốn đầu tư công năm {} đến ngày {as_of} (công việc `{}`).", ctx.plan_year, ctx.job),
                format!(
                    "Tổng kế hoạch vốn {} tỷ đồng, đã giải ngân {} tỷ đồng, đạt {average}; mức cần đạt theo tiến độ: {expected}.",
                    format_billion(total_plan, lang),
                    format_billion(total_paid, lang)
                ),
                format!("Có {above}/{ranked} đơn vị đạt tỷ lệ bằng hoặc cao hơn mức bình quân {average}; {below} đơn vị thấp hơn bình quân."),
                format!("Chậm tiến độ: {behind} đơn vị; chậm nghiêm trọng: {critical} đơn vị."),
                format!("Chưa được giao vốn: {no_plan} đơn vị; đã có kế hoạch nhưng chưa giải ngân: {nothing_paid} đơn vị."),
                if compared > 0 {
                    format!("So với cùng kỳ năm trước: {worse}/{compared} đơn vị có tỷ lệ giải ngân thấp hơn.")
                } else {
                    String::new()
                },
                ctx.rates
                    .groups
                    .iter()
                    .map(|g| format!("Nhóm {}: {}/{} đơn vị đạt hoặc vượt mức bình quân {} của nhóm.", g.group, g.at_or_above_average, g.units, format_pct_opt(g.average_pct, lang)))
                    .collect::<Vec<_>>()
                    .join("\n"),
                format!("Thư gửi các đơn vị trong lần này: {queued}; thư không gửi được kể từ lần tổng hợp trước: {}.", failed.len()),
            ],
        ),
        Language::En => (
            format!(
                "[{} {}] Summary as of {as_of}: {} of {} units behind, average {average}",
                w.tag,
                ctx.plan_year,
                behind + critical,
                ranked
            ),
            vec![
                format!("Public-investment disbursement of the {} plan as of {as_of} (job `{}`).", ctx.plan_year, ctx.job),
                format!(
                    "Total plan {} billion VND, disbursed {} billion VND, {average}; expected by this date: {expected}.",
                    format_billion(total_plan, lang),
                    format_billion(total_paid, lang)
                ),
                format!("{above} of {ranked} units are at or above the average of {average}; {below} are below it."),
                format!("Behind: {behind} units; critical: {critical} units."),
                format!("Nothing allocated: {no_plan} units; a plan but nothing paid: {nothing_paid} units."),
                if compared > 0 {
                    format!("Year on year: {worse} of {compared} units are below their own rate a year earlier.")
                } else {
                    String::new()
                },
                ctx.rates
                    .groups
                    .iter()
                    .map(|g| format!("Group {}: {} of {} units at or above the group average of {}.", g.group, g.at_or_above_average, g.units, format_pct_opt(g.average_pct, lang)))
                    .collect::<Vec<_>>()
                    .join("\n"),
                format!("Messages to units in this run: {queued}; messages that could not be delivered since the last summary: {}.", failed.len()),
            ],
        ),
    };
    let mut summary: Vec<String> = summary.into_iter().filter(|l| !l.is_empty()).collect();
    // After the counts, before who was told.
    if let Some(line) = projection_summary(ctx) {
        let at = summary.len().saturating_sub(1);
        summary.insert(at, line);
    }
    let (header, rows, right) = ranked_rows(units, lang);
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    if !failed.is_empty() {
        let title = match lang {
            Language::Vi => "Thư không gửi được (máy chủ thư từ chối)",
            Language::En => "Messages that could not be delivered (refused by the mail server)",
        };
        sections.push((
            title.into(),
            failed
                .iter()
                .map(|d| {
                    format!(
                        "{} ({}): {}",
                        d.unit_name,
                        d.unit_id,
                        d.error.unwrap_or_default()
                    )
                })
                .collect(),
        ));
    }
    if !unreachable.is_empty() {
        let title = match lang {
            Language::Vi => {
                "Đơn vị chậm tiến độ nhưng chưa có địa chỉ email (chưa được gửi cảnh báo)"
            }
            Language::En => "Units behind without an email address (not alerted)",
        };
        sections.push((
            title.into(),
            unreachable
                .iter()
                .map(|u| {
                    format!(
                        "{} ({}): {}, {}",
                        u.unit_name,
                        u.unit_id,
                        format_pct_opt(u.rate_pct, lang),
                        status_label(u.status, lang)
                    )
                })
                .collect(),
        ));
    }
    if !issues.is_empty() {
        let title = match lang {
            Language::Vi => "Vấn đề về dữ liệu (các dòng này không được tính)",
            Language::En => "Data issues (these rows were left out)",
        };
        sections.push((title.into(), issues.iter().map(|i| i.to_string()).collect()));
    }

    let mut inline = Vec::new();
    let chart = ctx.charts.then(|| digest_chart(ctx)).flatten().map(|png| {
        inline.push(Inline {
            cid: CHART_CID.into(),
            content_type: "image/png",
            bytes: png,
        });
        views::Chart {
            cid: CHART_CID.into(),
            alt: match lang {
                Language::Vi => format!("Biểu đồ: các đơn vị xếp theo tỷ lệ giải ngân đến {as_of}; mức cần đạt {expected}, bình quân {average}"),
                Language::En => format!("Chart: units ranked by disbursement rate as of {as_of}; expected {expected}, average {average}"),
            },
        }
    });
    let colours = units
        .iter()
        .map(|u| match u.status {
            Status::Critical => "#f4c7c3",
            Status::Behind => "#fce8b2",
            Status::OnTrack => "#e2f3e8",
            Status::NoPlan => "",
        })
        .map(str::to_string)
        .collect();
    let view = views::Digest {
        lang: lang.code(),
        subject: subject.clone(),
        summary,
        chart,
        table: views::Table {
            text: text_table(&header, &rows, &right, &PIPES),
            header,
            rows,
            right,
            colours,
        },
        sections: sections
            .into_iter()
            .map(|(title, lines)| views::Section { title, lines })
            .collect(),
        reallocation: ctx.reallocation.map(|p| reallocation_view(p, lang)),
        answers: answers_summary(ctx),
        attachment: attachment.map(str::to_string),
    };
    Email {
        to: to.to_vec(),
        cc: Vec::new(),
        subject,
        text: ctx.templates.render("digest.txt", &view),
        html: ctx.templates.render("digest.html", &view),
        attachments: Vec::new(),
        inline,
    }
}

/// The digest's ranking chart: the units with a plan, best first (the lowest 30 and the counts
/// when there are many). None when it cannot be drawn: the digest goes out without it.
fn digest_chart(ctx: &Context) -> Option<Vec<u8>> {
    let ranked: Vec<(String, Option<f64>, Status)> = ctx
        .rates
        .units
        .iter()
        .filter(|u| u.rank.is_some())
        .map(|u| (u.unit_name.clone(), u.rate_pct, u.status))
        .collect();
    let drawn = crate::chart::figures::ranking_chart(
        &ranked,
        Some(ctx.rates.expected_pct),
        ctx.rates.average_pct,
        ctx.language,
    );
    drawn
        .map_err(|e| tracing::warn!("the digest's chart could not be drawn: {e}"))
        .ok()
}

/// A notice to the operators (a failed run, a silent job): plain facts, in English.
pub fn operator_notice(
    templates: &Templates,
    lang: Language,
    to: &[Mailbox],
    subject: &str,
    lines: &[String],
) -> Email {
    let view = views::Notice {
        lang: lang.code(),
        subject: subject.to_string(),
        lines: lines.to_vec(),
    };
    Email {
        to: to.to_vec(),
        cc: Vec::new(),
        subject: subject.to_string(),
        text: templates.render("notice.txt", &view),
        html: templates.render("notice.html", &view),
        attachments: Vec::new(),
        inline: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> Rates {
        let unit = |id: &str, name: &str, plan, paid, rate: f64, rank, status| UnitRate {
            unit_id: id.into(),
            unit_name: name.into(),
            plan,
            disbursed: paid,
            rate_pct: Some(rate),
            expected_pct: 71.79,
            gap_pct: Some(71.79 - rate),
            shortfall: 0,
            rank: Some(rank),
            below_average: rate < 50.0,
            status,
            nothing_paid: false,
            plan_changed_on: None,
            group: None,
            group_rank: None,
            group_average_pct: None,
            below_group_average: false,
            rate_last_year: None,
            worse_than_last_year: false,
            other_rates: Default::default(),
            projection: None,
            missed_milestones: Vec::new(),
        };
        Rates {
            expected_pct: 71.79,
            average_pct: Some(50.0),
            units: vec![
                unit(
                    "A",
                    "Sở Xây dựng",
                    1_000_000_000_000,
                    800_000_000_000,
                    80.0,
                    1,
                    Status::OnTrack,
                ),
                unit(
                    "B",
                    "Ban QLDA <Giao thông> & \"Dân dụng\"",
                    1_000_000_000_000,
                    365_000_000_000,
                    36.5,
                    2,
                    Status::Critical,
                ),
            ],
            groups: vec![],
            rollups: vec![],
        }
    }

    static NO_DETAILS: std::collections::BTreeMap<String, crate::ledger::UnitDetail> =
        std::collections::BTreeMap::new();
    static EMBEDDED: std::sync::LazyLock<Templates> = std::sync::LazyLock::new(Templates::embedded);

    fn ctx(r: &Rates, lang: Language) -> Context<'_> {
        Context {
            job: "weekly",
            language: lang,
            as_of: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
            plan_year: 2026,
            ranked: r.ranked(),
            rates: r,
            next_milestone: Some((NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(), 95.0)),
            details: &NO_DETAILS,
            charts: false,
            templates: &EMBEDDED,
            reallocation: None,
            zone: chrono_tz::Asia::Ho_Chi_Minh,
            milestones_after: NaiveDate::from_ymd_opt(2026, 12, 31),
            answers: None,
            links: None,
        }
    }

    #[test]
    fn a_vietnamese_alert_names_the_unit_rate_and_milestone() {
        let r = rates();
        let alert = Alert {
            unit: r.units[1].clone(),
            to: vec!["b@x.vn".parse().unwrap()],
            cc: vec![],
            reason: Reason::First,
            escalation: None,
        };
        let e = unit_alert(&ctx(&r, Language::Vi), &alert);
        assert_eq!(
            e.subject,
            "[Giải ngân 2026] Ban QLDA <Giao thông> & \"Dân dụng\": đạt 36,5%, chậm nghiêm trọng so với mức cần đạt 71,8% (đến 31/10/2026)"
        );
        for want in [
            "1.000,000 tỷ đồng",
            "365,000 tỷ đồng",
            "2/2 đơn vị",
            "50,0% (đơn vị thấp hơn bình quân)",
            "31/10/2026",
            "−35,3 điểm phần trăm",
            "95,0% kế hoạch vốn đến ngày 31/12/2026",
        ] {
            assert!(e.text.contains(want), "missing {want:?} in\n{}", e.text);
        }
        assert!(
            e.html
                .contains("Ban QLDA &lt;Giao thông&gt; &amp; &quot;Dân dụng&quot;"),
            "{}",
            e.html
        );
        assert!(!e.html.contains("<Giao"));
        assert!(e.text.contains("Lý do gửi thư"), "{}", e.text);

        // Escalated: the subject says so, the escalation recipients are copied, the body says since when.
        let escalated = Alert {
            escalation: Some(crate::decide::Escalation {
                to: vec!["parent@x.vn".parse().unwrap()],
                since: NaiveDate::from_ymd_opt(2026, 9, 7).unwrap(),
                alerts_before: 3,
                missed: Vec::new(),
            }),
            reason: Reason::Reminder,
            ..alert.clone()
        };
        let e = unit_alert(&ctx(&r, Language::Vi), &escalated);
        assert!(
            e.subject
                .starts_with("[Giải ngân 2026][Báo cáo cấp trên] Ban QLDA"),
            "{}",
            e.subject
        );
        assert_eq!(e.cc[0].email.to_string(), "parent@x.vn");
        assert!(
            e.text
                .contains("chậm tiến độ từ ngày 07/09/2026 và đã được nhắc 3 lần"),
            "{}",
            e.text
        );
        assert!(
            e.text.contains("nhắc lại: đơn vị vẫn chậm tiến độ"),
            "{}",
            e.text
        );

        // Back on track.
        let back = Alert {
            reason: Reason::Recovered,
            ..alert
        };
        let e = unit_alert(&ctx(&r, Language::Vi), &back);
        assert!(
            e.subject.contains(": đã đạt tiến độ, tỷ lệ 36,5%"),
            "{}",
            e.subject
        );
    }

    #[test]
    fn an_english_digest_has_counts_table_and_issues() {
        let r = rates();
        let issues = vec![DataIssue {
            source: crate::ledger::SourceRole::Plans,
            sheet: None,
            row: Some(12),
            column: Some("Kế hoạch".into()),
            value: Some("1,2,3".into()),
            problem: "bad <number>".into(),
        }];
        let e = digest(
            &ctx(&r, Language::En),
            &["boss@x.vn".parse().unwrap()],
            1,
            &[],
            &[],
            &issues,
            None,
        );
        assert_eq!(
            e.subject,
            "[Disbursement 2026] Summary as of 31/10/2026: 1 of 2 units behind, average 50.0%"
        );
        assert!(
            e.text
                .contains("1 of 2 units are at or above the average of 50.0%"),
            "{}",
            e.text
        );
        assert!(
            e.text
                .contains("plans: row 12: column `Kế hoạch`: value `1,2,3`: bad <number>"),
            "{}",
            e.text
        );
        assert!(e.html.contains("bad &lt;number&gt;"));
        assert!(e.text.contains("No. | Unit"), "{}", e.text);
    }

    /// Details as a run of a job with two capital sources, measured once before, gives them.
    fn details(r: &Rates) -> std::collections::BTreeMap<String, crate::ledger::UnitDetail> {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        r.units
            .iter()
            .map(|u| {
                let detail = crate::ledger::UnitDetail {
                    unit: u.unit_id.clone(),
                    name: u.unit_name.clone(),
                    plan_year: 2026,
                    as_of: d(2026, 10, 31),
                    plan: u.plan,
                    curve: vec![
                        (d(2026, 6, 30), u.disbursed / 2),
                        (d(2026, 10, 31), u.disbursed),
                    ],
                    last_year_plan: None,
                    last_year_curve: vec![],
                    milestones: vec![(d(2026, 6, 30), 50.0), (d(2026, 12, 31), 95.0)],
                    denominators: vec![
                        ("capital_source:NSDP".into(), u.plan / 4, u.disbursed / 5),
                        (
                            "capital_source:NSTW".into(),
                            u.plan - u.plan / 4,
                            u.disbursed - u.disbursed / 5,
                        ),
                    ],
                    previous: Some((d(2026, 10, 24), u.disbursed - 12_500_000_000)),
                    projects: vec![
                        ("DA-07 Đường Mường La – Ít Ong".into(), u.plan / 10, 0),
                        (
                            "DA-02 Trường THCS <Chiềng Sinh>".into(),
                            u.plan / 5,
                            u.plan / 50,
                        ),
                    ],
                    projection: None,
                };
                (u.unit_id.clone(), detail)
            })
            .collect()
    }

    fn snapshot_ctx<'a>(
        r: &'a Rates,
        details: &'a std::collections::BTreeMap<String, crate::ledger::UnitDetail>,
        lang: Language,
    ) -> Context<'a> {
        Context {
            details,
            ..ctx(r, lang)
        }
    }

    fn behind_alert(r: &Rates) -> Alert {
        Alert {
            unit: r.units[1].clone(),
            to: vec!["b@x.vn".parse().unwrap()],
            cc: vec![],
            reason: Reason::First,
            escalation: None,
        }
    }

    #[test]
    fn alert_snapshots() {
        let r = rates();
        let details = details(&r);
        for lang in [Language::Vi, Language::En] {
            let e = unit_alert(&snapshot_ctx(&r, &details, lang), &behind_alert(&r));
            insta::assert_snapshot!(format!("alert_{}_text", lang.code()), e.text);
            insta::assert_snapshot!(format!("alert_{}_html", lang.code()), e.html);
        }
    }

    #[test]
    fn digest_snapshots() {
        let r = rates();
        let details = details(&r);
        for lang in [Language::Vi, Language::En] {
            let e = digest(
                &snapshot_ctx(&r, &details, lang),
                &["boss@x.vn".parse().unwrap()],
                1,
                &[],
                &[],
                &[],
                Some("giai-ngan-2026-den-31-10-2026.xlsx"),
            );
            insta::assert_snapshot!(format!("digest_{}_text", lang.code()), e.text);
            insta::assert_snapshot!(format!("digest_{}_html", lang.code()), e.html);
        }
    }

    #[test]
    fn notice_snapshots() {
        let to = ["ops@x.vn".parse().unwrap()];
        let lines = vec![
            "Lần chạy công việc `weekly` theo lịch lúc 2026-11-02 08:00:00 +07 không thành công sau 3 lần thử.".to_string(),
            "Lý do:".to_string(),
            "  plans: <https://x.vn/kh.csv> answered HTTP 500".to_string(),
        ];
        let e = operator_notice(
            &EMBEDDED,
            Language::Vi,
            &to,
            "[disbmon] công việc weekly không chạy được",
            &lines,
        );
        insta::assert_snapshot!("notice_vi_text", e.text);
        insta::assert_snapshot!("notice_vi_html", e.html);
        let e = operator_notice(
            &EMBEDDED,
            Language::En,
            &to,
            "[disbmon] job weekly failed",
            &["The run failed <after> 3 tries.".to_string()],
        );
        insta::assert_snapshot!("notice_en_text", e.text);
        insta::assert_snapshot!("notice_en_html", e.html);
    }

    #[test]
    fn the_alert_tells_the_change_since_the_previous_run_and_the_rates_by_capital_source() {
        let r = rates();
        let details = details(&r);
        let e = unit_alert(&snapshot_ctx(&r, &details, Language::Vi), &behind_alert(&r));
        assert!(
            e.text.contains(
                "Giải ngân so với ngày 24/10/2026 (lần tổng hợp trước): +12,500 tỷ đồng."
            ),
            "{}",
            e.text
        );
        assert!(e.text.contains("Nguồn vốn NSTW"), "{}", e.text);
        // NSDP: plan 250 bn, disbursed 73 bn.
        assert!(
            e.text.contains("250,000") && e.text.contains("73,000") && e.text.contains("29,2%"),
            "{}",
            e.text
        );
    }

    #[test]
    fn with_charts_the_alert_and_the_digest_carry_a_png_their_html_shows() {
        let r = rates();
        let details = details(&r);
        let ctx = Context {
            charts: true,
            ..snapshot_ctx(&r, &details, Language::Vi)
        };
        let alert = unit_alert(&ctx, &behind_alert(&r));
        let digest = digest(
            &ctx,
            &["boss@x.vn".parse().unwrap()],
            1,
            &[],
            &[],
            &[],
            None,
        );
        for e in [alert, digest] {
            assert_eq!(e.inline.len(), 1);
            let picture = &e.inline[0];
            assert!(picture.bytes.starts_with(b"\x89PNG"));
            assert!(
                e.html.contains(&format!("src=\"cid:{}\"", picture.cid)),
                "{}",
                e.html
            );
            assert!(e.html.contains("alt=\"Biểu đồ:"), "{}", e.html);
        }
    }
}
