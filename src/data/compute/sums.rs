//! One pass over a source's rows for every query at once: per id as written, the money parts and
//! the rows counted; then folded into each unit's exact sums (an old id's rows under its
//! successor), with the sums that leave the range of amounts set apart.

use super::frame::*;
use super::query::in_scope;
use super::query::{Aggregate, Has, Query};
use crate::data::source::Table;
use crate::domain::id::UnitId;
use crate::domain::issue::SourceStats;
use crate::domain::money;
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::BTreeMap;

pub(super) const KEY: &str = "__unit";

/// Per id as written: for every query the two money parts and the rows counted, the newest date
/// (first query) and the latest plan change (each query); and every id's row count, the rows
/// that are not valid under a null id. One pass over the source for all queries. `blank`: the
/// rows have a [`BLANK`] column (the exact reader's), counted apart.
pub(super) fn summed_all(rows: LazyFrame, queries: &[Query], has: Has, blank: bool) -> LazyFrame {
    let mut per_row = split_parts().to_vec();
    per_row.push(
        when(col("valid"))
            .then(col("unit_id"))
            .otherwise(lit(NULL).cast(DataType::String))
            .alias(KEY),
    );
    let (mut flags, mut derived) = (Vec::new(), Vec::new());
    let mut aggs = vec![len().alias("rows")];
    if blank {
        aggs.push(col(BLANK).cast(DataType::Int64).sum().alias("blank"));
    }
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
pub(super) struct Sums {
    pub(super) aggregates: Vec<Aggregate>,
    /// Rows that are not valid.
    pub(super) invalid: u64,
    /// Units whose rows add up beyond `money::MAX_DONG`, per query.
    pub(super) out_of_range: Vec<Vec<UnitId>>,
}

/// Folds the per-id sums into per-unit figures (an old id's rows count for its successor).
pub(super) fn fold(
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
    // Blank lines are in the group of rows that are not valid; they are counted apart.
    let blank: u64 = match df.schema().contains("blank") {
        true => ints("blank")?.iter().map(|&r| r as u64).sum(),
        false => 0,
    };
    let total: u64 = rows.iter().map(|&r| r as u64).sum::<u64>() - blank;
    let invalid: u64 = keys
        .iter()
        .zip(&rows)
        .filter(|(k, _)| k.is_none())
        .map(|(_, &r)| r as u64)
        .sum::<u64>()
        - blank;
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
        let mut sums: BTreeMap<&UnitId, (i128, u64, Option<i32>)> = BTreeMap::new();
        let mut newest_day = None;
        for (i, key) in keys.iter().enumerate() {
            let Some(unit) = key.as_deref().and_then(|id| ids.get(id)) else {
                continue;
            };
            if n[i] == 0 {
                continue;
            }
            let e = sums.entry(unit).or_default();
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
                    agg.by_unit.insert(unit.clone(), a);
                    if let Some(d) = day(change) {
                        agg.changed.insert(unit.clone(), d);
                    }
                }
                None => beyond.push(unit.clone()),
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
            blank,
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
