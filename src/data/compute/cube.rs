//! A money source summed by everything a query can ask of it — the unit a row counts for, its
//! plan year, its day (a payment's date, a plan change's effective date), its layer and capital
//! source — in exact integer đồng with the rows counted: the daily cube. Any run's queries (this
//! year to any as-of date, a year earlier, each month end of each past year, each further
//! denominator) are answered from it without reading the source again; an appended tail is
//! made into a cube of its own and merged.
//!
//! It is built in one scan (the fast reader, else the exact one), and only from a source whose
//! every row is valid (blank rows skipped and counted): a source with problems is read by
//! `aggregate_all`, which names each. Its answers are the figures `aggregate_all` gives.

use super::exact::exact_rows;
use super::frame::*;
use super::query::{countable, days_since_epoch, Aggregate, Has, Query, Scope};
use super::typed::{typed_blocks, typed_rows, SCAN_BLOCK};
use crate::config::job::Source;
use crate::data::source::Table;
use crate::domain::id::UnitId;
use crate::domain::issue::{DataIssue, SourceStats};
use crate::domain::money;
use cells::{Cell, Cells};
use chrono::NaiveDate;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod cells;

/// No plan year, no day, no label: the cells of a source without that column.
const NONE: i32 = i32::MIN;
const NO_LABEL: u32 = u32::MAX;

/// A source's daily cube. Cells are sorted by (unit, year, layer, capital, day), each key once.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Cube {
    /// The units cells count for, by index.
    pub units: Vec<UnitId>,
    /// Layer and capital-source labels, by index.
    pub labels: Vec<String>,
    cells: Cells,
    /// The source's rows (blank rows not included), and its blank rows.
    pub rows: u64,
    pub blank: u64,
}

/// A cube while it is built or merged: its cells one by one.
#[derive(Default)]
struct Loose {
    units: Vec<UnitId>,
    labels: Vec<String>,
    cells: Vec<Cell>,
    rows: u64,
    blank: u64,
}

/// Builds the cube of a source, every row valid; None when a row is not (or a sum cannot be held):
/// the source is then read by `aggregate_all`, which names the rows.
/// Rows of an id in `successors` count for its successor, as in `aggregate_all`.
pub fn build(
    table: &Table,
    source: &Source,
    known: &[UnitId],
    successors: &BTreeMap<UnitId, UnitId>,
) -> Result<Option<Cube>, DataIssue> {
    let ids = countable(known, successors);
    let has = Has::of(table);
    let built = || -> PolarsResult<Option<Cube>> {
        if let Some(cube) = fast(table, source, &ids, has)? {
            return Ok(Some(cube));
        }
        let rows = exact_rows(table, source, &ids, has)?;
        let grouped = stream(grouped(rows, has, true))?;
        finish(&grouped, &ids, has, 0)
    };
    built().map_err(|e| failed(table, e))
}

