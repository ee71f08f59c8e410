//! Pulling a job's sources: fetches each one (HTTP or file) and turns it into a [`Table`] — a CSV
//! file on disk with its header checked against the job's column mapping. The only module that knows
//! upstream formats: JSON records are rewritten as CSV here, so `compute` reads one shape.

mod blank;
mod xlsx;

pub use blank::is_blank;

/// An Excel date serial in a strftime format; None when it is not a date Excel can hold.
pub use xlsx::serial_text as excel_date;

use crate::base::clock::Clock;
use crate::config::job::{Auth, Format, Location, Source};
use crate::domain::issue::{DataIssue, IssueList, SourceRole};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A source ready to be read: a CSV file whose header has been checked.
#[derive(Debug)]
pub struct Table {
    pub role: SourceRole,
    /// Where it came from (URL or path), for messages.
    pub origin: String,
    pub path: PathBuf,
    pub delimiter: u8,
    pub headers: Vec<String>,
    /// Canonical column → its position in the table.
    pub columns: BTreeMap<String, usize>,
    /// How rows are numbered in messages: spreadsheet row (header = 1) for CSV, record for JSON.
    pub row_offset: u64,
    /// Excel: the worksheet read.
    pub sheet: Option<String>,
    /// Excel: the column holding each row's own number in the worksheet.
    pub row_column: Option<usize>,
    /// Excel: rows skipped as not data (numbering row, group headings, totals).
    pub not_data: u64,
    /// HTTP: when the server says the data last changed.
    pub last_modified: Option<DateTime<Utc>>,
    _temp: Option<tempfile::TempPath>,
}

impl Table {
    /// The table's rows, read as text records (for the small side sources read outside
    /// `compute`: the plans' need column, the answers).
    /// A blank line is a record here too (see [`is_blank`]), so that a record's index is its row.
    pub fn records(&self) -> Result<csv::Reader<impl std::io::Read>, DataIssue> {
        let file = std::fs::File::open(&self.path).map_err(|e| {
            DataIssue::whole(self.role, format!("cannot read {}: {e}", self.origin))
        })?;
        Ok(csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .flexible(true)
            .from_reader(blank::KeepBlank::new(file)))
    }

    /// The number a person finds record `index` (from 0) under: the worksheet's own row for
    /// Excel, else the file's row (the header is row 1) or record.
    pub fn row_of(&self, record: &csv::StringRecord, index: usize) -> u64 {
        self.row_column
            .and_then(|c| record.get(c))
            .and_then(|r| r.trim().parse().ok())
            .unwrap_or(self.row_offset + index as u64 + 1)
    }

    /// The same table's columns over other rows: `file` holds this table's header line and then
    /// the rows (rows appended to a source since its last run).
    pub fn with_rows(&self, file: tempfile::TempPath) -> Table {
        Table {
            role: self.role,
            origin: self.origin.clone(),
            path: file.to_path_buf(),
            delimiter: self.delimiter,
            headers: self.headers.clone(),
            columns: self.columns.clone(),
            row_offset: self.row_offset,
            sheet: self.sheet.clone(),
            row_column: self.row_column,
            not_data: 0,
            last_modified: self.last_modified,
            _temp: Some(file),
        }
    }

    /// The source's own header for a canonical column.
    pub fn header(&self, canonical: &str) -> Option<&str> {
        self.columns
            .get(canonical)
            .map(|i| self.headers[*i].as_str())
    }
}

/// A job's three sources, pulled and checked, with the temporary folder their downloads live in.
#[derive(Debug)]
pub struct Tables {
    pub units: Table,
    pub plans: Table,
    pub disbursements: Table,
    _tmp: tempfile::TempDir,
}

impl Tables {
    pub fn all(&self) -> [&Table; 3] {
        [&self.units, &self.plans, &self.disbursements]
    }
}

/// Why no source could be pulled at all: the machine, not the data.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "cannot create a temporary folder for downloads: {0}; check TMPDIR and free disk space"
    )]
    TempDir(std::io::Error),
    #[error("cannot set up the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Pulls a job's three sources at once. `Ok(Err(issues))`: a source could not be read (each
