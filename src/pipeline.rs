//! One run of a job, stage by stage: pull → validate + compute → decide → notify → report.

use crate::clock::Clock;
use crate::compute::{self, Rates, Scope};
use crate::config::Config;
use crate::decide;
use crate::job::{Job, OnError};
use crate::ledger::{DataIssue, Ledger, SourceRole, SourceStats};
use crate::notify::{deliver, render, Context, Email, Mailer};
use crate::report::{AlertReport, DigestReport, Outcome, RunReport};
use crate::rule::{self, PlanYear};
use crate::source;
use chrono::NaiveDate;
use std::time::SystemTime;

/// What the data says on the as-of date, before anyone is told anything.
pub struct Assessment {
    pub plan_year: PlanYear,
    pub as_of: NaiveDate,
    pub expected_pct: f64,
    pub ledger: Ledger,
    /// None when the data was rejected.
    pub rates: Option<Rates>,
    pub issues: Vec<DataIssue>,
    pub sources: Vec<SourceStats>,
}

impl Assessment {
    pub fn rejected(&self) -> bool {
        self.rates.is_none()
    }

    pub fn context<'a>(&'a self, job: &'a Job, rates: &'a Rates) -> Context<'a> {
        Context {
            job: &job.name,
            language: job.language,
            as_of: self.as_of,
            plan_year: self.plan_year,
            rates,
            next_milestone: job.milestones.next(self.plan_year, self.as_of),
        }
    }
}

/// Pull, validate and compute.
pub async fn assess(job: &Job, as_of: NaiveDate) -> Assessment {
    let plan_year = job
        .plan_year
        .unwrap_or_else(|| rule::default_plan_year(as_of));
    let expected_pct = job.milestones.expected_pct(plan_year, as_of);
    let mut a = Assessment {
        plan_year,
        as_of,
        expected_pct,
        ledger: Ledger::default(),
        rates: None,
        issues: Vec::new(),
        sources: Vec::new(),
    };
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => {
            a.issues.push(whole_run(format!(
                "cannot create a temporary folder for downloads: {e}; check TMPDIR"
            )));
            return a;
        }
    };
    let client = match reqwest::Client::builder()
        .user_agent(concat!("disbmon/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            a.issues.push(whole_run(format!("cannot set up HTTP: {e}")));
            return a;
        }
    };
    let (units, plans, disbursements) = tokio::join!(
        source::pull(&job.units, &client, tmp.path()),
        source::pull(&job.plans, &client, tmp.path()),
        source::pull(&job.disbursements, &client, tmp.path()),
    );
    let (units, plans, disbursements) = match (units, plans, disbursements) {
        (Ok(u), Ok(p), Ok(d)) => (u, p, d),
        (u, p, d) => {
            for failed in [u.err(), p.err(), d.err()].into_iter().flatten() {
                a.issues.extend(failed);
            }
            return a;
        }
    };

    // polars work is CPU-bound: keep it off the async worker threads.
    let window = (
        rule::window_start(plan_year),
        as_of.min(rule::window_end(plan_year)),
    );
    let kind = job.disbursement_kind;
    let computed = tokio::task::block_in_place(|| -> Result<_, DataIssue> {
        let (unit_list, unit_issues, unit_stats) = compute::units(&units)?;
        let ids: Vec<String> = unit_list.iter().map(|u| u.id.clone()).collect();
        let plan = compute::aggregate(&plans, &job.plans, &ids, Scope::Plans { year: plan_year })?;
        let paid = compute::aggregate(
            &disbursements,
            &job.disbursements,
            &ids,
            Scope::Disbursements {
                kind,
                start: window.0,
                end: window.1,
            },
        )?;
        Ok((unit_list, unit_issues, unit_stats, plan, paid))
    });
    let (unit_list, unit_issues, unit_stats, plan, paid) = match computed {
        Ok(c) => c,
        Err(issue) => {
            a.issues.push(issue);
            return a;
        }
    };
    a.issues.extend(unit_issues);
    a.issues.extend(plan.issues.iter().cloned());
    a.issues.extend(paid.issues.iter().cloned());
    a.sources = vec![unit_stats, plan.stats, paid.stats];
    a.ledger = Ledger {
        units: unit_list,
        plan: plan.by_unit,
        disbursed: paid.by_unit,
    };

    let reject = a.issues.iter().any(|i| {
        let policy = match i.source {
            SourceRole::Units => job.units.on_error,
            SourceRole::Plans => job.plans.on_error,
            SourceRole::Disbursements => job.disbursements.on_error,
        };
        policy == OnError::Reject
    });
    if reject {
        return a;
    }
    match tokio::task::block_in_place(|| {
        compute::rates(
            &a.ledger.units,
            &a.ledger.plan,
            &a.ledger.disbursed,
            expected_pct,
            &job.bands,
        )
    }) {
        Ok(r) => a.rates = Some(r),
        Err(e) => a
            .issues
            .push(whole_run(format!("cannot compute the rates: {e}"))),
    }
    a
}

fn whole_run(problem: String) -> DataIssue {
    DataIssue {
        source: SourceRole::Units,
        row: None,
        column: None,
        value: None,
        problem,
    }
}

/// What an earlier attempt of the same run already delivered, so a retry does not send it twice:
/// `unit:ID` for an alert, `digest` for the digest.
pub type Delivered = std::collections::HashSet<String>;