/// The fast reader's cube, block by block; None when a row is not valid for it.
fn fast(
    table: &Table,
    source: &Source,
    ids: &BTreeMap<String, UnitId>,
    has: Has,
) -> PolarsResult<Option<Cube>> {
    // Labels (layer, capital source) are text: those sources are grouped by every key as it is.
    let numeric = !(has.layer || has.capital);
    let units: Vec<UnitId> = ids
        .values()
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let index = unit_index(ids, &units)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(1);
    // A block's groups are folded into the cells on a thread of their own while polars reads
    // the next block.
    let (to_fold, folding) = std::sync::mpsc::sync_channel::<DataFrame>(0);
    let mut parts: Option<DataFrame> = None;
    let (trailing, cells) = std::thread::scope(|scope| -> PolarsResult<(u64, Keyed)> {
        let reader = scope.spawn(move || {
            typed_blocks(&table.path, (SCAN_BLOCK, table.delimiter), |block| {
                tx.send(block)
                    .map_err(|_| polars_err!(ComputeError: "the block reader stopped"))
            })
        });
        let folder = scope.spawn(move || -> PolarsResult<Keyed> {
            let mut cells = Keyed::default();
            for part in folding.iter() {
                cells.add(&part)?;
                if cells.invalid > 0 {
                    break;
                }
            }
            Ok(cells)
        });
        let mut summed = Ok(());
        for block in rx.iter() {
            let rows = typed_rows(table, polars_buffer::Buffer::from(block), source, ids, has);
            summed = match numeric {
                // A folder that stopped (a row not valid) ends the read.
                true => rows
                    .and_then(|rows| stream(keyed(rows, index.clone(), has)))
                    .and_then(|part| {
                        to_fold
                            .send(part)
                            .map_err(|_| polars_err!(ComputeError: "not valid"))
                    }),
                false => rows
                    .and_then(|rows| stream(grouped(rows, has, false)))
                    .and_then(|part| match &mut parts {
                        Some(all) => all.vstack_mut(&part).map(|_| ()),
                        None => {
                            parts = Some(part);
                            Ok(())
                        }
                    }),
            };
            if summed.is_err() {
                break;
            }
        }
        drop(rx);
        drop(to_fold);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(polars_err!(ComputeError: "the block reader panicked")));
        let cells = folder
            .join()
            .unwrap_or_else(|_| Err(polars_err!(ComputeError: "the folding thread panicked")))?;
        // A row not valid stops the folder, and so the read: the exact reader takes over.
        match cells.invalid > 0 {
            true => Ok((0, cells)),
            false => summed.and(read).map(|trailing| (trailing, cells)),
        }
    })?;
    if numeric {
        return Ok(cells.cube(units, has, trailing));
    }
    match parts {
        // The blocks' groups stacked are grouped once more: a key may be in several blocks.
        Some(df) => {
            let again = regroup(df.lazy(), has);
            finish(&stream(again)?, ids, has, trailing)
        }
        // A header and no rows yet (early January).
        None => Ok(Some(Cube {
            blank: trailing,
            ..Cube::default()
        })),
    }
}

/// Each id as written, with the index (in `units`) of the unit its rows count for.
fn unit_index(ids: &BTreeMap<String, UnitId>, units: &[UnitId]) -> PolarsResult<DataFrame> {
    let (written, index): (Vec<&str>, Vec<u32>) = ids
        .iter()
        .filter_map(|(w, u)| {
            let i = units.binary_search(u).ok()?;
            Some((w.as_str(), u32::try_from(i).ok()?))
        })
        .unzip();
    DataFrame::new(
        written.len(),
        vec![
            Column::new("unit_id".into(), written),
            Column::new(UNIT.into(), index),
        ],
    )
}

const UNIT: &str = "__unit_index";
const KEY: &str = "__key";

/// One integer per cell key — unit index, plan year and day in bits of their own — and the money
/// parts, per row: the rows are folded into the cells by that number (a group-by in polars of a
/// block's million keys would hold hash tables as large as the block).
/// Null for a row that is not valid, or whose year or day is beyond what the bits hold: the
/// exact reader's cube takes those.
fn keyed(rows: LazyFrame, index: DataFrame, has: Has) -> LazyFrame {
    let day = if has.date {
        Some(col("date"))
    } else if has.effective {
        Some(col("effective"))
    } else {
        None
    };
    let day_code = match day {
        Some(d) => {
            let d = d.cast(DataType::Int32).cast(DataType::Int64);
            when(d.clone().is_null())
                .then(lit(0i64))
                .otherwise(d + lit(DAY_OFFSET))
        }
        None => lit(0i64),
    };
    let year_code = match has.year {
        true => col("year").cast(DataType::Int64) - lit(YEAR_BASE),
        false => lit(0i64),
    };
    let encodable = day_code
        .clone()
        .gt_eq(lit(0i64))
        .and(day_code.clone().lt(lit(1i64 << 24)))
        .and(year_code.clone().gt_eq(lit(0i64)))
        .and(year_code.clone().lt(lit(1i64 << 12)));
    let key =
        col(UNIT).cast(DataType::Int64) * lit(1i64 << 36) + year_code * lit(1i64 << 24) + day_code;
    rows.join(
        index.lazy(),
        [col("unit_id")],
        [col("unit_id")],
        JoinArgs::new(JoinType::Left),
    )
    .with_columns(split_parts())
    .select([
        when(col("valid").fill_null(lit(false)).and(encodable))
            .then(key)
            .otherwise(lit(NULL).cast(DataType::Int64))
            .alias(KEY),
        col(HIGH),
        col(LOW),
    ])
}

