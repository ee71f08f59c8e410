//! The command line as clap reads it: the commands, their arguments and what `--help` says.

use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "disbmon",
    version,
    about = "Public-investment disbursement monitor"
)]
pub struct Cli {
    /// The config file [default: config/disbmon.toml if it exists, else the embedded defaults]
    #[arg(long, global = true, env = "DISBMON_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the config and every job; print each job's next 3 run times.
    Check,
    /// Run the daemon in the foreground: every job on its schedule, until SIGTERM or SIGINT;
    /// SIGHUP reloads the config and jobs.
    Run,
    /// Show each job's schedule, next run and last runs, from the state store.
    Status,
    /// A job's runs, or one unit's rate over time and every email it was sent.
    History {
        #[arg(long)]
        job: String,
        #[arg(long)]
        unit: Option<String>,
    },
    /// Hold back a unit's alerts until a date (recorded as suppressed, sent when it ends).
    Silence {
        #[command(subcommand)]
        action: SilenceAction,
    },
    /// List pending and failed messages; `outbox retry ID` queues a failed one again.
    Outbox {
        #[command(subcommand)]
        action: Option<OutboxAction>,
    },
    /// Run one job now.
    Once {
        /// A job name (jobs/NAME.toml) or the path of a job file.
        job: String,
        /// The cut-off date, YYYY-MM-DD [default: today in the job's time zone]
        #[arg(long, value_parser = parse_date)]
        as_of: Option<NaiveDate>,
        /// Compute and render, but send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the run report as JSON on stdout (logs stay on stderr).
        #[arg(long)]
        json: bool,
        /// Print the ranked table with every column and whole names; by default it fits the
        /// terminal, at most 120 characters wide (`COLUMNS` sets the width).
        #[arg(long)]
        wide: bool,
    },
    /// Write the official table of a job as an Excel workbook (computed as `once --dry-run`
    /// does; nothing is recorded or sent).
    Report {
        /// A job name (jobs/NAME.toml) or the path of a job file.
        job: String,
        /// The cut-off date, YYYY-MM-DD [default: today in the job's time zone]
        #[arg(long, value_parser = parse_date)]
        as_of: Option<NaiveDate>,
        /// Where to write the workbook, e.g. bang.xlsx.
        #[arg(long)]
        xlsx: std::path::PathBuf,
    },
    /// Replay the past years the sources hold, month by month: project each unit's rate at the
    /// 31/1 close from every month end (from the years before it only) and print the mean
    /// absolute error per month beside a straight line's. Nothing is recorded or sent.
    Backtest {
        /// A job name (jobs/NAME.toml) or the path of a job file.
        job: String,
        /// The cut-off date the sources are read at, YYYY-MM-DD [default: today]
        #[arg(long, value_parser = parse_date)]
        as_of: Option<NaiveDate>,
        /// Past plan years to measure, 1 to 10 [default: 10]
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10))]
        years: u32,
        /// Print the backtest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the email one unit would get (headers and text part).
    Preview {
        job: String,
        #[arg(long)]
        unit: String,
        #[arg(long, value_parser = parse_date)]
        as_of: Option<NaiveDate>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SilenceAction {
    /// Silence a unit of a job until (and including) a date.
    Add {
        #[arg(long)]
        job: String,
        #[arg(long)]
        unit: String,
        #[arg(long, value_parser = parse_date)]
        until: NaiveDate,
        #[arg(long)]
        reason: String,
    },
    /// The silences in force or still to come.
    List,
    /// Lift a silence.
    Remove { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum OutboxAction {
    /// Queue a failed message again (with a new delivery deadline).
    Retry { id: i64 },
    /// Send every message that is due now (for setups that run `disbmon once` from cron).
    Send,
    /// Release the messages of a run held by the mass-mailing guard (`mail.max_messages_per_run`):
    /// they are sent from then on. RUN is the number `disbmon outbox` and the operators' notice give.
    Release { run: i64 },
}

/// A command-line date that is not one.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a date; write YYYY-MM-DD")]
pub struct BadDate(String);

fn parse_date(s: &str) -> Result<NaiveDate, BadDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| BadDate(s.to_string()))
}
