//! What a money source is asked: which rows count (this year to the as-of date, a year earlier,
//! each further denominator), under which unit each row's id counts (successors), and which
//! columns the table has.

use super::frame::*;
use crate::config::job::DisbursementKind;
use crate::data::source::Table;
use crate::domain::id::{PlanYear, UnitId};
use crate::domain::issue::DataIssue;
use crate::domain::issue::SourceStats;
use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::collections::HashSet;

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

/// The answers of some rows added to those of the rest (appended rows to the stored ones, a
/// cube's journal to the cube); None when a sum leaves the bounds.
pub fn added(stored: &[Aggregate], more: &[Aggregate]) -> Option<Vec<Aggregate>> {
    stored
        .iter()
        .zip(more)
        .map(|(a, b)| {
            let mut sum = a.clone();
            for (unit, amount) in &b.by_unit {
                let was = sum.by_unit.get(unit).copied().unwrap_or(0);
                let total =
                    crate::domain::money::checked_sum([i128::from(was), i128::from(*amount)])?;
                sum.by_unit.insert(unit.clone(), total);
            }
            for (unit, day) in &b.changed {
                let e = sum.changed.entry(unit.clone()).or_insert(*day);
                *e = (*e).max(*day);
            }
            sum.newest = sum.newest.max(b.newest);
            let (s, m) = (&mut sum.stats, &b.stats);
            s.rows += m.rows;
            s.used += m.used;
            s.out_of_scope += m.out_of_scope;
            s.rejected += m.rejected;
            s.blank += m.blank;
            Some(sum)
        })
        .collect()
}

/// Unit ids mapped to their successors (following chains: A → B → C).
pub(super) fn successor(e: Expr, map: &BTreeMap<UnitId, UnitId>) -> Expr {
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

pub(super) fn days_since_epoch(d: NaiveDate) -> i32 {
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
pub(super) fn countable(
    known: &[UnitId],
    successors: &BTreeMap<UnitId, UnitId>,
) -> BTreeMap<String, UnitId> {
    let units: HashSet<&str> = known.iter().map(UnitId::as_str).collect();
    known
        .iter()
        .chain(successors.keys())
        .filter_map(|id| {
            let to = successor_of(successors, id);
            units
                .contains(to)
                .then(|| (id.to_string(), UnitId::from(to)))
        })
        .collect()
}

/// Which source columns a money table has (beyond unit id and amount).
#[derive(Debug, Clone, Copy)]
pub(super) struct Has {
    pub(super) date: bool,
    pub(super) project: bool,
    pub(super) year: bool,
    pub(super) effective: bool,
    pub(super) layer: bool,
    pub(super) capital: bool,
}

impl Has {
    pub(super) fn of(table: &Table) -> Has {
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
pub(super) fn labels(table: &Table, has: Has) -> Vec<Expr> {
    [("layer", has.layer), ("capital_source", has.capital)]
        .into_iter()
        .filter(|(_, present)| *present)
        .filter_map(|(name, _)| column(table, name).map(|c| trimmed(c).alias(name)))
        .collect()
}

/// Whether a row (already `valid`) counts for `q`.
pub(super) fn in_scope(q: &Query, has: Has) -> Expr {
    let as_date = |d: NaiveDate| lit(days_since_epoch(d)).cast(DataType::Date);
    let mut e = match q.scope {
        Scope::Plans { year, .. } if has.year => col("year").eq(lit(year.get())),
        Scope::Plans { .. } => lit(true),
        Scope::Disbursements {
            start, end, year, ..
        } => {
            let dated = col("date")
                .gt_eq(as_date(start))
                .and(col("date").lt_eq(as_date(end)));
            match has.year {
                true => dated.and(col("year").eq(lit(year.get()))),
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

pub(super) fn countable_series(ids: &BTreeMap<String, UnitId>) -> Expr {
    lit(Series::new(
        "countable".into(),
        ids.keys().cloned().collect::<Vec<_>>(),
    ))
    .implode(false)
}

/// Rows whose unit id, as written, counts for `unit` (its own id and its predecessors').
pub(super) fn written_for(ids: &BTreeMap<String, UnitId>, unit: &str) -> Expr {
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
