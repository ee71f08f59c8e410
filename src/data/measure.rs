//! The measure stage: each unit's plan and disbursement for the plan year on the as-of date, a
//! year earlier at the same date (where the sources hold last year), and under each further
//! denominator (`rate_layers`, `rate_capital_sources`) — in plain Rust, from the pulled tables.
//! The polars work happens in `compute`; this module says *what* is measured.

use super::compute;
use crate::domain::id::UnitId;

use super::compute::query::{Query, Scope};
use super::reuse;
use super::source::Tables;
use crate::config::job::{Job, Source};
use crate::domain::id::PlanYear;
use crate::domain::issue::{DataIssue, IssueList, SourceRole, SourceStats};
use crate::domain::ledger::{LastYear, Ledger, PastYear};
use crate::domain::rule;
use crate::domain::rule::PassedMilestone;
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
    let mut ends = rule::month_ends(year);
    ends.retain(|d| *d < until);
    ends
}

/// The same date a year earlier (29 February → 28 February).
fn a_year_earlier(day: NaiveDate) -> NaiveDate {
    years_earlier(day, 1)
}

/// The same date `n` years earlier (29 February → 28 February).
pub fn years_earlier(day: NaiveDate, n: u32) -> NaiveDate {
    let year = day.year() - n as i32;
    day.with_year(year)
        .or_else(|| (day - chrono::Duration::days(1)).with_year(year))
        .unwrap_or(day)
}

/// The registered need of each unit for the plan year, from the plans' `need` column: the rows
/// the plan itself counts (its plan year, and the job's `plan_layer` and `capital_source` where
/// the plans have those columns); a blank cell is no need. A cell that is not an amount is a
/// row problem naming row, column and value, and counts for nothing.
fn needs_from_column(
    table: &crate::data::source::Table,
    job: &Job,
    ids: &[UnitId],
    plan_year: PlanYear,
) -> (BTreeMap<UnitId, i64>, Vec<DataIssue>) {
    let (source, successors) = (&job.plans, &job.successors);
    // Only the rows of the plan's own layer and capital source, as for the plan.
    let filters: Vec<(usize, &str)> = [
        ("layer", job.plan_layer.as_deref()),
        ("capital_source", job.capital_source.as_deref()),
    ]
    .into_iter()
    .filter_map(|(c, wanted)| Some((*table.columns.get(c)?, wanted?)))
    .collect();
    let known: std::collections::HashSet<&str> = ids.iter().map(UnitId::as_str).collect();
    let (mut sums, mut problems) = (BTreeMap::<String, i128>::new(), Vec::new());
    let (Some(&need), Some(&unit)) = (table.columns.get("need"), table.columns.get("unit_id"))
    else {
        return (BTreeMap::new(), problems);
    };
    let year_col = table.columns.get("plan_year").copied();
    let header = source.header("need").unwrap_or("need").to_string();
    let mut reader = match table.records() {
        Ok(r) => r,
        Err(e) => {
            problems.push(e);
            return (BTreeMap::new(), problems);
        }
    };
    for (i, record) in reader.records().enumerate() {
        let Ok(record) = record else { continue };
        if crate::data::source::is_blank(&record) {
            continue;
        }
        let cell = |c: usize| record.get(c).unwrap_or("").trim();
        let row = table.row_of(&record, i);
        let text = cell(need);
        if text.is_empty() {
            continue;
        }
        if let Some(y) = year_col {
            if cell(y).parse::<PlanYear>().ok() != Some(plan_year) {
                continue;
            }
        }
        if filters.iter().any(|(c, wanted)| cell(*c) != *wanted) {
            continue;
        }
        let written = crate::base::text::nfc(cell(unit));
        let id = compute::query::successor_of(successors, &written);
        if !known.contains(id) {
            continue;
        }
        match crate::domain::money::parse_dong(text, source.number_format, source.amount_unit) {
            Ok(v) if v >= 0 => *sums.entry(id.to_string()).or_default() += i128::from(v),
            Ok(_) | Err(_) => problems.push(DataIssue {
                source: table.role,
                sheet: table.sheet.clone(),
                row: Some(row),
                column: Some(header.clone()),
                value: Some(text.to_string()),
                problem: "the registered need is not an amount of money at or above 0; write it like the plan amounts, or leave the cell empty".into(),
            }),
        }
    }
    let sums = sums
        .into_iter()
        .map(|(k, v)| (UnitId::from(k), crate::domain::money::clamp(v)))
        .collect();
    (sums, problems)
}

