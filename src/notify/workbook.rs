//! The official table as an Excel workbook: the sheet "Tổng hợp" (every unit ranked, as
//! provinces publish it), "Theo nhóm" (sections by peer group or parent unit, with subtotals) and
//! "Theo nguồn vốn" (each unit's plan, disbursement and rate per capital source) where the data
//! has them, and the run's data issues. Written with rust_xlsxwriter; amounts in
//! tỷ đồng as numbers (Excel shows them in the reader's own number style), rates in percent.

use super::render::context::Context;
use super::render::words::status_label;
use crate::domain::id::PlanYear;
use crate::domain::issue::DataIssue;
use crate::domain::money::Language;
use crate::domain::rule::Status;
use chrono::NaiveDate;
use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError};
use std::path::Path;

/// Why the workbook could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the workbook {file}: {source}; check the folder exists and is writable")]
pub struct WorkbookError {
    pub file: std::path::PathBuf,
    pub source: XlsxError,
}

/// The file name a person expects, e.g. `giai-ngan-2026-den-31-10-2026.xlsx`.
pub fn file_name(plan_year: PlanYear, as_of: NaiveDate) -> String {
    format!(
        "giai-ngan-{plan_year}-den-{}.xlsx",
        as_of.format("%d-%m-%Y")
    )
}

const BILLION: f64 = 1e9;

fn status_colour(s: Status) -> Color {
    match s {
        Status::Critical => Color::RGB(0xF4C7C3),
        Status::Behind => Color::RGB(0xFCE8B2),
        Status::OnTrack => Color::RGB(0xB7E1CD),
        Status::NoPlan => Color::RGB(0xEEEEEE),
    }
}

/// The MIME type of an .xlsx file.
pub const CONTENT_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn book(ctx: &Context<'_>, issues: &[DataIssue]) -> Result<Workbook, XlsxError> {
    let mut book = Workbook::new();
    summary(&mut book, ctx)?;
    if ctx.rates.units.iter().any(|u| u.group.is_some()) {
        by_group(&mut book, ctx)?;
    }
    if !capital_sources(ctx).is_empty() {
        by_capital_source(&mut book, ctx)?;
    }
    if let Some(p) = ctx.reallocation {
        reallocation(&mut book, ctx, p)?;
    }
    if !issues.is_empty() {
        data_issues(&mut book, ctx.language, issues)?;
    }
    Ok(book)
}

/// Writes the workbook of a run (`ctx`: its figures) to `file`.
pub fn write(file: &Path, ctx: &Context<'_>, issues: &[DataIssue]) -> Result<(), WorkbookError> {
    let failed = |source| WorkbookError {
        file: file.to_path_buf(),
        source,
    };
    book(ctx, issues)
        .and_then(|mut b| b.save(file))
        .map_err(failed)
}

/// The workbook's bytes, to attach to the digest.
pub fn to_bytes(ctx: &Context<'_>, issues: &[DataIssue]) -> Result<Vec<u8>, WorkbookError> {
    book(ctx, issues)
        .and_then(|mut b| b.save_to_buffer())
        .map_err(|source| WorkbookError {
            file: file_name(ctx.plan_year, ctx.as_of).into(),
            source,
        })
}

