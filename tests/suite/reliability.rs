//! Nothing lost, nothing silent (the reliability issue, one test per point): the real binary in a
//! temporary project, a real SMTP server, state in SQLite.
// Black-box tests wait for real child processes in real time; the clock rule is for src/.
#![allow(clippy::disallowed_methods)]

use crate::support::fixtures::PAID;
use crate::support::{local_project, once, store, Project, Smtp};
use disbmon::store::runs::Trigger;

/// A unit's line of a run report.
fn unit(report: &serde_json::Value, id: &str) -> serde_json::Value {
    report["units"]
        .as_array()
        .and_then(|units| units.iter().find(|u| u["unit_id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("no unit {id} in\n{report}"))
}

const NOW: &str = "2026-11-02T08:00:00+07:00";

#[test]
fn point_1_a_corrected_rerun_is_a_run_of_its_own_and_its_digest_arrives() {
    let smtp = Smtp::start();
    let p = local_project(smtp.port, "");
    let first = once(&p, NOW);
    first.expect_code(0);
    // The officer corrects XMT's payments (16 → 20 of 25 tỷ: 80 %, on track) and runs it again
    // with the same "now".
    p.write(
        "jobs/giai_ngan.csv",
        &PAID.replace(
            "02/07/2026,XMT,16.000.000.000",
            "02/07/2026,XMT,20.000.000.000",
        ),
    );
    let second = once(&p, NOW);
    second.expect_code(0);
    assert_eq!(second.json()["digest"]["delivered"], true, "{second}");

    let digests: Vec<_> = smtp
        .received()
        .into_iter()
        .filter(|m| {
            m.rcpt_to()
                .iter()
                .any(|r| r == "lanhdao@stc.example.gov.vn")
        })
        .collect();
    assert_eq!(digests.len(), 2, "both digests arrive\n{second}");
    assert_ne!(digests[0].message_id(), digests[1].message_id());
    // The second one carries the corrected figure.
    let text = digests[1].text();
    assert!(text.contains("80,0"), "{text}");

    // Two history rows, the first one as it was.
    let runs = store(&p).runs("weekly", 10).unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r.trigger == Trigger::Manual));
    assert_ne!(runs[0].scheduled_at, runs[1].scheduled_at);
    let (newer, older) = (&runs[0], &runs[1]);
    assert_eq!(older.units_behind, Some(3), "{older:?}");
    assert_eq!(newer.units_behind, Some(2), "{newer:?}");
}

#[test]
fn point_1_hand_runs_started_together_are_each_recorded_and_every_claimed_message_arrives() {
    let smtp = Smtp::start();
    let p = local_project(smtp.port, "");
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(crate::support::bin())
                .args(["once", "weekly", "--as-of", "2026-10-31", "--json"])
                .env("DISBMON_NOW", NOW)
                .current_dir(p.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut claimed = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out.stderr)));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{report}\n{err}");
        claimed += report["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["delivered"] == true)
            .count();
        claimed += usize::from(report["digest"]["delivered"] == true);
    }
    assert_eq!(store(&p).runs("weekly", 10).unwrap().len(), 3);
    assert_eq!(
        smtp.logical(),
        claimed,
        "each message a report calls delivered arrived"
    );
}

