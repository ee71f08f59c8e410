//! disbmon: a public-investment disbursement monitor.
//!
//! A job runs as one pipeline (see [`app::pipeline::run_job`] and `ARCHITECTURE.md`):
//!
//! ```text
//! pull ─► measure ─► validate ─► decide ─► render ─► record ─► deliver
//! data::   data::     data::      domain::  notify::  store::   app::
//! source   measure    validate    decide    queue     record   outbox
//!          (compute)
//! ```
//!
//! The stages, in pipeline order, and the module that owns each:
//! - pull: `data::source` fetches a source (HTTP or file) and turns CSV, JSON or Excel into one
//!   checked table shape;
//! - measure: `data::measure` asks `data::compute` (the only user of polars) for exact sums in
//!   integer đồng, reusing stored sums (`data::reuse`), and builds the `domain::ledger::Ledger`;
//! - validate: `data::validate` says whether this data may alert anyone;
//! - rates: `data::compute::rates`, then `domain::projection` and `domain::reallocation`;
//! - decide: `domain::decide` — who is told what, and why;
//! - render: `notify::render` and `notify::queue` — the emails, built into outbox messages;
//! - record: `store::record` — everything in one transaction, before any delivery;
//! - deliver: `app::outbox` drains the outbox through `notify::deliver` (the only user of lettre).
//!
//! The layers, bottom up; a layer names only the layers below it (`tests/suite/architecture.rs`):
//! - [`base`]: the one clock, text from outside made safe, private files, secrets, enum words.
//! - [`domain`]: plain types and rules — money, ids, milestones, the ledger, rates, the
//!   projection, reallocation, decisions, messages, answers and their links. No I/O.
//! - [`config`]: the daemon config and the job files, checked with every problem reported.
//! - [`data`]: from sources to validated figures (`source`, `measure`, `compute`, `reuse`,
//!   `validate`, the answers source).
//! - [`store`]: the SQLite state store, the only user of rusqlite.
//! - [`notify`]: the emails, charts and the workbook, and their delivery.
//! - [`web`]: the admin listener, the dashboard and the answer form, the only user of axum.
//! - [`app`]: one run (`pipeline`), the daemon, the command line, the outbox drainer, the report.

pub mod base;
pub mod domain;
pub mod config;
pub mod data;
pub mod store;
pub mod notify;
pub mod web;
pub mod app;
