//! The validate stage: the policies that decide whether measured data may alert anyone — stale
//! data (`max_data_age`) and each source's `on_error` (reject the run, or leave the bad rows
//! out). Pure: takes what was measured and the time, returns the verdict.

use crate::config::daemon::MailConfig;
use crate::config::job::{Job, OnError};
use crate::domain::id::UnitId;
use crate::domain::issue::{DataIssue, SourceRole};
use crate::domain::ledger::Ledger;
use crate::domain::money;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;

/// What may be done with the data.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every row counted.
    Complete,
    /// Some rows were left out (`on_error = "skip"`, listed as data issues): units may be told
    /// they are behind, but nobody is called back on track on the strength of missing rows.
    Partial,
    /// No unit may be alerted.
    Rejected,
}

/// Stale data alerts nobody: figures from old data would name units unfairly. `newest_payment`
/// is the latest payment counted; `last_modified` what HTTP servers said of each source.
pub fn stale(
    job: &Job,
    newest_payment: Option<NaiveDate>,
    last_modified: &[(SourceRole, &str, Option<DateTime<Utc>>)],
    as_of: NaiveDate,
    now: DateTime<Utc>,
) -> Vec<DataIssue> {
    let Some(max_age) = job.max_data_age else {
        return Vec::new();
    };
    let limit = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
    let days = max_age.as_secs() / 86_400;
    let age = if days > 0 {
        format!("{days} days")
    } else {
        format!("{} s", max_age.as_secs())
    };
    let mut issues = Vec::new();
    match newest_payment {
        Some(newest) if as_of - newest > limit => issues.push(DataIssue::whole(
            SourceRole::Disbursements,
            format!(
                "the newest disbursement is from {} ({} days before the as-of date {}), older than max_data_age ({age}); no unit is alerted until fresh data arrives",
                newest.format("%d/%m/%Y"),
                (as_of - newest).num_days(),
                as_of.format("%d/%m/%Y"),
            ),
        )),
        None => issues.push(DataIssue::whole(
            SourceRole::Disbursements,
            "there is no disbursement in the plan year up to the as-of date, and max_data_age is set; no unit is alerted until data arrives".into(),
        )),
        _ => {}
    }
    for (role, origin, lm) in last_modified {
        if let Some(lm) = lm.filter(|lm| now - *lm > limit) {
            issues.push(DataIssue::whole(
                *role,
                format!(
                    "{origin} was last changed on {} (HTTP Last-Modified), longer ago than max_data_age; no unit is alerted until fresh data arrives",
                    lm.format("%d/%m/%Y %H:%M UTC")
                ),
            ));
        }
    }
    issues
}

/// The verdict on data with these row issues, under each source's `on_error`.
pub fn verdict(job: &Job, issues: &[DataIssue]) -> Verdict {
    let policy = |role| match role {
        SourceRole::Units => job.units.on_error,
        SourceRole::Plans => job.plans.on_error,
        SourceRole::Disbursements => job.disbursements.on_error,
        // Answers say nothing of the figures: a bad row is reported, never a reason to hold alerts.
        SourceRole::Answers => OnError::Skip,
    };
    if issues.iter().any(|i| policy(i.source) == OnError::Reject) {
        Verdict::Rejected
    } else if issues.is_empty() {
        Verdict::Complete
    } else {
        Verdict::Partial
    }
}

/// Sums above the units — the job's totals and every roll-up up the hierarchy — must be amounts
/// too: each is checked in i128 against [`money::MAX_DONG`], and one out of range rejects the run.
pub fn totals(ledger: &Ledger) -> Vec<DataIssue> {
    let limit = i128::from(money::MAX_DONG);
    let figure = |id: &str| {
        let get = |f: &BTreeMap<UnitId, i64>| i128::from(f.get(id).copied().unwrap_or(0));
        [get(&ledger.plan), get(&ledger.disbursed)]
    };
    let mut all = [0i128; 2];
    for u in &ledger.units {
        let [p, d] = figure(&u.id);
        all[0] += p;
        all[1] += d;
    }
    let mut groups = vec![("the job's total".to_string(), (ledger.units.len(), all))];
    for (parent, sums) in crate::domain::ledger::rollups(&ledger.units, figure) {
        groups.push((format!("the roll-up of unit `{parent}`"), sums));
    }
    let mut issues = Vec::new();
    for (what, (count, sums)) in &groups {
        for (role, sum) in [SourceRole::Plans, SourceRole::Disbursements]
            .into_iter()
            .zip(sums)
        {
            if sum.abs() > limit {
                issues.push(DataIssue::whole(
                    role,
                    format!(
                        "{what} adds up to more than 10^18 đồng ({count} units), beyond any real {}; check the largest amounts and `amount_unit`",
                        if role == SourceRole::Plans { "plan" } else { "disbursement" }
                    ),
                ));
            }
        }
    }
    issues
}

/// Who may get official mail: a unit's addresses outside `mail.allowed_domains` are refused (never
/// sent to) and a unit with more than `alerts.max_addresses_per_unit` addresses is refused whole —
/// the units source decides who gets mail in the department's name, so it is held to both.
pub fn recipients(job: &Job, mail: &MailConfig, ledger: &mut Ledger) -> Vec<DataIssue> {
    let column = job.units.header("email").map(str::to_string);
    let mut issues = Vec::new();
    for unit in &mut ledger.units {
        let issue = |value: String, problem: String| DataIssue {
            source: SourceRole::Units,
            sheet: None,
            row: Some(unit.row),
            column: column.clone(),
            value: Some(value),
            problem,
        };
        if unit.emails.len() > job.max_addresses_per_unit {
            issues.push(issue(
                format!("{} addresses", unit.emails.len()),
                format!(
                    "unit `{}` has {} addresses, more than alerts.max_addresses_per_unit ({}); a unit is told at a few addresses — correct the cell, or raise the limit in the job if they are really all needed",
                    unit.id,
                    unit.emails.len(),
                    job.max_addresses_per_unit
                ),
            ));
            unit.emails.clear();
            continue;
        }
        let (allowed, refused): (Vec<_>, Vec<_>) = std::mem::take(&mut unit.emails)
            .into_iter()
            .partition(|m| mail.allows(m.email.as_str()));
        unit.emails = allowed;
        for m in refused {
            issues.push(issue(
                m.email.to_string(),
                format!(
                    "`{}` is outside mail.allowed_domains ({}); no mail goes there — correct the address, or add its domain to the config if the department allows it",
                    m.email,
                    mail.allowed_domains.join(", ")
                ),
            ));
        }
    }
    issues
}
