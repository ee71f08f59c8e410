//! Each run's figures read back: a unit's rate over time, a job's latest figures and unit
//! details (the dashboard), the previous run's disbursement (the change an alert reports), and a
//! past year's runs (the projection, when the sources no longer hold that year).

use super::db::{Store, StoreError};
use super::record::Figures;
use super::sql::{date, parse_ts};
use crate::domain::decide::Reason;
use crate::domain::id::PlanYear;
use crate::domain::id::UnitId;
use crate::domain::ledger::UnitDetail;
use crate::domain::projection::StoredDay;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};
use std::collections::HashMap;

/// A unit's figures and their as-of date, from `SELECT unit, plan, disbursed, rate, expected,
/// status, as_of FROM unit_figures`.
fn figures_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Figures, NaiveDate)> {
    Ok((
        Figures {
            unit: r.get(0)?,
            plan: r.get(1)?,
            disbursed: r.get(2)?,
            rate: r.get(3)?,
            expected: r.get(4)?,
            status: r.get(5)?,
        },
        date(&r.get::<_, String>(6)?)?,
    ))
}

/// The figures of a job's latest run.
#[derive(Debug, Clone)]
pub struct LatestFigures {
    pub scheduled: DateTime<Utc>,
    pub as_of: NaiveDate,
    pub figures: Vec<Figures>,
}

/// An earlier run's as-of date and each unit's disbursement then.
pub type Previous = (NaiveDate, HashMap<UnitId, i64>);

/// A unit's figures in one run, for its history.
#[derive(Debug, Clone)]
pub struct FiguresRecord {
    pub scheduled_at: DateTime<Utc>,
    pub as_of: NaiveDate,
    pub figures: Figures,
    pub reason: Option<Reason>,
}

