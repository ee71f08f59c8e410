//! Job schedules: crontab expressions as operators know them, evaluated in the job's time zone.
//!
//! The `cron` crate does the field matching, but its dialect differs from crontab (seconds field
//! required, Sunday = 1, day-of-month AND day-of-week, a double run at the autumn clock change). This
//! wrapper gives crontab semantics on top of it:
//! - five fields (a sixth, leading seconds field is optional) and `@hourly/@daily/@weekly/@monthly/@yearly`;
//! - day-of-week 0..7 with 0 and 7 = Sunday, names `MON`..`SUN`, ranges, lists and steps;
//! - when both day-of-month and day-of-week are restricted (neither starts with `*`), either matching
//!   fires (Vixie cron);
//! - times are matched in local wall-clock time of the zone: a local time that does not exist (spring
//!   forward) fires once at the first instant after the gap; one that happens twice fires once (the
//!   first time).

use chrono::{DateTime, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use std::str::FromStr;

#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    /// One schedule, or two whose union is the crontab meaning (day-of-month OR day-of-week).
    parts: Vec<cron::Schedule>,
}

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// What is wrong with a schedule expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("`{0}` is not a known shorthand; use @hourly, @daily, @weekly, @monthly or @yearly, or five crontab fields")]
    Shorthand(String),
    #[error("expected 5 fields (minute hour day-of-month month day-of-week) or 6 with leading seconds, got {0}")]
    FieldCount(usize),
    #[error("{0} (hours are 0-23, minutes 0-59, days 1-31, months 1-12 or JAN-DEC)")]
    Field(String),
    #[error("day-of-week `{0}` is not a day; use 0-7 (0 and 7 are Sunday) or SUN, MON, TUE, WED, THU, FRI, SAT")]
    Day(String),
    #[error("day-of-week step `{0}` must be a positive number")]
    Step(String),
    #[error("day-of-week range `{0}` runs backwards; write it low-high, e.g. MON-FRI")]
    Backwards(String),
}

impl Schedule {
    pub fn parse(expression: &str) -> Result<Self, ScheduleError> {
        let expanded = match expression.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(ScheduleError::Shorthand(other.to_string()))
            }
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (sec, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => return Err(ScheduleError::FieldCount(n)),
        };
        let (min, hour, dom, month, dow) = (rest[0], rest[1], rest[2], rest[3], rest[4]);
        let days = weekdays(dow)?;
        let dow_list = days
            .iter()
            .enumerate()
            .filter(|(_, on)| **on)
            .map(|(i, _)| DAY_NAMES[i])
            .collect::<Vec<_>>()
            .join(",");
        let build = |dom: &str, dow: &str| -> Result<cron::Schedule, ScheduleError> {
            let text = format!("{sec} {min} {hour} {dom} {month} {dow}");
            cron::Schedule::from_str(&text).map_err(|e| ScheduleError::Field(e.to_string()))
        };
        let dom_star = dom.starts_with('*') || dom == "?";
        let dow_star = dow.starts_with('*') || dow == "?";
        let parts = if !dom_star && !dow_star {
            vec![build(dom, "*")?, build("*", &dow_list)?]
        } else if dow_star && dow.starts_with('*') && days.iter().all(|d| *d) {
            vec![build(dom, "*")?]
        } else {
            vec![build(dom, &dow_list)?]
        };
        Ok(Schedule {
            expression: expression.trim().to_string(),
            parts,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first fire time strictly after `after`, in zone `tz`.
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Tz>> {
        let local = after.with_timezone(&tz).naive_local();
        // Local wall-clock candidates, in order; matched as if local time were UTC.
        let start = Utc.from_utc_datetime(&(local - chrono::Duration::hours(3)));
        let mut iters: Vec<_> = self
            .parts
            .iter()
            .map(|s| s.after(&start).peekable())
            .collect();
        for _ in 0..100_000 {
            // Smallest next candidate across the parts (the OR of day-of-month and day-of-week).
            let cand = iters
                .iter_mut()
                .filter_map(|it| it.peek().map(|c| c.naive_utc()))
                .min()?;
            for it in iters.iter_mut() {
                while it.peek().is_some_and(|c| c.naive_utc() == cand) {
                    it.next();
                }
            }
            if let Some(instant) = resolve_local(tz, cand) {
                if instant.with_timezone(&Utc) > after {
                    return Some(instant);
                }
            }
        }
        None
    }

    /// The next `n` fire times after `after`.
    pub fn upcoming(&self, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Tz>> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_after(tz, t) {
                Some(next) => {
                    t = next.with_timezone(&Utc);
                    out.push(next);
                }
                None => break,
            }
        }
        out
    }
}

/// A local wall-clock time as an instant: the earlier of a repeated time, and for a time skipped by
/// a clock change, the first instant after the gap.
fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Tz>> {
    use chrono::LocalResult;
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t),
        LocalResult::Ambiguous(a, b) => Some(a.min(b)),
        LocalResult::None => {
            // Gaps are at most a few hours: the first whole minute after `local` that exists is
            // the instant the gap ends.
            let mut probe = local.with_second(0)?;
            for _ in 0..(24 * 60) {
                probe += chrono::Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return Some(t);
                }
            }
            None
        }
    }
}

