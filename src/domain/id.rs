//! The two identities every figure hangs on: a unit's id as the sources write it, and the plan
//! year whose capital is measured. Types of their own, so that a unit id cannot be passed where
//! a name or a project is meant, nor a plan year where a calendar year is.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;

/// A unit's identifier as written in the sources (trimmed), in Unicode NFC: however it is made
/// (read, configured, typed on the command line, stored), the same id typed composed on one
/// machine and decomposed on another is one id.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct UnitId(String);

impl<'de> Deserialize<'de> for UnitId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<UnitId, D::Error> {
        String::deserialize(d).map(UnitId::from)
    }
}

impl UnitId {
    pub fn new(id: impl Into<String>) -> UnitId {
        UnitId::from(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Maps keyed by unit id are looked up with the id as text (`map.get("SXD")`).
impl Borrow<str> for UnitId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for UnitId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for UnitId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for UnitId {
    fn from(id: String) -> UnitId {
        match crate::base::text::nfc(&id) {
            std::borrow::Cow::Borrowed(_) => UnitId(id),
            std::borrow::Cow::Owned(composed) => UnitId(composed),
        }
    }
}

impl From<&str> for UnitId {
    fn from(id: &str) -> UnitId {
        UnitId(crate::base::text::nfc(id).into_owned())
    }
}

impl PartialEq<str> for UnitId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for UnitId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for UnitId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

/// A plan (fiscal) year: the calendar year whose capital plan is measured. Its window runs from
/// 1 January to 31 January of the next year (`rule::window_end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlanYear(i32);

impl PlanYear {
    pub const fn new(year: i32) -> PlanYear {
        PlanYear(year)
    }

    /// The calendar year it is.
    pub const fn get(self) -> i32 {
        self.0
    }
}

impl fmt::Display for PlanYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// `year - 1`: the plan year before.
impl std::ops::Sub<i32> for PlanYear {
    type Output = PlanYear;

    fn sub(self, years: i32) -> PlanYear {
        PlanYear(self.0.saturating_sub(years))
    }
}

/// `year + 1`: the plan year after.
impl std::ops::Add<i32> for PlanYear {
    type Output = PlanYear;

    fn add(self, years: i32) -> PlanYear {
        PlanYear(self.0.saturating_add(years))
    }
}

impl std::ops::AddAssign<i32> for PlanYear {
    fn add_assign(&mut self, years: i32) {
        *self = *self + years;
    }
}

/// A plan year as a source writes it ("2026").
impl std::str::FromStr for PlanYear {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<PlanYear, Self::Err> {
        s.trim().parse().map(PlanYear)
    }
}

/// How many years lie between two plan years.
impl std::ops::Sub for PlanYear {
    type Output = i32;

    fn sub(self, other: PlanYear) -> i32 {
        self.0.saturating_sub(other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_map_of_units_is_read_with_the_id_as_text() {
        let mut paid: BTreeMap<UnitId, i64> = BTreeMap::new();
        paid.insert(UnitId::new("SXD"), 5);
        assert_eq!(paid.get("SXD"), Some(&5));
        assert_eq!(UnitId::new("SXD"), "SXD");
        assert_eq!(
            serde_json::to_string(&UnitId::new("SXD")).unwrap(),
            "\"SXD\""
        );
    }

    #[test]
    fn plan_years_step_and_stay_numbers_in_json() {
        let y = PlanYear::new(2026);
        assert_eq!(
            (y - 1, y + 1, y - PlanYear::new(2023)),
            (PlanYear::new(2025), PlanYear::new(2027), 3)
        );
        assert_eq!(serde_json::to_string(&y).unwrap(), "2026");
        assert_eq!(y.to_string(), "2026");
    }
}
