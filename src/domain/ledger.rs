//! What the validated data says, in plain Rust: the units, each unit's plan and disbursement for
//! the plan year, and every problem found in the sources. Built by `data::measure`; read by the
//! stages after it, which never see a DataFrame.

use super::address::Mailbox;
use super::id::{PlanYear, UnitId};
use super::rule::PassedMilestone;
use serde::Serialize;
use std::collections::BTreeMap;

/// A unit being measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub id: UnitId,
    pub name: String,
    /// Where the unit is in the units source (spreadsheet row or record number), for messages.
    pub row: u64,
    pub emails: Vec<Mailbox>,
    pub parent_id: Option<UnitId>,
    /// The peer group the unit is ranked in (e.g. a working group); its siblings when none.
    pub group: Option<String>,
    /// A disbursement rate published for the unit (e.g. in an official report), to check ours against.
    pub published_rate: Option<Published>,
}

/// Every unit with units under it: how many units its roll-up holds (itself and all its
/// descendants) and the sums of `figures` over them. One pass from the leaves up, so a deep
/// hierarchy costs no more than a flat one. Units on a cycle of `parent_id` (which `compute::units`
/// breaks and reports) are not reached from any top unit and roll up nothing.
pub fn rollups(
    units: &[Unit],
    figures: impl Fn(&str) -> [i128; 2],
) -> BTreeMap<&str, (usize, [i128; 2])> {
    let mut children: std::collections::HashMap<&str, Vec<&str>> = Default::default();
    for u in units {
        if let Some(p) = &u.parent_id {
            children.entry(p.as_str()).or_default().push(u.id.as_str());
        }
    }
    let known: std::collections::HashSet<&str> = units.iter().map(|u| u.id.as_str()).collect();
    let tops = units
        .iter()
        .filter(|u| u.parent_id.as_deref().is_none_or(|p| !known.contains(p)));
    let mut out = BTreeMap::new();
    let mut done: std::collections::HashMap<&str, (usize, [i128; 2])> = Default::default();
    for top in tops {
        // Depth-first, each unit summed after its children (no recursion: any depth).
        let mut stack = vec![(top.id.as_str(), false)];
        while let Some((id, children_done)) = stack.pop() {
            let below = children.get(id).map(Vec::as_slice).unwrap_or_default();
            if !children_done {
                stack.push((id, true));
                stack.extend(
                    below
                        .iter()
                        .filter(|c| !done.contains_key(*c))
                        .map(|c| (*c, false)),
                );
                continue;
            }
            let mut total = (1usize, figures(id));
            for c in below {
                if let Some((n, [p, d])) = done.get(c) {
                    total.0 += n;
                    total.1[0] += p;
                    total.1[1] += d;
                }
            }
            done.insert(id, total);
            if !below.is_empty() {
                out.insert(id, total);
            }
        }
    }
    out
}

/// A published percentage, with the precision it was published to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Published {
    pub pct: f64,
    pub decimals: u32,
    pub text: String,
}

impl Published {
    /// Reads `36,5` (vi) or `36.5`: the value and its number of decimals.
    pub fn parse(text: &str, vi: bool) -> Option<Published> {
        let t = text.trim().trim_end_matches('%').trim();
        let normal = if vi {
            t.replace('.', "").replace(',', ".")
        } else {
            t.replace(',', "")
        };
        let pct: f64 = normal.parse().ok()?;
        let decimals = normal
            .split_once('.')
            .map(|(_, f)| f.len() as u32)
            .unwrap_or(0);
        Some(Published {
            pct,
            decimals,
            text: t.to_string(),
        })
    }

    /// Whether `computed` rounds to the published figure at its precision.
    pub fn agrees(&self, computed: f64) -> bool {
        let half_step = 0.5 * 10f64.powi(-(self.decimals as i32));
        (computed - self.pct).abs() <= half_step + 1e-9
    }
}

