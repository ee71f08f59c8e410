//! Pulling a job's sources: fetches each one (HTTP or file) and turns it into a [`Table`] — a CSV
//! file on disk with its header checked against the job's column mapping. The only module that knows
//! upstream formats: JSON records are rewritten as CSV here, so `compute` reads one shape.

mod xlsx;

use crate::job::{Format, Location, Source};
use crate::ledger::{DataIssue, SourceRole};
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
    _temp: Option<tempfile::TempPath>,
}

impl Table {
    /// The source's own header for a canonical column.
    pub fn header(&self, canonical: &str) -> Option<&str> {
        self.columns
            .get(canonical)
            .map(|i| self.headers[*i].as_str())
    }
}

fn whole(role: SourceRole, problem: String) -> DataIssue {
    DataIssue {
        source: role,
        sheet: None,
        row: None,
        column: None,
        value: None,
        problem,
    }
}

/// Fetches and checks one source. `tmp` is where downloads and converted JSON are written.
pub async fn pull(
    source: &Source,
    client: &reqwest::Client,
    tmp: &Path,
) -> Result<Table, Vec<DataIssue>> {
    let role = source.role;
    let origin = source.location.to_string();
    let (path, temp) = match &source.location {
        Location::File(p) => {
            if !p.is_file() {
                return Err(vec![whole(
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
            let temp = download(client, url, source, tmp)
                .await
                .map_err(|e| vec![whole(role, e)])?;
            (temp.to_path_buf(), Some(temp))
        }
    };
    let mut excel = None;
    let (path, temp, delimiter, row_offset) = match source.format {
        Format::Csv => (path, temp, source.delimiter, 1),
        Format::Json => {
            let converted = json_to_csv(&path, role, &origin, source.records.as_deref(), tmp)?;
            (converted.to_path_buf(), Some(converted), b',', 0)
        }
        Format::Xlsx => {
            let converted = xlsx::to_csv(&path, source, &origin, tmp)?;
            let file = converted.file.to_path_buf();
            excel = Some((converted.sheet, converted.not_data));
            (file, Some(converted.file), b',', 0)
        }
    };
    let headers =
        read_header(&path, delimiter).map_err(|e| vec![whole(role, format!("{origin}: {e}"))])?;
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
                    headers.join(" | ")
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
        _temp: temp,
    })
}

async fn download(
    client: &reqwest::Client,
    url: &str,
    source: &Source,
    tmp: &Path,
) -> Result<tempfile::TempPath, String> {
    let role = source.role;
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
        .unwrap_or_else(|| url.to_string());
    let failed = |e: reqwest::Error| {
        let why = if e.is_timeout() {
            format!("no answer within {} s", source.timeout.as_secs())
        } else if e.is_connect() {
            "cannot connect (connection refused or host unreachable)".to_string()
        } else {
            let mut msg = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                msg = format!("{msg}: {c}");
                cause = c.source();
            }
            msg
        };
        format!("cannot fetch {url} from {host}: {why}; check that the server is up and sources.{role}.location is right")
    };
    let mut response = client
        .get(url)
        .timeout(source.timeout)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!(
            "{url} answered HTTP {status}; check sources.{role}.location, or ask the publisher of {host} why"
        ));
    }
    let mut file = tempfile::NamedTempFile::new_in(tmp)
        .map_err(|e| format!("cannot create a file in {}: {e}", tmp.display()))?;
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        file.write_all(&chunk)
            .map_err(|e| format!("cannot write the download of {url}: {e}"))?;
    }
    file.flush()
        .map_err(|e| format!("cannot write the download of {url}: {e}"))?;
    Ok(file.into_temp_path())
}

fn read_header(path: &Path, delimiter: u8) -> Result<Vec<String>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|e| format!("cannot read: {e}"))?;
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Err("the file is empty; expected a header row and data".into()),
        Err(e) => {
            return Err(format!(
                "cannot read the header row: {e}; the file must be UTF-8 CSV"
            ))
        }
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

/// Rewrites a JSON array of flat objects as CSV (one column per key, in order of first appearance),
/// keeping numbers exactly as written.
fn json_to_csv(
    path: &Path,
    role: SourceRole,
    origin: &str,
    records: Option<&str>,
    tmp: &Path,
) -> Result<tempfile::TempPath, Vec<DataIssue>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![whole(role, format!("{origin}: cannot read: {e}"))])?;
    let value: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| {
            vec![whole(
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
                    vec![whole(role, format!("{origin} has no `{key}` on the path `{path}`; fix sources.{role}.records"))]
                })?,
                _ => {
                    return Err(vec![whole(
                        role,
                        format!("{origin}: `{path}` does not lead to the records; fix sources.{role}.records"),
                    )])
                }
            };
        }
    }
    let serde_json::Value::Array(records) = value else {
        return Err(vec![whole(
            role,
            format!("{origin}: expected a JSON array of records ([{{...}}, ...]); if they sit inside the document, set sources.{role}.records"),
        )]);
    };
    let mut keys: Vec<String> = Vec::new();
    let mut issues = Vec::new();
    for (i, r) in records.iter().enumerate() {
        match r.as_object() {
            Some(obj) => {
                for k in obj.keys() {
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
            }
            None => issues.push(DataIssue {
                source: role,
                sheet: None,
                row: Some(i as u64 + 1),
                column: None,
                value: Some(r.to_string()),
                problem:
                    "the record is not a JSON object; each record must be {\"column\": value, ...}"
                        .into(),
            }),
        }
    }
    let cell = |v: Option<&serde_json::Value>| -> Result<String, String> {
        Ok(match v {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::Bool(b)) => b.to_string(),
            Some(other) => return Err(other.to_string()),
        })
    };
    let file = tempfile::NamedTempFile::new_in(tmp)
        .map_err(|e| vec![whole(role, format!("cannot create a file: {e}"))])?;
    let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(file));
    let write_err = |e: csv::Error| {
        vec![whole(
            role,
            format!("cannot write a converted copy of {origin}: {e}"),
        )]
    };
    writer.write_record(&keys).map_err(write_err)?;
    for (i, r) in records.iter().enumerate() {
        let Some(obj) = r.as_object() else { continue };
        let mut row = Vec::with_capacity(keys.len());
        for k in &keys {
            match cell(obj.get(k)) {
                Ok(c) => row.push(c),
                Err(v) => {
                    issues.push(DataIssue {
                        source: role,
                        sheet: None,
                        row: Some(i as u64 + 1),
                        column: Some(k.clone()),
                        value: Some(v),
                        problem: "nested objects and arrays are not read; the value must be a string, number or null".into(),
                    });
                    row.push(String::new());
                }
            }
        }
        writer.write_record(&row).map_err(write_err)?;
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    let buffered = writer.into_inner().map_err(|e| {
        vec![whole(
            role,
            format!("cannot write a converted copy of {origin}: {e}"),
        )]
    })?;
    let file = buffered.into_inner().map_err(|e| {
        vec![whole(
            role,
            format!("cannot write a converted copy of {origin}: {e}"),
        )]
    })?;
    Ok(file.into_temp_path())
}
