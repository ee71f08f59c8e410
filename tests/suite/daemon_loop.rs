//! The daemon as a library function, in this process: `daemon::run` with a clock that follows
//! tokio's paused time, so that hours of schedules, catch-up, retries and dead-man checks pass in
//! milliseconds — no sleeps, no ports, nothing tied to today's date. Messages go to `.eml` files
//! and into the outbox, which the tests read back from the state store.

use chrono::{DateTime, TimeZone, Utc};
use disbmon::app::daemon::{self, env::Control};
use disbmon::base::clock::TokioClock;
use disbmon::domain::message::{MessageKind, OutboxStatus};
use disbmon::store::db::Store;
use disbmon::store::runs::{RunOutcome, Trigger};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

const UNITS: &str = "id,name,email\nA,Đơn vị A,a@x.gov.vn\nB,Đơn vị B,b@x.gov.vn\n";
const PLANS: &str = "id,amount\nA,1000\nB,1000\n";
const PAID: &str = "id,date,amount\nA,2026-06-01,100\nB,2026-06-01,900\n";

/// A project folder: config with the file transport and no admin listener, data files, and jobs.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let p = Project {
            dir: tempfile::tempdir().unwrap(),
        };
        p.write(
            "config/disbmon.toml",
            r#"jobs_dir = "../jobs"
state_dir = "../var"
operators = ["ops@stc.example.gov.vn"]
shutdown_grace = "10s"
[admin]
listen = "off"
[mail]
from = "Giám sát <giamsat@stc.example.gov.vn>"
transport = "file"
dir = "../var/outbox"
"#,
        )
        .write("jobs/data/units.csv", UNITS)
        .write("jobs/data/plans.csv", PLANS)
        .write("jobs/data/paid.csv", PAID);
        p
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, text: &str) -> &Self {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// A job reading the data files (`units` may name a missing file), on `schedule`.
    fn job(&self, name: &str, schedule: &str, units: &str, extra: &str) -> &Self {
        self.write(
            &format!("jobs/{name}.toml"),
            &format!(
                r#"schedule = "{schedule}"
plan_year = 2026
{extra}
[sources.units]
location = "data/{units}"
columns = {{ unit_id = "id", unit_name = "name", email = "email" }}
[sources.plans]
location = "data/plans.csv"
columns = {{ unit_id = "id", amount = "amount" }}
[sources.disbursements]
location = "data/paid.csv"
columns = {{ unit_id = "id", date = "date", amount = "amount" }}
[rule]
milestones = [{{ date = "06-30", pct = 50 }}, {{ date = "12-31", pct = 95 }}]
[alerts]
digest_to = ["lanhdao@stc.example.gov.vn"]
"#
            ),
        )
    }

    fn config(&self) -> PathBuf {
        self.path().join("config/disbmon.toml")
    }

    fn store(&self) -> Store {
        Store::open(&self.path().join("var")).unwrap()
    }
}

