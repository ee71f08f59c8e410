//! The rule a job measures units against: cumulative milestones through the plan year (including
//! the 31 January close of the next year), the expected rate on any date, and the status bands.

use super::id::{PlanYear, UnitId};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::collections::BTreeMap;

/// A share of plan as an exact fraction `num / den` (0 ≤ share ≤ 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub num: i128,
    pub den: i128,
}

impl Share {
    /// The money still due to reach this share of `plan`, rounded up to whole đồng; never
    /// negative. Exact: amounts are at most 10^18 and the fraction's terms small, so the product
    /// fits in i128.
    pub fn shortfall(self, plan: i64, disbursed: i64) -> i64 {
        if plan <= 0 || self.den <= 0 {
            return 0;
        }
        let product = i128::from(plan) * self.num;
        let target = product.div_euclid(self.den) + i128::from(product.rem_euclid(self.den) != 0);
        let due = (target - i128::from(disbursed)).max(0);
        i64::try_from(due).unwrap_or(i64::MAX)
    }
}

/// One cumulative target: `pct` % of plan disbursed by month-day `month`/`day`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Milestone {
    pub month: u32,
    pub day: u32,
    pub pct: f64,
}

/// Milestones in the order given, each placed in the plan year or, once a date is earlier than the
/// one before it, in the next year.
#[derive(Debug, Clone, PartialEq)]
pub struct Milestones(Vec<Milestone>);

impl Milestones {
    /// Checks the list and returns it, or every problem found (key-relative messages).
    pub fn new(list: Vec<Milestone>) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        if list.is_empty() {
            problems.push(
                "at least one milestone is needed, e.g. `{ date = \"12-31\", pct = 95 }`"
                    .to_string(),
            );
        }
        for (i, m) in list.iter().enumerate() {
            // 2024 is a leap year, so 02-29 is accepted here: the last day of February, 28/2 in
            // other years (a job that fixes a plan year without one is refused at load).
            if NaiveDate::from_ymd_opt(2024, m.month, m.day).is_none() {
                problems.push(format!(
                    "[{i}]: `{:02}-{:02}` is not a date; write MM-DD",
                    m.month, m.day
                ));
            }
            if !(0.0..=100.0).contains(&m.pct) || m.pct.is_nan() {
                problems.push(format!("[{i}]: pct {} is outside 0..100", m.pct));
            }
            if i > 0 && m.pct < list[i - 1].pct {
                problems.push(format!(
                    "[{i}]: pct {} is lower than the milestone before it ({}); milestones are cumulative",
                    m.pct,
                    list[i - 1].pct
                ));
            }
        }
        if problems.is_empty() {
            let ms = Milestones(list);
            let dates = ms.dates(PlanYear::new(2024));
            if dates.windows(2).any(|w| w[1] <= w[0])
                || dates.last().is_some_and(|d| d.year() > 2025)
            {
                problems.push(
                    "milestone dates must run forward through the plan year and at most into the next one (a date earlier than the one before it falls in the next year)"
                        .to_string(),
                );
            } else {
                return Ok(ms);
            }
        }
        Err(problems)
    }

    pub fn as_slice(&self) -> &[Milestone] {
        &self.0
    }

    /// The calendar dates of the milestones for plan year `year`.
    pub fn dates(&self, year: PlanYear) -> Vec<NaiveDate> {
        let mut y = year;
        let mut prev: Option<(u32, u32)> = None;
        self.0
            .iter()
            .map(|m| {
                if let Some(p) = prev {
                    if (m.month, m.day) < p {
                        y += 1;
                    }
                }
                prev = Some((m.month, m.day));
                month_day(y.get(), m.month, m.day)
            })
            .collect()
    }

    /// Expected cumulative % of plan on `date`: linear by calendar day through (1 Jan, 0 %) and the
    /// milestones; after the last milestone, its value; before the plan year, 0.
    pub fn expected_pct(&self, year: PlanYear, date: NaiveDate) -> f64 {
        let mut prev_date = NaiveDate::from_ymd_opt(year.get(), 1, 1).expect("1 January exists");
        let mut prev_pct = 0.0;
        if date <= prev_date {
            return 0.0;
        }
        for (d, m) in self.dates(year).into_iter().zip(&self.0) {
            if date <= d {
                let span = (d - prev_date).num_days() as f64;
                let done = (date - prev_date).num_days() as f64;
                return prev_pct + (m.pct - prev_pct) * done / span;
            }
            prev_date = d;
            prev_pct = m.pct;
        }
        prev_pct
    }

    /// The expected share of plan on `date` as an exact fraction, for money: the same line as
    /// [`Milestones::expected_pct`], with each milestone taken to 0.01 %.
    pub fn expected_share(&self, year: PlanYear, date: NaiveDate) -> Share {
        let hundredths = |pct: f64| (pct * 100.0).round() as i128;
        let mut prev_date = NaiveDate::from_ymd_opt(year.get(), 1, 1).expect("1 January exists");
        let mut prev = 0i128;
        if date <= prev_date {
            return Share { num: 0, den: 1 };
        }
        for (d, m) in self.dates(year).into_iter().zip(&self.0) {
            let target = hundredths(m.pct);
            if date <= d {
                let span = i128::from((d - prev_date).num_days().max(1));
                let done = i128::from((date - prev_date).num_days());
                return Share {
                    num: prev * span + (target - prev) * done,
                    den: 10_000 * span,
                };
            }
            prev_date = d;
            prev = target;
        }
        Share {
            num: prev,
            den: 10_000,
        }
    }

    /// Every milestone of plan year `year` with its calendar date: (date, cumulative %).
    pub fn points(&self, year: PlanYear) -> Vec<(NaiveDate, f64)> {
        self.dates(year)
            .into_iter()
            .zip(self.0.iter().map(|m| m.pct))
            .collect()
    }

    /// The first milestone on or after `date`, with its calendar date.
    pub fn next(&self, year: PlanYear, date: NaiveDate) -> Option<(NaiveDate, f64)> {
        self.dates(year)
            .into_iter()
            .zip(&self.0)
            .find(|(d, _)| *d >= date)
            .map(|(d, m)| (d, m.pct))
    }
}

