//! Units' answers in the emails: the last answer and how each commitment stands, in the unit's
//! next alert; how many units behind answered and which commitments fall due, in the digest.

use super::context::Context;
use crate::domain::answer::{commitment_line, Answer};
use crate::domain::money::{format_date, Language};
use crate::domain::rates::UnitRate;
use crate::notify::templates::views;
use chrono::NaiveDate;

/// "Giải trình ngày 03/11/2026: …" — a unit's answers this year and how its commitments stand.
pub(super) fn answer_section(
    answers: &[Answer],
    disbursed_now: i64,
    (as_of, zone): (NaiveDate, chrono_tz::Tz),
    lang: Language,
) -> Option<views::Section> {
    let last = answers.last()?;
    let day = |a: &Answer| format_date(a.received_at.with_timezone(&zone).date_naive());
    let reasons: Vec<&str> = last.reasons.iter().map(|r| r.label(lang)).collect();
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
            lines.push(commitment_line(
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
pub(super) fn answers_summary(ctx: &Context) -> Option<views::Section> {
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
