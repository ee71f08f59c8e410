//! The only place that installs signal handlers: the daemon's controls (SIGTERM and SIGINT stop
//! it, SIGHUP reloads) and a one-off command's stop (SIGTERM, SIGINT).

use crate::app::daemon::env::Control;

/// SIGTERM and SIGINT for a one-off command: each [`Stop::next`] resolves at the next one, with
/// its name.
pub(super) struct Stop {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Stop {
    pub(super) fn install() -> std::io::Result<Stop> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Stop {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    pub(super) async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// The daemon's controls from the process's signals: SIGTERM or SIGINT stop it, SIGHUP reloads.
pub(super) fn signals() -> std::io::Result<Control<impl std::future::Future<Output = ()>>> {
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