fn summary(book: &mut Workbook, h: &Context<'_>) -> Result<(), XlsxError> {
    let rates = h.rates;
    let vi = h.language == Language::Vi;
    let Formats {
        header,
        cell,
        money,
        pct,
    } = Formats::new();
    const HEAD: u32 = 3;
    let sheet = titled(
        book,
        h,
        ("Tổng hợp", "Summary"),
        (
            "TÌNH HÌNH GIẢI NGÂN KẾ HOẠCH VỐN ĐẦU TƯ CÔNG",
            "Disbursement of the public-investment capital plan",
        ),
        HEAD,
    )?;
    let columns: [(&str, &str, f64); 9] = [
        ("STT", "No.", 6.0),
        ("Đơn vị", "Unit", 42.0),
        ("Kế hoạch vốn", "Plan", 16.0),
        ("Giải ngân", "Disbursed", 16.0),
        ("Tỷ lệ (%)", "Rate (%)", 11.0),
        ("Mức cần đạt (%)", "Expected (%)", 13.0),
        ("Chênh lệch (điểm %)", "Gap (points)", 13.0),
        ("Xếp hạng", "Rank", 10.0),
        ("Trạng thái", "Status", 22.0),
    ];
    header_row(sheet, HEAD, &columns, vi, &header)?;
    // Where each unit will be at the closes on its current pace, when past years say.
    let projected = rates.units.iter().any(|u| u.projection.is_some());
    if projected {
        let more = [
            ("Dự báo 31/12 (%)", "Projected 31/12 (%)", 13.0),
            ("Dự báo 31/1 (%)", "Projected 31/1 (%)", 13.0),
        ];
        for (i, (v, e, w)) in more.iter().enumerate() {
            let c = columns.len() as u16 + i as u16;
            sheet.write_with_format(HEAD, c, if vi { *v } else { *e }, &header)?;
            sheet.set_column_width(c, *w)?;
        }
    }
    let mut units: Vec<_> = rates.units.iter().collect();
    // Ranked first, best first; then the units without a plan.
    units.sort_by_key(|u| (u.rank.is_none(), u.rank, u.unit_name.clone()));
    let mut row = HEAD + 1;
    for (n, u) in units.iter().enumerate() {
        let status = cell.clone().set_background_color(status_colour(u.status));
        sheet.write_with_format(row, 0, (n + 1) as f64, &cell)?;
        sheet.write_with_format(row, 1, &u.unit_name, &cell)?;
        let amounts = (i128::from(u.plan), i128::from(u.disbursed));
        figures(sheet, row, 2, amounts, u.rate_pct, &money, &pct)?;
        sheet.write_with_format(row, 5, u.expected_pct, &pct)?;
        // As Vietnamese reports show it: how far below the target (negative when behind).
        match u.gap_pct {
            Some(g) => sheet.write_with_format(row, 6, -g, &pct)?,
            None => sheet.write_blank(row, 6, &pct)?,
        };
        match u.rank {
            Some(r) => sheet.write_with_format(row, 7, f64::from(r), &cell)?,
            None => sheet.write_blank(row, 7, &cell)?,
        };
        sheet.write_with_format(row, 8, status_label(u.status, h.language), &status)?;
        if projected {
            match &u.projection {
                Some(p) => {
                    sheet.write_with_format(row, 9, p.dec31.mid, &pct)?;
                    let risk = pct.clone().set_background_color(match p.at_risk {
                        true => Color::RGB(0xFCE8B2),
                        false => Color::White,
                    });
                    sheet.write_with_format(row, 10, p.jan31.mid, &risk)?
                }
                None => {
                    sheet.write_blank(row, 9, &pct)?;
                    sheet.write_blank(row, 10, &pct)?
                }
            };
        }
        row += 1;
    }
    let (plan, paid): (i128, i128) = rates.units.iter().fold((0, 0), |(p, d), u| {
        (p + i128::from(u.plan), d + i128::from(u.disbursed))
    });
    sheet.write_with_format(row, 1, if vi { "Tổng cộng" } else { "Total" }, &bold(&cell))?;
    figures(
        sheet,
        row,
        2,
        (plan, paid),
        rates.average_pct,
        &bold(&money),
        &bold(&pct),
    )?;
    for c in [0u16, 5, 6, 7, 8] {
        sheet.write_blank(row, c, &cell)?;
    }
    if projected {
        // The whole job's projection: the units' projected rates weighted by plan.
        let weighted = |f: &dyn Fn(&crate::domain::rates::Projection) -> f64| {
            let (sum, plan) = rates
                .units
                .iter()
                .filter_map(|u| {
                    u.projection
                        .as_ref()
                        .map(|p| (f(p) * u.plan as f64, u.plan as f64))
                })
                .fold((0.0, 0.0), |(s, p), (a, b)| (s + a, p + b));
            sum / plan.max(1.0)
        };
        sheet.write_with_format(row, 9, weighted(&|p| p.dec31.mid), &bold(&pct))?;
        sheet.write_with_format(row, 10, weighted(&|p| p.jan31.mid), &bold(&pct))?;
    }
    Ok(())
}

