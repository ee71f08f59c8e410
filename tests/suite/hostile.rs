//! Hostile input and mail safety, black-box: the real binary on files and servers an attacker (or
//! a careless export) could produce. Each case names the point of the hostile-input issue it
//! checks. Nothing here may make disbmon panic (exit 101), abort, wrap a number, leak a secret,
//! or send mail where it may not go.

use crate::support::fixtures::{PAID, PLANS, UNITS};
use crate::support::{free_port, Project, Run, Smtp};
use rust_xlsxwriter::{Format, Workbook};
use std::os::unix::fs::PermissionsExt;

fn project(smtp: u16, extra: &str) -> Project {
    crate::support::local_project(smtp, extra)
}

fn once(p: &Project) -> Run {
    p.run_env(
        &["once", "weekly", "--as-of", "2026-10-31"],
        &[("DISBMON_NOW", "2026-10-31T08:00:00+07:00")],
    )
}

fn once_json(p: &Project) -> Run {
    p.run_env(
        &["once", "weekly", "--as-of", "2026-10-31", "--json"],
        &[("DISBMON_NOW", "2026-10-31T08:00:00+07:00")],
    )
}

/// Replaces the first `from` by `to` in a file of the project (a key added to a config or job).
#[track_caller]
fn edit(p: &Project, rel: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(p.path().join(rel)).unwrap();
    assert!(text.contains(from), "{rel} has no {from:?}");
    p.write(rel, &text.replacen(from, to, 1));
}

/// The units of the fixtures, SYT with `n` addresses `a0@…`, `a1@…`, … in its email cell.
fn give_syt_addresses(p: &Project, n: usize) {
    let many: Vec<String> = (0..n)
        .map(|i| format!("a{i}@sonla.example.gov.vn"))
        .collect();
    p.write(
        "jobs/don_vi.csv",
        &UNITS.replace("soyte@sonla.example.gov.vn", &many.join("; ")),
    );
}

/// A run that computes and reports, storing and sending nothing.
fn dry(p: &Project) -> Run {
    p.run_env(
        &[
            "once",
            "weekly",
            "--as-of",
            "2026-10-31",
            "--dry-run",
            "--json",
        ],
        &[("DISBMON_NOW", "2026-10-31T08:00:00+07:00")],
    )
}

/// No panic, no abort: a clean exit with one of disbmon's own codes.
#[track_caller]
fn no_crash(run: &Run) {
    let code = run.code();
    assert!(
        (0..=7).contains(&code) && !run.stderr().contains("panicked"),
        "disbmon crashed\n{run}"
    );
}