/// problem named); `Err`: nothing could be tried.
pub async fn pull_all(
    job: &crate::config::job::Job,
    cache: Option<&Path>,
    clock: &dyn Clock,
) -> Result<Result<Tables, Vec<DataIssue>>, SetupError> {
    let tmp = tempfile::tempdir().map_err(SetupError::TempDir)?;
    let clients = Clients::new()?;
    let (units, plans, disbursements) = tokio::join!(
        pull(&job.units, &clients, tmp.path(), cache, clock),
        pull(&job.plans, &clients, tmp.path(), cache, clock),
        pull(&job.disbursements, &clients, tmp.path(), cache, clock),
    );
    Ok(match (units, plans, disbursements) {
        (Ok(units), Ok(plans), Ok(disbursements)) => Ok(Tables {
            units,
            plans,
            disbursements,
            _tmp: tmp,
        }),
        (u, p, d) => Err([u.err(), p.err(), d.err()]
            .into_iter()
            .flatten()
            .flatten()
            .collect()),
    })
}

/// The HTTP clients sources are fetched with. A source with credentials uses its own client,
/// which follows a redirect only within the same origin (scheme, host and port): reqwest drops
/// only `Authorization` and `Cookie` when a redirect leaves the origin, and an `auth.header`
/// (an API key) would go along to whatever host the server names.
///
/// Each is made when a source first asks for it: making one loads the system's root
/// certificates, a twentieth of a run whose sources are files.
pub struct Clients {
    open: std::sync::OnceLock<reqwest::Client>,
    with_credentials: std::sync::OnceLock<reqwest::Client>,
}

impl Clients {
    pub fn new() -> Result<Clients, SetupError> {
        Ok(Clients {
            open: std::sync::OnceLock::new(),
            with_credentials: std::sync::OnceLock::new(),
        })
    }

    fn made(credentials: bool) -> Result<reqwest::Client, SetupError> {
        // rustls with ring for every HTTPS source; installed once per process (a second call
        // finds it installed and changes nothing).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let agent = concat!("disbmon/", env!("CARGO_PKG_VERSION"));
        let same_origin = reqwest::redirect::Policy::custom(|attempt| {
            let first = attempt.previous().first().cloned();
            match first {
                Some(from) if attempt.url().origin() != from.origin() => {
                    let to = crate::base::text::redact_url(attempt.url().as_str());
                    attempt.error(format!(
                        "the server redirects to {to}, another origin; a source with auth follows redirects only within its own scheme, host and port, so that its credentials go nowhere else — point sources.*.location at the final address"
                    ))
                }
                _ if attempt.previous().len() >= 10 => attempt.error("more than 10 redirects"),
                _ => attempt.follow(),
            }
        });
        let builder = match credentials {
            true => reqwest::Client::builder().redirect(same_origin),
            false => reqwest::Client::builder(),
        };
        builder.user_agent(agent).build().map_err(SetupError::Http)
    }

    fn for_source(&self, source: &Source) -> Result<&reqwest::Client, SetupError> {
        let credentials = source.auth.is_some();
        let cell = match credentials {
            true => &self.with_credentials,
            false => &self.open,
        };
        if let Some(client) = cell.get() {
            return Ok(client);
        }
        // Two sources asking at once may both make one: the second is dropped.
        let made = Clients::made(credentials)?;
        Ok(cell.get_or_init(|| made))
    }
}

