//! What an accepted run stores, in one transaction and before any delivery is tried: each unit's
//! figures and decision, the units' alert memory, every message, and each unit's detail for the
//! dashboard. A rejected run stores only its data issues.

use super::db::{Store, StoreError};
use super::sql::ts;
use crate::domain::decide::{Decision, Memory, Reason};
use crate::domain::id::PlanYear;
use crate::domain::id::UnitId;
use crate::domain::issue::DataIssue;
use crate::domain::ledger::UnitDetail;
use crate::domain::message::{NewMessage, OutboxRow, Outgoing};
use crate::domain::rates::Rates;
use crate::domain::rule::Status;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use std::time::Duration;

/// One unit's figures in one run.
#[derive(Debug, Clone)]
pub struct Figures {
    pub unit: UnitId,
    pub plan: i64,
    pub disbursed: i64,
    pub rate: Option<f64>,
    pub expected: f64,
    pub status: Status,
}

/// One decision about one unit in one run.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    pub unit: UnitId,
    pub status: Status,
    pub reason: Reason,
    pub escalated: bool,
    pub message_id: Option<String>,
}

/// Everything an accepted run stores, in one transaction, before any delivery is tried.
#[derive(Debug, Clone)]
pub struct RunRecordSet {
    pub job: String,
    pub scheduled: DateTime<Utc>,
    pub as_of: NaiveDate,
    pub plan_year: PlanYear,
    pub figures: Vec<Figures>,
    pub decisions: Vec<DecisionRecord>,
    pub memory: Vec<(UnitId, Memory)>,
    pub messages: Vec<NewMessage>,
    /// Failed outbox rows this run's digest lists: marked reported with the run.
    pub reported_failures: Vec<i64>,
    pub issues_json: String,
    /// The messages wait for an operator (`disbmon outbox release`) instead of being sent.
    pub held: bool,
    /// Each unit's detail for the dashboard (replaces the one an earlier run stored).
    pub details: Vec<UnitDetail>,
}

impl RunRecordSet {
    /// What a run stores of its rates, decisions and messages.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        job: &str,
        scheduled: DateTime<Utc>,
        as_of: NaiveDate,
        plan_year: PlanYear,
        rates: &Rates,
        decision: &Decision,
        outgoing: &Outgoing,
        failures: &[OutboxRow],
        issues: &[DataIssue],
    ) -> RunRecordSet {
        let figures = rates
            .units
            .iter()
            .map(|u| Figures {
                unit: u.unit_id.clone(),
                plan: u.plan,
                disbursed: u.disbursed,
                rate: u.rate_pct,
                expected: u.expected_pct,
                status: u.status,
            })
            .collect();
        let alert_ids: std::collections::HashMap<&str, &Option<String>> = decision
            .alerts
            .iter()
            .zip(&outgoing.alert_ids)
            .map(|(a, id)| (a.unit.unit_id.as_str(), id))
            .rev() // the first alert of a unit wins, as a search from the front would find it
            .collect();
        let decisions = decision
            .decisions
            .iter()
            .map(|d| DecisionRecord {
                unit: d.unit_id.clone(),
                status: d.status,
                reason: d.reason,
                escalated: d.escalated,
                message_id: alert_ids
                    .get(d.unit_id.as_str())
                    .and_then(|id| (*id).clone()),
            })
            .collect();
        RunRecordSet {
            job: job.to_string(),
            scheduled,
            as_of,
            plan_year,
            figures,
            decisions,
            memory: decision.memory.clone(),
            messages: outgoing.messages.clone(),
            // Only a digest that was built lists them.
            reported_failures: if outgoing.digest_id.is_some() {
                failures.iter().map(|f| f.id).collect()
            } else {
                Vec::new()
            },
            issues_json: serde_json::to_string(issues).unwrap_or_default(),
            held: false,
            details: Vec::new(),
        }
    }
}

impl Store {
    /// Records an accepted run in one transaction: its figures, its decisions, the units' new
    /// memory, every message it queues, and the failures its digest lists — before any delivery
    /// is tried. Nothing of it is stored when any of it fails.
    pub fn record_run(
        &self,
        run: &RunRecordSet,
        now: DateTime<Utc>,
        deadline: Duration,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (job, plan_year) = (&run.job, run.plan_year);
            let (sched, day) = (ts(run.scheduled), run.as_of.to_string());
            // Once this commits, the run's work is done: its messages are in the outbox. `queued`
            // keeps a crash after this point from counting the run as cut off (and running it again).
            tx.execute(
                "UPDATE runs SET as_of = ?3, data_issues = ?4,
                     outcome = CASE WHEN outcome = 'running' THEN 'queued' ELSE outcome END
                 WHERE job = ?1 AND scheduled_at = ?2",
                params![job, sched, day, run.issues_json],
            )?;
            for f in &run.figures {
                tx.execute(
                    "INSERT OR REPLACE INTO unit_figures (job, scheduled_at, as_of, plan_year, unit, plan, disbursed, rate, expected, status)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![job, sched, day, plan_year, f.unit, f.plan, f.disbursed, f.rate, f.expected, f.status],
                )?;
            }
            for d in &run.details {
                let detail = serde_json::to_string(d).unwrap_or_default();
                tx.execute(
                    "INSERT OR REPLACE INTO unit_details (job, unit, scheduled_at, detail) VALUES (?1, ?2, ?3, ?4)",
                    params![job, d.unit, sched, detail],
                )?;
            }
            for d in &run.decisions {
                tx.execute(
                    "INSERT INTO decisions (job, scheduled_at, unit, plan_year, status, reason, escalated, message_id, decided_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![job, sched, d.unit, plan_year, d.status, d.reason, d.escalated, d.message_id, ts(now)],
                )?;
            }
            for (unit, m) in &run.memory {
                tx.execute(
                    "INSERT OR REPLACE INTO alert_state (job, unit, plan_year, status, episode_since, alerts_in_episode, last_alert_at, suppressed, last_delivered_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        job,
                        unit,
                        plan_year,
                        m.status,
                        m.episode_since.map(|d| d.to_string()),
                        m.alerts_in_episode,
                        m.last_alert_at.map(ts),
                        m.suppressed,
                        m.last_delivered_at.map(ts),
                    ],
                )?;
            }
            let run_id: Option<i64> = tx
                .query_row(
                    "SELECT id FROM runs WHERE job = ?1 AND scheduled_at = ?2",
                    params![job, sched],
                    |r| r.get(0),
                )
                .optional()?;
            Self::queue(&tx, job, &run.messages, now, deadline, run_id, run.held)?;
            for id in &run.reported_failures {
                tx.execute("UPDATE outbox SET reported = 1 WHERE id = ?1", params![id])?;
            }
            tx.commit()
        })
    }

    /// Records a rejected run's data issues (JSON) and as-of date.
    pub fn record_issues(
        &self,
        job: &str,
        scheduled: DateTime<Utc>,
        as_of: NaiveDate,
        issues_json: &str,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE runs SET as_of = ?3, data_issues = ?4 WHERE job = ?1 AND scheduled_at = ?2",
                params![job, ts(scheduled), as_of.to_string(), issues_json],
            )?;
            Ok(())
        })
    }
}
