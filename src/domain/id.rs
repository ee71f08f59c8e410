//! The two identities every figure hangs on: a unit's id as the sources write it, and the plan
//! year whose capital is measured.

/// A unit's identifier as written in the sources (trimmed).
pub type UnitId = String;

/// A plan (fiscal) year: the calendar year whose capital plan is measured.
pub type PlanYear = i32;
