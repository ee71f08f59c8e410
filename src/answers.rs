//! Units answer their alerts: each alert carries a link signed for that unit and that alert
//! (HMAC-SHA256 with the key of `[answers]`), valid until the next milestone, to a small form
//! on a listener of its own (never the admin listener). The form shows the unit its own figures
//! only and records its reasons (the code list of `../shared/domain.md`) and its commitments
//! (an amount by a date), once per link. The same answers can come from a job's answers source
//! (the department types in what units wrote in letters), with the same checks.
//!
//! Safe by construction: a link that does not verify is refused without touching the store; a
//! used link is refused (the store's unique link id makes this hold across processes); a POST
//! needs the CSRF token set with the form (cookie and field must agree, `SameSite=Strict`) and an
//! `Origin`, when the browser sends one, of the form's own address; each address is limited to
//! `per_minute` requests.

use crate::clock::Clock;
use crate::config::AnswersConfig;
use crate::money::{
    format_billion, format_date, format_pct_opt, AmountUnit, Language, NumberFormat,
};
use crate::store::{NewAnswer, Store};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use minijinja::{context, Environment};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// A job's language and time zone by name, as the daemon knows them.
pub type Jobs = Arc<dyn Fn(&str) -> Option<(Language, chrono_tz::Tz)> + Send + Sync>;

/// The reasons units give, as codes a department can count: (code, Vietnamese, English).
pub const REASONS: [(&str, &str, &str); 11] = [
    (
        "gpmb",
        "Vướng mắc giải phóng mặt bằng",
        "Site clearance, compensation, resettlement",
    ),
    (
        "thu_tuc",
        "Thủ tục đầu tư, điều chỉnh dự án",
        "Investment procedures, project adjustments",
    ),
    (
        "dau_thau",
        "Lựa chọn nhà thầu",
        "Bidding, contractor selection",
    ),
    ("nha_thau", "Năng lực nhà thầu", "Contractor capacity"),
    (
        "vat_lieu",
        "Giá, nguồn cung vật liệu",
        "Material prices and supply",
    ),
    (
        "thanh_toan",
        "Hồ sơ thanh toán, quyết toán chậm",
        "Slow payment and settlement dossiers",
    ),
    (
        "oda",
        "Thủ tục vốn ODA, vốn vay ưu đãi",
        "ODA and concessional-loan procedures",
    ),
    (
        "chua_phan_bo",
        "Chưa được giao, phân bổ chi tiết vốn",
        "Capital not yet assigned or allocated in detail",
    ),
    (
        "thoi_tiet",
        "Thời tiết, thiên tai",
        "Weather, natural disasters",
    ),
    (
        "sap_xep",
        "Sắp xếp tổ chức bộ máy, đơn vị hành chính",
        "The 2025 reorganisation of units",
    ),
    ("khac", "Khác", "Other"),
];

/// A reason's label in `lang`; the code itself when unknown.
pub fn reason_label(code: &str, lang: Language) -> &str {
    REASONS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, vi, en)| match lang {
            Language::Vi => *vi,
            Language::En => *en,
        })
        .unwrap_or(code)
}

/// The most commitments one answer records, and the longest note.
pub const MAX_COMMITMENTS: usize = 5;
pub const MAX_NOTE_CHARS: usize = 2_000;

/// What a link is for: one unit, one alert, until a moment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Link {
    pub job: String,
    pub unit: String,
    pub plan_year: i32,
    /// The alert's own id: a link answers one alert, once.
    pub id: String,
    /// Unix seconds after which the link no longer opens the form.
    pub expires: i64,
}

/// Why a link is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LinkError {
    #[error("this link is not valid: it was not issued by disbmon or has been altered")]
    Forged,
    #[error("this link expired on {0}; the next alert brings a new one")]
    Expired(String),
    #[error(
        "this link was used on {0}: each alert is answered once; the next alert brings a new link"
    )]
    Used(String),
}

/// Signs and checks answer links.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
    public_url: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("public_url", &self.public_url)
            .finish()
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

impl Signer {
    pub fn new(config: &AnswersConfig) -> Signer {
        Signer {
            key: config.key.expose().as_bytes().to_vec(),
            public_url: config.public_url.clone(),
        }
    }

    fn mac(&self, what: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(what);
        mac
    }

    /// The token of a link: its fields and their signature.
    pub fn token(&self, link: &Link) -> String {
        let payload = serde_json::to_vec(link).unwrap_or_default();
        let sig = self.mac(&payload).finalize().into_bytes();
        format!("{}.{}", B64.encode(&payload), B64.encode(sig))
    }

