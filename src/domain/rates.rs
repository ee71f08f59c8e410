//! Where each unit stands on the as-of date — its rate against plan, the expected rate, the gap,
//! the money still due, its rank and status — and the one ranking rule: rates compared exactly,
//! as fractions, ties sharing the best rank. Computed by `data::compute::rates`; read by every
//! stage after it.

use super::id::PlanYear;
use super::id::UnitId;
use super::rule::Status;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    pub projection: Option<Projection>,
    /// The milestones passed that the unit missed in a row, up to the latest
    /// (`escalate_after_milestones`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missed_milestones: Vec<crate::domain::rule::Missed>,
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

impl Rates {
    /// Units ranked (with a plan).
    pub fn ranked(&self) -> usize {
        self.units.iter().filter(|u| u.rank.is_some()).count()
    }
}

/// The gap to the expected rate in percentage points, as reports write it: the rate less the
/// expected rate, negative when behind (`UnitRate::gap_pct` is the other way round: how far
/// behind, for the status bands). None without a rate.
pub fn points_ahead(rate: Option<f64>, expected: f64) -> Option<f64> {
    rate.map(|r| r - expected)
}

/// Ranks with ties sharing the best rank (1, 2, 2, 4), highest rate first, of units given as
/// (disbursed, plan) with plan > 0. Rates are compared exactly, as fractions (d₁·p₂ against
/// d₂·p₁ in i128: amounts are at most 10^18), never through floating point.
pub fn rank_desc(figures: &[(i64, i64)]) -> Vec<u32> {
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

/// A projected rate (% of plan): the figure and its range over the past years used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub low: f64,
    pub mid: f64,
    pub high: f64,
}

/// Whose seasonal curves a projection follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The unit's own past years.
    Unit,
    /// Its peer group's (its `group`, or its parent's units).
    Group,
    /// All the job's units together.
    Job,
}

/// A unit's year-end projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    pub basis: Basis,
    /// The past plan years whose curves were followed.
    pub years: Vec<PlanYear>,
    /// The projected rate at 31 December.
    pub dec31: Range,
    /// At 31 January of the next year, the close of the plan year.
    pub jan31: Range,
    /// The projected disbursement by the close (đồng), from `jan31.mid`.
    pub disbursed_by_close: i64,
    /// Projected below the 31/12 or the 31/1 target of the job's milestones.
    pub at_risk: bool,
}
