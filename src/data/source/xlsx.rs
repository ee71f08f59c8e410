//! Excel (.xlsx) sources as the Treasury and ministry systems export them: title rows above the
//! table, headers over one or two rows (merged cells), an `STT` numbering row, group sub-headings
//! and total rows between the data, numbers stored as text in Vietnamese style, dates as serials or
//! text. The sheet is rewritten as CSV holding only data rows, with each row's own number in the
//! worksheet in a last column, so that problems are reported where people will look for them.

use crate::config::job::{Sheet, Source};
use crate::domain::issue::DataIssue;
use crate::domain::money::NumberFormat;
use calamine::{open_workbook, Data, Reader, Xlsx};
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// The header of the worksheet-row column added to the CSV.
pub const ROW_HEADER: &str = "__source_row";

pub struct Converted {
    pub file: tempfile::TempPath,
    pub sheet: String,
    /// Rows skipped as not data.
    pub not_data: u64,
}

/// Excel's last day, 9999-12-31, as a serial: anything outside [0, this) is not a date.
const LAST_SERIAL: f64 = 2_958_466.0;

/// The most the parts of a workbook may unpack to. The zip reader checks each part against the
/// size its directory declares, so the declared sizes are a sound bound.
pub const MAX_UNZIPPED_BYTES: u64 = 2 << 30;

/// Text of a cell as the source would have written it: numbers in the source's number style, dates
/// in its date format (a number in the date column is an Excel date serial). Never fails: a value
/// that is not a date stays a number, and the date check later names it.
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
    let serial = |f: f64| serial_text(f, &source.date_format).unwrap_or_else(|| number(f));
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Int(i) if is_date => serial(*i as f64),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if is_date => serial(*f),
        Data::Float(f) => number(*f),
        Data::Bool(b) => b.to_string(),
        // Only a serial in Excel's own range is converted: calamine's conversion panics far
        // outside it (e.g. -1e300 in a date-styled cell).
        Data::DateTime(dt) => {
            serial_text(dt.as_f64(), &source.date_format).unwrap_or_else(|| number(dt.as_f64()))
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// An Excel date serial in the source's date format; None when it is not a date Excel can hold or
/// the format cannot write it.
pub fn serial_text(f: f64, format: &str) -> Option<String> {
    if !(0.0..LAST_SERIAL).contains(&f) {
        return None;
    }
    // Excel's day 0 is 1899-12-30 (with its 1900 leap-year quirk folded in); the fraction is the
    // time of day, so that a format with time fields can be written too.
    let millis = (f * 86_400_000.0).round() as i64;
    let at = NaiveDate::from_ymd_opt(1899, 12, 30)?
        .and_hms_opt(0, 0, 0)?
        .checked_add_signed(chrono::TimeDelta::try_milliseconds(millis)?)?;
    let mut out = String::new();
    write!(out, "{}", at.format(format)).ok()?;
    Some(out)
}

fn numbering(text: &str, n: usize) -> bool {
    let t = text.trim().trim_start_matches('(').trim_end_matches(')');
    t == n.to_string() || (n <= 26 && t.len() == 1 && t.as_bytes()[0] == b'A' + (n as u8 - 1))
}

/// The used cells of a worksheet, sparse: row → column → value. Rows and columns keep their
/// numbers in the worksheet (0-based).
type Cells = BTreeMap<u32, BTreeMap<u32, Data>>;

/// Why a workbook's zip directory cannot be read.
#[derive(Debug, thiserror::Error)]
enum ZipError {
    #[error("cannot read: {0}")]
    Read(std::io::Error),
    #[error("is not an Excel workbook (xlsx is a zip archive): {0}")]
    NotZip(zip::result::ZipError),
    #[error("is not an Excel workbook: part {part}: {source}")]
    Part {
        part: usize,
        source: zip::result::ZipError,
    },
}

/// How large a workbook unpacks, read from its zip directory alone: a workbook that would unpack
/// too large is refused before calamine opens it.
fn unzipped_size(path: &Path) -> Result<u64, ZipError> {
    let file = std::fs::File::open(path).map_err(ZipError::Read)?;
    let mut archive =
        zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(ZipError::NotZip)?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let part = archive
            .by_index_raw(i)
            .map_err(|source| ZipError::Part { part: i, source })?;
        total = total.saturating_add(part.size());
    }
    Ok(total)
}

