//! The validate stage: the policies that decide whether measured data may alert anyone — stale
//! data (`max_data_age`) and each source's `on_error` (reject the run, or leave the bad rows
//! out). Pure: takes what was measured and the time, returns the verdict.

use crate::job::{Job, OnError};
use crate::ledger::{DataIssue, SourceRole};
use chrono::{DateTime, NaiveDate, Utc};

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
    };
    if issues.iter().any(|i| policy(i.source) == OnError::Reject) {
        Verdict::Rejected
    } else if issues.is_empty() {
        Verdict::Complete
    } else {
        Verdict::Partial
    }
}
