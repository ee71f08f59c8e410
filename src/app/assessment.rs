//! What the data says on the as-of date, before anyone is told anything: pull, measure and
//! validate a job's sources, then the rates, the projection and the reallocation proposal.
//! `once`, the daemon's runs, `report`, `preview`, `backtest` and the bench all start here.

use crate::base::clock::Clock;
use crate::config::daemon::MailConfig;
use crate::config::job::Job;
use crate::data::validate::{self, Verdict};
use crate::data::{compute, measure, source};
use crate::domain::answer::Answer;
use crate::domain::id::PlanYear;
use crate::domain::id::UnitId;
use crate::domain::issue::{DataIssue, SourceStats};
use crate::domain::ledger::{Ledger, UnitDetail};
use crate::domain::rates::Rates;
use crate::domain::rule;
use crate::notify::deliver::MailerError;
use crate::notify::render::context::Context;
use crate::notify::templates::Templates;
use crate::store::db::{Store, StoreError};
use crate::store::figures::Previous;
use chrono::NaiveDate;

/// Why a run could not be carried out — the machine or the setup, never the data (data problems
/// are [`DataIssue`]s in the report).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Setup(#[from] source::SetupError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot compute the rates: {0}")]
    Compute(#[from] compute::rates::ComputeError),
    #[error("the computation could not be waited for: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("the run stopped unexpectedly ({0}); this is a bug — please report it with the job file and the data; the run is retried like any failed run")]
    Panicked(String),
    #[error("the mail transport cannot be set up: {0}; the messages stay in the outbox")]
    Mail(#[from] MailerError),
}

/// What the data says on the as-of date, before anyone is told anything.
pub struct Assessment {
    pub plan_year: PlanYear,
    pub as_of: NaiveDate,
    pub expected_pct: f64,
    pub ledger: Ledger,
    /// None when the data was rejected.
    pub rates: Option<Rates>,
    pub issues: Vec<DataIssue>,
    /// Things the data needed that did not stop it (e.g. names cleaned of control characters).
    pub notes: Vec<DataIssue>,
    pub sources: Vec<SourceStats>,
    pub verdict: Verdict,
    /// Who could release or absorb capital, when units are projected.
    pub reallocation: Option<crate::domain::reallocation::Proposal>,
}

impl Assessment {
    pub fn rejected(&self) -> bool {
        self.rates.is_none()
    }

    pub fn context<'a>(
        &'a self,
        job: &'a Job,
        rates: &'a Rates,
        details: &'a Details,
        templates: &'a Templates,
    ) -> Context<'a> {
        Context {
            templates,
            details,
            charts: job.charts,
            digest_rows: job.digest_rows,
            job: &job.name,
            language: job.language,
            as_of: self.as_of,
            plan_year: self.plan_year,
            ranked: rates.ranked(),
            rates,
            next_milestone: job.milestones.next(self.plan_year, self.as_of),
            reallocation: self.reallocation.as_ref(),
            zone: job.timezone,
            milestones_after: job
                .milestones
                .points(self.plan_year)
                .into_iter()
                .map(|(d, _)| d)
                .find(|d| *d > self.as_of),
            answers: None,
            links: None,
            notes: &self.notes,
        }
    }
}

/// Completes the past years the projection follows with those the state store kept runs of, when
/// the sources no longer hold them, and projects again (and proposes again) when any was added.
pub fn add_stored_history(a: &mut Assessment, job: &Job, store: &Store) -> Result<(), StoreError> {
    let Some(rates) = a.rates.as_mut() else {
        return Ok(());
    };
    let mut added = false;
    for k in 1..=job.projection.years as i32 {
        let year = a.plan_year - k;
        if a.ledger.history.iter().any(|h| h.year == year) {
            continue;
        }
        let days = store.year_figures(&job.name, year)?;
        let same_day = measure::years_earlier(a.as_of, k as u32);
        if let Some(past) = crate::domain::projection::from_store(year, &days, same_day) {
            a.ledger.history.push(past);
            added = true;
        }
    }
    if added {
        a.ledger.history.sort_by_key(|h| std::cmp::Reverse(h.year));
        crate::domain::projection::project(rates, &a.ledger, &job.milestones, a.plan_year, a.as_of);
        a.reallocation = crate::domain::reallocation::propose(rates, &a.ledger, &job.reallocation);
    }
    Ok(())
}

/// A plan year's answers by unit, oldest first.
pub fn answer_book(answers: Vec<Answer>) -> std::collections::BTreeMap<UnitId, Vec<Answer>> {
    let mut book: std::collections::BTreeMap<UnitId, Vec<Answer>> = Default::default();
    for a in answers {
        book.entry(a.unit.clone()).or_default().push(a);
    }
    book
}

