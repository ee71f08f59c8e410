//! Which capital could move, as a proposal for the leadership (the People's Committee decides;
//! the Law on Public Investment lets it adjust plans between projects and units). A unit whose
//! projected rate at the 31/1 close stays under `release_below_pct` leaves capital unspent: the
//! plan less its projected disbursement could be released (by capital source and by project where
//! the sources say). A unit projected to reach `absorb_from_pct` by 31/12 whose registered need
//! exceeds its plan could absorb the difference. All in integer đồng; pure.

use super::rates::Rates;
use crate::domain::id::UnitId;

use super::ledger::Ledger;
use serde::Serialize;

/// A unit that could release capital.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Release {
    pub unit_id: UnitId,
    pub unit_name: String,
    pub plan: i64,
    pub disbursed: i64,
    /// Its projected rate at 31/1 (%).
    pub projected_pct: f64,
    /// Plan less projected disbursement by the close (đồng).
    pub amount: i64,
    /// The same per capital source, where the job measures sources (`rate_capital_sources`).
    pub by_source: Vec<(String, i64)>,
    /// Its projects that would leave capital unspent, largest first: (project, plan, amount).
    pub projects: Vec<(String, i64, i64)>,
}

/// A unit that could absorb capital.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Absorb {
    pub unit_id: UnitId,
    pub unit_name: String,
    pub plan: i64,
    /// Its registered need for the year.
    pub need: i64,
    /// Its projected rate at 31/12 (%).
    pub projected_pct: f64,
    /// Need less plan (đồng).
    pub amount: i64,
}

/// The proposal: who could release, who could absorb, and how the totals balance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proposal {
    pub releases: Vec<Release>,
    pub absorbs: Vec<Absorb>,
    /// Σ releasable (đồng).
    pub releasable: i64,
    /// Σ absorbable.
    pub absorbable: i64,
    /// What could move: the smaller of the two.
    pub movable: i64,
    /// Releasable with nowhere to go (releasable − movable).
    pub unplaced: i64,
    /// Need left unmet (absorbable − movable).
    pub unmet: i64,
}

/// `paid × by_close ÷ now`, exactly (rounded up: the projection of a part never falls short).
fn scaled(paid: i64, by_close: i64, now: i64) -> i64 {
    if now <= 0 {
        return 0;
    }
    let num = i128::from(paid) * i128::from(by_close);
    let q = num.div_euclid(i128::from(now)) + i128::from(num.rem_euclid(i128::from(now)) != 0);
    crate::domain::money::clamp(q)
}

/// `weights` shared out so that they add up to at most `total`: each part its weight when the
/// weights fit, else in proportion, the đồng left by rounding down going to the largest
/// remainders. Exact, in integers.
fn apportion(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    let total = i128::from(total.max(0));
    if sum <= total {
        return weights.iter().map(|w| (*w).max(0)).collect();
    }
    let mut parts: Vec<(usize, i128, i128)> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let n = i128::from((*w).max(0)) * total;
            (i, n / sum, n % sum)
        })
        .collect();
    let given: i128 = parts.iter().map(|p| p.1).sum();
    let mut left = total - given;
    parts.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    for p in parts.iter_mut() {
        if left == 0 {
            break;
        }
        p.1 += 1;
        left -= 1;
    }
    parts.sort_by_key(|p| p.0);
    parts
        .into_iter()
        .map(|p| crate::domain::money::clamp(p.1))
        .collect()
}

