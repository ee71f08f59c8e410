//! The exact reader: every cell as text, each checked with the rules people are told about, with
//! row numbers, so that every row with a problem is named with its cell and what to do.

use super::frame::*;
use super::query::{countable_series, in_scope, labels, written_for, Aggregate, Has, Query};
use super::sums::{fold, summed_all, Sums};
use crate::config::job::Source;
use crate::data::source::Table;
use crate::domain::id::UnitId;
use crate::domain::issue::DataIssue;
use crate::domain::money;
use polars::prelude::*;
use std::collections::BTreeMap;

/// The exact reader: every cell as text, each checked with the rules people are told about
/// (`money::parse_dong`, the date format), with row numbers for messages.
pub(super) fn exact_rows(
    table: &Table,
    source: &Source,
    ids: &BTreeMap<String, UnitId>,
    has: Has,
) -> PolarsResult<LazyFrame> {
    let get = |c: &str| column(table, c).ok_or_else(|| polars_err!(ColumnNotFound: "{c}"));
    let mut select = vec![
        col(ROW),
        source_row(table).unwrap_or_else(|| lit(NULL).cast(DataType::String).alias(SOURCE_ROW)),
        nfc(trimmed(get("unit_id")?)).alias("unit_id"),
        get("amount")?.alias("amount_raw"),
        blank_row(table),
    ];
    let mut parsed =
        vec![dong(col("amount_raw"), source.number_format, source.amount_unit).alias("amount")];
    let mut valid = col(BLANK)
        .not()
        .and(col("unit_id").is_in(countable_series(ids), false))
        .and(col("amount").is_not_null());
    if has.date {
        select.push(trimmed(get("date")?).alias("date_raw"));
        parsed.push(date_cell(col("date_raw"), &source.date_format, true).alias("date"));
        valid = valid.and(col("date").is_not_null());
    }
    if has.year {
        select.push(trimmed(get("plan_year")?).alias("year_raw"));
        parsed.push(col("year_raw").cast(DataType::Int32).alias("year"));
        valid = valid.and(col("year").is_not_null());
    }
    if has.effective {
        select.push(trimmed(get("effective_date")?).alias("effective_raw"));
        parsed.push(date_cell(col("effective_raw"), &source.date_format, true).alias("effective"));
        // An empty effective date means "from the start"; a cell that is not a date is an error.
        let blank = col("effective_raw")
            .is_null()
            .or(col("effective_raw").eq(lit("")));
        valid = valid.and(blank.or(col("effective").is_not_null()));
    }
    select.extend(labels(table, has));
    if has.project {
        select.push(trimmed(get("project_id")?).alias("project"));
    }
    Ok(scan(table)?
        .select(select)
        .with_columns(parsed)
        .with_column(valid.fill_null(lit(false)).alias("valid")))
}

/// The exact reader's sums, with each row that has a problem named (on the first query's
/// aggregate: a row's validity does not depend on the query).
pub(super) fn exact_all(
    table: &Table,
    source: &Source,
    ids: &BTreeMap<String, UnitId>,
    has: Has,
    queries: &[Query],
) -> Result<Vec<Aggregate>, DataIssue> {
    let rows = exact_rows(table, source, ids, has).map_err(|e| failed(table, e))?;
    let df = stream(summed_all(rows.clone(), queries, has, true)).map_err(|e| failed(table, e))?;
    let Sums {
        mut aggregates,
        invalid,
        out_of_range,
    } = fold(&df, queries, ids, table).map_err(|e| failed(table, e))?;
    if invalid > 0 {
        aggregates[0].issues = bad_rows(table, source, rows.clone(), invalid, ids)?;
    }
    for (k, beyond) in out_of_range.iter().enumerate() {
        for unit in beyond {
            let these = rows.clone().filter(
                col("valid")
                    .and(in_scope(&queries[k], has))
                    .fill_null(lit(false))
                    .and(written_for(ids, unit)),
            );
            let issue = sum_out_of_range(table, these, unit)?;
            aggregates[k].issues.push(issue);
        }
    }
    Ok(aggregates)
}

/// A unit whose rows sum beyond the largest amount, named with (the first of) its rows.
/// `rows`: the unit's rows that count.
pub(super) fn sum_out_of_range(
    table: &Table,
    rows: LazyFrame,
    id: &str,
) -> Result<DataIssue, DataIssue> {
    let listed = listed_rows(table, rows)?;
    Ok(DataIssue {
        source: table.role,
        sheet: table.sheet.clone(),
        row: None,
        column: table.header("amount").map(str::to_string),
        value: Some(id.to_string()),
        problem: format!(
            "the amounts of unit `{id}` (rows {listed}) add up to more than 10^18 đồng, beyond any real plan or disbursement; check those cells and `amount_unit`"
        ),
    })
}

/// The row numbers of `rows` as a person finds them, the first 20 of them: `4, 9, 12 and 3 more`.
pub(super) fn listed_rows(table: &Table, rows: LazyFrame) -> Result<String, DataIssue> {
    const SHOWN: usize = 20;
    let mut cols = vec![col(ROW)];
    if table.row_column.is_some() {
        cols.push(col(SOURCE_ROW));
    }
    let df = rows
        .select(cols)
        .sort([ROW], SortMultipleOptions::default());
    let df = stream(df).map_err(|e| failed(table, e))?;
    let rows = row_numbers(&df, table).map_err(|e| failed(table, e))?;
    let mut listed = rows
        .iter()
        .take(SHOWN)
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if rows.len() > SHOWN {
        listed.push_str(&format!(" and {} more", rows.len() - SHOWN));
    }
    Ok(listed)
}

