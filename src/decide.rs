//! Who is told what, and why. Pure: takes the computed rates and the units, returns the alerts to
//! send (with a reason), the units that should be told but cannot be reached, and the digest's
//! recipients.

use crate::compute::{Rates, UnitRate};
use crate::ledger::Unit;
use crate::rule::Status;
use lettre::message::Mailbox;
use serde::Serialize;
use std::collections::BTreeMap;

/// Why a unit is being told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The unit is behind its milestone on this run.
    Behind,
    /// The unit is critically behind on this run.
    Critical,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub unit: UnitRate,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// One alert per unit that is behind or critical and has an address, in rank order.
    pub alerts: Vec<Alert>,
    /// Units that are behind or critical but have no email address.
    pub unreachable: Vec<UnitRate>,
}

pub fn decide(rates: &Rates, units: &[Unit], cc: &[Mailbox]) -> Decision {
    let by_id: BTreeMap<&str, &Unit> = units.iter().map(|u| (u.id.as_str(), u)).collect();
    let mut decision = Decision::default();
    for rate in rates.units.iter().filter(|r| r.status.is_alerted()) {
        let to = by_id
            .get(rate.unit_id.as_str())
            .map(|u| u.emails.clone())
            .unwrap_or_default();
        if to.is_empty() {
            decision.unreachable.push(rate.clone());
            continue;
        }
        let reason = if rate.status == Status::Critical {
            Reason::Critical
        } else {
            Reason::Behind
        };
        decision.alerts.push(Alert {
            unit: rate.clone(),
            to,
            cc: cc.to_vec(),
            reason,
        });
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(id: &str, status: Status) -> UnitRate {
        UnitRate {
            unit_id: id.into(),
            unit_name: format!("Đơn vị {id}"),
            plan: 100,
            disbursed: 10,
            rate_pct: Some(10.0),
            expected_pct: 50.0,
            gap_pct: Some(40.0),
            shortfall: 40,
            rank: Some(1),
            below_average: true,
            status,
        }
    }

    fn unit(id: &str, email: Option<&str>) -> Unit {
        Unit {
            id: id.into(),
            name: id.into(),
            emails: email.map(|e| vec![e.parse().unwrap()]).unwrap_or_default(),
            parent_id: None,
        }
    }

    #[test]
    fn behind_and_critical_units_are_told_once_each() {
        let rates = Rates {
            expected_pct: 50.0,
            average_pct: Some(30.0),
            units: vec![
                rate("A", Status::OnTrack),
                rate("B", Status::Behind),
                rate("C", Status::Critical),
                rate("D", Status::NoPlan),
                rate("E", Status::Critical),
            ],
        };
        let units = vec![
            unit("A", Some("a@x.vn")),
            unit("B", Some("b@x.vn")),
            unit("C", Some("c@x.vn")),
            unit("D", Some("d@x.vn")),
            unit("E", None),
        ];
        let cc: Vec<Mailbox> = vec!["cc@x.vn".parse().unwrap()];
        let d = decide(&rates, &units, &cc);
        let told: Vec<(&str, Reason)> = d
            .alerts
            .iter()
            .map(|a| (a.unit.unit_id.as_str(), a.reason))
            .collect();
        assert_eq!(told, [("B", Reason::Behind), ("C", Reason::Critical)]);
        assert_eq!(d.alerts[0].cc, cc);
        assert_eq!(d.alerts[1].to[0].email.to_string(), "c@x.vn");
        assert_eq!(
            d.unreachable
                .iter()
                .map(|u| u.unit_id.as_str())
                .collect::<Vec<_>>(),
            ["E"]
        );
    }
}
