//! `disbmon preview`: the email one unit would get, built exactly as a run would queue it.

use super::assessment::{details, Assessment};
use super::setup::Setup;
use crate::config::daemon::AnswersConfig;
use crate::config::job::Job;
use crate::domain::decide;
use crate::domain::message::{MessageKind, NewMessage};
use crate::notify::deliver::BuildError;
use crate::notify::queue;
use crate::notify::render::alert;
use crate::notify::render::context::Email;
use crate::store::figures::Previous;
use chrono::{DateTime, Utc};

/// Why `disbmon preview` has nothing to show.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("the data was rejected; run `disbmon once JOB --dry-run` to see why")]
    Rejected,
    #[error("unit `{unit}` is not in the units source of job {job}")]
    UnknownUnit { unit: String, job: String },
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// The email one unit would receive on `as_of`, whatever its status, built exactly as a run would
/// queue it (its Message-ID and Date included); and whether the unit is behind.
pub fn preview(
    job: &Job,
    a: &Assessment,
    unit_id: &str,
    setup: &Setup,
    now: DateTime<Utc>,
    previous: Option<Previous>,
) -> Result<(Email, Option<NewMessage>, bool), PreviewError> {
    let config = &setup.config;
    let rates = a.rates.as_ref().ok_or(PreviewError::Rejected)?;
    let details = details(job, a, rates, previous);
    let unknown = || PreviewError::UnknownUnit {
        unit: unit_id.to_string(),
        job: job.name.clone(),
    };
    let rate = rates
        .units
        .iter()
        .find(|u| u.unit_id == unit_id)
        .ok_or_else(unknown)?;
    let unit = a
        .ledger
        .units
        .iter()
        .find(|u| u.id == unit_id)
        .ok_or_else(unknown)?;
    let alert = decide::Alert {
        unit: rate.clone(),
        to: unit.emails.clone(),
        cc: job.cc.clone(),
        reason: decide::Reason::First,
        escalation: None,
    };
    // With the answer link it would carry (answers themselves are the store's: not shown here).
    let signer = config.answers.as_ref().map(AnswersConfig::signer);
    let mut ctx = a.context(job, rates, &details, &setup.templates);
    ctx.links = signer.as_ref().map(|s| (s, job.timezone));
    let email = alert::unit_alert(&ctx, &alert);
    let mail = &config.mail;
    let identity = format!(
        "alert|{}|{unit_id}|{}|first|{}",
        job.name,
        a.plan_year,
        now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    // A unit without an address gets nothing; there are no headers to show.
    let built = if email.to.is_empty() {
        None
    } else {
        Some(queue::message(
            mail,
            &email,
            &identity,
            MessageKind::Alert,
            now,
        )?)
    };
    Ok((email, built, rate.status.is_alerted()))
}
