//! A monitoring job (`jobs/NAME.toml`), checked: when it runs, where its data comes from and how
//! it is read, the rule units are measured against, and who hears about it. Read from its file
//! by `config::job_load`.

use crate::domain::address::Mailbox;
use crate::domain::id::{PlanYear, UnitId};
use crate::domain::issue::SourceRole;
use crate::domain::money::{AmountUnit, Language, NumberFormat};
use crate::domain::reallocation::Settings as ReallocationSettings;
use crate::domain::rule::{Bands, Milestones};
use crate::domain::schedule::Schedule;
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where a secret is read from, when it is needed.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
}

/// A secret that cannot be had, and what to do to provide it.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the environment variable {0} is not set; set it to the secret")]
    Unset(String),
    #[error("cannot read the secret file {}: {source}", file.display())]
    File {
        file: PathBuf,
        source: std::io::Error,
    },
}

impl SecretRef {
    /// The secret, or what to do to provide it.
    pub fn read(&self) -> Result<String, SecretError> {
        match self {
            SecretRef::Env(v) => std::env::var(v)
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| SecretError::Unset(v.clone())),
            SecretRef::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|source| SecretError::File {
                    file: p.clone(),
                    source,
                }),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    Bearer(SecretRef),
    Basic {
        username: SecretRef,
        password: SecretRef,
    },
    Header {
        name: String,
        value: SecretRef,
    },
}

/// Where a source's data is.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    Url(String),
    File(PathBuf),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Shown everywhere (logs, reports, the digest, the store): no secrets.
            Location::Url(u) => f.write_str(&crate::base::text::redact_url(u)),
            Location::File(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Xlsx,
}

/// Which worksheet of an Excel source.
#[derive(Debug, Clone, PartialEq)]
pub enum Sheet {
    Name(String),
    /// 1 = the first.
    Number(usize),
}

/// What to do with rows that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// The whole run is rejected: no unit is alerted on data known to be wrong.
    Reject,
    /// Bad rows are left out, listed in the report and the digest, and the run goes on.
    Skip,
}

/// How disbursement rows are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisbursementKind {
    /// Individual payments, summed up to the as-of date.
    Transactions,
    /// A running total per unit (and project) per date; the latest on or before the as-of date counts.
    Cumulative,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub role: SourceRole,
    pub location: Location,
    pub format: Format,
    /// Canonical column name → header in the source.
    pub columns: BTreeMap<String, String>,
    pub number_format: NumberFormat,
    pub amount_unit: AmountUnit,
    /// chrono strftime format of date cells.
    pub date_format: String,
    pub on_error: OnError,
    pub delimiter: u8,
    pub timeout: Duration,
    pub sheet: Option<Sheet>,
    pub header_row: Option<u32>,
    pub total_labels: Vec<String>,
    pub records: Option<String>,
    pub http_retries: u32,
    pub max_bytes: u64,
    pub max_cells: u64,
    pub auth: Option<Auth>,
}

impl Source {
    /// The header mapped to a canonical column, if the job maps it.
    pub fn header(&self, canonical: &str) -> Option<&str> {
        self.columns.get(canonical).map(String::as_str)
    }
}

#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub file: PathBuf,
    pub schedule: Schedule,
    pub timezone: Tz,
    pub language: Language,
    pub plan_year: Option<PlanYear>,
    pub units: Source,
    pub plans: Source,
    pub disbursements: Source,
    pub disbursement_kind: DisbursementKind,
    pub milestones: Milestones,
    pub bands: Bands,
    pub cc: Vec<Mailbox>,
    pub digest_to: Vec<Mailbox>,
    pub catch_up: Duration,
    pub retries: Vec<Duration>,
    pub max_silence: Option<Duration>,
    pub repeat_after: Duration,
    pub escalate_after: u32,
    pub escalate_to: Vec<Mailbox>,
    pub max_addresses_per_unit: usize,
    /// The digest carries the official table as an Excel workbook.
    pub attach_xlsx: bool,
    /// Charts in the mail (`alerts.charts`): each alert's curve, the digest's ranking.
    pub charts: bool,
    /// The most units (and lines of each list) the digest shows (`alerts.digest_rows`).
    pub digest_rows: usize,
    pub max_data_age: Option<Duration>,
    pub plan_layer: Option<String>,
    pub capital_source: Option<String>,
    pub successors: BTreeMap<UnitId, UnitId>,
    pub rate_layers: Vec<String>,
    pub rate_capital_sources: Vec<String>,
    pub escalate_after_milestones: Option<u32>,
    /// Units' answers typed in from letters (`[sources.answers]`).
    pub answers: Option<Source>,
    pub projection: Projection,
    pub reallocation: ReallocationSettings,
    /// The file's text, to tell a changed job from an unchanged one on reload.
    pub text: String,
}

impl Job {
    /// How long the job may go without a success before operators are told: `max_silence`, or
    /// twice the time between its next two runs.
    pub fn silence_limit(&self, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
        self.max_silence.or_else(|| {
            let next = self.schedule.upcoming(self.timezone, now, 2);
            match next.as_slice() {
                [a, b] => (*b - *a).to_std().ok().map(|d| d * 2),
                _ => None,
            }
        })
    }

    pub fn sources(&self) -> [&Source; 3] {
        [&self.units, &self.plans, &self.disbursements]
    }
}

/// The year-end projection's settings (`[projection]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub years: u32,
    pub alert_at_risk: bool,
    /// Measure every month end of the past years, not only 31/12 and the close: what
    /// `disbmon backtest` replays (not a job key).
    pub curves: bool,
}

impl Default for Projection {
    fn default() -> Self {
        Projection {
            years: 3,
            alert_at_risk: false,
            curves: false,
        }
    }
}

/// Canonical columns of each source: (required, optional).
pub fn canonical_columns(role: SourceRole) -> (&'static [&'static str], &'static [&'static str]) {
    match role {
        SourceRole::Units => (
            &["unit_id", "unit_name", "email"],
            &["parent_id", "group", "published_rate"],
        ),
        SourceRole::Plans => (
            &["unit_id", "amount"],
            &[
                "plan_year",
                "project_id",
                "capital_source",
                "layer",
                "effective_date",
                "need",
            ],
        ),
        SourceRole::Disbursements => (
            &["unit_id", "date", "amount"],
            &["project_id", "capital_source", "layer", "plan_year"],
        ),
        // One row per answer (or per commitment of it): reason codes separated by `;`, the
        // commitment's amount (in `amount_unit`) and due date, the day it was answered.
        SourceRole::Answers => (
            &["unit_id", "reasons", "date"],
            &["note", "amount", "due_date", "plan_year"],
        ),
    }
}
