//! The measure stage: each unit's plan and disbursement for the plan year on the as-of date, a
//! year earlier at the same date (where the sources hold last year), and under each further
//! denominator (`rate_layers`, `rate_capital_sources`) — in plain Rust, from the pulled tables.
//! The polars work happens in `compute`; this module says *what* is measured.

use crate::compute::{self, Query, Scope};
use crate::job::Job;
use crate::ledger::{DataIssue, IssueList, LastYear, Ledger, SourceStats};
use crate::reuse;
use crate::rule::{self, PlanYear};
use crate::source::Tables;
use chrono::{Datelike, NaiveDate};
use std::collections::BTreeMap;
use std::path::Path;

/// What the sources say, before any policy is applied.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub ledger: Ledger,
    /// Rows with a problem (each left out of the figures), at most `ledger::MAX_LISTED` per source.
    pub issues: Vec<DataIssue>,
    /// What was cleaned without leaving anything out (names with control characters).
    pub notes: Vec<DataIssue>,
    pub sources: Vec<SourceStats>,
    /// The latest payment counted (for the stale-data rule).
    pub newest_payment: Option<NaiveDate>,
}

/// Which figures a measured window gives.
enum Denominator {
    ThisYear,
    LastYear,
    /// A further denominator, keyed as the report names it ("layer:dp", "capital_source:NSTW").
    Further(String),
}

