//! The command line: `check`, `once`, `report`, `backtest`, `preview`, `run`, `status`,
//! `history`, `silence`, `outbox`. Each command returns an exit code; main prints nothing of its
//! own. Signal handlers (for `run` and `once`) are installed in `signals` only.

#[macro_use]
mod say;

pub mod args;
mod check;
mod common;
mod history;
mod once;
mod outbox;
mod preview;
mod report;
mod signals;
mod silence;

pub use args::{Cli, Command};

use crate::app::exit;
use crate::base::clock::{Clock, FixedClock, SystemClock};
use chrono::{DateTime, Utc};
use signals::{signals, Stop};

/// Runs the command `cli` names; returns its exit code.
pub async fn run(cli: Cli) -> i32 {
    let clock = match clock() {
        Ok(c) => c,
        Err(e) => {
            esayln!("{e}");
            return exit::USAGE;
        }
    };
    let path = cli.config.as_deref();
    match cli.command {
        Command::Check => check::check(path, clock.as_ref()),
        Command::Run => match signals() {
            Ok(control) => {
                crate::app::daemon::run(cli.config.clone(), std::sync::Arc::from(clock), control)
                    .await
            }
            Err(e) => {
                esayln!("cannot install signal handlers: {e}");
                exit::ERROR
            }
        },
        Command::Status => check::status(path, clock.as_ref()),
        Command::History { job, unit } => history::history(path, &job, unit.as_deref()),
        Command::Silence { action } => silence::silence(path, action, clock.as_ref()),
        Command::Outbox { action } => outbox::outbox(path, action, clock.as_ref()).await,
        Command::Once {
            job,
            as_of,
            dry_run,
            json,
            wide,
        } => match Stop::install() {
            Ok(mut stop) => {
                once::once(
                    path,
                    &job,
                    as_of,
                    once::Flags {
                        dry_run,
                        json,
                        width: once::table_width(wide),
                    },
                    clock.as_ref(),
                    &mut stop,
                )
                .await
            }
            Err(e) => {
                esayln!("cannot install signal handlers: {e}");
                exit::ERROR
            }
        },
        Command::Report { job, as_of, xlsx } => {
            report::report(path, &job, as_of, &xlsx, clock.as_ref()).await
        }
        Command::Backtest {
            job,
            as_of,
            years,
            json,
        } => report::backtest(path, &job, as_of, (years, json), clock.as_ref()).await,
        Command::Preview { job, unit, as_of } => {
            preview::preview(path, &job, &unit, as_of, clock.as_ref()).await
        }
    }
}

/// `DISBMON_NOW` is not a time.
#[derive(Debug, thiserror::Error)]
#[error("DISBMON_NOW=`{value}` is not an RFC 3339 time ({detail}); write e.g. 2026-10-31T08:00:00+07:00")]
pub struct BadNow {
    value: String,
    detail: chrono::ParseError,
}

/// The clock: the system's, or `DISBMON_NOW` (RFC 3339) when set, so that runs can be replayed.
fn clock() -> Result<Box<dyn Clock>, BadNow> {
    match std::env::var("DISBMON_NOW") {
        Ok(v) => DateTime::parse_from_rfc3339(&v)
            .map(|t| Box::new(FixedClock(t.with_timezone(&Utc))) as Box<dyn Clock>)
            .map_err(|detail| BadNow { value: v, detail }),
        Err(_) => Ok(Box::new(SystemClock)),
    }
}