    /// The address a unit opens.
    pub fn url(&self, link: &Link) -> String {
        format!("{}/a/{}", self.public_url, self.token(link))
    }

    /// The link a token stands for, when disbmon signed it and it has not expired.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Link, LinkError> {
        let (payload, sig) = token.split_once('.').ok_or(LinkError::Forged)?;
        let payload = B64.decode(payload).map_err(|_| LinkError::Forged)?;
        let sig = B64.decode(sig).map_err(|_| LinkError::Forged)?;
        // Constant-time comparison: `verify_slice` does not stop at the first byte that differs.
        self.mac(&payload)
            .verify_slice(&sig)
            .map_err(|_| LinkError::Forged)?;
        let link: Link = serde_json::from_slice(&payload).map_err(|_| LinkError::Forged)?;
        if now.timestamp() > link.expires {
            let at = DateTime::from_timestamp(link.expires, 0).unwrap_or_default();
            return Err(LinkError::Expired(
                at.format("%d/%m/%Y %H:%M UTC").to_string(),
            ));
        }
        Ok(link)
    }

    /// A CSRF token bound to a link: the form's hidden field and its cookie carry it.
    fn csrf(&self, link_id: &str, nonce: &str) -> String {
        let sig = self
            .mac(format!("csrf\n{link_id}\n{nonce}").as_bytes())
            .finalize()
            .into_bytes();
        format!("{nonce}.{}", B64.encode(sig))
    }

    fn csrf_ok(&self, link_id: &str, token: &str) -> bool {
        let Some((nonce, _)) = token.split_once('.') else {
            return false;
        };
        let expected = self.csrf(link_id, nonce);
        expected.len() == token.len()
            && expected
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// A link's id for one alert: the same alert (job, unit, plan year, as-of date, reason) gets the
/// same id, so a run repeated for the same slot sends the same link.
pub fn link_id(job: &str, unit: &str, plan_year: i32, as_of: NaiveDate, reason: &str) -> String {
    use sha2::Digest;
    let digest = Sha256::digest(format!("{job}\n{unit}\n{plan_year}\n{as_of}\n{reason}"));
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// What was answered, checked: reasons from the code list, a note (required with "khac"), and
/// the commitments.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub reasons: Vec<String>,
    pub note: String,
    pub commitments: Vec<(i64, NaiveDate)>,
}

/// One problem with an answer: which field and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub field: String,
    pub problem: String,
}

/// Checks an answer given as text: `reasons` (codes), the note, and commitments as (amount in
/// billion đồng as written, due date as written). The same checks for the form and the source.
pub fn check(
    reasons: &[String],
    note: &str,
    commitments: &[(String, String)],
    plan_year: i32,
    today: NaiveDate,
    (number_format, unit): (NumberFormat, AmountUnit),
    parse_date: &dyn Fn(&str) -> Option<NaiveDate>,
) -> Result<Checked, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut codes: Vec<String> = Vec::new();
    for r in reasons
        .iter()
        .flat_map(|r| r.split([',', ';']))
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        match REASONS.iter().find(|(c, _, _)| *c == r) {
            Some((c, _, _)) if !codes.iter().any(|x| x == c) => codes.push(c.to_string()),
            Some(_) => {}
            None => problems.push(Problem {
                field: "reasons".into(),
                problem: format!(
                    "`{}` is not a reason code; use one of {}",
                    crate::text::truncate(&crate::text::escape(r), 40),
                    REASONS.map(|(c, _, _)| c).join(", ")
                ),
            }),
        }
    }
    if codes.is_empty() && problems.is_empty() {
        problems.push(Problem {
            field: "reasons".into(),
            problem: "give at least one reason".into(),
        });
    }
    // Notes go into emails and pages: control and direction characters out, on one line.
    let note = crate::text::one_line(note.trim());
    let note = note.as_ref();
    if codes.iter().any(|c| c == "khac") && note.is_empty() {
        problems.push(Problem {
            field: "note".into(),
            problem: "with the reason \"khac\" (other), say what it is in the note".into(),
        });
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        problems.push(Problem {
            field: "note".into(),
            problem: format!("the note is longer than {MAX_NOTE_CHARS} characters; shorten it"),
        });
    }
    let given: Vec<&(String, String)> = commitments
        .iter()
        .filter(|(a, d)| !a.trim().is_empty() || !d.trim().is_empty())
        .collect();
    if given.len() > MAX_COMMITMENTS {
        problems.push(Problem {
            field: "commitments".into(),
            problem: format!("at most {MAX_COMMITMENTS} commitments per answer"),
        });
    }
    let last_day = crate::rule::window_end(plan_year);
    let mut checked = Vec::new();
    for (i, (amount, due)) in given.iter().enumerate() {
        let field = |what: &str| format!("commitments[{}].{what}", i + 1);
        let amount = match crate::money::parse_dong(amount, number_format, unit) {
            Ok(a) if a > 0 => Some(a),
            _ => {
                problems.push(Problem {
                    field: field("amount"),
                    problem: format!(
                        "`{}` is not an amount above 0{}; write e.g. 20 or 12,5",
                        crate::text::truncate(&crate::text::escape(amount), 40),
                        match unit {
                            AmountUnit::Billion => " in billion đồng",
                            AmountUnit::Million => " in million đồng",
                            AmountUnit::Thousand => " in thousand đồng",
                            AmountUnit::Dong => " in đồng",
                        }
                    ),
                });
                None
            }
        };
        let due = match parse_date(due.trim()) {
            Some(d) if d >= today && d <= last_day => Some(d),
            Some(_) => {
                problems.push(Problem {
                    field: field("due"),
                    problem: format!(
                        "the date must be from today ({}) to the close of the plan year ({})",
                        format_date(today),
                        format_date(last_day)
                    ),
                });
                None
            }
            None => {
                problems.push(Problem {
                    field: field("due"),
                    problem: format!(
                        "`{}` is not a date; write DD/MM/YYYY",
                        crate::text::truncate(&crate::text::escape(due), 40)
                    ),
                });
                None
            }
        };
        if let (Some(a), Some(d)) = (amount, due) {
            checked.push((a, d));
        }
    }
    match problems.is_empty() {
        true => Ok(Checked {
            reasons: codes,
            note: note.to_string(),
            commitments: checked,
        }),
        false => Err(problems),
    }
}

