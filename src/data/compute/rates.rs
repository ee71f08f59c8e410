//! Each unit's rate, expected rate, gap, money still due, rank and status, from the ledger; peer
//! groups' ranks and averages, and every level's roll-up.

use crate::domain::id::UnitId;
use crate::domain::ledger::{Ledger, Unit};
use crate::domain::money;
use crate::domain::rates::{rank_desc, GroupSummary, Rates, Rollup, UnitRate};
use crate::domain::rule::{Bands, Share};
use polars::prelude::*;
use std::collections::BTreeMap;

/// The rates could not be computed: polars failed on figures already checked (a bug, or the
/// machine).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ComputeError(#[from] PolarsError);

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
    for (parent, (count, [plan, paid])) in crate::domain::ledger::rollups(units, figure) {
        // The validate stage has checked that every roll-up fits in an amount.
        rollups.push(Rollup {
            unit_id: UnitId::from(parent),
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

/// Computes rates, gaps, ranks and statuses for every unit.
pub fn rates(
    ledger: &Ledger,
    expected_pct: f64,
    share: Share,
    bands: &Bands,
) -> Result<Rates, ComputeError> {
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
