//! The fast reader: polars parses the typed columns itself and the rest with vectorised string
//! operations, block by block of whole rows; its sums are the answer only when every row is
//! valid for it.

use super::exact::exact_rows;
use super::frame::*;
use super::query::{countable_series, labels, Aggregate, Has, Query};
use super::sums::{fold, summed_all, Sums};
use crate::config::job::Source;
use crate::data::source::Table;
use crate::domain::id::UnitId;
use crate::domain::money;
use polars::prelude::*;
use std::collections::BTreeMap;

/// The fast reader: polars parses the typed columns itself (plain integer amounts, the plan
/// year) and the rest with vectorised string operations, without row numbers. It accepts a
/// subset of what the exact reader accepts — any row it cannot read is not `valid`, and then
/// the exact reader reads the source again (see [`aggregate_all`]).
pub(super) fn typed_rows(
    table: &Table,
    block: polars_buffer::Buffer<u8>,
    source: &Source,
    ids: &BTreeMap<String, UnitId>,
    has: Has,
) -> PolarsResult<LazyFrame> {
    let position = |c: &str| table.columns.get(c).copied();
    let native_amount = source.number_format == money::NumberFormat::Plain
        && source.amount_unit == money::AmountUnit::Dong;
    let int_columns = [
        position("plan_year"),
        position("amount").filter(|_| native_amount),
    ];
    let schema = Schema::from_iter((0..table.headers.len()).map(|i| {
        let dtype = if int_columns.contains(&Some(i)) {
            DataType::Int64
        } else {
            DataType::String
        };
        Field::new(format!("column_{}", i + 1).into(), dtype)
    }));
    let lf = LazyCsvReader::new_with_sources(ScanSources::Buffers(Arc::from([block])))
        // Rows only (the header is not in the block), named by position; no row index.
        .with_has_header(false)
        .with_schema(Some(Arc::new(schema)))
        .with_raise_if_empty(false)
        .with_separator(table.delimiter)
        .with_truncate_ragged_lines(true)
        // A cell that is not an integer is null, and its row not valid: the exact reader says why.
        .with_ignore_errors(true)
        .finish()?;
    let get = |c: &str| column(table, c).ok_or_else(|| polars_err!(ColumnNotFound: "{c}"));
    let amount = if native_amount {
        let bound = money::MAX_DONG;
        let a = get("amount")?;
        when(
            a.clone()
                .gt_eq(lit(-bound))
                .and(a.clone().lt_eq(lit(bound))),
        )
        .then(a)
        .otherwise(lit(NULL).cast(DataType::Int64))
    } else {
        vectorised_dong(get("amount")?, source.number_format, source.amount_unit)
    };
    let mut select = vec![get("unit_id")?.alias("unit_id"), amount.alias("amount")];
    // No test for blank rows here: it would make polars parse every column of every row. A blank
    // row inside the file is not valid (the exact reader reads it); those at its end are cut off
    // by `typed_blocks`.
    let mut valid = col("unit_id")
        .is_in(countable_series(ids), false)
        .and(col("amount").is_not_null());
    if has.date {
        select.push(date_cell(get("date")?, &source.date_format, false).alias("date"));
        valid = valid.and(col("date").is_not_null());
    }
    if has.year {
        select.push(get("plan_year")?.cast(DataType::Int32).alias("year"));
        valid = valid.and(col("year").is_not_null());
    }
    if has.effective {
        let raw = trimmed(get("effective_date")?);
        select.push(date_cell(raw.clone(), &source.date_format, true).alias("effective"));
        let blank = raw.clone().is_null().or(raw.eq(lit("")));
        valid = valid.and(blank.or(col("effective").is_not_null()));
    }
    select.extend(labels(table, has));
    Ok(lf.select(select).with_column(valid.alias("valid")))
}

/// The largest block of rows the typed reader scans at once.
pub(super) const SCAN_BLOCK: usize = 16 << 20;

