//! The program: what operators wrote loaded (`setup`), a job's data assessed (`assessment`), one
//! run of it (`pipeline`), the daemon that runs jobs on their schedules, the command line, the
//! outbox drainer, the run report and the exit codes.

pub mod assessment;
pub mod cli;
pub mod daemon;
pub mod exit;
pub mod outbox;
pub mod pipeline;
pub mod preview;
pub mod report;
pub mod setup;
pub mod table;