/// Days since the epoch + this is a day's code (0: no day); years from 1001 are coded from 1.
const DAY_OFFSET: i64 = 1 << 23;
const YEAR_BASE: i64 = 1000;

/// Per key the two money parts' sums (each within i64 for fewer than a billion rows, as in
/// `split_parts`) and the rows: 32 bytes an entry.
type Sums = std::collections::HashMap<i64, (i64, i64, u64), foldhash::fast::RandomState>;

/// How many tables the keys are spread over. One table of the national bench's 1.4 million cells
/// (45 MB) missed the cache at nearly every row (a quarter of a cold run's time, `perf annotate`
/// on the probe); a block's rows are first put in the part their key falls in, then each part
/// folded into its own table, small enough to stay in the cache while it is.
const PARTS: usize = 64;

/// The part a key falls in: its top bits after a multiplicative hash (a unit's cells spread
/// over all parts, so that a unit with many payments does not fill one).
fn part_of(key: i64) -> usize {
    ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize
}

/// The cells of the blocks read so far, by key.
struct Keyed {
    parts: Vec<Sums>,
    /// A block's rows by part, before they are folded: kept from block to block, so that each
    /// block does not take fresh memory for them.
    spread: Vec<Vec<(i64, i64, i64)>>,
    rows: u64,
    invalid: u64,
}

impl Default for Keyed {
    fn default() -> Keyed {
        Keyed {
            parts: (0..PARTS).map(|_| Sums::default()).collect(),
            spread: (0..PARTS).map(|_| Vec::new()).collect(),
            rows: 0,
            invalid: 0,
        }
    }
}

impl Keyed {
    fn add(&mut self, part: &DataFrame) -> PolarsResult<()> {
        let keys = part.column(KEY)?.i64()?;
        let (high, low) = (part.column(HIGH)?.i64()?, part.column(LOW)?.i64()?);
        for rows in &mut self.spread {
            rows.clear();
        }
        for ((key, h), l) in keys.iter().zip(high.iter()).zip(low.iter()) {
            self.rows += 1;
            let (Some(key), Some(h), Some(l)) = (key, h, l) else {
                self.invalid += 1;
                continue;
            };
            self.spread[part_of(key)].push((key, h, l));
        }
        for (rows, sums) in self.spread.iter().zip(&mut self.parts) {
            for &(key, h, l) in rows {
                let e = sums.entry(key).or_insert((0, 0, 0));
                // Impossible below a billion rows a cell; checked all the same (the whole read
                // then has the figures).
                match (e.0.checked_add(h), e.1.checked_add(l)) {
                    (Some(h), Some(l)) => *e = (h, l, e.2 + 1),
                    _ => self.invalid += 1,
                }
            }
        }
        Ok(())
    }

    /// The cube, when every row was valid.
    fn cube(self, units: Vec<UnitId>, has: Has, trailing: u64) -> Option<Cube> {
        if self.invalid > 0 {
            return None;
        }
        let mut cells: Vec<Cell> = self
            .parts
            .into_iter()
            .flatten()
            .map(|(key, (high, low, rows))| {
                let sum = i128::from(high) * i128::from(SPLIT) + i128::from(low);
                let day = key & ((1 << 24) - 1);
                let year = (key >> 24) & ((1 << 12) - 1);
                Cell {
                    unit: (key >> 36) as u32,
                    year: match has.year {
                        true => (year + YEAR_BASE) as i32,
                        false => NONE,
                    },
                    layer: NO_LABEL,
                    capital: NO_LABEL,
                    day: match day {
                        0 => NONE,
                        d => (d - DAY_OFFSET) as i32,
                    },
                    sum,
                    rows,
                }
            })
            .collect();
        cells.sort_unstable_by_key(Cell::key);
        Loose {
            units,
            labels: Vec::new(),
            cells,
            rows: self.rows,
            blank: trailing,
        }
        .packed()
    }
}

