//! One run of a job, stage by stage: pull → validate + compute → decide → notify → report.

use crate::clock::Clock;
use crate::compute::{self, Rates, Scope};
use crate::config::Config;
use crate::decide;
use crate::job::{Job, OnError};
use crate::ledger::{DataIssue, Ledger, SourceRole, SourceStats};
use crate::notify::{deliver, render, Context, Email, Mailer};
use crate::outbox;
use crate::report::{AlertReport, DigestReport, Outcome, PublishedCheck, RunReport};
use crate::rule::{self, PlanYear};
use crate::source;
use crate::store::{DecisionRecord, Figures, NewMessage, Store};
use chrono::{DateTime, Utc};
use chrono::{Datelike, NaiveDate};
use std::collections::BTreeMap;

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
    assess_with(job, as_of, None, &crate::clock::SystemClock).await
}

/// [`assess`], keeping HTTP sources in `cache` for conditional requests, and judging the data's
/// age against the job's `max_data_age` with `clock`.
pub async fn assess_with(
    job: &Job,
    as_of: NaiveDate,
    cache: Option<&std::path::Path>,
    clock: &dyn Clock,
) -> Assessment {
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
        source::pull(&job.units, &client, tmp.path(), cache, clock),
        source::pull(&job.plans, &client, tmp.path(), cache, clock),
        source::pull(&job.disbursements, &client, tmp.path(), cache, clock),
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
    let kind = job.disbursement_kind;
    let computed = tokio::task::block_in_place(|| -> Result<_, DataIssue> {
        let (unit_list, unit_issues, unit_stats) = compute::units(&units, job.units.number_format)?;
        let ids: Vec<String> = unit_list.iter().map(|u| u.id.clone()).collect();
        let filters = compute::Filters {
            layer: job.plan_layer.clone(),
            capital_source: job.capital_source.clone(),
            successors: job.successors.clone(),
        };
        // The plan in force and the disbursement for plan year `year` as of `day`, under `filters`.
        let measure =
            |year: PlanYear, day: NaiveDate, filters: &compute::Filters| -> Result<_, DataIssue> {
                let plan = compute::aggregate(
                    &plans,
                    &job.plans,
                    &ids,
                    Scope::Plans { year, as_of: day },
                    filters,
                )?;
                let window = Scope::Disbursements {
                    kind,
                    start: rule::window_start(year),
                    end: day.min(rule::window_end(year)),
                };
                let paid =
                    compute::aggregate(&disbursements, &job.disbursements, &ids, window, filters)?;
                Ok((plan, paid))
            };
        let (plan, paid) = measure(plan_year, as_of, &filters)?;
        // A year earlier at the same date, where the sources hold last year's plan and payments.
        let last_year = if plans.columns.contains_key("plan_year") {
            let ly_as_of = as_of
                .with_year(as_of.year() - 1)
                .or_else(|| (as_of - chrono::Duration::days(1)).with_year(as_of.year() - 1))
                .unwrap_or(as_of);
            let (ly_plan, ly_paid) = measure(plan_year - 1, ly_as_of, &filters)?;
            Some(crate::ledger::LastYear {
                plan: ly_plan.by_unit,
                disbursed: ly_paid.by_unit,
            })
        } else {
            None
        };
        // Further denominators, each with its own layer's or source's plan and disbursement.
        let mut others = BTreeMap::new();
        let wanted = job
            .rate_layers
            .iter()
            .map(|l| {
                (
                    format!("layer:{l}"),
                    compute::Filters {
                        layer: Some(l.clone()),
                        ..filters.clone()
                    },
                )
            })
            .chain(job.rate_capital_sources.iter().map(|c| {
                (
                    format!("capital_source:{c}"),
                    compute::Filters {
                        capital_source: Some(c.clone()),
                        ..filters.clone()
                    },
                )
            }));
        for (key, f) in wanted {
            let (p, d) = measure(plan_year, as_of, &f)?;
            others.insert(
                key,
                crate::ledger::LastYear {
                    plan: p.by_unit,
                    disbursed: d.by_unit,
                },
            );
        }
        Ok((
            unit_list,
            unit_issues,
            unit_stats,
            plan,
            paid,
            last_year,
            others,
        ))
    });
    let (unit_list, unit_issues, unit_stats, plan, paid, last_year, others) = match computed {
        Ok(c) => c,
        Err(issue) => {
            a.issues.push(issue);
            return a;
        }
    };
    // Stale data alerts nobody: figures from old data would name units unfairly.
    if let Some(max_age) = job.max_data_age {
        let limit = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
        let days = max_age.as_secs() / 86_400;
        let stale = DataIssue::whole;
        let mut issues = Vec::new();
        match paid.newest {
            Some(newest) if as_of - newest > limit => issues.push(stale(
                SourceRole::Disbursements,
                format!(
                    "the newest disbursement is from {} ({} days before the as-of date {}), older than max_data_age ({}); no unit is alerted until fresh data arrives",
                    newest.format("%d/%m/%Y"),
                    (as_of - newest).num_days(),
                    as_of.format("%d/%m/%Y"),
                    if days > 0 { format!("{days} days") } else { format!("{} s", max_age.as_secs()) }
                ),
            )),
            None => issues.push(stale(
                SourceRole::Disbursements,
                "there is no disbursement in the plan year up to the as-of date, and max_data_age is set; no unit is alerted until data arrives".into(),
            )),
            _ => {}
        }
        let now = clock.now();
        for t in [&units, &plans, &disbursements] {
            if let Some(lm) = t.last_modified.filter(|lm| now - *lm > limit) {
                issues.push(stale(
                    t.role,
                    format!(
                        "{} was last changed on {} (HTTP Last-Modified), longer ago than max_data_age; no unit is alerted until fresh data arrives",
                        t.origin,
                        lm.format("%d/%m/%Y %H:%M UTC")
                    ),
                ));
            }
        }
        if !issues.is_empty() {
            a.issues.extend(issues);
            return a;
        }
    }
    a.issues.extend(unit_issues);
    a.issues.extend(plan.issues.iter().cloned());
    a.issues.extend(paid.issues.iter().cloned());
    a.sources = vec![unit_stats, plan.stats, paid.stats];
    a.ledger = Ledger {
        units: unit_list,
        plan: plan.by_unit,
        disbursed: paid.by_unit,
        plan_changed: plan.changed,
        last_year,
        other_denominators: others,
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
    match tokio::task::block_in_place(|| compute::rates(&a.ledger, expected_pct, &job.bands)) {
        Ok(r) => a.rates = Some(r),
        Err(e) => a
            .issues
            .push(whole_run(format!("cannot compute the rates: {e}"))),
    }
    a
}

fn whole_run(problem: String) -> DataIssue {
    DataIssue::whole(SourceRole::Units, problem)
}

/// One run of a job: which job, the run's identity (its scheduled time) and the data's cut-off.
pub struct Run<'a> {
    pub job: &'a Job,
    pub config: &'a Config,
    pub store: &'a Store,
    pub clock: &'a dyn Clock,
    pub scheduled: DateTime<Utc>,
    pub as_of: NaiveDate,
    /// Compute, decide and render, but store and send nothing.
    pub dry_run: bool,
}

