//! What was read from each source and what was wrong with it: the problems found (named by
//! source, row, column and value, with what to do), capped per source, and each source's row
//! counts, so that nothing disappears unexplained.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Which of a job's sources something came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceRole {
    Units,
    Plans,
    Disbursements,
    /// Units' answers to their alerts, typed in from letters (`[sources.answers]`).
    Answers,
}

impl SourceRole {
    pub const ALL: [SourceRole; 3] = [
        SourceRole::Units,
        SourceRole::Plans,
        SourceRole::Disbursements,
    ];

    pub fn key(self) -> &'static str {
        match self {
            SourceRole::Units => "units",
            SourceRole::Plans => "plans",
            SourceRole::Disbursements => "disbursements",
            SourceRole::Answers => "answers",
        }
    }
}

impl fmt::Display for SourceRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}
/// One problem with the data: where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataIssue {
    pub source: SourceRole,
    /// The worksheet, for Excel sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// Spreadsheet row (the header is row 1) for CSV, record number (from 1) for JSON; none when
    /// the problem is with the whole source.
    pub row: Option<u64>,
    /// The column's header in the source.
    pub column: Option<String>,
    pub value: Option<String>,
    pub problem: String,
}

impl DataIssue {
    /// A problem with a whole source (unreachable, unreadable, stale), not one row.
    pub fn whole(source: SourceRole, problem: String) -> DataIssue {
        DataIssue {
            source,
            sheet: None,
            row: None,
            column: None,
            value: None,
            problem,
        }
    }
}

/// At most this many problems are listed per source; the rest are counted.
pub const MAX_LISTED: usize = 200;

/// The longest problem text kept, in characters.
const MAX_PROBLEM_CHARS: usize = 1_000;

impl DataIssue {
    /// The issue as it may be shown anywhere: value, column and problem on one line with control
    /// characters escaped, and cut short.
    pub fn trimmed(self) -> DataIssue {
        use crate::base::text::{escape, truncate, MAX_VALUE_CHARS};
        let short = |t: &str, max| truncate(&escape(t), max).into_owned();
        DataIssue {
            sheet: self.sheet.map(|s| short(&s, MAX_VALUE_CHARS)),
            column: self.column.map(|c| short(&c, MAX_VALUE_CHARS)),
            value: self.value.map(|v| short(&v, MAX_VALUE_CHARS)),
            problem: short(&self.problem, MAX_PROBLEM_CHARS),
            ..self
        }
    }
}

/// The problems found in a source, at most [`MAX_LISTED`] of them kept; the rest are counted, so
/// that a file with a million bad rows costs no more to report than one with two hundred.
#[derive(Debug, Default)]
pub struct IssueList {
    listed: Vec<DataIssue>,
    /// Per source: row problems listed, and those beyond.
    counts: BTreeMap<SourceRole, usize>,
    more: BTreeMap<SourceRole, u64>,
}

impl IssueList {
    pub fn new() -> IssueList {
        IssueList::default()
    }

    /// Keeps the issue, unless [`MAX_LISTED`] problems of its source's rows are kept already.
    /// A problem with a whole source (no row) is always kept: there are few of them, and an
    /// earlier list's "and N more" line is one.
    pub fn push(&mut self, issue: DataIssue) {
        if issue.row.is_none() {
            self.listed.push(issue.trimmed());
            return;
        }
        let listed = self.counts.entry(issue.source).or_default();
        if *listed < MAX_LISTED {
            *listed += 1;
            self.listed.push(issue.trimmed());
        } else {
            *self.more.entry(issue.source).or_default() += 1;
        }
    }

    /// Counts `n` further problems of a source without listing them.
    pub fn count_more(&mut self, source: SourceRole, n: u64) {
        if n > 0 {
            *self.more.entry(source).or_default() += n;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.listed.is_empty() && self.more.is_empty()
    }

    /// The listed problems, then one line per source saying how many more there are.
    pub fn finish(self) -> Vec<DataIssue> {
        let mut out = self.listed;
        for (source, n) in self.more {
            out.push(DataIssue::whole(
                source,
                format!("… and {n} more problems in this source are not listed (at most {MAX_LISTED} are); fix the ones above and run again to see the rest"),
            ));
        }
        out
    }
}

impl Extend<DataIssue> for IssueList {
    fn extend<T: IntoIterator<Item = DataIssue>>(&mut self, iter: T) {
        for i in iter {
            self.push(i);
        }
    }
}

/// Issues capped per source (see [`IssueList`]); a summary line from an earlier cap is kept.
pub fn cap(issues: Vec<DataIssue>) -> Vec<DataIssue> {
    let mut list = IssueList::new();
    list.extend(issues);
    list.finish()
}

impl fmt::Display for DataIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(s) = &self.sheet {
            write!(f, ": sheet `{s}`")?;
        }
        if let Some(r) = self.row {
            write!(f, ": row {r}")?;
        }
        if let Some(c) = &self.column {
            write!(f, ": column `{c}`")?;
        }
        if let Some(v) = &self.value {
            write!(f, ": value `{v}`")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// How many rows a source had and what became of them, so that nothing disappears unexplained.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceStats {
    pub source: Option<SourceRole>,
    pub origin: String,
    /// Data rows read.
    pub rows: u64,
    /// Rows that count towards this run's figures.
    pub used: u64,
    /// Valid rows outside this run's scope (another plan year, or dated after the as-of date).
    pub out_of_scope: u64,
    /// Rows with a problem (left out of the figures).
    pub rejected: u64,
    /// Spreadsheet rows that are not data (numbering row, group headings, total rows), skipped.
    pub not_data: u64,
    /// Blank lines (or rows of empty cells), skipped: they are not records.
    #[serde(default)]
    pub blank: u64,
    /// Plans and disbursements: whether sums stored by an earlier run were reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sums: Option<Reuse>,
}

/// What a run did with a source's stored sums (reported in the run's notes for operators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reuse {
    /// Read whole: no stored sums, or they no longer apply.
    #[default]
    Read,
    /// The stored sums, the source unchanged.
    Unchanged,
    /// The stored sums plus the rows appended since.
    Appended { rows: u64 },
}
