//! Black-box tests of alert memory and the outbox: the real binary, a real SMTP server, state in
//! SQLite, and "now" moved forward with `DISBMON_NOW` to let days pass.

use crate::support::fixtures::{PAID, PLANS, UNITS};
use crate::support::{free_port, http_server, serve, Project, Run, Smtp};
use std::collections::BTreeMap;
use std::time::Duration;

/// The config and job on local files (see `crate::support::local_project`).
fn project(smtp: u16, extra: &str) -> Project {
    crate::support::local_project(smtp, extra)
}

/// Messages still waiting in the outbox (pending or being sent).
fn waiting(p: &Project) -> u64 {
    disbmon::store::db::Store::open(&p.path().join("var"))
        .unwrap()
        .waiting()
        .unwrap()
}

/// `once` on 31/10/2026 with "now" pinned.
fn once(p: &Project, now: &str) -> Run {
    p.run_env(
        &["once", "weekly", "--as-of", "2026-10-31", "--json"],
        &[("DISBMON_NOW", now)],
    )
}

/// unit → (reason, queued, escalated) from a run report.
fn decisions(run: &Run) -> BTreeMap<String, (String, bool, bool)> {
    run.json()["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["unit_id"].as_str().unwrap().to_string(),
                (
                    d["reason"].as_str().unwrap().to_string(),
                    d["queued"].as_bool().unwrap(),
                    d["escalated"].as_bool().unwrap(),
                ),
            )
        })
        .collect()
}

fn d(reason: &str, queued: bool, escalated: bool) -> (String, bool, bool) {
    (reason.to_string(), queued, escalated)
}