/// The validated figures of one run, per unit, in integer đồng.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub units: Vec<Unit>,
    pub plan: BTreeMap<UnitId, i64>,
    pub disbursed: BTreeMap<UnitId, i64>,
    /// When each unit's plan last changed (dated plan changes in force on the as-of date).
    pub plan_changed: BTreeMap<UnitId, chrono::NaiveDate>,
    /// Last year's plan and disbursement at the same date, where the sources hold them.
    pub last_year: Option<LastYear>,
    /// Further denominators ("layer:dp", "capital_source:NSTW"): plan and disbursement per unit.
    pub other_denominators: BTreeMap<String, LastYear>,
    /// Each unit's cumulative disbursement at the month ends before the as-of date: the curve its
    /// alert draws (`alerts.charts`).
    pub curve: Vec<(chrono::NaiveDate, BTreeMap<UnitId, i64>)>,
    /// The past plan years the sources hold (newest first, at most `projection.years`): the
    /// seasonal curves the year-end projection and `disbmon backtest` use. Last year's is the
    /// curve the alerts draw beside this year's.
    pub history: Vec<PastYear>,
    /// Plan and disbursement per (unit, project), when both sources name projects (`project_id`).
    pub projects: BTreeMap<(UnitId, String), (i64, i64)>,
    /// The plan year's milestones passed by the as-of date, each with every unit's plan in force
    /// and cumulative disbursement on its day (`escalate_after_milestones`).
    pub milestones_passed: Vec<PassedMilestone>,
    /// Each unit's registered need for the plan year (plans' `need` column or `need_layer`),
    /// where the sources give one: what it could absorb beyond its plan.
    pub need: BTreeMap<UnitId, i64>,
}

/// A past plan year, whole: its final plan and its cumulative disbursement at each month end of
/// its window.
#[derive(Debug, Clone)]
pub struct PastYear {
    pub year: PlanYear,
    /// The plan in force at the close of the year's window (31 January of the next year).
    pub plan: BTreeMap<UnitId, i64>,
    /// Cumulative disbursement at 31/1, 28-29/2 … 31/12 and 31/1 of the next year (13 points),
    /// or at 31/12 and the close only, when nothing needs the rest (`PastYear::whole`).
    pub month_ends: Vec<(chrono::NaiveDate, BTreeMap<UnitId, i64>)>,
    /// Cumulative disbursement at the same day of that year as this run's as-of date.
    pub same_day: BTreeMap<UnitId, i64>,
}

impl PastYear {
    /// Cumulative disbursement of `unit` on `day`, when that day was measured.
    pub fn on(&self, day: chrono::NaiveDate, unit: &str) -> Option<i64> {
        self.month_ends
            .iter()
            .find(|(d, _)| *d == day)
            .map(|(_, m)| m.get(unit).copied().unwrap_or(0))
    }

    /// By 31 December of the year.
    pub fn december(&self, unit: &str) -> i64 {
        let day = crate::domain::rule::december(self.year);
        self.on(day, unit).unwrap_or(0)
    }

    /// What the year disbursed in all, by the close of its window.
    pub fn total(&self, unit: &str) -> i64 {
        self.on(crate::domain::rule::window_end(self.year), unit)
            .unwrap_or(0)
    }

    /// Every month end of the window was measured (the curve an alert draws, the backtest), not
    /// only 31/12 and the close.
    pub fn whole(&self) -> bool {
        self.month_ends.len() == 13
    }
}

impl Ledger {
    /// A unit's cumulative disbursement at each month end before the as-of date.
    pub fn curve_of(&self, unit: &str) -> Vec<(chrono::NaiveDate, i64)> {
        points(&self.curve, unit)
    }

    /// Last year's, at each month end of its window; empty when the sources do not hold it.
    pub fn last_year_curve_of(
        &self,
        unit: &str,
        plan_year: PlanYear,
    ) -> Vec<(chrono::NaiveDate, i64)> {
        self.history
            .iter()
            .find(|h| h.year == plan_year - 1 && h.whole())
            .map(|h| points(&h.month_ends, unit))
            .unwrap_or_default()
    }
}

fn points(
    curve: &[(chrono::NaiveDate, BTreeMap<UnitId, i64>)],
    unit: &str,
) -> Vec<(chrono::NaiveDate, i64)> {
    curve
        .iter()
        .map(|(day, by_unit)| (*day, by_unit.get(unit).copied().unwrap_or(0)))
        .collect()
}

