//! Who is told what, and why — with memory. Pure: takes the computed rates, the units, what the
//! store remembers of each unit (per job, unit and plan year) and the active silences; returns the
//! messages to queue, each with its reason, the decision about every unit, and the new memory.
//!
//! A unit is told when it first falls behind, when it worsens (behind → critical), as a reminder
//! when still behind `repeat_after` after its last alert, once when a silence ends, and once when it
//! is back on track. Otherwise nothing. After `escalate_after` alerts in one episode, alerts also go
//! to the escalation recipients. Only the figures decide: changing templates or config text never
//! by itself triggers a new round of emails.

use super::address::Mailbox;
use super::ledger::Unit;
use super::rates::{Rates, UnitRate};
use super::rule::Status;
use crate::domain::id::UnitId;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// Why a unit is (or is not) told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Fell behind (a new episode).
    First,
    /// Went from behind to critical.
    Worsened,
    /// Still behind, `repeat_after` since the last alert.
    Reminder,
    /// An alert was held back by a silence that has ended; the unit is still behind.
    SilenceEnded,
    /// Back on track after being alerted.
    Recovered,
    /// An alert was due but the unit is silenced: recorded, not sent.
    Silenced,
    /// Still behind, alerted recently: nothing to send.
    Unchanged,
    /// Looks back on track, but rows were left out of this run (`on_error = "skip"`): the unit
    /// keeps its episode until a complete run says so, since the missing rows may be the reason.
    Held,
    /// On track today, but projected to miss the 31/12 or 31/1 target (`alert_at_risk`).
    AtRisk,
}

crate::base::names::named!(Reason {
    First => "first",
    Worsened => "worsened",
    Reminder => "reminder",
    SilenceEnded => "silence_ended",
    Recovered => "recovered",
    Silenced => "silenced",
    Unchanged => "unchanged",
    Held => "held",
    AtRisk => "at_risk",
});

/// Settings of a job's alerting.
#[derive(Debug, Clone)]
pub struct Policy {
    pub cc: Vec<Mailbox>,
    pub repeat_after: Duration,
    pub escalate_after: u32,
    /// Used when the unit's parent has no address.
    pub escalate_to: Vec<Mailbox>,
    /// Escalate a unit that missed this many milestones in a row (`escalate_after_milestones`).
    pub escalate_after_milestones: Option<u32>,
    /// Alert units on track today but projected to miss a year-end target (`projection.alert_at_risk`).
    pub alert_at_risk: bool,
}

/// An escalated alert: who else is told, and since when the unit has been behind.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    pub to: Vec<Mailbox>,
    pub since: NaiveDate,
    /// Alerts sent in this episode before this one.
    pub alerts_before: u32,
    /// The milestones missed in a row, when that is why (`escalate_after_milestones`).
    pub missed: Vec<crate::domain::rule::Missed>,
}

/// A message to queue for a unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub unit: UnitRate,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub reason: Reason,
    pub escalation: Option<Escalation>,
}

/// The decision about one unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitDecision {
    pub unit_id: UnitId,
    pub status: Status,
    pub reason: Reason,
    /// A message is queued for it.
    pub queued: bool,
    pub escalated: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// Messages to queue, in rank order.
    pub alerts: Vec<Alert>,
    /// Units that should be told but have no email address.
    pub unreachable: Vec<UnitRate>,
    /// Every unit whose state matters (behind, or recovering), with the reason.
    pub decisions: Vec<UnitDecision>,
    /// The memory to store for every unit.
    pub memory: Vec<(UnitId, Memory)>,
}

/// A merged unit's alert state carries over to its successor (the most recent episode wins), so
/// that the successor is not told "first" again about what its predecessor was already told.
pub fn carry_over(memory: &mut HashMap<UnitId, Memory>, successors: &BTreeMap<UnitId, UnitId>) {
    for (old, new) in successors {
        if let Some(m) = memory.get(old).cloned() {
            let keep = memory
                .get(new)
                .is_some_and(|n| n.last_alert_at >= m.last_alert_at);
            if !keep {
                memory.insert(new.clone(), m);
            }
        }
    }
}

/// A reminder is due `repeat` after the last alert that reached the unit (with none delivered,
/// the last one queued) — never while an alert is still in the outbox: it is on its way.
fn reminder_due(m: &Memory, now: DateTime<Utc>, repeat: chrono::Duration) -> bool {
    !m.alert_in_flight
        && m.last_delivered_at
            .or(m.last_alert_at)
            .is_none_or(|t| now - t >= repeat)
}