/// How a commitment stands: the amount promised from the answer, what was disbursed since.
pub fn commitment_line(
    amount: i64,
    due: NaiveDate,
    since: i64,
    as_of: NaiveDate,
    answered: NaiveDate,
    lang: Language,
) -> String {
    let share = (amount > 0).then(|| 100.0 * since as f64 / amount as f64);
    let state = match (since >= amount, as_of > due, lang) {
        (true, _, Language::Vi) => "đã đạt",
        (false, true, Language::Vi) => "quá hạn, chưa đạt",
        (false, false, Language::Vi) => "chưa đến hạn",
        (true, _, Language::En) => "met",
        (false, true, Language::En) => "overdue, not met",
        (false, false, Language::En) => "not yet due",
    };
    match lang {
        Language::Vi => format!(
            "cam kết giải ngân thêm {} tỷ đồng đến {}; từ ngày giải trình ({}) đã giải ngân thêm {} tỷ đồng ({}) — {state}",
            format_billion(amount, lang),
            format_date(due),
            format_date(answered),
            format_billion(since.max(0), lang),
            format_pct_opt(share.map(|s| s.max(0.0)), lang)
        ),
        Language::En => format!(
            "committed {} bn VND more by {}; disbursed {} bn VND since the answer ({}) ({}) — {state}",
            format_billion(amount, lang),
            format_date(due),
            format_billion(since.max(0), lang),
            format_date(answered),
            format_pct_opt(share.map(|s| s.max(0.0)), lang)
        ),
    }
}

/// Rows of one answer: (unit, day, reasons, note).
type AnswerKey = (String, NaiveDate, String, String);

/// A commitment as a row writes it: (amount, due date, row).
type Written = (String, String, u64);