/// The sheet "Đề xuất điều chuyển vốn": a proposal for the leadership, marked as such — the
/// units that could release capital (with their capital sources and projects), those that could
/// absorb it, and the balance of the two.
fn reallocation(
    book: &mut Workbook,
    h: &Context<'_>,
    p: &crate::domain::reallocation::Proposal,
) -> Result<(), XlsxError> {
    let vi = h.language == Language::Vi;
    let Formats {
        header,
        cell,
        money,
        pct,
    } = Formats::new();
    const HEAD: u32 = 4;
    let sheet = titled(
        book,
        h,
        ("Đề xuất điều chuyển vốn", "Reallocation proposal"),
        (
            "ĐỀ XUẤT ĐIỀU CHUYỂN VỐN ĐẦU TƯ CÔNG (DỰ THẢO ĐỂ LÃNH ĐẠO XEM XÉT, QUYẾT ĐỊNH)",
            "Capital reallocation proposal (a draft for the leadership to decide)",
        ),
        HEAD,
    )?;
    let warning = Format::new()
        .set_italic()
        .set_font_color(Color::RGB(0x9C0006));
    sheet.write_with_format(
        2,
        0,
        match vi {
            true => "Đề xuất tự động dựa trên dự báo giải ngân theo tiến độ hiện nay; chỉ mang tính tham khảo. Việc điều chuyển vốn do cấp có thẩm quyền quyết định theo Luật Đầu tư công.",
            false => "Proposed automatically from the projection on current pace; advisory only. The competent authority decides any transfer under the Law on Public Investment.",
        },
        &warning,
    )?;
    let sources: Vec<String> = {
        let mut all: Vec<String> = p
            .releases
            .iter()
            .flat_map(|r| r.by_source.iter().map(|(s, _)| s.clone()))
            .collect();
        all.sort();
        all.dedup();
        all
    };
    let mut columns: Vec<(String, String, f64)> = [
        ("STT", "No.", 6.0),
        ("Đơn vị / dự án", "Unit / project", 46.0),
        ("Kế hoạch vốn", "Plan", 16.0),
        ("Giải ngân", "Disbursed", 16.0),
        ("Dự báo (%)", "Projected (%)", 12.0),
        ("Nhu cầu vốn", "Need", 16.0),
        ("Có thể điều chuyển", "Releasable", 18.0),
        ("Có thể tiếp nhận", "Absorbable", 18.0),
        ("Trong đó: theo dự án", "Of which: by project", 18.0),
    ]
    .iter()
    .map(|(v, e, w)| (v.to_string(), e.to_string(), *w))
    .collect();
    for s in &sources {
        columns.push((format!("Trong đó nguồn {s}"), format!("Of which {s}"), 16.0));
    }
    let borrowed: Vec<(&str, &str, f64)> = columns
        .iter()
        .map(|(v, e, w)| (v.as_str(), e.as_str(), *w))
        .collect();
    header_row(sheet, HEAD, &borrowed, vi, &header)?;
    let bn = |d: i64| d as f64 / BILLION;
    let section = bold(&cell).set_background_color(Color::RGB(0xEEF2F7));
    let blank_row = |sheet: &mut Worksheet, row: u32, f: &Format| -> Result<(), XlsxError> {
        for c in 0..columns.len() as u16 {
            sheet.write_blank(row, c, f)?;
        }
        Ok(())
    };
    let mut row = HEAD + 1;
    // A. Who could release.
    blank_row(sheet, row, &section)?;
    sheet.write_with_format(row, 0, "A", &section)?;
    sheet.write_with_format(
        row,
        1,
        match vi {
            true => "Đơn vị dự báo không giải ngân hết kế hoạch (có thể điều chuyển)",
            false => "Units projected to leave capital unspent (could release)",
        },
        &section,
    )?;
    sheet.write_with_format(row, 6, bn(p.releasable), &bold(&money))?;
    row += 1;
    for (n, r) in p.releases.iter().enumerate() {
        blank_row(sheet, row, &cell)?;
        sheet.write_with_format(row, 0, (n + 1) as f64, &cell)?;
        sheet.write_with_format(row, 1, &r.unit_name, &cell)?;
        sheet.write_with_format(row, 2, bn(r.plan), &money)?;
        sheet.write_with_format(row, 3, bn(r.disbursed), &money)?;
        sheet.write_with_format(row, 4, r.projected_pct, &pct)?;
        sheet.write_with_format(row, 6, bn(r.amount), &money)?;
        for (s, amount) in &r.by_source {
            if let Some(i) = sources.iter().position(|x| x == s) {
                sheet.write_with_format(row, 9 + i as u16, bn(*amount), &money)?;
            }
        }
        row += 1;
        for (project, plan, amount) in &r.projects {
            blank_row(sheet, row, &cell)?;
            sheet.write_with_format(row, 1, format!("   – {project}"), &cell)?;
            sheet.write_with_format(row, 2, bn(*plan), &money)?;
            // A part of the unit's amount above, in a column of its own: not added again.
            sheet.write_with_format(row, 8, bn(*amount), &money)?;
            row += 1;
        }
    }
    // B. Who could absorb.
    blank_row(sheet, row, &section)?;
    sheet.write_with_format(row, 0, "B", &section)?;
    sheet.write_with_format(
        row,
        1,
        match vi {
            true => {
                "Đơn vị dự báo giải ngân hết kế hoạch sớm, có nhu cầu bổ sung (có thể tiếp nhận)"
            }
            false => "Units projected to finish early with a need beyond their plan (could absorb)",
        },
        &section,
    )?;
    sheet.write_with_format(row, 7, bn(p.absorbable), &bold(&money))?;
    row += 1;
    for (n, a) in p.absorbs.iter().enumerate() {
        blank_row(sheet, row, &cell)?;
        sheet.write_with_format(row, 0, (n + 1) as f64, &cell)?;
        sheet.write_with_format(row, 1, &a.unit_name, &cell)?;
        sheet.write_with_format(row, 2, bn(a.plan), &money)?;
        sheet.write_with_format(row, 4, a.projected_pct, &pct)?;
        sheet.write_with_format(row, 5, bn(a.need), &money)?;
        sheet.write_with_format(row, 7, bn(a.amount), &money)?;
        row += 1;
    }
    // C. The balance.
    blank_row(sheet, row, &section)?;
    sheet.write_with_format(row, 0, "C", &section)?;
    sheet.write_with_format(
        row,
        1,
        match vi {
            true => "Cân đối",
            false => "Balance",
        },
        &section,
    )?;
    row += 1;
    let lines: [(&str, &str, i64); 5] = [
        ("Có thể điều chuyển (A)", "Releasable (A)", p.releasable),
        ("Có thể tiếp nhận (B)", "Absorbable (B)", p.absorbable),
        (
            "Đề xuất điều chuyển = min(A, B)",
            "Proposed to move = min(A, B)",
            p.movable,
        ),
        (
            "Còn lại chưa có đơn vị tiếp nhận = A − đề xuất",
            "Releasable with nowhere to go = A − proposed",
            p.unplaced,
        ),
        (
            "Nhu cầu chưa đáp ứng = B − đề xuất",
            "Need left unmet = B − proposed",
            p.unmet,
        ),
    ];
    for (v, e, amount) in lines {
        blank_row(sheet, row, &cell)?;
        sheet.write_with_format(row, 1, if vi { v } else { e }, &bold(&cell))?;
        sheet.write_with_format(row, 6, bn(amount), &bold(&money))?;
        row += 1;
    }
    Ok(())
}