fn issues(run: &Run) -> Vec<String> {
    run.json()["data_issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.to_string())
        .collect()
}

// 1, 2 — a unit name with a line break: no crash, the unit is still told, nothing injected.
#[test]
fn a_name_with_a_line_break_is_cleaned_and_the_unit_still_told() {
    let smtp = Smtp::start();
    let p = project(smtp.port, "");
    let units = UNITS.replace(
        "BQLGT,Ban QLDA Giao thông <tỉnh>,",
        "BQLGT,\"Evil\r\nBcc: x@attacker.example\u{1b}]0;owned\u{7}\",",
    );
    p.write("jobs/don_vi.csv", &units);
    let run = once_json(&p);
    no_crash(&run);
    run.expect_code(0);
    let notes = run.json()["notes"].to_string();
    assert!(notes.contains("control characters"), "{run}");
    let alert = smtp.one_to("bqlgt@sonla.example.gov.vn");
    assert!(
        alert.subject().contains("Evil Bcc: x@attacker.example"),
        "{}",
        alert.subject()
    );
    assert!(alert.header("Bcc").is_empty());
    for r in smtp.received() {
        assert!(!r.rcpt_to().iter().any(|t| t.contains("attacker")));
        assert!(!r.parsed().raw_message().contains(&0x1b));
    }
    // The terminal never gets the raw escape.
    let table = once(&p);
    assert!(
        !table.stdout().contains('\u{1b}') && !table.stderr().contains('\u{1b}'),
        "{table}"
    );
}

// 1 — a panic inside a run is a failed run (in-process: a clock that panics mid-run).
#[tokio::test(flavor = "multi_thread")]
async fn a_panic_inside_a_run_fails_that_run_and_is_recorded() {
    struct Exploding(std::sync::atomic::AtomicU32);
    impl disbmon::base::clock::Clock for Exploding {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            // The assessment reads the clock once; the decide stage's read panics.
            if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 1 {
                panic!("a bug in a later stage");
            }
            chrono::DateTime::parse_from_rfc3339("2026-10-31T01:00:00Z")
                .unwrap()
                .to_utc()
        }
    }
    let p = project(free_port(), "");
    let setup = disbmon::app::setup::config(Some(&p.path().join("config/disbmon.toml")), &|_| None)
        .unwrap();
    let config = &setup.config;
    let job = disbmon::config::job_load::load(&p.path().join("jobs/weekly.toml"), config.timezone)
        .unwrap();
    let store = disbmon::store::db::Store::open(&config.state_dir).unwrap();
    let clock = Exploding(Default::default());
    let scheduled = disbmon::base::clock::Clock::now(&clock);
    clock.0.store(0, std::sync::atomic::Ordering::SeqCst);
    let run = disbmon::app::pipeline::Run {
        job: &job,
        config,
        templates: &setup.templates,
        store: &store,
        clock: &clock,
        scheduled,
        as_of: chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
        dry_run: false,
    };
    let report = disbmon::app::pipeline::run_job(&run).await;
    assert_eq!(report.outcome, disbmon::app::report::Outcome::Failed);
    assert!(report.error.unwrap().contains("a bug in a later stage"));
}

/// A workbook of the plans with one extra cell written by `extra`.
fn plans_workbook(path: &std::path::Path, extra: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) {
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    let rows: Vec<Vec<&str>> = PLANS.lines().map(|l| l.split(',').collect()).collect();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            ws.write_string(r as u32, c as u16, cell.trim_matches('"'))
                .unwrap();
        }
    }
    extra(ws);
    book.save(path).unwrap();
}

fn excel_project(extra_key: &str) -> Project {
    let p = project(free_port(), "");
    edit(
        &p,
        "jobs/weekly.toml",
        "location = \"ke_hoach.csv\"",
        &format!("location = \"ke_hoach.xlsx\"\n{extra_key}"),
    );
    p
}

// 4 — one cell at XFD1048576: read sparsely, no dense grid, no abort.
#[test]
fn a_far_away_cell_does_not_make_a_dense_sheet() {
    let p = excel_project("");
    plans_workbook(&p.path().join("jobs/ke_hoach.xlsx"), |ws| {
        ws.write_string(1_048_575, 16_383, "x").unwrap();
    });
    let run = dry(&p);
    no_crash(&run);
    // The figures are those of the CSV: the far cell is neither a unit nor a problem.
    let bqlgt = run.json()["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit_id"] == "BQLGT")
        .cloned()
        .unwrap_or_else(|| panic!("no BQLGT\n{run}"));
    assert_eq!(bqlgt["plan"], 1_200_000_000_000i64, "{run}");
}

// 4 — more used cells than max_cells: refused before they are all held.
#[test]
fn a_sheet_over_max_cells_is_a_data_issue() {
    let p = excel_project("max_cells = 10");
    plans_workbook(&p.path().join("jobs/ke_hoach.xlsx"), |_| {});
    let run = dry(&p);
    run.expect_code(4);
    assert!(
        issues(&run).iter().any(|i| i.contains("max_cells")),
        "{run}"
    );
}

