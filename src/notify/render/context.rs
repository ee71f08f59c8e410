//! What a rendered email is (its parts, pictures and files) and what every message of one run
//! shares: the job, the figures, each unit's detail, the templates, the answers and the links.

use crate::domain::address::Mailbox;
use crate::domain::answer::Answer;
use crate::domain::id::PlanYear;
use crate::domain::id::UnitId;
use crate::domain::issue::DataIssue;
use crate::domain::ledger::UnitDetail;
use crate::domain::link::Signer;
use crate::domain::money::Language;
use crate::domain::rates::Rates;
use crate::domain::reallocation::Proposal;
use crate::notify::templates::Templates;
use chrono::NaiveDate;

/// A rendered email, ready to be built into a MIME message.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Files sent along (the digest's workbook).
    pub attachments: Vec<Attachment>,
    /// Pictures the HTML part shows (`cid:`), sent as `multipart/related` parts beside it.
    pub inline: Vec<Inline>,
}

/// A picture inside the HTML part, referred to as `cid:{cid}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Inline {
    pub cid: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// A file sent along with an email.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// What every message of one run shares.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub job: &'a str,
    pub language: Language,
    pub as_of: NaiveDate,
    pub plan_year: PlanYear,
    pub rates: &'a Rates,
    /// How many units are ranked (counted once, not for each alert).
    pub ranked: usize,
    /// The next milestone on or after the as-of date.
    pub next_milestone: Option<(NaiveDate, f64)>,
    /// Each unit's curve, denominators and previous figures, by unit id.
    pub details: &'a std::collections::BTreeMap<UnitId, UnitDetail>,
    /// Charts in the mail (`alerts.charts`).
    pub charts: bool,
    /// The most units, and lines of each list, the digest shows (`alerts.digest_rows`).
    pub digest_rows: usize,
    pub templates: &'a Templates,
    /// The reallocation proposal, when units are projected.
    pub reallocation: Option<&'a Proposal>,
    /// The job's time zone: the day an answer was given is the day there.
    pub zone: chrono_tz::Tz,
    /// The first milestone after the as-of date: when this run's answer links expire.
    pub milestones_after: Option<NaiveDate>,
    /// The units' answers this plan year (oldest first), by unit.
    pub answers: Option<&'a std::collections::BTreeMap<UnitId, Vec<Answer>>>,
    /// Signs the answer links alerts carry (`[answers]`), and the job's zone their expiry is in.
    pub links: Option<(&'a Signer, chrono_tz::Tz)>,
    /// What the data holds that is counted but needs a look (payments that net below zero, names
    /// cleaned of control characters): the digest lists them.
    pub notes: &'a [DataIssue],
}

/// A message that could not be delivered, as the digest reports it.
#[derive(Debug, Clone)]
pub struct Delivered<'a> {
    pub unit_id: &'a str,
    pub unit_name: &'a str,
    pub error: Option<&'a str>,
}

/// The content id of a chart in an email.
pub(super) const CHART_CID: &str = "bieu-do@disbmon";