/// A worksheet as a table: its header found (over one or two rows), title rows, numbering
/// rows, group headings and total rows left out, each data row written with its row number in the
/// worksheet; or why it cannot be read, naming the file and the sheet.
pub fn to_csv(
    path: &Path,
    source: &Source,
    origin: &str,
    tmp: &Path,
) -> Result<Converted, Vec<DataIssue>> {
    let fail = |issue: DataIssue| vec![issue];
    let (mut book, sheet) = open_sheet(path, source, origin).map_err(fail)?;
    let cells = used_cells(&mut book, &sheet, source, origin).map_err(fail)?;
    let merged = book.merge_cells_by_sheet_name(&sheet).unwrap_or_default();
    let mut grid = Grid::new(cells, merged, source, origin, &sheet).map_err(fail)?;
    let (header_at, header_rows, headers) = grid.header().map_err(fail)?;
    let (file, not_data) = grid
        .write(header_at.saturating_add(header_rows), &headers, tmp)
        .map_err(fail)?;
    Ok(Converted {
        file,
        sheet,
        not_data,
    })
}

/// The workbook, refused before it is read when it would unpack too large, and the worksheet
/// the job names (the first by default).
fn open_sheet(
    path: &Path,
    source: &Source,
    origin: &str,
) -> Result<(Xlsx<std::io::BufReader<std::fs::File>>, String), DataIssue> {
    let unzipped = unzipped_size(path).map_err(|e| whole(source, format!("{origin} {e}")))?;
    if unzipped > MAX_UNZIPPED_BYTES {
        return Err(whole(
            source,
            format!(
            "{origin} unpacks to {unzipped} bytes, more than the {MAX_UNZIPPED_BYTES} an Excel source may; export the table as CSV, or split it"
        ),
        ));
    }
    let book: Xlsx<_> = open_workbook(path).map_err(|e| {
        whole(
            source,
            format!("{origin} cannot be read as an Excel workbook: {e}"),
        )
    })?;
    let names = book.sheet_names();
    let sheet = match &source.sheet {
        None => names.first().cloned(),
        Some(Sheet::Name(n)) => names.iter().find(|s| s.trim() == n.trim()).cloned(),
        Some(Sheet::Number(i)) => names.get(i - 1).cloned(),
    }
    .ok_or_else(|| {
        whole(
            source,
            format!(
                "{origin} has no sheet {:?}; its sheets are: {}; fix sources.{}.sheet",
                source.sheet,
                crate::base::text::list_capped(&names, 20),
                source.role
            ),
        )
    })?;
    Ok((book, sheet))
}

/// The cells that exist, read one at a time: a sheet's declared or furthest extent says nothing
/// about how many cells it holds (one cell at XFD1048576 would make a dense grid of 17 billion),
/// so only the used cells are kept, and at most `max_cells` of them.
fn used_cells(
    book: &mut Xlsx<std::io::BufReader<std::fs::File>>,
    sheet: &str,
    source: &Source,
    origin: &str,
) -> Result<Cells, DataIssue> {
    let unreadable = |e: calamine::XlsxError| {
        whole(
            source,
            format!("{origin}: sheet `{sheet}` cannot be read: {e}"),
        )
    };
    let mut cells: Cells = BTreeMap::new();
    let mut used: u64 = 0;
    let mut reader = book.worksheet_cells_reader(sheet).map_err(unreadable)?;
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        let (r, c) = cell.get_position();
        let value: Data = cell.get_value().clone().into();
        if matches!(value, Data::Empty) {
            continue;
        }
        used += 1;
        if used > source.max_cells {
            return Err(whole(
                source,
                format!(
                    "{origin}: sheet `{sheet}` has more than {} used cells (sources.{}.max_cells); raise the limit if the table is really that large, or export it as CSV",
                    source.max_cells, source.role
                ),
            ));
        }
        cells.entry(r).or_default().insert(c, value);
    }
    Ok(cells)
}