// 4 — a date column holding 1e12, a date format with time fields, -1e300 in a date-styled cell.
#[test]
fn out_of_range_dates_and_numbers_in_excel_are_data_issues() {
    let p = project(free_port(), "");
    edit(
        &p,
        "jobs/weekly.toml",
        "location = \"giai_ngan.csv\"",
        "location = \"giai_ngan.xlsx\"",
    );
    let write = |date_cell: f64, styled_amount: f64| {
        let mut book = Workbook::new();
        let ws = book.add_worksheet();
        let date = Format::new().set_num_format("dd/mm/yyyy");
        for (c, h) in ["Ngày", "Mã ĐV", "Số tiền (đồng)"].iter().enumerate() {
            ws.write_string(0, c as u16, *h).unwrap();
        }
        ws.write_number(1, 0, date_cell).unwrap();
        ws.write_string(1, 1, "BQLGT").unwrap();
        ws.write_string(1, 2, "1.000").unwrap();
        ws.write_number_with_format(2, 0, 46_000.0, &date).unwrap();
        ws.write_string(2, 1, "SYT").unwrap();
        ws.write_number_with_format(2, 2, styled_amount, &date)
            .unwrap();
        book.save(p.path().join("jobs/giai_ngan.xlsx")).unwrap();
    };
    write(1e12, -1e300);
    let run = dry(&p);
    no_crash(&run);
    run.expect_code(4);
    let all = issues(&run).join("\n");
    assert!(all.contains("row 2") || all.contains("\"row\":2"), "{run}");
    assert!(all.contains("\"row\":3"), "{run}");
    // A format with time fields meets a date serial: written with its time, no panic.
    edit(
        &p,
        "jobs/weekly.toml",
        "date_format = \"%d/%m/%Y\"",
        "date_format = \"%d/%m/%Y %H:%M\"",
    );
    write(46_000.5, 1000.0);
    no_crash(&dry(&p));
}

// 3 — amounts near i64::MAX, and sums beyond 10^18 đồng, never wrap.
#[test]
fn huge_amounts_and_sums_are_data_issues_never_wrapped() {
    let p = project(free_port(), "");
    p.write(
        "jobs/ke_hoach.csv",
        &(PLANS.to_string() + "XMT,2026,\"9.223.372.036.854\"\n"),
    );
    let run = dry(&p);
    run.expect_code(4);
    assert!(issues(&run).join("\n").contains("10^18"), "{run}");
    // Eleven rows of 9 × 10^17 đồng: each is an amount, their sum (9.9 × 10^18) is not.
    let mut plans = String::from("Mã ĐV,Năm,Kế hoạch vốn (triệu đồng)\n");
    for _ in 0..11 {
        plans.push_str("SYT,2026,\"900.000.000.000\"\n");
    }
    plans.push_str("XMT,2026,\"25.000\"\n");
    p.write("jobs/ke_hoach.csv", &plans);
    let run = dry(&p);
    run.expect_code(4);
    let all = issues(&run).join("\n");
    assert!(all.contains("SYT") && all.contains("rows 2, 3, 4"), "{run}");
}

#[test]
fn a_roll_up_beyond_the_largest_amount_is_a_data_issue() {
    let p = project(free_port(), "");
    edit(
        &p,
        "jobs/weekly.toml",
        "email = \"Email\" }",
        "email = \"Email\", parent_id = \"Cấp trên\" }",
    );
    p.write(
        "jobs/don_vi.csv",
        "Mã ĐV,Tên đơn vị,Email,Cấp trên\nTINH,Tỉnh,t@sonla.example.gov.vn,\nA,A,a@sonla.example.gov.vn,TINH\nB,B,b@sonla.example.gov.vn,TINH\n",
    );
    p.write(
        "jobs/ke_hoach.csv",
        "Mã ĐV,Năm,Kế hoạch vốn (triệu đồng)\nA,2026,\"600.000.000.000\"\nB,2026,\"600.000.000.000\"\n",
    )
    .write("jobs/giai_ngan.csv", "Ngày,Mã ĐV,Số tiền (đồng)\n01/06/2026,A,1\n");
    let run = dry(&p);
    run.expect_code(4);
    assert!(
        issues(&run).join("\n").contains("roll-up of unit `TINH`"),
        "{run}"
    );
}

// 6 — more addresses than a unit may have: a data issue, nothing sent.
#[test]
fn a_unit_with_three_hundred_addresses_is_refused() {
    let smtp = Smtp::start();
    let p = project(smtp.port, "");
    give_syt_addresses(&p, 300);
    let run = once_json(&p);
    run.expect_code(4);
    assert!(
        issues(&run).join("\n").contains("max_addresses_per_unit"),
        "{run}"
    );
    assert!(smtp
        .received()
        .iter()
        .all(|r| !r.rcpt_to().iter().any(|t| t.starts_with("a1"))));
    assert!(smtp.received().iter().all(|r| !r
        .rcpt_to()
        .contains(&"bqlgt@sonla.example.gov.vn".to_string())));
}