/// Runs a job once: every stage, in order. Never panics on bad data or a failing server: every
/// problem ends up in the report. Messages in `already` are not sent again (a retry).
pub async fn run_job(
    job: &Job,
    config: &Config,
    clock: &dyn Clock,
    as_of: NaiveDate,
    dry_run: bool,
    already: &Delivered,
) -> RunReport {
    let assessment = assess(job, as_of).await;
    let mut report = RunReport {
        job: job.name.clone(),
        as_of,
        plan_year: assessment.plan_year,
        outcome: Outcome::Rejected,
        dry_run,
        expected_pct: assessment.expected_pct,
        average_pct: None,
        units: Vec::new(),
        alerts: Vec::new(),
        digest: None,
        data_issues: assessment.issues.clone(),
        sources: assessment.sources.clone(),
    };
    let Some(rates) = &assessment.rates else {
        return report;
    };
    report.average_pct = rates.average_pct;
    report.units = rates.units.clone();

    let decision = decide::decide(rates, &assessment.ledger.units, &job.cc);
    let ctx = assessment.context(job, rates);
    let mailer = if dry_run {
        None
    } else {
        Some(Mailer::new(&config.mail))
    };
    let now: SystemTime = clock.now().into();
    let from = &config.mail.from;
    // Once the server itself has failed (down, timing out), the remaining messages are not tried:
    // each would wait for the same timeout. They are reported as not delivered, with the reason.
    let server_down: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let send = |email: Email| {
        let (mailer, server_down) = (&mailer, &server_down);
        async move {
            let earlier = server_down.lock().map(|d| d.clone()).unwrap_or_default();
            if let Some(reason) = earlier {
                return Err(format!(
                    "not attempted, the mail server failed on an earlier message: {reason}"
                ));
            }
            match mailer {
                None => Ok(false),
                Some(Err(e)) => Err(e.clone()),
                Some(Ok(m)) => match m.send(deliver::build(from, &email, now)?).await {
                    Ok(()) => Ok(true),
                    Err(f) => {
                        if f.server_down {
                            if let Ok(mut d) = server_down.lock() {
                                *d = Some(f.message.clone());
                            }
                        }
                        Err(f.message)
                    }
                },
            }
        }
    };

    for alert in &decision.alerts {
        let email = render::unit_alert(&ctx, alert);
        let result = if already.contains(&format!("unit:{}", alert.unit.unit_id)) {
            Ok(true)
        } else {
            send(email).await
        };
        if let Err(e) = &result {
            tracing::error!(unit = %alert.unit.unit_id, "alert not delivered: {e}");
        }
        report.alerts.push(AlertReport {
            unit_id: alert.unit.unit_id.clone(),
            to: alert.to.iter().map(|m| m.to_string()).collect(),
            cc: alert.cc.iter().map(|m| m.to_string()).collect(),
            status: alert.unit.status,
            reason: Some(alert.reason),
            delivered: result == Ok(true),
            error: result.err(),
        });
    }
    for u in &decision.unreachable {
        tracing::warn!(unit = %u.unit_id, "unit is {} but has no email address; it is listed in the digest", u.status.as_str());
        report.alerts.push(AlertReport {
            unit_id: u.unit_id.clone(),
            to: Vec::new(),
            cc: Vec::new(),
            status: u.status,
            reason: None,
            delivered: false,
            error: Some("no email address in the units source; add one to alert this unit".into()),
        });
    }

    if !job.digest_to.is_empty() {
        let delivered: Vec<render::Delivered> = decision
            .alerts
            .iter()
            .zip(&report.alerts)
            .map(|(a, r)| render::Delivered {
                unit_id: &a.unit.unit_id,
                unit_name: &a.unit.unit_name,
                error: r.error.as_deref(),
            })
            .collect();
        let email = render::digest(
            &ctx,
            &job.digest_to,
            &delivered,
            &decision.unreachable,
            &assessment.issues,
        );
        let result = if already.contains("digest") {
            Ok(true)
        } else {
            send(email).await
        };
        if let Err(e) = &result {
            tracing::error!("digest not delivered: {e}");
        }
        report.digest = Some(DigestReport {
            to: job.digest_to.iter().map(|m| m.to_string()).collect(),
            delivered: result == Ok(true),
            error: result.err(),
        });
    }
    let failed = report
        .alerts
        .iter()
        .any(|a| a.error.is_some() && !a.to.is_empty())
        || report.digest.as_ref().is_some_and(|d| d.error.is_some());
    report.outcome = if failed {
        Outcome::DeliveryFailed
    } else {
        Outcome::Ok
    };
    report
}

/// The email one unit would receive on `as_of`, whatever its status (for `disbmon preview`).
pub fn preview(job: &Job, a: &Assessment, unit_id: &str) -> Result<(Email, bool), String> {
    let rates = a
        .rates
        .as_ref()
        .ok_or("the data was rejected; run `disbmon once JOB --dry-run` to see why")?;
    let rate = rates
        .units
        .iter()
        .find(|u| u.unit_id == unit_id)
        .ok_or_else(|| {
            format!(
                "unit `{unit_id}` is not in the units source of job {}",
                job.name
            )
        })?;
    let unit = a
        .ledger
        .units
        .iter()
        .find(|u| u.id == unit_id)
        .expect("every rate has a unit");
    let alert = decide::Alert {
        unit: rate.clone(),
        to: unit.emails.clone(),
        cc: job.cc.clone(),
        reason: if rate.status == rule::Status::Critical {
            decide::Reason::Critical
        } else {
            decide::Reason::Behind
        },
    };
    Ok((
        render::unit_alert(&a.context(job, rates), &alert),
        rate.status.is_alerted(),
    ))
}