/// The month ends of plan year `year`'s window (31 January to 31 January of the next year) that
/// fall before `until`: where a curve of cumulative disbursement is drawn.
fn month_ends(year: PlanYear, until: NaiveDate) -> Vec<NaiveDate> {
    (1..=13)
        .filter_map(|m| {
            let (y, m) = if m == 13 { (year + 1, 1) } else { (year, m) };
            let first_of_next = if m == 12 {
                NaiveDate::from_ymd_opt(y + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(y, m + 1, 1)
            };
            first_of_next.and_then(|d| d.pred_opt())
        })
        .filter(|d| *d < until)
        .collect()
}

/// The same date a year earlier (29 February → 28 February).
fn a_year_earlier(day: NaiveDate) -> NaiveDate {
    day.with_year(day.year() - 1)
        .or_else(|| (day - chrono::Duration::days(1)).with_year(day.year() - 1))
        .unwrap_or(day)
}

/// Measures every denominator of the job, with the sums stored in `stored` by earlier runs where
/// they still apply (`reuse`). A problem that makes a whole source unreadable is the
/// error; row problems are in [`Measured::issues`].
pub fn measure(
    job: &Job,
    tables: &Tables,
    plan_year: PlanYear,
    as_of: NaiveDate,
    stored: Option<&Path>,
) -> Result<Measured, DataIssue> {
    let (units, unit_issues, notes, unit_stats) =
        compute::units(&tables.units, job.units.number_format)?;
    let ids: Vec<String> = units.iter().map(|u| u.id.clone()).collect();
    // Every denominator, each for plans and disbursements: this year, the same date a year
    // earlier (when the plans say which year they are for), and each further denominator. Each
    // source is read once for all of them.
    let this_year = |layer: Option<&String>, capital_source: Option<&String>| {
        (plan_year, as_of, layer.cloned(), capital_source.cloned())
    };
    let mut wanted = vec![(
        Denominator::ThisYear,
        this_year(job.plan_layer.as_ref(), job.capital_source.as_ref()),
    )];
    let year_on_year = tables.plans.columns.contains_key("plan_year");
    if year_on_year {
        wanted.push((
            Denominator::LastYear,
            (
                plan_year - 1,
                a_year_earlier(as_of),
                job.plan_layer.clone(),
                job.capital_source.clone(),
            ),
        ));
    }
    for l in &job.rate_layers {
        wanted.push((
            Denominator::Further(format!("layer:{l}")),
            this_year(Some(l), job.capital_source.as_ref()),
        ));
    }
    for c in &job.rate_capital_sources {
        wanted.push((
            Denominator::Further(format!("capital_source:{c}")),
            this_year(job.plan_layer.as_ref(), Some(c)),
        ));
    }
    let queries = |scope: &dyn Fn(PlanYear, NaiveDate) -> Scope| -> Vec<Query> {
        wanted
            .iter()
            .map(|(_, (year, day, layer, capital_source))| Query {
                scope: scope(*year, *day),
                layer: layer.clone(),
                capital_source: capital_source.clone(),
            })
            .collect()
    };
    let plan_queries = queries(&|year, as_of| Scope::Plans { year, as_of });
    let plans = reuse::aggregate(
        stored,
        &tables.plans,
        &job.plans,
        &ids,
        &job.successors,
        &plan_queries,
    )?;
    let paid_by = |year: PlanYear, day: NaiveDate| Scope::Disbursements {
        kind: job.disbursement_kind,
        start: rule::window_start(year),
        end: day.min(rule::window_end(year)),
    };
    // The curves the alerts draw: disbursement only, at each month end, in the same pass.
    let (curve, last_year_curve) = match job.charts {
        true => (
            month_ends(plan_year, as_of),
            match year_on_year {
                true => month_ends(
                    plan_year - 1,
                    rule::window_end(plan_year - 1) + chrono::Days::new(1),
                ),
                false => Vec::new(),
            },
        ),
        false => (Vec::new(), Vec::new()),
    };
    let mut paid_queries = queries(&paid_by);
    let curve_query = |year: PlanYear, day: NaiveDate| Query {
        scope: paid_by(year, day),
        layer: job.plan_layer.clone(),
        capital_source: job.capital_source.clone(),
    };
    paid_queries.extend(curve.iter().map(|d| curve_query(plan_year, *d)));
    paid_queries.extend(
        last_year_curve
            .iter()
            .map(|d| curve_query(plan_year - 1, *d)),
    );
    let mut paid = reuse::aggregate(
        stored,
        &tables.disbursements,
        &job.disbursements,
        &ids,
        &job.successors,
        &paid_queries,
    )?;
    let mut curves = paid.split_off(wanted.len()).into_iter().map(|a| a.by_unit);
    let curve: Vec<_> = curve.into_iter().zip(curves.by_ref()).collect();
    let last_year_curve: Vec<_> = last_year_curve.into_iter().zip(curves).collect();
    let (mut current, mut last_year, mut others) = (None, None, BTreeMap::new());
    for ((which, _), (p, d)) in wanted.into_iter().zip(plans.into_iter().zip(paid)) {
        match which {
            Denominator::ThisYear => current = Some((p, d)),
            Denominator::LastYear => {
                last_year = Some(LastYear {
                    plan: p.by_unit,
                    disbursed: d.by_unit,
                })
            }
            Denominator::Further(key) => {
                others.insert(
                    key,
                    LastYear {
                        plan: p.by_unit,
                        disbursed: d.by_unit,
                    },
                );
            }
        }
    }
    let (plan, paid) = current.expect("this year is always measured");
    let projects = match tables.plans.columns.contains_key("project_id")
        && tables.disbursements.columns.contains_key("project_id")
    {
        true => {
            let (plan_q, paid_q) = (&plan_queries[0], &paid_queries[0]);
            let planned =
                compute::by_project(&tables.plans, &job.plans, &ids, &job.successors, plan_q)?;
            let paid = compute::by_project(
                &tables.disbursements,
                &job.disbursements,
                &ids,
                &job.successors,
                paid_q,
            )?;
            let mut both: BTreeMap<(String, String), (i64, i64)> =
                planned.into_iter().map(|(k, p)| (k, (p, 0))).collect();
            for (k, d) in paid {
                both.entry(k).or_default().1 = d;
            }
            both
        }
        false => BTreeMap::new(),
    };
    let mut issues = IssueList::new();
    issues.extend(unit_issues);
    issues.extend(plan.issues.iter().cloned());
    issues.extend(paid.issues.iter().cloned());
    let issues = issues.finish();
    let notes = crate::ledger::cap(notes);
    Ok(Measured {
        newest_payment: paid.newest,
        sources: vec![unit_stats, plan.stats, paid.stats],
        ledger: Ledger {
            units,
            plan: plan.by_unit,
            disbursed: paid.by_unit,
            plan_changed: plan.changed,
            last_year,
            other_denominators: others,
            curve,
            last_year_curve,
            projects,
        },
        issues,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_earlier_keeps_the_day_or_steps_back_from_29_february() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(a_year_earlier(d(2026, 10, 31)), d(2025, 10, 31));
        assert_eq!(a_year_earlier(d(2028, 2, 29)), d(2027, 2, 28));
    }

    #[test]
    fn month_ends_run_through_the_window_and_stop_before_the_day() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let all = month_ends(2024, d(2025, 2, 1));
        assert_eq!(all.len(), 13);
        assert_eq!(
            (all[1], all[11], all[12]),
            (d(2024, 2, 29), d(2024, 12, 31), d(2025, 1, 31))
        );
        assert_eq!(
            month_ends(2026, d(2026, 10, 31)).last(),
            Some(&d(2026, 9, 30))
        );
        assert!(month_ends(2026, d(2026, 1, 31)).is_empty());
    }
}
