//! Catch-up decisions on a clock standing still, and operator notices that stay apart.

use super::catch_up::{catch_up, CatchUp};
use super::env::{Env, TICK};
use super::notices::notify_operators;
use crate::app::setup;
use crate::config::job::Job;
use crate::config::job_load;
use crate::domain::message::MessageKind;
use crate::domain::money::Language;
use crate::store::db::Store;
use crate::web::shared::Shared;
use chrono::TimeZone;
use chrono::{DateTime, Utc};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

fn job(schedule: &str) -> Job {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.toml");
    std::fs::write(
        &path,
        format!(
            r#"schedule = "{schedule}"
[sources.units]
location = "u.csv"
columns = {{ unit_id = "a", unit_name = "b", email = "c" }}
[sources.plans]
location = "p.csv"
columns = {{ unit_id = "a", amount = "b" }}
[sources.disbursements]
location = "d.csv"
columns = {{ unit_id = "a", date = "b", amount = "c" }}
[rule]
milestones = [{{ date = "12-31", pct = 95 }}]
"#
        ),
    )
    .unwrap();
    job_load::load(&path, chrono_tz::Asia::Ho_Chi_Minh).unwrap()
}

fn hcm(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Ho_Chi_Minh
        .with_ymd_and_hms(2026, 11, d, h, m, 0)
        .unwrap()
        .with_timezone(&Utc)
}

const DAY: Duration = Duration::from_secs(86_400);

#[test]
fn one_missed_slot_inside_the_window_runs_once() {
    // Daily at 08:00; down from 07:00 on the 27th to 09:00 on the 27th.
    let j = job("0 8 * * *");
    let c = catch_up(&j, Some(hcm(27, 7, 0)), &[], hcm(27, 9, 0), DAY);
    assert_eq!(
        c,
        CatchUp {
            run: Some(hcm(27, 8, 0)),
            skipped: None
        }
    );
}

#[test]
fn many_missed_slots_run_once_and_older_ones_are_only_logged() {
    // Down for three days: three slots missed, only the latest (inside 24 h) runs.
    let j = job("0 8 * * *");
    let c = catch_up(&j, Some(hcm(24, 12, 0)), &[], hcm(27, 9, 0), DAY);
    assert_eq!(c.run, Some(hcm(27, 8, 0)));
    assert_eq!(c.skipped, Some((hcm(25, 8, 0), hcm(26, 8, 0))));
    // Nothing inside the window: nothing runs, the misses are logged.
    let c = catch_up(
        &j,
        Some(hcm(24, 12, 0)),
        &[],
        hcm(27, 9, 0),
        Duration::from_secs(1800),
    );
    assert_eq!(
        (c.run, c.skipped),
        (None, Some((hcm(25, 8, 0), hcm(27, 8, 0))))
    );
}

#[test]
fn a_per_second_job_down_for_days_catches_up_its_latest_slot_without_walking_them_all() {
    let j = job("* * * * * *");
    let c = catch_up(&j, Some(hcm(20, 8, 0)), &[], hcm(27, 9, 0), DAY);
    assert_eq!(c.run, Some(hcm(27, 9, 0)));
    assert_eq!(
        c.skipped,
        Some((
            hcm(20, 8, 0) + chrono::Duration::seconds(1),
            hcm(27, 9, 0) - chrono::Duration::seconds(1)
        ))
    );
    // Every 5 minutes, down for 40 days: the latest slot, not the 100,000th.
    let j = job("*/5 * * * *");
    let c = catch_up(
        &j,
        Some(hcm(1, 0, 0) - chrono::Duration::days(30)),
        &[],
        hcm(27, 9, 2),
        DAY,
    );
    assert_eq!(c.run, Some(hcm(27, 9, 0)));
}

#[test]
fn no_miss_no_run_and_a_first_start_does_not_catch_up() {
    let j = job("0 8 * * *");
    assert_eq!(
        catch_up(&j, Some(hcm(27, 8, 30)), &[], hcm(27, 9, 0), DAY).run,
        None
    );
    assert_eq!(catch_up(&j, None, &[], hcm(27, 9, 0), DAY).run, None);
}

#[test]
fn an_interrupted_run_counts_as_missed() {
    let j = job("0 8 * * MON");
    let c = catch_up(
        &j,
        Some(hcm(23, 8, 1)),
        &[hcm(23, 8, 0)],
        hcm(23, 9, 0),
        DAY,
    );
    assert_eq!(c.run, Some(hcm(23, 8, 0)));
    // Even on what looks like a first start.
    assert_eq!(
        catch_up(&j, None, &[hcm(23, 8, 0)], hcm(23, 9, 0), DAY).run,
        Some(hcm(23, 8, 0))
    );
}

#[tokio::test]
async fn defect_4_two_notices_with_the_same_subject_are_two_messages() {
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("disbmon.toml");
    std::fs::write(
        &config_file,
        "operators = [\"ops@x.gov.vn\"]\n[admin]\nlisten = \"off\"\n",
    )
    .unwrap();
    let setup = Arc::new(setup::config(Some(&config_file), &|_| None).unwrap());
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let (_stop, stopping) = watch::channel(false);
    let (_tx, current) = watch::channel(setup.clone());
    let env = Env {
        setup,
        store: store.clone(),
        clock: Arc::new(crate::base::clock::FixedClock(hcm(2, 8, 0))),
        shared: Arc::new(Shared::new(store.clone(), None, TICK)),
        stopping,
        outbox_wake: Arc::new(tokio::sync::Notify::new()),
        current,
        notices: Arc::new(AtomicU64::new(0)),
    };
    let subject = "[disbmon] 1 message(s) could not be delivered";
    notify_operators(&env, "weekly", Language::En, subject, &["first".into()]).await;
    notify_operators(&env, "weekly", Language::En, subject, &["second".into()]).await;
    let rows = store
        .outbox(&[crate::domain::message::OutboxStatus::Pending])
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.kind == MessageKind::Operator));
    assert_ne!(rows[0].message_id, rows[1].message_id);
}
