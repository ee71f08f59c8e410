//! The units' alert memory between runs (per job, unit and plan year) and the silences that
//! hold a unit's alerts back.

use super::db::{Store, StoreError};
use super::sql::opt_ts;
use super::sql::{date, parse_ts, ts};
use crate::domain::decide::Memory;
use crate::domain::id::PlanYear;
use crate::domain::id::UnitId;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::params;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone)]
pub struct Silence {
    pub id: i64,
    pub job: String,
    pub unit: UnitId,
    pub until: NaiveDate,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// The remembered state of every unit of a job for a plan year.
    pub fn memory(
        &self,
        job: &str,
        plan_year: PlanYear,
    ) -> Result<HashMap<UnitId, Memory>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT a.unit, a.status, a.episode_since, a.alerts_in_episode, a.last_alert_at, a.suppressed, a.last_delivered_at,
                     EXISTS (SELECT 1 FROM decisions d JOIN outbox o ON o.message_id = d.message_id
                             WHERE d.job = a.job AND d.unit = a.unit AND d.plan_year = a.plan_year
                               AND o.kind = 'alert' AND o.status IN ('pending', 'sending'))
                 FROM alert_state a WHERE a.job = ?1 AND a.plan_year = ?2",
            )?;
            let rows = st.query_map(params![job, plan_year], |r| {
                Ok((
                    r.get::<_, UnitId>(0)?,
                    Memory {
                        status: r.get(1)?,
                        episode_since: r.get::<_, Option<String>>(2)?.map(|s| date(&s)).transpose()?,
                        alerts_in_episode: r.get(3)?,
                        last_alert_at: opt_ts(r.get(4)?)?,
                        suppressed: r.get::<_, i64>(5)? != 0,
                        last_delivered_at: opt_ts(r.get(6)?)?,
                        alert_in_flight: r.get(7)?,
                    },
                ))
            })?;
            rows.collect()
        })
    }

    /// Units of a job silenced on `day`.
    pub fn silenced(&self, job: &str, day: NaiveDate) -> Result<HashSet<UnitId>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT unit FROM silences WHERE job = ?1 AND removed_at IS NULL AND until >= ?2",
            )?;
            let rows = st.query_map(params![job, day.to_string()], |r| r.get::<_, UnitId>(0))?;
            rows.collect()
        })
    }

    pub fn add_silence(
        &self,
        job: &str,
        unit: &str,
        until: NaiveDate,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO silences (job, unit, until, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![job, unit, until.to_string(), reason, ts(now)],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    pub fn silences(&self) -> Result<Vec<Silence>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT id, job, unit, until, reason, created_at FROM silences WHERE removed_at IS NULL ORDER BY id")?;
            let rows = st.query_map([], |r| {
                Ok(Silence {
                    id: r.get(0)?,
                    job: r.get(1)?,
                    unit: r.get(2)?,
                    until: date(&r.get::<_, String>(3)?)?,
                    reason: r.get(4)?,
                    created_at: parse_ts(&r.get::<_, String>(5)?)?,
                })
            })?;
            rows.collect()
        })
    }

    pub fn remove_silence(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE silences SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL",
                params![id, ts(now)],
            )? == 1)
        })
    }
}