/// Parses a crontab day-of-week field into which days (0 = Sunday .. 6 = Saturday) it allows.
fn weekdays(field: &str) -> Result<[bool; 7], ScheduleError> {
    let mut on = [false; 7];
    let value = |t: &str| -> Result<u32, ScheduleError> {
        let up = t.to_ascii_uppercase();
        if let Some(i) = DAY_NAMES.iter().position(|n| *n == up) {
            return Ok(i as u32);
        }
        match t.parse::<u32>() {
            Ok(n) if n <= 7 => Ok(n),
            _ => Err(ScheduleError::Day(t.to_string())),
        }
    };
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| ScheduleError::Step(s.to_string()))?,
            ),
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (0, 6)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if item.contains('/') { 6 } else { v })
        };
        if lo > hi {
            return Err(ScheduleError::Backwards(range.to_string()));
        }
        let mut d = lo;
        while d <= hi {
            on[(d % 7) as usize] = true;
            d += step;
        }
    }
    Ok(on)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        tz.from_local_datetime(
            &NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_hms_opt(h, min, 0)
                .unwrap(),
        )
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
    }

    fn next_local(expr: &str, tz: Tz, from: DateTime<Utc>, n: usize) -> Vec<String> {
        Schedule::parse(expr)
            .unwrap()
            .upcoming(tz, from, n)
            .iter()
            .map(|t| t.format("%a %Y-%m-%d %H:%M:%S %z").to_string())
            .collect()
    }

    const HCM: Tz = chrono_tz::Asia::Ho_Chi_Minh;
    const NY: Tz = chrono_tz::America::New_York;

    #[test]
    fn five_fields_with_names_in_the_job_zone() {
        // Friday 27 Nov 2026.
        let from = at(HCM, 2026, 11, 27, 9, 0);
        assert_eq!(
            next_local("0 8 * * MON", HCM, from, 3),
            [
                "Mon 2026-11-30 08:00:00 +0700",
                "Mon 2026-12-07 08:00:00 +0700",
                "Mon 2026-12-14 08:00:00 +0700"
            ]
        );
        assert_eq!(
            next_local("30 7 * JAN,DEC MON-FRI", HCM, from, 1),
            ["Tue 2026-12-01 07:30:00 +0700"]
        );
    }

    #[test]
    fn sunday_is_0_or_7_and_monday_is_1() {
        let from = at(HCM, 2026, 11, 27, 9, 0);
        let sunday = ["Sun 2026-11-29 06:00:00 +0700"];
        assert_eq!(next_local("0 6 * * 0", HCM, from, 1), sunday);
        assert_eq!(next_local("0 6 * * 7", HCM, from, 1), sunday);
        assert_eq!(next_local("0 6 * * SUN", HCM, from, 1), sunday);
        assert_eq!(
            next_local("0 6 * * 1", HCM, from, 1),
            ["Mon 2026-11-30 06:00:00 +0700"]
        );
        assert_eq!(
            next_local("0 6 * * 5-7", HCM, from, 2),
            [
                "Sat 2026-11-28 06:00:00 +0700",
                "Sun 2026-11-29 06:00:00 +0700"
            ]
        );
        // */2 is Sunday, Tuesday, Thursday and Saturday.
        assert_eq!(
            next_local("0 6 * * */2", HCM, from, 3),
            [
                "Sat 2026-11-28 06:00:00 +0700",
                "Sun 2026-11-29 06:00:00 +0700",
                "Tue 2026-12-01 06:00:00 +0700"
            ]
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_when_both_are_restricted() {
        // The 1st of the month or any Monday.
        let from = at(HCM, 2026, 11, 27, 9, 0);
        assert_eq!(
            next_local("0 8 1 * MON", HCM, from, 3),
            [
                "Mon 2026-11-30 08:00:00 +0700",
                "Tue 2026-12-01 08:00:00 +0700",
                "Mon 2026-12-07 08:00:00 +0700"
            ]
        );
        // A star-step day-of-month counts as unrestricted: AND, as in Vixie cron.
        assert_eq!(
            next_local("0 8 */1 * MON", HCM, from, 1),
            ["Mon 2026-11-30 08:00:00 +0700"]
        );
    }

    #[test]
    fn shorthands_and_the_seconds_field() {
        let from = at(HCM, 2026, 11, 27, 9, 0);
        assert_eq!(
            next_local("@weekly", HCM, from, 1),
            ["Sun 2026-11-29 00:00:00 +0700"]
        );
        assert_eq!(
            next_local("@daily", HCM, from, 1),
            ["Sat 2026-11-28 00:00:00 +0700"]
        );
        assert_eq!(
            next_local("@monthly", HCM, from, 1),
            ["Tue 2026-12-01 00:00:00 +0700"]
        );
        assert_eq!(
            next_local("*/20 * * * * *", HCM, from, 3),
            [
                "Fri 2026-11-27 09:00:20 +0700",
                "Fri 2026-11-27 09:00:40 +0700",
                "Fri 2026-11-27 09:01:00 +0700"
            ]
        );
    }

    #[test]
    fn spring_forward_runs_a_skipped_time_once_after_the_gap() {
        // New York, 8 Mar 2026: 02:00 EST jumps to 03:00 EDT.
        let from = at(NY, 2026, 3, 7, 12, 0);
        assert_eq!(
            next_local("30 2 * * *", NY, from, 3),
            [
                "Sun 2026-03-08 03:00:00 -0400",
                "Mon 2026-03-09 02:30:00 -0400",
                "Tue 2026-03-10 02:30:00 -0400"
            ]
        );
        // Every 15 minutes: the four skipped slots collapse into one run at 03:00.
        let from = at(NY, 2026, 3, 8, 1, 50);
        assert_eq!(
            next_local("*/15 * * * *", NY, from, 3),
            [
                "Sun 2026-03-08 03:00:00 -0400",
                "Sun 2026-03-08 03:15:00 -0400",
                "Sun 2026-03-08 03:30:00 -0400"
            ]
        );
    }

    #[test]
    fn fall_back_runs_a_repeated_time_once() {
        // New York, 1 Nov 2026: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
        let from = at(NY, 2026, 10, 31, 12, 0);
        assert_eq!(
            next_local("30 1 * * *", NY, from, 2),
            [
                "Sun 2026-11-01 01:30:00 -0400",
                "Mon 2026-11-02 01:30:00 -0500"
            ]
        );
        // Asked again from inside the repeated hour, after the first run: no second run.
        let second_pass = at(NY, 2026, 11, 1, 1, 30) + chrono::Duration::minutes(65);
        assert_eq!(
            next_local("30 1 * * *", NY, second_pass, 1),
            ["Mon 2026-11-02 01:30:00 -0500"]
        );
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let e = |expr| Schedule::parse(expr).unwrap_err().to_string();
        let e = e("0 8 * *");
        assert!(e.contains("expected 5 fields"), "{e}");
        let err = |expr| Schedule::parse(expr).unwrap_err().to_string();
        let e = err("0 8 * * FUNDAY");
        assert!(e.contains("not a day"), "{e}");
        let e = err("0 25 * * *");
        assert!(e.contains("hours are 0-23"), "{e}");
        assert!(err("@fortnightly").contains("shorthand"));
        assert!(err("0 8 * * FRI-MON").contains("backwards"));
    }
}