fn month_day(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day)
        .or_else(|| NaiveDate::from_ymd_opt(year, month, day - 1))
        .expect("milestone dates are checked when the job is loaded")
}

/// The plan year measured on `as_of` when the job does not fix it: the year whose window
/// (1 Jan .. 31 Jan of the next year) holds `as_of`, the older one in January.
pub fn default_plan_year(as_of: NaiveDate) -> PlanYear {
    PlanYear::new(match as_of.month() {
        1 => as_of.year() - 1,
        _ => as_of.year(),
    })
}

/// The last day whose payments count for plan year `year` (art. 68, Law on Public Investment 2019).
pub fn window_end(year: PlanYear) -> NaiveDate {
    NaiveDate::from_ymd_opt(year.get() + 1, 1, 31).expect("31 January exists")
}

/// The `i`-th month end of plan year `year`'s window, from 0 (31 January) to 11 (31 December)
/// and 12 (31 January of the next year, the close); none past that.
pub fn month_end(year: PlanYear, i: usize) -> Option<NaiveDate> {
    let first_of_next = match i {
        0..=10 => NaiveDate::from_ymd_opt(year.get(), i as u32 + 2, 1),
        11 => NaiveDate::from_ymd_opt(year.get() + 1, 1, 1),
        12 => NaiveDate::from_ymd_opt(year.get() + 1, 2, 1),
        _ => None,
    };
    first_of_next.and_then(|d| d.pred_opt())
}

/// The 13 month ends of plan year `year`'s window, 31 January to the close.
pub fn month_ends(year: PlanYear) -> Vec<NaiveDate> {
    (0..13).filter_map(|i| month_end(year, i)).collect()
}