/// A window a denominator is measured over: its plan year, its last day, and the plan layer and
/// capital source it is narrowed to.
type Window = (PlanYear, NaiveDate, Option<String>, Option<String>);

/// Every denominator, each for plans and disbursements: this year, the same date a year earlier
/// (when the plans say which year they are for), and each further denominator.
fn denominators(
    job: &Job,
    plan_year: PlanYear,
    as_of: NaiveDate,
    year_on_year: bool,
) -> Vec<(Denominator, Window)> {
    let this_year = |layer: Option<&String>, capital_source: Option<&String>| {
        (plan_year, as_of, layer.cloned(), capital_source.cloned())
    };
    let mut wanted = vec![(
        Denominator::ThisYear,
        this_year(job.plan_layer.as_ref(), job.capital_source.as_ref()),
    )];
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
    wanted
}

/// What one run asks of the plans and the disbursements beyond the denominators, in the order it
/// asks: each source is read once for all of it.
struct Asked {
    wanted: Vec<(Denominator, Window)>,
    /// The past years whose final plans are measured (the projection's seasonal curves).
    past_years: Vec<PlanYear>,
    /// The milestones passed, when missing them in a row escalates (`escalate_after_milestones`).
    passed: Vec<(NaiveDate, f64)>,
    /// This year's month ends where the alerts' curve is drawn (and, in January, 31/12).
    curve: Vec<NaiveDate>,
}

impl Asked {
    fn of(job: &Job, plan_year: PlanYear, as_of: NaiveDate, year_on_year: bool) -> Asked {
        let past_years = match year_on_year {
            true => (1..=job.projection.years as i32)
                .map(|k| plan_year - k)
                .collect(),
            false => Vec::new(),
        };
        let passed = match job.escalate_after_milestones {
            Some(_) => job
                .milestones
                .points(plan_year)
                .into_iter()
                .filter(|(d, _)| *d <= as_of)
                .collect(),
            None => Vec::new(),
        };
        // The curve the alerts draw (this year's month ends), and in January the 31/12 close
        // the projection reports as reached.
        let december = rule::december(plan_year);
        let curve = match (job.charts, as_of > december) {
            (true, _) => month_ends(plan_year, as_of),
            (false, true) => vec![december],
            (false, false) => Vec::new(),
        };
        Asked {
            wanted: denominators(job, plan_year, as_of, year_on_year),
            past_years,
            passed,
            curve,
        }
    }

    /// One query per denominator, its rows picked by `scope`.
    fn each(&self, scope: &dyn Fn(PlanYear, NaiveDate) -> Scope) -> Vec<Query> {
        self.wanted
            .iter()
            .map(|(_, (year, day, layer, capital_source))| Query {
                scope: scope(*year, *day),
                layer: layer.clone(),
                capital_source: capital_source.clone(),
            })
            .collect()
    }
}

/// A query under the job's own plan layer and capital source.
fn main_query(job: &Job, scope: Scope) -> Query {
    Query {
        scope,
        layer: job.plan_layer.clone(),
        capital_source: job.capital_source.clone(),
    }
}

/// The plan queries: each denominator, each past year's final plan, the plan in force on each
/// milestone passed, and the registered need's layer (`reallocation.need_layer`).
fn plan_queries(job: &Job, asked: &Asked, plan_year: PlanYear, as_of: NaiveDate) -> Vec<Query> {
    let mut queries = asked.each(&|year, as_of| Scope::Plans { year, as_of });
    queries.extend(asked.past_years.iter().map(|&year| {
        main_query(
            job,
            Scope::Plans {
                year,
                as_of: rule::window_end(year),
            },
        )
    }));
    queries.extend(asked.passed.iter().map(|(d, _)| {
        main_query(
            job,
            Scope::Plans {
                year: plan_year,
                as_of: *d,
            },
        )
    }));
    if let Some(layer) = &job.reallocation.need_layer {
        queries.push(Query {
            scope: Scope::Plans {
                year: plan_year,
                as_of,
            },
            layer: Some(layer.clone()),
            capital_source: job.capital_source.clone(),
        });
    }
    queries
}

