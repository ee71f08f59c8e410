//! disbmon: a public-investment disbursement monitor.
//!
//! A job runs as one pipeline (see [`pipeline::run_job`] and `ARCHITECTURE.md`):
//!
//! ```text
//! pull ─► measure ─► validate ─► decide ─► render ─► record ─► deliver
//! source  measure    validate    decide    notify    store     outbox
//!         compute                          ::queue
//! ```
//!
//! Modules, in pipeline order:
//! - [`config`], [`job`]: the daemon config and job files, checked with every problem reported.
//! - [`address`]: email addresses and mailboxes, the project's own type, parsed and checked.
//! - [`schedule`], [`clock`]: crontab schedules in a job's zone; the only reader of the wall clock.
//! - [`source`]: fetches a source (HTTP or file) and normalises it (CSV, JSON, Excel) to a table.
//! - [`measure`]: what is measured — this year, a year earlier, each further denominator.
//! - [`compute`]: the only user of polars: reads the tables, checks rows, aggregates exactly in
//!   integer đồng, and computes each unit's rate, expected rate, gap, rank and status.
//! - [`reuse`]: a money source's sums stored between runs: reused when unchanged, added to when
//!   rows were appended.
//! - [`projection`]: each unit's rate at 31/12 and 31/1 on its current pace, from past years'
//!   seasonal curves, and the backtest of that projection.
//! - [`reallocation`]: the advisory proposal of which units could release or absorb capital.
//! - [`validate`]: stale data and each source's `on_error`: may this data alert anyone?
//! - [`ledger`], [`money`], [`rule`]: plain domain types and rules shared by the stages.
//! - [`text`]: text from outside made safe where it is used (headers, tables, terminals, URLs).
//! - [`decide`]: who gets an alert and why; who cannot be reached.
//! - [`notify`]: renders the emails (vi/en, text and HTML), builds them for the outbox, and
//!   delivers them (the only user of lettre).
//! - [`store`]: the SQLite state store — runs, figures, decisions, alert memory, the outbox.
//! - [`outbox`]: the one drainer that sends queued messages.
//! - [`report`]: the run report (JSON) and the ranked table for people.
//! - [`workbook`]: the official table as an Excel workbook (`disbmon report --xlsx`).
//! - [`chart`]: PNG charts (the ranking, a unit's curve) for the emails and the dashboard.
//! - [`dashboard`]: the read-only pages the admin listener serves (templates, auto-escaped).
//! - [`pipeline`]: one run, the stages in order.
//! - [`answers`]: units answer their alerts — signed links, the form listener, the checks.
//! - [`daemon`], [`admin`]: `disbmon run` — the schedule loop and the admin HTTP listener.
//! - [`cli`]: the command line.
//!
//! Architecture invariants (checked by `tests/architecture.rs` and clippy): only `compute`
//! touches polars; only `notify` touches lettre; only `source` knows upstream formats; only
//! `clock` reads the time.

pub mod address;
pub mod admin;
pub mod answers;
pub mod chart;
pub mod cli;
pub mod clock;
pub mod compute;
pub mod config;
pub mod daemon;
pub mod dashboard;
pub mod decide;
pub mod job;
pub mod ledger;
pub mod measure;
pub mod money;
pub mod notify;
pub mod outbox;
pub mod pipeline;
pub mod projection;
pub mod reallocation;
pub mod report;
pub mod reuse;
pub mod rule;
pub mod schedule;
pub mod source;
pub mod store;
pub mod text;
pub mod validate;
pub mod workbook;