/// 31 December of plan year `year`: the year-end milestone, before the January close.
pub fn december(year: PlanYear) -> NaiveDate {
    NaiveDate::from_ymd_opt(year.get(), 12, 31).expect("31 December exists")
}

/// 1 January of plan year `year`: where its window starts.
pub fn window_start(year: PlanYear) -> NaiveDate {
    NaiveDate::from_ymd_opt(year.get(), 1, 1).expect("1 January exists")
}

/// Where a unit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Critical,
    Behind,
    OnTrack,
    #[default]
    NoPlan,
}

crate::base::names::named!(Status {
    Critical => "critical",
    Behind => "behind",
    OnTrack => "on_track",
    NoPlan => "no_plan",
});

impl Status {
    pub fn is_alerted(self) -> bool {
        matches!(self, Status::Critical | Status::Behind)
    }
}

/// The bands of the rule, in percentage points of plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bands {
    pub tolerance_pct: f64,
    pub critical_gap_pct: f64,
}

impl Bands {
    pub fn status(&self, plan: i64, gap_pct: f64) -> Status {
        if plan <= 0 {
            Status::NoPlan
        } else if gap_pct >= self.critical_gap_pct {
            Status::Critical
        } else if gap_pct > self.tolerance_pct {
            Status::Behind
        } else {
            Status::OnTrack
        }
    }
}

/// A milestone a unit missed: its day, the target, and the unit's rate that day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Missed {
    pub date: NaiveDate,
    pub target_pct: f64,
    pub rate_pct: f64,
}

/// The milestones a unit missed in a row up to the latest one passed (more than `tolerance_pct`
/// below the target on the milestone's day, against the plan in force then): empty when it met
/// the latest, or had no plan then.
pub fn missed_in_a_row(passed: &[PassedMilestone], unit: &str, tolerance_pct: f64) -> Vec<Missed> {
    let mut run = Vec::new();
    for m in passed {
        let plan = m.plan.get(unit).copied().unwrap_or(0);
        let paid = m.disbursed.get(unit).copied().unwrap_or(0);
        let rate = (plan > 0).then(|| 100.0 * paid as f64 / plan as f64);
        match rate {
            Some(r) if r < m.pct - tolerance_pct => run.push(Missed {
                date: m.date,
                target_pct: m.pct,
                rate_pct: r,
            }),
            _ => run.clear(),
        }
    }
    run
}

/// A milestone the plan year has passed, and where every unit stood on its day.
#[derive(Debug, Clone, Default)]
pub struct PassedMilestone {
    pub date: chrono::NaiveDate,
    pub pct: f64,
    pub plan: BTreeMap<UnitId, i64>,
    pub disbursed: BTreeMap<UnitId, i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn sonla() -> Milestones {
        let m = |month, day, pct| Milestone { month, day, pct };
        Milestones::new(vec![
            m(3, 31, 11.05),
            m(6, 30, 50.0),
            m(9, 30, 60.0),
            m(12, 31, 95.0),
            m(1, 31, 100.0),
        ])
        .unwrap()
    }

