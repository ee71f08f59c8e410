//! The compute stage, and the only module that uses polars: reads each source table lazily,
//! validates its rows, sums money exactly in integer đồng, and computes every unit's rate, gap,
//! rank and status. It returns plain Rust values, so later stages never see a DataFrame.
//!
//! Large transaction files are scanned lazily: only the mapped columns are read, and rows are
//! parsed and summed per unit without the file being held whole in memory.

use crate::job::{DisbursementKind, Source};
use crate::ledger::{DataIssue, Ledger, Published, SourceRole, SourceStats, Unit, UnitId};
use crate::money;
use crate::rule::{Bands, PlanYear, Share, Status};
use crate::source::Table;
use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

const ROW: &str = "__row";
/// The source's own row number, when the table was converted (Excel).
const SOURCE_ROW: &str = "__source_row";
/// Rows with problems listed one by one per source; more are counted in one closing issue.
pub const MAX_LISTED_ROWS: usize = 200;

fn scan(table: &Table) -> PolarsResult<LazyFrame> {
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
fn stream(lf: LazyFrame) -> PolarsResult<DataFrame> {
    Ok(lf.collect_with_engine(Engine::Streaming)?.unwrap_single())
}

fn source_row(table: &Table) -> Option<Expr> {
    table
        .row_column
        .map(|i| col(format!("column_{}", i + 1)).alias(SOURCE_ROW))
}

fn column(table: &Table, canonical: &str) -> Option<Expr> {
    table
        .columns
        .get(canonical)
        .map(|i| col(format!("column_{}", i + 1)))
}

/// Date text in the source's format → a date (null where the text is not one).
/// `cache`: remember each distinct text's date (worth it for a few distinct values, not for
/// every row of a large file, where polars' fixed-format parser is faster).
fn date_cell(e: Expr, format: &str, cache: bool) -> Expr {
    e.str().to_date(StrptimeOptions {
        format: Some(format.into()),
        strict: false,
        exact: true,
        cache,
    })
}

fn trimmed(e: Expr) -> Expr {
    e.str().strip_chars(lit(LiteralValue::untyped_null()))
}

/// Amount text → integer đồng (null where the text is not an amount; the message is made later).
fn dong(e: Expr, format: money::NumberFormat, unit: money::AmountUnit) -> Expr {
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
const SPLIT: i64 = 1 << 32;
const HIGH: &str = "amount_high";
const LOW: &str = "amount_low";

/// The two parts of each amount, as row-wise columns: summing plain columns keeps the streaming
/// engine's group-by (an arithmetic expression inside `agg` would make it fall back to memory).
fn split_parts() -> [Expr; 2] {
    // Any whole number near amount / 2^32 will do: the remainder is taken exactly in i64, so
    // high · 2^32 + low is the amount whatever the division's rounding.
    let high = (col("amount").cast(DataType::Float64) / lit(SPLIT as f64)).cast(DataType::Int64);
    [
        high.clone().alias(HIGH),
        (col("amount") - high * lit(SPLIT)).alias(LOW),
    ]
}

fn failed(table: &Table, e: PolarsError) -> DataIssue {
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
fn ints(df: &DataFrame, name: &str) -> PolarsResult<Vec<i64>> {
    Ok(df
        .column(name)?
        .cast(&DataType::Int64)?
        .i64()?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect())
}

fn strs(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(df
        .column(name)?
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

fn row_numbers(df: &DataFrame, table: &Table) -> PolarsResult<Vec<u64>> {
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

/// Reads the units source: ids, names, addresses and parents, each row checked.
/// `number_format` is how a published_rate column writes its percentages.
/// Returns the units, the problems (rows left out or addresses not read) and notes (names
/// cleaned of control characters: the unit is still measured and told).
pub type UnitsRead = (Vec<Unit>, Vec<DataIssue>, Vec<DataIssue>, SourceStats);

pub fn units(table: &Table, number_format: money::NumberFormat) -> Result<UnitsRead, DataIssue> {
    let vi = number_format == money::NumberFormat::Vi;
    let mut select = vec![col(ROW)];
    if let Some(e) = source_row(table) {
        select.push(e);
    }
    for c in [
        "unit_id",
        "unit_name",
        "email",
        "parent_id",
        "group",
        "published_rate",
    ] {
        if let Some(e) = column(table, c) {
            select.push(trimmed(e).alias(c));
        }
    }
    let df = scan(table)
        .and_then(|lf| lf.select(select).collect())
        .map_err(|e| failed(table, e))?;
    let get = |n: &str| -> PolarsResult<Vec<Option<String>>> {
        if df.schema().contains(n) {
            strs(&df, n)
        } else {
            Ok(vec![None; df.height()])
        }
    };
    let (ids, names, emails, parents, groups, published, rows) = (|| -> PolarsResult<_> {
        Ok((
            get("unit_id")?,
            get("unit_name")?,
            get("email")?,
            get("parent_id")?,
            get("group")?,
            get("published_rate")?,
            row_numbers(&df, table)?,
        ))
    })()
    .map_err(|e| failed(table, e))?;

    let issue = |row: u64, canonical: &str, value: Option<&str>, problem: String| DataIssue {
        source: SourceRole::Units,
        sheet: table.sheet.clone(),
        row: Some(row),
        column: table.header(canonical).map(str::to_string),
        value: value.map(str::to_string),
        problem,
    };
    let mut issues = Vec::new();
    let mut notes = Vec::new();
    let mut units: Vec<Unit> = Vec::new();
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..df.height() {
        let row = rows[i];
        let before = issues.len();
        let id = ids[i].clone().unwrap_or_default();
        if id.is_empty() {
            issues.push(issue(
                row,
                "unit_id",
                None,
                "the unit id is empty; fill it in or delete the row".into(),
            ));
        } else if crate::text::has_unsafe(&id) {
            issues.push(issue(
                row,
                "unit_id",
                Some(&id),
                "the unit id holds control characters (a line break, an escape); write the id as plain text".into(),
            ));
        } else if let Some(first) = seen.get(&id) {
            issues.push(issue(
                row,
                "unit_id",
                Some(&id),
                format!(
                    "unit `{id}` is listed twice (first in row {first}); keep one row per unit"
                ),
            ));
        }
        // Only a missing or repeated id drops the row; other problems are reported and the unit
        // is still measured (with the addresses that could be read).
        let keep = issues.len() == before;
        let mut name = names[i].clone().unwrap_or_default();
        if name.is_empty() {
            issues.push(issue(
                row,
                "unit_name",
                None,
                "the unit's name is empty; fill it in".into(),
            ));
            name = id.clone();
        }
        // A name goes into subjects, headers and tables: a line break or an escape in it is
        // replaced, and the unit is still told.
        if let std::borrow::Cow::Owned(clean) = crate::text::one_line(&name) {
            notes.push(issue(
                row,
                "unit_name",
                Some(&name),
                format!("the name holds control characters (line breaks, escapes); they are replaced by spaces in mail and tables: `{clean}`"),
            ));
            name = clean;
        }
        let (mailboxes, bad) =
            crate::address::parse_list(emails[i].as_deref().unwrap_or(""), &name);
        for addr in &bad {
            issues.push(issue(
                row,
                "email",
                Some(addr),
                "not an email address; write addresses like `ten@example.gov.vn`, separated by `;`"
                    .into(),
            ));
        }
        if keep {
            seen.insert(id.clone(), row);
            let published_rate = match published[i].as_deref().filter(|t| !t.is_empty()) {
                None => None,
                Some(text) => match Published::parse(text, vi) {
                    Some(p) => Some(p),
                    None => {
                        issues.push(issue(row, "published_rate", Some(text), "not a percentage; write e.g. 36,5 (or 36.5 with number_format = \"en\")".into()));
                        None
                    }
                },
            };
            units.push(Unit {
                id,
                name,
                row,
                emails: mailboxes,
                parent_id: parents[i].clone().filter(|p| !p.is_empty()),
                group: groups[i]
                    .as_deref()
                    .map(|g| crate::text::one_line(g).into_owned())
                    .filter(|g| !g.is_empty()),
                published_rate,
            });
        }
    }
    let known: HashSet<String> = units.iter().map(|u| u.id.clone()).collect();
    for u in units.iter_mut() {
        if let Some(p) = u.parent_id.take_if(|p| !known.contains(p.as_str())) {
            issues.push(issue(
                seen[&u.id],
                "parent_id",
                Some(&p),
                format!("parent unit `{p}` is not in the units source; add it or correct the id"),
            ));
        }
    }
    // A loop of parents (A under B under A) has no top: it is broken where it closes, and said.
    let index: std::collections::HashMap<String, usize> = units
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id.clone(), i))
        .collect();
    let mut state = vec![0u8; units.len()]; // 0 unseen, 1 on the current path, 2 done
    for start in 0..units.len() {
        let mut path = Vec::new();
        let mut at = Some(start);
        while let Some(i) = at.filter(|&i| state[i] != 2) {
            if state[i] == 1 {
                // `path`'s last unit names `i`, on this path: the loop closes there.
                let last = *path.last().unwrap_or(&i);
                if let Some(p) = units[last].parent_id.take() {
                    let id = units[last].id.clone();
                    issues.push(issue(
                        seen[&id],
                        "parent_id",
                        Some(&p),
                        format!("unit `{id}` is under `{p}`, which is (through its parents) under `{id}`: the parents loop; correct one parent_id"),
                    ));
                }
                break;
            }
            state[i] = 1;
            path.push(i);
            at = units[i]
                .parent_id
                .as_ref()
                .and_then(|p| index.get(p).copied());
        }
        for i in path {
            state[i] = 2;
        }
    }
    let stats = SourceStats {
        source: Some(SourceRole::Units),
        origin: table.origin.clone(),
        rows: df.height() as u64,
        used: units.len() as u64,
        out_of_scope: 0,
        rejected: (df.height() - units.len()) as u64,
        not_data: table.not_data,
        sums: None,
    };
    Ok((units, issues, notes, stats))
}

/// Which rows of a money source count for this run.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// Plan rows of this plan year (all rows when the source has no plan_year column), in force on
    /// `as_of` (rows with an `effective_date` after it do not count yet).
    Plans { year: PlanYear, as_of: NaiveDate },
    /// Disbursement rows dated from `start` to `end`, inclusive; with a plan_year column, only
    /// the rows of plan year `year` (in January two plan years pay at once).
    Disbursements {
        year: PlanYear,
        kind: DisbursementKind,
        start: NaiveDate,
        end: NaiveDate,
    },
}

/// A money source summed per unit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Aggregate {
    pub by_unit: BTreeMap<UnitId, i64>,
    pub issues: Vec<DataIssue>,
    pub stats: SourceStats,
    /// The latest date among the rows that count (sources with a date column).
    pub newest: Option<NaiveDate>,
    /// Plans with dated changes: the date of each unit's latest change in force.
    pub changed: BTreeMap<UnitId, NaiveDate>,
}

/// Unit ids mapped to their successors (following chains: A → B → C).
fn successor(e: Expr, map: &BTreeMap<UnitId, UnitId>) -> Expr {
    if map.is_empty() {
        return e;
    }
    let map = map.clone();
    e.map(
        move |c: Column| {
            let out: StringChunked = c
                .str()?
                .iter()
                .map(|v| v.map(|id| successor_of(&map, id).to_string()))
                .collect();
            Ok(out.with_name(c.name().clone()).into_column())
        },
        |_, f| Ok(f.clone()),
    )
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// One denominator measured over a money source: the rows in scope, under a layer and a capital
/// source when the job measures one.
#[derive(Debug, Clone)]
pub struct Query {
    pub scope: Scope,
    pub layer: Option<String>,
    pub capital_source: Option<String>,
}

/// The unit an id's rows count for: its successor's successor…, at most 16 steps (a cycle stops).
pub fn successor_of<'a>(map: &'a BTreeMap<UnitId, UnitId>, id: &'a str) -> &'a str {
    let mut id = id;
    for _ in 0..16 {
        match map.get(id) {
            Some(next) => id = next,
            None => break,
        }
    }
    id
}

/// Ids as written in a money source whose rows count, each with the unit it counts for: the
/// units' own ids and their predecessors' (`successors`), when the chain ends at a known unit.
fn countable(known: &[UnitId], successors: &BTreeMap<UnitId, UnitId>) -> BTreeMap<String, UnitId> {
    let units: HashSet<&str> = known.iter().map(String::as_str).collect();
    known
        .iter()
        .chain(successors.keys())
        .filter_map(|id| {
            let to = successor_of(successors, id);
            units.contains(to).then(|| (id.clone(), to.to_string()))
        })
        .collect()
}

/// Which source columns a money table has (beyond unit id and amount).
#[derive(Debug, Clone, Copy)]
struct Has {
    date: bool,
    project: bool,
    year: bool,
    effective: bool,
    layer: bool,
    capital: bool,
}

impl Has {
    fn of(table: &Table) -> Has {
        let has = |c: &str| table.columns.contains_key(c);
        Has {
            date: has("date"),
            project: has("project_id"),
            year: has("plan_year"),
            effective: has("effective_date"),
            layer: has("layer"),
            capital: has("capital_source"),
        }
    }
}

/// The columns a query's filters compare as text (`layer`, `capital_source`), trimmed alike by
/// both readers.
fn labels(table: &Table, has: Has) -> Vec<Expr> {
    [("layer", has.layer), ("capital_source", has.capital)]
        .into_iter()
        .filter(|(_, present)| *present)
        .filter_map(|(name, _)| column(table, name).map(|c| trimmed(c).alias(name)))
        .collect()
}

/// Whether a row (already `valid`) counts for `q`.
fn in_scope(q: &Query, has: Has) -> Expr {
    let as_date = |d: NaiveDate| lit(days_since_epoch(d)).cast(DataType::Date);
    let mut e = match q.scope {
        Scope::Plans { year, .. } if has.year => col("year").eq(lit(year)),
        Scope::Plans { .. } => lit(true),
        Scope::Disbursements {
            start, end, year, ..
        } => {
            let dated = col("date")
                .gt_eq(as_date(start))
                .and(col("date").lt_eq(as_date(end)));
            match has.year {
                true => dated.and(col("year").eq(lit(year))),
                false => dated,
            }
        }
    };
    if let (Scope::Plans { as_of, .. }, true) = (q.scope, has.effective) {
        e = e.and(
            col("effective")
                .is_null()
                .or(col("effective").lt_eq(as_date(as_of))),
        );
    }
    if let (Some(layer), true) = (&q.layer, has.layer) {
        e = e.and(col("layer").eq(lit(layer.clone())));
    }
    if let (Some(cs), true) = (&q.capital_source, has.capital) {
        e = e.and(col("capital_source").eq(lit(cs.clone())));
    }
    e
}

fn countable_series(ids: &BTreeMap<String, UnitId>) -> Expr {
    lit(Series::new(
        "countable".into(),
        ids.keys().cloned().collect::<Vec<_>>(),
    ))
    .implode(false)
}

/// The fast reader: polars parses the typed columns itself (plain integer amounts, the plan
/// year) and the rest with vectorised string operations, without row numbers. It accepts a
/// subset of what the exact reader accepts — any row it cannot read is not `valid`, and then
/// the exact reader reads the source again (see [`aggregate_all`]).
fn typed_rows(
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
const SCAN_BLOCK: usize = 64 << 20;

/// Hands the rows of a CSV file (its header line left out) to `each` in blocks of whole rows, at
/// most `SCAN_BLOCK` bytes (more when one row is longer). Read this way, the file is never
/// mapped whole: its pages would count as the process's memory, block after block.
fn typed_blocks(
    path: &std::path::Path,
    size: usize,
    mut each: impl FnMut(Vec<u8>) -> PolarsResult<()>,
) -> PolarsResult<()> {
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
                None if end => return Ok(()),
                None => {
                    carry = block;
                    continue;
                }
            }
        }
        if end {
            if !block.is_empty() {
                each(block)?;
            }
            return Ok(());
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

/// Where a row ends in `bytes` (which start at a row's start): the first (or, with `last`, the
/// last) line break outside quotes.
fn row_end(bytes: &[u8], last: bool) -> Option<usize> {
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
fn vectorised_dong(e: Expr, format: money::NumberFormat, unit: money::AmountUnit) -> Expr {
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

/// The exact reader: every cell as text, each checked with the rules people are told about
/// (`money::parse_dong`, the date format), with row numbers for messages.
fn exact_rows(
    table: &Table,
    source: &Source,
    ids: &BTreeMap<String, UnitId>,
    has: Has,
) -> PolarsResult<LazyFrame> {
    let get = |c: &str| column(table, c).ok_or_else(|| polars_err!(ColumnNotFound: "{c}"));
    let mut select = vec![
        col(ROW),
        source_row(table).unwrap_or_else(|| lit(NULL).cast(DataType::String).alias(SOURCE_ROW)),
        trimmed(get("unit_id")?).alias("unit_id"),
        get("amount")?.alias("amount_raw"),
    ];
    let mut parsed =
        vec![dong(col("amount_raw"), source.number_format, source.amount_unit).alias("amount")];
    let mut valid = col("unit_id")
        .is_in(countable_series(ids), false)
        .and(col("amount").is_not_null());
    if has.date {
        select.push(trimmed(get("date")?).alias("date_raw"));
        parsed.push(date_cell(col("date_raw"), &source.date_format, true).alias("date"));
        valid = valid.and(col("date").is_not_null());
    }
    if has.year {
        select.push(trimmed(get("plan_year")?).alias("year_raw"));
        parsed.push(col("year_raw").cast(DataType::Int32).alias("year"));
        valid = valid.and(col("year").is_not_null());
    }
    if has.effective {
        select.push(trimmed(get("effective_date")?).alias("effective_raw"));
        parsed.push(date_cell(col("effective_raw"), &source.date_format, true).alias("effective"));
        // An empty effective date means "from the start"; a cell that is not a date is an error.
        let blank = col("effective_raw")
            .is_null()
            .or(col("effective_raw").eq(lit("")));
        valid = valid.and(blank.or(col("effective").is_not_null()));
    }
    select.extend(labels(table, has));
    if has.project {
        select.push(trimmed(get("project_id")?).alias("project"));
    }
    Ok(scan(table)?
        .select(select)
        .with_columns(parsed)
        .with_column(valid.fill_null(lit(false)).alias("valid")))
}

const KEY: &str = "__unit";

/// Per id as written: for every query the two money parts and the rows counted, the newest date
/// (first query) and the latest plan change (each query); and every id's row count, the rows
/// that are not valid under a null id. One pass over the source for all queries.
fn summed_all(rows: LazyFrame, queries: &[Query], has: Has) -> LazyFrame {
    let mut per_row = split_parts().to_vec();
    per_row.push(
        when(col("valid"))
            .then(col("unit_id"))
            .otherwise(lit(NULL).cast(DataType::String))
            .alias(KEY),
    );
    let (mut flags, mut derived) = (Vec::new(), Vec::new());
    let mut aggs = vec![len().alias("rows")];
    for (k, q) in queries.iter().enumerate() {
        let counts = format!("n_{k}");
        flags.push(
            col("valid")
                .and(in_scope(q, has))
                .fill_null(lit(false))
                .cast(DataType::Int64)
                .alias(counts.as_str()),
        );
        // Row-wise columns and plain sums: an expression inside `agg` would make the streaming
        // group-by fall back to memory.
        derived.extend([
            (col(HIGH) * col(counts.as_str())).alias(format!("high_{k}")),
            (col(LOW) * col(counts.as_str())).alias(format!("low_{k}")),
        ]);
        aggs.extend([
            col(format!("high_{k}")).sum(),
            col(format!("low_{k}")).sum(),
            col(counts.as_str()).sum(),
        ]);
        let only = |e: &str, name: String| {
            when(col(counts.as_str()).eq(lit(1i64)))
                .then(col(e))
                .otherwise(lit(NULL).cast(DataType::Date))
                .alias(name)
        };
        if has.effective {
            derived.push(only("effective", format!("changed_{k}")));
            aggs.push(col(format!("changed_{k}")).max().cast(DataType::Int32));
        }
        if k == 0 && has.date {
            derived.push(only("date", "newest".into()));
            aggs.push(col("newest").max().cast(DataType::Int32));
        }
    }
    rows.with_columns(per_row)
        .with_columns(flags)
        .with_columns(derived)
        .group_by([col(KEY)])
        .agg(aggs)
}

/// What one pass gave, per query, before the rows with problems are listed.
struct Sums {
    aggregates: Vec<Aggregate>,
    /// Rows that are not valid.
    invalid: u64,
    /// Units whose rows add up beyond `money::MAX_DONG`, per query.
    out_of_range: Vec<Vec<UnitId>>,
}

/// Folds the per-id sums into per-unit figures (an old id's rows count for its successor).
fn fold(
    df: &DataFrame,
    queries: &[Query],
    ids: &BTreeMap<String, UnitId>,
    table: &Table,
) -> PolarsResult<Sums> {
    let keys = strs(df, KEY)?;
    let ints = |name: &str| ints(df, name);
    let days = |name: &str| -> PolarsResult<Vec<Option<i32>>> {
        Ok(match df.column(name) {
            Ok(c) => c.i32()?.iter().collect(),
            Err(_) => vec![None; df.height()],
        })
    };
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let day =
        |d: Option<i32>| d.and_then(|d| epoch.checked_add_signed(chrono::Duration::days(d.into())));
    let rows = ints("rows")?;
    let total: u64 = rows.iter().map(|&r| r as u64).sum();
    let invalid: u64 = keys
        .iter()
        .zip(&rows)
        .filter(|(k, _)| k.is_none())
        .map(|(_, &r)| r as u64)
        .sum();
    let newest = days("newest")?;
    let mut aggregates = Vec::new();
    let mut out_of_range = Vec::new();
    for k in 0..queries.len() {
        let (high, low, n) = (
            ints(&format!("high_{k}"))?,
            ints(&format!("low_{k}"))?,
            ints(&format!("n_{k}"))?,
        );
        let changed = days(&format!("changed_{k}"))?;
        // Per unit: the exact sum, the rows counted, the latest plan change.
        let mut sums: BTreeMap<&str, (i128, u64, Option<i32>)> = BTreeMap::new();
        let mut newest_day = None;
        for (i, key) in keys.iter().enumerate() {
            let Some(unit) = key.as_deref().and_then(|id| ids.get(id)) else {
                continue;
            };
            if n[i] == 0 {
                continue;
            }
            let e = sums.entry(unit.as_str()).or_default();
            e.0 += i128::from(high[i]) * i128::from(SPLIT) + i128::from(low[i]);
            e.1 += n[i] as u64;
            e.2 = e.2.max(changed[i]);
            newest_day = newest_day.max(newest[i]);
        }
        let mut agg = Aggregate::default();
        let mut beyond = Vec::new();
        let mut used = 0u64;
        for (unit, (sum, count, change)) in sums {
            used += count;
            match money::checked_sum([sum]) {
                Some(a) => {
                    agg.by_unit.insert(unit.to_string(), a);
                    if let Some(d) = day(change) {
                        agg.changed.insert(unit.to_string(), d);
                    }
                }
                None => beyond.push(unit.to_string()),
            }
        }
        let valid = total - invalid;
        agg.stats = SourceStats {
            source: Some(table.role),
            origin: table.origin.clone(),
            rows: total,
            used,
            out_of_scope: valid - used,
            rejected: invalid,
            not_data: table.not_data,
            sums: None,
        };
        if k == 0 {
            agg.newest = day(newest_day);
        }
        aggregates.push(agg);
        out_of_range.push(beyond);
    }
    Ok(Sums {
        aggregates,
        invalid,
        out_of_range,
    })
}

/// Reads, checks and sums a plans or disbursements source for the units in `known`, once for
/// all `queries` (this year, a year earlier, each further denominator). Rows of an id in
/// `successors` count for its successor.
///
/// The fast reader goes first; when every row is valid its sums are the answer. Otherwise the
/// exact reader reads the source again: the same sums from the rows it accepts, and each row
/// with a problem named. Running totals (`kind = "cumulative"`) are read per query.
pub fn aggregate_all(
    table: &Table,
    source: &Source,
    known: &[UnitId],
    successors: &BTreeMap<UnitId, UnitId>,
    queries: &[Query],
) -> Result<Vec<Aggregate>, DataIssue> {
    let cumulative = queries.iter().any(|q| {
        matches!(
            q.scope,
            Scope::Disbursements {
                kind: DisbursementKind::Cumulative,
                ..
            }
        )
    });
    let ids = countable(known, successors);
    let has = Has::of(table);
    if cumulative {
        return queries
            .iter()
            .map(|q| running_totals(table, source, &ids, successors, has, q))
            .collect();
    }
    match fast_all(table, source, &ids, has, queries) {
        Some(aggregates) => Ok(aggregates),
        None => exact_all(table, source, &ids, has, queries),
    }
}

/// Each unit's sum per project under one query (`project_id` columns), from the rows the main
/// pass counts; empty for a source without projects or of running totals. A second, exact pass:
/// only jobs whose plans and disbursements both name projects pay for it. A project whose sum
/// leaves the range of amounts is left out (the main pass reports the unit's).
pub fn by_project(
    table: &Table,
    source: &Source,
    known: &[UnitId],
    successors: &BTreeMap<UnitId, UnitId>,
    query: &Query,
) -> Result<BTreeMap<(UnitId, String), i64>, DataIssue> {
    let has = Has::of(table);
    let cumulative = matches!(
        query.scope,
        Scope::Disbursements {
            kind: DisbursementKind::Cumulative,
            ..
        }
    );
    if !has.project || cumulative {
        return Ok(BTreeMap::new());
    }
    let ids = countable(known, successors);
    let summed = (|| -> PolarsResult<DataFrame> {
        let rows = exact_rows(table, source, &ids, has)?
            .filter(col("valid").and(in_scope(query, has)).fill_null(lit(false)))
            .with_columns(split_parts())
            .group_by([col("unit_id"), col("project")])
            .agg([col(HIGH).sum(), col(LOW).sum()]);
        stream(rows)
    })()
    .map_err(|e| failed(table, e))?;
    let fold = || -> PolarsResult<BTreeMap<(UnitId, String), i64>> {
        let (units, projects) = (strs(&summed, "unit_id")?, strs(&summed, "project")?);
        let (high, low) = (ints(&summed, HIGH)?, ints(&summed, LOW)?);
        let mut sums: BTreeMap<(UnitId, String), i128> = BTreeMap::new();
        for (i, (unit, project)) in units.iter().zip(&projects).enumerate() {
            let Some(unit) = unit.as_deref().and_then(|id| ids.get(id)) else {
                continue;
            };
            let project = project.clone().unwrap_or_default();
            *sums.entry((unit.clone(), project)).or_default() +=
                i128::from(high[i]) * i128::from(SPLIT) + i128::from(low[i]);
        }
        Ok(sums
            .into_iter()
            .filter_map(|(key, sum)| money::checked_sum([sum]).map(|a| (key, a)))
            .collect())
    };
    fold().map_err(|e| failed(table, e))
}

/// Rows whose unit id, as written, counts for `unit` (its own id and its predecessors').
fn written_for(ids: &BTreeMap<String, UnitId>, unit: &str) -> Expr {
    let written: Vec<String> = ids
        .iter()
        .filter(|(_, to)| *to == unit)
        .map(|(id, _)| id.clone())
        .collect();
    col("unit_id").is_in(
        lit(Series::new("written".into(), written)).implode(false),
        false,
    )
}

/// The fast reader's sums, when every row is valid and every sum within bounds (else None: a
/// file polars' typed reader cannot take is not the answer either).
fn fast_all(
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
        std::thread::scope(|scope| -> PolarsResult<()> {
            let reader = scope.spawn(move || {
                typed_blocks(&table.path, SCAN_BLOCK, |block| {
                    tx.send(block)
                        .map_err(|_| polars_err!(ComputeError: "the block reader stopped"))
                })
            });
            let mut summed = Ok(());
            for block in rx.iter() {
                let part = typed_rows(table, polars_buffer::Buffer::from(block), source, ids, has)
                    .and_then(|rows| stream(summed_all(rows, queries, has)));
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
            Some(df) => fold(&df, queries, ids, table),
            // A source with a header and no rows yet (early January).
            None => fold(
                &stream(summed_all(
                    exact_rows(table, source, ids, has)?,
                    queries,
                    has,
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

/// The exact reader's sums, with each row that has a problem named (on the first query's
/// aggregate: a row's validity does not depend on the query).
fn exact_all(
    table: &Table,
    source: &Source,
    ids: &BTreeMap<String, UnitId>,
    has: Has,
    queries: &[Query],
) -> Result<Vec<Aggregate>, DataIssue> {
    let rows = exact_rows(table, source, ids, has).map_err(|e| failed(table, e))?;
    let df = stream(summed_all(rows.clone(), queries, has)).map_err(|e| failed(table, e))?;
    let Sums {
        mut aggregates,
        invalid,
        out_of_range,
    } = fold(&df, queries, ids, table).map_err(|e| failed(table, e))?;
    if invalid > 0 {
        aggregates[0].issues = bad_rows(table, source, rows.clone(), invalid, ids)?;
    }
    for (k, beyond) in out_of_range.iter().enumerate() {
        for unit in beyond {
            let these = rows.clone().filter(
                col("valid")
                    .and(in_scope(&queries[k], has))
                    .fill_null(lit(false))
                    .and(written_for(ids, unit)),
            );
            let issue = sum_out_of_range(table, these, unit)?;
            aggregates[k].issues.push(issue);
        }
    }
    Ok(aggregates)
}

/// Running totals (`kind = "cumulative"`) for one query, read by the exact reader: the latest
/// total per unit and project (an old id's rows under its successor's id first, so that its
/// total and the successor's are one running total), summed over projects.
fn running_totals(
    table: &Table,
    source: &Source,
    ids: &BTreeMap<String, UnitId>,
    successors: &BTreeMap<UnitId, UnitId>,
    has: Has,
    q: &Query,
) -> Result<Aggregate, DataIssue> {
    let fail = |e| failed(table, e);
    let rows = exact_rows(table, source, ids, has)
        .map_err(fail)?
        .with_column(
            col("valid")
                .and(in_scope(q, has))
                .fill_null(lit(false))
                .alias("used"),
        );
    let project = if has.project {
        col("project").fill_null(lit(""))
    } else {
        lit("")
    };
    let summed = rows
        .clone()
        .filter(col("used"))
        .with_columns([
            successor(col("unit_id"), successors).alias("unit_id"),
            project.alias("project_key"),
        ])
        .group_by([col("unit_id"), col("project_key")])
        .agg([col("amount")
            .sort_by([col("date")], SortMultipleOptions::default())
            .last()
            .alias("amount")])
        .with_columns(split_parts())
        .group_by([col("unit_id")])
        .agg([col(HIGH).sum(), col(LOW).sum()]);
    let mut count_exprs = vec![
        len().alias("rows"),
        col("valid").cast(DataType::UInt64).sum().alias("valid"),
        col("used").cast(DataType::UInt64).sum().alias("used"),
    ];
    if has.date {
        count_exprs.push(
            col("date")
                .filter(col("used"))
                .max()
                .cast(DataType::Int32)
                .alias("newest"),
        );
    }
    let counts = rows.clone().select(count_exprs);
    let (summed, counts) =
        (|| -> PolarsResult<_> { Ok((stream(summed)?, stream(counts)?)) })().map_err(fail)?;

    let units = strs(&summed, "unit_id").map_err(fail)?;
    let part = |name: &str| -> PolarsResult<Vec<Option<i64>>> {
        Ok(summed.column(name)?.i64()?.iter().collect())
    };
    let (high, low) = (|| Ok((part(HIGH)?, part(LOW)?)))().map_err(fail)?;
    let mut by_unit = BTreeMap::new();
    let mut out_of_range = Vec::new();
    for ((id, h), l) in units.into_iter().zip(high).zip(low) {
        let (Some(id), Some(h), Some(l)) = (id, h, l) else {
            continue;
        };
        match money::checked_sum([i128::from(h) * i128::from(SPLIT) + i128::from(l)]) {
            Some(a) => {
                by_unit.insert(id, a);
            }
            None => out_of_range.push(id),
        }
    }
    let count = |n: &str| -> u64 {
        counts
            .column(n)
            .ok()
            .and_then(|c| c.cast(&DataType::UInt64).ok())
            .and_then(|c| c.u64().ok().and_then(|a| a.get(0)))
            .unwrap_or(0)
    };
    let (total, valid, used) = (count("rows"), count("valid"), count("used"));
    let stats = SourceStats {
        source: Some(table.role),
        origin: table.origin.clone(),
        rows: total,
        used,
        out_of_scope: valid - used,
        rejected: total - valid,
        not_data: table.not_data,
        sums: None,
    };
    let mut issues = if total > valid {
        bad_rows(table, source, rows.clone(), total - valid, ids)?
    } else {
        Vec::new()
    };
    for unit in &out_of_range {
        let these = rows.clone().filter(col("used").and(written_for(ids, unit)));
        issues.push(sum_out_of_range(table, these, unit)?);
    }
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let newest = counts
        .column("newest")
        .ok()
        .and_then(|c| c.i32().ok().and_then(|a| a.get(0)))
        .and_then(|days| epoch.checked_add_signed(chrono::Duration::days(days.into())));
    Ok(Aggregate {
        by_unit,
        issues,
        stats,
        newest,
        changed: BTreeMap::new(),
    })
}

/// A unit whose rows sum beyond the largest amount, named with (the first of) its rows.
/// `rows`: the unit's rows that count.
fn sum_out_of_range(table: &Table, rows: LazyFrame, id: &str) -> Result<DataIssue, DataIssue> {
    const SHOWN: usize = 20;
    let mut cols = vec![col(ROW)];
    if table.row_column.is_some() {
        cols.push(col(SOURCE_ROW));
    }
    let df = rows
        .select(cols)
        .sort([ROW], SortMultipleOptions::default());
    let df = stream(df).map_err(|e| failed(table, e))?;
    let rows = row_numbers(&df, table).map_err(|e| failed(table, e))?;
    let mut listed = rows
        .iter()
        .take(SHOWN)
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if rows.len() > SHOWN {
        listed.push_str(&format!(" and {} more", rows.len() - SHOWN));
    }
    Ok(DataIssue {
        source: table.role,
        sheet: table.sheet.clone(),
        row: None,
        column: table.header("amount").map(str::to_string),
        value: Some(id.to_string()),
        problem: format!(
            "the amounts of unit `{id}` (rows {listed}) add up to more than 10^18 đồng, beyond any real plan or disbursement; check those cells and `amount_unit`"
        ),
    })
}

/// Lists the rows that failed validation, each bad cell with what to do about it.
fn bad_rows(
    table: &Table,
    source: &Source,
    lf: LazyFrame,
    total: u64,
    countable: &BTreeMap<String, UnitId>,
) -> Result<Vec<DataIssue>, DataIssue> {
    let mut cols = vec![
        col(ROW),
        col(SOURCE_ROW),
        col("unit_id"),
        col("amount_raw"),
        col("amount"),
    ];
    let has = |c: &str| table.columns.contains_key(c);
    if has("date") {
        cols.extend([col("date_raw"), col("date")]);
    }
    if has("plan_year") {
        cols.extend([col("year_raw"), col("year")]);
    }
    if has("effective_date") {
        cols.extend([col("effective_raw"), col("effective")]);
    }
    let df = lf
        .filter(col("valid").fill_null(lit(false)).not())
        .select(cols)
        .sort([ROW], SortMultipleOptions::default())
        .limit(MAX_LISTED_ROWS as IdxSize);
    let df = stream(df).map_err(|e| failed(table, e))?;
    let role = table.role;
    let mut issues = Vec::new();
    let read = || -> PolarsResult<_> {
        let nulls = |n: &str| -> PolarsResult<Vec<bool>> {
            if df.schema().contains(n) {
                Ok(df
                    .column(n)?
                    .is_null()
                    .iter()
                    .map(|v| v.unwrap_or(true))
                    .collect())
            } else {
                Ok(vec![false; df.height()])
            }
        };
        let texts = |n: &str| -> PolarsResult<Vec<Option<String>>> {
            if df.schema().contains(n) {
                strs(&df, n)
            } else {
                Ok(vec![None; df.height()])
            }
        };
        Ok((
            row_numbers(&df, table)?,
            texts("unit_id")?,
            texts("amount_raw")?,
            texts("date_raw")?,
            nulls("date")?,
            texts("year_raw")?,
            nulls("year")?,
            texts("effective_raw")?,
            nulls("effective")?,
        ))
    };
    let (
        rows,
        ids,
        amounts,
        dates_raw,
        date_bad,
        years_raw,
        year_bad,
        effective_raw,
        effective_bad,
    ) = read().map_err(|e| failed(table, e))?;
    for i in 0..df.height() {
        let mut add = |canonical: &str, value: Option<&str>, problem: String| {
            issues.push(DataIssue {
                source: role,
                sheet: table.sheet.clone(),
                row: Some(rows[i]),
                column: table.header(canonical).map(str::to_string),
                value: value.map(str::to_string),
                problem,
            })
        };
        match ids[i].as_deref() {
            None | Some("") => add(
                "unit_id",
                None,
                "the unit id is empty; fill it in or delete the row".into(),
            ),
            Some(id) if !countable.contains_key(id) => add(
                "unit_id",
                Some(id),
                format!("unit `{id}` is not in the units source; add it there or correct the id"),
            ),
            _ => {}
        }
        let amount = amounts[i].as_deref().unwrap_or("");
        if let Err(why) = money::parse_dong(amount, source.number_format, source.amount_unit) {
            add(
                "amount",
                Some(amount).filter(|a| !a.is_empty()),
                why.to_string(),
            );
        }
        if has("date") && date_bad[i] {
            let raw = dates_raw[i].as_deref().unwrap_or("");
            let problem = if raw.is_empty() {
                "the date is empty; fill it in".to_string()
            } else {
                format!(
                    "`{raw}` is not a date written as {}; fix the cell or set sources.{role}.date_format",
                    source.date_format
                )
            };
            add("date", Some(raw).filter(|r| !r.is_empty()), problem);
        }
        if let Some(raw) = effective_raw[i]
            .as_deref()
            .filter(|r| has("effective_date") && !r.is_empty() && effective_bad[i])
        {
            add(
                "effective_date",
                Some(raw),
                format!("`{raw}` is not a date written as {}; fix the cell or set sources.{role}.date_format", source.date_format),
            );
        }
        if has("plan_year") && year_bad[i] {
            let raw = years_raw[i].as_deref().unwrap_or("");
            add(
                "plan_year",
                Some(raw).filter(|r| !r.is_empty()),
                "not a year; write the plan year as a number, e.g. 2026".into(),
            );
        }
    }
    if total > df.height() as u64 {
        issues.push(DataIssue {
            source: role,
            sheet: table.sheet.clone(),
            row: None,
            column: None,
            value: None,
            problem: format!(
                "{} more rows of {} have problems and are not listed here; fix the rows above and run again to see them",
                total - df.height() as u64,
                table.origin
            ),
        });
    }
    Ok(issues)
}

/// One unit's standing on the as-of date.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct UnitRate {
    pub unit_id: UnitId,
    pub unit_name: String,
    /// Plan for the year, in đồng.
    pub plan: i64,
    /// Disbursed up to the as-of date, in đồng.
    pub disbursed: i64,
    /// 100 × disbursed / plan; none without a plan.
    pub rate_pct: Option<f64>,
    pub expected_pct: f64,
    pub gap_pct: Option<f64>,
    /// Đồng still to disburse to reach the expected rate (0 when reached).
    pub shortfall: i64,
    /// Among units with a plan, 1 = highest rate; ties share a rank.
    pub rank: Option<u32>,
    pub below_average: bool,
    pub status: Status,
    /// A plan, and nothing paid yet (a 0 % that is not "nothing allocated", which is `no_plan`).
    pub nothing_paid: bool,
    /// The date of the latest dated change to the unit's plan in force (plans `effective_date`).
    pub plan_changed_on: Option<NaiveDate>,
    /// The peer group the unit is also ranked in: its `group`, or "under PARENT" for siblings.
    pub group: Option<String>,
    pub group_rank: Option<u32>,
    pub group_average_pct: Option<f64>,
    pub below_group_average: bool,
    /// The unit's rate a year earlier at the same date (where the sources hold last year's data).
    pub rate_last_year: Option<f64>,
    pub worse_than_last_year: bool,
    /// Rates against further denominators ("layer:dp", "capital_source:NSTW"); none without a plan.
    pub other_rates: BTreeMap<String, Option<f64>>,
    /// Where the unit will be at 31/12 and 31/1 on its current pace (`projection`), when the
    /// sources hold past years.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projection: Option<crate::projection::Projection>,
    /// The milestones passed that the unit missed in a row, up to the latest
    /// (`escalate_after_milestones`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missed_milestones: Vec<crate::rule::Missed>,
}

/// "x of N units are at or above the average of z %" for one peer group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupSummary {
    pub group: String,
    /// Units with a plan in the group.
    pub units: usize,
    pub at_or_above_average: usize,
    pub average_pct: Option<f64>,
}

/// A unit with units under it: its own figures and all its descendants' together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollup {
    pub unit_id: UnitId,
    pub unit_name: String,
    pub plan: i64,
    pub disbursed: i64,
    pub rate_pct: Option<f64>,
    /// Units counted, itself included.
    pub units: usize,
}

/// Every unit's standing, ranked, and the plan-weighted average.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rates {
    pub expected_pct: f64,
    /// 100 × Σ disbursed / Σ plan over units with a plan; none when no unit has one.
    pub average_pct: Option<f64>,
    /// Units with a plan, in rank order, then units without one.
    pub units: Vec<UnitRate>,
    /// Peer groups (a `group` column, or siblings under a parent), when there are any.
    pub groups: Vec<GroupSummary>,
    /// Totals at every level of the unit hierarchy.
    pub rollups: Vec<Rollup>,
}

/// Ranks with ties sharing the best rank (1, 2, 2, 4), highest rate first, of units given as
/// (disbursed, plan) with plan > 0. Rates are compared exactly, as fractions (d₁·p₂ against
/// d₂·p₁ in i128: amounts are at most 10^18), never through floating point.
fn rank_desc(figures: &[(i64, i64)]) -> Vec<u32> {
    let higher = |a: (i64, i64), b: (i64, i64)| -> std::cmp::Ordering {
        (i128::from(b.0) * i128::from(a.1)).cmp(&(i128::from(a.0) * i128::from(b.1)))
    };
    let mut order: Vec<usize> = (0..figures.len()).collect();
    order.sort_by(|i, j| higher(figures[*i], figures[*j]));
    let mut ranks = vec![0u32; figures.len()];
    for (pos, i) in order.iter().enumerate() {
        ranks[*i] = match pos {
            0 => 1,
            _ if higher(figures[order[pos - 1]], figures[*i]).is_eq() => ranks[order[pos - 1]],
            _ => u32::try_from(pos + 1).unwrap_or(u32::MAX),
        };
    }
    ranks
}

/// Peer-group ranks and averages, and hierarchy roll-ups, added to computed unit rates.
fn groups_and_rollups(units: &[Unit], result: &mut [UnitRate]) -> (Vec<GroupSummary>, Vec<Rollup>) {
    let by_id: BTreeMap<&str, &Unit> = units.iter().map(|u| (u.id.as_str(), u)).collect();
    let key = |id: &str| -> Option<String> {
        let u = by_id.get(id)?;
        u.group
            .clone()
            .or_else(|| u.parent_id.as_ref().map(|p| format!("under {p}")))
    };
    let mut members: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in result.iter().enumerate() {
        if let Some(k) = key(&r.unit_id) {
            members.entry(k).or_default().push(i);
        }
    }
    let mut summaries = Vec::new();
    for (group, idx) in &members {
        let ranked: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|i| result[*i].plan > 0)
            .collect();
        let (p, d): (i128, i128) = ranked.iter().fold((0, 0), |(p, d), i| {
            (
                p + result[*i].plan as i128,
                d + result[*i].disbursed as i128,
            )
        });
        let average = (p > 0).then(|| d as f64 * 100.0 / p as f64);
        let figures: Vec<(i64, i64)> = ranked
            .iter()
            .map(|i| (result[*i].disbursed, result[*i].plan))
            .collect();
        for (i, rank) in ranked.iter().zip(rank_desc(&figures)) {
            let r = &mut result[*i];
            r.group_rank = Some(rank);
            r.group_average_pct = average;
            r.below_group_average = average.is_some_and(|a| r.rate_pct.unwrap_or(0.0) < a);
        }
        for i in idx {
            result[*i].group = Some(group.clone());
        }
        summaries.push(GroupSummary {
            group: group.clone(),
            units: ranked.len(),
            at_or_above_average: ranked
                .iter()
                .filter(|i| !result[**i].below_group_average)
                .count(),
            average_pct: average,
        });
    }
    // Roll-ups: every unit with children, over all its descendants.
    let figures: BTreeMap<&str, (i64, i64)> = result
        .iter()
        .map(|r| (r.unit_id.as_str(), (r.plan, r.disbursed)))
        .collect();
    let mut rollups = Vec::new();
    let figure = |id: &str| {
        let (p, d) = figures.get(id).copied().unwrap_or((0, 0));
        [i128::from(p), i128::from(d)]
    };
    for (parent, (count, [plan, paid])) in crate::ledger::rollups(units, figure) {
        // The validate stage has checked that every roll-up fits in an amount.
        rollups.push(Rollup {
            unit_id: parent.to_string(),
            unit_name: by_id
                .get(parent)
                .map(|u| u.name.clone())
                .unwrap_or_default(),
            plan: money::clamp(plan),
            disbursed: money::clamp(paid),
            rate_pct: (plan > 0).then(|| paid as f64 * 100.0 / plan as f64),
            units: count,
        });
    }
    (summaries, rollups)
}

impl Rates {
    /// Units ranked (with a plan).
    pub fn ranked(&self) -> usize {
        self.units.iter().filter(|u| u.rank.is_some()).count()
    }
}

/// Computes rates, gaps, ranks and statuses for every unit.
pub fn rates(
    ledger: &Ledger,
    expected_pct: f64,
    share: Share,
    bands: &Bands,
) -> PolarsResult<Rates> {
    let Ledger {
        units,
        plan,
        disbursed,
        plan_changed,
        last_year,
        other_denominators,
        ..
    } = ledger;
    let last_year = last_year.as_ref();
    let ids: Vec<&str> = units.iter().map(|u| u.id.as_str()).collect();
    let plans: Vec<i64> = units
        .iter()
        .map(|u| plan.get(&u.id).copied().unwrap_or(0))
        .collect();
    let paid: Vec<i64> = units
        .iter()
        .map(|u| disbursed.get(&u.id).copied().unwrap_or(0))
        .collect();
    let df = DataFrame::new_infer_height(vec![
        Column::new("unit_id".into(), ids),
        Column::new("plan".into(), plans.clone()),
        Column::new("disbursed".into(), paid.clone()),
    ])?;
    let has_plan = col("plan").gt(lit(0i64));
    let rate = when(has_plan.clone())
        .then(
            col("disbursed").cast(DataType::Float64) * lit(100.0)
                / col("plan").cast(DataType::Float64),
        )
        .otherwise(lit(NULL).cast(DataType::Float64));
    let average = col("disbursed")
        .filter(has_plan.clone())
        .sum()
        .cast(DataType::Float64)
        * lit(100.0)
        / col("plan").filter(has_plan).sum().cast(DataType::Float64);
    let out = df
        .lazy()
        .with_columns([rate.alias("rate"), average.alias("average")])
        .with_columns([
            (lit(expected_pct) - col("rate")).alias("gap"),
            col("rate")
                .lt(col("average"))
                .fill_null(lit(false))
                .alias("below_average"),
        ])
        .collect()?;

    let f64s =
        |n: &str| -> PolarsResult<Vec<Option<f64>>> { Ok(out.column(n)?.f64()?.iter().collect()) };
    let (rate, gap, average) = (f64s("rate")?, f64s("gap")?, f64s("average")?);
    // Ranked exactly, among units with a plan.
    let with_plan: Vec<usize> = (0..units.len()).filter(|i| plans[*i] > 0).collect();
    let figures: Vec<(i64, i64)> = with_plan.iter().map(|i| (paid[*i], plans[*i])).collect();
    let mut rank: Vec<Option<u32>> = vec![None; units.len()];
    for (i, r) in with_plan.iter().zip(rank_desc(&figures)) {
        rank[*i] = Some(r);
    }
    let below: Vec<bool> = out
        .column("below_average")?
        .bool()?
        .iter()
        .map(|b| b.unwrap_or(false))
        .collect();
    let average_pct = average.first().copied().flatten().filter(|a| a.is_finite());

    let mut result: Vec<UnitRate> = units
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let (p, d) = (
                plan.get(&u.id).copied().unwrap_or(0),
                disbursed.get(&u.id).copied().unwrap_or(0),
            );
            let has_plan = p > 0;
            UnitRate {
                unit_id: u.id.clone(),
                unit_name: u.name.clone(),
                plan: p,
                disbursed: d,
                rate_pct: rate[i],
                expected_pct,
                gap_pct: gap[i],
                shortfall: share.shortfall(p, d),
                rank: if has_plan { rank[i] } else { None },
                below_average: has_plan && below[i],
                status: bands.status(p, gap[i].unwrap_or(0.0)),
                nothing_paid: has_plan && d == 0,
                plan_changed_on: plan_changed.get(&u.id).copied(),
                group: None,
                group_rank: None,
                group_average_pct: None,
                below_group_average: false,
                rate_last_year: last_year.and_then(|ly| {
                    let p = ly.plan.get(&u.id).copied().unwrap_or(0);
                    (p > 0).then(|| {
                        ly.disbursed.get(&u.id).copied().unwrap_or(0) as f64 * 100.0 / p as f64
                    })
                }),
                worse_than_last_year: false,
                other_rates: other_denominators
                    .iter()
                    .map(|(k, v)| {
                        let p = v.plan.get(&u.id).copied().unwrap_or(0);
                        (
                            k.clone(),
                            (p > 0).then(|| {
                                v.disbursed.get(&u.id).copied().unwrap_or(0) as f64 * 100.0
                                    / p as f64
                            }),
                        )
                    })
                    .collect(),
                projection: None,
                missed_milestones: Vec::new(),
            }
        })
        .collect();
    result.sort_by(|a, b| match (a.rank, b.rank) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.unit_id.cmp(&b.unit_id)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.unit_id.cmp(&b.unit_id),
    });
    for r in result.iter_mut() {
        r.worse_than_last_year =
            matches!((r.rate_pct, r.rate_last_year), (Some(now), Some(then)) if now < then);
    }
    let (groups, rollups) = groups_and_rollups(units, &mut result);
    Ok(Rates {
        expected_pct,
        average_pct,
        units: result,
        groups,
        rollups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Cells people write, valid and not, so that many generated tables are read by the fast
    /// reader (every row valid) and many are not.
    fn cell(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop_oneof![
            8 => proptest::sample::select(pool).prop_map(str::to_string),
            1 => any::<String>(),
        ]
    }

    /// Loads `dir/job.toml` and pulls one of its sources as a run would.
    fn job_and_table(
        dir: &std::path::Path,
        which: fn(&crate::job::Job) -> &Source,
    ) -> (crate::job::Job, Table) {
        let job = crate::job::load(&dir.join("job.toml"), chrono_tz::Asia::Ho_Chi_Minh)
            .unwrap_or_else(|p| panic!("{:?}", p.list));
        let clock = crate::clock::FixedClock(chrono::DateTime::UNIX_EPOCH);
        let clients = crate::source::Clients::new().unwrap();
        let table = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(crate::source::pull(
                which(&job),
                &clients,
                dir,
                None,
                &clock,
            ))
            .unwrap();
        (job, table)
    }

    const IDS: &[&str] = &["A", "B", "OLD", "A", "B", " A", "Z", ""];
    const AMOUNTS: &[&str] = &[
        "123",
        "1234567",
        "1.234.567",
        "1,234,567",
        "-5",
        "+7",
        "12,5",
        "12.5",
        "1.234,567",
        " 9",
        "(3)",
        "1e5",
        "007",
        "-0",
        "9223372036854775807",
        "1000000000000000000",
        "1000000000000000001",
        "999.999.999.999.999.999",
        "12,50",
        "1.000.000,123456789",
        "",
    ];
    const DATES: &[&str] = &[
        "2026-03-01",
        "2025-03-01",
        "2026-10-31",
        "2026-11-01",
        "2025-10-31",
        "2025-11-01",
        "2026-3-1",
        "01/03/2026",
        "2026-13-01",
        " 2026-03-01",
        "",
    ];

    /// Writes a job and its payments, pulls the table as a run would, and returns both readers'
    /// figures for this year and a year earlier.
    fn both(
        rows: &[(String, String, String)],
        format: &str,
        unit: &str,
    ) -> (Option<Vec<Aggregate>>, Vec<Aggregate>) {
        let dir = tempfile::tempdir().unwrap();
        let mut w = csv::Writer::from_path(dir.path().join("paid.csv")).unwrap();
        w.write_record(["ngay", "dv", "tien"]).unwrap();
        for (id, amount, date) in rows {
            w.write_record([date, id, amount]).unwrap();
        }
        w.flush().unwrap();
        std::fs::write(
            dir.path().join("units.csv"),
            "id,name,email\nA,a,a@x.vn\nB,b,b@x.vn\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("plans.csv"), "id,amount\nA,1\n").unwrap();
        let job = format!(
            r#"schedule = "0 8 * * MON"
plan_year = 2026
successors = {{ OLD = "A" }}
[sources.units]
location = "units.csv"
columns = {{ unit_id = "id", unit_name = "name", email = "email" }}
[sources.plans]
location = "plans.csv"
columns = {{ unit_id = "id", amount = "amount" }}
[sources.disbursements]
location = "paid.csv"
columns = {{ unit_id = "dv", date = "ngay", amount = "tien" }}
number_format = "{format}"
amount_unit = "{unit}"
[rule]
milestones = [{{ date = "12-31", pct = 95 }}]
"#
        );
        std::fs::write(dir.path().join("job.toml"), job).unwrap();
        let (job, table) = job_and_table(dir.path(), |j| &j.disbursements);
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let query = |start, end| Query {
            scope: Scope::Disbursements {
                year: 2026,
                kind: DisbursementKind::Transactions,
                start,
                end,
            },
            layer: None,
            capital_source: None,
        };
        let queries = [
            query(d(2026, 1, 1), d(2026, 10, 31)),
            query(d(2025, 1, 1), d(2025, 10, 31)),
        ];
        let ids = countable(&["A".into(), "B".into()], &job.successors);
        let has = Has::of(&table);
        (
            fast_all(&table, &job.disbursements, &ids, has, &queries),
            exact_all(&table, &job.disbursements, &ids, has, &queries).unwrap(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

        /// The fast reader answers only when its figures are the exact reader's.
        #[test]
        fn the_fast_reader_agrees_with_the_exact_one(
            rows in proptest::collection::vec((cell(IDS), cell(AMOUNTS), cell(DATES)), 0..8),
            format in proptest::sample::select(&["vi", "en", "plain"][..]),
            unit in proptest::sample::select(&["dong", "million"][..]),
        ) {
            let (fast, exact) = both(&rows, format, unit);
            if let Some(fast) = fast {
                prop_assert_eq!(format!("{fast:?}"), format!("{exact:?}"));
            }
        }
    }

    #[test]
    fn blocks_hold_whole_rows_even_with_line_breaks_inside_quotes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let rows = "A,\"x\ny\",1\nB,\"\"\"q\"\"\n\n\",2\nC,z,3\nD,\"long\nlong\nlong\",4\n";
        std::fs::write(&path, format!("h1,\"h\n2\",h3\n{rows}")).unwrap();
        for size in [1, 2, 5, 7, 13, 64, 1000] {
            let mut blocks = Vec::new();
            typed_blocks(&path, size, |b| {
                blocks.push(String::from_utf8(b).unwrap());
                Ok(())
            })
            .unwrap();
            assert_eq!(blocks.concat(), rows, "block size {size}");
            for b in &blocks {
                assert!(
                    b.ends_with('\n') && b.matches('"').count() % 2 == 0,
                    "{size}: {b:?}"
                );
            }
        }
    }

    #[test]
    fn a_loop_of_parents_is_broken_where_it_closes_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("units.csv"),
            "id,name,email,parent\nA,a,a@x.vn,C\nB,b,b@x.vn,A\nC,c,c@x.vn,B\nD,d,d@x.vn,A\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("plans.csv"), "id,amount\nA,1\n").unwrap();
        std::fs::write(
            dir.path().join("paid.csv"),
            "id,date,amount\nA,2026-01-01,1\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("job.toml"),
            r#"schedule = "0 8 * * MON"
[sources.units]
location = "units.csv"
columns = { unit_id = "id", unit_name = "name", email = "email", parent_id = "parent" }
[sources.plans]
location = "plans.csv"
columns = { unit_id = "id", amount = "amount" }
[sources.disbursements]
location = "paid.csv"
columns = { unit_id = "id", date = "date", amount = "amount" }
date_format = "%Y-%m-%d"
[rule]
milestones = [{ date = "12-31", pct = 95 }]
"#,
        )
        .unwrap();
        let (_, table) = job_and_table(dir.path(), |j| &j.units);
        let (units, issues, _, _) = units(&table, money::NumberFormat::Vi).unwrap();
        let loops: Vec<_> = issues
            .iter()
            .filter(|i| i.problem.contains("the parents loop"))
            .collect();
        assert_eq!(loops.len(), 1, "{issues:?}");
        assert_eq!(units.iter().filter(|u| u.parent_id.is_none()).count(), 1);
        let sums = crate::ledger::rollups(&units, |_| [1, 0]);
        assert_eq!(sums.values().map(|v| v.0).max(), Some(4), "{sums:?}");
    }

    #[test]
    fn clean_rows_are_read_by_the_fast_reader_with_the_exact_figures() {
        let rows = |cells: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
            cells
                .iter()
                .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
                .collect()
        };
        let vi = rows(&[
            ("A", "1.234.567", "2026-03-01"),
            ("OLD", "-5", "2026-10-31"),
            ("B", "12,5", "2025-03-01"),
            ("A", "7", "2026-11-01"),
        ]);
        let (fast, exact) = both(&vi, "vi", "million");
        let fast = fast.expect("every row is valid");
        assert_eq!(format!("{fast:?}"), format!("{exact:?}"));
        assert_eq!(fast[0].by_unit["A"], 1_234_567_000_000 - 5_000_000);
        assert_eq!(fast[1].by_unit["B"], 12_500_000);
        assert_eq!(fast[0].stats.out_of_scope, 2);
        let plain = rows(&[
            ("A", "1000000000000000000", "2026-03-01"),
            ("A", "1", "2025-01-01"),
        ]);
        let (fast, exact) = both(&plain, "plain", "dong");
        assert_eq!(format!("{fast:?}"), format!("{:?}", Some(exact)));
    }
}
