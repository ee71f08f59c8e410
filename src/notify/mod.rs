//! The notify stage: renders the emails people read ([`render`]), builds them into messages for
//! the outbox ([`queue`]) and delivers them ([`deliver`]). The only module that knows lettre.

pub mod deliver;
pub mod queue;
pub mod render;
pub mod templates;

pub use deliver::Mailer;
pub use render::{Context, Email};