/// Decides every unit of a run. `partial` says rows were left out of the data
/// (`on_error = "skip"`): then no unit is called back on track.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    rates: &Rates,
    units: &[Unit],
    memory: &HashMap<UnitId, Memory>,
    silenced: &HashSet<UnitId>,
    as_of: NaiveDate,
    now: DateTime<Utc>,
    policy: &Policy,
    partial: bool,
) -> Decision {
    let by_id: BTreeMap<&str, &Unit> = units.iter().map(|u| (u.id.as_str(), u)).collect();
    let mut d = Decision::default();
    let repeat = chrono::Duration::from_std(policy.repeat_after).unwrap_or(chrono::Duration::MAX);
    for rate in &rates.units {
        let id = rate.unit_id.as_str();
        let prev = memory.get(id).cloned().unwrap_or_default();
        let was_behind = prev.status.is_some_and(Status::is_alerted);
        if partial && was_behind && !rate.status.is_alerted() {
            d.decisions.push(UnitDecision {
                unit_id: rate.unit_id.clone(),
                status: rate.status,
                reason: Reason::Held,
                queued: false,
                escalated: false,
            });
            d.memory.push((rate.unit_id.clone(), prev));
            continue;
        }
        let mut m = Memory {
            status: Some(rate.status),
            alert_in_flight: false,
            ..prev.clone()
        };
        let emails = by_id.get(id).map(|u| u.emails.clone()).unwrap_or_default();
        let at_risk = policy.alert_at_risk
            && rate.status == Status::OnTrack
            && rate.projection.as_ref().is_some_and(|p| p.at_risk);
        // An at-risk episode: on track, with an episode open (on-track units close theirs).
        let was_at_risk = prev.status == Some(Status::OnTrack) && prev.episode_since.is_some();
        let (reason, message) = if at_risk {
            if !was_at_risk {
                m.episode_since = Some(as_of);
                m.alerts_in_episode = 0;
                m.last_alert_at = None;
                m.last_delivered_at = None;
                m.suppressed = false;
            }
            let due = !was_at_risk || reminder_due(&prev, now, repeat);
            match due {
                false => (Reason::Unchanged, false),
                true if silenced.contains(id) => {
                    m.suppressed = true;
                    (Reason::Silenced, false)
                }
                true => (Reason::AtRisk, true),
            }
        } else if rate.status.is_alerted() {
            if !was_behind {
                m.episode_since = Some(as_of);
                m.alerts_in_episode = 0;
                m.last_alert_at = None;
                m.last_delivered_at = None;
                m.suppressed = false;
            }
            let due = if !was_behind {
                Some(Reason::First)
            } else if prev.status == Some(Status::Behind) && rate.status == Status::Critical {
                Some(Reason::Worsened)
            } else if prev.suppressed && !silenced.contains(id) {
                Some(Reason::SilenceEnded)
            } else if reminder_due(&prev, now, repeat) {
                Some(if m.alerts_in_episode == 0 {
                    Reason::First
                } else {
                    Reason::Reminder
                })
            } else {
                None
            };
            match due {
                None => (Reason::Unchanged, false),
                Some(_) if silenced.contains(id) => {
                    m.suppressed = true;
                    (Reason::Silenced, false)
                }
                Some(reason) => (reason, true),
            }
        } else {
            let recovered =
                was_behind && prev.alerts_in_episode > 0 && rate.status == Status::OnTrack;
            m.episode_since = None;
            m.alerts_in_episode = 0;
            m.suppressed = false;
            if recovered {
                (Reason::Recovered, true)
            } else {
                d.memory.push((rate.unit_id.clone(), m));
                continue;
            }
        };
        let mut escalated = false;
        let mut queued = false;
        if message {
            if emails.is_empty() {
                d.unreachable.push(rate.clone());
            } else {
                let missed = match policy.escalate_after_milestones {
                    Some(n) if rate.missed_milestones.len() >= n as usize => {
                        rate.missed_milestones.clone()
                    }
                    _ => Vec::new(),
                };
                let escalation = (reason != Reason::Recovered
                    && reason != Reason::AtRisk
                    && (m.alerts_in_episode >= policy.escalate_after || !missed.is_empty()))
                .then(|| {
                    let parent = by_id
                        .get(id)
                        .and_then(|u| u.parent_id.as_deref())
                        .and_then(|p| by_id.get(p))
                        .map(|p| p.emails.clone())
                        .unwrap_or_default();
                    let to = if parent.is_empty() {
                        policy.escalate_to.clone()
                    } else {
                        parent
                    };
                    Escalation {
                        to,
                        since: m.episode_since.unwrap_or(as_of),
                        alerts_before: m.alerts_in_episode,
                        missed: missed.clone(),
                    }
                })
                .filter(|e| !e.to.is_empty());
                escalated = escalation.is_some();
                if reason != Reason::Recovered {
                    m.alerts_in_episode += 1;
                    m.last_alert_at = Some(now);
                    m.suppressed = false;
                }
                queued = true;
                d.alerts.push(Alert {
                    unit: rate.clone(),
                    to: emails,
                    cc: policy.cc.clone(),
                    reason,
                    escalation,
                });
            }
        }
        d.decisions.push(UnitDecision {
            unit_id: rate.unit_id.clone(),
            status: rate.status,
            reason,
            queued,
            escalated,
        });
        d.memory.push((rate.unit_id.clone(), m));
    }
    d
}

