//! The notify stage: renders the emails people read ([`render`]), builds them into messages for
//! the outbox ([`queue`]) and delivers them ([`deliver`]); draws the charts ([`chart`]) and
//! writes the official table ([`workbook`]). Only `deliver` knows lettre.

pub mod chart;
pub mod deliver;
pub mod queue;
pub mod render;
pub mod templates;
pub mod workbook;
