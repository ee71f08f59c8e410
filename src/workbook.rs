//! The official table as an Excel workbook: the sheet "Tổng hợp" (every unit ranked, as
//! provinces publish it), and the run's data issues. Written with rust_xlsxwriter; amounts in
//! tỷ đồng as numbers (Excel shows them in the reader's own number style), rates in percent.

use crate::ledger::DataIssue;
use crate::money::Language;
use crate::notify::render::{status_label, Context};
use crate::rule::Status;
use chrono::NaiveDate;
use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Workbook, XlsxError};
use std::path::Path;

/// Why the workbook could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the workbook {file}: {source}; check the folder exists and is writable")]
pub struct WorkbookError {
    pub file: std::path::PathBuf,
    pub source: XlsxError,
}

/// The file name a person expects, e.g. `giai-ngan-2026-den-31-10-2026.xlsx`.
pub fn file_name(plan_year: i32, as_of: NaiveDate) -> String {
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
    let sheet = book.add_worksheet();
    sheet.set_name(if vi { "Tổng hợp" } else { "Summary" })?;
    let title = Format::new().set_bold().set_font_size(13);
    let header = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
        .set_background_color(Color::RGB(0xDDE5F0))
        .set_border(FormatBorder::Thin);
    let cell = Format::new().set_border(FormatBorder::Thin);
    let money = cell.clone().set_num_format("#,##0.000");
    let pct = cell.clone().set_num_format("0.00");
    let bold = |f: &Format| f.clone().set_bold();
    let as_of = h.as_of.format("%d/%m/%Y");
    sheet.write_with_format(
        0,
        0,
        if vi {
            format!(
                "TÌNH HÌNH GIẢI NGÂN KẾ HOẠCH VỐN ĐẦU TƯ CÔNG NĂM {} (đến ngày {as_of})",
                h.plan_year
            )
        } else {
            format!(
                "Disbursement of the {} public-investment capital plan (as of {as_of})",
                h.plan_year
            )
        },
        &title,
    )?;
    sheet.write(
        1,
        0,
        if vi {
            format!("Đơn vị tính: tỷ đồng; tỷ lệ: %. Công việc: {}", h.job)
        } else {
            format!("Amounts in billion đồng; rates in %. Job: {}", h.job)
        },
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
    const HEAD: u32 = 3;
    for (c, (v, e, width)) in columns.iter().enumerate() {
        let c = c as u16;
        sheet.write_with_format(HEAD, c, if vi { *v } else { *e }, &header)?;
        sheet.set_column_width(c, *width)?;
    }
    let mut units: Vec<_> = rates.units.iter().collect();
    // Ranked first, best first; then the units without a plan.
    units.sort_by_key(|u| (u.rank.is_none(), u.rank, u.unit_name.clone()));
    let mut row = HEAD + 1;
    for (n, u) in units.iter().enumerate() {
        let status = cell.clone().set_background_color(status_colour(u.status));
        sheet.write_with_format(row, 0, (n + 1) as f64, &cell)?;
        sheet.write_with_format(row, 1, &u.unit_name, &cell)?;
        sheet.write_with_format(row, 2, u.plan as f64 / BILLION, &money)?;
        sheet.write_with_format(row, 3, u.disbursed as f64 / BILLION, &money)?;
        match u.rate_pct {
            Some(r) => sheet.write_with_format(row, 4, r, &pct)?,
            None => sheet.write_blank(row, 4, &pct)?,
        };
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
        row += 1;
    }
    let (plan, paid): (i128, i128) = rates.units.iter().fold((0, 0), |(p, d), u| {
        (p + i128::from(u.plan), d + i128::from(u.disbursed))
    });
    sheet.write_with_format(row, 1, if vi { "Tổng cộng" } else { "Total" }, &bold(&cell))?;
    sheet.write_with_format(row, 2, plan as f64 / BILLION, &bold(&money))?;
    sheet.write_with_format(row, 3, paid as f64 / BILLION, &bold(&money))?;
    match rates.average_pct {
        Some(a) => sheet.write_with_format(row, 4, a, &bold(&pct))?,
        None => sheet.write_blank(row, 4, &pct)?,
    };
    for c in [0u16, 5, 6, 7, 8] {
        sheet.write_blank(row, c, &cell)?;
    }
    sheet.set_freeze_panes(HEAD + 1, 0)?;
    sheet.set_landscape();
    sheet.set_paper_size(9); // A4
    sheet.set_print_fit_to_pages(1, 0);
    sheet.set_repeat_rows(0, HEAD)?;
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
