//! The units source read and checked: ids, names, addresses, parents and peer groups, each row's
//! problem named, loops of parents broken.

use super::frame::*;
use crate::data::source::Table;
use crate::domain::id::UnitId;
use crate::domain::issue::{DataIssue, SourceRole, SourceStats};
use crate::domain::ledger::{Published, Unit};
use crate::domain::money;
use polars::prelude::*;
use std::collections::{BTreeMap, HashSet};

/// Reads the units source: ids, names, addresses and parents, each row checked.
/// `number_format` is how a published_rate column writes its percentages.
/// Returns the units, the problems (rows left out or addresses not read) and notes (names
/// cleaned of control characters: the unit is still measured and told).
pub type UnitsRead = (Vec<Unit>, Vec<DataIssue>, Vec<DataIssue>, SourceStats);

pub fn units(table: &Table, number_format: money::NumberFormat) -> Result<UnitsRead, DataIssue> {
    let vi = number_format == money::NumberFormat::Vi;
    let mut select = vec![col(ROW), blank_row(table)];
    if let Some(e) = source_row(table) {
        select.push(e);
    }
    for c in [
        "unit_id",
        "unit_name",
        "email",
        "parent_id",
        "group",
        "published_rate",
    ] {
        if let Some(e) = column(table, c) {
            select.push(nfc(trimmed(e)).alias(c));
        }
    }
    let df = scan(table)
        .and_then(|lf| lf.select(select).collect())
        .map_err(|e| failed(table, e))?;
    let get = |n: &str| -> PolarsResult<Vec<Option<String>>> {
        if df.schema().contains(n) {
            strs(&df, n)
        } else {
            Ok(vec![None; df.height()])
        }
    };
    let (ids, names, emails, parents, groups, published, rows, blank) = (|| -> PolarsResult<_> {
        Ok((
            get("unit_id")?,
            get("unit_name")?,
            get("email")?,
            get("parent_id")?,
            get("group")?,
            get("published_rate")?,
            row_numbers(&df, table)?,
            df.column(BLANK)?
                .bool()?
                .iter()
                .map(|b| b.unwrap_or(false))
                .collect::<Vec<bool>>(),
        ))
    })()
    .map_err(|e| failed(table, e))?;

    let issue = |row: u64, canonical: &str, value: Option<&str>, problem: String| DataIssue {
        source: SourceRole::Units,
        sheet: table.sheet.clone(),
        row: Some(row),
        column: table.header(canonical).map(str::to_string),
        value: value.map(str::to_string),
        problem,
    };
    let mut issues = Vec::new();
    let mut notes = Vec::new();
    let mut units: Vec<Unit> = Vec::new();
    let mut seen: BTreeMap<UnitId, u64> = BTreeMap::new();
    for i in 0..df.height() {
        if blank[i] {
            continue;
        }
        let row = rows[i];
        let before = issues.len();
        let id = ids[i].clone().unwrap_or_default();
        if id.is_empty() {
            issues.push(issue(
                row,
                "unit_id",
                None,
                "the unit id is empty; fill it in or delete the row".into(),
            ));
        } else if crate::base::text::has_unsafe(&id) {
            issues.push(issue(
                row,
                "unit_id",
                Some(&id),
                "the unit id holds control characters (a line break, an escape); write the id as plain text".into(),
            ));
        } else if let Some(first) = seen.get(id.as_str()) {
            issues.push(issue(
                row,
                "unit_id",
                Some(&id),
                format!(
                    "unit `{id}` is listed twice (first in row {first}); keep one row per unit"
                ),
            ));
        }
        // Only a missing or repeated id drops the row; other problems are reported and the unit
        // is still measured (with the addresses that could be read).
        let keep = issues.len() == before;
        let mut name = names[i].clone().unwrap_or_default();
        if name.is_empty() {
            issues.push(issue(
                row,
                "unit_name",
                None,
                "the unit's name is empty; fill it in".into(),
            ));
            name = id.clone();
        }
        // A name goes into subjects, headers and tables: a line break or an escape in it is
        // replaced, and the unit is still told.
        if let std::borrow::Cow::Owned(clean) = crate::base::text::one_line(&name) {
            notes.push(issue(
                row,
                "unit_name",
                Some(&name),
                format!("the name holds control characters (line breaks, escapes); they are replaced by spaces in mail and tables: `{clean}`"),
            ));
            name = clean;
        }
        let (mailboxes, bad) =
            crate::domain::address::parse_list(emails[i].as_deref().unwrap_or(""), &name);
        for addr in &bad {
            issues.push(issue(
                row,
                "email",
                Some(addr),
                "not an email address; write addresses like `ten@example.gov.vn`, separated by `;`"
                    .into(),
            ));
        }
        if keep {
            seen.insert(UnitId::from(id.as_str()), row);
            let published_rate = match published[i].as_deref().filter(|t| !t.is_empty()) {
                None => None,
                Some(text) => match Published::parse(text, vi) {
                    Some(p) => Some(p),
                    None => {
                        issues.push(issue(row, "published_rate", Some(text), "not a percentage; write e.g. 36,5 (or 36.5 with number_format = \"en\")".into()));
                        None
                    }
                },
            };
            units.push(Unit {
                id: UnitId::from(id),
                name,
                row,
                emails: mailboxes,
                parent_id: parents[i]
                    .clone()
                    .filter(|p| !p.is_empty())
                    .map(UnitId::from),
                group: groups[i]
                    .as_deref()
                    .map(|g| crate::base::text::one_line(g).into_owned())
                    .filter(|g| !g.is_empty()),
                published_rate,
            });
        }
    }
    let known: HashSet<UnitId> = units.iter().map(|u| u.id.clone()).collect();
    for u in units.iter_mut() {
        if let Some(p) = u.parent_id.take_if(|p| !known.contains(p.as_str())) {
            issues.push(issue(
                seen[&u.id],
                "parent_id",
                Some(&p),
                format!("parent unit `{p}` is not in the units source; add it or correct the id"),
            ));
        }
    }
    // A loop of parents (A under B under A) has no top: it is broken where it closes, and said.
    let index: std::collections::HashMap<UnitId, usize> = units
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id.clone(), i))
        .collect();
    let mut state = vec![0u8; units.len()]; // 0 unseen, 1 on the current path, 2 done
    for start in 0..units.len() {
        let mut path = Vec::new();
        let mut at = Some(start);
        while let Some(i) = at.filter(|&i| state[i] != 2) {
            if state[i] == 1 {
                // `path`'s last unit names `i`, on this path: the loop closes there.
                let last = *path.last().unwrap_or(&i);
                if let Some(p) = units[last].parent_id.take() {
                    let id = units[last].id.clone();
                    issues.push(issue(
                        seen[&id],
                        "parent_id",
                        Some(&p),
                        format!("unit `{id}` is under `{p}`, which is (through its parents) under `{id}`: the parents loop; correct one parent_id"),
                    ));
                }
                break;
            }
            state[i] = 1;
            path.push(i);
            at = units[i]
                .parent_id
                .as_ref()
                .and_then(|p| index.get(p).copied());
        }
        for i in path {
            state[i] = 2;
        }
    }
    let blanks = blank.iter().filter(|b| **b).count();
    let read = df.height() - blanks;
    let stats = SourceStats {
        source: Some(SourceRole::Units),
        origin: table.origin.clone(),
        rows: read as u64,
        used: units.len() as u64,
        out_of_scope: 0,
        rejected: (read - units.len()) as u64,
        not_data: table.not_data,
        blank: blanks as u64,
        sums: None,
    };
    Ok((units, issues, notes, stats))
}
