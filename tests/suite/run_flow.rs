//! The run flow's defects, one test each (the numbers are those of the run-flow issue): the real
//! binary, a real SMTP server, state in SQLite, "now" pinned with `DISBMON_NOW`.

use disbmon::store::outbox::Take;
use disbmon::store::runs::Trigger;

use crate::support::fixtures::PLANS;
use crate::support::{free_port, once, store, Project, Run, Smtp};
use disbmon::domain::message::{MessageKind, NewMessage};
use std::time::Duration;

/// The config and job on local files (see `crate::support::local_project`).
fn project(smtp: u16, extra: &str) -> Project {
    crate::support::local_project(smtp, extra)
}

/// The reason decided for a unit in a run report.
fn reason(run: &Run, unit: &str) -> String {
    run.json()["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["unit_id"] == unit)
        .map(|d| d["reason"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no decision for {unit}\n{run}"))
}

fn old_message(n: usize, to: &str) -> NewMessage {
    NewMessage {
        message_id: format!("<old-{n}@test>"),
        unit: None,
        kind: MessageKind::Digest,
        reason: None,
        recipients: vec![to.to_string()],
        subject: format!("old {n}"),
        raw: format!("From: a@b.vn\r\nTo: {to}\r\nSubject: old {n}\r\nMessage-ID: <old-{n}@test>\r\n\r\nold\r\n")
            .into_bytes(),
    }
}

/// A PID that no process has any more.
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

/// Makes every recording of unit figures fail, as a full disk or a broken store would.
fn break_recording(p: &Project) {
    let c = rusqlite::Connection::open(p.path().join("var/disbmon.sqlite3")).unwrap();
    c.execute_batch(
        "CREATE TRIGGER broken BEFORE INSERT ON unit_figures BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END;",
    )
    .unwrap();
}

fn mend_recording(p: &Project) {
    let c = rusqlite::Connection::open(p.path().join("var/disbmon.sqlite3")).unwrap();
    c.execute_batch("DROP TRIGGER broken;").unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn defect_1_a_run_delivers_its_own_messages_however_many_older_ones_wait() {
    let smtp = Smtp::start();
    let p = project(smtp.port, "");
    // 60 older messages wait (a mail server was down), due now.
    let s = store(&p);
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-02T01:00:00Z")
        .unwrap()
        .to_utc();
    let old: Vec<_> = (0..60)
        .map(|n| old_message(n, &format!("old{n}@x.gov.vn")))
        .collect();
    s.enqueue("weekly", &old, now, Duration::from_secs(86_400))
        .unwrap();
    drop(s);
    let run = once(&p, "2026-11-02T08:00:00+07:00");
    run.expect_code(0);
    let report = run.json();
    for a in report["alerts"].as_array().unwrap() {
        if !a["to"].as_array().unwrap().is_empty() {
            assert_eq!(a["delivered"], true, "{run}");
        }
    }
    assert_eq!(report["digest"]["delivered"], true, "{run}");
    // ...and, draining everything due, the older ones too.
    for n in 0..60 {
        assert_eq!(smtp.recipients_of(&format!("<old-{n}@test>")).len(), 1);
    }
    p.run(&["outbox"])
        .expect_code(0)
        .expect_stdout("the outbox is empty");
}

#[tokio::test(flavor = "multi_thread")]
async fn defect_2_a_failure_is_listed_in_a_digest_even_when_the_run_that_took_it_failed_to_record()
{
    let smtp = Smtp::start();
    let p = project(smtp.port, "");
    // A message given up earlier, not yet listed in any digest.
    let s = store(&p);
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-01T01:00:00Z")
        .unwrap()
        .to_utc();
    s.enqueue(
        "weekly",
        &[old_message(1, "gone@x.gov.vn")],
        now,
        Duration::from_secs(60),
    )
    .unwrap();
    let row = s
        .take_due(Take {
            now,
            lease: Duration::from_secs(60),
            only: None,
            most: 1,
        })
        .unwrap()
        .remove(0)
        .row;
    s.mark_failed(row.id, "550 no such user").unwrap();
    drop(s);
    break_recording(&p);
    once(&p, "2026-11-02T08:00:00+07:00").expect_code(1);
    mend_recording(&p);
    once(&p, "2026-11-03T08:00:00+07:00").expect_code(0);
    let digest = smtp.one_to("lanhdao@stc.example.gov.vn");
    assert!(digest.text().contains("gone@x.gov.vn"), "{}", digest.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn defect_3_a_run_that_fails_for_the_machine_is_not_a_data_rejection() {
    let p = project(free_port(), "");
    store(&p);
    break_recording(&p);
    let run = once(&p, "2026-11-02T08:00:00+07:00");
    run.expect_code(1).expect_stderr("the run failed");
    let report = run.json();
    assert_eq!(report["outcome"], "failed", "{run}");
    assert!(report["error"].as_str().unwrap().contains("disk I/O error"));
    assert_eq!(report["data_issues"].as_array().unwrap().len(), 0, "{run}");
    // Nothing was stored, so nothing was queued or sent; the run can be repeated.
    p.run(&["outbox"])
        .expect_code(0)
        .expect_stdout("the outbox is empty");
}

#[tokio::test(flavor = "multi_thread")]
async fn defect_5_reminders_count_from_the_last_delivered_alert() {
    let port = free_port();
    let p = project(port, "repeat_after = \"7d\"");
    // 2/11: the mail server is down; the first alerts wait in the outbox.
    once(&p, "2026-11-02T08:00:00+07:00").expect_code(5);
    // 6/11: it is back; the alerts reach the units then.
    let smtp = Smtp::start_on(port);
    p.run_env(
        &["outbox", "send"],
        &[("DISBMON_NOW", "2026-11-06T08:00:00+07:00")],
    )
    .expect_code(0);
    assert!(!smtp.received().is_empty());
    // 9/11: seven days after they were queued, three after they arrived: no reminder yet.
    let run = once(&p, "2026-11-09T08:00:00+07:00");
    run.expect_code(0);
    assert_eq!(reason(&run, "XMT"), "unchanged", "{run}");
    // 13/11: seven days after they arrived.
    let run = once(&p, "2026-11-13T08:00:00+07:00");
    assert_eq!(reason(&run, "XMT"), "reminder", "{run}");
}

#[tokio::test(flavor = "multi_thread")]
async fn defect_6_rows_left_out_never_call_a_unit_back_on_track() {
    let smtp = Smtp::start();
    let p = project(smtp.port, "");
    // XMT's plan in two rows; its plan source leaves bad rows out.
    let job = std::fs::read_to_string(p.path().join("jobs/weekly.toml"))
        .unwrap()
        .replace(
            "amount_unit = \"million\"",
            "amount_unit = \"million\"\non_error = \"skip\"",
        );
    let split = PLANS.replace(
        "XMT,2026,\"25.000\"\n",
        "XMT,2026,\"12.500\"\nXMT,2026,\"12.500\"\n",
    );
    p.write("jobs/weekly.toml", &job)
        .write("jobs/ke_hoach.csv", &split);
    let run = once(&p, "2026-11-02T08:00:00+07:00");
    assert_eq!(reason(&run, "XMT"), "first", "{run}");
    // One of its rows is now unreadable: on half its plan XMT looks on track.
    p.write(
        "jobs/ke_hoach.csv",
        &split.replacen("XMT,2026,\"12.500\"", "XMT,2026,\"mười hai\"", 1),
    );
    let run = once(&p, "2026-11-03T08:00:00+07:00");
    assert_eq!(reason(&run, "XMT"), "held", "{run}");
    assert!(!run.json()["data_issues"].as_array().unwrap().is_empty());
    let back = smtp
        .received()
        .iter()
        .filter(|m| m.rcpt_to() == ["xmt@sonla.example.gov.vn"])
        .count();
    assert_eq!(back, 1, "only the first alert, no \"back on track\"");
    // With every row readable again it is behind, as before: nothing new to say.
    p.write("jobs/ke_hoach.csv", &split);
    let run = once(&p, "2026-11-04T08:00:00+07:00");
    assert_eq!(reason(&run, "XMT"), "unchanged", "{run}");
}

#[tokio::test(flavor = "multi_thread")]
async fn defect_7_once_and_outbox_send_drain_what_others_left_even_a_dead_senders_rows() {
    let port = free_port();
    let p = project(port, "");
    // Monday's run cannot deliver: everything waits.
    once(&p, "2026-11-02T08:00:00+07:00").expect_code(5);
    let waiting = store(&p).waiting().unwrap();
    assert!(waiting >= 6, "{waiting}");
    // A `once` that was killed while sending left one row taken.
    let c = rusqlite::Connection::open(p.path().join("var/disbmon.sqlite3")).unwrap();
    c.execute(
        "UPDATE outbox SET status = 'sending', owner = ?1, lease_until = '2099-01-01T00:00:00.000Z' WHERE id = (SELECT MIN(id) FROM outbox)",
        [dead_pid()],
    )
    .unwrap();
    // The server is back. The next `once` (Tuesday's, nothing new to say) sends Monday's mail.
    let smtp = Smtp::start_on(port);
    once(&p, "2026-11-03T08:00:00+07:00").expect_code(0);
    assert_eq!(store(&p).waiting().unwrap(), 0);
    let first = smtp.received().len();
    assert!(first as u64 >= waiting, "{first} of {waiting}");
    // `outbox send` has nothing left to do, and says so.
    p.run(&["outbox", "send"])
        .expect_code(0)
        .expect_stdout("0 sent");
    let retry_text = p.run(&["outbox", "retry", "999"]);
    retry_text.expect_code(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn defect_8_a_killed_manual_run_is_never_replayed_as_a_scheduled_slot() {
    let p = project(free_port(), "");
    // A `once` killed mid-run left its run marked running.
    let s = store(&p);
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-02T01:00:00Z")
        .unwrap()
        .to_utc();
    s.claim_manual("weekly", at).unwrap();
    let c = rusqlite::Connection::open(p.path().join("var/disbmon.sqlite3")).unwrap();
    c.execute("UPDATE runs SET pid = ?1", [dead_pid()]).unwrap();
    drop(s);
    let mut d = p.spawn_daemon(&[("DISBMON_LOG", "info")]);
    d.wait_log("disbmon started", 20);
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(30), 0);
    assert!(!d.log().contains("catching up"), "{}", d.log());
    let runs = store(&p).runs("weekly", 10).unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        runs[0].outcome,
        disbmon::store::runs::RunOutcome::Interrupted
    );
    assert_eq!(runs[0].trigger, Trigger::Manual);
}

#[tokio::test(flavor = "multi_thread")]
async fn defect_9_one_daemon_per_state_folder_and_once_beside_it_sends_each_message_once() {
    let smtp = Smtp::start();
    let p = project(smtp.port, "");
    let mut first = p.spawn_daemon(&[("DISBMON_LOG", "info")]);
    first.wait_log("disbmon started", 20);
    let mut second = p.spawn_daemon(&[]);
    assert_eq!(second.wait_exit(30), 6, "{}", second.log());
    let pid = first.child.as_ref().unwrap().id();
    assert!(
        second.log().contains(&format!("PID {pid}")),
        "{}",
        second.log()
    );
    // A manual run while the daemon drains the outbox: every copy arrives once.
    once(&p, "2026-11-02T08:00:00+07:00").expect_code(0);
    first.wait_for("the outbox to be empty", 20, || {
        store(&p).waiting().unwrap() == 0
    });
    first.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(first.wait_exit(30), 0);
    let mut seen = std::collections::BTreeSet::new();
    for m in smtp.received() {
        assert!(
            seen.insert((m.message_id(), m.rcpt_to())),
            "sent twice: {} to {:?}",
            m.message_id(),
            m.rcpt_to()
        );
    }
    assert_eq!(seen.len(), 6);
}