/// The formats every sheet shares.
struct Formats {
    header: Format,
    cell: Format,
    money: Format,
    pct: Format,
}

impl Formats {
    fn new() -> Formats {
        let cell = Format::new().set_border(FormatBorder::Thin);
        Formats {
            header: Format::new()
                .set_bold()
                .set_text_wrap()
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter)
                .set_background_color(Color::RGB(0xDDE5F0))
                .set_border(FormatBorder::Thin),
            money: cell.clone().set_num_format("#,##0.000"),
            pct: cell.clone().set_num_format("0.00"),
            cell,
        }
    }
}

/// The same format, bold (totals and section rows).
fn bold(f: &Format) -> Format {
    f.clone().set_bold()
}

/// A new sheet named `name` (vi, en) with its title, its unit line, and the A4 landscape print
/// setup with the rows down to `head` repeated on every page.
fn titled<'b>(
    book: &'b mut Workbook,
    h: &Context<'_>,
    (name_vi, name_en): (&str, &str),
    (what_vi, what_en): (&str, &str),
    head: u32,
) -> Result<&'b mut Worksheet, XlsxError> {
    let vi = h.language == Language::Vi;
    let sheet = book.add_worksheet();
    sheet.set_name(if vi { name_vi } else { name_en })?;
    let as_of = h.as_of.format("%d/%m/%Y");
    let title = Format::new().set_bold().set_font_size(13);
    let text = match vi {
        true => format!("{what_vi} NĂM {} (đến ngày {as_of})", h.plan_year),
        false => format!("{what_en} {} (as of {as_of})", h.plan_year),
    };
    sheet.write_with_format(0, 0, text, &title)?;
    sheet.write(
        1,
        0,
        match vi {
            true => format!("Đơn vị tính: tỷ đồng; tỷ lệ: %. Công việc: {}", h.job),
            false => format!("Amounts in billion đồng; rates in %. Job: {}", h.job),
        },
    )?;
    sheet.set_freeze_panes(head + 1, 0)?;
    sheet.set_landscape();
    sheet.set_paper_size(9); // A4
    sheet.set_print_fit_to_pages(1, 0);
    sheet.set_repeat_rows(0, head)?;
    Ok(sheet)
}

