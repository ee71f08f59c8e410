//! Reading what operators write: TOML into typed settings, every problem collected with its file
//! and key (`file: key: what is wrong and what to do`), so that `disbmon check` reports them all
//! at once; and the values keys hold (addresses, durations, time zones, paths).

use super::trace::{leaves, nearest};
use crate::domain::address::Mailbox;
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One thing wrong with a config or job file: `file: key: what is wrong and what to do`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}: {}: {}", self.file.display(), self.key, self.message)
        }
    }
}

/// Problems found in one file, collected while reading it.
#[derive(Debug)]
pub struct Problems {
    file: PathBuf,
    pub list: Vec<Problem>,
}

impl Problems {
    pub fn new(file: &Path) -> Self {
        Problems {
            file: file.to_path_buf(),
            list: Vec::new(),
        }
    }

    pub fn add(&mut self, key: impl Into<String>, message: impl fmt::Display) {
        self.list.push(Problem {
            file: self.file.clone(),
            key: key.into(),
            message: message.to_string(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Reads a TOML file into `T`, reporting a syntax or type error with its line and every unknown key.
pub fn read_toml<T: DeserializeOwned>(path: &Path, problems: &mut Problems) -> Option<T> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.add(
                "",
                format!("cannot read the file: {e}; check the path and its permissions"),
            );
            return None;
        }
    };
    parse_toml(&text, problems)
}

pub fn parse_toml<T: DeserializeOwned>(text: &str, problems: &mut Problems) -> Option<T> {
    let located = |e: &toml::de::Error| match e.span() {
        Some(span) => format!(
            "line {}",
            text[..span.start.min(text.len())].matches('\n').count() + 1
        ),
        None => String::new(),
    };
    let de = match toml::de::Deserializer::parse(text) {
        Ok(de) => de,
        Err(e) => {
            problems.add(
                located(&e),
                format!("{}; fix the TOML syntax", e.message().trim()),
            );
            return None;
        }
    };
    let mut unknown = Vec::new();
    let result: Result<T, _> =
        serde_ignored::deserialize(de, |path| unknown.push(path.to_string()));
    if !unknown.is_empty() {
        let known = leaves::<T>();
        for key in unknown {
            let hint = match nearest(&key, &known) {
                Some(k) => format!("did you mean `{k}`? "),
                None => String::new(),
            };
            problems.add(
                key,
                format!(
                    "unknown key; {hint}remove it or correct its spelling (the key reference in docs/operators.md and docs/jobs.md lists every key)"
                ),
            );
        }
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            problems.add(located(&e), e.message().trim().to_string());
            None
        }
    }
}

/// Resolves a path written in a file against that file's directory (`config/../var` → `var`).
pub fn resolve(base_dir: &Path, written: &str) -> PathBuf {
    use std::path::Component;
    let joined = base_dir.join(written);
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// A value in a config or job file that is not what its key needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("`{text}` is not an email address ({detail}); write `name@example.gov.vn` or `Name <name@example.gov.vn>`")]
    Mailbox { text: String, detail: String },
    #[error("`{0}` is not a duration; write e.g. \"90s\", \"5m\", \"24h\" or \"14d\"")]
    Duration(String),
    #[error("`{0}` is not an IANA time zone; write e.g. `Asia/Ho_Chi_Minh`")]
    Zone(String),
}

pub fn parse_mailbox(text: &str) -> Result<Mailbox, ValueError> {
    text.parse::<Mailbox>().map_err(|e| ValueError::Mailbox {
        text: text.to_string(),
        detail: e.to_string(),
    })
}

/// Every address of a list, each problem reported under `key[i]`.
pub fn mailboxes(key: &str, list: &[String], p: &mut Problems) -> Vec<Mailbox> {
    list.iter()
        .enumerate()
        .filter_map(|(i, a)| {
            parse_mailbox(a)
                .map_err(|e| p.add(format!("{key}[{i}]"), e))
                .ok()
        })
        .collect()
}

/// A duration written as a number and a unit: `90s`, `5m`, `24h`, `14d`.
pub fn parse_duration(text: &str) -> Result<Duration, ValueError> {
    let bad = || ValueError::Duration(text.to_string());
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let per = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(per).map(Duration::from_secs).ok_or_else(bad)
}

/// Whether a host name or address is this machine: `localhost`, 127.0.0.0/8, `::1` (bracketed or
/// not). Secrets may cross plain connections only to it.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub fn parse_zone(text: &str) -> Result<Tz, ValueError> {
    text.parse::<Tz>()
        .map_err(|_| ValueError::Zone(text.to_string()))
}
