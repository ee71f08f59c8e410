//! The alert a unit receives: its figures against the milestone, why it is told, its curve, its
//! projects and denominators, its last answer, and the link to answer this one.

use super::answers::answer_section;
use super::context::{Context, Email, Inline, CHART_CID};
use super::projection::projection_text;
use super::tables::{denominators_table, projects_table};
use super::words::{points, signed_billion, status_label, words};
use crate::domain::decide::{Alert, Escalation, Reason};
use crate::domain::ledger::UnitDetail;
use crate::domain::link::{link_id, Link, Signer};
use crate::domain::money::{format_billion, format_date, format_pct, format_pct_opt, Language};
use crate::domain::rates::{points_ahead, Projection, UnitRate};
use crate::domain::rule::{window_end, Status};
use crate::notify::templates::views;

/// The alert a unit that is behind receives (or, recovered, the note that it is back on track).
pub fn unit_alert(ctx: &Context, alert: &Alert) -> Email {
    let u = &alert.unit;
    let lang = ctx.language;
    let said = Said::of(ctx, u);
    let recovered = alert.reason == Reason::Recovered;
    let detail = ctx.details.get(&u.unit_id);
    let (greeting, intro, next, ask, footer) = letter(ctx, u, recovered);
    let mut inline = Vec::new();
    let chart = detail.and_then(|d| curve(ctx, d, &said, &mut inline));
    let subject = subject(ctx, alert, &said);
    let view = views::Alert {
        lang: lang.code(),
        subject: subject.clone(),
        greeting,
        intro,
        rows: figure_rows(ctx, alert, &said),
        change: detail.and_then(|d| change_since(d, u.disbursed, lang)),
        projection: u.projection.as_ref().map(|p| projection_line(p, ctx, lang)),
        next,
        sources: detail
            .filter(|d| !d.denominators.is_empty())
            .map(|d| denominators_table(&d.denominators, lang)),
        projects: detail
            .filter(|d| !d.projects.is_empty())
            .map(|d| projects_table(&d.projects, lang)),
        chart,
        escalation: alert.escalation.as_ref().map(|e| escalation_line(e, lang)),
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

/// The unit's figures as the alert writes them, in the job's language.
struct Said {
    as_of: String,
    rate: String,
    expected: String,
}

impl Said {
    fn of(ctx: &Context, u: &UnitRate) -> Said {
        Said {
            as_of: format_date(ctx.as_of),
            rate: format_pct_opt(u.rate_pct, ctx.language),
            expected: format_pct(u.expected_pct, ctx.language),
        }
    }
}

/// "[Giải ngân 2026] Sở Xây dựng: đạt 36,5%, chậm nghiêm trọng so với mức cần đạt 71,8% (đến
/// 31/10/2026)", worded for why it is sent, and marked when escalated.
fn subject(ctx: &Context, alert: &Alert, said: &Said) -> String {
    let u = &alert.unit;
    let lang = ctx.language;
    let w = words(lang);
    let Said {
        as_of,
        rate,
        expected,
    } = said;
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
    match (&alert.escalation, lang) {
        (Some(_), Language::Vi) => subject.replacen("] ", "][Báo cáo cấp trên] ", 1),
        (Some(_), Language::En) => subject.replacen("] ", "][Escalated] ", 1),
        (None, _) => subject,
    }
}

/// Why this email is sent, as its table's last row says it.
fn why(lang: Language, reason: Reason) -> &'static str {
    match (lang, reason) {
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
    }
}

/// "Thư này được gửi đồng thời đến cấp trên vì …": who else is told, and why.
fn escalation_line(e: &Escalation, lang: Language) -> String {
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
}

/// The table of the unit's figures: plan, disbursed, rate, expected, gap, shortfall, rank,
/// average, status and why it is told.
fn figure_rows(ctx: &Context, alert: &Alert, said: &Said) -> Vec<views::Row> {
    let u = &alert.unit;
    let lang = ctx.language;
    let w = words(lang);
    let Said { rate, expected, .. } = said;
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
        (
            w.gap,
            format!(
                "{} {}",
                points(points_ahead(u.rate_pct, u.expected_pct), lang),
                w.points
            ),
        ),
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
        (w.reason, why(lang, alert.reason).to_string()),
    ];
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(k, v)| views::Row {
            label: k.to_string(),
            padded: format!("{k}{}", " ".repeat(width - k.chars().count())),
            value: v.clone(),
        })
        .collect()
}

/// "Dự báo theo tiến độ hiện nay: …", a sentence under the table (too long for a cell).
fn projection_line(p: &Projection, ctx: &Context, lang: Language) -> String {
    let w = words(lang);
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
}

/// The greeting, the opening line, the next milestone, what the unit is asked, and the footer.
fn letter(
    ctx: &Context,
    u: &UnitRate,
    recovered: bool,
) -> (String, String, Option<String>, String, String) {
    let lang = ctx.language;
    let as_of = format_date(ctx.as_of);
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
    (greeting, intro, next, ask, footer)
}

/// What changed since the previous run of the year: "+12,500 tỷ đồng so với ngày 24/10/2026".
fn change_since(d: &UnitDetail, disbursed: i64, lang: Language) -> Option<String> {
    let w = words(lang);
    d.previous.map(|(day, before)| {
        let delta = signed_billion(disbursed.saturating_sub(before), lang);
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
    })
}

/// The unit's curve against its milestones, as a picture the HTML part shows (`cid:`); none
/// without charts, or when it cannot be drawn (the alert goes out without it).
fn curve(
    ctx: &Context,
    d: &UnitDetail,
    said: &Said,
    inline: &mut Vec<Inline>,
) -> Option<views::Chart> {
    let lang = ctx.language;
    let Said {
        as_of,
        rate,
        expected,
    } = said;
    if !ctx.charts {
        return None;
    }
    match crate::notify::chart::figures::curve_chart(d, lang) {
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
            tracing::warn!(unit = %d.unit, "the alert's chart could not be drawn: {e}");
            None
        }
    }
}

/// The signed link an alert carries, valid until the end of the next milestone's day after the
/// as-of date (the close of the plan year after the last one).
pub(super) fn answer_link(
    ctx: &Context,
    signer: &Signer,
    zone: chrono_tz::Tz,
    u: &UnitRate,
    reason: Reason,
) -> views::AnswerLink {
    use chrono::TimeZone;
    let lang = ctx.language;
    let until = ctx
        .milestones_after
        .unwrap_or_else(|| window_end(ctx.plan_year));
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
    let link = Link {
        job: ctx.job.to_string(),
        unit: u.unit_id.clone(),
        plan_year: ctx.plan_year,
        id: link_id(
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
