//! The only reader of the wall clock. Everything else takes time as an input, so that schedules,
//! as-of dates and (later) dedup are testable without sleeping.

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one permitted read of the wall clock
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that always says the same time: for tests, and for `DISBMON_NOW` (see docs/operators.md) so that
/// black-box runs of the binary can pin "today".
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Monotonic time, for measuring how long something took or how long ago the loop went round
/// (the wall clock may be pinned or jump). tokio's, so that paused-time tests see it move.
#[allow(clippy::disallowed_methods)] // the one permitted read of the monotonic clock
pub fn monotonic() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// A clock that follows tokio's time from a given start: tests pause tokio's time
/// (`tokio::time::pause`, or `#[tokio::test(start_paused = true)]`) and let it advance, so that
/// the daemon's schedules, retries and dead-man checks run through hours in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: DateTime<Utc>,
    at: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(start: DateTime<Utc>) -> TokioClock {
        TokioClock {
            start,
            at: monotonic(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::from_std(self.at.elapsed()).unwrap_or_default()
    }
}