/// The units, plans and payments with blank lines where exports put them: at the end (`\n\n`,
/// `\r\n\r\n`) and between records.
#[test]
fn point_2_a_blank_line_is_not_a_record_it_is_skipped_and_counted() {
    use crate::support::fixtures::{PLANS, UNITS};
    for (name, eol) in [("lf", "\n"), ("crlf", "\r\n")] {
        let p = local_project(0, "");
        p.write("config/disbmon.toml", &file_config());
        let crlf = |s: &str| s.replace('\n', eol);
        p.write("jobs/don_vi.csv", &crlf(&format!("{UNITS}\n")));
        p.write("jobs/ke_hoach.csv", &crlf(&format!("{PLANS}\n\n")));
        // Two blank lines between payments, one of spaces.
        let paid = PAID.replacen("\n01/06/2026", "\n\n   \n01/06/2026", 1);
        p.write("jobs/giai_ngan.csv", &crlf(&paid));
        let run = once(&p, NOW);
        run.expect_code(0);
        let report = run.json();
        let blank = |source: &str| {
            report["sources"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["source"] == source)
                .map(|s| s["blank"].clone())
                .unwrap()
        };
        assert_eq!(blank("units"), 1, "{name}\n{run}");
        assert_eq!(blank("plans"), 2, "{name}\n{run}");
        assert_eq!(blank("disbursements"), 2, "{name}\n{run}");
        assert!(
            report["data_issues"].as_array().unwrap().is_empty(),
            "{run}"
        );
        // Every unit was measured as without the blank lines.
        let xmt = unit(&report, "XMT");
        assert_eq!(xmt["rate_pct"], 64.0, "{run}");
        // The officer reads it in the report's source lines.
        let human = p.run_env(
            &["once", "weekly", "--as-of", "2026-10-31", "--dry-run"],
            &[("DISBMON_NOW", NOW)],
        );
        human.expect_code(0).expect_stdout("2 blank rows skipped");
    }
    // A row of empty cells (what a spreadsheet saves for a formatted empty row) holds nothing
    // either; a row with only a note in a column the job does not read is a row with a problem.
    let p = local_project(0, "");
    p.write("config/disbmon.toml", &file_config());
    p.write("jobs/ke_hoach.csv", &format!("{PLANS},,\n"));
    let run = once(&p, NOW);
    run.expect_code(0);
    assert_eq!(run.json()["sources"][1]["blank"], 1, "{run}");
    p.write(
        "jobs/ke_hoach.csv",
        &PLANS
            .lines()
            .enumerate()
            .map(|(i, l)| format!("{},{l}\n", if i == 0 { "Ghi chú" } else { "" }))
            .chain(["xem lại,,,\n".to_string()])
            .collect::<String>(),
    );
    once(&p, NOW)
        .expect_code(4)
        .expect_stderr("row 7: column `Mã ĐV`");
}

/// The issue's config with the file transport (no SMTP server needed) and no admin listener
/// (tests run side by side).
fn file_config() -> String {
    admin_config("listen = \"off\"")
}

/// [`file_config`] with these `[admin]` keys.
fn admin_config(admin: &str) -> String {
    crate::support::fixtures::CONFIG
        .replace("transport = \"smtp\"", "transport = \"file\"")
        .replace("[mail]", &format!("[admin]\n{admin}\n\n[mail]"))
}

/// In `jobs/`: a folder named like a job, a link that loops, a link to nothing; and an editor's
/// lock file (a dot name), which is not a job.
#[test]
fn point_3_every_job_file_that_cannot_be_read_is_named_with_why() {
    use std::os::unix::fs::symlink;
    let p = local_project(0, "");
    p.write("config/disbmon.toml", &file_config());
    let jobs = p.path().join("jobs");
    std::fs::create_dir(jobs.join("x.toml")).unwrap();
    symlink("loop.toml", jobs.join("loop.toml")).unwrap();
    symlink("missing.toml", jobs.join("gone.toml")).unwrap();
    symlink("user@host.1234", jobs.join(".#weekly.toml")).unwrap();
    let named = |text: &str| {
        for (file, why) in [
            ("jobs/x.toml", "a folder, not a job file"),
            ("jobs/loop.toml", "loops back on itself"),
            (
                "jobs/gone.toml",
                "a symbolic link to `missing.toml`, which does not exist",
            ),
        ] {
            assert!(
                text.lines().any(|l| l.contains(file) && l.contains(why)),
                "{file}: {why}\n{text}"
            );
        }
        assert!(!text.contains(".#weekly"), "{text}");
    };
    let check = p.run(&["check"]);
    check.expect_code(3);
    named(&check.stderr());
    assert!(check.stdout().contains("job weekly"), "{check}");

    // The readable job runs, and the run names the others.
    let run = once(&p, NOW);
    run.expect_code(0);
    named(&run.stderr());
    // The unreadable one says why, not "no such job file".
    let looped = p.run(&["once", "loop"]);
    looped.expect_code(3).expect_stderr("loops back on itself");

    // The daemon does not start without them.
    let mut d = p.spawn_daemon(&[]);
    assert_eq!(d.wait_exit(20), 3, "{}", d.log());
    named(&d.log());

    // Started without them, it refuses a reload that adds one, and keeps running.
    for f in ["x.toml", "loop.toml", "gone.toml"] {
        let path = jobs.join(f);
        let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir(&path));
    }
    p.run(&["check"]).expect_code(0).expect_stdout("all valid");
    let mut d = p.spawn_daemon(&[("DISBMON_LOG", "info")]);
    d.wait_log("disbmon started", 20);
    std::fs::create_dir(jobs.join("new.toml")).unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.wait_log("the new configuration is rejected", 10);
    assert!(
        d.log()
            .lines()
            .any(|l| l.contains("jobs/new.toml") && l.contains("a folder, not a job file")),
        "{}",
        d.log()
    );
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(30), 0, "{}", d.log());
}