/// Σ plan, Σ disbursed and their rate, over units with a plan.
fn subtotal<'a>(
    units: impl Iterator<Item = &'a crate::domain::rates::UnitRate>,
) -> (i128, i128, Option<f64>) {
    let (p, d) = units.fold((0i128, 0i128), |(p, d), u| {
        (p + i128::from(u.plan), d + i128::from(u.disbursed))
    });
    (p, d, rate((p, d)))
}

/// 100 × disbursed / plan; none without a plan.
fn rate((plan, paid): (i128, i128)) -> Option<f64> {
    (plan > 0).then(|| paid as f64 * 100.0 / plan as f64)
}

/// Units in sections, one per peer group (the units' `group`) or parent unit, each headed by its
/// subtotal and ranked inside it; then the units in none, and the total.
fn by_group(book: &mut Workbook, h: &Context<'_>) -> Result<(), XlsxError> {
    let vi = h.language == Language::Vi;
    let f = Formats::new();
    const HEAD: u32 = 3;
    let sheet = titled(
        book,
        h,
        ("Theo nhóm", "By group"),
        ("GIẢI NGÂN THEO NHÓM ĐƠN VỊ", "Disbursement by group"),
        HEAD,
    )?;
    let columns: [(&str, &str, f64); 7] = [
        ("STT", "No.", 6.0),
        ("Nhóm / Đơn vị", "Group / unit", 46.0),
        ("Kế hoạch vốn", "Plan", 16.0),
        ("Giải ngân", "Disbursed", 16.0),
        ("Tỷ lệ (%)", "Rate (%)", 11.0),
        ("Xếp hạng trong nhóm", "Rank in group", 12.0),
        ("Trạng thái", "Status", 22.0),
    ];
    header_row(sheet, HEAD, &columns, vi, &f.header)?;
    let names: std::collections::HashMap<&str, &str> = h
        .rates
        .units
        .iter()
        .map(|u| (u.unit_id.as_str(), u.unit_name.as_str()))
        .collect();
    let label = |group: &str| match group.strip_prefix("under ") {
        Some(parent) => {
            let name = names.get(parent).copied().unwrap_or(parent);
            match vi {
                true => format!("Trực thuộc {name}"),
                false => format!("Under {name}"),
            }
        }
        None => group.to_string(),
    };
    let mut sections: std::collections::BTreeMap<
        Option<&str>,
        Vec<&crate::domain::rates::UnitRate>,
    > = Default::default();
    for u in &h.rates.units {
        sections.entry(u.group.as_deref()).or_default().push(u);
    }
    // The units in no group last.
    let mut order: Vec<_> = sections.into_iter().collect();
    order.sort_by_key(|(g, _)| (g.is_none(), g.map(&label)));
    let section = Format::new()
        .set_bold()
        .set_border(FormatBorder::Thin)
        .set_background_color(Color::RGB(0xEEF2F7));
    let section_money = section.clone().set_num_format("#,##0.000");
    let section_pct = section.clone().set_num_format("0.00");
    let mut row = HEAD + 1;
    for (n, (group, mut units)) in order.into_iter().enumerate() {
        let (plan, paid, rate) = subtotal(units.iter().copied());
        let name = match group {
            Some(g) => label(g),
            None => (if vi {
                "Đơn vị không thuộc nhóm"
            } else {
                "In no group"
            })
            .to_string(),
        };
        sheet.write_with_format(row, 0, roman(n + 1), &section)?;
        sheet.write_with_format(row, 1, name, &section)?;
        figures(
            sheet,
            row,
            2,
            (plan, paid),
            rate,
            &section_money,
            &section_pct,
        )?;
        sheet.write_blank(row, 5, &section)?;
        sheet.write_blank(row, 6, &section)?;
        row += 1;
        units.sort_by_key(|u| (u.group_rank.is_none(), u.group_rank, u.unit_name.clone()));
        for (i, u) in units.iter().enumerate() {
            let status = f.cell.clone().set_background_color(status_colour(u.status));
            sheet.write_with_format(row, 0, (i + 1) as f64, &f.cell)?;
            sheet.write_with_format(row, 1, &u.unit_name, &f.cell)?;
            let amounts = (i128::from(u.plan), i128::from(u.disbursed));
            figures(sheet, row, 2, amounts, u.rate_pct, &f.money, &f.pct)?;
            match u.group_rank {
                Some(r) => sheet.write_with_format(row, 5, f64::from(r), &f.cell)?,
                None => sheet.write_blank(row, 5, &f.cell)?,
            };
            sheet.write_with_format(row, 6, status_label(u.status, h.language), &status)?;
            row += 1;
        }
    }
    let (plan, paid, rate) = subtotal(h.rates.units.iter());
    sheet.write_blank(row, 0, &f.cell)?;
    sheet.write_with_format(
        row,
        1,
        if vi { "Tổng cộng" } else { "Total" },
        &bold(&f.cell),
    )?;
    figures(
        sheet,
        row,
        2,
        (plan, paid),
        rate,
        &bold(&f.money),
        &bold(&f.pct),
    )?;
    sheet.write_blank(row, 5, &f.cell)?;
    sheet.write_blank(row, 6, &f.cell)?;
    Ok(())
}

