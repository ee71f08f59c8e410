//! Where each unit will be at the 31/12 and 31/1 closes on its current pace. Disbursement is
//! seasonal (a few % in January, a surge in December), so a straight line from today is wrong;
//! instead each past year in the sources says which share of that year's disbursement was
//! reached by this day, by 31/12 and by the close, and the unit's disbursement to date is carried
//! along those shares. The unit's own curves are used when it has two or more past years, else
//! its peer group's (two or more), else the whole job's. Each past year gives one projection: the
//! range is their lowest and highest, the figure their mean. Pure: plain figures in and out.

use super::id::{PlanYear, UnitId};
use super::ledger::PastYear;
use super::rates::{Basis, Projection, Range, Rates};
use super::rule::Milestones;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;

/// A past year's shares of its whole disbursement: by this day, by 31/12 (1 = all of it by the
/// close). None when the year disbursed nothing, or next to nothing by this day (no pace to
/// carry forward).
fn shares(so_far: i128, december: i128, total: i128) -> Option<(f64, f64)> {
    if total <= 0 || so_far <= 0 {
        return None;
    }
    let today = so_far as f64 / total as f64;
    (today >= MIN_SHARE).then_some((today, december as f64 / total as f64))
}

/// Below this share of a year's disbursement by this day, that year says nothing of the pace.
const MIN_SHARE: f64 = 0.002;

/// Sums of past-year figures over a set of units: (this day, 31/12, close) per year.
fn sums<'a>(
    history: &[PastYear],
    units: impl Iterator<Item = &'a str> + Clone,
    same_day: impl Fn(&PastYear, &str) -> i64,
) -> Vec<(PlanYear, i128, i128, i128)> {
    history
        .iter()
        .map(|h| {
            let sum =
                |f: &dyn Fn(&str) -> i64| -> i128 { units.clone().map(|u| i128::from(f(u))).sum() };
            (
                h.year,
                sum(&|u| same_day(h, u)),
                sum(&|u| h.december(u)),
                sum(&|u| h.total(u)),
            )
        })
        .collect()
}

/// The seasonal shares at one level: (year, share by this day, share by 31/12), years with a pace.
fn usable(figures: Vec<(PlanYear, i128, i128, i128)>) -> Vec<(PlanYear, f64, f64)> {
    figures
        .into_iter()
        .filter_map(|(y, d, dec, t)| shares(d, dec, t).map(|(a, b)| (y, a, b)))
        .collect()
}

/// A rate carried from `rate_now` along each year's shares. Past the close nothing more is paid;
/// and no unit can disburse more than its plan, so a projection stops at 100 % (or today's rate
/// when that is higher already).
fn carried(rate_now: f64, years: &[(PlanYear, f64, f64)], target: Target) -> Range {
    let cap = rate_now.max(100.0);
    let values: Vec<f64> = years
        .iter()
        .map(|(_, today, december)| {
            let share = match target {
                Target::December => *december,
                Target::Close => 1.0,
            };
            (rate_now * (share / today).max(1.0)).min(cap)
        })
        .collect();
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mid = values.iter().sum::<f64>() / values.len().max(1) as f64;
    Range { low, mid, high }
}

#[derive(Debug, Clone, Copy)]
enum Target {
    December,
    Close,
}

/// Each usable past year: (year, share reached by this day, share reached by 31/12).
type Shares = Vec<(PlanYear, f64, f64)>;

/// The shares a unit's projection follows, and whose they are: each peer group's and the whole
/// job's summed once, so that a group of many units new to the sources costs no more than a
/// group of one.
struct Curves<'a> {
    history: &'a [PastYear],
    /// Each peer group's shares.
    groups: BTreeMap<&'a str, Shares>,
    job: Shares,
}

impl<'a> Curves<'a> {
    fn new(
        history: &'a [PastYear],
        rates: &'a Rates,
        same_day: &dyn Fn(&PastYear, &str) -> i64,
    ) -> Self {
        let mut members: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for u in &rates.units {
            if let Some(g) = &u.group {
                members.entry(g).or_default().push(&u.unit_id);
            }
        }
        let groups = members
            .into_iter()
            .map(|(g, units)| (g, usable(sums(history, units.into_iter(), same_day))))
            .collect();
        let all = rates.units.iter().map(|u| u.unit_id.as_str());
        Curves {
            history,
            groups,
            job: usable(sums(history, all, same_day)),
        }
    }