/// The rows of disbursements that count for plan year `year` by `day`.
fn paid_by(job: &Job, year: PlanYear, day: NaiveDate) -> Scope {
    Scope::Disbursements {
        year,
        kind: job.disbursement_kind,
        start: rule::window_start(year),
        end: day.min(rule::window_end(year)),
    }
}

/// Where a past year is measured: every month end where a curve is drawn (last year's, beside
/// this year's) or replayed (`disbmon backtest`), else 31/12 and the close, all the projection
/// reads; and the same day as this run's as-of date (last year's is the year-on-year figure,
/// measured already).
fn past_days(
    job: &Job,
    year: PlanYear,
    plan_year: PlanYear,
    as_of: NaiveDate,
) -> (Vec<NaiveDate>, Option<NaiveDate>) {
    let whole = job.projection.curves || (job.charts && year == plan_year - 1);
    let ends = match whole {
        true => month_ends(year, rule::window_end(year) + chrono::Days::new(1)),
        false => vec![rule::december(year), rule::window_end(year)],
    };
    let same_day = (year != plan_year - 1).then(|| years_earlier(as_of, (plan_year - year) as u32));
    (ends, same_day)
}

/// The plans measured, split as they were asked.
struct Plans {
    by_denominator: Vec<compute::query::Aggregate>,
    past: Vec<(PlanYear, BTreeMap<UnitId, i64>)>,
    passed: Vec<BTreeMap<UnitId, i64>>,
    need: BTreeMap<UnitId, i64>,
}

impl Plans {
    fn split(mut plans: Vec<compute::query::Aggregate>, asked: &Asked) -> Plans {
        let mut extra = plans.split_off(asked.wanted.len()).into_iter();
        let past = asked
            .past_years
            .iter()
            .map(|&y| (y, extra.next().map(|a| a.by_unit).unwrap_or_default()))
            .filter(|(_, plan)| plan.values().any(|p| *p > 0))
            .collect();
        let passed = asked
            .passed
            .iter()
            .map(|_| extra.next().map(|a| a.by_unit).unwrap_or_default())
            .collect();
        Plans {
            by_denominator: plans,
            past,
            passed,
            need: extra.next().map(|a| a.by_unit).unwrap_or_default(),
        }
    }
}

/// The figures of every denominator: this year's (plan, disbursed) aggregates, last year's at the
/// same date (which is also that past year's same day), and each further one.
type Denominators = (
    (compute::query::Aggregate, compute::query::Aggregate),
    Option<LastYear>,
    BTreeMap<String, LastYear>,
);

