//! The command line: `check`, `once`, `report`, `backtest`, `preview`, `run`, `status`,
//! `history`, `silence`, `outbox`. Each command returns an exit code; main prints nothing of its
//! own. The only place that installs signal handlers (for `run` and `once`).

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
mod silence;

pub use args::{Cli, Command};

use crate::app::daemon::env::Control;
use crate::app::exit;
use crate::base::clock::{Clock, FixedClock, SystemClock};
use chrono::{DateTime, Utc};

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
        } => match Stop::install() {
            Ok(mut stop) => {
                once::once(
                    path,
                    &job,
                    as_of,
                    (dry_run, json),
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

/// SIGTERM and SIGINT for a one-off command: each [`Stop::next`] resolves at the next one, with
/// its name.
pub(crate) struct Stop {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Stop {
    fn install() -> std::io::Result<Stop> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Stop {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    pub(crate) async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// The daemon's controls from the process's signals: SIGTERM or SIGINT stop it, SIGHUP reloads.
fn signals() -> std::io::Result<Control<impl std::future::Future<Output = ()>>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            if tx.send(()).await.is_err() {
                break;
            }
        }
    });
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = int.recv() => tracing::info!("SIGINT"),
        }
    };
    Ok(Control {
        shutdown,
        reload: rx,
    })
}