    fn for_unit(
        &self,
        unit: &str,
        group: Option<&str>,
        same_day: &dyn Fn(&PastYear, &str) -> i64,
    ) -> Option<(Basis, Shares)> {
        let own = usable(sums(self.history, std::iter::once(unit), same_day));
        if own.len() >= 2 {
            return Some((Basis::Unit, own));
        }
        if let Some(theirs) = group.and_then(|g| self.groups.get(g)) {
            if theirs.len() >= 2 {
                return Some((Basis::Group, theirs.clone()));
            }
        }
        (!self.job.is_empty()).then(|| (Basis::Job, self.job.clone()))
    }
}

/// Projects every unit with a plan, in place (`UnitRate::projection`), from the past years the
/// ledger holds. `as_of` past a close gives that close as reached: the rate then, not a projection.
pub fn project(
    rates: &mut Rates,
    ledger: &crate::domain::ledger::Ledger,
    milestones: &Milestones,
    plan_year: PlanYear,
    as_of: NaiveDate,
) {
    let history = &ledger.history;
    if history.is_empty() {
        return;
    }
    let december = crate::domain::rule::december(plan_year);
    // In January, 31/12 is measured (this year's curve holds it): reached, not projected.
    let december_paid = ledger
        .curve
        .iter()
        .find(|(d, _)| *d == december)
        .map(|(_, paid)| paid);
    let close = crate::domain::rule::window_end(plan_year);
    let targets = (
        milestones.expected_pct(plan_year, december),
        milestones.expected_pct(plan_year, close),
    );
    let same_day = |h: &PastYear, u: &str| h.same_day.get(u).copied().unwrap_or(0);
    let projections: Vec<Option<Projection>> = {
        let curves = Curves::new(history, rates, &same_day);
        rates
            .units
            .iter()
            .map(|u| {
                let rate = u.rate_pct.filter(|_| u.plan > 0)?;
                let (basis, years) = curves.for_unit(&u.unit_id, u.group.as_deref(), &same_day)?;
                let mut dec31 = carried(rate, &years, Target::December);
                let mut jan31 = carried(rate, &years, Target::Close);
                if as_of >= close {
                    jan31 = Range {
                        low: rate,
                        mid: rate,
                        high: rate,
                    };
                }
                if as_of > december {
                    let paid = december_paid.and_then(|m| m.get(&u.unit_id)).copied();
                    let at = paid.map_or(rate, |p| 100.0 * p as f64 / u.plan as f64);
                    dec31 = Range {
                        low: at,
                        mid: at,
                        high: at,
                    };
                }
                let disbursed_by_close = (jan31.mid / 100.0 * u.plan as f64)
                    .round()
                    .clamp(0.0, crate::domain::money::MAX_DONG as f64)
                    as i64;
                Some(Projection {
                    basis,
                    years: years.iter().map(|(y, _, _)| *y).collect(),
                    dec31,
                    jan31,
                    disbursed_by_close: disbursed_by_close.max(u.disbursed),
                    // Half a tenth of a point: what the reports show as the target is not
                    // "below" it. Once 31/12 has passed, only the close is still ahead.
                    at_risk: (as_of <= december && dec31.mid < targets.0 - 0.05)
                        || jan31.mid < targets.1 - 0.05,
                })
            })
            .collect()
    };
    for (u, p) in rates.units.iter_mut().zip(projections) {
        u.projection = p;
    }
}

/// One as-of date's figures as a run stored them: unit → (plan, disbursed).
pub type StoredDay = (NaiveDate, std::collections::HashMap<UnitId, (i64, i64)>);

