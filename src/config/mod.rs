//! What operators write: the daemon config (`config/disbmon.toml`) and the job files
//! (`jobs/NAME.toml`), read into typed settings with every problem reported at once.

pub mod daemon;
pub mod job;
pub mod job_load;
pub mod job_toml;
pub mod jobs;
pub mod keys;
pub mod read;
pub mod trace;
