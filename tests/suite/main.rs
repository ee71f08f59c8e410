//! Every integration test, linked as one test binary: the crate and its dependencies are linked
//! once instead of once per file (twenty binaries of ~100 MB each), and the test helpers compiled
//! once. Each file is a module named as its file was; `cargo test --test suite hostile::` runs
//! one file's tests.

mod support;

mod alerts;
mod answers;
mod architecture;
mod browser;
mod cli;
mod compute;
mod daemon;
mod daemon_loop;
mod dashboard;
mod excel;
mod first_look;
mod hostile;
mod http_sources;
mod projection;
mod properties;
mod published;
mod reliability;
mod reuse;
mod run_flow;
mod workbook;