/// Hands the rows of a CSV file (its header line left out) to `each` in blocks of whole rows, at
/// most `SCAN_BLOCK` bytes (more when one row is longer). Read this way, the file is never
/// mapped whole: its pages would count as the process's memory, block after block. The blank
/// lines at the end of the file (what spreadsheets and exports leave) are cut off the last
/// block; returns how many.
pub(super) fn typed_blocks(
    path: &std::path::Path,
    (size, delimiter): (usize, u8),
    mut each: impl FnMut(Vec<u8>) -> PolarsResult<()>,
) -> PolarsResult<u64> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut carry = Vec::new();
    let mut header = true;
    loop {
        let mut block = std::mem::take(&mut carry);
        let want = block.len() + size;
        block.reserve(size);
        let mut end = false;
        while block.len() < want {
            let n = (&mut file)
                .take((want - block.len()) as u64)
                .read_to_end(&mut block)?;
            if n == 0 {
                end = true;
                break;
            }
        }
        if header {
            match row_end(&block, false) {
                Some(at) => {
                    block.drain(..=at);
                    header = false;
                }
                None if end => return Ok(0),
                None => {
                    carry = block;
                    continue;
                }
            }
        }
        if end {
            let blank = cut_blank_end(&mut block, delimiter);
            if !block.is_empty() {
                each(block)?;
            }
            return Ok(blank);
        }
        match row_end(&block, true) {
            Some(at) => {
                carry = block[at + 1..].to_vec();
                block.truncate(at + 1);
                each(block)?;
            }
            None => carry = block,
        }
    }
}

/// Cuts the blank lines (spaces, tabs and delimiters only: a blank row of the exact reader) off
/// the end of `block`, the file's last; returns how many. None when a quote is left open: the
/// lines would be inside it.
fn cut_blank_end(block: &mut Vec<u8>, delimiter: u8) -> u64 {
    if memchr::memchr_iter(b'"', block).count() % 2 == 1 {
        return 0;
    }
    let blank = |line: &[u8]| {
        line.iter()
            .all(|&b| b == b' ' || b == b'\t' || b == b'\r' || b == delimiter)
    };
    let mut n = 0;
    loop {
        // The last line: up to the final line break, or to the end when there is none.
        let end = block.len() - usize::from(block.ends_with(b"\n"));
        if block.is_empty() {
            return n;
        }
        let start = memchr::memrchr(b'\n', &block[..end]).map_or(0, |at| at + 1);
        if !blank(&block[start..end]) {
            return n;
        }
        block.truncate(start);
        n += 1;
    }
}

/// Where a row ends in `bytes` (which start at a row's start): the first (or, with `last`, the
/// last) line break outside quotes.
pub(super) fn row_end(bytes: &[u8], last: bool) -> Option<usize> {
    let quotes_before = |at: usize| memchr::memchr_iter(b'"', &bytes[..at]).count();
    if last {
        let mut breaks = memchr::memrchr_iter(b'\n', bytes);
        let mut at = breaks.next()?;
        let mut open = quotes_before(at) % 2 == 1;
        while open {
            let earlier = breaks.next()?;
            open ^= memchr::memchr_iter(b'"', &bytes[earlier..at]).count() % 2 == 1;
            at = earlier;
        }
        Some(at)
    } else {
        memchr::memchr_iter(b'\n', bytes).find(|&at| quotes_before(at) % 2 == 0)
    }
}