/// A past year rebuilt from the runs the state store kept of it, when the sources no longer hold
/// it: each point is the latest run on or before that day. None without a run in the last week
/// of the year's window (its close is then unknown).
pub fn from_store(year: PlanYear, days: &[StoredDay], same_day: NaiveDate) -> Option<PastYear> {
    let close = crate::domain::rule::window_end(year);
    let last = days.iter().rev().find(|(d, _)| *d <= close)?;
    if last.0 < close - chrono::Days::new(7) {
        return None;
    }
    let on = |day: NaiveDate, pick: fn(&(i64, i64)) -> i64| -> BTreeMap<UnitId, i64> {
        days.iter()
            .rev()
            .find(|(d, _)| *d <= day)
            .map(|(_, m)| m.iter().map(|(u, f)| (u.clone(), pick(f))).collect())
            .unwrap_or_default()
    };
    let ends = crate::domain::rule::month_ends(year);
    Some(PastYear {
        year,
        plan: on(close, |f| f.0),
        // Only the month ends a run had reached: a year stored from June on is not "whole"
        // (the backtest does not replay it), and nothing reads as zero for want of a run.
        month_ends: ends
            .into_iter()
            .filter(|d| days.first().is_some_and(|(first, _)| first <= d))
            .map(|d| (d, on(d, |f| f.1)))
            .collect(),
        same_day: on(same_day, |f| f.1),
    })
}

/// One month of a backtest: projecting from that month end of past years, how far the projected
/// rate at the close was from the actual one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestMonth {
    /// 1 = from 31 January … 12 = from 31 December.
    pub month: u32,
    /// Unit-years projected.
    pub projections: usize,
    /// Mean absolute error of the projected rate at 31/1, in percentage points.
    pub mean_abs_error: f64,
    /// The same for a straight line from 1 January (the rate × 13 months ÷ months gone), for
    /// comparison.
    pub straight_line_error: f64,
}

/// The backtest of the projection over the past years the ledger holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backtest {
    /// The years replayed (each projected from the years before it).
    pub years: Vec<PlanYear>,
    pub months: Vec<BacktestMonth>,
}

