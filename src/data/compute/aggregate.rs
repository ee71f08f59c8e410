//! A plans or disbursements source summed for every query at once: the fast reader first, the
//! exact one when a row needs it, running totals per query; and the second, exact pass per
//! project.

use super::exact::{exact_all, exact_rows, listed_rows};
use super::frame::*;
use super::query::{countable, in_scope, written_for, Aggregate, Has, Query, Scope};
use super::running::running_totals;
use super::typed::fast_all;
use crate::config::job::{DisbursementKind, Source};
use crate::data::source::Table;
use crate::domain::id::UnitId;
use crate::domain::issue::DataIssue;
use crate::domain::money;
use polars::prelude::*;
use std::collections::BTreeMap;

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

/// The rows that count for `unit` under `query` (its own and its predecessors'), listed as a
/// person finds them: `4, 9, 12 and 3 more`. An exact pass of its own, for the rare figure that
/// needs its rows named (a sum below zero).
pub fn rows_of(
    table: &Table,
    source: &Source,
    known: &[UnitId],
    successors: &BTreeMap<UnitId, UnitId>,
    query: &Query,
    unit: &UnitId,
) -> Result<String, DataIssue> {
    let ids = countable(known, successors);
    let has = Has::of(table);
    let rows = exact_rows(table, source, &ids, has)
        .map_err(|e| failed(table, e))?
        .filter(
            col("valid")
                .and(in_scope(query, has))
                .fill_null(lit(false))
                .and(written_for(&ids, unit)),
        );
    listed_rows(table, rows)
}