/// The key columns a cube is grouped by, besides the unit id as written.
fn keys(has: Has) -> Vec<&'static str> {
    let mut k = vec!["unit_id"];
    for (name, present) in [
        ("year", has.year),
        ("layer", has.layer),
        ("capital_source", has.capital),
        ("day", has.date || has.effective),
    ] {
        if present {
            k.push(name);
        }
    }
    k
}

/// Rows grouped by validity and key, with the money parts summed and the rows counted; with
/// `blank`, the exact reader's blank rows in a group of their own.
fn grouped(rows: LazyFrame, has: Has, blank: bool) -> LazyFrame {
    let day = if has.date {
        Some(col("date"))
    } else if has.effective {
        Some(col("effective"))
    } else {
        None
    };
    let mut with = split_parts().to_vec();
    if let Some(day) = day {
        with.push(day.cast(DataType::Int32).alias("day"));
    }
    let mut by = vec![col("valid").fill_null(lit(false))];
    if blank {
        by.push(col(BLANK));
    }
    by.extend(keys(has).into_iter().map(col));
    rows.with_columns(with).group_by(by).agg([
        col(HIGH).sum(),
        col(LOW).sum(),
        len().cast(DataType::Int64).alias("rows"),
    ])
}

fn regroup(parts: LazyFrame, has: Has) -> LazyFrame {
    let mut by = vec![col("valid")];
    by.extend(keys(has).into_iter().map(col));
    parts
        .group_by(by)
        .agg([col(HIGH).sum(), col(LOW).sum(), col("rows").sum()])
}

/// The grouped rows made into a cube: an old id's cells under its successor, equal keys joined.
fn finish(
    df: &DataFrame,
    ids: &BTreeMap<String, UnitId>,
    has: Has,
    trailing: u64,
) -> PolarsResult<Option<Cube>> {
    let n = df.height();
    let valid: Vec<bool> = df
        .column("valid")?
        .bool()?
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect();
    let blank: Vec<bool> = match df.column(BLANK) {
        Ok(c) => c.bool()?.iter().map(|v| v.unwrap_or(false)).collect(),
        Err(_) => vec![false; n],
    };
    let rows = ints(df, "rows")?;
    let (high, low) = (ints(df, HIGH)?, ints(df, LOW)?);
    let written = strs(df, "unit_id")?;
    let i32s = |name: &str, present: bool| -> PolarsResult<Vec<i32>> {
        Ok(match present {
            true => df
                .column(name)?
                .cast(&DataType::Int32)?
                .i32()?
                .iter()
                .map(|v| v.unwrap_or(NONE))
                .collect(),
            false => vec![NONE; n],
        })
    };
    let years = i32s("year", has.year)?;
    let days = i32s("day", has.date || has.effective)?;
    let text = |name: &str, present: bool| -> PolarsResult<Vec<Option<String>>> {
        match present {
            true => strs(df, name),
            false => Ok(vec![None; n]),
        }
    };
    let (layers, capitals) = (
        text("layer", has.layer)?,
        text("capital_source", has.capital)?,
    );

    let mut cube = Loose {
        blank: trailing,
        ..Loose::default()
    };
    let (mut units, mut labels) = (Interned::of(Vec::new()), Interned::of(Vec::new()));
    for i in 0..n {
        let count = u64::try_from(rows[i]).unwrap_or(0);
        if blank[i] {
            cube.blank += count;
            continue;
        }
        let unit = written[i].as_deref().and_then(|id| ids.get(id));
        let Some(unit) = unit.filter(|_| valid[i]) else {
            return Ok(None);
        };
        cube.rows += count;
        let mut label = |l: &Option<String>| l.as_ref().map_or(NO_LABEL, |l| labels.index(l));
        let (layer, capital) = (label(&layers[i]), label(&capitals[i]));
        cube.cells.push(Cell {
            unit: units.index(unit),
            year: years[i],
            layer,
            capital,
            day: days[i],
            sum: i128::from(high[i]) * i128::from(SPLIT) + i128::from(low[i]),
            rows: count,
        });
    }
    cube.units = units.into_values();
    cube.labels = labels.into_values();
    Ok(cube.in_id_order().normalised().and_then(Loose::packed))
}

