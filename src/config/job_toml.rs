//! A job file as TOML holds it, before it is checked: the keys operators write, each optional
//! where it has a default. Unknown keys are reported by `config::read`; `job_load` turns these
//! shapes into a checked `config::job::Job`.

use crate::domain::id::{PlanYear, UnitId};
use crate::domain::money::{AmountUnit, Language, NumberFormat};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
pub(super) struct RawJob {
    pub(super) schedule: String,
    pub(super) timezone: Option<String>,
    #[serde(default)]
    pub(super) language: Language,
    pub(super) plan_year: Option<PlanYear>,
    pub(super) sources: RawSources,
    pub(super) rule: RawRule,
    #[serde(default)]
    pub(super) alerts: RawAlerts,
    /// How old a missed slot may be and still run at start (default 24h).
    pub(super) catch_up: Option<String>,
    /// Delays before each retry of a failed run (default 1m, 5m, 15m: four tries in all).
    pub(super) retries: Option<Vec<String>>,
    /// Operators are told when the job has not succeeded for this long (default: twice its period).
    pub(super) max_silence: Option<String>,
    /// A unit still behind is reminded this long after its last alert (default 7d).
    pub(super) repeat_after: Option<String>,
    /// Alerts in one episode after which they also go to the escalation recipients (default 3).
    pub(super) escalate_after: Option<u32>,
    /// Consecutive milestones missed after which alerts also go to the escalation recipients
    /// (HCMC practice: two quarters); off when not given.
    pub(super) escalate_after_milestones: Option<u32>,
    #[serde(default)]
    pub(super) projection: RawProjection,
    #[serde(default)]
    pub(super) reallocation: RawReallocation,
    /// No unit is alerted when the newest data is older than this.
    pub(super) max_data_age: Option<String>,
    /// The plan layer that is the denominator (plans' `layer` column), e.g. "ttg" for the plan
    /// assigned by the Prime Minister; disbursement with a `layer` column counts only that layer's.
    pub(super) plan_layer: Option<String>,
    /// Only this capital source (the `capital_source` columns), e.g. "NSTW".
    pub(super) capital_source: Option<String>,
    /// Further denominators reported beside the main one: rates against these plan layers.
    #[serde(default)]
    pub(super) rate_layers: Vec<String>,
    /// ... and against these capital sources.
    #[serde(default)]
    pub(super) rate_capital_sources: Vec<String>,
    /// Old unit id = its successor, e.g. { "H-MUONGLA" = "X-MUONGLA" } after the July 2025 merger.
    #[serde(default)]
    pub(super) successors: BTreeMap<UnitId, UnitId>,
}

/// `[projection]`: the year-end projection from past years' seasonal curves.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawProjection {
    /// Past plan years measured for the seasonal curves (default 3).
    pub(super) years: Option<u32>,
    /// A unit projected below the 31/12 or 31/1 target is alerted even when on track today.
    pub(super) alert_at_risk: Option<bool>,
}

/// `[reallocation]`: which units the digest proposes to release capital from, or give it to.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawReallocation {
    /// Units projected under this rate at 31/1 can release capital (default 95).
    pub(super) release_below_pct: Option<f64>,
    /// Units projected at or above this rate by 31/12 can absorb more (default 100).
    pub(super) absorb_from_pct: Option<f64>,
    /// Amounts below this many billion đồng are not proposed (default 0.5).
    pub(super) min_billion: Option<f64>,
    /// The plan layer holding the units' registered need (e.g. "dk"); or map the plans' `need` column.
    pub(super) need_layer: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawSources {
    pub(super) units: RawSource,
    pub(super) plans: RawSource,
    pub(super) disbursements: RawSource,
    /// Units' answers the department types in from letters (optional).
    pub(super) answers: Option<RawSource>,
}
#[derive(Debug, Clone, Deserialize)]
pub(super) struct RawSource {
    pub(super) location: String,
    pub(super) format: Option<String>,
    pub(super) columns: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) number_format: NumberFormat,
    #[serde(default)]
    pub(super) amount_unit: AmountUnit,
    pub(super) date_format: Option<String>,
    pub(super) kind: Option<String>,
    pub(super) on_error: Option<String>,
    pub(super) delimiter: Option<String>,
    pub(super) timeout_secs: Option<u64>,
    /// Excel: the worksheet, by name or by number (1 = the first).
    pub(super) sheet: Option<toml::Value>,
    /// Excel: the row of the header (1 = the first); found by the mapped names when not given.
    pub(super) header_row: Option<u32>,
    /// Excel: labels of total rows, skipped (default "Tổng cộng", "Cộng", "Tổng số", "Total").
    pub(super) total_labels: Option<Vec<String>>,
    /// JSON: the path of the record array inside the document, e.g. "data.items".
    pub(super) records: Option<String>,
    /// HTTP: further tries after a failure that may pass (timeout, no connection, 429, 5xx).
    pub(super) http_retries: Option<u32>,
    /// HTTP: the largest body accepted, in bytes (default 200 MB).
    pub(super) max_bytes: Option<u64>,
    /// Excel: the most used cells a worksheet may hold (default 5,000,000).
    pub(super) max_cells: Option<u64>,
    pub(super) auth: Option<RawAuth>,
}

/// HTTP authentication; secrets come from environment variables or files, never from the job.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawAuth {
    pub(super) bearer_env: Option<String>,
    pub(super) bearer_file: Option<String>,
    pub(super) username_env: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) header: Option<String>,
    pub(super) value_env: Option<String>,
    pub(super) value_file: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawRule {
    pub(super) milestones: Vec<RawMilestone>,
    #[serde(default = "default_tolerance")]
    pub(super) tolerance_pct: f64,
    #[serde(default = "default_critical")]
    pub(super) critical_gap_pct: f64,
}

pub(super) fn default_tolerance() -> f64 {
    5.0
}

pub(super) fn default_critical() -> f64 {
    20.0
}

#[derive(Debug, Deserialize)]
pub(super) struct RawMilestone {
    pub(super) date: String,
    pub(super) pct: f64,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawAlerts {
    pub(super) cc: Vec<String>,
    pub(super) digest_to: Vec<String>,
    /// Escalation recipients for units whose parent unit has no address.
    pub(super) escalate_to: Vec<String>,
    /// The most addresses one unit's email cell may hold (default 10): more is a data issue.
    pub(super) max_addresses_per_unit: Option<usize>,
    /// The digest carries the official table as an Excel workbook (default true).
    pub(super) attach_xlsx: Option<bool>,
    pub(super) charts: Option<bool>,
    /// The most units the digest's ranked table lists (default 200): beyond it, the best and the
    /// worst and the units behind; the whole table is in the workbook and on the dashboard.
    pub(super) digest_rows: Option<usize>,
}