// 6 — an address outside allowed_domains is never sent to, and is a data issue.
#[test]
fn an_address_outside_the_allowed_domains_is_never_sent_to() {
    let smtp = Smtp::start();
    let p = project(smtp.port, "");
    edit(
        &p,
        "config/disbmon.toml",
        "[mail]\n",
        "[mail]\nallowed_domains = [\"sonla.example.gov.vn\", \"stc.example.gov.vn\"]\n",
    );
    p.write(
        "jobs/don_vi.csv",
        &UNITS.replace(
            "soyte@sonla.example.gov.vn",
            "soyte@sonla.example.gov.vn; leak@attacker.example",
        ),
    );
    let run = once_json(&p);
    run.expect_code(4);
    assert!(
        issues(&run).join("\n").contains("leak@attacker.example"),
        "{run}"
    );
    assert!(smtp
        .received()
        .iter()
        .all(|r| !r.rcpt_to().iter().any(|t| t.contains("attacker"))));
}

// 6 — the mass-mailing guard holds a run's mail until an operator releases it.
#[test]
fn a_run_over_the_message_limit_sends_nothing_until_released() {
    let smtp = Smtp::start();
    let p = project(smtp.port, "");
    let config = std::fs::read_to_string(p.path().join("config/disbmon.toml"))
        .unwrap()
        .replace("[mail]\n", "[mail]\nmax_messages_per_run = 2\n")
        .replace(
            "jobs_dir",
            "operators = [\"vanhanh@stc.example.gov.vn\"]\njobs_dir",
        );
    p.write("config/disbmon.toml", &config);
    let run = once_json(&p);
    run.expect_code(7);
    let held = &run.json()["held"];
    let release = held["release"].as_str().unwrap().to_string();
    // Only the operators heard: no unit, no digest.
    let received = smtp.received();
    assert_eq!(received.len(), 1, "{run}");
    assert_eq!(received[0].rcpt_to(), vec!["vanhanh@stc.example.gov.vn"]);
    assert!(received[0].text().contains(&release));
    p.run(&["outbox"]).expect_code(0).expect_stdout("HELD");
    p.run(&["status"]).expect_code(0).expect_stdout("held");
    let args: Vec<&str> = release.split_whitespace().skip(1).collect();
    p.run(&args).expect_code(0).expect_stdout("released");
    p.run(&["outbox", "send"]).expect_code(0);
    assert!(smtp.received().iter().any(|r| r
        .rcpt_to()
        .contains(&"bqlgt@sonla.example.gov.vn".to_string())));
}