    #[track_caller]
    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
    }

    #[test]
    fn interpolates_by_calendar_day() {
        let ms = sonla();
        close(ms.expected_pct(PlanYear::new(2026), d(2026, 1, 1)), 0.0);
        // 1 Jan .. 31 Mar 2026 is 89 days; 45 days in.
        close(
            ms.expected_pct(PlanYear::new(2026), d(2026, 2, 15)),
            11.05 * 45.0 / 89.0,
        );
        close(ms.expected_pct(PlanYear::new(2026), d(2026, 3, 31)), 11.05);
        close(ms.expected_pct(PlanYear::new(2026), d(2026, 6, 30)), 50.0);
        // The example: 31 Oct is 31 of the 92 days from 30 Sep to 31 Dec.
        close(
            ms.expected_pct(PlanYear::new(2026), d(2026, 10, 31)),
            60.0 + 35.0 * 31.0 / 92.0,
        );
        assert_eq!(
            format!(
                "{:.2}",
                ms.expected_pct(PlanYear::new(2026), d(2026, 10, 31))
            ),
            "71.79"
        );
        close(ms.expected_pct(PlanYear::new(2026), d(2026, 12, 31)), 95.0);
    }

    #[test]
    fn the_shortfall_is_exact_in_whole_dong() {
        let ms = sonla();
        let share = ms.expected_share(PlanYear::new(2026), d(2026, 6, 30));
        assert_eq!(share.shortfall(1_000, 0), 500);
        assert_eq!(share.shortfall(1_001, 0), 501); // 500.5 rounds up
        assert_eq!(share.shortfall(1_000, 600), 0);
        let near_max = 1_000_000_000_000_000_000;
        assert_eq!(share.shortfall(near_max, 0), near_max / 2);
        let end = ms.expected_share(PlanYear::new(2026), d(2027, 3, 1));
        assert_eq!(end.shortfall(7, 3), 4);
        let mid = ms.expected_share(PlanYear::new(2026), d(2026, 2, 15));
        // 11.05 % × 45/89 of 10^12 đồng, rounded up.
        assert_eq!(mid.shortfall(1_000_000_000_000, 0), 55_870_786_517);
    }

    #[test]
    fn the_january_close_belongs_to_the_previous_plan_year() {
        let ms = sonla();
        assert_eq!(ms.dates(PlanYear::new(2026)).last(), Some(&d(2027, 1, 31)));
        close(
            ms.expected_pct(PlanYear::new(2026), d(2027, 1, 16)),
            95.0 + 5.0 * 16.0 / 31.0,
        );
        close(ms.expected_pct(PlanYear::new(2026), d(2027, 1, 31)), 100.0);
        close(ms.expected_pct(PlanYear::new(2026), d(2027, 3, 1)), 100.0);
        close(ms.expected_pct(PlanYear::new(2027), d(2026, 12, 1)), 0.0);
        assert_eq!(default_plan_year(d(2027, 1, 20)), PlanYear::new(2026));
        assert_eq!(default_plan_year(d(2027, 2, 1)), PlanYear::new(2027));
        assert_eq!(
            ms.next(PlanYear::new(2026), d(2026, 10, 31)),
            Some((d(2026, 12, 31), 95.0))
        );
    }

    #[test]
    fn a_leap_day_milestone_falls_back_in_other_years() {
        let ms = Milestones::new(vec![Milestone {
            month: 2,
            day: 29,
            pct: 10.0,
        }])
        .unwrap();
        assert_eq!(ms.dates(PlanYear::new(2026)), vec![d(2026, 2, 28)]);
        assert_eq!(ms.dates(PlanYear::new(2028)), vec![d(2028, 2, 29)]);
    }

    #[test]
    fn refuses_bad_milestones_with_every_reason() {
        let m = |month, day, pct| Milestone { month, day, pct };
        let errs =
            Milestones::new(vec![m(6, 31, 50.0), m(9, 30, 40.0), m(12, 31, 140.0)]).unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(Milestones::new(vec![]).is_err());
        // Two wraps into the year after next.
        assert!(Milestones::new(vec![m(6, 30, 50.0), m(1, 31, 60.0), m(1, 1, 70.0)]).is_err());
    }

    #[test]
    fn status_bands() {
        let b = Bands {
            tolerance_pct: 5.0,
            critical_gap_pct: 20.0,
        };
        assert_eq!(b.status(0, 50.0), Status::NoPlan);
        assert_eq!(b.status(100, 20.0), Status::Critical);
        assert_eq!(b.status(100, 19.99), Status::Behind);
        assert_eq!(b.status(100, 5.0), Status::OnTrack);
        assert_eq!(b.status(100, 5.01), Status::Behind);
        assert_eq!(b.status(100, -30.0), Status::OnTrack);
    }
}
