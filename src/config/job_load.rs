//! Loading a job file: every key checked, every problem reported with the file and key, and the
//! checked `Job` built only when there is none.

use super::job::{
    canonical_columns, Auth, DisbursementKind, Format, Job, Location, OnError, Projection,
    SecretRef, Sheet, Source,
};
use super::job_toml::{
    RawJob, RawMilestone, RawProjection, RawReallocation, RawRule, RawSource, RawSources,
};
use super::read::{mailboxes, parse_duration, parse_toml, parse_zone, resolve, Problems};
use crate::domain::issue::SourceRole;
use crate::domain::money::{AmountUnit, NumberFormat};
use crate::domain::reallocation::Settings as ReallocationSettings;
use crate::domain::rule::{Bands, Milestone, Milestones};
use crate::domain::schedule::Schedule;
use chrono_tz::Tz;
use std::path::Path;
use std::time::Duration;

/// The units the digest lists at most by default: a digest stays a few hundred kilobytes
/// whatever the job's size.
pub const DIGEST_ROWS: usize = 200;

/// Loads and checks a job file. `default_zone` comes from the daemon config.
pub fn load(path: &Path, default_zone: Tz) -> Result<Job, Problems> {
    load_with(path, default_zone, false)
}

/// Like [`load`], and also reports source files that do not exist (for `disbmon check`; at run
/// time a missing file is a data problem of that run, since exports may appear later).
pub fn load_with(path: &Path, default_zone: Tz, check_files: bool) -> Result<Job, Problems> {
    let mut p = Problems::new(path);
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            p.add(
                "",
                format!("cannot read the job file: {e}; check the path and its permissions"),
            );
            return Err(p);
        }
    };
    let Some(raw) = parse_toml::<RawJob>(&text, &mut p) else {
        return Err(p);
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let schedule = Schedule::parse(&raw.schedule)
        .map_err(|e| p.add("schedule", format!("`{}`: {e}", raw.schedule)))
        .ok();
    let timezone = match &raw.timezone {
        Some(z) => parse_zone(z).map_err(|e| p.add("timezone", e)).ok(),
        None => Some(default_zone),
    };
    if let Some(y) = raw.plan_year {
        if !(2000..=2100).contains(&y.get()) {
            p.add(
                "plan_year",
                format!("{y} is not a plausible plan year; write the fiscal year, e.g. 2026"),
            );
        }
    }
    let sources = sources(&raw.sources, dir, check_files, &mut p);
    let rule = rule(&raw.rule, &mut p);
    if let (Some(year), Some((milestones, _))) = (raw.plan_year, &rule) {
        leap_day_exists(milestones, year, &mut p);
    }
    let timing = Timing::of(&raw, &mut p);
    let alerts = &raw.alerts;
    let escalate_to = mailboxes("alerts.escalate_to", &alerts.escalate_to, &mut p);
    let cc = mailboxes("alerts.cc", &alerts.cc, &mut p);
    let digest_to = mailboxes("alerts.digest_to", &alerts.digest_to, &mut p);
    if alerts.max_addresses_per_unit == Some(0) {
        p.add(
            "alerts.max_addresses_per_unit",
            "must be at least 1 (a unit is told at its addresses)",
        );
    }
    if alerts
        .digest_rows
        .is_some_and(|n| !(20..=100_000).contains(&n))
    {
        p.add(
            "alerts.digest_rows",
            "must be from 20 to 100000 (the units the digest lists; the workbook holds them all)",
        );
    }
    let projection = projection(&raw.projection, &mut p);
    let reallocation = reallocation(&raw.reallocation, &mut p);
    if raw.escalate_after_milestones == Some(0) {
        p.add(
            "escalate_after_milestones",
            "must be at least 1 (e.g. 2: a unit that missed two milestones in a row); leave it out to turn it off",
        );
    }
    let (Some(schedule), Some(timezone), Some(sources), Some((milestones, bands)), Some(timing)) =
        (schedule, timezone, sources, rule, timing)
    else {
        return Err(p);
    };
    if !p.is_empty() {
        return Err(p);
    }
    Ok(Job {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        file: path.to_path_buf(),
        schedule,
        timezone,
        language: raw.language,
        plan_year: raw.plan_year,
        units: sources.units,
        plans: sources.plans,
        disbursements: sources.disbursements,
        disbursement_kind: sources.kind,
        milestones,
        bands,
        cc,
        digest_to,
        catch_up: timing.catch_up,
        retries: timing.retries,
        max_silence: timing.max_silence,
        repeat_after: timing.repeat_after,
        escalate_after: raw.escalate_after.unwrap_or(3),
        escalate_to,
        max_addresses_per_unit: alerts.max_addresses_per_unit.unwrap_or(10),
        attach_xlsx: alerts.attach_xlsx.unwrap_or(true),
        charts: alerts.charts.unwrap_or(true),
        digest_rows: alerts.digest_rows.unwrap_or(DIGEST_ROWS),
        max_data_age: timing.max_data_age,
        plan_layer: raw.plan_layer,
        capital_source: raw.capital_source,
        successors: raw.successors,
        rate_layers: raw.rate_layers,
        rate_capital_sources: raw.rate_capital_sources,
        escalate_after_milestones: raw.escalate_after_milestones,
        answers: sources.answers,
        projection,
        reallocation,
        text,
    })
}