// 6 — one stored copy per message, however many recipients.
#[test]
fn a_message_is_stored_once_with_its_recipients_beside_it() {
    let smtp = Smtp::start();
    let p = project(smtp.port, "");
    give_syt_addresses(&p, 40);
    edit(
        &p,
        "jobs/weekly.toml",
        "[alerts]\n",
        "[alerts]\nmax_addresses_per_unit = 50\n",
    );
    // SYT is on track; make it behind so that its 40 addresses are written to.
    p.write(
        "jobs/giai_ngan.csv",
        &PAID.replace("01/06/2026,SYT,60.000.000.000", "01/06/2026,SYT,1.000"),
    );
    once(&p).expect_code(0);
    let c = rusqlite::Connection::open(p.path().join("var/disbmon.sqlite3")).unwrap();
    let (bodies, rows): (i64, i64) = c
        .query_row(
            "SELECT (SELECT COUNT(*) FROM message_bodies), (SELECT COUNT(*) FROM outbox)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(rows >= 40 && bodies < 10, "{bodies} bodies for {rows} rows");
}

// 6 — rehearsal: every message to one mailbox, naming its real recipients.
#[test]
fn rehearsal_sends_everything_to_one_mailbox_naming_the_real_recipients() {
    let smtp = Smtp::start();
    let p = project(smtp.port, "");
    edit(
        &p,
        "config/disbmon.toml",
        "[mail]\n",
        "[mail]\nredirect_to = \"thu-nghiem@stc.example.gov.vn\"\n",
    );
    once(&p).expect_code(0);
    let received = smtp.received();
    assert!(!received.is_empty());
    for r in &received {
        assert_eq!(r.rcpt_to(), vec!["thu-nghiem@stc.example.gov.vn"]);
    }
    let alert = received
        .iter()
        .find(|r| {
            r.header("X-Disbmon-Rehearsal-For")
                .contains("bqlgt@sonla.example.gov.vn")
        })
        .expect("the alert to BQLGT, rehearsed");
    assert!(alert.text().starts_with("REHEARSAL"));
    // In the HTML part, the banner opens the body (after its tag, whatever its attributes).
    let html = alert.html();
    let body = html.find("<body").expect("a body");
    let banner = html
        .find("<b>REHEARSAL</b>")
        .expect("the banner in the HTML");
    assert!(
        html.starts_with("<!DOCTYPE html>") && banner > body,
        "{html}"
    );
}

// 5 — issue lists stay bounded.
#[test]
fn twenty_thousand_bad_addresses_list_two_hundred_and_count_the_rest() {
    let p = project(free_port(), "");
    let mut units = String::from("Mã ĐV,Tên đơn vị,Email\n");
    for i in 0..20_000 {
        units.push_str(&format!("U{i},Đơn vị {i},not-an-address-{i}\n"));
    }
    p.write("jobs/don_vi.csv", &units);
    let run = dry(&p);
    run.expect_code(4);
    let list: Vec<String> = issues(&run)
        .into_iter()
        .filter(|i| i.contains("\"source\":\"units\""))
        .collect();
    // 200 listed, then one line counting the rest.
    assert_eq!(list.len(), 201, "{} issues listed", list.len());
    assert!(list[200].contains("19800 more problems"), "{}", list[200]);
}

#[test]
fn two_hundred_thousand_bad_json_records_list_two_hundred() {
    let p = project(free_port(), "");
    edit(
        &p,
        "jobs/weekly.toml",
        "location = \"giai_ngan.csv\"",
        "location = \"giai_ngan.json\"",
    );
    let body = format!("[{}1]", "1,".repeat(200_000));
    p.write("jobs/giai_ngan.json", &body);
    let run = p.run(&["once", "weekly", "--as-of", "2026-10-31", "--dry-run"]);
    run.expect_code(4);
    assert!(
        run.stderr().lines().count() < 300,
        "{} lines",
        run.stderr().lines().count()
    );
}

#[test]
fn a_missing_column_does_not_echo_a_huge_header() {
    let p = project(free_port(), "");
    let header: Vec<String> = (0..200_000).map(|i| format!("c{i}")).collect();
    p.write("jobs/giai_ngan.csv", &format!("{}\n", header.join(",")));
    let run = p.run(&["once", "weekly", "--as-of", "2026-10-31", "--dry-run"]);
    run.expect_code(4).expect_stderr("more");
    assert!(
        run.stderr().len() < 20_000,
        "{} bytes of stderr",
        run.stderr().len()
    );
}

// 5 — JSON records with different keys: every key becomes a column.
#[test]
fn json_records_with_many_different_keys_are_read() {
    let p = project(free_port(), "");
    edit(
        &p,
        "jobs/weekly.toml",
        "location = \"giai_ngan.csv\"",
        "location = \"giai_ngan.json\"",
    );
    let records: Vec<String> = (0..5_000)
        .map(|i| {
            format!(
                "{{\"Ngày\":\"01/06/2026\",\"Mã ĐV\":\"SYT\",\"Số tiền (đồng)\":\"1.000\",\"k{i}\":1}}"
            )
        })
        .collect();
    p.write("jobs/giai_ngan.json", &format!("[{}]", records.join(",")));
    let run = dry(&p);
    no_crash(&run);
    let syt = run.json()["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit_id"] == "SYT")
        .unwrap()
        .clone();
    assert_eq!(syt["disbursed"], 5_000_000);
}

