//! The exit codes of every command (documented in the README): what a script or a supervisor
//! can tell from disbmon's status alone.

/// Everything computed and delivered.
pub const OK: i32 = 0;
/// An unexpected error (a bug, or the machine itself failing).
pub const ERROR: i32 = 1;
/// The command line was wrong (clap's own code).
pub const USAGE: i32 = 2;
/// The config or a job file is invalid.
pub const CONFIG: i32 = 3;
/// A source could not be read or its data was rejected; no unit was alerted.
pub const DATA: i32 = 4;
/// Some message could not be delivered.
pub const DELIVERY: i32 = 5;
/// Another `disbmon run` already uses the state folder.
pub const LOCKED: i32 = 6;
/// The run queued more messages than `mail.max_messages_per_run`: none was sent, they wait
/// for `disbmon outbox release RUN`.
pub const HELD: i32 = 7;
/// `once` was stopped (SIGTERM, SIGINT) before its run finished: the run is recorded as
/// interrupted; messages it had queued wait in the outbox.
pub const INTERRUPTED: i32 = 8;