/// The same ids and names typed composed (NFC) on one machine and decomposed (NFD: a letter and
/// its combining marks, as macOS writes them) on another.
#[test]
fn point_4_ids_and_names_are_compared_in_one_unicode_form() {
    use crate::support::fixtures::{PLANS, UNITS};
    // "Sở Y tế" in NFD: o, combining horn, combining hook above; e, circumflex, acute.
    let nfc_id = "SỞYT";
    let nfd_id = "SO\u{31b}\u{309}YT";
    let nfd_name = "So\u{31b}\u{309} Y te\u{302}\u{301}";
    assert_ne!(nfc_id, nfd_id);
    let p = local_project(0, "");
    p.write("config/disbmon.toml", &file_config());
    p.write(
        "jobs/don_vi.csv",
        &UNITS.replace("SYT,Sở Y tế", &format!("{nfc_id},{nfd_name}")),
    );
    p.write(
        "jobs/ke_hoach.csv",
        &PLANS.replace("SYT,", &format!("{nfd_id},")),
    );
    p.write(
        "jobs/giai_ngan.csv",
        &PAID.replace(",SYT,", &format!(",{nfc_id},")),
    );
    let run = once(&p, NOW);
    run.expect_code(0);
    let report = run.json();
    let unit = unit(&report, nfc_id);
    assert_eq!(unit["status"], "on_track", "{run}");
    assert_eq!(unit["unit_name"], "Sở Y tế", "{run}");

    // Twins that become one id are one unit listed twice.
    p.write(
        "jobs/don_vi.csv",
        &format!("{UNITS}{nfd_id},Sở Y tế (bản sao),x@sonla.example.gov.vn\n")
            .replace("SYT,Sở Y tế", &format!("{nfc_id},Sở Y tế")),
    );
    let twins = once(&p, NOW);
    twins.expect_stderr(&format!(
        "row 7: column `Mã ĐV`: value `{nfc_id}`: unit `{nfc_id}` is listed twice (first in row 3)"
    ));

    // An id that still differs shows its code points: here a look-alike, the Cyrillic С.
    p.write(
        "jobs/don_vi.csv",
        &UNITS.replace("SYT,Sở Y tế", &format!("{nfc_id},Sở Y tế")),
    );
    p.write("jobs/ke_hoach.csv", &PLANS.replace("SYT,", "\u{421}ỞYT,"));
    once(&p, NOW)
        .expect_code(4)
        .expect_stderr("(U+0421 U+1EDE U+0059 U+0054) is not in the units source");
}

/// The text of the digest the file transport wrote.
fn digest_text(p: &Project) -> String {
    let digest = p
        .eml_files("var/outbox")
        .into_iter()
        .map(|f| std::fs::read(f).unwrap())
        .find(|raw| String::from_utf8_lossy(raw).contains("lanhdao@stc.example.gov.vn"))
        .expect("a digest was written");
    let message = mail_parser::MessageParser::default()
        .parse(&digest)
        .unwrap();
    message.body_text(0).unwrap().into_owned()
}