/// Fetches and checks one source. `tmp` is where downloads and converted JSON are written.
/// `cache` keeps the last copy of HTTP sources for conditional requests.
pub async fn pull(
    source: &Source,
    clients: &Clients,
    tmp: &Path,
    cache: Option<&Path>,
    clock: &dyn Clock,
) -> Result<Table, Vec<DataIssue>> {
    let role = source.role;
    let origin = source.location.to_string();
    let mut last_modified = None;
    let (path, temp) = match &source.location {
        Location::File(p) => {
            if !p.is_file() {
                return Err(vec![DataIssue::whole(
                    role,
                    format!(
                        "file not found: {}; check sources.{role}.location (relative paths are read from the job file's folder)",
                        p.display()
                    ),
                )]);
            }
            (p.clone(), None)
        }
        Location::Url(url) => {
            let client = clients
                .for_source(source)
                .map_err(|e| vec![DataIssue::whole(role, e.to_string())])?;
            let got = download(client, url, source, tmp, cache, clock)
                .await
                .map_err(|e| vec![DataIssue::whole(role, e.to_string())])?;
            last_modified = got.last_modified;
            (got.file.to_path_buf(), Some(got.file))
        }
    };
    let mut excel = None;
    let mut json_keys = None;
    let (path, temp, delimiter, row_offset) = match source.format {
        Format::Csv => (path, temp, source.delimiter, 1),
        Format::Json => {
            let wanted: Vec<&str> = source.columns.values().map(|h| h.trim()).collect();
            let (converted, keys) = json_to_csv(
                &path,
                role,
                &origin,
                (source.records.as_deref(), &wanted),
                tmp,
            )?;
            json_keys = Some(keys);
            (converted.to_path_buf(), Some(converted), b',', 0)
        }
        Format::Xlsx => {
            let converted = xlsx::to_csv(&path, source, &origin, tmp)?;
            let file = converted.file.to_path_buf();
            excel = Some((converted.sheet, converted.not_data));
            (file, Some(converted.file), b',', 0)
        }
    };
    let headers = read_header(&path, delimiter)
        .map_err(|e| vec![DataIssue::whole(role, format!("{origin}: {e}"))])?;
    let mut columns = BTreeMap::new();
    let mut issues = Vec::new();
    for (canonical, wanted) in &source.columns {
        let found: Vec<usize> = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| h.trim() == wanted.trim())
            .map(|(i, _)| i)
            .collect();
        match found.as_slice() {
            [i] => {
                columns.insert(canonical.clone(), *i);
            }
            [] => issues.push(DataIssue {
                source: role,
                sheet: None,
                row: Some(1),
                column: Some(wanted.clone()),
                value: None,
                problem: format!(
                    "{origin} has no column `{wanted}` (mapped to {canonical}); its headers are: {}; fix sources.{role}.columns.{canonical}",
                    crate::base::text::list_capped(json_keys.as_deref().unwrap_or(&headers), 30)
                ),
            }),
            _ => issues.push(DataIssue {
                source: role,
                sheet: None,
                row: Some(1),
                column: Some(wanted.clone()),
                value: None,
                problem: format!("{origin} has {} columns headed `{wanted}`; rename them so that one is unambiguous", found.len()),
            }),
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    let row_column = excel.as_ref().map(|_| headers.len() - 1);
    let (sheet, not_data) = excel.map(|(s, n)| (Some(s), n)).unwrap_or((None, 0));
    Ok(Table {
        role,
        origin,
        path,
        delimiter,
        headers,
        columns,
        row_offset,
        sheet,
        row_column,
        not_data,
        last_modified,
        _temp: temp,
    })
}

/// What a download left on disk, and when the server says the data last changed.
struct Downloaded {
    file: tempfile::TempPath,
    last_modified: Option<DateTime<Utc>>,
}

/// The validators of the last copy of a source kept in the cache.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct CacheMeta {
    etag: Option<String>,
    last_modified: Option<String>,
}

/// The wait a server asks for (`Retry-After`: seconds or an HTTP date), at most 5 minutes.
fn retry_after(resp: &reqwest::Response, now: DateTime<Utc>) -> Option<std::time::Duration> {
    let v = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .to_string();
    let wait = match v.parse::<u64>() {
        Ok(secs) => std::time::Duration::from_secs(secs),
        Err(_) => (DateTime::parse_from_rfc2822(&v).ok()?.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or_default(),
    };
    Some(wait.min(std::time::Duration::from_secs(300)))
}

/// Why an HTTP source could not be downloaded.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("cannot fetch {url} from {host}: {why}; check that the server is up and sources.{role}.location is right")]
    Unreachable {
        url: String,
        host: String,
        role: SourceRole,
        why: String,
    },
    #[error("sources.{role}.auth: {source}")]
    Secret {
        role: SourceRole,
        source: crate::config::job::SecretError,
    },
    #[error("{url} answered HTTP {status}; check sources.{role}.location{hint}, or ask the publisher of {host} why")]
    Status {
        url: String,
        host: String,
        role: SourceRole,
        status: reqwest::StatusCode,
        hint: String,
    },
    #[error("{url} sends more than sources.{role}.max_bytes ({limit} bytes); raise the limit if the file is really that large")]
    TooLarge {
        url: String,
        role: SourceRole,
        limit: u64,
    },
    #[error("{what}: {source}")]
    Local {
        what: String,
        source: std::io::Error,
    },
}

