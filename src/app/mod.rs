//! The program: one run of a job (`pipeline`), the daemon that runs jobs on their schedules,
//! the command line, the outbox drainer and the run report.

pub mod assessment;
pub mod cli;
pub mod daemon;
pub mod exit;
pub mod outbox;
pub mod pipeline;
pub mod preview;
pub mod report;
pub mod setup;
