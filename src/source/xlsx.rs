//! Excel (.xlsx) sources as the Treasury and ministry systems export them: title rows above the
//! table, headers over one or two rows (merged cells), an `STT` numbering row, group sub-headings
//! and total rows between the data, numbers stored as text in Vietnamese style, dates as serials or
//! text. The sheet is rewritten as CSV holding only data rows, with each row's own number in the
//! worksheet in a last column, so that problems are reported where people will look for them.

use crate::job::{Sheet, Source};
use crate::ledger::DataIssue;
use crate::money::NumberFormat;
use calamine::{open_workbook, Data, Reader, Xlsx};
use chrono::NaiveDate;
use std::path::Path;

/// The header of the worksheet-row column added to the CSV.
pub const ROW_HEADER: &str = "__source_row";

pub struct Converted {
    pub file: tempfile::TempPath,
    pub sheet: String,
    /// Rows skipped as not data.
    pub not_data: u64,
}

/// Text of a cell as the source would have written it: numbers in the source's number style, dates
/// in its date format (a number in the date column is an Excel date serial).
fn cell_text(cell: &Data, is_date: bool, source: &Source) -> String {
    let number = |f: f64| {
        let plain = if f.fract() == 0.0 && f.abs() < 1e15 {
            format!("{}", f as i64)
        } else {
            format!("{f}")
        };
        match source.number_format {
            NumberFormat::Vi => plain.replace('.', ","),
            NumberFormat::En | NumberFormat::Plain => plain,
        }
    };
    let serial = |f: f64| {
        // Excel's day 0 is 1899-12-30 (with its 1900 leap-year quirk folded in).
        NaiveDate::from_ymd_opt(1899, 12, 30)
            .and_then(|d| d.checked_add_signed(chrono::Duration::days(f.floor() as i64)))
            .map(|d| d.format(&source.date_format).to_string())
            .unwrap_or_else(|| f.to_string())
    };
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Int(i) if is_date => serial(*i as f64),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if is_date => serial(*f),
        Data::Float(f) => number(*f),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => match dt.as_datetime() {
            Some(t) => t.date().format(&source.date_format).to_string(),
            None => dt.as_f64().to_string(),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

fn numbering(text: &str, n: usize) -> bool {
    let t = text.trim().trim_start_matches('(').trim_end_matches(')');
    t == n.to_string() || (n <= 26 && t.len() == 1 && t.as_bytes()[0] == b'A' + (n as u8 - 1))
}

pub fn to_csv(
    path: &Path,
    source: &Source,
    origin: &str,
    tmp: &Path,
) -> Result<Converted, Vec<DataIssue>> {
    let role = source.role;
    let fail = |m: String| vec![DataIssue::whole(role, m)];
    let mut book: Xlsx<_> = open_workbook(path)
        .map_err(|e| fail(format!("{origin} cannot be read as an Excel workbook: {e}")))?;
    let names = book.sheet_names();
    let sheet = match &source.sheet {
        None => names.first().cloned(),
        Some(Sheet::Name(n)) => names.iter().find(|s| s.trim() == n.trim()).cloned(),
        Some(Sheet::Number(i)) => names.get(i - 1).cloned(),
    }
    .ok_or_else(|| {
        fail(format!(
            "{origin} has no sheet {:?}; its sheets are: {}; fix sources.{role}.sheet",
            source.sheet,
            names.join(", ")
        ))
    })?;
    let range = book
        .worksheet_range(&sheet)
        .map_err(|e| fail(format!("{origin}: sheet `{sheet}` cannot be read: {e}")))?;
    let (top, left) = range.start().unwrap_or((0, 0));
    let (height, width) = range.get_size();

    // Merged cells carry their top-left value into every cell they cover: all merges for the
    // header (a heading spanning columns or rows), only merges down one column for data (a unit
    // spanning several project rows) — a sub-heading merged across a row must stay without a unit.
    let date_col_header = source.header("date");
    let cells: Vec<Vec<Data>> = (0..height)
        .map(|r| {
            (0..width)
                .map(|c| range.get((r, c)).cloned().unwrap_or(Data::Empty))
                .collect()
        })
        .collect();
    let (mut full, mut grid) = (cells.clone(), cells);
    if let Ok(merged) = book.merge_cells_by_sheet_name(&sheet) {
        for dim in merged {
            let (r0, c0) = (
                dim.start.0.saturating_sub(top) as usize,
                dim.start.1.saturating_sub(left) as usize,
            );
            let (r1, c1) = (
                (dim.end.0.saturating_sub(top) as usize).min(height.saturating_sub(1)),
                (dim.end.1.saturating_sub(left) as usize).min(width.saturating_sub(1)),
            );
            let Some(value) = full.get(r0).and_then(|r| r.get(c0)).cloned() else {
                continue;
            };
            for r in r0..=r1 {
                for c in c0..=c1 {
                    if matches!(full[r][c], Data::Empty) {
                        full[r][c] = value.clone();
                    }
                    if c0 == c1 && matches!(grid[r][c], Data::Empty) {
                        grid[r][c] = value.clone();
                    }
                }
            }
        }
    }
    let plain: Vec<Vec<String>> = full
        .iter()
        .map(|r| r.iter().map(|c| cell_text(c, false, source)).collect())
        .collect();

    // The header: the given row, or the first row (alone or joined with the next) holding every
    // mapped column name.
    let wanted: Vec<&str> = source.columns.values().map(|h| h.trim()).collect();
    let joined = |r: usize| -> Vec<String> {
        (0..width)
            .map(|c| {
                let a = plain[r][c].trim();
                let b = plain.get(r + 1).map(|n| n[c].trim()).unwrap_or("");
                if b.is_empty() || a == b {
                    a.to_string()
                } else if a.is_empty() {
                    b.to_string()
                } else {
                    format!("{a} {b}")
                }
            })
            .collect()
    };
    let has_all = |cells: &[String]| wanted.iter().all(|w| cells.iter().any(|c| c.trim() == *w));
    let candidates: Vec<usize> = match source.header_row {
        Some(r) => vec![(r as usize).saturating_sub(1 + top as usize)],
        None => (0..height.min(40)).collect(),
    };
    let mut found = None;
    for r in candidates {
        if r >= height {
            continue;
        }
        if has_all(&plain[r]) {
            found = Some((r, 1, plain[r].clone()));
            break;
        }
        if r + 1 < height && has_all(&joined(r)) {
            found = Some((r, 2, joined(r)));
            break;
        }
    }
    let Some((header_at, header_rows, headers)) = found else {
        return Err(fail(format!(
            "{origin}: sheet `{sheet}` has no header row with the columns {}; check the names in sources.{role}.columns{}",
            wanted.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", "),
            if source.header_row.is_some() { ", or sources.header_row" } else { ", or give sources.header_row" }
        )));
    };
    let index =
        |name: Option<&str>| name.and_then(|n| headers.iter().position(|h| h.trim() == n.trim()));
    let unit_col = index(source.header("unit_id"));
    let name_col = index(source.header("unit_name"));
    let date_col = index(date_col_header);
    let labels: Vec<String> = source
        .total_labels
        .iter()
        .map(|l| l.trim().to_lowercase())
        .collect();
    let is_total = |cell: &str| {
        let c = cell.trim().to_lowercase();
        labels
            .iter()
            .any(|l| c == *l || c.starts_with(&format!("{l} ")) || c.starts_with(&format!("{l}:")))
    };

    let file = tempfile::NamedTempFile::new_in(tmp)
        .map_err(|e| fail(format!("cannot create a file: {e}")))?;
    let mut out = csv::Writer::from_writer(std::io::BufWriter::new(file));
    let write_err = |e: csv::Error| fail(format!("cannot write a converted copy of {origin}: {e}"));
    let mut head = headers.clone();
    head.push(ROW_HEADER.to_string());
    out.write_record(&head).map_err(write_err)?;
    let mut not_data = 0u64;
    for (r, cells) in grid.iter().enumerate().skip(header_at + header_rows) {
        let row: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, cell)| cell_text(cell, Some(c) == date_col, source))
            .collect();
        if row.iter().all(|c| c.is_empty()) {
            continue;
        }
        let first_data = r == header_at + header_rows;
        let filled: Vec<&String> = row.iter().filter(|c| !c.is_empty()).collect();
        let numbered = first_data && filled.iter().enumerate().all(|(i, c)| numbering(c, i + 1));
        let no_unit = unit_col.is_some_and(|c| row[c].is_empty());
        let total = [Some(0), Some(1), Some(2), unit_col, name_col]
            .iter()
            .flatten()
            .any(|c| row.get(*c).is_some_and(|t| is_total(t)));
        if numbered || no_unit || total {
            not_data += 1;
            continue;
        }
        let mut record = row;
        record.push((top as usize + r + 1).to_string());
        out.write_record(&record).map_err(write_err)?;
    }
    let buffered = out
        .into_inner()
        .map_err(|e| fail(format!("cannot write a converted copy of {origin}: {e}")))?;
    let file = buffered
        .into_inner()
        .map_err(|e| fail(format!("cannot write a converted copy of {origin}: {e}")))?;
    Ok(Converted {
        file: file.into_temp_path(),
        sheet,
        not_data,
    })
}