/// A job's sources, checked.
struct Sources {
    units: Source,
    plans: Source,
    disbursements: Source,
    kind: DisbursementKind,
    answers: Option<Source>,
}

/// Every source of `[sources]`, each problem reported; none when any is wrong.
fn sources(raw: &RawSources, dir: &Path, check_files: bool, p: &mut Problems) -> Option<Sources> {
    let units = source(SourceRole::Units, raw.units.clone(), dir, check_files, p);
    let plans = source(SourceRole::Plans, raw.plans.clone(), dir, check_files, p);
    let answers = raw
        .answers
        .clone()
        .map(|a| source(SourceRole::Answers, a, dir, check_files, p));
    let disbursements = source(
        SourceRole::Disbursements,
        raw.disbursements.clone(),
        dir,
        check_files,
        p,
    );
    let kind = match raw.disbursements.kind.as_deref().unwrap_or("transactions") {
        "transactions" => Some(DisbursementKind::Transactions),
        "cumulative" => Some(DisbursementKind::Cumulative),
        other => {
            p.add(
                "sources.disbursements.kind",
                format!("`{other}` is not a kind; use \"transactions\" (payments) or \"cumulative\" (running totals)"),
            );
            None
        }
    };
    Some(Sources {
        units: units?,
        plans: plans?,
        disbursements: disbursements?,
        kind: kind?,
        answers: match answers {
            Some(a) => Some(a?),
            None => None,
        },
    })
}

/// `[rule]`: the milestones and the status bands.
fn rule(raw: &RawRule, p: &mut Problems) -> Option<(Milestones, Bands)> {
    let milestones = milestones(&raw.milestones, p);
    let bands = Bands {
        tolerance_pct: raw.tolerance_pct,
        critical_gap_pct: raw.critical_gap_pct,
    };
    if !(bands.tolerance_pct >= 0.0 && bands.tolerance_pct < bands.critical_gap_pct) {
        p.add(
            "rule",
            format!(
                "tolerance_pct ({}) must be at least 0 and below critical_gap_pct ({})",
                bands.tolerance_pct, bands.critical_gap_pct
            ),
        );
    }
    milestones.map(|m| (m, bands))
}

/// The job's durations: catch-up window, retries, silence limit, reminders, data age.
struct Timing {
    catch_up: Duration,
    retries: Vec<Duration>,
    max_silence: Option<Duration>,
    repeat_after: Duration,
    max_data_age: Option<Duration>,
}