/// Lists the rows that failed validation, each bad cell with what to do about it.
pub(super) fn bad_rows(
    table: &Table,
    source: &Source,
    lf: LazyFrame,
    total: u64,
    countable: &BTreeMap<String, UnitId>,
) -> Result<Vec<DataIssue>, DataIssue> {
    let mut cols = vec![
        col(ROW),
        col(SOURCE_ROW),
        col("unit_id"),
        col("amount_raw"),
        col("amount"),
    ];
    let has = |c: &str| table.columns.contains_key(c);
    if has("date") {
        cols.extend([col("date_raw"), col("date")]);
    }
    if has("plan_year") {
        cols.extend([col("year_raw"), col("year")]);
    }
    if has("effective_date") {
        cols.extend([col("effective_raw"), col("effective")]);
    }
    let df = lf
        .filter(
            col("valid")
                .fill_null(lit(false))
                .not()
                .and(col(BLANK).not()),
        )
        .select(cols)
        .sort([ROW], SortMultipleOptions::default())
        .limit(MAX_LISTED_ROWS as IdxSize);
    let df = stream(df).map_err(|e| failed(table, e))?;
    let role = table.role;
    let mut issues = Vec::new();
    let read = || -> PolarsResult<_> {
        let nulls = |n: &str| -> PolarsResult<Vec<bool>> {
            if df.schema().contains(n) {
                Ok(df
                    .column(n)?
                    .is_null()
                    .iter()
                    .map(|v| v.unwrap_or(true))
                    .collect())
            } else {
                Ok(vec![false; df.height()])
            }
        };
        let texts = |n: &str| -> PolarsResult<Vec<Option<String>>> {
            if df.schema().contains(n) {
                strs(&df, n)
            } else {
                Ok(vec![None; df.height()])
            }
        };
        Ok((
            row_numbers(&df, table)?,
            texts("unit_id")?,
            texts("amount_raw")?,
            texts("date_raw")?,
            nulls("date")?,
            texts("year_raw")?,
            nulls("year")?,
            texts("effective_raw")?,
            nulls("effective")?,
        ))
    };
    let (
        rows,
        ids,
        amounts,
        dates_raw,
        date_bad,
        years_raw,
        year_bad,
        effective_raw,
        effective_bad,
    ) = read().map_err(|e| failed(table, e))?;
    for i in 0..df.height() {
        let mut add = |canonical: &str, value: Option<&str>, problem: String| {
            issues.push(DataIssue {
                source: role,
                sheet: table.sheet.clone(),
                row: Some(rows[i]),
                column: table.header(canonical).map(str::to_string),
                value: value.map(str::to_string),
                problem,
            })
        };
        match ids[i].as_deref() {
            None | Some("") => add(
                "unit_id",
                None,
                "the unit id is empty; fill it in or delete the row".into(),
            ),
            Some(id) if !countable.contains_key(id) => add(
                "unit_id",
                Some(id),
                match crate::base::text::code_points(id) {
                    // Ids that look alike can differ in an invisible way (a look-alike letter,
                    // a zero-width space): the code points show where.
                    Some(points) => format!("unit `{id}` ({points}) is not in the units source; add it there or correct the id"),
                    None => format!("unit `{id}` is not in the units source; add it there or correct the id"),
                },
            ),
            _ => {}
        }
        let amount = amounts[i].as_deref().unwrap_or("");
        if let Err(why) = money::parse_dong(amount, source.number_format, source.amount_unit) {
            add(
                "amount",
                Some(amount).filter(|a| !a.is_empty()),
                why.to_string(),
            );
        }
        if has("date") && date_bad[i] {
            let raw = dates_raw[i].as_deref().unwrap_or("");
            let problem = if raw.is_empty() {
                "the date is empty; fill it in".to_string()
            } else {
                format!(
                    "`{raw}` is not a date written as {}; fix the cell or set sources.{role}.date_format",
                    source.date_format
                )
            };
            add("date", Some(raw).filter(|r| !r.is_empty()), problem);
        }
        if let Some(raw) = effective_raw[i]
            .as_deref()
            .filter(|r| has("effective_date") && !r.is_empty() && effective_bad[i])
        {
            add(
                "effective_date",
                Some(raw),
                format!("`{raw}` is not a date written as {}; fix the cell or set sources.{role}.date_format", source.date_format),
            );
        }
        if has("plan_year") && year_bad[i] {
            let raw = years_raw[i].as_deref().unwrap_or("");
            add(
                "plan_year",
                Some(raw).filter(|r| !r.is_empty()),
                "not a year; write the plan year as a number, e.g. 2026".into(),
            );
        }
    }
    if total > df.height() as u64 {
        issues.push(DataIssue {
            source: role,
            sheet: table.sheet.clone(),
            row: None,
            column: None,
            value: None,
            problem: format!(
                "{} more rows of {} have problems and are not listed here; fix the rows above and run again to see them",
                total - df.height() as u64,
                table.origin
            ),
        });
    }
    Ok(issues)
}
