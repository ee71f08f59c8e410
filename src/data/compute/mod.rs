//! The compute stage, and the only user of polars: reads each source table lazily, checks its
//! rows, sums money exactly in integer đồng, and computes every unit's rate, gap, rank and
//! status. It returns plain Rust values, so later stages never see a DataFrame.
//!
//! Large transaction files are scanned lazily: only the mapped columns are read, and rows are
//! parsed and summed per unit without the file being held whole in memory. Two readers answer
//! alike: the fast one (`typed`) when every row is valid for it, else the exact one (`exact`),
//! which names every row with a problem.

pub mod aggregate;
pub mod cube;
pub mod exact;
pub mod frame;
pub mod query;
pub mod rates;
pub mod running;
pub mod sums;
pub mod typed;
pub mod units;

#[cfg(test)]
mod tests;