impl Store {
    /// A unit's figures in every run of a job, oldest first, with the decision of each run.
    pub fn unit_history(&self, job: &str, unit: &str) -> Result<Vec<FiguresRecord>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT f.scheduled_at, f.as_of, f.plan, f.disbursed, f.rate, f.expected, f.status, d.reason
                 FROM unit_figures f LEFT JOIN decisions d
                   ON d.job = f.job AND d.scheduled_at = f.scheduled_at AND d.unit = f.unit
                 WHERE f.job = ?1 AND f.unit = ?2 ORDER BY f.scheduled_at",
            )?;
            let rows = st.query_map(params![job, unit], |r| {
                Ok(FiguresRecord {
                    scheduled_at: parse_ts(&r.get::<_, String>(0)?)?,
                    as_of: date(&r.get::<_, String>(1)?)?,
                    figures: Figures {
                        unit: UnitId::from(unit),
                        plan: r.get(2)?,
                        disbursed: r.get(3)?,
                        rate: r.get(4)?,
                        expected: r.get(5)?,
                        status: r.get(6)?,
                    },
                    reason: r.get(7)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The figures of a job's latest run that measured its units: when it was scheduled, its
    /// as-of date, and every unit's figures.
    pub fn latest_figures(&self, job: &str) -> Result<Option<LatestFigures>, StoreError> {
        self.with(|c| {
            let latest: Option<String> = c.query_row(
                "SELECT MAX(scheduled_at) FROM unit_figures WHERE job = ?1",
                params![job],
                |r| r.get(0),
            )?;
            let Some(sched) = latest else {
                return Ok(None);
            };
            let mut st = c.prepare(
                "SELECT unit, plan, disbursed, rate, expected, status, as_of FROM unit_figures
                 WHERE job = ?1 AND scheduled_at = ?2",
            )?;
            let mut as_of = None;
            let rows = st
                .query_map(params![job, sched], figures_row)?
                .map(|row| {
                    row.map(|(f, d)| {
                        as_of = Some(d);
                        f
                    })
                })
                .collect::<rusqlite::Result<Vec<_>>>()?;
            match as_of {
                Some(as_of) => Ok(Some(LatestFigures {
                    scheduled: parse_ts(&sched)?,
                    as_of,
                    figures: rows,
                })),
                None => Ok(None),
            }
        })
    }

    /// The latest run of plan year `plan_year` with data before `before`: its as-of date and each
    /// unit's disbursement (what "since the previous run" compares with).
    pub fn previous_disbursed(
        &self,
        job: &str,
        plan_year: PlanYear,
        before: NaiveDate,
    ) -> Result<Option<Previous>, StoreError> {
        self.with(|c| {
            let latest: Option<(String, String)> = c
                .query_row(
                    "SELECT scheduled_at, as_of FROM unit_figures
                     WHERE job = ?1 AND plan_year = ?2 AND as_of < ?3
                     ORDER BY as_of DESC, scheduled_at DESC LIMIT 1",
                    params![job, plan_year, before.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((sched, as_of)) = latest else {
                return Ok(None);
            };
            let mut st = c.prepare(
                "SELECT unit, disbursed FROM unit_figures WHERE job = ?1 AND scheduled_at = ?2",
            )?;
            let rows = st.query_map(params![job, sched], |r| {
                Ok((r.get::<_, UnitId>(0)?, r.get(1)?))
            })?;
            Ok(Some((
                date(&as_of)?,
                rows.collect::<rusqlite::Result<_>>()?,
            )))
        })
    }

    /// Every unit's stored detail of a job (names, curves), by unit id.
    pub fn unit_details(&self, job: &str) -> Result<HashMap<UnitId, UnitDetail>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT unit, detail FROM unit_details WHERE job = ?1")?;
            let rows = st.query_map(params![job], |r| {
                Ok((r.get::<_, UnitId>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = HashMap::new();
            for row in rows {
                let (unit, detail) = row?;
                // A detail written by another version that no longer reads is left out, not fatal.
                if let Ok(d) = serde_json::from_str(&detail) {
                    out.insert(unit, d);
                }
            }
            Ok(out)
        })
    }

    /// One unit's stored detail.
    pub fn unit_detail(&self, job: &str, unit: &str) -> Result<Option<UnitDetail>, StoreError> {
        self.with(|c| {
            let detail: Option<String> = c
                .query_row(
                    "SELECT detail FROM unit_details WHERE job = ?1 AND unit = ?2",
                    params![job, unit],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(detail.and_then(|d| serde_json::from_str(&d).ok()))
        })
    }

    /// Every run's figures of a plan year, one set per as-of date (the latest run of that date):
    /// (as-of date, unit → (plan, disbursed)), oldest first. What a past year looked like when
    /// the sources no longer hold it.
    pub fn year_figures(
        &self,
        job: &str,
        plan_year: PlanYear,
    ) -> Result<Vec<StoredDay>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT f.as_of, f.unit, f.plan, f.disbursed FROM unit_figures f
                 JOIN (SELECT as_of, MAX(scheduled_at) AS latest FROM unit_figures
                       WHERE job = ?1 AND plan_year = ?2 GROUP BY as_of) l
                   ON f.as_of = l.as_of AND f.scheduled_at = l.latest
                 WHERE f.job = ?1 AND f.plan_year = ?2 ORDER BY f.as_of",
            )?;
            let mut days: Vec<StoredDay> = Vec::new();
            let rows = st.query_map(params![job, plan_year], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            for row in rows {
                let (as_of, unit, plan, paid) = row?;
                let day = date(&as_of)?;
                match days.last_mut() {
                    Some((d, m)) if *d == day => {
                        m.insert(UnitId::from(unit), (plan, paid));
                    }
                    _ => days.push((day, HashMap::from([(UnitId::from(unit), (plan, paid))]))),
                }
            }
            Ok(days)
        })
    }

    /// One unit's figures in a plan year, from the latest run that measured it, with that run's
    /// as-of date.
    pub fn unit_figures(
        &self,
        job: &str,
        unit: &str,
        plan_year: PlanYear,
    ) -> Result<Option<(NaiveDate, Figures)>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT unit, plan, disbursed, rate, expected, status, as_of FROM unit_figures
                 WHERE job = ?1 AND unit = ?2 AND plan_year = ?3
                 ORDER BY scheduled_at DESC LIMIT 1",
                params![job, unit, plan_year],
                figures_row,
            )
            .optional()
            .map(|found| found.map(|(f, as_of)| (as_of, f)))
        })
    }
}
