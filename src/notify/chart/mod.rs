//! PNG charts for the emails and the dashboard: units ranked by rate, and one unit's curve
//! against its milestones.
//!
//! Both are pure functions: plain data and the caller's labels in, PNG bytes out — no files, no
//! clock, no fonts from the machine. Every word is passed in by the caller; only numbers are
//! written here, in the reader's number style the caller names ("34,4" in Vietnamese, "34.4" in
//! English).
//!
//! plotters draws the shapes into an RGB buffer; the text is laid out and drawn here with
//! ab_glyph, from DejaVu Sans built into the binary (`assets/fonts/`, Bitstream Vera licence).
//! Why not plotters' own text: its ab_glyph renderer (0.3.7) drops each glyph's side bearing, so
//! letters sit unevenly ("nh ân"), and its baseline moves with the anchor. DejaVu covers
//! Vietnamese, and a server with no fonts installed draws the same chart, byte for byte, as a
//! developer's laptop.
//!
//! Figures come from outside and are not trusted: NaN, infinite, negative or absurd rates, dates
//! off the axis, empty series and any number of bars give a PNG (clamped or left out), never a
//! panic.

pub mod canvas;
pub mod curve;
pub mod figures;
pub mod look;
pub mod ranking;
pub mod spec;
pub mod text;

#[cfg(test)]
mod tests;