async fn download(
    client: &reqwest::Client,
    url: &str,
    source: &Source,
    tmp: &Path,
    cache: Option<&Path>,
    clock: &dyn Clock,
) -> Result<Downloaded, FetchError> {
    let role = source.role;
    // The address as it may be shown: a token in the query or the user info stays secret.
    let shown = crate::base::text::redact_url(url);
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                format!(
                    "{h}{}",
                    u.port().map(|p| format!(":{p}")).unwrap_or_default()
                )
            })
        })
        .unwrap_or_else(|| shown.clone());
    let describe = |e: &reqwest::Error| {
        if e.is_timeout() {
            format!("no answer within {} s", source.timeout.as_secs())
        } else if e.is_connect() {
            "cannot connect (connection refused or host unreachable)".to_string()
        } else {
            // reqwest names the URL in its errors, query and all: the redacted one is named instead.
            let mut msg = e.to_string();
            if let Some(u) = e.url() {
                msg = msg.replace(u.as_str(), &crate::base::text::redact_url(u.as_str()));
            }
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                msg = format!("{msg}: {c}");
                cause = c.source();
            }
            msg
        }
    };
    let fetch_failed = |why: String| FetchError::Unreachable {
        url: shown.clone(),
        host: host.clone(),
        role,
        why,
    };
    let secret = |source| FetchError::Secret { role, source };
    let local = |what: String| move |source| FetchError::Local { what, source };
    // Keyed by the URL: a job whose source moves never gets the old address's copy.
    let key = format!("{role}-{:016x}", crate::base::text::fnv1a(url.as_bytes()));
    let (body_path, meta_path) = match cache {
        Some(dir) => (
            Some(dir.join(format!("{key}.body"))),
            Some(dir.join(format!("{key}.json"))),
        ),
        None => (None, None),
    };
    let meta: CacheMeta = meta_path
        .as_ref()
        .filter(|_| body_path.as_ref().is_some_and(|b| b.is_file()))
        .and_then(|m| std::fs::read_to_string(m).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut attempt = 0;
    let mut response = loop {
        attempt += 1;
        let mut request = client.get(url).timeout(source.timeout);
        if let Some(etag) = &meta.etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &meta.last_modified {
            request = request.header(reqwest::header::IF_MODIFIED_SINCE, lm);
        }
        request = match &source.auth {
            None => request,
            Some(Auth::Bearer(token)) => request.bearer_auth(token.read().map_err(secret)?),
            Some(Auth::Basic { username, password }) => request.basic_auth(
                username.read().map_err(secret)?,
                Some(password.read().map_err(secret)?),
            ),
            Some(Auth::Header { name, value }) => {
                request.header(name.as_str(), value.read().map_err(secret)?)
            }
        };
        let last_try = attempt > source.http_retries;
        let backoff = std::time::Duration::from_secs(1 << (attempt - 1).min(5));
        match request.send().await {
            Err(e) if !last_try && (e.is_timeout() || e.is_connect() || e.is_request()) => {
                tracing::warn!(source = %role, "{}; trying again in {} s", fetch_failed(describe(&e)), backoff.as_secs());
                tokio::time::sleep(backoff).await;
            }
            Err(e) => return Err(fetch_failed(describe(&e))),
            Ok(resp) => {
                let status = resp.status();
                let retryable =
                    status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                if retryable && !last_try {
                    let wait = retry_after(&resp, clock.now()).unwrap_or(backoff);
                    tracing::warn!(source = %role, "{shown} answered HTTP {status}; trying again in {} s{}", wait.as_secs(), if resp.headers().contains_key(reqwest::header::RETRY_AFTER) { " as it asked (Retry-After)" } else { "" });
                    tokio::time::sleep(wait).await;
                    continue;
                }
                break resp;
            }
        }
    };
    let status = response.status();
    let header = |r: &reqwest::Response, h: reqwest::header::HeaderName| {
        r.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let parse_lm = |v: &Option<String>| {
        v.as_deref()
            .and_then(|s| DateTime::parse_from_rfc2822(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let file = tempfile::NamedTempFile::new_in(tmp)
        .map_err(local(format!("cannot create a file in {}", tmp.display())))?;
    if status == reqwest::StatusCode::NOT_MODIFIED {
        if let Some(body) = &body_path {
            // Unchanged since the copy in the cache: it is read instead of downloaded again.
            std::fs::copy(body, file.path())
                .map_err(local(format!("cannot read the cached copy of {shown}")))?;
            tracing::info!(source = %role, "{shown} is unchanged (HTTP 304); using the cached copy");
            return Ok(Downloaded {
                file: file.into_temp_path(),
                last_modified: parse_lm(&meta.last_modified),
            });
        }
    }
    if !status.is_success() {
        let auth = source.auth.is_some()
            || status == reqwest::StatusCode::UNAUTHORIZED
            || status == reqwest::StatusCode::FORBIDDEN;
        return Err(FetchError::Status {
            url: shown.clone(),
            host,
            role,
            status,
            hint: if auth {
                format!(" and sources.{role}.auth")
            } else {
                String::new()
            },
        });
    }
    if response
        .content_length()
        .is_some_and(|n| n > source.max_bytes)
    {
        return Err(FetchError::TooLarge {
            url: shown.clone(),
            role,
            limit: source.max_bytes,
        });
    }
    let etag = header(&response, reqwest::header::ETAG);
    let last_modified = header(&response, reqwest::header::LAST_MODIFIED);
    let mut file = file;
    let mut size: u64 = 0;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fetch_failed(describe(&e)))?
    {
        size += chunk.len() as u64;
        if size > source.max_bytes {
            return Err(FetchError::TooLarge {
                url: shown.clone(),
                role,
                limit: source.max_bytes,
            });
        }
        file.write_all(&chunk)
            .map_err(local(format!("cannot write the download of {shown}")))?;
    }
    file.flush()
        .map_err(local(format!("cannot write the download of {shown}")))?;
    if let (Some(body), Some(meta_path)) = (&body_path, &meta_path) {
        if etag.is_some() || last_modified.is_some() {
            // Written aside and renamed into place: a crash or a second process never leaves a
            // body that does not match its validators.
            let meta = serde_json::to_string(&CacheMeta {
                etag,
                last_modified: last_modified.clone(),
            })
            .unwrap_or_default();
            let saved = crate::base::files::private_dir(body.parent().unwrap_or(Path::new(".")))
                .and_then(|_| {
                    crate::base::files::replace_file(body, |w| {
                        std::io::copy(&mut std::fs::File::open(file.path())?, w).map(|_| ())
                    })
                })
                .and_then(|_| {
                    crate::base::files::replace_file(meta_path, |w| w.write_all(meta.as_bytes()))
                });
            if let Err(e) = saved {
                tracing::warn!(source = %role, "cannot keep a copy of {shown} in the cache: {e}");
            }
        }
    }
    Ok(Downloaded {
        file: file.into_temp_path(),
        last_modified: parse_lm(&last_modified),
    })
}

/// A table file whose header row cannot be read.
#[derive(Debug, thiserror::Error)]
enum HeaderError {
    #[error("cannot read: {0}")]
    Open(csv::Error),
    #[error("the file is empty; expected a header row and data")]
    Empty,
    #[error("cannot read the header row: {0}; the file must be UTF-8 CSV")]
    Unreadable(csv::Error),
}

fn read_header(path: &Path, delimiter: u8) -> Result<Vec<String>, HeaderError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(HeaderError::Open)?;
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Err(HeaderError::Empty),
        Err(e) => return Err(HeaderError::Unreadable(e)),
    }
    Ok(record
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if i == 0 {
                h.trim_start_matches('\u{feff}').to_string()
            } else {
                h.to_string()
            }
        })
        .collect())
}