/// The answers of a job's answers source (`[sources.answers]`), checked as the form checks them:
/// rows of one unit with the same day, reasons and note are one answer, each row's amount and
/// due date one of its commitments. Returns the answers to record (each keyed by its content, so
/// a file read again adds nothing) and every row problem, naming row, column and value. Unit ids
/// of merged units count for their successors; "today" is the job's.
#[allow(clippy::too_many_arguments)]
pub fn from_table(
    table: &crate::source::Table,
    source: &crate::job::Source,
    job: &str,
    plan_year: i32,
    disbursed: &std::collections::BTreeMap<String, i64>,
    known: &std::collections::HashSet<&str>,
    successors: &std::collections::BTreeMap<String, String>,
    (now, zone): (DateTime<Utc>, chrono_tz::Tz),
) -> (Vec<NewAnswer>, Vec<crate::ledger::DataIssue>) {
    use crate::ledger::DataIssue;
    use chrono::TimeZone;
    let mut issues = Vec::new();
    let mut reader = match table.records() {
        Ok(r) => r,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let col = |c: &str| table.columns.get(c).copied();
    let header = |c: &str| source.header(c).unwrap_or(c).to_string();
    let today = now.with_timezone(&zone).date_naive();
    let parse_date = |d: &str| NaiveDate::parse_from_str(d, &source.date_format).ok();
    let issue = |row: Option<u64>, column: Option<&str>, value: &str, problem: String| DataIssue {
        source: table.role,
        sheet: table.sheet.clone(),
        row,
        column: column.map(header),
        value: Some(crate::text::truncate(&crate::text::escape(value), 80).into_owned()),
        problem,
    };
    // (unit, day, reasons, note) → its commitments as written, each with its row, and its
    // first row.
    let mut grouped: std::collections::BTreeMap<AnswerKey, (Vec<Written>, u64)> =
        Default::default();
    for (i, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let row = table.row_offset + i as u64 + 1;
                issues.push(issue(
                    Some(row),
                    None,
                    "",
                    format!("this row cannot be read ({e}); fix the file (the row is left out)"),
                ));
                continue;
            }
        };
        let cell = |c: Option<usize>| {
            c.and_then(|c| record.get(c))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let row = table.row_of(&record, i);
        if let Some(y) = col("plan_year") {
            let written = cell(Some(y));
            match written.parse::<i32>() {
                Ok(y) if y == plan_year => {}
                Ok(_) => continue,
                Err(_) => {
                    issues.push(issue(Some(row), Some("plan_year"), &written, "not a year; write the plan year as a number, e.g. 2026 (the answer is left out)".into()));
                    continue;
                }
            }
        }
        let written = cell(col("unit_id"));
        let unit = crate::compute::successor_of(successors, &written).to_string();
        if !known.contains(unit.as_str()) {
            issues.push(issue(
                Some(row),
                Some("unit_id"),
                &written,
                "no such unit in the units source; check the unit id (the answer is left out)"
                    .into(),
            ));
            continue;
        }
        let written = cell(col("date"));
        let day = match parse_date(&written) {
            Some(day) if day <= today => day,
            _ => {
                issues.push(issue(
                    Some(row),
                    Some("date"),
                    &written,
                    format!(
                        "not a date up to today in the format {}; write the day the unit answered (the answer is left out)",
                        source.date_format
                    ),
                ));
                continue;
            }
        };
        let key = (unit, day, cell(col("reasons")), cell(col("note")));
        let entry = grouped.entry(key).or_insert((Vec::new(), row));
        let (amount, due) = (cell(col("amount")), cell(col("due_date")));
        if !amount.is_empty() || !due.is_empty() {
            entry.0.push((amount, due, row));
        }
    }
    let mut answers = Vec::new();
    for ((unit, day, reasons, note), (commitments, row)) in grouped {
        let written: Vec<(String, String)> = commitments
            .iter()
            .map(|(a, d, _)| (a.clone(), d.clone()))
            .collect();
        let checked = check(
            std::slice::from_ref(&reasons),
            &note,
            &written,
            plan_year,
            day,
            (source.number_format, source.amount_unit),
            &parse_date,
        );
        let checked = match checked {
            Ok(c) => c,
            Err(problems) => {
                for p in problems {
                    // "commitments[2].due": the second commitment's row and cell.
                    let nth = p
                        .field
                        .strip_prefix("commitments[")
                        .and_then(|r| r.split(']').next())
                        .and_then(|n| n.parse::<usize>().ok())
                        .and_then(|n| commitments.get(n.wrapping_sub(1)));
                    let (column, value, at) = match (p.field.as_str(), nth) {
                        ("reasons", _) => ("reasons", reasons.as_str(), row),
                        ("note", _) => ("note", note.as_str(), row),
                        (f, Some((_, due, r))) if f.ends_with(".due") => {
                            ("due_date", due.as_str(), *r)
                        }
                        (_, Some((amount, _, r))) => ("amount", amount.as_str(), *r),
                        _ => ("amount", "", row),
                    };
                    issues.push(issue(
                        Some(at),
                        Some(column),
                        value,
                        format!("{} (the answer of {unit} is left out)", p.problem),
                    ));
                }
                continue;
            }
        };
        let commitments = checked.commitments.clone();
        let source_key = {
            use sha2::Digest;
            let text = format!(
                "{job}\n{unit}\n{plan_year}\n{day}\n{}\n{}\n{commitments:?}",
                checked.reasons.join(","),
                checked.note
            );
            Sha256::digest(text)
                .iter()
                .take(16)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        // The day it answered, at the start of that day in the job's zone.
        let received_at = day
            .and_hms_opt(0, 0, 0)
            .and_then(|t| zone.from_local_datetime(&t).earliest())
            .map(|t| t.to_utc())
            .unwrap_or(now);
        answers.push(NewAnswer {
            job: job.to_string(),
            disbursed_then: disbursed.get(&unit).copied().unwrap_or(0),
            unit,
            plan_year,
            via: "source",
            link_id: None,
            source_key: Some(source_key),
            received_at,
            ip: None,
            reasons: checked.reasons,
            note: checked.note,
            commitments,
        });
    }
    (answers, issues)
}

// ---------------------------------------------------------------------------------------------
// The form listener

struct Form {
    store: Arc<Store>,
    signer: Signer,
    clock: Arc<dyn Clock>,
    per_minute: u32,
    /// Requests per key (a link, or an address with a bad link) in the current minute.
    seen: Mutex<Seen>,
    /// The origin units' browsers post from (scheme, host, port of `public_url`).
    origin: String,
    /// `public_url` is https: the cookie is `Secure`.
    secure: bool,
    /// Proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: Vec<IpAddr>,
    templates: Environment<'static>,
    /// Each job's language and zone, as the daemon knows them.
    jobs: Jobs,
}

/// The origin of an address: `https://host:port` without a path.
fn origin_of(url: &str) -> String {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            let host = rest.split('/').next().unwrap_or(rest);
            format!("{}{host}", &url[..i + 3])
        }
        None => url.to_string(),
    }
}

