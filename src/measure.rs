//! The measure stage: each unit's plan and disbursement for the plan year on the as-of date, a
//! year earlier at the same date (where the sources hold last year), and under each further
//! denominator (`rate_layers`, `rate_capital_sources`) — in plain Rust, from the pulled tables.
//! The polars work happens in `compute`; this module says *what* is measured.

use crate::compute::{self, Filters, Scope};
use crate::job::Job;
use crate::ledger::{DataIssue, IssueList, LastYear, Ledger, SourceStats};
use crate::rule::{self, PlanYear};
use crate::source::Tables;
use chrono::{Datelike, NaiveDate};
use std::collections::BTreeMap;

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

/// The same date a year earlier (29 February → 28 February).
fn a_year_earlier(day: NaiveDate) -> NaiveDate {
    day.with_year(day.year() - 1)
        .or_else(|| (day - chrono::Duration::days(1)).with_year(day.year() - 1))
        .unwrap_or(day)
}

/// Measures every denominator of the job. A problem that makes a whole source unreadable is the
/// error; row problems are in [`Measured::issues`].
pub fn measure(
    job: &Job,
    tables: &Tables,
    plan_year: PlanYear,
    as_of: NaiveDate,
) -> Result<Measured, DataIssue> {
    let (units, unit_issues, notes, unit_stats) =
        compute::units(&tables.units, job.units.number_format)?;
    let ids: Vec<String> = units.iter().map(|u| u.id.clone()).collect();
    let filters = Filters {
        layer: job.plan_layer.clone(),
        capital_source: job.capital_source.clone(),
        successors: job.successors.clone(),
    };
    // The plan in force and the disbursement for plan year `year` as of `day`, under `filters`.
    let measure = |year: PlanYear, day: NaiveDate, filters: &Filters| {
        let plan = compute::aggregate(
            &tables.plans,
            &job.plans,
            &ids,
            Scope::Plans { year, as_of: day },
            filters,
        )?;
        let window = Scope::Disbursements {
            kind: job.disbursement_kind,
            start: rule::window_start(year),
            end: day.min(rule::window_end(year)),
        };
        let paid = compute::aggregate(
            &tables.disbursements,
            &job.disbursements,
            &ids,
            window,
            filters,
        )?;
        Ok::<_, DataIssue>((plan, paid))
    };
    let (plan, paid) = measure(plan_year, as_of, &filters)?;
    let last_year = if tables.plans.columns.contains_key("plan_year") {
        let (p, d) = measure(plan_year - 1, a_year_earlier(as_of), &filters)?;
        Some(LastYear {
            plan: p.by_unit,
            disbursed: d.by_unit,
        })
    } else {
        None
    };
    let further = job
        .rate_layers
        .iter()
        .map(|l| {
            let f = Filters {
                layer: Some(l.clone()),
                ..filters.clone()
            };
            (format!("layer:{l}"), f)
        })
        .chain(job.rate_capital_sources.iter().map(|c| {
            let f = Filters {
                capital_source: Some(c.clone()),
                ..filters.clone()
            };
            (format!("capital_source:{c}"), f)
        }));
    let mut others = BTreeMap::new();
    for (key, f) in further {
        let (p, d) = measure(plan_year, as_of, &f)?;
        others.insert(
            key,
            LastYear {
                plan: p.by_unit,
                disbursed: d.by_unit,
            },
        );
    }
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
}
