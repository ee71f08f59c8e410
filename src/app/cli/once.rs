//! `disbmon once`: one run of a job now, recorded as a manual run, its report printed.

use super::common::load;
use super::signals::Stop;
use crate::app::exit;
use crate::app::pipeline;
use crate::app::report::Outcome;
use crate::app::table;
use crate::base::clock::Clock;
use crate::config::daemon::Transport;
use crate::store::db::Store;
use crate::store::runs::{RunOutcome, RunResult};
use chrono::NaiveDate;
use std::path::Path;

/// How `once` runs and prints: `--dry-run`, `--json`, and the table's width (`None`: `--wide`).
pub(super) struct Flags {
    pub(super) dry_run: bool,
    pub(super) json: bool,
    pub(super) width: Option<usize>,
}

/// The width the ranked table fits: the terminal's (`COLUMNS`, else the tty's), at most
/// `table::DEFAULT_WIDTH`; that width when the output is not a terminal; `None` with `--wide`.
pub(super) fn table_width(wide: bool) -> Option<usize> {
    if wide {
        return None;
    }
    let terminal = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
        .or_else(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)));
    Some(terminal.map_or(table::DEFAULT_WIDTH, |w| w.min(table::DEFAULT_WIDTH)))
}

/// Runs `job` as of `as_of` (today in its zone by default); the exit code says how it went.
/// SIGTERM or SIGINT (`stop`) stop it as they stop the daemon: the run may finish within
/// `shutdown_grace`, else it is cut off at its next await — every write to the store is a
/// transaction of its own, so that is a safe point — and recorded as interrupted.
pub(super) async fn once(
    config_path: Option<&Path>,
    job: &str,
    as_of: Option<NaiveDate>,
    Flags {
        dry_run,
        json,
        width,
    }: Flags,
    clock: &dyn Clock,
    stop: &mut Stop,
) -> i32 {
    let (setup, job) = match load(config_path, job) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let config = &setup.config;
    let as_of = as_of.unwrap_or_else(|| clock.now().with_timezone(&job.timezone).date_naive());
    let store = match Store::open(&config.state_dir) {
        Ok(s) => s,
        Err(e) => {
            esayln!("{e}");
            return exit::ERROR;
        }
    };
    // A hand run is its own run: a dry run borrows the instant (it records nothing), a real one
    // claims an instant no other run has, so its messages and history row are its own.
    let mut scheduled = clock.now();
    if !dry_run {
        // A run of ours that a killed `once` left behind is recorded as cut off.
        let claimed = store
            .interrupt_orphaned_manual()
            .and_then(|_| store.claim_manual(&job.name, scheduled));
        match claimed {
            Ok(at) => scheduled = at,
            Err(e) => {
                esayln!("{e}");
                return exit::ERROR;
            }
        }
    }
    let run = pipeline::Run {
        job: &job,
        config,
        templates: &setup.templates,
        store: &store,
        clock,
        scheduled,
        as_of,
        dry_run,
    };
    let Some(report) = until_stopped(pipeline::run_job(&run), stop, config.shutdown_grace).await
    else {
        return interrupted(&store, &job.name, scheduled, dry_run, clock);
    };
    if !dry_run {
        let result = report.result(1);
        if let Err(e) = store.finish(&job.name, scheduled, clock.now(), &result) {
            esayln!("{e}");
        }
    }
    if json {
        match serde_json::to_string_pretty(&report) {
            // JSON escapes control characters itself, and must stay JSON.
            Ok(s) => println!("{s}"),
            Err(e) => {
                esayln!("cannot write the report: {e}");
                return exit::ERROR;
            }
        }
    } else {
        say!("{}", report.human(job.language, width));
    }
    if report.outcome == Outcome::Rejected {
        esayln!(
            "job {}: the data was rejected, no unit was alerted:",
            job.name
        );
        for i in &report.data_issues {
            esayln!("  {i}");
        }
    }
    if let Some(e) = &report.error {
        esayln!("job {}: the run failed: {e}", job.name);
    }
    if !dry_run {
        if let Transport::File { dir } = &config.mail.transport {
            let sent = report.alerts.iter().filter(|a| a.delivered).count()
                + usize::from(report.digest.as_ref().is_some_and(|d| d.delivered));
            if sent > 0 {
                esayln!(
                    "wrote {sent} message{} as .eml files into {}",
                    if sent == 1 { "" } else { "s" },
                    dir.display()
                );
            }
        }
    }
    match report.outcome {
        Outcome::Ok => exit::OK,
        Outcome::Rejected => exit::DATA,
        Outcome::DeliveryFailed => exit::DELIVERY,
        Outcome::Failed => exit::ERROR,
        Outcome::Held => exit::HELD,
    }
}

/// The run, or None when a signal stopped it: after the first, it may go on for `grace`; a second
/// one stops it at once.
async fn until_stopped<F: std::future::Future>(
    work: F,
    stop: &mut Stop,
    grace: std::time::Duration,
) -> Option<F::Output> {
    tokio::pin!(work);
    let signal = tokio::select! {
        done = &mut work => return Some(done),
        signal = stop.next() => signal,
    };
    esayln!(
        "{signal}: stopping; the run may finish within {} s (shutdown_grace), or send {signal} again to stop it now",
        grace.as_secs()
    );
    tokio::select! {
        done = &mut work => Some(done),
        _ = tokio::time::sleep(grace) => None,
        _ = stop.next() => None,
    }
}

/// Records a run cut off by a signal, says what became of it, and returns its exit code.
fn interrupted(
    store: &Store,
    job: &str,
    scheduled: chrono::DateTime<chrono::Utc>,
    dry_run: bool,
    clock: &dyn Clock,
) -> i32 {
    if !dry_run {
        let result = RunResult {
            outcome: RunOutcome::Interrupted,
            error: Some("stopped by a signal before it finished".into()),
            ..Default::default()
        };
        if let Err(e) = store.finish(job, scheduled, clock.now(), &result) {
            esayln!("{e}");
        }
    }
    let waiting = store.waiting().unwrap_or(0);
    esayln!(
        "job {job}: the run was stopped before it finished{}",
        match (dry_run, waiting) {
            (true, _) => String::new(),
            (false, 0) => "; it is recorded as interrupted, and no message waits in the outbox".into(),
            (false, n) => format!(
                "; it is recorded as interrupted; {n} message{} wait in the outbox (`disbmon outbox` lists them, `disbmon outbox send` or the daemon sends them)",
                if n == 1 { "" } else { "s" }
            ),
        }
    );
    exit::INTERRUPTED
}