/// Serves the answer form until the listener fails. `language` gives a job's language.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: &AnswersConfig,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    jobs: Jobs,
) {
    let mut templates = Environment::new();
    templates.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    templates
        .add_template(
            "answer.html",
            include_str!("../templates/answers/answer.html"),
        )
        .expect("the embedded answer template parses");
    let state = Arc::new(Form {
        store,
        signer: Signer::new(config),
        clock,
        per_minute: config.per_minute,
        seen: Mutex::new(Seen::default()),
        origin: origin_of(&config.public_url),
        secure: config.public_url.starts_with("https://"),
        trusted_proxies: config.trusted_proxies.clone(),
        templates,
        jobs,
    });
    let app = Router::new()
        .route("/a/{token}", get(open).post(submit))
        // The admin listener's bound: a client that stalls is answered 503 and let go.
        .layer(axum::middleware::from_fn(crate::admin::bounded))
        .with_state(state);
    if let Err(e) = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    {
        tracing::error!("the answers listener stopped: {e}");
    }
}

/// Requests counted in the current minute, by key; emptied when the minute turns.
#[derive(Default)]
struct Seen {
    minute: i64,
    counts: HashMap<String, u32>,
}

/// At most this many keys are counted in a minute; past it, new keys wait for the next minute.
const MAX_KEYS: usize = 100_000;

/// The key an address is counted under: IPv6 by its /64 (one host holds a whole /64), IPv4 (and
/// IPv4-mapped IPv6) by itself.
fn address_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