fn hcm(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Ho_Chi_Minh
        .with_ymd_and_hms(2026, 11, d, h, m, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Runs the daemon from `start` for `for_how_long` of (paused, auto-advancing) time, then stops it
/// as SIGTERM would, and returns its exit code.
async fn run_daemon(p: &Project, start: DateTime<Utc>, for_how_long: Duration) -> i32 {
    let (stop, stopped) = oneshot::channel::<()>();
    let (_reload, reloads) = mpsc::channel(1);
    let control = Control {
        shutdown: async move {
            let _ = stopped.await;
        },
        reload: reloads,
    };
    let clock = Arc::new(TokioClock::starting_at(start));
    let daemon = tokio::spawn(daemon::run(Some(p.config()), clock, control));
    tokio::time::sleep(for_how_long).await;
    let _ = stop.send(());
    let code = daemon.await.unwrap();
    assert_eq!(code, 0, "disbmon run exited with {code}");
    code
}

fn scheduled_runs(s: &Store, job: &str) -> Vec<(DateTime<Utc>, RunOutcome)> {
    let mut v: Vec<_> = s
        .runs(job, 1000)
        .unwrap()
        .into_iter()
        .filter(|r| r.trigger == Trigger::Schedule)
        .map(|r| (r.scheduled_at, r.outcome))
        .collect();
    v.sort_by_key(|(t, _)| *t);
    v
}

fn operator_subjects(s: &Store) -> Vec<String> {
    s.outbox(&[
        OutboxStatus::Pending,
        OutboxStatus::Sending,
        OutboxStatus::Sent,
        OutboxStatus::Failed,
    ])
    .unwrap()
    .into_iter()
    .filter(|r| r.kind == MessageKind::Operator)
    .map(|r| r.subject)
    .collect()
}

#[tokio::test(start_paused = true)]
async fn each_slot_runs_once_on_time_and_its_mail_goes_out() {
    let p = Project::new();
    p.job("daily", "0 8 * * *", "units.csv", "");
    // From 07:00 on the 2nd to 07:00 on the 5th: three 08:00 slots.
    assert_eq!(
        run_daemon(&p, hcm(2, 7, 0), Duration::from_secs(3 * 86_400)).await,
        0
    );
    let s = p.store();
    assert_eq!(
        scheduled_runs(&s, "daily"),
        vec![
            (hcm(2, 8, 0), RunOutcome::Ok),
            (hcm(3, 8, 0), RunOutcome::Ok),
            (hcm(4, 8, 0), RunOutcome::Ok)
        ]
    );
    // A is behind (10 % of 1000 against ~ 80 %): one first alert, then nothing new to say; a
    // digest each day. Everything was delivered by the daemon's drainer.
    let sent = s.outbox(&[OutboxStatus::Sent]).unwrap();
    let alerts = sent.iter().filter(|r| r.kind == MessageKind::Alert).count();
    let digests = sent
        .iter()
        .filter(|r| r.kind == MessageKind::Digest)
        .count();
    assert_eq!((alerts, digests), (1, 3));
    assert_eq!(s.waiting().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn defect_10_catch_up_is_per_job_a_job_added_while_down_has_missed_nothing() {
    let p = Project::new();
    p.job("old", "0 8 * * *", "units.csv", "");
    run_daemon(&p, hcm(2, 7, 0), Duration::from_secs(3660)).await;
    assert_eq!(scheduled_runs(&p.store(), "old").len(), 1);
    // Down from 08:00 on the 2nd to 09:00 on the 3rd; meanwhile a second job is added.
    p.job("new", "0 8 * * *", "units.csv", "");
    run_daemon(&p, hcm(3, 9, 0), Duration::from_secs(60)).await;
    let s = p.store();
    assert_eq!(
        scheduled_runs(&s, "old"),
        vec![
            (hcm(2, 8, 0), RunOutcome::Ok),
            (hcm(3, 8, 0), RunOutcome::Ok)
        ],
        "the old job catches up the slot it missed"
    );
    assert_eq!(
        scheduled_runs(&s, "new"),
        vec![],
        "the new job never had the 08:00 slot"
    );
    // A restart right away has nothing to catch up: that slot already ran.
    run_daemon(&p, hcm(3, 9, 5), Duration::from_secs(60)).await;
    assert_eq!(scheduled_runs(&p.store(), "old").len(), 2);
    assert_eq!(scheduled_runs(&p.store(), "new"), vec![]);
}

#[tokio::test(start_paused = true)]
async fn a_per_second_job_down_for_two_days_catches_up_once() {
    let p = Project::new();
    p.job("fast", "*/30 * * * * *", "units.csv", "catch_up = \"1h\"");
    // 07:59:00 to 08:00:05: the 07:59:30 and 08:00:00 slots.
    run_daemon(&p, hcm(2, 7, 59), Duration::from_secs(65)).await;
    let before = scheduled_runs(&p.store(), "fast").len();
    assert_eq!(before, 2);
    // Down for two days: 5,760 slots missed; the latest runs, once.
    run_daemon(
        &p,
        hcm(4, 8, 0) + chrono::Duration::seconds(10),
        Duration::from_secs(5),
    )
    .await;
    let runs = scheduled_runs(&p.store(), "fast");
    assert_eq!(runs.len(), before + 1, "{runs:?}");
    assert_eq!(runs.last().unwrap().0, hcm(4, 8, 0));
}

#[tokio::test(start_paused = true)]
async fn a_failing_run_is_retried_then_operators_are_told() {
    let p = Project::new();
    p.job(
        "broken",
        "0 8 * * *",
        "missing.csv",
        "retries = [\"1m\", \"5m\"]",
    );
    run_daemon(&p, hcm(2, 7, 0), Duration::from_secs(7200)).await;
    let s = p.store();
    let runs = s.runs("broken", 10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].outcome, runs[0].attempts), (RunOutcome::Failed, 3));
    assert!(runs[0].error.as_deref().unwrap().contains("missing.csv"));
    let told = operator_subjects(&s);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains("công việc broken không chạy được"),
        "{told:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn defect_11_the_dead_man_notice_for_a_job_that_never_succeeded_is_sent_once_across_restarts()
{
    let p = Project::new();
    p.job(
        "broken",
        "0 * * * *",
        "missing.csv",
        "max_silence = \"3h\"\nretries = []",
    );
    let silent = |s: &Store| {
        operator_subjects(s)
            .into_iter()
            .filter(|t| t.contains("giờ không chạy thành công"))
            .count()
    };
    run_daemon(&p, hcm(2, 7, 30), Duration::from_secs(4 * 3600)).await;
    assert_eq!(silent(&p.store()), 1);
    run_daemon(&p, hcm(2, 12, 0), Duration::from_secs(2 * 3600)).await;
    assert_eq!(
        silent(&p.store()),
        1,
        "a restart is not a new silence: {:?}",
        operator_subjects(&p.store())
    );
}

#[tokio::test(start_paused = true)]
async fn stale_data_alerts_nobody_and_the_operators_are_told_which_source_since_when() {
    let p = Project::new();
    // The newest payment is from 01/06/2026; the run is as of 02/11/2026.
    p.job(
        "stale",
        "0 8 * * *",
        "units.csv",
        "max_data_age = \"1d\"\nretries = [\"1m\"]",
    );
    run_daemon(&p, hcm(2, 7, 0), Duration::from_secs(7200)).await;
    let s = p.store();
    let runs = s.runs("stale", 10).unwrap();
    assert_eq!(runs[0].outcome, RunOutcome::Failed);
    let why = runs[0].error.as_deref().unwrap();
    assert!(
        why.contains("the newest disbursement is from 01/06/2026"),
        "{why}"
    );
    let rows = s
        .outbox(&[
            OutboxStatus::Pending,
            OutboxStatus::Sent,
            OutboxStatus::Failed,
        ])
        .unwrap();
    assert!(
        rows.iter().all(|r| r.kind == MessageKind::Operator),
        "no alert and no digest on stale data"
    );
    assert_eq!(operator_subjects(&s).len(), 1);
}
