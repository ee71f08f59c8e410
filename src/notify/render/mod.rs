//! Renders the emails people read — a unit's alert, the digest, an operator notice — as text and
//! HTML, in Vietnamese or English. Pure: no I/O. Each builds a view of text already formatted in
//! the job's language (`notify::templates::views`); the templates only lay it out, and escape
//! everything that comes from the data in the HTML part.

pub mod alert;
pub mod answers;
pub mod context;
pub mod digest;
pub mod fit;
pub mod notice;
pub mod projection;
pub mod tables;
pub mod words;

#[cfg(test)]
mod tests;