/// What the store remembers of a unit between runs, per job, unit and plan year.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Memory {
    /// The status at the last accepted run; None for a unit never seen.
    pub status: Option<Status>,
    /// The as-of date the current episode of being behind began.
    pub episode_since: Option<NaiveDate>,
    /// Alerts queued in this episode.
    pub alerts_in_episode: u32,
    /// When the last alert of this episode was queued.
    pub last_alert_at: Option<DateTime<Utc>>,
    /// When an alert of this episode last reached the unit's address (reminders count from it).
    pub last_delivered_at: Option<DateTime<Utc>>,
    /// An alert to the unit is still in the outbox (read from the outbox, never stored).
    pub alert_in_flight: bool,
    /// An alert was due but silenced: it goes out once the silence ends.
    pub suppressed: bool,
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
            nothing_paid: false,
            plan_changed_on: None,
            group: None,
            group_rank: None,
            group_average_pct: None,
            below_group_average: false,
            rate_last_year: None,
            worse_than_last_year: false,
            other_rates: Default::default(),
            projection: None,
            missed_milestones: Vec::new(),
        }
    }

    fn unit(id: &str, email: Option<&str>, parent: Option<&str>) -> Unit {
        Unit {
            id: id.into(),
            name: id.into(),
            row: 2,
            emails: email.map(|e| vec![e.parse().unwrap()]).unwrap_or_default(),
            parent_id: parent.map(UnitId::from),
            group: None,
            published_rate: None,
        }
    }

    fn policy() -> Policy {
        Policy {
            cc: vec!["cc@x.vn".parse().unwrap()],
            repeat_after: Duration::from_secs(7 * 86_400),
            escalate_after: 2,
            escalate_to: vec!["lead@x.vn".parse().unwrap()],
            escalate_after_milestones: None,
            alert_at_risk: false,
        }
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn at(d: u32) -> DateTime<Utc> {
        day(d).and_hms_opt(1, 0, 0).unwrap().and_utc()
    }

    /// Runs `decide` for one unit through a sequence of (day, status, silenced), carrying memory.
    fn sequence(steps: &[(u32, Status, bool)], units: &[Unit]) -> Vec<(Reason, bool, bool)> {
        let mut memory: HashMap<UnitId, Memory> = HashMap::new();
        steps
            .iter()
            .map(|(d, status, silenced)| {
                let rates = Rates {
                    expected_pct: 50.0,
                    average_pct: Some(30.0),
                    units: vec![rate("A", *status)],
                    groups: vec![],
                    rollups: vec![],
                };
                let silences: HashSet<UnitId> = if *silenced {
                    [UnitId::from("A")].into()
                } else {
                    HashSet::new()
                };
                let out = decide(
                    &rates,
                    units,
                    &memory,
                    &silences,
                    day(*d),
                    at(*d),
                    &policy(),
                    false,
                );
                memory = out.memory.into_iter().collect();
                out.decisions
                    .first()
                    .map(|u| (u.reason, u.queued, u.escalated))
                    .unwrap_or((Reason::Unchanged, false, false))
            })
            .collect()
    }

    use Reason::*;
    use Status::{Behind, Critical, OnTrack};

    #[test]
    fn first_then_quiet_then_reminder_worsened_and_recovered() {
        let units = vec![unit("A", Some("a@x.vn"), None)];
        let got = sequence(
            &[
                (1, Behind, false),
                (2, Behind, false),
                (8, Behind, false),
                (9, Critical, false),
                (10, OnTrack, false),
                (11, OnTrack, false),
            ],
            &units,
        );
        assert_eq!(
            got,
            [
                (First, true, false),
                (Unchanged, false, false),
                (Reminder, true, false),
                (Worsened, true, true),
                (Recovered, true, false),
                (Unchanged, false, false)
            ]
        );
    }

    #[test]
    fn escalation_after_the_set_number_of_alerts_goes_to_the_parent() {
        let units = vec![
            unit("A", Some("a@x.vn"), Some("P")),
            unit("P", Some("parent@x.vn"), None),
        ];
        let rates = |s| Rates {
            expected_pct: 50.0,
            average_pct: None,
            units: vec![rate("A", s)],
            groups: vec![],
            rollups: vec![],
        };
        let mut memory = HashMap::new();
        let mut escalations = Vec::new();
        for d in [1, 8, 15] {
            let out = decide(
                &rates(Behind),
                &units,
                &memory,
                &HashSet::new(),
                day(d),
                at(d),
                &policy(),
                false,
            );
            escalations.push(out.alerts[0].escalation.clone());
            memory = out.memory.into_iter().collect();
        }
        assert_eq!(escalations[0], None);
        assert_eq!(escalations[1], None);
        let e = escalations[2]
            .clone()
            .expect("the third alert is escalated");
        assert_eq!(
            (e.to[0].email.to_string(), e.since, e.alerts_before),
            ("parent@x.vn".into(), day(1), 2)
        );
    }

    #[test]
    fn a_silence_suppresses_and_the_alert_goes_out_when_it_ends() {
        let units = vec![unit("A", Some("a@x.vn"), None)];
        let got = sequence(
            &[
                (1, Behind, true),
                (2, Behind, true),
                (3, Behind, false),
                (4, Behind, false),
            ],
            &units,
        );
        assert_eq!(
            got,
            [
                (Silenced, false, false),
                (Silenced, false, false),
                (SilenceEnded, true, false),
                (Unchanged, false, false)
            ]
        );
    }

    #[test]
    fn no_address_is_unreachable_and_on_track_units_are_not_mentioned() {
        let units = vec![unit("A", None, None)];
        let rates = Rates {
            expected_pct: 50.0,
            average_pct: None,
            units: vec![rate("A", Behind), rate("B", OnTrack)],
            groups: vec![],
            rollups: vec![],
        };
        let out = decide(
            &rates,
            &units,
            &HashMap::new(),
            &HashSet::new(),
            day(1),
            at(1),
            &policy(),
            false,
        );
        assert!(out.alerts.is_empty());
        assert_eq!(out.unreachable.len(), 1);
        assert_eq!(out.decisions.len(), 1);
        assert_eq!(out.memory.len(), 2);
    }

    fn one(status: Status) -> Rates {
        Rates {
            expected_pct: 50.0,
            average_pct: None,
            units: vec![rate("A", status)],
            groups: vec![],
            rollups: vec![],
        }
    }

    fn decide_on(d: u32, status: Status, memory: &Memory, partial: bool) -> Decision {
        let units = vec![unit("A", Some("a@x.vn"), None)];
        let memory = HashMap::from([(UnitId::from("A"), memory.clone())]);
        decide(
            &one(status),
            &units,
            &memory,
            &HashSet::new(),
            day(d),
            at(d),
            &policy(),
            partial,
        )
    }

    #[test]
    fn reminders_count_from_the_last_delivered_alert_not_the_last_queued_one() {
        // Queued on the 1st, held up by the mail server, delivered on the 5th.
        let m = Memory {
            status: Some(Behind),
            episode_since: Some(day(1)),
            alerts_in_episode: 1,
            last_alert_at: Some(at(1)),
            last_delivered_at: Some(at(5)),
            ..Memory::default()
        };
        assert_eq!(
            decide_on(8, Behind, &m, false).decisions[0].reason,
            Unchanged
        );
        assert_eq!(
            decide_on(12, Behind, &m, false).decisions[0].reason,
            Reminder
        );
        // Still in the outbox: no reminder piles up behind it.
        let waiting = Memory {
            last_delivered_at: None,
            alert_in_flight: true,
            ..m.clone()
        };
        assert_eq!(
            decide_on(20, Behind, &waiting, false).decisions[0].reason,
            Unchanged
        );
        // Never delivered and no longer waiting (refused): counted from when it was queued.
        let refused = Memory {
            last_delivered_at: None,
            ..m
        };
        assert_eq!(
            decide_on(8, Behind, &refused, false).decisions[0].reason,
            Reminder
        );
    }

    #[test]
    fn rows_left_out_never_call_a_unit_back_on_track() {
        let m = Memory {
            status: Some(Behind),
            episode_since: Some(day(1)),
            alerts_in_episode: 1,
            last_alert_at: Some(at(1)),
            last_delivered_at: Some(at(1)),
            ..Memory::default()
        };
        let held = decide_on(3, OnTrack, &m, true);
        assert_eq!((held.decisions[0].reason, held.alerts.len()), (Held, 0));
        assert_eq!(held.memory, vec![(UnitId::from("A"), m.clone())]);
        let complete = decide_on(3, OnTrack, &m, false);
        assert_eq!(
            (complete.decisions[0].reason, complete.alerts.len()),
            (Recovered, 1)
        );
    }
}