#[test]
fn point_5_figures_no_ledger_has_are_named_with_their_rows() {
    use crate::support::fixtures::PLANS;
    // A plan cut below zero: a data issue with its row, no unit alerted.
    let p = local_project(0, "");
    p.write("config/disbmon.toml", &file_config());
    p.write(
        "jobs/ke_hoach.csv",
        &PLANS.replace("\"25.000\"", "\"-25.000\""),
    );
    once(&p, NOW).expect_code(4).expect_stderr(
        "plans: column `Kế hoạch vốn (triệu đồng)`: value `XMT`: the plan of unit `XMT` adds up to -25.000.000.000 đồng (rows 4)",
    );

    // Refunds larger than payments: the unit is still ranked; the report and the digest say so.
    let p = local_project(0, "");
    p.write("config/disbmon.toml", &file_config());
    p.write(
        "jobs/giai_ngan.csv",
        &format!("{PAID}03/07/2026,XMT,-20.000.000.000\n"),
    );
    let run = once(&p, NOW);
    run.expect_code(0);
    let report = run.json();
    let xmt = unit(&report, "XMT");
    assert_eq!(xmt["disbursed"], -4_000_000_000i64, "{run}");
    assert_eq!(xmt["rank"], 4, "{run}");
    let said = "the disbursements of unit `XMT` net to -4.000.000.000 đồng (rows 6, 8)";
    let notes = report["notes"].to_string();
    assert!(notes.contains(said), "{run}");
    let digest = digest_text(&p);
    assert!(digest.contains(said), "{digest}");
    assert!(digest.contains("Lưu ý về dữ liệu"), "{digest}");

    // 29 February in a plan year's window that has none: `check` refuses it; where the plan
    // year follows the date, it is the last day of February.
    let p = local_project(0, "");
    p.write("config/disbmon.toml", &file_config());
    let written = std::fs::read_to_string(p.path().join("jobs/weekly.toml")).unwrap();
    let job = |plan_year: &str| {
        written.replace("plan_year = 2026", plan_year).replace(
            "{ date = \"01-31\", pct = 100 },",
            "{ date = \"01-31\", pct = 99 },\n  { date = \"02-29\", pct = 100 },",
        )
    };
    p.write("jobs/weekly.toml", &job("plan_year = 2026"));
    p.run(&["check"]).expect_code(3).expect_stderr(
        "rule.milestones[5].date: 29 February 2027 does not exist (plan year 2026 puts this milestone in 2027)",
    );
    for fine in ["plan_year = 2027", "# plan year from the date"] {
        p.write("jobs/weekly.toml", &job(fine));
        p.run(&["check"]).expect_code(0).expect_stdout("all valid");
    }
}

/// 6,000 payment records, each with a key of its own (a note keyed by its number, as some
/// exports write them): converted, they made a table of records × keys, 34 MiB on disk. Run under
/// a limit on the size of any file the process writes (`ulimit -f`, 4 MiB): a conversion that
/// grows with the square of the records cannot finish; one that grows with the records does.
#[test]
fn point_6_json_records_with_keys_of_their_own_convert_in_linear_space() {
    let p = local_project(0, "");
    p.write("config/disbmon.toml", &file_config());
    let records: Vec<String> = (0..6000)
        .map(|i| {
            let unit = ["BQLGT", "SYT", "XMT", "SNN"][i % 4];
            format!(
                r#"{{"Ngày": "15/03/2026", "Mã ĐV": "{unit}", "Số tiền (đồng)": "1.000", "ghi_chu_{i}": "đợt {i}"}}"#
            )
        })
        .collect();
    p.write("jobs/giai_ngan.json", &format!("[{}]", records.join(",\n")));
    let job = std::fs::read_to_string(p.path().join("jobs/weekly.toml"))
        .unwrap()
        .replace(
            "location = \"giai_ngan.csv\"",
            "location = \"giai_ngan.json\"",
        );
    p.write("jobs/weekly.toml", &job);
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -f 4096 && exec '{}' once weekly --as-of 2026-10-31 --json",
            crate::support::bin().display()
        ))
        .current_dir(p.path())
        .env("DISBMON_NOW", NOW)
        .env("TMPDIR", p.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let paid = report["sources"][2].clone();
    assert_eq!(
        (paid["rows"].clone(), paid["used"].clone()),
        (6000.into(), 6000.into()),
        "{paid}"
    );
    // Every record counted: 1,500 payments of 1,000 đồng each per unit.
    let syt = unit(&report, "SYT");
    assert_eq!(syt["disbursed"], 1_500_000, "{report}");
}

