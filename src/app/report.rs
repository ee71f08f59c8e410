//! The run report: what a run computed, decided and delivered, and every data issue — as JSON
//! (`--json`) and as a ranked table for people.

use super::table::ranked_table;
use crate::domain::decide::{Reason, UnitDecision};
use crate::domain::id::PlanYear;
use crate::domain::id::UnitId;
use crate::domain::issue::{DataIssue, SourceStats};
use crate::domain::money::{format_billion, Language};
use crate::domain::rates::{GroupSummary, Rollup, UnitRate};
use crate::domain::rule::Status;
use crate::notify::render::tables::{text_table, TextStyle};
use crate::store::runs::RunOutcome;
use crate::store::runs::RunResult;
use chrono::NaiveDate;
use serde::Serialize;
use std::fmt::Write;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything computed and every message delivered (or, with --dry-run, rendered).
    Ok,
    /// A source could not be read or its data had problems: no unit was alerted.
    Rejected,
    /// Computed, but at least one message could not be delivered.
    DeliveryFailed,
    /// The run itself failed (the machine, the state store, the mail setup): see `error`.
    Failed,
    /// Computed and stored, but more messages than `mail.max_messages_per_run`: none was sent;
    /// they wait for an operator (`held`).
    Held,
}

/// Messages held by the mass-mailing guard.
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    pub run_id: Option<i64>,
    pub messages: usize,
    pub limit: usize,
    /// The command that releases them.
    pub release: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertReport {
    pub unit_id: UnitId,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub status: Status,
    pub reason: Option<Reason>,
    /// Also sent to the escalation recipients (in `cc`).
    pub escalated: bool,
    pub message_id: Option<String>,
    pub delivered: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DigestReport {
    pub to: Vec<String>,
    pub delivered: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub job: String,
    pub as_of: NaiveDate,
    pub plan_year: PlanYear,
    pub outcome: Outcome,
    pub dry_run: bool,
    pub expected_pct: f64,
    pub average_pct: Option<f64>,
    pub units: Vec<UnitRate>,
    /// Every unit that is behind or recovering, and why it is (or is not) told.
    pub decisions: Vec<UnitDecision>,
    pub alerts: Vec<AlertReport>,
    pub digest: Option<DigestReport>,
    pub data_issues: Vec<DataIssue>,
    /// Rows read per source and what became of them.
    pub sources: Vec<SourceStats>,
    /// Our rate against each rate published for a unit (units `published_rate`).
    pub published: Vec<PublishedCheck>,
    /// Peer groups: "x of N at or above the group average".
    pub groups: Vec<GroupSummary>,
    /// Totals at every level of the unit hierarchy.
    pub rollups: Vec<Rollup>,
    /// Why the run failed, when it did (outcome `failed`): not the data's fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Messages held by the mass-mailing guard (outcome `held`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
    /// What the data needed that did not stop the run (names cleaned of control characters).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<DataIssue>,
    /// The advisory reallocation proposal, when units are projected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reallocation: Option<crate::domain::reallocation::Proposal>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublishedCheck {
    pub unit_id: UnitId,
    /// As published.
    pub published: String,
    pub computed_pct: Option<f64>,
    /// Our rate rounds to the published figure at its precision.
    pub agrees: bool,
}

impl RunReport {
    /// A run that is tried again: its data was rejected, or the run itself failed.
    pub fn is_failure(&self) -> bool {
        matches!(self.outcome, Outcome::Rejected | Outcome::Failed)
    }

    /// A short account of why a run failed, for logs and operators.
    pub fn failure_summary(&self) -> String {
        let report = self;
        match report.outcome {
            Outcome::Held => format!(
                "{} messages held by the mass-mailing guard: {}",
                report.held.as_ref().map(|h| h.messages).unwrap_or_default(),
                report
                    .held
                    .as_ref()
                    .map(|h| h.release.as_str())
                    .unwrap_or("disbmon outbox")
            ),
            Outcome::Failed => format!(
                "the run failed: {}",
                report.error.as_deref().unwrap_or("unknown")
            ),
            Outcome::Rejected => {
                let mut parts: Vec<String> = report
                    .data_issues
                    .iter()
                    .take(5)
                    .map(|i| i.to_string())
                    .collect();
                if report.data_issues.len() > 5 {
                    parts.push(format!(
                        "and {} more data issues",
                        report.data_issues.len() - 5
                    ));
                }
                format!("data rejected: {}", parts.join("; "))
            }
            Outcome::DeliveryFailed => {
                let errors: Vec<String> = report
                    .alerts
                    .iter()
                    .filter(|a| !a.to.is_empty())
                    .filter_map(|a| a.error.as_ref().map(|e| format!("{}: {e}", a.unit_id)))
                    .chain(
                        report
                            .digest
                            .iter()
                            .filter_map(|d| d.error.as_ref().map(|e| format!("digest: {e}"))),
                    )
                    .take(5)
                    .collect();
                format!("delivery failed: {}", errors.join("; "))
            }
            Outcome::Ok => "ok".into(),
        }
    }

    /// What the state store records of a finished run.
    pub fn result(&self, attempts: u32) -> RunResult {
        let report = self;
        let ok = !report.is_failure();
        let sent = report.alerts.iter().filter(|a| a.delivered).count()
            + usize::from(report.digest.as_ref().is_some_and(|d| d.delivered));
        let failed = report
            .alerts
            .iter()
            .filter(|a| !a.delivered && !a.to.is_empty())
            .count()
            + usize::from(report.digest.as_ref().is_some_and(|d| !d.delivered));
        let held = report.outcome == Outcome::Held;
        RunResult {
            outcome: match (held, ok) {
                (true, _) => RunOutcome::Held,
                (false, true) => RunOutcome::Ok,
                (false, false) => RunOutcome::Failed,
            },
            attempts,
            units_behind: report
                .units
                .iter()
                .filter(|u| u.status.is_alerted())
                .count() as u32,
            emails_sent: sent as u32,
            emails_failed: failed as u32,
            error: (!ok || held).then(|| report.failure_summary()),
        }
    }

    /// The report of an assessment, before anything is decided: rejected until shown otherwise.
    pub fn assessed(job: &str, a: &crate::app::assessment::Assessment, dry_run: bool) -> RunReport {
        let mut r = RunReport {
            job: job.to_string(),
            as_of: a.as_of,
            plan_year: a.plan_year,
            outcome: Outcome::Rejected,
            dry_run,
            expected_pct: a.expected_pct,
            average_pct: None,
            units: Vec::new(),
            decisions: Vec::new(),
            alerts: Vec::new(),
            digest: None,
            data_issues: a.issues.clone(),
            sources: a.sources.clone(),
            published: Vec::new(),
            groups: Vec::new(),
            rollups: Vec::new(),
            error: None,
            held: None,
            notes: a.notes.clone(),
            reallocation: a.reallocation.clone(),
        };
        let Some(rates) = &a.rates else { return r };
        r.average_pct = rates.average_pct;
        r.units = rates.units.clone();
        r.groups = rates.groups.clone();
        r.rollups = rates.rollups.clone();
        // Published figures often do not reconcile; ours is reported, and the difference flagged.
        let rate_of: std::collections::HashMap<&str, Option<f64>> = rates
            .units
            .iter()
            .map(|r| (r.unit_id.as_str(), r.rate_pct))
            .rev() // the first of an id wins, as a search from the front would find it
            .collect();
        for u in &a.ledger.units {
            if let Some(p) = &u.published_rate {
                let computed = rate_of.get(u.id.as_str()).copied().flatten();
                r.published.push(PublishedCheck {
                    unit_id: u.id.clone(),
                    published: p.text.clone(),
                    computed_pct: computed,
                    agrees: computed.is_some_and(|c| p.agrees(c)),
                });
            }
        }
        r
    }

    /// The run failed for a reason that is not the data's.
    /// None of the run's messages was sent: the mass-mailing guard holds them.
    pub fn held(mut self, held: Held) -> RunReport {
        self.outcome = Outcome::Held;
        self.held = Some(held);
        self
    }

    pub fn failed(mut self, error: impl std::fmt::Display) -> RunReport {
        self.outcome = Outcome::Failed;
        self.error = Some(error.to_string());
        self
    }

    /// What became of each message of the run — delivered to every recipient, or why not (yet) —
    /// read from its outbox rows; and the outcome that follows.
    pub fn delivered(
        &mut self,
        decision: &crate::domain::decide::Decision,
        outgoing: &crate::domain::message::Outgoing,
        digest_to: &[String],
        rows: &[crate::domain::message::OutboxRow],
    ) {
        use crate::domain::message::OutboxStatus;
        let dry_run = self.dry_run;
        let mut by_message: std::collections::HashMap<
            &str,
            Vec<&crate::domain::message::OutboxRow>,
        > = std::collections::HashMap::new();
        for r in rows {
            by_message.entry(r.message_id.as_str()).or_default().push(r);
        }
        let state = |id: &Option<String>| -> (bool, Option<String>) {
            if dry_run {
                return (false, None);
            }
            let Some(id) = id else {
                return (false, Some("the message could not be built".into()));
            };
            let mine = by_message
                .get(id.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            match mine.iter().find(|r| r.status != OutboxStatus::Sent) {
                None if !mine.is_empty() => (true, None),
                None => (false, Some("not in the outbox".into())),
                Some(r) if r.status == OutboxStatus::Held => (
                    false,
                    Some("held: the run queued more messages than mail.max_messages_per_run; an operator releases them with `disbmon outbox release`".into()),
                ),
                Some(r) if r.status == OutboxStatus::Failed => (
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
        self.decisions = decision.decisions.clone();
        for (alert, id) in decision.alerts.iter().zip(&outgoing.alert_ids) {
            let (delivered, error) = state(id);
            let mut cc: Vec<String> = alert.cc.iter().map(|m| m.to_string()).collect();
            if let Some(e) = &alert.escalation {
                cc.extend(e.to.iter().map(|m| m.to_string()));
            }
            self.alerts.push(AlertReport {
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
        let reason_of: std::collections::HashMap<&str, Reason> = decision
            .decisions
            .iter()
            .map(|d| (d.unit_id.as_str(), d.reason))
            .rev()
            .collect();
        for u in &decision.unreachable {
            tracing::warn!(unit = %u.unit_id, "unit is {} but has no email address; it is listed in the digest", u.status.as_str());
            self.alerts.push(AlertReport {
                unit_id: u.unit_id.clone(),
                to: Vec::new(),
                cc: Vec::new(),
                status: u.status,
                reason: reason_of.get(u.unit_id.as_str()).copied(),
                escalated: false,
                message_id: None,
                delivered: false,
                error: Some(
                    "no email address in the units source; add one to alert this unit".into(),
                ),
            });
        }
        if !digest_to.is_empty() {
            let (delivered, error) = state(&outgoing.digest_id);
            self.digest = Some(DigestReport {
                to: digest_to.to_vec(),
                delivered,
                error,
            });
        }
        let undelivered = !dry_run
            && (self.alerts.iter().any(|a| !a.delivered && !a.to.is_empty())
                || self.digest.as_ref().is_some_and(|d| !d.delivered));
        self.outcome = if undelivered {
            Outcome::DeliveryFailed
        } else {
            Outcome::Ok
        };
    }
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
}

impl RunReport {
    /// The ranked table and what was sent, for a person at a terminal; the table in the job's
    /// language (what happened to each message stays in English, as the logs are).
    /// The table fits `width` characters (`None`: every column, nothing cut).
    pub fn human(&self, lang: Language, width: Option<usize>) -> String {
        let mut out = String::new();
        self.headline(&mut out);
        if !self.units.is_empty() {
            let table = ranked_table(&self.units, self.average_pct, lang, width);
            let _ = write!(out, "\n{table}");
        }
        self.deliveries(&mut out);
        self.groups_and_rollups(&mut out);
        self.published_check(&mut out);
        self.cleaned_and_left_out(&mut out);
        self.source_lines(&mut out);
        self.outcome_lines(&mut out);
        out
    }

    /// "Job sample: plan year 2026, as of 31/10/2026 — expected 71.79 %, average 58.85 %".
    fn headline(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "Job {}: plan year {}, as of {} — expected {:.2} %, average {} %{}",
            self.job,
            self.plan_year,
            self.as_of.format("%d/%m/%Y"),
            self.expected_pct,
            pct(self.average_pct),
            if self.dry_run {
                " (dry run: nothing sent)"
            } else {
                ""
            }
        );
    }

    /// Each alert and the digest, with what became of them.
    fn deliveries(&self, out: &mut String) {
        if !self.alerts.is_empty() {
            let sent = self.alerts.iter().filter(|a| a.delivered).count();
            let unreachable = self.alerts.iter().filter(|a| a.to.is_empty()).count();
            let _ = writeln!(
                out,
                "\nAlerts: {} to send, {} delivered{}",
                self.alerts.len() - unreachable,
                sent,
                if unreachable > 0 {
                    format!("; {unreachable} unit(s) behind without an email address")
                } else {
                    String::new()
                }
            );
            for a in &self.alerts {
                let state = match (&a.error, a.delivered) {
                    (Some(e), _) => format!("NOT DELIVERED: {e}"),
                    (None, true) => "delivered".into(),
                    (None, false) => "not sent (dry run)".into(),
                };
                let _ = writeln!(
                    out,
                    "  {} ({}) → {}: {}",
                    a.unit_id,
                    a.status.as_str(),
                    if a.to.is_empty() {
                        "-".into()
                    } else {
                        a.to.join(", ")
                    },
                    state
                );
            }
        } else if self.outcome != Outcome::Rejected {
            let _ = writeln!(out, "\nAlerts: none (no unit is behind)");
        }
        if let Some(d) = &self.digest {
            let state = match (&d.error, d.delivered) {
                (Some(e), _) => format!("NOT DELIVERED: {e}"),
                (None, true) => "delivered".into(),
                (None, false) => "not sent (dry run)".into(),
            };
            let _ = writeln!(out, "Digest → {}: {state}", d.to.join(", "));
        }
    }

    /// Peer groups against their averages, and every level's roll-up.
    fn groups_and_rollups(&self, out: &mut String) {
        for g in &self.groups {
            let _ = writeln!(
                out,
                "Group {}: {} of {} units at or above the group average of {} %",
                g.group,
                g.at_or_above_average,
                g.units,
                pct(g.average_pct)
            );
        }
        for r in &self.rollups {
            let _ = writeln!(
                out,
                "Roll-up {} ({} units): plan {} bn, disbursed {} bn, {} %",
                r.unit_id,
                r.units,
                format_billion(r.plan, Language::En),
                format_billion(r.disbursed, Language::En),
                pct(r.rate_pct)
            );
        }
    }

    /// The rates published for units, checked against ours.
    fn published_check(&self, out: &mut String) {
        let differ: Vec<&PublishedCheck> = self.published.iter().filter(|p| !p.agrees).collect();
        if !self.published.is_empty() {
            let _ = writeln!(
                out,
                "\nPublished rates: {} checked, {} differ",
                self.published.len(),
                differ.len()
            );
            for p in differ {
                let _ = writeln!(
                    out,
                    "  {}: published {} %, computed {} %",
                    p.unit_id,
                    p.published,
                    pct(p.computed_pct)
                );
            }
        }
    }

    /// What was cleaned (nothing left out), then every data issue (rows left out).
    fn cleaned_and_left_out(&self, out: &mut String) {
        if !self.notes.is_empty() {
            let _ = writeln!(
                out,
                "\nNotes ({}): the data was cleaned, nothing was left out",
                self.notes.len()
            );
            for n in &self.notes {
                let _ = writeln!(out, "  {n}");
            }
        }
        if !self.data_issues.is_empty() {
            let _ = writeln!(out, "\nData issues ({}):", self.data_issues.len());
            for i in &self.data_issues {
                let _ = writeln!(out, "  {i}");
            }
        }
    }

    /// Each source's rows and what became of them.
    fn source_lines(&self, out: &mut String) {
        for s in &self.sources {
            let _ = writeln!(
                out,
                "Source {}: {} rows, {} used, {} outside this run (other year or later date), {} with problems{}{}{} — {}",
                s.source.map(|r| r.key()).unwrap_or("?"),
                s.rows,
                s.used,
                s.out_of_scope,
                s.rejected,
                if s.not_data > 0 { format!(", {} not data (numbering, headings, totals) skipped", s.not_data) } else { String::new() },
                match s.blank {
                    0 => String::new(),
                    1 => ", 1 blank row skipped".to_string(),
                    n => format!(", {n} blank rows skipped"),
                },
                match s.sums {
                    Some(crate::domain::issue::Reuse::Unchanged) => " (unchanged since the last run: its stored sums reused)".to_string(),
                    Some(crate::domain::issue::Reuse::Appended { rows }) => format!(" ({rows} rows appended since the last run, read and added to its stored sums)"),
                    _ => String::new(),
                },
                s.origin
            );
        }
    }

    /// How the run ended, and how to release held messages.
    fn outcome_lines(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "Outcome: {}",
            match self.outcome {
                Outcome::Ok => "ok",
                Outcome::Rejected => "REJECTED: data problems, no unit was alerted",
                Outcome::DeliveryFailed => "DELIVERY FAILED for some messages",
                Outcome::Failed => "FAILED: the run could not be carried out (see the error)",
                Outcome::Held => "HELD: more messages than mail.max_messages_per_run, none was sent; the operators were told",
            }
        );
        if let Some(h) = &self.held {
            let _ = writeln!(
                out,
                "{} messages held (limit {}): check them with `disbmon outbox`, release them with `{}`",
                h.messages, h.limit, h.release
            );
        }
    }
}

/// `disbmon backtest`'s table: per month end, how far the projection of the 31/1 rate was from
/// the rate reached, beside a straight line's error.
pub fn backtest_table(job: &str, b: &crate::domain::projection::Backtest) -> String {
    let mut out = String::new();
    let years: Vec<String> = b.years.iter().map(|y| y.to_string()).collect();
    let _ = writeln!(
        out,
        "Backtest of the year-end projection, job {job}: {} replayed month by month, each year projected from the years before it only.\nMean absolute error of the projected rate at 31/1 of the next year, in percentage points (lower is better):\n",
        if years.is_empty() { "no year".to_string() } else { years.join(", ") }
    );
    let header: Vec<String> = ["from", "unit-years", "projection", "straight line"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows: Vec<Vec<String>> = b
        .months
        .iter()
        .map(|m| {
            let end = chrono::NaiveDate::from_ymd_opt(2023, m.month % 12 + 1, 1)
                .and_then(|d| d.pred_opt())
                .map(|d| d.format("%d/%m").to_string())
                .unwrap_or_default();
            vec![
                end,
                m.projections.to_string(),
                format!("{:.1}", m.mean_abs_error),
                format!("{:.1}", m.straight_line_error),
            ]
        })
        .collect();
    let style = TextStyle {
        separator: "  ",
        rule: Some("  "),
    };
    out.push_str(&text_table(
        &header,
        &rows,
        &[false, true, true, true],
        &style,
    ));
    out
}
