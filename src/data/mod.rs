//! From a job's sources to figures that may alert someone: pull (`source`), measure (`measure`,
//! with `compute`, the only user of polars, and `reuse`, what is kept between runs: the daily
//! cube in `cube_store`, the last answers, both checked against the source's `fingerprint`) and
//! validate (`validate`); and the answers source (`answers`).

pub mod answers;
pub mod compute;
mod cube_store;
mod fingerprint;
pub mod measure;
pub mod reuse;
pub mod source;
pub mod validate;

#[cfg(test)]
mod tests;
