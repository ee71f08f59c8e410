//! The state store: SQLite under the state folder — runs, each unit's figures and decision, the
//! units' alert memory, the outbox, silences and answers — and the daemon's lock on the folder.
//! The only user of rusqlite: the stages hand it plain values and get plain values back.

pub mod answers;
pub mod db;
pub mod figures;
pub mod liveness;
pub mod lock;
pub mod memory;
pub mod outbox;
pub mod record;
pub mod runs;
pub mod schema;
pub mod sent;
pub mod sql;