/// Values by index, and the index of each: a cube's units and labels.
struct Interned<T> {
    values: Vec<T>,
    index: BTreeMap<T, u32>,
}

impl<T: Ord + Clone> Interned<T> {
    fn of(values: Vec<T>) -> Interned<T> {
        let index = values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), i as u32))
            .collect();
        Interned { values, index }
    }

    /// `v`'s index, a new one when it is not there yet.
    fn index(&mut self, v: &T) -> u32 {
        if let Some(&i) = self.index.get(v) {
            return i;
        }
        let i = self.values.len() as u32;
        self.values.push(v.clone());
        self.index.insert(v.clone(), i);
        i
    }

    fn into_values(self) -> Vec<T> {
        self.values
    }
}

/// Adds `c` to cells sorted by key, joining it with the last when their keys are equal; None
/// when the joined sum leaves i128.
fn push_joined(cells: &mut Vec<Cell>, c: Cell) -> Option<()> {
    match cells.last_mut() {
        Some(last) if last.key() == c.key() => {
            last.sum = last.sum.checked_add(c.sum)?;
            last.rows += c.rows;
        }
        _ => cells.push(c),
    }
    Some(())
}

impl Loose {
    /// The units indexed in id order, so that answers are built from sorted keys.
    fn in_id_order(mut self) -> Loose {
        let mut order: Vec<u32> = (0..self.units.len() as u32).collect();
        order.sort_by(|&a, &b| self.units[a as usize].cmp(&self.units[b as usize]));
        let mut new_index = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old as usize] = new as u32;
        }
        for c in &mut self.cells {
            c.unit = new_index[c.unit as usize];
        }
        self.units = order
            .iter()
            .map(|&old| self.units[old as usize].clone())
            .collect();
        self
    }

    /// Cells sorted by key, equal keys joined; None when a joined sum leaves i128 (it cannot
    /// for any real source: that many rows of the largest amount).
    fn normalised(mut self) -> Option<Loose> {
        self.cells.sort_unstable_by_key(Cell::key);
        let mut out: Vec<Cell> = Vec::with_capacity(self.cells.len());
        for c in self.cells {
            push_joined(&mut out, c)?;
        }
        self.cells = out;
        Some(self)
    }

    /// The cube of these cells (sorted, each key once); None when a unit's sum leaves i128.
    fn packed(self) -> Option<Cube> {
        Some(Cube {
            cells: Cells::of(&self.cells)?,
            units: self.units,
            labels: self.labels,
            rows: self.rows,
            blank: self.blank,
        })
    }
}

impl Cube {
    /// Whether every unit and label the cells name is in the cube's lists (the cells' own sums
    /// are checked as they are read): a stored cube is used only then, so that no file, however
    /// made, has a look-up fail.
    pub fn holds_together(&self) -> bool {
        let label = |l: u32| l == NO_LABEL || (l as usize) < self.labels.len();
        self.cells
            .keys()
            .all(|k| (k.unit as usize) < self.units.len() && label(k.layer) && label(k.capital))
    }

    /// The cells one by one, to be merged.
    fn loose(self) -> Loose {
        Loose {
            cells: self.cells.to_vec(),
            units: self.units,
            labels: self.labels,
            rows: self.rows,
            blank: self.blank,
        }
    }

    /// This cube and `more` (the rows appended since) as one.
    pub fn merged(self, more: Cube) -> Option<Cube> {
        let mut this = self.loose();
        let known_units = this.units.len();
        let mut unit_index = Interned::of(std::mem::take(&mut this.units));
        let mut label_index = Interned::of(std::mem::take(&mut this.labels));
        let (rows, blank) = (more.rows, more.blank);
        let mut tail = more.relabelled(&mut unit_index, &mut label_index);
        tail.sort_unstable_by_key(Cell::key);
        // Both sorted: one pass merges them (the tail is a day's rows, the cube years of them).
        let old = std::mem::take(&mut this.cells);
        let mut cells = Vec::with_capacity(old.len() + tail.len());
        let (mut a, mut b) = (old.into_iter().peekable(), tail.into_iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.key() <= y.key() => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            let Some(c) = next else { break };
            push_joined(&mut cells, c)?;
        }
        this.cells = cells;
        this.units = unit_index.into_values();
        this.labels = label_index.into_values();
        this.rows += rows;
        this.blank += blank;
        // A unit paid for the first time: the ids in order again (rare: a new unit).
        match this.units.len() > known_units {
            true => this.in_id_order().normalised()?.packed(),
            false => this.packed(),
        }
    }