impl Timing {
    fn of(raw: &RawJob, p: &mut Problems) -> Option<Timing> {
        let catch_up = parse_duration(raw.catch_up.as_deref().unwrap_or("24h"))
            .map_err(|e| p.add("catch_up", e))
            .ok();
        let default_retries = || vec!["1m".into(), "5m".into(), "15m".into()];
        let retries: Vec<Duration> = raw
            .retries
            .clone()
            .unwrap_or_else(default_retries)
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                parse_duration(r)
                    .map_err(|e| p.add(format!("retries[{i}]"), e))
                    .ok()
            })
            .collect();
        let optional = |value: &Option<String>, key: &str, p: &mut Problems| {
            value
                .as_deref()
                .and_then(|m| parse_duration(m).map_err(|e| p.add(key, e)).ok())
        };
        let max_silence = optional(&raw.max_silence, "max_silence", p);
        let repeat_after = parse_duration(raw.repeat_after.as_deref().unwrap_or("7d"))
            .map_err(|e| p.add("repeat_after", e))
            .ok();
        let max_data_age = optional(&raw.max_data_age, "max_data_age", p);
        Some(Timing {
            catch_up: catch_up?,
            retries,
            max_silence,
            repeat_after: repeat_after?,
            max_data_age,
        })
    }
}

/// `[projection]`.
fn projection(raw: &RawProjection, p: &mut Problems) -> Projection {
    let projection = Projection {
        years: raw.years.unwrap_or(3),
        alert_at_risk: raw.alert_at_risk.unwrap_or(false),
        curves: false,
    };
    if !(1..=10).contains(&projection.years) {
        p.add(
            "projection.years",
            format!(
                "{} past years cannot be measured; write 1 to 10 (default 3)",
                projection.years
            ),
        );
    }
    projection
}

/// `[reallocation]`: the proposal's thresholds.
fn reallocation(r: &RawReallocation, p: &mut Problems) -> ReallocationSettings {
    let defaults = ReallocationSettings::default();
    let reallocation = ReallocationSettings {
        release_below_pct: r.release_below_pct.unwrap_or(defaults.release_below_pct),
        absorb_from_pct: r.absorb_from_pct.unwrap_or(defaults.absorb_from_pct),
        min_dong: r
            .min_billion
            .map(|b| (b * 1e9).round() as i64)
            .unwrap_or(defaults.min_dong),
        need_layer: r.need_layer.clone(),
    };
    if !(0.0..=100.0).contains(&reallocation.release_below_pct) {
        p.add(
            "reallocation.release_below_pct",
            "must be a rate from 0 to 100 (default 95)",
        );
    }
    if !(0.0..=200.0).contains(&reallocation.absorb_from_pct) {
        p.add(
            "reallocation.absorb_from_pct",
            "must be a rate from 0 to 200 (default 100)",
        );
    }
    if !r.min_billion.is_none_or(|b| (0.0..=1e9).contains(&b)) {
        p.add(
            "reallocation.min_billion",
            "must be an amount in billion đồng from 0 to 1e9 (default 0.5)",
        );
    }
    reallocation
}