/// A header row: each column's title in the sheet's language, and its width.
fn header_row(
    sheet: &mut Worksheet,
    row: u32,
    columns: &[(&str, &str, f64)],
    vi: bool,
    format: &Format,
) -> Result<(), XlsxError> {
    for (c, (v, e, width)) in columns.iter().enumerate() {
        sheet.write_with_format(row, c as u16, if vi { *v } else { *e }, format)?;
        sheet.set_column_width(c as u16, *width)?;
    }
    Ok(())
}

/// Plan and disbursed (đồng, written in tỷ đồng) and their rate, in three cells from `col`; a
/// blank rate cell when there is none.
fn figures(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    (plan, paid): (i128, i128),
    rate: Option<f64>,
    money: &Format,
    pct: &Format,
) -> Result<(), XlsxError> {
    sheet.write_with_format(row, col, plan as f64 / BILLION, money)?;
    sheet.write_with_format(row, col + 1, paid as f64 / BILLION, money)?;
    match rate {
        Some(r) => sheet.write_with_format(row, col + 2, r, pct)?,
        None => sheet.write_blank(row, col + 2, pct)?,
    };
    Ok(())
}

/// I, II, III… for section numbers, as official tables number them.
fn roman(mut n: usize) -> String {
    const DIGITS: [(usize, &str); 13] = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let mut out = String::new();
    for (value, digits) in DIGITS {
        while n >= value {
            out.push_str(digits);
            n -= value;
        }
    }
    out
}