    /// Cubes of parts of one source (a journal's tails) as one: their cells in one index of units
    /// and labels, sorted once (merging them two by two would copy the first ones many times).
    pub fn merged_all(cubes: Vec<Cube>) -> Option<Cube> {
        let mut units = Interned::of(Vec::new());
        let mut labels = Interned::of(Vec::new());
        let mut all = Loose::default();
        for cube in cubes {
            all.rows += cube.rows;
            all.blank += cube.blank;
            let cells = cube.relabelled(&mut units, &mut labels);
            all.cells.extend(cells);
        }
        all.units = units.into_values();
        all.labels = labels.into_values();
        all.in_id_order().normalised()?.packed()
    }

    /// This cube's cells with their units and labels indexed in `units` and `labels`.
    fn relabelled(self, units: &mut Interned<UnitId>, labels: &mut Interned<String>) -> Vec<Cell> {
        let unit_of: Vec<u32> = self.units.iter().map(|u| units.index(u)).collect();
        let label_of: Vec<u32> = self.labels.iter().map(|l| labels.index(l)).collect();
        let relabel = |l: u32| match l {
            NO_LABEL => NO_LABEL,
            l => label_of[l as usize],
        };
        let mut cells = self.cells.to_vec();
        for c in &mut cells {
            c.unit = unit_of[c.unit as usize];
            c.layer = relabel(c.layer);
            c.capital = relabel(c.capital);
        }
        cells
    }

    /// The answers of this cube and of `more` (the rows appended since, kept apart so that this
    /// cube is not copied to add them), added; None as for [`Cube::answer`].
    pub fn answer_with(
        &self,
        more: Option<&Cube>,
        table: &Table,
        queries: &[Query],
    ) -> Option<Vec<Aggregate>> {
        let answers = self.answer(table, queries)?;
        match more {
            None => Some(answers),
            Some(m) => super::query::added(&answers, &m.answer(table, queries)?),
        }
    }

    /// The answers to `queries`, as `aggregate_all` gives them; None when a unit's sum leaves
    /// the range of amounts (`aggregate_all` then names it). The queries are answered a few at a
    /// time in one walk over the cells, each group's days searched for all of them while they are
    /// in the cache (a walk per query missed it at every probe).
    pub fn answer(&self, table: &Table, queries: &[Query]) -> Option<Vec<Aggregate>> {
        let has = Has::of(table);
        let mut answers = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(ASKED_AT_ONCE) {
            let asks: Vec<Ask> = chunk.iter().map(|q| self.ask(q, has)).collect();
            let mut tallies: Vec<Tally> =
                asks.iter().map(|_| Tally::new(self.units.len())).collect();
            for (c, group) in self.cells.groups() {
                let days = &self.cells.days()[group.clone()];
                for (a, t) in asks.iter().zip(&mut tallies) {
                    if (has.year && c.year != a.year)
                        || a.layer.is_some_and(|l| c.layer != l)
                        || a.capital.is_some_and(|l| c.capital != l)
                    {
                        continue;
                    }
                    let from = days.partition_point(|&d| d < a.days.0);
                    let to = days.partition_point(|&d| d <= a.days.1);
                    if from >= to {
                        continue;
                    }
                    let at = group.start;
                    let (sum, rows) = self.cells.between(at, at + from, at + to);
                    let last = days[to - 1];
                    t.counted[c.unit as usize] = true;
                    let e = &mut t.sums[c.unit as usize];
                    e.0 = e.0.checked_add(sum)?;
                    e.1 += rows;
                    if has.effective {
                        e.2 = e.2.max(last);
                    }
                    t.newest = t.newest.max(last);
                }
            }
            for t in tallies {
                let first = answers.is_empty();
                answers.push(self.aggregate(t, table, has, first)?);
            }
        }
        Some(answers)
    }

