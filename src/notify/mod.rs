//! The notify stage: renders the emails people read ([`render`]) and delivers them ([`deliver`]).

pub mod deliver;
pub mod render;

pub use deliver::Mailer;
pub use render::{Context, Email};