/// A project whose payments come from a local HTTP server that answers after `delay`, with
/// `shutdown_grace` set.
async fn slow_project(delay: std::time::Duration, grace: &str) -> (Project, wiremock::MockServer) {
    let server = crate::support::http_server(None).await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_string(PAID)
                .set_delay(delay),
        )
        .mount(&server)
        .await;
    let p = local_project(0, "");
    p.write(
        "config/disbmon.toml",
        &format!("shutdown_grace = \"{grace}\"\n{}", file_config()),
    );
    let job = std::fs::read_to_string(p.path().join("jobs/weekly.toml"))
        .unwrap()
        .replace(
            "location = \"giai_ngan.csv\"",
            &format!("location = \"{}/giai_ngan.csv\"", server.uri()),
        );
    p.write("jobs/weekly.toml", &job);
    (p, server)
}

/// `once` started, and the moment its request for the payments arrived.
async fn started(p: &Project, server: &wiremock::MockServer) -> std::process::Child {
    let mut child = std::process::Command::new(crate::support::bin())
        .args(["once", "weekly", "--as-of", "2026-10-31"])
        .env("DISBMON_NOW", NOW)
        .current_dir(p.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if !server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
        {
            return child;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    panic!(
        "once never asked for the payments\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn signal(child: &std::process::Child, s: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), s).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn point_7_once_stops_on_sigterm_and_sigint_as_the_daemon_does() {
    use nix::sys::signal::Signal;
    use std::time::Duration;
    // Cut off at the end of the grace: recorded as interrupted, exit 8.
    let (p, server) = slow_project(Duration::from_secs(30), "1s").await;
    let child = started(&p, &server).await;
    signal(&child, Signal::SIGTERM);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(stderr.contains("SIGTERM: stopping"), "{stderr}");
    assert!(stderr.contains("recorded as interrupted"), "{stderr}");
    let runs = store(&p).runs("weekly", 10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].outcome,
        disbmon::store::runs::RunOutcome::Interrupted,
        "{runs:?}"
    );
    assert_eq!(
        runs[0].error.as_deref(),
        Some("stopped by a signal before it finished")
    );

    // A second SIGINT stops it at once, however long the grace.
    let (p, server) = slow_project(Duration::from_secs(30), "10m").await;
    let child = started(&p, &server).await;
    signal(&child, Signal::SIGINT);
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&child, Signal::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A run that finishes within the grace ends as it would have: delivered, exit 0.
    let (p, server) = slow_project(Duration::from_secs(2), "60s").await;
    let child = started(&p, &server).await;
    signal(&child, Signal::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = store(&p).runs("weekly", 10).unwrap();
    assert_eq!(
        runs[0].outcome,
        disbmon::store::runs::RunOutcome::Ok,
        "{runs:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrote 3 messages"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The admin listener: a token replaced by SIGHUP takes effect at once; a client that sends its
/// headers too slowly, or nothing at all, is let go.
#[test]
fn point_8_the_admin_token_is_rotated_by_sighup_and_slow_clients_are_let_go() {
    use crate::support::{free_port, http_send};
    use std::io::{Read, Write};
    let port = free_port();
    let p = local_project(0, "");
    p.write("config/admin_token", "old-secret\n");
    p.write(
        "config/disbmon.toml",
        &admin_config(&format!(
            "listen = \"127.0.0.1:{port}\"\ntoken_file = \"admin_token\""
        )),
    );
    let mut d = p.spawn_daemon(&[("DISBMON_LOG", "info")]);
    d.wait_log("disbmon started", 20);
    let status = |token: &str| {
        http_send(
            port,
            "GET",
            "/status",
            &[("Authorization", &format!("Bearer {token}"))],
            b"",
        )
        .0
    };
    assert_eq!(status("old-secret"), 200);
    p.write("config/admin_token", "new-secret\n");
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.wait_log("the admin token is replaced", 10);
    assert_eq!(status("old-secret"), 401, "{}", d.log());
    assert_eq!(status("new-secret"), 200);

    // Half a request line and then nothing; and a connection that never says a word.
    let started = std::time::Instant::now();
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut mute = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    for s in [&mut slow, &mut mute] {
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut buf = Vec::new();
        // Closed by the server (a read of 0 bytes, or a reset), not by our 30 s.
        let _ = s.read_to_end(&mut buf);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(25),
            "the connection was held for {:?}",
            started.elapsed()
        );
    }
    // The listener still answers.
    assert_eq!(http_send(port, "GET", "/healthz", &[], b"").0, 200);
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(30), 0, "{}", d.log());
}