impl Form {
    /// False when `key` has had `per_minute` requests in this minute already. A unit's link is
    /// counted by itself, so that a flood of bad links from anywhere cannot lock a unit out.
    fn admit(&self, key: &str) -> bool {
        let minute = self.clock.now().timestamp() / 60;
        // A poisoned lock only means a panic elsewhere: the counts are still counts.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.minute != minute {
            seen.minute = minute;
            seen.counts.clear();
        }
        if seen.counts.len() >= MAX_KEYS && !seen.counts.contains_key(key) {
            return false;
        }
        let n = seen.counts.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        *n <= self.per_minute
    }

    /// The client: the peer, or behind a trusted proxy the last address it forwarded for.
    fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.ip().to_canonical();
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .map(|a| a.to_canonical())
            .rfind(|a| !self.trusted_proxies.contains(a))
            .unwrap_or(peer)
    }

    /// The job's zone, for "today" and the times shown.
    fn zone(&self, link: &Link) -> chrono_tz::Tz {
        (self.jobs)(&link.job)
            .map(|(_, z)| z)
            .unwrap_or(chrono_tz::Asia::Ho_Chi_Minh)
    }

    fn page(
        &self,
        status: StatusCode,
        lang: Language,
        ctx: minijinja::Value,
        cookie: Option<String>,
    ) -> Response {
        let body = self
            .templates
            .get_template("answer.html")
            // The page's three forms (refused, done, the form) each set their own flag.
            .and_then(|t| {
                // Later maps win: the page's own values over the defaults.
                t.render(minijinja::value::merge_maps([
                    context! { refused => (), done => false },
                    context! { lang => lang.code(), vi => lang == Language::Vi },
                    ctx,
                ]))
            })
            .unwrap_or_else(|e| format!("the answer page could not be rendered: {e}"));
        let mut headers = HeaderMap::new();
        let set = |h: &mut HeaderMap, k: header::HeaderName, v: &str| {
            if let Ok(v) = v.parse() {
                h.insert(k, v);
            }
        };
        set(
            &mut headers,
            header::CONTENT_TYPE,
            "text/html; charset=utf-8",
        );
        set(&mut headers, header::CACHE_CONTROL, "no-store");
        // The link is a credential: it must not leak to another site through the Referer.
        // ("no-referrer" would also make the browser send `Origin: null` with the form.)
        set(&mut headers, header::REFERRER_POLICY, "same-origin");
        set(&mut headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        set(
            &mut headers,
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        );
        if let Some(c) = cookie {
            set(&mut headers, header::SET_COOKIE, &c);
        }
        (status, headers, body).into_response()
    }

    fn refused(&self, status: StatusCode, lang: Language, why: &str) -> Response {
        self.page(status, lang, context! { refused => why }, None)
    }

    /// The link, checked: signed, not expired, not used.
    fn link(&self, token: &str) -> Result<Link, (StatusCode, LinkError)> {
        let link = self
            .signer
            .verify(token, self.clock.now())
            .map_err(|e| match e {
                LinkError::Expired(_) => (StatusCode::GONE, e),
                _ => (StatusCode::FORBIDDEN, e),
            })?;
        match self.store.link_used(&link.id) {
            Ok(Some(at)) => Err((
                StatusCode::CONFLICT,
                LinkError::Used(
                    at.with_timezone(&self.zone(&link))
                        .format("%d/%m/%Y %H:%M")
                        .to_string(),
                ),
            )),
            _ => Ok(link),
        }
    }

    fn language(&self, link: Option<&Link>) -> Language {
        link.and_then(|l| (self.jobs)(&l.job))
            .map(|(lang, _)| lang)
            .unwrap_or_default()
    }

    /// The unit's own figures in the link's plan year, from the latest run that measured it:
    /// nothing about any other unit. None before any run did (then there is nothing to answer
    /// against).
    fn figures(&self, link: &Link, lang: Language) -> Option<(String, minijinja::Value, i64)> {
        let (as_of, f) = self
            .store
            .unit_figures(&link.job, &link.unit, link.plan_year)
            .ok()
            .flatten()?;
        let name = self
            .store
            .unit_detail(&link.job, &link.unit)
            .ok()
            .flatten()
            .map(|d| d.name)
            .unwrap_or_else(|| link.unit.clone());
        let figures = context! {
            as_of => format_date(as_of),
            plan => format_billion(f.plan, lang),
            disbursed => format_billion(f.disbursed, lang),
            rate => format_pct_opt(f.rate, lang),
            expected => crate::money::format_pct(f.expected, lang),
        };
        Some((name, context! { figures }, f.disbursed))
    }

    fn form(
        &self,
        link: &Link,
        token: &str,
        lang: Language,
        problems: &[Problem],
        given: Option<&Given>,
    ) -> Response {
        let nonce: String = {
            let mut b = [0u8; 16];
            if getrandom::getrandom(&mut b).is_err() {
                return self.refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    lang,
                    "no randomness available; try again",
                );
            }
            b.iter().map(|x| format!("{x:02x}")).collect()
        };
        let csrf = self.signer.csrf(&link.id, &nonce);
        let Some((name, figures, _)) = self.figures(link, lang) else {
            return self.refused(
                StatusCode::SERVICE_UNAVAILABLE,
                lang,
                "this unit's figures are not available yet; try again later",
            );
        };
        let reasons: Vec<minijinja::Value> = REASONS
            .iter()
            .map(|(code, vi, en)| {
                context! {
                    code,
                    label => if lang == Language::Vi { *vi } else { *en },
                    checked => given.is_some_and(|g| g.reasons.iter().any(|r| r == code)),
                }
            })
            .collect();
        let commitments: Vec<minijinja::Value> = (0..MAX_COMMITMENTS)
            .map(|i| {
                let (a, d) = given
                    .and_then(|g| g.commitments.get(i).cloned())
                    .unwrap_or_default();
                context! { n => i + 1, amount => a, due => d }
            })
            .collect();
        // One cookie per link, so that two forms open side by side do not undo each other.
        let cookie = format!(
            "{}={csrf}; Path=/a/; HttpOnly; SameSite=Strict; Max-Age=7200{}",
            cookie_name(&link.id),
            if self.secure { "; Secure" } else { "" }
        );
        self.page(
            if problems.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY },
            lang,
            context! {
                form => true,
                name,
                unit => link.unit.clone(),
                plan_year => link.plan_year,
                action => format!("/a/{token}"),
                csrf,
                reasons,
                commitments,
                note => given.map(|g| g.note.clone()).unwrap_or_default(),
                problems => problems.iter().map(|p| format!("{}: {}", p.field, p.problem)).collect::<Vec<_>>(),
                ..figures
            },
            Some(cookie),
        )
    }
}

