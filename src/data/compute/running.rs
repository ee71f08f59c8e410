//! Running totals (`kind = "cumulative"`): the latest total per unit and project on or before
//! each query's day, summed over projects.

use super::exact::bad_rows;
use super::exact::{exact_rows, sum_out_of_range};
use super::frame::*;
use super::query::successor;
use super::query::written_for;
use super::query::{in_scope, Aggregate, Has, Query};
use crate::config::job::Source;
use crate::data::source::Table;
use crate::domain::id::UnitId;
use crate::domain::issue::DataIssue;
use crate::domain::issue::SourceStats;
use crate::domain::money;
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::BTreeMap;

/// Running totals (`kind = "cumulative"`) for one query, read by the exact reader: the latest
/// total per unit and project (an old id's rows under its successor's id first, so that its
/// total and the successor's are one running total), summed over projects.
pub(super) fn running_totals(
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
        col(BLANK).cast(DataType::UInt64).sum().alias("blank"),
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
                by_unit.insert(UnitId::from(id), a);
            }
            None => out_of_range.push(UnitId::from(id)),
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
    let blank = count("blank");
    let (total, valid, used) = (count("rows") - blank, count("valid"), count("used"));
    let stats = SourceStats {
        source: Some(table.role),
        origin: table.origin.clone(),
        rows: total,
        used,
        out_of_scope: valid - used,
        rejected: total - valid,
        not_data: table.not_data,
        blank,
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
