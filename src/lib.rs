//! disbmon: a public-investment disbursement monitor.
//!
//! A job runs as one pipeline (see [`pipeline::run_job`]):
//!
//! ```text
//! pull ─► validate + compute ─► decide ─► notify ─► report
//! source   compute (polars)      decide     notify    report
//! ```
//!
//! Modules, in pipeline order:
//! - [`config`], [`job`]: the daemon config and job files, checked with every problem reported.
//! - [`schedule`], [`clock`]: crontab schedules in a job's zone; the only reader of the wall clock.
//! - [`source`]: fetches a source (HTTP or file) and normalises it (CSV, JSON) to a table file.
//! - [`compute`]: the only user of polars: reads the tables, validates rows, aggregates exactly in
//!   integer đồng, and computes each unit's rate, expected rate, gap, rank and status.
//! - [`ledger`], [`money`], [`rule`]: plain domain types and rules shared by the stages.
//! - [`decide`]: who gets an alert and why; who cannot be reached.
//! - [`notify`]: renders the emails (vi/en, text and HTML) and delivers them (lettre).
//! - [`report`]: the run report (JSON) and the ranked table for people.
//! - [`daemon`], [`store`], [`admin`]: `disbmon run` — the schedule loop, the SQLite state store,
//!   and the admin HTTP listener.
//! - [`cli`]: the command line.
//!
//! Architecture invariants: only `compute` touches polars; only `source` knows upstream formats;
//! only `notify` knows lettre's transports; only `clock` reads the time.

pub mod admin;
pub mod cli;
pub mod clock;
pub mod compute;
pub mod config;
pub mod daemon;
pub mod decide;
pub mod job;
pub mod ledger;
pub mod money;
pub mod notify;
pub mod outbox;
pub mod pipeline;
pub mod report;
pub mod rule;
pub mod schedule;
pub mod source;
pub mod store;