/// Pull, measure and validate: the figures of every unit, or why the data is rejected.
/// `cache` keeps HTTP sources for conditional requests and the sources' sums for the next run
/// (`reuse`); `clock` judges the data's age.
pub async fn assess_with(
    job: &Job,
    mail: &MailConfig,
    as_of: NaiveDate,
    cache: Option<&std::path::Path>,
    clock: &dyn Clock,
) -> Result<Assessment, RunError> {
    let mut a = empty(job, as_of);
    let plan_year = a.plan_year;
    let tables = match source::pull_all(job, cache, clock).await? {
        Ok(t) => t,
        Err(issues) => {
            a.issues = issues;
            return Ok(a);
        }
    };
    let owned = job.clone();
    let stored = cache.map(std::path::Path::to_path_buf);
    let (measured, tables) = off_runtime(move || {
        let m = measure::measure(&owned, &tables, plan_year, as_of, stored.as_deref());
        (m, tables)
    })
    .await?;
    let measured = match measured {
        Ok(m) => m,
        Err(issue) => {
            a.issues.push(issue);
            return Ok(a);
        }
    };
    let modified: Vec<_> = tables
        .all()
        .iter()
        .map(|t| (t.role, t.origin.as_str(), t.last_modified))
        .collect();
    let stale = validate::stale(job, measured.newest_payment, &modified, as_of, clock.now());
    if !stale.is_empty() {
        a.issues = stale;
        return Ok(a);
    }
    let mut measured = measured;
    let refused = validate::recipients(job, mail, &mut measured.ledger);
    measured.issues = crate::domain::issue::cap([measured.issues, refused].concat());
    a.verdict = validate::verdict(job, &measured.issues);
    let totals = validate::totals(&measured.ledger);
    if !totals.is_empty() {
        a.verdict = Verdict::Rejected;
    }
    (a.issues, a.sources, a.ledger) = (measured.issues, measured.sources, measured.ledger);
    a.issues.extend(totals);
    a.notes = measured.notes;
    if a.verdict != Verdict::Rejected {
        let (ledger, expected, bands) = (a.ledger.clone(), a.expected_pct, job.bands);
        let milestones = job.milestones.clone();
        let share = milestones.expected_share(plan_year, as_of);
        let rates = off_runtime(move || {
            let mut rates = compute::rates::rates(&ledger, expected, share, &bands)?;
            crate::domain::projection::project(&mut rates, &ledger, &milestones, plan_year, as_of);
            for u in &mut rates.units {
                u.missed_milestones = rule::missed_in_a_row(
                    &ledger.milestones_passed,
                    &u.unit_id,
                    bands.tolerance_pct,
                );
            }
            Ok::<_, compute::rates::ComputeError>(rates)
        })
        .await??;
        a.reallocation = crate::domain::reallocation::propose(&rates, &a.ledger, &job.reallocation);
        a.rates = Some(rates);
    }
    Ok(a)
}

/// Runs CPU-bound polars work off the async workers. polars drives a tokio runtime of its own
/// and may call `block_in_place`, which only works outside ours: so the work runs on a fresh
/// thread (no runtime context), joined from the blocking pool (which also keeps a paused test
/// clock from jumping while it computes). A panic in it fails the run instead of the process.
pub(crate) async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RunError> {
    let joined = tokio::task::spawn_blocking(move || std::thread::spawn(f).join()).await?;
    joined.map_err(|panic| RunError::Panicked(panic_text(panic.as_ref())))
}

/// What a panic said, for the report.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into())
}

/// Each unit's detail by id.
pub type Details = std::collections::BTreeMap<UnitId, UnitDetail>;

/// What a run knows of each unit beyond its rate: its curve, last year's, the milestones, its
/// further denominators, and its disbursement at the `previous` run (as-of date, by unit).
pub fn details(job: &Job, a: &Assessment, rates: &Rates, previous: Option<Previous>) -> Details {
    let milestones = job.milestones.points(a.plan_year);
    rates
        .units
        .iter()
        .map(|u| {
            let mut curve = a.ledger.curve_of(&u.unit_id);
            curve.push((a.as_of, u.disbursed));
            let last_year = a.ledger.last_year.as_ref();
            let detail = UnitDetail {
                unit: u.unit_id.clone(),
                name: u.unit_name.clone(),
                plan_year: a.plan_year,
                as_of: a.as_of,
                plan: u.plan,
                curve,
                last_year_plan: last_year.and_then(|l| l.plan.get(&u.unit_id).copied()),
                last_year_curve: a.ledger.last_year_curve_of(&u.unit_id, a.plan_year),
                milestones: milestones.clone(),
                denominators: a
                    .ledger
                    .other_denominators
                    .iter()
                    .map(|(key, d)| {
                        let get = |m: &std::collections::BTreeMap<UnitId, i64>| {
                            m.get(&u.unit_id).copied().unwrap_or(0)
                        };
                        (key.clone(), get(&d.plan), get(&d.disbursed))
                    })
                    .collect(),
                projects: a
                    .ledger
                    .slowest_projects(&u.unit_id, crate::domain::ledger::SLOWEST_PROJECTS),
                previous: previous
                    .as_ref()
                    .and_then(|(day, paid)| paid.get(&u.unit_id).map(|d| (*day, *d))),
                projection: u.projection.clone(),
            };
            (u.unit_id.clone(), detail)
        })
        .collect()
}

/// An assessment of nothing, for a run that failed before it could read anything.
pub fn empty(job: &Job, as_of: NaiveDate) -> Assessment {
    let plan_year = job
        .plan_year
        .unwrap_or_else(|| rule::default_plan_year(as_of));
    Assessment {
        plan_year,
        as_of,
        expected_pct: job.milestones.expected_pct(plan_year, as_of),
        ledger: Ledger::default(),
        rates: None,
        issues: Vec::new(),
        notes: Vec::new(),
        sources: Vec::new(),
        verdict: Verdict::Rejected,
        reallocation: None,
    }
}