/// Amount text → integer đồng with vectorised string operations, for the shapes people write
/// (`1.234.567`, `1234567`, `-12,5` triệu in vi style); null for anything else (spaces,
/// `(1.234)`, trailing zeros beyond the unit), which the exact reader then reads.
pub(super) fn vectorised_dong(
    e: Expr,
    format: money::NumberFormat,
    unit: money::AmountUnit,
) -> Expr {
    let (group, decimal) = match format {
        money::NumberFormat::Vi => (Some("."), ","),
        money::NumberFormat::En => (Some(","), "."),
        money::NumberFormat::Plain => (None, "."),
    };
    let exp = unit.exponent();
    let whole = match group {
        Some(g) => format!(r"(?:\d{{1,3}}(?:\{g}\d{{3}})+|\d+)"),
        None => r"\d+".to_string(),
    };
    let fraction = if exp > 0 {
        format!(r"(?:\{decimal}\d{{1,{exp}}})?")
    } else {
        String::new()
    };
    let shape = e
        .clone()
        .str()
        .contains(lit(format!("^[+-]?{whole}{fraction}$")), true);
    let text = match group {
        Some(g) => e.clone().str().replace_all(lit(g), lit(""), true),
        None => e.clone(),
    };
    let scale = 10i64.pow(exp);
    let digits = text
        .clone()
        .str()
        .extract(lit(r"^[+-]?(\d+)"), 1)
        .cast(DataType::Int64);
    let mut magnitude = digits.clone() * lit(scale);
    if exp > 0 {
        let frac = text.str().extract(lit(format!(r"\{decimal}(\d+)$")), 1);
        let len = frac.clone().str().len_bytes();
        // `,5` triệu is 500 000 đồng: the fraction's digits scaled up to the unit.
        let mut frac_scale = lit(0i64);
        for n in 1..=exp {
            frac_scale = when(len.clone().eq(lit(n)))
                .then(lit(10i64.pow(exp - n)))
                .otherwise(frac_scale);
        }
        let frac = frac.cast(DataType::Int64).fill_null(lit(0i64)) * frac_scale;
        magnitude = magnitude + frac;
    }
    let in_range = digits.lt_eq(lit(money::MAX_DONG / scale));
    let negative = e.str().starts_with(lit("-"));
    when(shape.and(in_range))
        .then(
            when(negative)
                .then(lit(0i64) - magnitude.clone())
                .otherwise(magnitude),
        )
        .otherwise(lit(NULL).cast(DataType::Int64))
}

/// The fast reader's sums, when every row is valid and every sum within bounds (else None: a
/// file polars' typed reader cannot take is not the answer either).
pub(super) fn fast_all(
    table: &Table,
    source: &Source,
    ids: &BTreeMap<String, UnitId>,
    has: Has,
    queries: &[Query],
) -> Option<Vec<Aggregate>> {
    let sums = (|| -> PolarsResult<Sums> {
        // The next block is read while polars sums this one. Each block's groups are stacked:
        // `fold` adds up an id's rows wherever they are.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(1);
        let mut groups: Option<DataFrame> = None;
        let trailing = std::thread::scope(|scope| -> PolarsResult<u64> {
            let reader = scope.spawn(move || {
                typed_blocks(&table.path, (SCAN_BLOCK, table.delimiter), |block| {
                    tx.send(block)
                        .map_err(|_| polars_err!(ComputeError: "the block reader stopped"))
                })
            });
            let mut summed = Ok(());
            for block in rx.iter() {
                let part = typed_rows(table, polars_buffer::Buffer::from(block), source, ids, has)
                    .and_then(|rows| stream(summed_all(rows, queries, has, false)));
                match (part, &mut groups) {
                    (Ok(part), Some(all)) => summed = all.vstack_mut(&part).map(|_| ()),
                    (Ok(part), None) => groups = Some(part),
                    (Err(e), _) => summed = Err(e),
                }
                if summed.is_err() {
                    break;
                }
            }
            // Dropping the receiver (on an error) stops the reader at its next block.
            drop(rx);
            let read = reader
                .join()
                .unwrap_or_else(|_| Err(polars_err!(ComputeError: "the block reader panicked")));
            summed.and(read)
        })?;
        match groups {
            Some(df) => fold(&df, queries, ids, table).map(|mut sums| {
                for a in &mut sums.aggregates {
                    a.stats.blank += trailing;
                }
                sums
            }),
            // A source with a header and no rows yet (early January).
            None => fold(
                &stream(summed_all(
                    exact_rows(table, source, ids, has)?,
                    queries,
                    has,
                    true,
                ))?,
                queries,
                ids,
                table,
            ),
        }
    })()
    .ok()?;
    (sums.invalid == 0 && sums.out_of_range.iter().all(Vec::is_empty)).then_some(sums.aggregates)
}
