//! How values are stored: times as RFC 3339 text in UTC, dates as ISO text, and enums as the
//! words they have always been stored as.

use crate::base::names::UnknownName;
use crate::domain::answer::{ReasonCode, Via};
use crate::domain::decide::Reason;
use crate::domain::id::{PlanYear, UnitId};
use crate::domain::message::{MessageKind, OutboxStatus};
use crate::domain::rule::Status;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use std::time::Duration;

/// Stores an enum as the word it has always been stored as (`base::names::named!` gives it
/// `as_str` and `FromStr`); a word this disbmon does not know is an error naming the enum.
macro_rules! sql_text {
    ($($t:ty),+ $(,)?) => {$(
        impl rusqlite::types::ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }
        impl rusqlite::types::FromSql for $t {
            fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                v.as_str()?
                    .parse()
                    .map_err(|e: $crate::base::names::UnknownName| {
                        rusqlite::types::FromSqlError::Other(Box::new($crate::store::sql::Unknown(e)))
                    })
            }
        }
    )+};
}

/// A stored state this disbmon does not know (a newer one wrote it, or the file was edited).
#[derive(Debug, thiserror::Error)]
#[error("{0} in the state store; upgrade disbmon")]
pub struct Unknown(pub UnknownName);

pub(crate) use sql_text;

sql_text!(OutboxStatus, MessageKind, Status, Reason, Via, ReasonCode);

impl rusqlite::types::ToSql for UnitId {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for UnitId {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        v.as_str().map(UnitId::from)
    }
}

impl rusqlite::types::ToSql for PlanYear {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.get().into())
    }
}

impl rusqlite::types::FromSql for PlanYear {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        v.as_i64().and_then(|y| {
            i32::try_from(y)
                .map(PlanYear::new)
                .map_err(|_| rusqlite::types::FromSqlError::OutOfRange(y))
        })
    }
}

pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) fn parse_ts(s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
}

pub(super) fn opt_ts(s: Option<String>) -> rusqlite::Result<Option<DateTime<Utc>>> {
    s.map(|s| parse_ts(&s)).transpose()
}

pub(super) fn date(s: &str) -> rusqlite::Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

pub(super) fn later(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(1))
}