/// The proposal for this run; none when no unit is projected (the sources hold no past year).
pub fn propose(rates: &Rates, ledger: &Ledger, settings: &Settings) -> Option<Proposal> {
    if rates.units.iter().all(|u| u.projection.is_none()) {
        return None;
    }
    let mut releases = Vec::new();
    let mut absorbs = Vec::new();
    for u in &rates.units {
        let Some(p) = &u.projection else { continue };
        if u.plan <= 0 {
            continue;
        }
        let by_close = p.disbursed_by_close.max(u.disbursed);
        let amount = u.plan.saturating_sub(by_close).max(0);
        if p.jan31.mid < settings.release_below_pct && amount >= settings.min_dong.max(1) {
            // Each part (a capital source, a project) would leave its plan less its own
            // disbursement carried along the unit's pace; the parts are then shared out so that
            // they never add up to more than the unit releases.
            let left = |plan: i64, paid: i64| {
                plan.saturating_sub(scaled(paid, by_close, u.disbursed).max(paid))
                    .max(0)
            };
            let sources: Vec<(String, i64)> = ledger
                .other_denominators
                .iter()
                .filter_map(|(key, d)| {
                    let source = key.strip_prefix("capital_source:")?;
                    let plan = d.plan.get(&u.unit_id).copied().unwrap_or(0);
                    let paid = d.disbursed.get(&u.unit_id).copied().unwrap_or(0);
                    (plan > 0).then(|| (source.to_string(), left(plan, paid)))
                })
                .collect();
            let shares = apportion(amount, &sources.iter().map(|s| s.1).collect::<Vec<_>>());
            let by_source = sources
                .into_iter()
                .zip(shares)
                .map(|((source, _), share)| (source, share))
                .collect();
            let parts: Vec<(String, i64, i64)> = ledger
                .projects
                .range((u.unit_id.clone(), String::new())..)
                .take_while(|((unit, _), _)| *unit == u.unit_id)
                .filter(|(_, (plan, _))| *plan > 0)
                .map(|((_, project), (plan, paid))| (project.clone(), *plan, left(*plan, *paid)))
                .collect();
            let shares = apportion(amount, &parts.iter().map(|p| p.2).collect::<Vec<_>>());
            let mut projects: Vec<(String, i64, i64)> = parts
                .into_iter()
                .zip(shares)
                .map(|((project, plan, _), share)| (project, plan, share))
                .filter(|(_, _, amount)| *amount > 0)
                .collect();
            projects.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
            releases.push(Release {
                unit_id: u.unit_id.clone(),
                unit_name: u.unit_name.clone(),
                plan: u.plan,
                disbursed: u.disbursed,
                projected_pct: p.jan31.mid,
                amount,
                by_source,
                projects,
            });
        }
        let need = ledger.need.get(&u.unit_id).copied().unwrap_or(0);
        let more = need.saturating_sub(u.plan);
        if p.dec31.mid >= settings.absorb_from_pct - 0.05 && more >= settings.min_dong.max(1) {
            absorbs.push(Absorb {
                unit_id: u.unit_id.clone(),
                unit_name: u.unit_name.clone(),
                plan: u.plan,
                need,
                projected_pct: p.dec31.mid,
                amount: more,
            });
        }
    }
    releases.sort_by(|a, b| {
        b.amount
            .cmp(&a.amount)
            .then_with(|| a.unit_id.cmp(&b.unit_id))
    });
    absorbs.sort_by(|a, b| {
        b.amount
            .cmp(&a.amount)
            .then_with(|| a.unit_id.cmp(&b.unit_id))
    });
    // Each amount is at most 10^18 đồng and there are far fewer than 2^60 units: i128 is exact.
    let total =
        |v: &mut dyn Iterator<Item = i64>| crate::domain::money::clamp(v.map(i128::from).sum());
    let releasable = total(&mut releases.iter().map(|r| r.amount));
    let absorbable = total(&mut absorbs.iter().map(|a| a.amount));
    let movable = releasable.min(absorbable);
    Some(Proposal {
        releases,
        absorbs,
        releasable,
        absorbable,
        movable,
        unplaced: releasable - movable,
        unmet: absorbable - movable,
    })
}