fn by_denominator(
    wanted: Vec<(Denominator, Window)>,
    plans: Vec<compute::query::Aggregate>,
    paid: Vec<compute::query::Aggregate>,
    history: &mut [PastYear],
    plan_year: PlanYear,
) -> Denominators {
    let (mut current, mut last_year, mut others) = (None, None, BTreeMap::new());
    for ((which, _), (p, d)) in wanted.into_iter().zip(plans.into_iter().zip(paid)) {
        match which {
            Denominator::ThisYear => current = Some((p, d)),
            Denominator::LastYear => {
                if let Some(h) = history.iter_mut().find(|h| h.year == plan_year - 1) {
                    h.same_day = d.by_unit.clone();
                }
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
    (
        current.expect("this year is always measured"),
        last_year,
        others,
    )
}

/// Plan and disbursement per (unit, project).
type ByProject = BTreeMap<(UnitId, String), (i64, i64)>;

/// Plan and disbursement per (unit, project), when both sources name projects.
fn projects(
    job: &Job,
    tables: &Tables,
    ids: &[UnitId],
    (plan_q, paid_q): (&Query, &Query),
) -> Result<ByProject, DataIssue> {
    if !(tables.plans.columns.contains_key("project_id")
        && tables.disbursements.columns.contains_key("project_id"))
    {
        return Ok(BTreeMap::new());
    }
    let by_project = compute::aggregate::by_project;
    let planned = by_project(&tables.plans, &job.plans, ids, &job.successors, plan_q)?;
    let paid = by_project(
        &tables.disbursements,
        &job.disbursements,
        ids,
        &job.successors,
        paid_q,
    )?;
    let mut both: ByProject = planned.into_iter().map(|(k, p)| (k, (p, 0))).collect();
    for (k, d) in paid {
        both.entry(k).or_default().1 = d;
    }
    Ok(both)
}

/// Figures no real ledger has, each named with its rows: a unit's plan cut below zero is a data
/// issue, and the unit is measured as without a plan (a rate of a negative plan means nothing);
/// payments that net below zero (refunds larger than payments) are a note — the unit is still
/// measured and ranked with its figure, and the digest and the report say so.
fn below_zero(
    job: &Job,
    tables: &Tables,
    ids: &[UnitId],
    (plan_q, paid_q): (&Query, &Query),
    (plan, paid): (&mut compute::query::Aggregate, &compute::query::Aggregate),
) -> Result<(Vec<DataIssue>, Vec<DataIssue>), DataIssue> {
    let lang = job.language;
    let issue = |role: SourceRole, source: &Source, unit: &UnitId, problem: String| DataIssue {
        source: role,
        sheet: None,
        row: None,
        column: source.header("amount").map(str::to_string),
        value: Some(unit.to_string()),
        problem,
    };
    let rows = compute::aggregate::rows_of;
    let mut plans = Vec::new();
    let negative: Vec<(UnitId, i64)> = plan
        .by_unit
        .iter()
        .filter(|(_, v)| **v < 0)
        .map(|(u, v)| (u.clone(), *v))
        .collect();
    for (unit, sum) in negative {
        let listed = rows(
            &tables.plans,
            &job.plans,
            ids,
            &job.successors,
            plan_q,
            &unit,
        )?;
        plans.push(issue(
            SourceRole::Plans,
            &job.plans,
            &unit,
            format!(
                "the plan of unit `{unit}` adds up to {} đồng (rows {listed}): a plan is never cut below zero; check the cuts and amounts in those rows (the unit is measured as without a plan)",
                crate::domain::money::format_dong(sum, lang)
            ),
        ));
        plan.by_unit.remove(&unit);
        plan.changed.remove(&unit);
    }
    let mut notes = Vec::new();
    for (unit, sum) in paid.by_unit.iter().filter(|(_, v)| **v < 0) {
        let listed = rows(
            &tables.disbursements,
            &job.disbursements,
            ids,
            &job.successors,
            paid_q,
            unit,
        )?;
        notes.push(issue(
            SourceRole::Disbursements,
            &job.disbursements,
            unit,
            format!(
                "the disbursements of unit `{unit}` net to {} đồng (rows {listed}): refunds larger than payments, which no ledger has; check those rows (the unit is still measured and ranked with this figure)",
                crate::domain::money::format_dong(*sum, lang)
            ),
        ));
    }
    Ok((plans, notes))
}

/// The disbursement queries, in the order [`curves`] reads their answers: each denominator,
/// this year's curve, each past year with a plan at its days ([`past_days`]), and each milestone
/// passed. Also each past year's days.
fn paid_queries(
    job: &Job,
    asked: &Asked,
    past: &[(PlanYear, BTreeMap<UnitId, i64>)],
    plan_year: PlanYear,
    as_of: NaiveDate,
) -> (Vec<Query>, Vec<(Vec<NaiveDate>, bool)>) {
    let mut queries = asked.each(&|year, day| paid_by(job, year, day));
    let main_paid = |year, day| main_query(job, paid_by(job, year, day));
    queries.extend(asked.curve.iter().map(|d| main_paid(plan_year, *d)));
    let mut days = Vec::new();
    for (year, _) in past {
        let (ends, same_day) = past_days(job, *year, plan_year, as_of);
        queries.extend(ends.iter().map(|d| main_paid(*year, *d)));
        queries.extend(same_day.map(|d| main_paid(*year, d)));
        days.push((ends, same_day.is_some()));
    }
    queries.extend(asked.passed.iter().map(|(d, _)| main_paid(plan_year, *d)));
    (queries, days)
}

/// This year's curve, each past year, and each milestone passed.
type Curves = (
    Vec<(NaiveDate, BTreeMap<UnitId, i64>)>,
    Vec<PastYear>,
    Vec<PassedMilestone>,
);

/// This year's curve, each past year, and each milestone passed, from the disbursement answers
/// beyond the denominators (in [`paid_queries`]' order).
fn curves(
    answers: Vec<compute::query::Aggregate>,
    asked: &Asked,
    past: Vec<(PlanYear, BTreeMap<UnitId, i64>)>,
    days: Vec<(Vec<NaiveDate>, bool)>,
    passed_plans: Vec<BTreeMap<UnitId, i64>>,
) -> Curves {
    let mut answers = answers.into_iter().map(|a| a.by_unit);
    let curve: Vec<_> = asked.curve.iter().copied().zip(answers.by_ref()).collect();
    let mut history: Vec<PastYear> = Vec::new();
    for ((year, plan), (ends, own_day)) in past.into_iter().zip(days) {
        let month_ends: Vec<_> = ends.into_iter().zip(answers.by_ref()).collect();
        let same_day = match own_day {
            true => answers.next().unwrap_or_default(),
            false => BTreeMap::new(),
        };
        history.push(PastYear {
            year,
            plan,
            month_ends,
            same_day,
        });
    }
    let passed = asked
        .passed
        .iter()
        .zip(passed_plans)
        .zip(answers.by_ref())
        .map(|(((date, pct), plan), disbursed)| PassedMilestone {
            date: *date,
            pct: *pct,
            plan,
            disbursed,
        })
        .collect();
    (curve, history, passed)
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
        compute::units::units(&tables.units, job.units.number_format)?;
    let ids: Vec<UnitId> = units.iter().map(|u| u.id.clone()).collect();
    let year_on_year = tables.plans.columns.contains_key("plan_year");
    let asked = Asked::of(job, plan_year, as_of, year_on_year);
    // The plans: each denominator, the past years' final plans, the plan on each milestone
    // passed, the registered need.
    let plan_queries = plan_queries(job, &asked, plan_year, as_of);
    let plans = reuse::aggregate(
        stored,
        &tables.plans,
        &job.plans,
        &ids,
        &job.successors,
        &plan_queries,
    )?;
    let plans = Plans::split(plans, &asked);
    // The disbursements: each denominator, the curve, each past year with a plan (at its days),
    // and each milestone passed.
    let (paid_queries, days) = paid_queries(job, &asked, &plans.past, plan_year, as_of);
    let mut paid = reuse::aggregate(
        stored,
        &tables.disbursements,
        &job.disbursements,
        &ids,
        &job.successors,
        &paid_queries,
    )?;
    let answers = paid.split_off(asked.wanted.len());
    let (curve, mut history, milestones_passed) =
        curves(answers, &asked, plans.past, days, plans.passed);
    let ((plan, paid), last_year, others) = by_denominator(
        asked.wanted,
        plans.by_denominator,
        paid,
        &mut history,
        plan_year,
    );
    let main = (&plan_queries[0], &paid_queries[0]);
    let projects = projects(job, tables, &ids, main)?;
    let mut plan = plan;
    let mut notes = notes;
    let (below_plan, below_paid) = below_zero(job, tables, &ids, main, (&mut plan, &paid))?;
    notes.extend(below_paid);
    let mut need = plans.need;
    let mut issues = IssueList::new();
    issues.extend(below_plan);
    if job.plans.columns.contains_key("need") {
        let (by_unit, problems) = needs_from_column(&tables.plans, job, &ids, plan_year);
        need = by_unit;
        issues.extend(problems);
    }
    issues.extend(unit_issues);
    issues.extend(plan.issues.iter().cloned());
    issues.extend(paid.issues.iter().cloned());
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
            history,
            projects,
            need,
            milestones_passed,
        },
        issues: issues.finish(),
        notes: crate::domain::issue::cap(notes),
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
        let all = month_ends(PlanYear::new(2024), d(2025, 2, 1));
        assert_eq!(all.len(), 13);
        assert_eq!(
            (all[1], all[11], all[12]),
            (d(2024, 2, 29), d(2024, 12, 31), d(2025, 1, 31))
        );
        assert_eq!(
            month_ends(PlanYear::new(2026), d(2026, 10, 31)).last(),
            Some(&d(2026, 9, 30))
        );
        assert!(month_ends(PlanYear::new(2026), d(2026, 1, 31)).is_empty());
    }
}
