//! The answers source (`[sources.answers]`): the answers a department types in from units'
//! letters, read from a table row by row, checked as the form checks them, and named row by row
//! when they are not right.

use super::source::Table;
use crate::config::job::Source;
use crate::domain::answer::{check, codes, NewAnswer, Via};
use crate::domain::id::PlanYear;
use crate::domain::id::UnitId;
use crate::domain::issue::DataIssue;
use chrono::{DateTime, NaiveDate, Utc};
use sha2::Sha256;

/// Rows of one answer: (unit, day, reasons, note).
type AnswerKey = (UnitId, NaiveDate, String, String);

/// A commitment as a row writes it: (amount, due date, row).
type Written = (String, String, u64);

/// The answers of a job's answers source (`[sources.answers]`), checked as the form checks them:
/// rows of one unit with the same day, reasons and note are one answer, each row's amount and
/// due date one of its commitments. Returns the answers to record (each keyed by its content, so
/// a file read again adds nothing) and every row problem, naming row, column and value. Unit ids
/// of merged units count for their successors; "today" is the job's.
#[allow(clippy::too_many_arguments)]
pub fn from_table(
    table: &Table,
    source: &Source,
    job: &str,
    plan_year: PlanYear,
    disbursed: &std::collections::BTreeMap<UnitId, i64>,
    known: &std::collections::HashSet<&str>,
    successors: &std::collections::BTreeMap<UnitId, UnitId>,
    (now, zone): (DateTime<Utc>, chrono_tz::Tz),
) -> (Vec<NewAnswer>, Vec<DataIssue>) {
    use chrono::TimeZone;
    use DataIssue;
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
        value: Some(
            crate::base::text::truncate(&crate::base::text::escape(value), 80).into_owned(),
        ),
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
        if crate::data::source::is_blank(&record) {
            continue;
        }
        let row = table.row_of(&record, i);
        if let Some(y) = col("plan_year") {
            let written = cell(Some(y));
            match written.parse::<PlanYear>() {
                Ok(y) if y == plan_year => {}
                Ok(_) => continue,
                Err(_) => {
                    issues.push(issue(Some(row), Some("plan_year"), &written, "not a year; write the plan year as a number, e.g. 2026 (the answer is left out)".into()));
                    continue;
                }
            }
        }
        let written = cell(col("unit_id"));
        let unit = UnitId::from(crate::data::compute::query::successor_of(
            successors,
            &crate::base::text::nfc(&written),
        ));
        if !known.contains(unit.as_str()) {
            issues.push(issue(
                Some(row),
                Some("unit_id"),
                &written,
                match crate::base::text::code_points(&written) {
                    Some(points) => format!("no such unit in the units source (the id is {points}); check the unit id (the answer is left out)"),
                    None => "no such unit in the units source; check the unit id (the answer is left out)".into(),
                },
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
                codes(&checked.reasons),
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
            disbursed_then: disbursed.get(unit.as_str()).copied().unwrap_or(0),
            unit,
            plan_year,
            via: Via::Source,
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
