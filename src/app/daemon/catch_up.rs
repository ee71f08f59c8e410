//! What to do at start about slots that passed while the daemon was down: the latest missed one
//! inside the job's `catch_up` window runs, once; the rest are skipped and logged.

use crate::config::job::Job;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What to do at start about slots that passed while the daemon was down.
#[derive(Debug, Clone, PartialEq)]
pub struct CatchUp {
    /// The one slot to run now (the latest missed one inside the window).
    pub run: Option<DateTime<Utc>>,
    /// Missed slots not run (older than the window, or superseded by a later one): the first and
    /// the last of them, for the log.
    pub skipped: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The latest fire time at or before `now`, after `after`; found by looking back in doubling
/// steps, so that a per-second job down for a month costs a few dozen look-ups, not millions.
fn latest_slot(job: &Job, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let next = |t: DateTime<Utc>| {
        job.schedule
            .next_after(job.timezone, t)
            .map(|n| n.with_timezone(&Utc))
    };
    let mut step = chrono::Duration::seconds(1);
    let mut found = None;
    loop {
        let from = (now - step).max(after);
        if let Some(t) = next(from).filter(|t| *t <= now) {
            found = Some(t);
            break;
        }
        if from == after {
            break;
        }
        step = step * 2;
    }
    // Walk forward to the last slot that is still not after now (a step may have overshot back).
    let mut t = found?;
    while let Some(n) = next(t).filter(|n| *n <= now) {
        t = n;
    }
    Some(t)
}

/// Decides which missed slot to run at start. Slots after `last_seen` (when the daemon last
/// watched this job) and up to `now` were missed, as were `interrupted` ones; the latest that is
/// younger than `window` runs once, however many there were. A job the daemon never watched
/// (`last_seen` none) has missed nothing but its interrupted runs.
pub fn catch_up(
    job: &Job,
    last_seen: Option<DateTime<Utc>>,
    interrupted: &[DateTime<Utc>],
    now: DateTime<Utc>,
    window: Duration,
) -> CatchUp {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    let interrupted: Vec<DateTime<Utc>> =
        interrupted.iter().copied().filter(|t| *t <= now).collect();
    // Scheduled slots missed since the job was last watched: the first and the latest.
    let first = last_seen.and_then(|seen| {
        job.schedule
            .next_after(job.timezone, seen)
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| *t <= now)
    });
    let latest = last_seen
        .zip(first)
        .and_then(|(seen, _)| latest_slot(job, seen, now));
    let run = interrupted
        .iter()
        .copied()
        .chain(latest)
        .filter(|t| now - *t <= window)
        .max();
    // What is not run: the interrupted slots but the one run, and the scheduled range but the
    // one run (then it ends at the slot before it).
    let mut rest: Vec<DateTime<Utc>> = interrupted
        .into_iter()
        .filter(|t| Some(*t) != run)
        .collect();
    if let (Some(seen), Some(first), Some(latest)) = (last_seen, first, latest) {
        let end = if Some(latest) == run {
            latest_slot(job, seen, latest - chrono::Duration::milliseconds(1))
        } else {
            Some(latest)
        };
        if let Some(end) = end.filter(|e| *e >= first) {
            rest.extend([first, end]);
        }
    }
    CatchUp {
        run,
        skipped: rest
            .iter()
            .min()
            .zip(rest.iter().max())
            .map(|(a, b)| (*a, *b)),
    }
}