/// Replays each past year that has an earlier one month by month: at each month end the units'
/// rates are projected to the close from the years before it only (as they would have been
/// then), and compared with the rate actually reached at the close.
pub fn backtest(history: &[PastYear], rates: &Rates) -> Backtest {
    let mut replayed = Vec::new();
    // Per month (1 = from 31/1 … 12 = from 31/12): unit-years, Σ error, Σ straight-line error.
    let mut errors: Vec<(usize, f64, f64)> = vec![(0, 0.0, 0.0); 12];
    for (i, year) in history.iter().enumerate() {
        // The ledger holds the newest year first: the years before this one follow it.
        let earlier = &history[i + 1..];
        if earlier.is_empty() || !year.whole() {
            continue;
        }
        replayed.push(year.year);
        for (m, slot) in errors.iter_mut().enumerate() {
            let month = m + 1;
            let same_day = |h: &PastYear, u: &str| {
                crate::domain::rule::month_end(h.year, month - 1)
                    .and_then(|d| h.on(d, u))
                    .unwrap_or(0)
            };
            let curves = Curves::new(earlier, rates, &same_day);
            for u in &rates.units {
                let plan = year.plan.get(&u.unit_id).copied().unwrap_or(0);
                if plan <= 0 {
                    continue;
                }
                let Some((_, years)) = curves.for_unit(&u.unit_id, u.group.as_deref(), &same_day)
                else {
                    continue;
                };
                let pct = |d: i64| 100.0 * d as f64 / plan as f64;
                let now = pct(same_day(year, &u.unit_id));
                let actual = pct(year.total(&u.unit_id));
                let projected = carried(now, &years, Target::Close).mid;
                let straight = (now * 13.0 / month as f64).min(now.max(100.0));
                slot.0 += 1;
                slot.1 += (projected - actual).abs();
                slot.2 += (straight - actual).abs();
            }
        }
    }
    Backtest {
        years: replayed,
        months: errors
            .into_iter()
            .enumerate()
            .filter(|(_, (n, _, _))| *n > 0)
            .map(|(m, (n, e, s))| BacktestMonth {
                month: m as u32 + 1,
                projections: n,
                mean_abs_error: e / n as f64,
                straight_line_error: s / n as f64,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn year(y: PlanYear, unit: &str, shares: [f64; 13], total: i64, today: f64) -> PastYear {
        let ends = (1..=13)
            .map(|m| match m {
                12 => NaiveDate::from_ymd_opt(y.get(), 12, 31).unwrap(),
                13 => NaiveDate::from_ymd_opt(y.get() + 1, 1, 31).unwrap(),
                m => NaiveDate::from_ymd_opt(y.get(), m + 1, 1)
                    .unwrap()
                    .pred_opt()
                    .unwrap(),
            })
            .zip(shares)
            .map(|(d, s)| {
                (
                    d,
                    BTreeMap::from([(UnitId::from(unit), (s * total as f64) as i64)]),
                )
            })
            .collect();
        PastYear {
            year: y,
            plan: BTreeMap::from([(UnitId::from(unit), total)]),
            month_ends: ends,
            same_day: BTreeMap::from([(UnitId::from(unit), (today * total as f64) as i64)]),
        }
    }

    #[test]
    fn a_unit_is_carried_along_its_own_past_years_with_their_spread_as_the_range() {
        let mut shares = [0.0; 13];
        for (i, s) in shares.iter_mut().enumerate() {
            *s = (i as f64 + 1.0) / 13.0;
        }
        shares[11] = 0.9; // 31/12
        shares[12] = 1.0; // the close
                          // By this day: half of the year's disbursement in 2025, 40 % in 2024.
        let history = vec![
            year(PlanYear::new(2025), "A", shares, 1_000_000, 0.5),
            year(PlanYear::new(2024), "A", shares, 1_000_000, 0.4),
        ];
        let mut rates = Rates {
            expected_pct: 50.0,
            average_pct: Some(30.0),
            units: vec![crate::domain::rates::UnitRate {
                unit_id: "A".into(),
                plan: 1000,
                disbursed: 300,
                rate_pct: Some(30.0),
                ..Default::default()
            }],
            groups: vec![],
            rollups: vec![],
        };
        let milestones = Milestones::new(vec![
            crate::domain::rule::Milestone {
                month: 12,
                day: 31,
                pct: 95.0,
            },
            crate::domain::rule::Milestone {
                month: 1,
                day: 31,
                pct: 100.0,
            },
        ])
        .unwrap();
        let as_of = NaiveDate::from_ymd_opt(2026, 9, 30).unwrap();
        let ledger = crate::domain::ledger::Ledger {
            history,
            ..Default::default()
        };
        project(&mut rates, &ledger, &milestones, PlanYear::new(2026), as_of);
        let p = rates.units[0].projection.clone().unwrap();
        assert_eq!(p.basis, Basis::Unit);
        // 30 % ÷ 0.5 = 60 %, 30 % ÷ 0.4 = 75 % at the close; × 0.9 by 31/12.
        assert!((p.jan31.low - 60.0).abs() < 1e-9 && (p.jan31.high - 75.0).abs() < 1e-9);
        assert!((p.jan31.mid - 67.5).abs() < 1e-9);
        assert!((p.dec31.mid - 60.75).abs() < 1e-9);
        assert!(p.at_risk);
        assert_eq!(p.disbursed_by_close, 675);
    }

    #[test]
    fn a_backtest_replays_each_year_from_the_years_before_it_only() {
        let mut shares = [0.0; 13];
        for (i, s) in shares.iter_mut().enumerate() {
            *s = (i as f64 + 1.0) / 13.0;
        }
        let history = vec![
            year(PlanYear::new(2025), "A", shares, 1_000_000, 0.5),
            year(PlanYear::new(2024), "A", shares, 1_000_000, 0.5),
        ];
        let rates = Rates {
            expected_pct: 0.0,
            average_pct: None,
            units: vec![crate::domain::rates::UnitRate {
                unit_id: "A".into(),
                plan: 1,
                ..Default::default()
            }],
            groups: vec![],
            rollups: vec![],
        };
        let b = backtest(&history, &rates);
        assert_eq!(b.years, vec![PlanYear::new(2025)]);
        assert_eq!(b.months.len(), 12);
        // The same curve both years: the projection is exact (rounding aside).
        assert!(b.months.iter().all(|m| m.mean_abs_error < 0.01));
    }
}
