//! The digest for the finance department: counts, the projection, the ranked table and its
//! chart, who could not be told and why, every data issue, the reallocation proposal and the
//! units' answers.

use super::answers::answers_summary;
use super::context::{Context, Delivered, Email, Inline, CHART_CID};
use super::projection::projection_summary;
use super::tables::{ranked_rows, text_table, PIPES};
use super::words::{status_label, words};
use crate::domain::address::Mailbox;
use crate::domain::issue::DataIssue;
use crate::domain::money::{format_billion, format_date, format_pct, format_pct_opt, Language};
use crate::domain::rates::UnitRate;
use crate::domain::reallocation::{Proposal, Release};
use crate::domain::rule::Status;
use crate::notify::templates::views;

/// The reallocation proposal as the digest shows it: who could release, who could absorb, and
/// the totals, balanced.
/// The proposal's tables list at most `cap` units each (the largest amounts first, as the
/// proposal orders them), the totals always over all of them.
pub(super) fn reallocation_view(p: &Proposal, lang: Language, cap: usize) -> views::Reallocation {
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
    let detail = |r: &Release| {
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
    let more = |n: usize, width: usize| -> Option<Vec<String>> {
        (n > cap).then(|| {
            let mut row = vec![String::new(); width];
            row[0] = match lang {
                Language::Vi => format!("… và {} đơn vị khác (trong tệp Excel đính kèm)", n - cap),
                Language::En => format!("… and {} more units (in the attached workbook)", n - cap),
            };
            row
        })
    };
    let mut release_rows: Vec<Vec<String>> = p
        .releases
        .iter()
        .take(cap)
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
    release_rows.extend(more(p.releases.len(), 5));
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
        .take(cap)
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
    absorb_rows.extend(more(p.absorbs.len(), 5));
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
    let colours: Vec<String> = units
        .iter()
        .map(|u| match u.status {
            Status::Critical => "#f4c7c3",
            Status::Behind => "#fce8b2",
            Status::OnTrack => "#e2f3e8",
            Status::NoPlan => "",
        })
        .map(str::to_string)
        .collect();
    let (rows, colours, table_note) = listed(units, rows, colours, ctx.digest_rows, lang);
    let cap = ctx.digest_rows;
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    if !failed.is_empty() {
        let title = match lang {
            Language::Vi => "Thư không gửi được (máy chủ thư từ chối)",
            Language::En => "Messages that could not be delivered (refused by the mail server)",
        };
        sections.push((
            title.into(),
            capped(
                failed.iter().map(|d| {
                    format!(
                        "{} ({}): {}",
                        d.unit_name,
                        d.unit_id,
                        d.error.unwrap_or_default()
                    )
                }),
                failed.len(),
                cap,
                lang,
            ),
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
            capped(
                unreachable.iter().map(|u| {
                    format!(
                        "{} ({}): {}, {}",
                        u.unit_name,
                        u.unit_id,
                        format_pct_opt(u.rate_pct, lang),
                        status_label(u.status, lang)
                    )
                }),
                unreachable.len(),
                cap,
                lang,
            ),
        ));
    }
    if !issues.is_empty() {
        let title = match lang {
            Language::Vi => "Vấn đề về dữ liệu (các dòng này không được tính)",
            Language::En => "Data issues (these rows were left out)",
        };
        sections.push((title.into(), issues.iter().map(|i| i.to_string()).collect()));
    }
    if !ctx.notes.is_empty() {
        let title = match lang {
            Language::Vi => "Lưu ý về dữ liệu (đã được tính, cần kiểm tra lại)",
            Language::En => "Notes on the data (counted; check them)",
        };
        sections.push((
            title.into(),
            ctx.notes.iter().map(|i| i.to_string()).collect(),
        ));
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
        table_note,
        sections: sections
            .into_iter()
            .map(|(title, lines)| views::Section { title, lines })
            .collect(),
        reallocation: ctx.reallocation.map(|p| reallocation_view(p, lang, cap)),
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
pub(super) fn digest_chart(ctx: &Context) -> Option<Vec<u8>> {
    let ranked: Vec<(String, Option<f64>, Status)> = ctx
        .rates
        .units
        .iter()
        .filter(|u| u.rank.is_some())
        .map(|u| (u.unit_name.clone(), u.rate_pct, u.status))
        .collect();
    let drawn = crate::notify::chart::figures::ranking_chart(
        &ranked,
        Some(ctx.rates.expected_pct),
        ctx.rates.average_pct,
        ctx.language,
    );
    drawn
        .map_err(|e| tracing::warn!("the digest's chart could not be drawn: {e}"))
        .ok()
}

/// The rows of the ranked table the digest lists: all of them up to `cap`; beyond it the best
/// and the worst tenth of the cap, and between them the units behind, the furthest behind
/// first, up to the cap — in ranked order, each run of units left out one row ("…", how many).
/// Returns the rows, their colours and the line that says where the whole table is.
fn listed(
    units: &[UnitRate],
    rows: Vec<Vec<String>>,
    colours: Vec<String>,
    cap: usize,
    lang: Language,
) -> (Vec<Vec<String>>, Vec<String>, Option<String>) {
    let n = units.len();
    if n <= cap {
        return (rows, colours, None);
    }
    let edge = (cap / 10).max(1);
    let mut keep = vec![false; n];
    keep[..edge].iter_mut().for_each(|k| *k = true);
    keep[n - edge..].iter_mut().for_each(|k| *k = true);
    let mut room = cap.saturating_sub(2 * edge);
    let mut behind: Vec<usize> = (edge..n - edge)
        .filter(|&i| matches!(units[i].status, Status::Critical | Status::Behind))
        .collect();
    // The furthest behind first: the largest gap below the expected rate.
    behind.sort_by(|&a, &b| {
        let gap = |i: usize| units[i].gap_pct.unwrap_or(f64::NEG_INFINITY);
        gap(b).total_cmp(&gap(a)).then(a.cmp(&b))
    });
    for i in behind {
        if room == 0 {
            break;
        }
        keep[i] = true;
        room -= 1;
    }
    let width = rows.first().map_or(0, Vec::len);
    let gap_row = |left_out: usize| {
        let mut row = vec![String::new(); width];
        if width > 1 {
            row[0] = "…".into();
            row[1] = match lang {
                Language::Vi => format!("({left_out} đơn vị)"),
                Language::En => format!("({left_out} units)"),
            };
        }
        row
    };
    let (mut out_rows, mut out_colours) = (Vec::with_capacity(cap + 8), Vec::new());
    let mut left_out = 0;
    for (i, (row, colour)) in rows.into_iter().zip(colours).enumerate() {
        if !keep[i] {
            left_out += 1;
            continue;
        }
        if left_out > 0 {
            out_rows.push(gap_row(left_out));
            out_colours.push(String::new());
            left_out = 0;
        }
        out_rows.push(row);
        out_colours.push(colour);
    }
    let shown = keep.iter().filter(|k| **k).count();
    let note = match lang {
        Language::Vi => format!(
            "Bảng trên nêu {shown}/{n} đơn vị: các đơn vị đứng đầu, cuối bảng và các đơn vị chậm nhất; bảng đầy đủ ở tệp Excel đính kèm và trên trang theo dõi."
        ),
        Language::En => format!(
            "The table lists {shown} of {n} units: the top, the bottom and the furthest behind; the whole table is in the attached workbook and on the dashboard."
        ),
    };
    (out_rows, out_colours, Some(note))
}

/// At most `cap` of a list's `total` lines, and a line saying how many more there are.
fn capped(
    lines: impl Iterator<Item = String>,
    total: usize,
    cap: usize,
    lang: Language,
) -> Vec<String> {
    let mut out: Vec<String> = lines.take(cap).collect();
    if total > cap {
        out.push(match lang {
            Language::Vi => format!(
                "… và {} đơn vị khác (xem báo cáo của lần chạy)",
                total - cap
            ),
            Language::En => format!("… and {} more units (see the run report)", total - cap),
        });
    }
    out
}
