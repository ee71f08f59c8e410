//! What every reader of a table shares: the lazy scan of its CSV, the streaming engine, the row
//! numbers people are told, dates and amounts parsed from text, and money summed in two parts that
//! cannot overflow.

use crate::data::source::Table;
use crate::domain::issue::DataIssue;
use crate::domain::money;
use polars::prelude::*;

pub(super) const ROW: &str = "__row";

/// The source's own row number, when the table was converted (Excel).
pub(super) const SOURCE_ROW: &str = "__source_row";

/// Rows with problems listed one by one per source; more are counted in one closing issue.
pub const MAX_LISTED_ROWS: usize = 200;

pub(super) fn scan(table: &Table) -> PolarsResult<LazyFrame> {
    // No header: columns are addressed by position (`column_N`), so headers with odd spacing or
    // repeated names elsewhere in the file cannot confuse the reader. Every cell is read as text.
    LazyCsvReader::new(PlRefPath::from(table.path.to_string_lossy().as_ref()))
        .with_has_header(false)
        .with_skip_rows(1)
        // Every column as text, named by position; given rather than inferred, so that a source
        // with a header and no rows yet (early January) reads as empty instead of failing.
        .with_schema(Some(Arc::new(Schema::from_iter(
            (1..=table.headers.len())
                .map(|i| Field::new(format!("column_{i}").into(), DataType::String)),
        ))))
        .with_raise_if_empty(false)
        .with_separator(table.delimiter)
        .with_truncate_ragged_lines(true)
        .with_row_index(Some(RowIndex {
            name: ROW.into(),
            offset: 0,
        }))
        .finish()
}

/// Runs a query on the streaming engine, so a large file is processed in batches rather than
/// loaded whole (the in-memory engine would hold every row).
pub(super) fn stream(lf: LazyFrame) -> PolarsResult<DataFrame> {
    Ok(lf.collect_with_engine(Engine::Streaming)?.unwrap_single())
}

/// Whether a row has nothing in it: a blank line, a line of spaces, or the row of empty cells a
/// spreadsheet writes for one. It is not a record: readers skip it and count it.
pub(super) const BLANK: &str = "__blank";

/// [`BLANK`] over every column of the table, not only those the job reads (a row with only a
/// note in it is a row with a problem).
pub(super) fn blank_row(table: &Table) -> Expr {
    (1..=table.headers.len())
        .map(|i| {
            let t = trimmed(col(format!("column_{i}")));
            t.clone().is_null().or(t.eq(lit("")))
        })
        .reduce(Expr::and)
        .unwrap_or(lit(true))
        .alias(BLANK)
}

pub(super) fn source_row(table: &Table) -> Option<Expr> {
    table
        .row_column
        .map(|i| col(format!("column_{}", i + 1)).alias(SOURCE_ROW))
}

pub(super) fn column(table: &Table, canonical: &str) -> Option<Expr> {
    table
        .columns
        .get(canonical)
        .map(|i| col(format!("column_{}", i + 1)))
}

/// Date text in the source's format → a date (null where the text is not one).
/// `cache`: remember each distinct text's date (worth it for a few distinct values, not for
/// every row of a large file, where polars' fixed-format parser is faster).
pub(super) fn date_cell(e: Expr, format: &str, cache: bool) -> Expr {
    e.str().to_date(StrptimeOptions {
        format: Some(format.into()),
        strict: false,
        exact: true,
        cache,
    })
}

pub(super) fn trimmed(e: Expr) -> Expr {
    e.str().strip_chars(lit(LiteralValue::untyped_null()))
}

/// Text in Unicode NFC (`base::text::nfc`): ids and names compare equal however their
/// diacritics were typed. A column that already is (any ASCII one) is passed on as it is.
pub(super) fn nfc(e: Expr) -> Expr {
    e.map(
        |c: Column| {
            let s = c.str()?;
            if s.iter().all(|v| {
                v.is_none_or(|t| matches!(crate::base::text::nfc(t), std::borrow::Cow::Borrowed(_)))
            }) {
                return Ok(c);
            }
            let out: StringChunked = s
                .iter()
                .map(|v| v.map(|t| crate::base::text::nfc(t).into_owned()))
                .collect();
            Ok(out.with_name(c.name().clone()).into_column())
        },
        |_, f| Ok(f.clone()),
    )
}

/// Amount text → integer đồng (null where the text is not an amount; the message is made later).
pub(super) fn dong(e: Expr, format: money::NumberFormat, unit: money::AmountUnit) -> Expr {
    e.map(
        move |c: Column| {
            let out: Int64Chunked = c
                .str()?
                .iter()
                .map(|v| v.and_then(|s| money::parse_dong(s, format, unit).ok()))
                .collect();
            Ok(out.with_name(c.name().clone()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::Int64)),
    )
}

/// Money is summed in two parts — the multiples of 2^32 and the remainders — each an i64 sum that
/// cannot overflow for fewer than a billion rows of amounts up to 10^18 (polars' own i64 sum
/// wraps in a release build and panics in a debug one). The parts join exactly in i128.
pub(super) const SPLIT: i64 = 1 << 32;

pub(super) const HIGH: &str = "amount_high";

pub(super) const LOW: &str = "amount_low";

/// The two parts of each amount, as row-wise columns: summing plain columns keeps the streaming
/// engine's group-by (an arithmetic expression inside `agg` would make it fall back to memory).
pub(super) fn split_parts() -> [Expr; 2] {
    // Any whole number near amount / 2^32 will do: the remainder is taken exactly in i64, so
    // high · 2^32 + low is the amount whatever the division's rounding.
    let high = (col("amount").cast(DataType::Float64) / lit(SPLIT as f64)).cast(DataType::Int64);
    [
        high.clone().alias(HIGH),
        (col("amount") - high * lit(SPLIT)).alias(LOW),
    ]
}

pub(super) fn failed(table: &Table, e: PolarsError) -> DataIssue {
    DataIssue {
        source: table.role,
        sheet: table.sheet.clone(),
        row: None,
        column: None,
        value: None,
        problem: format!("{} cannot be read as CSV: {e}; check that it is UTF-8 CSV with the delimiter the job says", table.origin),
    }
}

/// A column as i64 values, a missing value as 0 (sums of no rows).
pub(super) fn ints(df: &DataFrame, name: &str) -> PolarsResult<Vec<i64>> {
    Ok(df
        .column(name)?
        .cast(&DataType::Int64)?
        .i64()?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect())
}

pub(super) fn strs(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(df
        .column(name)?
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

pub(super) fn row_numbers(df: &DataFrame, table: &Table) -> PolarsResult<Vec<u64>> {
    if table.row_column.is_some() && df.schema().contains(SOURCE_ROW) {
        // Excel: the worksheet's own row numbers, carried through the conversion.
        return Ok(df
            .column(SOURCE_ROW)?
            .str()?
            .iter()
            .map(|v| v.and_then(|s| s.parse().ok()).unwrap_or(0))
            .collect());
    }
    let idx = df.column(ROW)?.cast(&DataType::UInt64)?;
    Ok(idx
        .u64()?
        .iter()
        .map(|v| v.unwrap_or(0) + 1 + table.row_offset)
        .collect())
}