/// What a run knows of a unit beyond its rate, for the charts, the alert, the workbook and the
/// dashboard (which keeps the latest run's).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UnitDetail {
    pub unit: UnitId,
    pub name: String,
    pub plan_year: PlanYear,
    pub as_of: chrono::NaiveDate,
    /// The plan the curve's rates are of (đồng).
    #[serde(default)]
    pub plan: i64,
    /// Cumulative disbursement (đồng) at each month end before the as-of date, then the as-of date.
    pub curve: Vec<(chrono::NaiveDate, i64)>,
    /// Last year's plan and its cumulative disbursement at each month end, where known.
    pub last_year_plan: Option<i64>,
    pub last_year_curve: Vec<(chrono::NaiveDate, i64)>,
    /// The job's milestones in this plan year: (date, cumulative %).
    pub milestones: Vec<(chrono::NaiveDate, f64)>,
    /// Plan and disbursed under each further denominator ("capital_source:NSTW", "layer:dp").
    pub denominators: Vec<(String, i64, i64)>,
    /// The previous run's as-of date and disbursement, when an earlier run of the plan year measured the unit.
    #[serde(default)]
    pub previous: Option<(chrono::NaiveDate, i64)>,
    /// The unit's slowest projects (lowest rate first, at most `SLOWEST_PROJECTS`): (project,
    /// plan, disbursed), when the sources name projects.
    #[serde(default)]
    pub projects: Vec<(String, i64, i64)>,
    /// Where the unit will be at 31/12 and 31/1 on its current pace, when past years say.
    #[serde(default)]
    pub projection: Option<crate::domain::rates::Projection>,
}

/// How many of a unit's projects its alert and its page list, slowest first.
pub const SLOWEST_PROJECTS: usize = 5;

impl Ledger {
    /// A unit's projects with a plan, slowest first (rates compared exactly), at most `n`.
    pub fn slowest_projects(&self, unit: &str, n: usize) -> Vec<(String, i64, i64)> {
        let mut mine: Vec<(String, i64, i64)> = self
            .projects
            .range((UnitId::from(unit), String::new())..)
            .take_while(|((u, _), _)| u == unit)
            .filter(|(_, (plan, _))| *plan > 0)
            .map(|((_, p), (plan, paid))| (p.clone(), *plan, *paid))
            .collect();
        // d₁/p₁ < d₂/p₂ ⇔ d₁·p₂ < d₂·p₁ (amounts are at most 10^18: the products fit in i128).
        mine.sort_by(|a, b| {
            (i128::from(a.2) * i128::from(b.1))
                .cmp(&(i128::from(b.2) * i128::from(a.1)))
                .then_with(|| a.0.cmp(&b.0))
        });
        mine.truncate(n);
        mine
    }
}

/// Each unit's plan and disbursement for one denominator (a year earlier, a layer, a source).
#[derive(Debug, Clone, Default)]
pub struct LastYear {
    pub plan: BTreeMap<UnitId, i64>,
    pub disbursed: BTreeMap<UnitId, i64>,
}

#[cfg(test)]
mod tests {
    use super::{rollups, Published, Unit};
    use crate::domain::id::UnitId;

    fn unit(id: String, parent: Option<String>) -> Unit {
        Unit {
            id: UnitId::from(id.as_str()),
            name: id,
            row: 0,
            emails: Vec::new(),
            parent_id: parent.map(UnitId::from),
            group: None,
            published_rate: None,
        }
    }

    #[test]
    fn a_deep_hierarchy_rolls_up_in_one_pass_and_a_loop_rolls_up_nothing() {
        // A chain 200 000 deep: every unit but the last has units under it.
        let n = 200_000;
        let mut units: Vec<Unit> = (0..n)
            .map(|i| unit(format!("U{i}"), (i > 0).then(|| format!("U{}", i - 1))))
            .collect();
        units.push(unit("A".into(), Some("B".into())));
        units.push(unit("B".into(), Some("A".into())));
        let sums = rollups(&units, |_| [1, 2]);
        assert_eq!(sums.len(), n - 1);
        assert_eq!(sums["U0"], (n, [n as i128, 2 * n as i128]));
        assert_eq!(sums["U199998"], (2, [2, 4]));
        assert!(!sums.contains_key("A") && !sums.contains_key("B"));
    }

    #[test]
    fn a_published_rate_agrees_to_its_own_precision() {
        let p = Published::parse("10,2", true).unwrap();
        assert_eq!((p.pct, p.decimals), (10.2, 1));
        assert!(p.agrees(217.0 / 2132.0 * 100.0)); // 10.178…
        assert!(!p.agrees(10.26));
        let p = Published::parse("13", true).unwrap();
        assert!(p.agrees(13.04) && !p.agrees(13.6));
        let p = Published::parse("53.98", false).unwrap();
        assert_eq!(p.decimals, 2);
        assert!(Published::parse("n/a", true).is_none());
    }
}
