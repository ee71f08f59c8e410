//! Units' answers: each recorded once (a link answers once, a letter is recorded once), with its
//! commitments; read back per plan year for the alerts, the digest and the dashboard.

use super::db::{Store, StoreError};
use crate::domain::answer::{codes, parse_codes, Answer, NewAnswer};
use crate::domain::id::PlanYear;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

impl Store {
    /// Records a unit's answer with its commitments, once: a link already used (or a source row
    /// already imported) gives `Ok(None)` and records nothing.
    pub fn record_answer(&self, a: &NewAnswer) -> Result<Option<i64>, StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO answers (job, unit, plan_year, via, link_id, source_key, received_at, ip, reasons, note, disbursed_then)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    a.job,
                    a.unit,
                    a.plan_year,
                    a.via,
                    a.link_id,
                    a.source_key,
                    a.received_at.to_rfc3339(),
                    a.ip,
                    codes(&a.reasons),
                    a.note,
                    a.disbursed_then
                ],
            )?;
            if inserted == 0 {
                return Ok(None);
            }
            let id = tx.last_insert_rowid();
            for (amount, due) in &a.commitments {
                tx.execute(
                    "INSERT INTO commitments (answer_id, amount, due) VALUES (?1, ?2, ?3)",
                    params![id, amount, due.to_string()],
                )?;
            }
            tx.commit()?;
            Ok(Some(id))
        })
    }

    /// When a link was used, if it was.
    pub fn link_used(&self, link_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.with(|c| {
            let at: Option<String> = c
                .query_row(
                    "SELECT received_at FROM answers WHERE link_id = ?1",
                    params![link_id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(at.and_then(|t| DateTime::parse_from_rfc3339(&t).ok().map(|t| t.to_utc())))
        })
    }

    /// Every answer of a job's units in a plan year, oldest first, with its commitments.
    pub fn answers(&self, job: &str, plan_year: PlanYear) -> Result<Vec<Answer>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, unit, via, received_at, ip, reasons, note, disbursed_then, link_id FROM answers
                 WHERE job = ?1 AND plan_year = ?2 ORDER BY received_at, id",
            )?;
            let mut answers: Vec<Answer> = st
                .query_map(params![job, plan_year], |r| {
                    let at: String = r.get(3)?;
                    let reasons: String = r.get(5)?;
                    Ok(Answer {
                        id: r.get(0)?,
                        unit: r.get(1)?,
                        via: r.get(2)?,
                        received_at: DateTime::parse_from_rfc3339(&at)
                            .map(|t| t.to_utc())
                            .unwrap_or_default(),
                        ip: r.get(4)?,
                        reasons: parse_codes(&reasons).map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(
                                5,
                                rusqlite::types::Type::Text,
                                Box::new(crate::store::sql::Unknown(e)),
                            )
                        })?,
                        note: r.get(6)?,
                        disbursed_then: r.get(7)?,
                        link_id: r.get(8)?,
                        commitments: Vec::new(),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut st =
                c.prepare("SELECT amount, due FROM commitments WHERE answer_id = ?1 ORDER BY due")?;
            for a in &mut answers {
                a.commitments = st
                    .query_map(params![a.id], |r| {
                        let due: String = r.get(1)?;
                        Ok((r.get::<_, i64>(0)?, due))
                    })?
                    .filter_map(|r| r.ok())
                    .filter_map(|(amount, due)| due.parse().ok().map(|d| (amount, d)))
                    .collect();
            }
            Ok(answers)
        })
    }
}