/// What the form sent.
#[derive(Debug, Default)]
struct Given {
    reasons: Vec<String>,
    note: String,
    commitments: Vec<(String, String)>,
    csrf: String,
}

/// The CSRF cookie of one link.
fn cookie_name(link_id: &str) -> String {
    format!("disbmon_csrf_{link_id}")
}

/// The link of a request, once it is admitted: a valid link counts against itself, a bad one
/// against its sender's address.
fn admitted(
    f: &Form,
    token: &str,
    addr: SocketAddr,
    headers: &HeaderMap,
) -> Result<Link, Box<Response>> {
    let ip = f.client(addr, headers);
    let checked = f.link(token);
    let key = match &checked {
        Ok(link) => format!("link:{}", link.id),
        Err(_) => address_key(ip),
    };
    if !f.admit(&key) {
        return Err(Box::new(too_many()));
    }
    checked.map_err(|(status, e)| Box::new(f.refused(status, f.language(None), &e.to_string())))
}

async fn open(
    State(f): State<Arc<Form>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    match admitted(&f, &token, addr, &headers) {
        Ok(link) => {
            let lang = f.language(Some(&link));
            f.form(&link, &token, lang, &[], None)
        }
        Err(refused) => *refused,
    }
}

fn too_many() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, "60")],
        "too many requests from this address; wait a minute and try again\n",
    )
        .into_response()
}