/// The capital sources the run measured separately (`rate_capital_sources`), by name.
fn capital_sources(h: &Context<'_>) -> Vec<String> {
    h.details
        .values()
        .next()
        .map(|d| {
            d.denominators
                .iter()
                .filter_map(|(key, _, _)| key.strip_prefix("capital_source:").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Each unit's plan, disbursement and rate per capital source, with totals.
fn by_capital_source(book: &mut Workbook, h: &Context<'_>) -> Result<(), XlsxError> {
    let vi = h.language == Language::Vi;
    let f = Formats::new();
    let sources = capital_sources(h);
    const HEAD: u32 = 4;
    let sheet = titled(
        book,
        h,
        ("Theo nguồn vốn", "By capital source"),
        ("GIẢI NGÂN THEO NGUỒN VỐN", "Disbursement by capital source"),
        HEAD,
    )?;
    sheet.merge_range(HEAD - 1, 0, HEAD, 0, "STT", &f.header)?;
    sheet.merge_range(
        HEAD - 1,
        1,
        HEAD,
        1,
        if vi { "Đơn vị" } else { "Unit" },
        &f.header,
    )?;
    sheet.set_column_width(0, 6.0)?;
    sheet.set_column_width(1, 42.0)?;
    for (i, source) in sources.iter().enumerate() {
        let c = 2 + 3 * i as u16;
        let name = match vi {
            true => format!("Nguồn vốn {source}"),
            false => format!("Capital source {source}"),
        };
        sheet.merge_range(HEAD - 1, c, HEAD - 1, c + 2, &name, &f.header)?;
        let heads = match vi {
            true => ["Kế hoạch vốn", "Giải ngân", "Tỷ lệ (%)"],
            false => ["Plan", "Disbursed", "Rate (%)"],
        };
        for (k, head) in heads.iter().enumerate() {
            sheet.write_with_format(HEAD, c + k as u16, *head, &f.header)?;
            sheet.set_column_width(c + k as u16, if k == 2 { 10.0 } else { 15.0 })?;
        }
    }
    let mut units: Vec<_> = h.rates.units.iter().collect();
    units.sort_by_key(|u| (u.rank.is_none(), u.rank, u.unit_name.clone()));
    let mut totals = vec![(0i128, 0i128); sources.len()];
    let mut row = HEAD + 1;
    for (n, u) in units.iter().enumerate() {
        sheet.write_with_format(row, 0, (n + 1) as f64, &f.cell)?;
        sheet.write_with_format(row, 1, &u.unit_name, &f.cell)?;
        let detail = h.details.get(&u.unit_id);
        for (i, source) in sources.iter().enumerate() {
            let key = format!("capital_source:{source}");
            let (plan, paid) = detail
                .and_then(|d| d.denominators.iter().find(|(k, _, _)| *k == key))
                .map(|(_, p, d)| (*p, *d))
                .unwrap_or((0, 0));
            totals[i].0 += i128::from(plan);
            totals[i].1 += i128::from(paid);
            let amounts = (i128::from(plan), i128::from(paid));
            let c = 2 + 3 * i as u16;
            figures(sheet, row, c, amounts, rate(amounts), &f.money, &f.pct)?;
        }
        row += 1;
    }
    sheet.write_blank(row, 0, &f.cell)?;
    sheet.write_with_format(
        row,
        1,
        if vi { "Tổng cộng" } else { "Total" },
        &bold(&f.cell),
    )?;
    for (i, amounts) in totals.into_iter().enumerate() {
        let c = 2 + 3 * i as u16;
        figures(
            sheet,
            row,
            c,
            amounts,
            rate(amounts),
            &bold(&f.money),
            &bold(&f.pct),
        )?;
    }
    Ok(())
}

fn data_issues(
    book: &mut Workbook,
    language: Language,
    issues: &[DataIssue],
) -> Result<(), XlsxError> {
    let vi = language == Language::Vi;
    let sheet = book.add_worksheet();
    sheet.set_name(if vi {
        "Vấn đề dữ liệu"
    } else {
        "Data issues"
    })?;
    let header = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xDDE5F0))
        .set_border(FormatBorder::Thin);
    let heads = if vi {
        [
            "Nguồn",
            "Trang tính",
            "Dòng",
            "Cột",
            "Giá trị",
            "Vấn đề và cách sửa",
        ]
    } else {
        [
            "Source",
            "Sheet",
            "Row",
            "Column",
            "Value",
            "Problem and what to do",
        ]
    };
    for (c, (t, w)) in heads
        .iter()
        .zip([14.0, 14.0, 8.0, 20.0, 24.0, 90.0])
        .enumerate()
    {
        sheet.write_with_format(0, c as u16, *t, &header)?;
        sheet.set_column_width(c as u16, w)?;
    }
    for (i, issue) in issues.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write(r, 0, issue.source.key())?;
        sheet.write(r, 1, issue.sheet.as_deref().unwrap_or(""))?;
        if let Some(row) = issue.row {
            sheet.write(r, 2, row as f64)?;
        }
        sheet.write(r, 3, issue.column.as_deref().unwrap_or(""))?;
        sheet.write(r, 4, issue.value.as_deref().unwrap_or(""))?;
        sheet.write(r, 5, issue.problem.as_str())?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}