/// The column of a converted JSON source that says a record holds keys the job does not read:
/// such a record is not blank, even when every key the job reads is missing from it.
const OTHER_KEYS: &str = "(other keys)";

/// Rewrites a JSON array of flat objects as CSV, keeping numbers exactly as written: a column per
/// key the job reads (`wanted`), in order of first appearance, and [`OTHER_KEYS`]. Only those:
/// records that each bring a key of their own would otherwise make a table of records × keys
/// (quadratic). Returns the file and every key found, in order (for messages).
fn json_to_csv(
    path: &Path,
    role: SourceRole,
    origin: &str,
    (records, wanted): (Option<&str>, &[&str]),
    tmp: &Path,
) -> Result<(tempfile::TempPath, Vec<String>), Vec<DataIssue>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![DataIssue::whole(
            role,
            format!("{origin}: cannot read: {e}"),
        )]
    })?;
    let value: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| {
            vec![DataIssue::whole(
                role,
                format!(
                    "{origin} is not valid JSON: {e} (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )]
        })?;
    // The records may sit inside the document, e.g. {"data": {"items": [...]}} with records = "data.items".
    let mut value = value;
    if let Some(path) = records {
        for key in path.split('.').filter(|k| !k.is_empty()) {
            value = match value {
                serde_json::Value::Object(mut map) => map.remove(key).ok_or_else(|| {
                    vec![DataIssue::whole(role, format!("{origin} has no `{key}` on the path `{path}`; fix sources.{role}.records"))]
                })?,
                _ => {
                    return Err(vec![DataIssue::whole(
                        role,
                        format!("{origin}: `{path}` does not lead to the records; fix sources.{role}.records"),
                    )])
                }
            };
        }
    }
    let serde_json::Value::Array(records) = value else {
        return Err(vec![DataIssue::whole(
            role,
            format!("{origin}: expected a JSON array of records ([{{...}}, ...]); if they sit inside the document, set sources.{role}.records"),
        )]);
    };
    // Keys in order of first appearance, found in one pass over the records' keys.
    let mut keys: Vec<String> = Vec::new();
    let mut known: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let wanted: std::collections::HashSet<&str> = wanted.iter().copied().collect();
    let mut issues = IssueList::new();
    for (i, r) in records.iter().enumerate() {
        match r.as_object() {
            Some(obj) => {
                for k in obj.keys() {
                    if known.insert(k.as_str()) {
                        keys.push(k.clone());
                    }
                }
            }
            None => issues.push(DataIssue {
                source: role,
                sheet: None,
                row: Some(i as u64 + 1),
                column: None,
                value: Some(
                    crate::base::text::truncate(&r.to_string(), crate::base::text::MAX_VALUE_CHARS)
                        .into_owned(),
                ),
                problem:
                    "the record is not a JSON object; each record must be {\"column\": value, ...}"
                        .into(),
            }),
        }
    }
    // A cell is a scalar; an array or object is handed back to be reported.
    let cell = |v: Option<&serde_json::Value>| -> Result<String, serde_json::Value> {
        Ok(match v {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::Bool(b)) => b.to_string(),
            Some(other) => return Err(other.clone()),
        })
    };
    let file = tempfile::NamedTempFile::new_in(tmp)
        .map_err(|e| vec![DataIssue::whole(role, format!("cannot create a file: {e}"))])?;
    let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(file));
    let write_err = |e: csv::Error| {
        vec![DataIssue::whole(
            role,
            format!("cannot write a converted copy of {origin}: {e}"),
        )]
    };
    let columns: Vec<&String> = keys.iter().filter(|k| wanted.contains(k.trim())).collect();
    let header = columns.iter().map(|k| k.as_str()).chain([OTHER_KEYS]);
    writer.write_record(header).map_err(write_err)?;
    for (i, r) in records.iter().enumerate() {
        let Some(obj) = r.as_object() else { continue };
        let mut row = Vec::with_capacity(columns.len() + 1);
        for &k in &columns {
            match cell(obj.get(k)) {
                Ok(c) => row.push(c),
                Err(v) => {
                    issues.push(DataIssue {
                        source: role,
                        sheet: None,
                        row: Some(i as u64 + 1),
                        column: Some(k.clone()),
                        value: Some(crate::base::text::truncate(&v.to_string(), crate::base::text::MAX_VALUE_CHARS).into_owned()),
                        problem: "nested objects and arrays are not read; the value must be a string, number or null".into(),
                    });
                    row.push(String::new());
                }
            }
        }
        let others = obj
            .iter()
            .filter(|(k, v)| !wanted.contains(k.trim()) && !v.is_null() && *v != "")
            .count();
        row.push(if others > 0 {
            others.to_string()
        } else {
            String::new()
        });
        writer.write_record(&row).map_err(write_err)?;
    }
    if !issues.is_empty() {
        return Err(issues.finish());
    }
    let buffered = writer.into_inner().map_err(|e| {
        vec![DataIssue::whole(
            role,
            format!("cannot write a converted copy of {origin}: {e}"),
        )]
    })?;
    let file = buffered.into_inner().map_err(|e| {
        vec![DataIssue::whole(
            role,
            format!("cannot write a converted copy of {origin}: {e}"),
        )]
    })?;
    Ok((file.into_temp_path(), keys))
}