/// Alerts (not digests) that arrived for a unit's address.
fn alerts_to(smtp: &Smtp, rcpt: &str) -> Vec<String> {
    let mut v: Vec<String> = smtp
        .received()
        .iter()
        .filter(|m| m.rcpt_to().iter().any(|r| r == rcpt))
        .map(|m| m.subject())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn told_once_then_reminded_worsened_escalated_and_back_on_track() {
    let smtp = Smtp::start();
    let p = project(smtp.port, "repeat_after = \"7d\"\nescalate_after = 2");
    p.write(
        "jobs/weekly.toml",
        &std::fs::read_to_string(p.path().join("jobs/weekly.toml"))
            .unwrap()
            .replace(
                "digest_to = [",
                "escalate_to = [\"giamdoc@stc.example.gov.vn\"]\ndigest_to = [",
            ),
    );
    // Day 1: BQLGT critical and XMT behind are told (first); SNN has no address.
    let r = once(&p, "2026-11-02T08:00:00+07:00");
    r.expect_code(0);
    let got = decisions(&r);
    assert_eq!(got["BQLGT"], d("first", true, false), "{r}");
    assert_eq!(got["XMT"], d("first", true, false));
    assert_eq!(got["SNN"], d("first", false, false));
    assert_eq!(alerts_to(&smtp, "xmt@sonla.example.gov.vn").len(), 1);

    // An hour later, same figures: nothing for the units (the digest still goes out).
    let before = smtp.logical();
    let r = once(&p, "2026-11-02T09:00:00+07:00");
    r.expect_code(0);
    assert_eq!(decisions(&r)["XMT"], d("unchanged", false, false));
    assert_eq!(decisions(&r)["BQLGT"], d("unchanged", false, false));
    assert_eq!(smtp.logical(), before + 1, "only the digest");
    assert!(
        r.json()["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["unit_id"] == "SNN"),
        "{r}"
    );

    // Changing the template text (language) alone sends nothing new.
    let text = std::fs::read_to_string(p.path().join("jobs/weekly.toml")).unwrap();
    p.write(
        "jobs/weekly.toml",
        &text.replace("language = \"vi\"", "language = \"en\""),
    );
    let r = once(&p, "2026-11-02T10:00:00+07:00");
    assert_eq!(decisions(&r)["XMT"], d("unchanged", false, false));
    p.write("jobs/weekly.toml", &text);

    // XMT's payment is reversed: behind → critical, told again.
    p.write(
        "jobs/giai_ngan.csv",
        &PAID.replace(
            "02/07/2026,XMT,16.000.000.000",
            "02/07/2026,XMT,1.000.000.000",
        ),
    );
    let r = once(&p, "2026-11-03T08:00:00+07:00");
    assert_eq!(decisions(&r)["XMT"], d("worsened", true, false), "{r}");
    assert_eq!(decisions(&r)["BQLGT"], d("unchanged", false, false));

    // A week after their last alerts: reminders; XMT has had 2 alerts, so its third is escalated.
    let r = once(&p, "2026-11-10T08:00:00+07:00");
    assert_eq!(decisions(&r)["BQLGT"], d("reminder", true, false), "{r}");
    assert_eq!(decisions(&r)["XMT"], d("reminder", true, true));
    let escalated = smtp
        .received()
        .into_iter()
        .find(|m| m.rcpt_to() == ["giamdoc@stc.example.gov.vn"])
        .expect("the escalation recipient got the alert");
    assert!(
        escalated
            .subject()
            .starts_with("[Giải ngân 2026][Báo cáo cấp trên] UBND xã Mường Tè"),
        "{}",
        escalated.subject()
    );
    assert!(
        escalated
            .text()
            .contains("chậm tiến độ từ ngày 31/10/2026 và đã được nhắc 2 lần"),
        "{}",
        escalated.text()
    );

    // BQLGT pays the rest: one "back on track" email, then nothing.
    p.write(
        "jobs/giai_ngan.csv",
        &format!(
            "{}30/10/2026,BQLGT,500.000.000.000\n",
            PAID.replace(
                "02/07/2026,XMT,16.000.000.000",
                "02/07/2026,XMT,1.000.000.000"
            )
        ),
    );
    let r = once(&p, "2026-11-10T09:00:00+07:00");
    assert_eq!(decisions(&r)["BQLGT"], d("recovered", true, false), "{r}");
    let back = alerts_to(&smtp, "bqlgt@sonla.example.gov.vn");
    assert_eq!(
        back.iter().filter(|s| s.contains("đã đạt tiến độ")).count(),
        1,
        "{back:#?}"
    );
    let r = once(&p, "2026-11-10T10:00:00+07:00");
    assert!(!decisions(&r).contains_key("BQLGT"), "{r}");

    // The history shows the rate over time and every email with its reason and delivery.
    let h = p.run(&["history", "--job", "weekly", "--unit", "XMT"]);
    h.expect_code(0)
        .expect_stdout("rate over time")
        .expect_stdout("worsened")
        .expect_stdout("why: reminder")
        .expect_stdout("delivered");
    assert!(h.stdout().contains("to giamdoc@stc.example.gov.vn"), "{h}");
    p.run(&["history", "--job", "weekly"])
        .expect_code(0)
        .expect_stdout("run(s), newest first");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_with_rejected_data_leaves_every_unit_alone() {
    let smtp = Smtp::start();
    let p = project(smtp.port, "");
    once(&p, "2026-11-02T08:00:00+07:00").expect_code(0);
    let after_first = smtp.logical();
    // Broken data, and BQLGT's big payment missing from it: no "back on track", no state change.
    p.write(
        "jobs/giai_ngan.csv",
        &format!("{PAID}01/08/2026,XMT,1.2.3\n"),
    );
    once(&p, "2026-11-02T09:00:00+07:00").expect_code(4);
    assert_eq!(smtp.logical(), after_first);
    // Good data again: the units were already told, so nothing is sent to them.
    p.write("jobs/giai_ngan.csv", PAID);
    let r = once(&p, "2026-11-02T10:00:00+07:00");
    assert_eq!(decisions(&r)["XMT"], d("unchanged", false, false), "{r}");
    assert_eq!(decisions(&r)["BQLGT"], d("unchanged", false, false));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silence_suppresses_is_recorded_and_expires() {
    let smtp = Smtp::start();
    let p = project(smtp.port, "");
    let add = p.run_env(
        &[
            "silence",
            "add",
            "--job",
            "weekly",
            "--unit",
            "XMT",
            "--until",
            "2026-11-05",
            "--reason",
            "đang điều chỉnh kế hoạch",
        ],
        &[("DISBMON_NOW", "2026-11-01T08:00:00+07:00")],
    );
    add.expect_code(0).expect_stdout("silence 1");
    p.run(&["silence", "list"])
        .expect_code(0)
        .expect_stdout("unit XMT  until 2026-11-05");
    let r = once(&p, "2026-11-02T08:00:00+07:00");
    assert_eq!(decisions(&r)["XMT"], d("silenced", false, false), "{r}");
    assert_eq!(decisions(&r)["BQLGT"], d("first", true, false));
    assert!(alerts_to(&smtp, "xmt@sonla.example.gov.vn").is_empty());
    // Still silenced on the 5th (inclusive).
    assert_eq!(
        decisions(&once(&p, "2026-11-05T20:00:00+07:00"))["XMT"],
        d("silenced", false, false)
    );
    // The silence has ended and XMT is still behind: the alert goes out.
    let r = once(&p, "2026-11-06T08:00:00+07:00");
    assert_eq!(decisions(&r)["XMT"], d("silence_ended", true, false), "{r}");
    assert_eq!(alerts_to(&smtp, "xmt@sonla.example.gov.vn").len(), 1);
    p.run(&["history", "--job", "weekly", "--unit", "XMT"])
        .expect_code(0)
        .expect_stdout("silenced")
        .expect_stdout("silence_ended");
    p.run(&["silence", "remove", "1"]).expect_code(0);
    p.run(&["silence", "list"])
        .expect_code(0)
        .expect_stdout("no silences");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_5xx_for_one_recipient_fails_that_copy_only_and_is_listed_in_the_next_digest() {
    let port = free_port();
    let smtp = Smtp::start_custom(port, Some("vanthu.bqlgt@sonla.example.gov.vn"), 0.0);
    let p = project(port, "");
    let r = once(&p, "2026-11-02T08:00:00+07:00");
    r.expect_code(5);
    let report = r.json();
    let bqlgt = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["unit_id"] == "BQLGT")
        .unwrap()
        .clone();
    assert_eq!(bqlgt["delivered"], false);
    let e = bqlgt["error"].as_str().unwrap();
    assert!(
        e.starts_with("to vanthu.bqlgt@sonla.example.gov.vn:") && e.contains("550"),
        "{e}"
    );
    // The other recipients of the same message got it, with one Message-ID.
    let id = bqlgt["message_id"].as_str().unwrap();
    let seen: Vec<(String, Vec<String>)> = smtp
        .received()
        .iter()
        .map(|m| (m.message_id(), m.rcpt_to()))
        .collect();
    assert!(!seen.is_empty(), "{r}");
    assert_eq!(
        smtp.recipients_of(id),
        [
            "bqlgt@sonla.example.gov.vn",
            "phongdautu@stc.example.gov.vn"
        ],
        "{id} {seen:?}"
    );
    assert_eq!(alerts_to(&smtp, "xmt@sonla.example.gov.vn").len(), 1);
    let listed = p.run(&["outbox"]);
    listed
        .expect_code(0)
        .expect_stdout("failed")
        .expect_stdout("550");
    // The next digest lists the refused copy, once.
    once(&p, "2026-11-02T09:00:00+07:00").expect_code(0);
    let digests: Vec<_> = smtp
        .received()
        .into_iter()
        .filter(|m| m.rcpt_to() == ["lanhdao@stc.example.gov.vn"])
        .collect();
    assert_eq!(digests.len(), 2);
    let listed_in: Vec<bool> = {
        let mut v: Vec<_> = digests
            .iter()
            .map(|m| {
                (
                    m.header("Date"),
                    m.text().contains("vanthu.bqlgt@sonla.example.gov.vn"),
                )
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, b)| b).collect()
    };
    assert_eq!(
        listed_in.iter().filter(|b| **b).count(),
        1,
        "listed in exactly one digest"
    );
    // `outbox retry` queues it again; it fails again at this server, and stays listed.
    let failed_id: String = listed
        .stdout()
        .lines()
        .find(|l| l.contains("failed"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    p.run(&["outbox", "retry", &failed_id])
        .expect_code(0)
        .expect_stdout("queued again");
    p.run(&["outbox"]).expect_code(0).expect_stdout("pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_server_down_during_a_run_then_back_delivers_everything_once() {
    let port = free_port();
    let p = project(port, "");
    let r = once(&p, "2026-11-02T08:00:00+07:00");
    r.expect_code(5);
    p.run(&["outbox"]).expect_code(0).expect_stdout("pending");
    // The server comes back; the daemon sends what is pending before anything else.
    let smtp = Smtp::start_on(port);
    let mut d = p.spawn_daemon(&[]);
    d.wait_for("every message to arrive", 20, || smtp.received().len() >= 6);
    // Nothing is left to send (so nothing more can arrive) once the outbox is empty.
    d.wait_for("the outbox to empty", 20, || waiting(&p) == 0);
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(30), 0);
    // Two alerts (3 and 2 recipients) and the digest: six copies, none doubled.
    let got = smtp.received();
    assert_eq!(got.len(), 6, "{}", d.log());
    assert_eq!(smtp.logical(), 3);
    let mut pairs: Vec<(String, Vec<String>)> =
        got.iter().map(|m| (m.message_id(), m.rcpt_to())).collect();
    pairs.sort();
    pairs.dedup();
    assert_eq!(pairs.len(), 6);
    p.run(&["outbox"])
        .expect_code(0)
        .expect_stdout("the outbox is empty");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_in_the_middle_of_delivery_then_restart_delivers_every_alert() {
    // 300 units, all behind, one address each, no copies: 300 alerts and a digest.
    let mut units = String::from("Mã ĐV,Tên đơn vị,Email\n");
    let mut plans = String::from("Mã ĐV,Năm,Kế hoạch vốn (triệu đồng)\n");
    for i in 0..300 {
        units.push_str(&format!("U{i:03},Đơn vị {i},u{i:03}@x.gov.vn\n"));
        plans.push_str(&format!("U{i:03},2026,\"1.000\"\n"));
    }
    let port = free_port();
    let smtp = Smtp::start_custom(port, None, 0.01);
    let p = project(port, "");
    let job = std::fs::read_to_string(p.path().join("jobs/weekly.toml"))
        .unwrap()
        .replace("cc = [\"phongdautu@stc.example.gov.vn\"]", "cc = []");
    p.write("jobs/weekly.toml", &job)
        .write("jobs/don_vi.csv", &units)
        .write("jobs/ke_hoach.csv", &plans)
        .write("jobs/giai_ngan.csv", "Ngày,Mã ĐV,Số tiền (đồng)\n");
    let http = http_server(None).await;
    serve(&http, "/unused", "").await;

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_disbmon"))
        .args(["once", "weekly", "--as-of", "2026-10-31"])
        .current_dir(p.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    #[allow(clippy::disallowed_methods)] // waits for a real child process in real time
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while smtp.received().len() < 40 {
        #[allow(clippy::disallowed_methods)]
        let now = std::time::Instant::now();
        assert!(now < deadline, "delivery did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = smtp.received().len();
    assert!(
        at_kill < 301,
        "the kill came too late to test anything ({at_kill} delivered)"
    );

    let mut d = p.spawn_daemon(&[]);
    d.wait_for("every alert to arrive", 60, || smtp.logical() >= 301);
    d.wait_for("the outbox to empty", 20, || waiting(&p) == 0);
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(30), 0);
    let mut copies: BTreeMap<(String, String), usize> = BTreeMap::new();
    for m in smtp.received() {
        *copies
            .entry((m.message_id(), m.rcpt_to().join(",")))
            .or_default() += 1;
    }
    assert_eq!(
        copies.len(),
        301,
        "every alert and the digest, each to its recipient: {:?}\n{}",
        copies
            .keys()
            .filter(|(_, r)| !r.starts_with('u'))
            .collect::<Vec<_>>(),
        d.log()
    );
    let doubled: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    // Only the messages in flight at the kill — at most one per SMTP connection
    // (`mail.smtp.connections`, 4 by default) — may arrive twice, with the same Message-ID.
    assert!(
        doubled.len() <= 4 && doubled.iter().all(|(_, n)| **n == 2),
        "{doubled:?}"
    );
    for i in 0..300 {
        assert!(
            copies
                .keys()
                .any(|(_, r)| r == &format!("u{i:03}@x.gov.vn")),
            "u{i:03} never got its alert"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merged_units_alert_state_and_history_carry_over_to_its_successor() {
    let smtp = Smtp::start();
    let p = project(smtp.port, "");
    // Before the merger the commune's data is under its old id.
    let old = |t: &str| t.replace("XMT,", "H-MT,");
    p.write("jobs/don_vi.csv", &old(UNITS))
        .write("jobs/ke_hoach.csv", &old(PLANS))
        .write("jobs/giai_ngan.csv", &old(PAID));
    let r = once(&p, "2026-11-02T08:00:00+07:00");
    assert_eq!(decisions(&r)["H-MT"], d("first", true, false), "{r}");
    // After it: the units list the new id, the plan and payment files still carry the old one.
    p.write("jobs/don_vi.csv", UNITS);
    let job = std::fs::read_to_string(p.path().join("jobs/weekly.toml")).unwrap();
    p.write(
        "jobs/weekly.toml",
        &job.replace(
            "plan_year = 2026",
            "plan_year = 2026\nsuccessors = { \"H-MT\" = \"XMT\" }",
        ),
    );
    let r = once(&p, "2026-11-02T09:00:00+07:00");
    r.expect_code(0);
    // Told an hour ago under its old id: not told again as if it were new.
    assert_eq!(decisions(&r)["XMT"], d("unchanged", false, false), "{r}");
    let h = p.run(&["history", "--job", "weekly", "--unit", "XMT"]);
    h.expect_code(0)
        .expect_stdout("including the units it succeeded: H-MT")
        .expect_stdout("why: first");
}