/// A worksheet's used cells, the columns in use (numbered compactly for the copy), its merged
/// regions, and what filling merges may still cost.
struct Grid<'s> {
    cells: Cells,
    columns: Vec<u32>,
    merged: Vec<calamine::Dimensions>,
    /// Merges may overlap or span the whole sheet: the cells they fill are counted, so that
    /// their cost stays within the same bound as the cells themselves.
    budget: u64,
    source: &'s Source,
    origin: &'s str,
    sheet: &'s str,
}

impl<'s> Grid<'s> {
    /// The grid, with each merge down one column carrying its top value into the rows it covers
    /// (a unit spanning several project rows); a sub-heading merged across a row stays without a
    /// unit.
    fn new(
        mut cells: Cells,
        merged: Vec<calamine::Dimensions>,
        source: &'s Source,
        origin: &'s str,
        sheet: &'s str,
    ) -> Result<Grid<'s>, DataIssue> {
        let mut grid = Grid {
            cells: BTreeMap::new(),
            columns: Vec::new(),
            merged,
            budget: source.max_cells.saturating_mul(2),
            source,
            origin,
            sheet,
        };
        for dim in grid.merged.iter().filter(|d| d.start.1 == d.end.1) {
            let (r0, c) = dim.start;
            let Some(value) = cells.get(&r0).and_then(|row| row.get(&c)).cloned() else {
                continue;
            };
            for (_, row) in cells.range_mut(r0.saturating_add(1)..=dim.end.0) {
                grid.budget = grid
                    .budget
                    .checked_sub(1)
                    .ok_or_else(|| grid.too_many_merged())?;
                row.entry(c).or_insert_with(|| value.clone());
            }
        }
        grid.columns = cells
            .values()
            .flat_map(|row| row.keys().copied())
            .collect::<BTreeSet<u32>>()
            .into_iter()
            .collect();
        grid.cells = cells;
        Ok(grid)
    }

    fn too_many_merged(&self) -> DataIssue {
        self.whole(format!(
            "{}: sheet `{}`: merged cells cover more than {} cells; unmerge them, or export the table as CSV",
            self.origin,
            self.sheet,
            self.source.max_cells.saturating_mul(2)
        ))
    }

    /// A problem with the whole sheet.
    fn whole(&self, problem: String) -> DataIssue {
        whole(self.source, problem)
    }

    /// A header row's text: every merge carries its top-left value into the cells it covers (a
    /// heading spanning columns or rows).
    fn header_text(&mut self, r: u32) -> Result<Vec<String>, DataIssue> {
        let source = self.source;
        let mut row: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                self.cells
                    .get(&r)
                    .and_then(|row| row.get(c))
                    .map(|d| cell_text(d, false, source))
                    .unwrap_or_default()
            })
            .collect();
        for dim in self
            .merged
            .iter()
            .filter(|d| (d.start.0..=d.end.0).contains(&r))
        {
            let Some(value) = self
                .cells
                .get(&dim.start.0)
                .and_then(|row| row.get(&dim.start.1))
            else {
                continue;
            };
            let text = cell_text(value, false, source);
            let from = self.columns.partition_point(|c| *c < dim.start.1);
            let to = self.columns.partition_point(|c| *c <= dim.end.1);
            for slot in row.iter_mut().take(to).skip(from) {
                self.budget = match self.budget.checked_sub(1) {
                    Some(b) => b,
                    None => return Err(self.too_many_merged()),
                };
                if slot.is_empty() {
                    slot.clone_from(&text);
                }
            }
        }
        Ok(row)
    }

    /// The header: the given row, or the first row (alone or joined with the next) holding every
    /// mapped column name. Its row, how many rows it spans, and its column names.
    fn header(&mut self) -> Result<(u32, u32, Vec<String>), DataIssue> {
        let source = self.source;
        let wanted: Vec<&str> = source.columns.values().map(|h| h.trim()).collect();
        let has_all =
            |cells: &[String]| wanted.iter().all(|w| cells.iter().any(|c| c.trim() == *w));
        let first_row = self.cells.keys().next().copied().unwrap_or(0);
        let candidates: Vec<u32> = match source.header_row {
            Some(r) => vec![r.saturating_sub(1)],
            None => self
                .cells
                .keys()
                .copied()
                .take_while(|r| *r < first_row.saturating_add(40))
                .collect(),
        };
        for r in candidates {
            let this = self.header_text(r)?;
            if has_all(&this) {
                return Ok((r, 1, this));
            }
            let next = self.header_text(r.saturating_add(1))?;
            let joined = joined_header(&this, &next);
            if has_all(&joined) {
                return Ok((r, 2, joined));
            }
        }
        Err(self.whole(format!(
            "{}: sheet `{}` has no header row with the columns {}; check the names in sources.{}.columns{}",
            self.origin,
            self.sheet,
            wanted.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", "),
            source.role,
            if source.header_row.is_some() {
                format!(", or sources.{}.header_row", source.role)
            } else {
                format!(", or give sources.{}.header_row", source.role)
            }
        )))
    }

    /// Writes the data rows from `data_from` as CSV under `headers`, each with its row number in
    /// the worksheet; the rows that are not data (numbering, no unit, totals) are counted.
    fn write(
        &self,
        data_from: u32,
        headers: &[String],
        tmp: &Path,
    ) -> Result<(tempfile::TempPath, u64), DataIssue> {
        let (source, origin) = (self.source, self.origin);
        let index = |name: Option<&str>| {
            name.and_then(|n| headers.iter().position(|h| h.trim() == n.trim()))
        };
        let unit_col = index(source.header("unit_id"));
        let name_col = index(source.header("unit_name"));
        let date_col = index(source.header("date"));
        let is_total = total_label(&source.total_labels);
        let file = tempfile::NamedTempFile::new_in(tmp)
            .map_err(|e| self.whole(format!("cannot create a file: {e}")))?;
        let mut out = csv::Writer::from_writer(std::io::BufWriter::new(file));
        let write_err =
            |e: csv::Error| self.whole(format!("cannot write a converted copy of {origin}: {e}"));
        let mut head = headers.to_vec();
        head.push(ROW_HEADER.to_string());
        out.write_record(&head).map_err(write_err)?;
        let mut not_data = 0u64;
        let mut first_data = true;
        for (r, stored) in self.cells.range(data_from..) {
            let mut row = vec![String::new(); self.columns.len()];
            for (c, cell) in stored {
                let at = self.columns.partition_point(|x| x < c);
                row[at] = cell_text(cell, Some(at) == date_col, source);
            }
            if row.iter().all(|c| c.is_empty()) {
                continue;
            }
            let filled: Vec<&String> = row.iter().filter(|c| !c.is_empty()).collect();
            let numbered =
                first_data && filled.iter().enumerate().all(|(i, c)| numbering(c, i + 1));
            first_data = false;
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
            record.push((u64::from(*r) + 1).to_string());
            out.write_record(&record).map_err(write_err)?;
        }
        let written = |e: std::io::Error| {
            self.whole(format!("cannot write a converted copy of {origin}: {e}"))
        };
        let buffered = out.into_inner().map_err(|e| written(e.into_error()))?;
        let file = buffered.into_inner().map_err(|e| written(e.into_error()))?;
        Ok((file.into_temp_path(), not_data))
    }
}

/// A problem with the whole source (the workbook, its sheet).
fn whole(source: &Source, problem: String) -> DataIssue {
    DataIssue::whole(source.role, problem)
}

/// A header over two rows as one: "Kế hoạch" over "vốn" is "Kế hoạch vốn"; a heading merged over
/// both rows is said once.
fn joined_header(this: &[String], next: &[String]) -> Vec<String> {
    this.iter()
        .zip(next)
        .map(|(a, b)| {
            let (a, b) = (a.trim(), b.trim());
            if b.is_empty() || a == b {
                a.to_string()
            } else if a.is_empty() {
                b.to_string()
            } else {
                format!("{a} {b}")
            }
        })
        .collect()
}

/// Whether a cell is a total row's label ("Tổng cộng", "Cộng: …").
fn total_label(labels: &[String]) -> impl Fn(&str) -> bool {
    let labels: Vec<String> = labels.iter().map(|l| l.trim().to_lowercase()).collect();
    move |cell: &str| {
        let c = cell.trim().to_lowercase();
        labels
            .iter()
            .any(|l| c == *l || c.starts_with(&format!("{l} ")) || c.starts_with(&format!("{l}:")))
    }
}