/// The reallocation proposal's thresholds (`[reallocation]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub release_below_pct: f64,
    pub absorb_from_pct: f64,
    /// The smallest amount proposed, in đồng.
    pub min_dong: i64,
    pub need_layer: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            release_below_pct: 95.0,
            absorb_from_pct: 100.0,
            min_dong: 500_000_000,
            need_layer: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::id::PlanYear;
    use crate::domain::rates::UnitRate;
    use crate::domain::rates::{Basis, Projection, Range};
    use std::collections::BTreeMap;

    fn unit(id: &str, plan: i64, paid: i64, dec31: f64, jan31: f64, by_close: i64) -> UnitRate {
        let r = |v| Range {
            low: v,
            mid: v,
            high: v,
        };
        UnitRate {
            unit_id: id.into(),
            unit_name: id.into(),
            plan,
            disbursed: paid,
            rate_pct: Some(100.0 * paid as f64 / plan as f64),
            projection: Some(Projection {
                basis: Basis::Unit,
                years: vec![PlanYear::new(2025), PlanYear::new(2024)],
                dec31: r(dec31),
                jan31: r(jan31),
                disbursed_by_close: by_close,
                at_risk: jan31 < 100.0,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn parts_are_shared_out_within_the_whole_to_the_last_dong() {
        assert_eq!(apportion(100, &[30, 20]), vec![30, 20]);
        assert_eq!(apportion(10, &[1, 1, 1]), vec![1, 1, 1]);
        let parts = apportion(100, &[50, 50, 50]);
        assert_eq!(parts.iter().sum::<i64>(), 100);
        assert_eq!(parts, vec![34, 33, 33]);
        let big = crate::domain::money::MAX_DONG;
        assert_eq!(apportion(big, &[big, big]).iter().sum::<i64>(), big);
        assert_eq!(apportion(5, &[]), Vec::<i64>::new());
    }

    #[test]
    fn slow_units_release_what_they_will_not_spend_and_fast_units_with_a_need_absorb_it() {
        let bn = 1_000_000_000;
        let rates = Rates {
            expected_pct: 70.0,
            average_pct: Some(50.0),
            units: vec![
                unit("FAST", 100 * bn, 90 * bn, 100.0, 100.0, 100 * bn),
                unit("SLOW", 200 * bn, 50 * bn, 55.0, 60.0, 120 * bn),
                unit("MID", 100 * bn, 60 * bn, 92.0, 97.0, 97 * bn),
            ],
            groups: vec![],
            rollups: vec![],
        };
        let ledger = Ledger {
            need: BTreeMap::from([("FAST".into(), 130 * bn), ("MID".into(), 150 * bn)]),
            projects: BTreeMap::from([
                (("SLOW".into(), "DA1".to_string()), (150 * bn, 25 * bn)),
                (("SLOW".into(), "DA2".to_string()), (50 * bn, 25 * bn)),
            ]),
            ..Default::default()
        };
        let p = propose(&rates, &ledger, &Settings::default()).unwrap();
        assert_eq!(p.releases.len(), 1);
        assert_eq!(p.releases[0].amount, 80 * bn);
        // DA1: 25 bn paid × 120/50 = 60 bn by the close of 150 → 90 left, DA2: 60 of 50 → none;
        // the parts are shared within the unit's 80 bn.
        assert_eq!(
            p.releases[0].projects,
            vec![("DA1".into(), 150 * bn, 80 * bn)]
        );
        // MID reaches 92 % by 31/12, under 100: it absorbs nothing despite its need.
        assert_eq!(p.absorbs.len(), 1);
        assert_eq!(
            (p.absorbs[0].unit_id.as_str(), p.absorbs[0].amount),
            ("FAST", 30 * bn)
        );
        assert_eq!(
            (p.releasable, p.absorbable, p.movable),
            (80 * bn, 30 * bn, 30 * bn)
        );
        assert_eq!((p.unplaced, p.unmet), (50 * bn, 0));
        assert_eq!(p.releasable, p.movable + p.unplaced);
        assert_eq!(p.absorbable, p.movable + p.unmet);
    }
}