/// One source of `[sources]`, every key checked; none when anything is wrong.
fn source(
    role: SourceRole,
    raw: RawSource,
    dir: &Path,
    check_files: bool,
    p: &mut Problems,
) -> Option<Source> {
    let key = |k: &str| format!("sources.{}.{k}", role.key());
    let before = p.list.len();
    let location = location(&raw.location, dir, check_files, &key, p);
    let format = format(&raw, &key, p);
    check_columns(role, &raw, &key, p);
    if role == SourceRole::Units {
        check_units(&raw, &key, p);
    }
    let date_format = date_format(role, &raw, &key, p);
    if raw.kind.is_some() && role != SourceRole::Disbursements {
        p.add(
            key("kind"),
            "only disbursements have a kind; remove this key",
        );
    }
    let on_error = on_error(&raw, &key, p);
    let delimiter = delimiter(&raw, format, &key, p);
    let timeout = Duration::from_secs(raw.timeout_secs.unwrap_or(60).max(1));
    let sheet = sheet(&raw, &key, p);
    check_format_keys(&raw, format, &key, p);
    let auth = auth(&raw, dir, &location, &key, p);
    let total_labels = raw.total_labels.clone().unwrap_or_else(|| {
        ["Tổng cộng", "Cộng", "Tổng số", "Total"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    (p.list.len() == before).then_some(Source {
        role,
        location,
        format,
        columns: raw.columns,
        number_format: raw.number_format,
        amount_unit: raw.amount_unit,
        date_format,
        on_error,
        delimiter,
        timeout,
        sheet,
        header_row: raw.header_row,
        total_labels,
        records: raw.records,
        http_retries: raw.http_retries.unwrap_or(2),
        max_bytes: raw.max_bytes.unwrap_or(200_000_000),
        max_cells: raw.max_cells.unwrap_or(5_000_000),
        auth,
    })
}

/// Where a source is: an http(s) URL, or a file relative to the job file's folder.
fn location(
    written: &str,
    dir: &Path,
    check_files: bool,
    key: &dyn Fn(&str) -> String,
    p: &mut Problems,
) -> Location {
    if written.starts_with("http://") || written.starts_with("https://") {
        Location::Url(written.to_string())
    } else if written.contains("://") {
        p.add(
            key("location"),
            format!(
                "`{}`: only http(s) URLs and file paths are supported",
                written
            ),
        );
        Location::Url(written.to_string())
    } else {
        let path = resolve(dir, written);
        if check_files && !path.is_file() {
            p.add(
                key("location"),
                format!(
                    "file not found: {}; fix the path (relative to the job file's folder)",
                    path.display()
                ),
            );
        }
        Location::File(path)
    }
}

/// The format, as written or from the location's extension.
fn format(raw: &RawSource, key: &dyn Fn(&str) -> String, p: &mut Problems) -> Format {
    let ext = raw
        .location
        .split(['?', '#'])
        .next()
        .and_then(|l| l.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    match raw.format.as_deref().or(ext.as_deref()) {
        Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some("xlsx") | Some("xlsm") => Format::Xlsx,
        Some(other) if raw.format.is_some() => {
            p.add(
                key("format"),
                format!("`{other}` is not a format; use \"csv\", \"json\" or \"xlsx\""),
            );
            Format::Csv
        }
        _ => {
            p.add(
                key("format"),
                "cannot tell the format from the location; set format = \"csv\", \"json\" or \"xlsx\"",
            );
            Format::Csv
        }
    }
}

/// Every required column mapped, and nothing mapped that the source does not have.
fn check_columns(
    role: SourceRole,
    raw: &RawSource,
    key: &dyn Fn(&str) -> String,
    p: &mut Problems,
) {
    let (required, optional) = canonical_columns(role);
    for name in required {
        if !raw.columns.contains_key(*name) {
            p.add(
                key("columns"),
                format!("`{name}` is missing; map it to the header that holds it, e.g. {name} = \"...\""),
            );
        }
    }
    for (name, header) in &raw.columns {
        if !required.contains(&name.as_str()) && !optional.contains(&name.as_str()) {
            let mut known: Vec<&str> = required.to_vec();
            known.extend_from_slice(optional);
            p.add(
                format!("{}.{name}", key("columns")),
                format!("not a column of {role}; known: {}", known.join(", ")),
            );
        }
        if header.trim().is_empty() {
            p.add(
                format!("{}.{name}", key("columns")),
                "the header is empty; write the source's column header",
            );
        }
    }
}

/// Units have no amounts: their keys about amounts are mistakes.
fn check_units(raw: &RawSource, key: &dyn Fn(&str) -> String, p: &mut Problems) {
    if raw.number_format != NumberFormat::default() && !raw.columns.contains_key("published_rate") {
        p.add(
            key("number_format"),
            "units have no amounts (only a published_rate column would use it); remove this key",
        );
    }
    if raw.amount_unit != AmountUnit::default() {
        p.add(key("amount_unit"), "units have no amounts; remove this key");
    }
}

/// The strftime format of date cells (default ISO), checked.
fn date_format(
    role: SourceRole,
    raw: &RawSource,
    key: &dyn Fn(&str) -> String,
    p: &mut Problems,
) -> String {
    // Plans date their changes (`effective_date`), answers their commitments (`due_date`).
    let has_date = ["date", "effective_date", "due_date"]
        .iter()
        .any(|c| raw.columns.contains_key(*c));
    let date_format = raw
        .date_format
        .clone()
        .unwrap_or_else(|| "%Y-%m-%d".to_string());
    if raw.date_format.is_some() && !has_date {
        p.add(
            key("date_format"),
            format!("{role} have no date column; remove this key"),
        );
    }
    if chrono::format::StrftimeItems::new(&date_format)
        .any(|i| matches!(i, chrono::format::Item::Error))
    {
        p.add(
            key("date_format"),
            format!("`{date_format}` is not a strftime format; write e.g. \"%d/%m/%Y\""),
        );
    }
    date_format
}

/// What to do with rows that cannot be read.
fn on_error(raw: &RawSource, key: &dyn Fn(&str) -> String, p: &mut Problems) -> OnError {
    match raw.on_error.as_deref().unwrap_or("reject") {
        "reject" => OnError::Reject,
        "skip" => OnError::Skip,
        other => {
            p.add(
                key("on_error"),
                format!("`{other}` is not a policy; use \"reject\" (default) or \"skip\""),
            );
            OnError::Reject
        }
    }
}

/// The CSV delimiter: one ASCII character.
fn delimiter(
    raw: &RawSource,
    format: Format,
    key: &dyn Fn(&str) -> String,
    p: &mut Problems,
) -> u8 {
    match raw.delimiter.as_deref() {
        None => b',',
        Some(d) if d.len() == 1 && format == Format::Csv => d.as_bytes()[0],
        Some("\\t") | Some("\t") => b'\t',
        Some(d) => {
            p.add(
                key("delimiter"),
                format!("`{d}` must be one ASCII character, e.g. \";\" (CSV sources only)"),
            );
            b','
        }
    }
}

/// Excel: which worksheet.
fn sheet(raw: &RawSource, key: &dyn Fn(&str) -> String, p: &mut Problems) -> Option<Sheet> {
    match &raw.sheet {
        None => None,
        Some(toml::Value::String(name)) => Some(Sheet::Name(name.clone())),
        Some(toml::Value::Integer(n)) if *n >= 1 => Some(Sheet::Number(*n as usize)),
        Some(other) => {
            p.add(
                key("sheet"),
                format!("`{other}` is not a sheet; write its name, or its number (1 = the first)"),
            );
            None
        }
    }
}

/// Keys only one format has (Excel's sheet and header row, JSON's records), on that format only.
fn check_format_keys(
    raw: &RawSource,
    format: Format,
    key: &dyn Fn(&str) -> String,
    p: &mut Problems,
) {
    let excel_only = [
        ("sheet", raw.sheet.is_some()),
        ("header_row", raw.header_row.is_some()),
        ("total_labels", raw.total_labels.is_some()),
        ("max_cells", raw.max_cells.is_some()),
    ];
    for (k, set) in excel_only {
        if set && format != Format::Xlsx {
            p.add(key(k), "only Excel (xlsx) sources have this key; remove it");
        }
    }
    if raw.records.is_some() && format != Format::Json {
        p.add(key("records"), "only JSON sources have this key; remove it");
    }
    if raw.header_row == Some(0) {
        p.add(key("header_row"), "rows are numbered from 1, as in Excel");
    }
}

/// HTTP authentication: one way of giving it, its secrets from the environment or files, and
/// never over plain http off this machine.
fn auth(
    raw: &RawSource,
    dir: &Path,
    location: &Location,
    key: &dyn Fn(&str) -> String,
    p: &mut Problems,
) -> Option<Auth> {
    let auth = raw.auth.as_ref().and_then(|a| {
        let secret = |env: &Option<String>, file: &Option<String>| match (env, file) {
            (Some(e), _) => Some(SecretRef::Env(e.clone())),
            (None, Some(f)) => Some(SecretRef::File(resolve(dir, f))),
            (None, None) => None,
        };
        let bearer = secret(&a.bearer_env, &a.bearer_file);
        let basic = (secret(&a.username_env, &None), secret(&a.password_env, &None));
        let header = a.header.clone().zip(secret(&a.value_env, &a.value_file));
        match (bearer, basic, header) {
            (Some(b), (None, None), None) => Some(Auth::Bearer(b)),
            (None, (Some(u), Some(pw)), None) => Some(Auth::Basic { username: u, password: pw }),
            (None, (None, None), Some((name, value))) => Some(Auth::Header { name, value }),
            _ => {
                p.add(
                    key("auth"),
                    "give one of: bearer_env (or bearer_file); username_env and password_env; header with value_env (or value_file)",
                );
                None
            }
        }
    });
    if raw.auth.is_some() && !matches!(location, Location::Url(_)) {
        p.add(key("auth"), "only HTTP sources authenticate; remove it");
    }
    if let (Some(_), Location::Url(url)) = (&raw.auth, location) {
        if let Some(host) = cleartext_host(url) {
            p.add(
                key("auth"),
                format!("credentials would cross the network to {host} unencrypted (http://); use an https:// location (plain http is accepted only to this machine, e.g. 127.0.0.1)"),
            );
        }
    }
    auth
}

/// The host of a plain-http URL that leaves this machine; None for https or loopback.
fn cleartext_host(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if parsed.scheme() != "http" {
        return None;
    }
    let host = parsed.host_str()?;
    (!crate::config::read::is_loopback_host(host)).then(|| host.to_string())
}

/// A job that fixes its plan year names the milestones' calendar dates: `02-29` in a year without
/// one is a date that does not exist. (A job whose plan year follows the date reads `02-29` as
/// the last day of February, whatever the year.)
fn leap_day_exists(milestones: &Milestones, year: crate::domain::id::PlanYear, p: &mut Problems) {
    use chrono::Datelike;
    for (i, (m, date)) in milestones
        .as_slice()
        .iter()
        .zip(milestones.dates(year))
        .enumerate()
    {
        if (m.month, m.day) == (2, 29) && date.day() != 29 {
            p.add(
                format!("rule.milestones[{i}].date"),
                format!(
                    "29 February {} does not exist (plan year {year} puts this milestone in {}); write \"02-28\", or leave plan_year out to have 02-29 mean the last day of February every year",
                    date.year(),
                    date.year()
                ),
            );
        }
    }
}

fn milestones(raw: &[RawMilestone], p: &mut Problems) -> Option<Milestones> {
    let mut list = Vec::new();
    let mut ok = true;
    for (i, m) in raw.iter().enumerate() {
        let parsed = m
            .date
            .split_once('-')
            .and_then(|(mm, dd)| Some((mm.parse::<u32>().ok()?, dd.parse::<u32>().ok()?)));
        match parsed {
            Some((month, day)) => list.push(Milestone {
                month,
                day,
                pct: m.pct,
            }),
            None => {
                ok = false;
                p.add(
                    format!("rule.milestones[{i}].date"),
                    format!("`{}` is not MM-DD; write e.g. \"06-30\"", m.date),
                );
            }
        }
    }
    if !ok {
        return None;
    }
    Milestones::new(list)
        .map_err(|errs| {
            for e in errs {
                p.add("rule.milestones", e);
            }
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::id::PlanYear;

    pub const EXAMPLE: &str = r#"
schedule = "0 8 * * MON"    # crontab, in the job's time zone
language = "vi"
plan_year = 2026

[sources.units]
location = "http://127.0.0.1:8000/don_vi.csv"
columns = { unit_id = "Mã ĐV", unit_name = "Tên đơn vị", email = "Email" }

[sources.plans]
location = "ke_hoach.csv"
columns = { unit_id = "Mã ĐV", plan_year = "Năm", amount = "Kế hoạch vốn (triệu đồng)" }
number_format = "vi"
amount_unit = "million"

[sources.disbursements]
location = "http://127.0.0.1:8000/giai_ngan.csv"
kind = "transactions"
columns = { unit_id = "Mã ĐV", date = "Ngày", amount = "Số tiền (đồng)" }
date_format = "%d/%m/%Y"
number_format = "vi"

[rule]
milestones = [
  { date = "03-31", pct = 11.05 },
  { date = "06-30", pct = 50 },
  { date = "09-30", pct = 60 },
  { date = "12-31", pct = 95 },
  { date = "01-31", pct = 100 },
]
tolerance_pct = 5
critical_gap_pct = 20

[alerts]
cc = ["phongdautu@stc.example.gov.vn"]
digest_to = ["lanhdao@stc.example.gov.vn"]
"#;

    fn load_text(text: &str) -> Result<Job, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weekly.toml");
        std::fs::write(&path, text).unwrap();
        load(&path, chrono_tz::Asia::Ho_Chi_Minh).map_err(|p| {
            p.list
                .iter()
                .map(|p| format!("{}: {}", p.key, p.message))
                .collect()
        })
    }

    #[test]
    fn the_example_job_loads() {
        let job = load_text(EXAMPLE).unwrap();
        assert_eq!(job.name, "weekly");
        assert_eq!(job.plan_year, Some(PlanYear::new(2026)));
        assert_eq!(
            job.units.location,
            Location::Url("http://127.0.0.1:8000/don_vi.csv".into())
        );
        let Location::File(plans) = &job.plans.location else {
            panic!()
        };
        assert!(plans.ends_with("ke_hoach.csv") && plans.is_absolute());
        assert_eq!(job.plans.amount_unit, AmountUnit::Million);
        assert_eq!(job.disbursements.header("date"), Some("Ngày"));
        assert_eq!(job.milestones.as_slice().len(), 5);
        assert_eq!(job.cc.len(), 1);
        assert_eq!(job.timezone, chrono_tz::Asia::Ho_Chi_Minh);
    }

    #[test]
    fn a_date_format_serves_any_date_column() {
        // Plans without a payment date but with dated changes.
        let text = EXAMPLE.replace(
            "plan_year = \"Năm\", amount",
            "plan_year = \"Năm\", effective_date = \"Ngày hiệu lực\", amount",
        );
        let text = text.replacen(
            "amount_unit = \"million\"",
            "amount_unit = \"million\"\ndate_format = \"%d/%m/%Y\"",
            1,
        );
        let job = load_text(&text).unwrap();
        assert_eq!(job.plans.date_format, "%d/%m/%Y");
        // With no date column at all, the key is a mistake.
        let text = EXAMPLE.replacen(
            "amount_unit = \"million\"",
            "amount_unit = \"million\"\ndate_format = \"%d/%m/%Y\"",
            1,
        );
        let errs = load_text(&text).unwrap_err().join("\n");
        assert!(
            errs.contains("sources.plans.date_format: plans have no date column"),
            "{errs}"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let text = EXAMPLE
            .replace("0 8 * * MON", "0 8 * *")
            .replace(
                "number_format = \"vi\"\namount_unit",
                "number_format = \"fr\"\namount_unit",
            )
            .replace("kind = \"transactions\"", "kind = \"monthly\"\ntab = 2")
            .replace(
                "{ date = \"06-30\", pct = 50 }",
                "{ date = \"06-31\", pct = 50 }",
            )
            .replace("email = \"Email\"", "mail = \"Email\"")
            .replace("lanhdao@", "lanhdao at ");
        let errs = load_text(&text).unwrap_err();
        let all = errs.join("\n");
        // A type error stops deserialisation; the rest are found once it is fixed.
        assert!(all.contains("line "), "{all}");
        let text = EXAMPLE
            .replace("0 8 * * MON", "0 8 * *")
            .replace("kind = \"transactions\"", "kind = \"monthly\"\ntab = 2")
            .replace(
                "{ date = \"06-30\", pct = 50 }",
                "{ date = \"06-31\", pct = 50 }",
            )
            .replace("email = \"Email\"", "mail = \"Email\"")
            .replace("lanhdao@", "lanhdao at ");
        let errs = load_text(&text).unwrap_err();
        let all = errs.join("\n");
        for want in [
            "sources.disbursements.tab: unknown key",
            "schedule: `0 8 * *`: expected 5 fields",
            "sources.disbursements.kind: `monthly` is not a kind",
            "rule.milestones: [1]: `06-31` is not a date",
            "sources.units.columns: `email` is missing",
            "sources.units.columns.mail: not a column of units",
            "alerts.digest_to[0]: `lanhdao at stc.example.gov.vn` is not an email address",
        ] {
            assert!(all.contains(want), "missing {want:?} in\n{all}");
        }
        assert_eq!(errs.len(), 7, "{all}");
    }
}
