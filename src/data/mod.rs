//! From a job's sources to figures that may alert someone: pull (`source`), measure (`measure`,
//! with `compute`, the only user of polars, and `reuse`, the sums kept between runs) and
//! validate (`validate`); and the answers source (`answers`).

pub mod answers;
pub mod compute;
mod cube_store;
pub mod measure;
pub mod reuse;
pub mod source;
pub mod validate;

#[cfg(test)]
mod tests;