async fn submit(
    State(f): State<Arc<Form>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let ip = f.client(addr, &headers);
    let link = match admitted(&f, &token, addr, &headers) {
        Ok(l) => l,
        Err(refused) => return *refused,
    };
    let lang = f.language(Some(&link));
    // A browser says where a POST comes from; only the form's own address (`public_url`) is ours.
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if !origin.eq_ignore_ascii_case(&f.origin) {
            return f.refused(StatusCode::FORBIDDEN, lang, "this form was sent from another site; open the link from your email and send the form from there");
        }
    }
    let mut given = Given::default();
    let mut amounts: HashMap<usize, (String, String)> = HashMap::new();
    if body.len() > 64 * 1024 {
        return f.refused(StatusCode::PAYLOAD_TOO_LARGE, lang, "the form is too large");
    }
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "reason" => given.reasons.push(v.into_owned()),
            "note" => given.note = v.into_owned(),
            "csrf" => given.csrf = v.into_owned(),
            other => {
                if let Some((what, n)) = other.split_once('_') {
                    if let Ok(n) = n.parse::<usize>() {
                        if (1..=MAX_COMMITMENTS).contains(&n) {
                            let e = amounts.entry(n).or_default();
                            match what {
                                "amount" => e.0 = v.into_owned(),
                                "due" => e.1 = v.into_owned(),
                                _ => {}
                            }
                        }
                    }
                }
            }
        }
    }
    let mut keys: Vec<usize> = amounts.keys().copied().collect();
    keys.sort();
    given.commitments = keys
        .into_iter()
        .filter_map(|k| amounts.remove(&k))
        .collect();
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|c| c.to_str().ok())
        .flat_map(|c| c.split(';'))
        .filter_map(|c| {
            c.trim()
                .strip_prefix(&cookie_name(&link.id))
                .and_then(|c| c.strip_prefix('='))
        })
        .next()
        .unwrap_or("");
    if given.csrf.is_empty() || cookie != given.csrf || !f.signer.csrf_ok(&link.id, &given.csrf) {
        return f.refused(StatusCode::FORBIDDEN, lang, "the form's security token is missing or does not match (the page may be too old, or cookies are off): open the link from your email again");
    }
    let today = f.clock.now().with_timezone(&f.zone(&link)).date_naive();
    let format = match lang {
        Language::Vi => NumberFormat::Vi,
        Language::En => NumberFormat::Plain,
    };
    let parse_date = |d: &str| {
        NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(d, "%d/%m/%Y"))
            .ok()
    };
    let checked = match check(
        &given.reasons,
        &given.note,
        &given.commitments,
        link.plan_year,
        today,
        (format, AmountUnit::Billion),
        &parse_date,
    ) {
        Ok(c) => c,
        Err(problems) => return f.form(&link, &token, lang, &problems, Some(&given)),
    };
    let Some((name, figures, disbursed)) = f.figures(&link, lang) else {
        return f.refused(
            StatusCode::SERVICE_UNAVAILABLE,
            lang,
            "this unit's figures are not available yet; try again later",
        );
    };
    let answer = NewAnswer {
        job: link.job.clone(),
        unit: link.unit.clone(),
        plan_year: link.plan_year,
        via: "form",
        link_id: Some(link.id.clone()),
        source_key: None,
        received_at: f.clock.now(),
        ip: Some(ip.to_string()),
        reasons: checked.reasons.clone(),
        note: checked.note.clone(),
        disbursed_then: disbursed,
        commitments: checked.commitments.clone(),
    };
    match f.store.record_answer(&answer) {
        Ok(Some(_)) => {
            tracing::info!(job = %link.job, unit = %link.unit, link = %link.id, %ip, "answer recorded");
            f.page(
                StatusCode::OK,
                lang,
                context! {
                    done => true,
                    name,
                    unit => link.unit.clone(),
                    plan_year => link.plan_year,
                    recorded_reasons => checked.reasons.iter().map(|r| reason_label(r, lang)).collect::<Vec<_>>(),
                    note => checked.note,
                    recorded_commitments => checked.commitments.iter().map(|(a, d)| format!("{} tỷ đồng – {}", format_billion(*a, lang), format_date(*d))).collect::<Vec<_>>(),
                    ..figures
                },
                None,
            )
        }
        // Another request used the link first.
        Ok(None) => f.refused(
            StatusCode::CONFLICT,
            lang,
            &LinkError::Used(f.clock.now().format("%d/%m/%Y").to_string()).to_string(),
        ),
        Err(e) => {
            tracing::error!("cannot record an answer: {e}");
            f.refused(
                StatusCode::SERVICE_UNAVAILABLE,
                lang,
                "the answer could not be recorded; try again in a few minutes",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer {
            key: b"0123456789abcdef0123456789abcdef".to_vec(),
            public_url: "https://giaingan.example.gov.vn".into(),
        }
    }

    fn link(expires: i64) -> Link {
        Link {
            job: "sample".into(),
            unit: "SXD".into(),
            plan_year: 2026,
            id: "abc".into(),
            expires,
        }
    }

    #[test]
    fn a_signed_link_verifies_and_any_change_or_the_wrong_key_is_forged() {
        let s = signer();
        let now = DateTime::from_timestamp(1_000, 0).unwrap();
        let token = s.token(&link(2_000));
        assert_eq!(s.verify(&token, now).unwrap(), link(2_000));
        // Another unit's link, signed with the right key, is a different token.
        let mut other = link(2_000);
        other.unit = "SYT".into();
        let (payload, sig) = token.split_once('.').unwrap();
        let swapped = format!("{}.{sig}", B64.encode(serde_json::to_vec(&other).unwrap()));
        assert_eq!(s.verify(&swapped, now), Err(LinkError::Forged));
        assert_eq!(
            s.verify(&format!("{payload}.AAAA"), now),
            Err(LinkError::Forged)
        );
        assert_eq!(s.verify("garbage", now), Err(LinkError::Forged));
        let mut wrong = signer();
        wrong.key = b"another key another key another k".to_vec();
        assert_eq!(wrong.verify(&token, now), Err(LinkError::Forged));
        let late = DateTime::from_timestamp(2_001, 0).unwrap();
        assert!(matches!(s.verify(&token, late), Err(LinkError::Expired(_))));
    }

    #[test]
    fn answers_are_checked_alike_whatever_brings_them() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let date = |d: &str| NaiveDate::parse_from_str(d, "%d/%m/%Y").ok();
        let ok = check(
            &["gpmb; dau_thau".into(), "gpmb".into()],
            "",
            &[
                ("20".into(), "15/11/2026".into()),
                (String::new(), String::new()),
            ],
            2026,
            today,
            (NumberFormat::Vi, AmountUnit::Billion),
            &date,
        )
        .unwrap();
        assert_eq!(ok.reasons, vec!["gpmb", "dau_thau"]);
        assert_eq!(
            ok.commitments,
            vec![(20_000_000_000, date("15/11/2026").unwrap())]
        );
        let bad = check(
            &["khac".into(), "<script>".into()],
            "",
            &[("-3".into(), "01/01/2020".into())],
            2026,
            today,
            (NumberFormat::Vi, AmountUnit::Billion),
            &date,
        )
        .unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "reasons",
                "note",
                "commitments[1].amount",
                "commitments[1].due"
            ]
        );
    }
}
