//! `disbmon once`: one run of a job now, recorded as a manual run, its report printed.

use super::common::load;
use crate::app::exit;
use crate::app::pipeline;
use crate::app::report::Outcome;
use crate::base::clock::Clock;
use crate::config::daemon::Transport;
use crate::store::db::Store;
use chrono::NaiveDate;
use std::path::Path;

/// Runs `job` as of `as_of` (today in its zone by default); the exit code says how it went.
pub(super) async fn once(
    config_path: Option<&Path>,
    job: &str,
    as_of: Option<NaiveDate>,
    (dry_run, json): (bool, bool),
    clock: &dyn Clock,
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
    let report = pipeline::run_job(&run).await;
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
        say!("{}", report.human(job.language));
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