// 7 — a source with auth never follows a redirect to another origin.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_do_not_follow_a_redirect_to_another_origin() {
    let elsewhere = crate::support::http_server(None).await;
    crate::support::serve(&elsewhere, "/giai_ngan.csv", PAID).await;
    let origin = crate::support::http_server(None).await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(302).insert_header(
            "location",
            format!(
                "http://localhost:{}/giai_ngan.csv",
                elsewhere.address().port()
            ),
        ))
        .mount(&origin)
        .await;
    let p = project(free_port(), "");
    edit(&p, "jobs/weekly.toml", "location = \"giai_ngan.csv\"", &format!(
                "location = \"{}/giai_ngan.csv?token=s3cr3t\"\nauth = {{ header = \"X-Api-Key\", value_env = \"KEY\" }}",
                origin.uri()
            ));
    let run = p.run_env(
        &[
            "once",
            "weekly",
            "--as-of",
            "2026-10-31",
            "--dry-run",
            "--json",
        ],
        &[("KEY", "the-api-key")],
    );
    run.expect_code(4);
    assert!(issues(&run).join("\n").contains("another origin"), "{run}");
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
    // The token in the query string is shown nowhere.
    assert!(
        !run.stdout().contains("s3cr3t") && !run.stderr().contains("s3cr3t"),
        "{run}"
    );
}

#[test]
fn auth_over_plain_http_to_another_machine_is_refused_by_check() {
    let p = project(free_port(), "");
    edit(&p, "jobs/weekly.toml", "location = \"giai_ngan.csv\"", "location = \"http://data.example.gov.vn/giai_ngan.csv\"\nauth = { bearer_env = \"TOKEN\" }");
    p.run(&["check"])
        .expect_code(3)
        .expect_stderr("unencrypted");
}

// 8 — an admin listener beyond loopback needs a token; with one, requests must carry it.
#[test]
fn the_admin_listener_beyond_loopback_requires_a_token() {
    let p = project(free_port(), "");
    let port = free_port();
    edit(
        &p,
        "config/disbmon.toml",
        "listen = \"off\"",
        &format!("listen = \"0.0.0.0:{port}\""),
    );
    p.run(&["check"])
        .expect_code(3)
        .expect_stderr("admin.token_env");
    let mut refused = p.spawn_daemon(&[]);
    assert_eq!(refused.wait_exit(30), 3, "{}", refused.log());
    edit(
        &p,
        "config/disbmon.toml",
        "[admin]\n",
        "[admin]\ntoken_env = \"ADMIN_TOKEN\"\n",
    );
    let daemon = p.spawn_daemon(&[("ADMIN_TOKEN", "t0ken")]);
    daemon.wait_log("admin listener", 30);
    let get = |auth: &str| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "GET /status HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        raw
    };
    assert!(get("").starts_with("HTTP/1.1 401"));
    assert!(get("Authorization: Bearer wrong\r\n").starts_with("HTTP/1.1 401"));
    assert!(get("Authorization: Bearer t0ken\r\n").starts_with("HTTP/1.1 200"));
}

// 9 — the state folder, the store and the .eml files are their owner's only.
#[test]
fn state_and_mail_files_are_private() {
    let p = Project::new();
    p.copy_from_repo("jobs")
        .copy_from_repo("config/disbmon.toml");
    p.run(&["once", "sample", "--as-of", "2026-10-31"])
        .expect_code(0);
    let mode = |rel: &str| {
        std::fs::metadata(p.path().join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("var"), 0o700);
    assert_eq!(mode("var/disbmon.sqlite3"), 0o600);
    let eml = p.eml_files("var/outbox");
    assert!(!eml.is_empty());
    for f in eml {
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

// 6 — the job's own recipients outside allowed_domains: `check` says so before anything is sent.
#[test]
fn check_names_job_recipients_outside_the_allowed_domains() {
    let p = project(free_port(), "");
    edit(
        &p,
        "config/disbmon.toml",
        "[mail]\n",
        "[mail]\nallowed_domains = [\"sonla.example.gov.vn\"]\n",
    );
    p.run(&["check"])
        .expect_code(3)
        .expect_stderr("alerts.digest_to[0]")
        .expect_stderr("outside mail.allowed_domains");
}