    /// What `q` asks of the cells.
    fn ask(&self, q: &Query, has: Has) -> Ask {
        // The label a query asks for, by index; one no row has matches no cell.
        let label = |l: &Option<String>, present: bool| -> Option<u32> {
            match (l, present) {
                (Some(l), true) => Some(
                    self.labels
                        .iter()
                        .position(|x| x == l)
                        .map_or(NO_LABEL - 1, |i| i as u32),
                ),
                _ => None,
            }
        };
        let (year, days) = match q.scope {
            Scope::Plans { year, as_of } => (
                year,
                match has.effective {
                    true => (NONE, days_since_epoch(as_of)),
                    false => (NONE, i32::MAX),
                },
            ),
            Scope::Disbursements {
                year, start, end, ..
            } => (year, (days_since_epoch(start), days_since_epoch(end))),
        };
        Ask {
            year: year.get(),
            layer: label(&q.layer, has.layer),
            capital: label(&q.capital_source, has.capital),
            days,
        }
    }

    /// One query's answer from its tally.
    fn aggregate(&self, t: Tally, table: &Table, has: Has, first: bool) -> Option<Aggregate> {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
        let day = |d: i32| match d {
            NONE => None,
            d => epoch.checked_add_signed(chrono::Duration::days(d.into())),
        };
        let mut agg = Aggregate::default();
        let mut used = 0;
        // Units are indexed in id order (`finish`, `merged`): the maps are built from sorted keys.
        let mut by_unit = Vec::new();
        let mut changed_on = Vec::new();
        for (i, (sum, rows, changed)) in t.sums.into_iter().enumerate() {
            if !t.counted[i] {
                continue;
            }
            let unit = &self.units[i];
            by_unit.push((unit.clone(), money::checked_sum([sum])?));
            if let Some(d) = day(changed) {
                changed_on.push((unit.clone(), d));
            }
            used += rows;
        }
        agg.by_unit = by_unit.into_iter().collect();
        agg.changed = changed_on.into_iter().collect();
        if first && has.date {
            agg.newest = day(t.newest);
        }
        agg.stats = SourceStats {
            source: Some(table.role),
            origin: table.origin.clone(),
            rows: self.rows,
            used,
            out_of_scope: self.rows - used,
            rejected: 0,
            not_data: table.not_data,
            blank: self.blank,
            sums: None,
        };
        Some(agg)
    }
}

/// How many queries one walk over a cube's cells answers: their tallies (a sum per unit each)
/// stay small beside the cells for any number of units.
const ASKED_AT_ONCE: usize = 8;

/// What one query asks of the cells: a plan year, labels by index (None: any), a range of days.
struct Ask {
    year: i32,
    layer: Option<u32>,
    capital: Option<u32>,
    days: (i32, i32),
}

/// One query's sums while the cells are walked, per unit by index: sum, rows, the latest plan
/// change; which units have cells; the latest day counted.
struct Tally {
    sums: Vec<(i128, u64, i32)>,
    counted: Vec<bool>,
    newest: i32,
}

impl Tally {
    fn new(units: usize) -> Tally {
        Tally {
            sums: vec![(0, 0, NONE); units],
            counted: vec![false; units],
            newest: NONE,
        }
    }
}

#[cfg(test)]
#[test]
fn a_cube_naming_a_unit_or_label_it_lacks_does_not_hold_together() {
    let cell = |unit, layer| Cell {
        unit,
        year: 2026,
        layer,
        capital: NO_LABEL,
        day: 1,
        sum: 5,
        rows: 1,
    };
    let cube = |c: Cell| {
        Loose {
            units: vec![UnitId::from("A")],
            labels: vec!["NSTW".into()],
            cells: vec![c],
            rows: 1,
            blank: 0,
        }
        .packed()
        .unwrap()
        .holds_together()
    };
    assert!(cube(cell(0, NO_LABEL)));
    assert!(cube(cell(0, 0)));
    assert!(!cube(cell(1, NO_LABEL)));
    assert!(!cube(cell(0, 1)));
}