/// Runs a job once, every stage in order: pull → validate + compute → decide (with the units'
/// memory) → queue every message with the decision, in one transaction → deliver → report.
/// Never panics on bad data or a failing server: every problem ends up in the report. Rejected data
/// changes no unit's state and alerts no unit.
pub async fn run_job(run: &Run<'_>) -> RunReport {
    let Run {
        job,
        config,
        store,
        clock,
        scheduled,
        as_of,
        dry_run,
    } = *run;
    let cache = config.state_dir.join("cache").join(&job.name);
    let assessment = assess_with(job, as_of, Some(&cache), clock).await;
    let mut report = RunReport {
        job: job.name.clone(),
        as_of,
        plan_year: assessment.plan_year,
        outcome: Outcome::Rejected,
        dry_run,
        expected_pct: assessment.expected_pct,
        average_pct: None,
        units: Vec::new(),
        decisions: Vec::new(),
        alerts: Vec::new(),
        digest: None,
        data_issues: assessment.issues.clone(),
        sources: assessment.sources.clone(),
        published: Vec::new(),
        groups: Vec::new(),
        rollups: Vec::new(),
    };
    let stored = |r: Result<(), String>| {
        if let Err(e) = r {
            tracing::error!("{e}");
        }
    };
    let Some(rates) = &assessment.rates else {
        if !dry_run {
            stored(store.record_issues(
                &job.name,
                scheduled,
                as_of,
                &serde_json::to_string(&assessment.issues).unwrap_or_default(),
            ));
        }
        return report;
    };
    report.average_pct = rates.average_pct;
    report.units = rates.units.clone();
    report.groups = rates.groups.clone();
    report.rollups = rates.rollups.clone();
    // Published figures often do not reconcile; ours is reported, and the difference flagged.
    for u in &assessment.ledger.units {
        if let Some(p) = &u.published_rate {
            let computed = rates
                .units
                .iter()
                .find(|r| r.unit_id == u.id)
                .and_then(|r| r.rate_pct);
            report.published.push(PublishedCheck {
                unit_id: u.id.clone(),
                published: p.text.clone(),
                computed_pct: computed,
                agrees: computed.is_some_and(|c| p.agrees(c)),
            });
        }
    }
    let plan_year = assessment.plan_year;
    let now = clock.now();
    let (mut memory, silenced) = match (
        store.memory(&job.name, plan_year),
        store.silenced(&job.name, now.with_timezone(&job.timezone).date_naive()),
    ) {
        (Ok(m), Ok(s)) => (m, s),
        (Err(e), _) | (_, Err(e)) => {
            report.data_issues.push(whole_run(format!(
                "cannot read the units' alert state: {e}"
            )));
            return report;
        }
    };
    // A merged unit's alert state carries over to its successor (the most recent episode wins).
    for (old, new) in &job.successors {
        if let Some(m) = memory.get(old).cloned() {
            let keep = memory
                .get(new)
                .is_some_and(|n| n.last_alert_at >= m.last_alert_at);
            if !keep {
                memory.insert(new.clone(), m);
            }
        }
    }
    let policy = decide::Policy {
        cc: job.cc.clone(),
        repeat_after: job.repeat_after,
        escalate_after: job.escalate_after,
        escalate_to: job.escalate_to.clone(),
    };
    let decision = decide::decide(
        rates,
        &assessment.ledger.units,
        &memory,
        &silenced,
        as_of,
        now,
        &policy,
    );
    report.decisions = decision.decisions.clone();
    let ctx = assessment.context(job, rates);
    let from = &config.mail.from;
    // The same precision as the state store, so that a run repeated from its record has the same key.
    let run_key = scheduled.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

    // Render every message now; they are stored before any is sent.
    let mut messages: Vec<NewMessage> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut queue = |kind: &'static str,
                     unit: Option<&str>,
                     reason: Option<&str>,
                     identity: String,
                     email: &Email|
     -> Option<String> {
        let id = deliver::message_id(&identity, from);
        match deliver::build(from, email, now.into(), Some(id.clone())) {
            Ok(m) => {
                let recipients = email
                    .to
                    .iter()
                    .chain(&email.cc)
                    .map(|m| m.email.to_string())
                    .collect();
                messages.push(NewMessage {
                    message_id: id.clone(),
                    unit: unit.map(str::to_string),
                    kind,
                    reason: reason.map(str::to_string),
                    recipients,
                    subject: email.subject.clone(),
                    raw: m.formatted(),
                });
                Some(id)
            }
            Err(e) => {
                problems.push(e);
                None
            }
        }
    };
    let mut alert_ids = Vec::new();
    for alert in &decision.alerts {
        let email = render::unit_alert(&ctx, alert);
        let identity = format!(
            "alert|{}|{}|{plan_year}|{}|{run_key}",
            job.name,
            alert.unit.unit_id,
            alert.reason.as_str()
        );
        alert_ids.push(queue(
            "alert",
            Some(&alert.unit.unit_id),
            Some(alert.reason.as_str()),
            identity,
            &email,
        ));
    }
    let mut digest_id = None;
    if !job.digest_to.is_empty() {
        // Messages refused for good since the last digest are listed in this one.
        let failures = if dry_run {
            Vec::new()
        } else {
            store
                .take_unreported_failures(&job.name)
                .unwrap_or_default()
        };
        let failed: Vec<render::Delivered> = failures
            .iter()
            .map(|f| render::Delivered {
                unit_id: f.unit.as_deref().unwrap_or("-"),
                unit_name: &f.recipient,
                error: f.last_error.as_deref(),
            })
            .collect();
        let email = render::digest(
            &ctx,
            &job.digest_to,
            decision.alerts.len(),
            &failed,
            &decision.unreachable,
            &assessment.issues,
        );
        digest_id = queue(
            "digest",
            None,
            None,
            format!("digest|{}|{run_key}", job.name),
            &email,
        );
    }
    for p in &problems {
        tracing::error!("{p}");
    }

    if !dry_run {
        let figures: Vec<Figures> = rates
            .units
            .iter()
            .map(|u| Figures {
                unit: u.unit_id.clone(),
                plan: u.plan,
                disbursed: u.disbursed,
                rate: u.rate_pct,
                expected: u.expected_pct,
                status: u.status.as_str().to_string(),
            })
            .collect();
        let records: Vec<DecisionRecord> = decision
            .decisions
            .iter()
            .map(|d| DecisionRecord {
                unit: d.unit_id.clone(),
                status: d.status.as_str().to_string(),
                reason: d.reason.as_str().to_string(),
                escalated: d.escalated,
                message_id: decision
                    .alerts
                    .iter()
                    .zip(&alert_ids)
                    .find(|(a, _)| a.unit.unit_id == d.unit_id)
                    .and_then(|(_, id)| id.clone()),
            })
            .collect();
        if let Err(e) = store.record_run(
            &job.name,
            scheduled,
            as_of,
            plan_year,
            &figures,
            &records,
            &decision.memory,
            &messages,
            &serde_json::to_string(&assessment.issues).unwrap_or_default(),
            now,
            config.mail.retry_deadline,
        ) {
            // Nothing was stored, so nothing is sent: the run can be repeated safely.
            report
                .data_issues
                .push(whole_run(format!("cannot record the run: {e}")));
            report.outcome = Outcome::Rejected;
            return report;
        }
        let ids: Vec<String> = messages.iter().map(|m| m.message_id.clone()).collect();
        match Mailer::new(&config.mail) {
            Ok(mailer) => {
                outbox::deliver(
                    store,
                    &mailer,
                    from,
                    clock,
                    config.mail.retry_initial,
                    Some(&ids),
                )
                .await;
            }
            Err(e) => tracing::error!("{e}; the messages stay in the outbox"),
        }
    }

    // What became of each message: delivered to every recipient, or why not (yet).
    let rows = if dry_run {
        Vec::new()
    } else {
        store
            .messages(
                &alert_ids
                    .iter()
                    .flatten()
                    .chain(&digest_id)
                    .cloned()
                    .collect::<Vec<_>>(),
            )
            .unwrap_or_default()
    };
    let state = |id: &Option<String>| -> (bool, Option<String>) {
        if dry_run {
            return (false, None);
        }
        let Some(id) = id else {
            return (false, Some("the message could not be built".into()));
        };
        let mine: Vec<_> = rows.iter().filter(|r| &r.message_id == id).collect();
        let pending = mine.iter().find(|r| r.status != "sent");
        match pending {
            None if !mine.is_empty() => (true, None),
            None => (false, Some("not in the outbox".into())),
            Some(r) if r.status == "failed" => (
                false,
                Some(format!(
                    "to {}: {}",
                    r.recipient,
                    r.last_error.clone().unwrap_or_default()
                )),
            ),
            Some(r) => (
                false,
                Some(format!(
                    "queued for another try at {} (to {}): {}",
                    r.next_attempt_at.to_rfc3339(),
                    r.recipient,
                    r.last_error
                        .clone()
                        .unwrap_or_else(|| "not tried yet".into())
                )),
            ),
        }
    };
    for (alert, id) in decision.alerts.iter().zip(&alert_ids) {
        let (delivered, error) = state(id);
        let mut cc: Vec<String> = alert.cc.iter().map(|m| m.to_string()).collect();
        if let Some(e) = &alert.escalation {
            cc.extend(e.to.iter().map(|m| m.to_string()));
        }
        report.alerts.push(AlertReport {
            unit_id: alert.unit.unit_id.clone(),
            to: alert.to.iter().map(|m| m.to_string()).collect(),
            cc,
            status: alert.unit.status,
            reason: Some(alert.reason),
            escalated: alert.escalation.is_some(),
            message_id: id.clone(),
            delivered,
            error,
        });
    }
    for u in &decision.unreachable {
        tracing::warn!(unit = %u.unit_id, "unit is {} but has no email address; it is listed in the digest", u.status.as_str());
        report.alerts.push(AlertReport {
            unit_id: u.unit_id.clone(),
            to: Vec::new(),
            cc: Vec::new(),
            status: u.status,
            reason: decision
                .decisions
                .iter()
                .find(|d| d.unit_id == u.unit_id)
                .map(|d| d.reason),
            escalated: false,
            message_id: None,
            delivered: false,
            error: Some("no email address in the units source; add one to alert this unit".into()),
        });
    }
    if !job.digest_to.is_empty() {
        let (delivered, error) = state(&digest_id);
        report.digest = Some(DigestReport {
            to: job.digest_to.iter().map(|m| m.to_string()).collect(),
            delivered,
            error,
        });
    }
    let failed = !dry_run
        && (report
            .alerts
            .iter()
            .any(|a| !a.delivered && !a.to.is_empty())
            || report.digest.as_ref().is_some_and(|d| !d.delivered));
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
        reason: decide::Reason::First,
        escalation: None,
    };
    Ok((
        render::unit_alert(&a.context(job, rates), &alert),
        rate.status.is_alerted(),
    ))
}
