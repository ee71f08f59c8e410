//! Black-box tests: the real `disbmon` binary in a temporary folder with its own config and jobs,
//! sources served by a local HTTP server, and email delivered to a real SMTP server (aiosmtpd) on
//! 127.0.0.1 and read back.

use crate::support::{fail, http_server, serve, Project, Smtp};

use crate::support::fixtures::{CONFIG, JOB, PAID, PLANS, UNITS};

/// A project set up with the issue's config (SMTP on `smtp_port`) and job, the HTTP sources on
/// `http_port`.
fn project(smtp_port: u16, http_port: u16) -> Project {
    let p = Project::new();
    p.write(
        "config/disbmon.toml",
        &CONFIG.replace("port = 2525", &format!("port = {smtp_port}")),
    )
    .write(
        "jobs/weekly.toml",
        &JOB.replace("127.0.0.1:8000", &format!("127.0.0.1:{http_port}")),
    )
    .write("jobs/ke_hoach.csv", PLANS);
    p
}

async fn sources(units: &str, paid: &str) -> wiremock::MockServer {
    let server = http_server(None).await;
    serve(&server, "/don_vi.csv", units).await;
    serve(&server, "/giai_ngan.csv", paid).await;
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn the_issue_example_runs_as_written_and_delivers_through_smtp() {
    // The job as written, but for the port of its sources (a free one, not 8000, so that the
    // test never depends on what else the machine runs).
    let server = http_server(None).await;
    serve(&server, "/don_vi.csv", UNITS).await;
    serve(&server, "/giai_ngan.csv", PAID).await;
    let smtp = Smtp::start();
    let p = project(smtp.port, server.address().port());
    let run = p.run(&["once", "weekly", "--as-of", "2026-10-31", "--json"]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["as_of"], "2026-10-31");
    assert_eq!(report["plan_year"], 2026);
    assert_eq!(report["outcome"], "ok");
    assert_eq!(
        format!("{:.2}", report["expected_pct"].as_f64().unwrap()),
        "71.79"
    );
    // (438 + 60 + 16 + 100) / (1200 + 80.0005 + 25 + 300)
    let avg = report["average_pct"].as_f64().unwrap();
    assert!((avg - 100.0 * 614.0 / 1605.0005).abs() < 1e-9, "{avg}");
    let units = report["units"].as_array().unwrap();
    let ids: Vec<&str> = units
        .iter()
        .map(|u| u["unit_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["SYT", "XMT", "BQLGT", "SNN", "STC"]);
    let bqlgt = &units[2];
    assert_eq!(bqlgt["plan"], 1_200_000_000_000i64);
    assert_eq!(bqlgt["disbursed"], 438_000_000_000i64);
    assert_eq!(bqlgt["rank"], 3);
    assert_eq!(bqlgt["status"], "critical");
    assert_eq!(bqlgt["below_average"], true);
    assert_eq!(bqlgt["shortfall"], 423_521_739_131i64);
    assert_eq!(units[0]["plan"], 80_000_500_000i64);
    assert_eq!(units[1]["status"], "behind");
    assert_eq!(units[4]["status"], "no_plan");
    assert!(units[4]["rank"].is_null());

    // Exactly three messages: two alerts and the digest; SNN has no address.
    assert_eq!(smtp.logical(), 3, "{run}");
    let alerts = report["alerts"].as_array().unwrap();
    let snn = alerts.iter().find(|a| a["unit_id"] == "SNN").unwrap();
    assert_eq!(snn["delivered"], false);
    assert!(snn["error"].as_str().unwrap().contains("no email address"));
    assert_eq!(report["digest"]["delivered"], true);

    let m = smtp.one_to("bqlgt@sonla.example.gov.vn");
    assert_eq!(
        smtp.recipients_of(&m.message_id()),
        [
            "bqlgt@sonla.example.gov.vn",
            "phongdautu@stc.example.gov.vn",
            "vanthu.bqlgt@sonla.example.gov.vn"
        ]
    );
    assert_eq!(
        m.subject(),
        "[Giải ngân 2026] Ban QLDA Giao thông <tỉnh>: đạt 36,5%, chậm nghiêm trọng so với mức cần đạt 71,8% (đến 31/10/2026)"
    );
    let parsed = m.parsed();
    let from = parsed.from().unwrap().first().unwrap();
    assert_eq!(
        (from.name(), from.address()),
        (
            Some("Giám sát giải ngân"),
            Some("giamsat@stc.example.gov.vn")
        )
    );
    let to = parsed.to().unwrap().first().unwrap();
    assert_eq!(to.name(), Some("Ban QLDA Giao thông <tỉnh>"));
    assert_eq!(
        parsed.cc().unwrap().first().unwrap().address(),
        Some("phongdautu@stc.example.gov.vn")
    );
    assert_eq!(
        m.mime_types(),
        [
            "multipart/alternative",
            "text/plain",
            "multipart/related",
            "text/html",
            "image/png"
        ]
    );
    // The unit's curve, inline: the HTML shows it by its Content-ID, with alt text.
    let pictures = m.inline_pngs();
    assert_eq!(pictures.len(), 1);
    let (cid, png) = &pictures[0];
    assert!(
        m.html().contains(&format!("src=\"cid:{cid}\"")),
        "{}",
        m.html()
    );
    assert!(
        m.html().contains("alt=\"Biểu đồ: tỷ lệ giải ngân lũy kế"),
        "{}",
        m.html()
    );
    let (width, height, inked) = crate::support::decode_png(png);
    assert!(
        width >= 600 && height >= 300 && inked > 0.02,
        "{width}×{height}, {inked}"
    );
    let text = m.text();
    for want in [
        "1.200,000 tỷ đồng",
        "438,000 tỷ đồng",
        "36,5%",
        "71,8%",
        "−35,3 điểm phần trăm",
        "423,522 tỷ đồng",
        "3/4 đơn vị",
        "38,3% (đơn vị thấp hơn bình quân)",
        "31/10/2026",
    ] {
        assert!(text.contains(want), "alert text lacks {want:?}:\n{text}");
    }
    let html = m.html();
    assert!(html.contains("Ban QLDA Giao thông &lt;tỉnh&gt;"), "{html}");
    assert!(!html.contains("<tỉnh>"), "{html}");

    let m = smtp.one_to("xmt@sonla.example.gov.vn");
    assert_eq!(
        m.subject(),
        "[Giải ngân 2026] UBND xã Mường Tè & Pa Ủ: đạt 64,0%, chưa đạt mức cần đạt 71,8% (đến 31/10/2026)"
    );
    assert!(m.html().contains("Mường Tè &amp; Pa Ủ"));

    let d = smtp.one_to("lanhdao@stc.example.gov.vn");
    assert_eq!(d.rcpt_to(), ["lanhdao@stc.example.gov.vn"]);
    assert_eq!(
        d.subject(),
        "[Giải ngân 2026] Tổng hợp đến ngày 31/10/2026: 3/4 đơn vị chậm tiến độ, bình quân 38,3%"
    );
    let text = d.text();
    for want in [
        "STT | Đơn vị",
        "Kế hoạch (tỷ đồng) | Giải ngân (tỷ đồng) | Tỷ lệ |   Mốc | Chênh lệch | Trạng thái",
        "Có 2/4 đơn vị đạt tỷ lệ bằng hoặc cao hơn mức bình quân 38,3%",
        "Chậm tiến độ: 1 đơn vị; chậm nghiêm trọng: 2 đơn vị.",
        "Sở Nông nghiệp và Môi trường (SNN): 33,3%, Chậm nghiêm trọng",
        "Chưa có kế hoạch vốn",
    ] {
        assert!(text.contains(want), "digest lacks {want:?}:\n{text}");
    }
    assert_eq!(
        d.mime_types(),
        [
            "multipart/mixed",
            "multipart/alternative",
            "text/plain",
            "multipart/related",
            "text/html",
            "image/png",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        ]
    );
    // The ranking chart, inline, with the units as bars.
    let (cid, png) = &d.inline_pngs()[0];
    assert!(d.html().contains(&format!("src=\"cid:{cid}\"")));
    let (width, height, inked) = crate::support::decode_png(png);
    assert!(
        width >= 600 && height >= 150 && inked > 0.02,
        "{width}×{height}, {inked}"
    );
    assert!(d.html().contains("<table"), "{}", d.html());
    // The official table rides along, and opens as a workbook with every unit in it.
    use mail_parser::MimeHeaders;
    let parsed = d.parsed();
    let sheet = parsed
        .attachments()
        .find(|a| a.attachment_name().is_some())
        .expect("the workbook attachment");
    assert_eq!(
        sheet.attachment_name(),
        Some("giai-ngan-2026-den-31-10-2026.xlsx")
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bang.xlsx");
    std::fs::write(&file, sheet.contents()).unwrap();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&file).unwrap();
    use calamine::Reader;
    let table = book.worksheet_range("Tổng hợp").unwrap();
    let names: Vec<String> = table.rows().skip(4).map(|r| r[1].to_string()).collect();
    assert!(
        names.iter().any(|n| n == "UBND xã Mường Tè & Pa Ủ"),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bundled_sample_writes_eml_files_with_the_embedded_file_transport() {
    // README command 1, in a copy of the repository's config/ and jobs/.
    let p = Project::new();
    p.copy_from_repo("config").copy_from_repo("jobs");
    let run = p.run(&["once", "sample", "--as-of", "2026-10-31"]);
    run.expect_code(0)
        .expect_stdout("Hạng  Mã ĐV")
        .expect_stdout("Chậm nghiêm trọng *")
        .expect_stdout("* dưới tỷ lệ bình quân (58,85 %)")
        .expect_stdout("Outcome: ok")
        .expect_stderr("as .eml files into");
    let files = p.eml_files("var/outbox");
    let alerts = run
        .stdout()
        .lines()
        .filter(|l| l.starts_with("  ") && l.ends_with(": delivered"))
        .count();
    assert!(
        alerts >= 10,
        "a realistic sample has many units behind\n{run}"
    );
    // One file per message and recipient; one logical message per alert, plus the digest.
    let ids: std::collections::BTreeSet<String> = files
        .iter()
        .map(|f| {
            crate::support::Received {
                raw: std::fs::read(f).unwrap(),
            }
            .message_id()
        })
        .collect();
    assert_eq!(
        ids.len(),
        alerts + 1,
        "one message per alert plus the digest\n{run}"
    );
    // Units in the sample: about 40 project owners.
    let ranked = run
        .stdout()
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert!((35..=45).contains(&ranked), "{run}");
    // An alert (the digest, which carries the workbook, is multipart/mixed): which file comes
    // first depends on the Message-IDs, made from the run's instant.
    let m = files
        .iter()
        .map(|f| crate::support::Received {
            raw: std::fs::read(f).unwrap(),
        })
        .find(|m| m.mime_types().first().map(String::as_str) == Some("multipart/alternative"))
        .expect("an alert among the files");
    assert_eq!(
        &m.mime_types()[..3],
        ["multipart/alternative", "text/plain", "multipart/related"]
    );
    // "[Giải ngân 2026] …", or "[Giải ngân 2026][Báo cáo cấp trên] …" when escalated.
    assert!(
        m.subject().starts_with("[Giải ngân 2026]"),
        "{}",
        m.subject()
    );

    // With no config file at all, the embedded defaults are used: jobs/ and var/outbox.
    std::fs::remove_dir_all(p.path().join("config")).unwrap();
    std::fs::remove_dir_all(p.path().join("var")).unwrap();
    p.run(&["once", "sample", "--as-of", "2026-10-31"])
        .expect_code(0);
    assert_eq!(p.eml_files("var/outbox").len(), files.len());
}

/// One broken input: what to change, and what the error must say.
struct BadCase {
    name: &'static str,
    units: String,
    plans: String,
    paid: String,
    expect: &'static [&'static str],
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_sends_nothing_exits_4_and_names_row_column_and_value() {
    let smtp = Smtp::start();
    let cases = vec![
        BadCase {
            name: "bad number",
            units: UNITS.into(),
            plans: PLANS.replace("\"25.000\"", "\"25.000,5,5\""),
            paid: PAID.into(),
            expect: &["plans: row 4: column `Kế hoạch vốn (triệu đồng)`: value `25.000,5,5`: `25.000,5,5` is not a number in vi"],
        },
        BadCase {
            name: "bad date",
            units: UNITS.into(),
            plans: PLANS.into(),
            paid: PAID.replace("02/07/2026", "31/13/2026"),
            expect: &["disbursements: row 6: column `Ngày`: value `31/13/2026`: `31/13/2026` is not a date written as %d/%m/%Y"],
        },
        BadCase {
            name: "unknown unit",
            units: UNITS.into(),
            plans: PLANS.into(),
            paid: format!("{PAID}01/08/2026,XYZ,5\n"),
            expect: &["disbursements: row 8: column `Mã ĐV`: value `XYZ`: unit `XYZ` is not in the units source"],
        },
        BadCase {
            name: "duplicate unit",
            units: format!("{UNITS}SYT,Sở Y tế (trùng),soyte2@x.vn\n"),
            plans: PLANS.into(),
            paid: PAID.into(),
            expect: &["units: row 7: column `Mã ĐV`: value `SYT`: unit `SYT` is listed twice (first in row 3)"],
        },
        BadCase {
            name: "missing key",
            units: UNITS.into(),
            plans: format!("{PLANS},2026,5\n"),
            paid: PAID.into(),
            expect: &["plans: row 7: column `Mã ĐV`: the unit id is empty"],
        },
        BadCase {
            name: "missing column",
            units: UNITS.replace("Tên đơn vị", "Tên"),
            plans: PLANS.into(),
            paid: PAID.into(),
            expect: &["has no column `Tên đơn vị` (mapped to unit_name)", "fix sources.units.columns.unit_name"],
        },
    ];
    for case in cases {
        let server = sources(&case.units, &case.paid).await;
        let p = project(smtp.port, server.address().port());
        p.write("jobs/ke_hoach.csv", &case.plans);
        let run = p.run(&["once", "weekly", "--as-of", "2026-10-31", "--json"]);
        run.expect_code(4);
        for want in case.expect {
            run.expect_stderr(want);
        }
        let report = run.json();
        assert_eq!(report["outcome"], "rejected", "{}: {run}", case.name);
        assert!(
            !report["data_issues"].as_array().unwrap().is_empty(),
            "{}: {run}",
            case.name
        );
        assert!(
            report["alerts"].as_array().unwrap().is_empty(),
            "{}",
            case.name
        );
        assert_eq!(
            smtp.received().len(),
            0,
            "case {}: nothing may be sent\n{run}",
            case.name
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_or_failing_source_is_named_and_nothing_is_sent() {
    let smtp = Smtp::start();
    // A source answering 404.
    let server = http_server(None).await;
    serve(&server, "/don_vi.csv", UNITS).await;
    fail(&server, "/giai_ngan.csv", 404).await;
    let p = project(smtp.port, server.address().port());
    let run = p.run(&["once", "weekly", "--as-of", "2026-10-31"]);
    run.expect_code(4)
        .expect_stderr("giai_ngan.csv answered HTTP 404 Not Found")
        .expect_stderr("sources.disbursements.location");
    // Nothing listening at all.
    let dead = crate::support::free_port();
    let p = project(smtp.port, dead);
    let run = p.run(&["once", "weekly", "--as-of", "2026-10-31"]);
    run.expect_code(4)
        .expect_stderr(&format!(
            "cannot fetch http://127.0.0.1:{dead}/don_vi.csv from 127.0.0.1:{dead}: cannot connect"
        ))
        .expect_stderr("check that the server is up");
    // A local file that is missing.
    let server = sources(UNITS, PAID).await;
    let p = project(smtp.port, server.address().port());
    std::fs::remove_file(p.path().join("jobs/ke_hoach.csv")).unwrap();
    p.run(&["once", "weekly", "--as-of", "2026-10-31"])
        .expect_code(4)
        .expect_stderr("file not found")
        .expect_stderr("ke_hoach.csv");
    assert_eq!(smtp.received().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_error_skip_runs_without_the_bad_rows_and_lists_them_in_the_digest() {
    let smtp = Smtp::start();
    let server = sources(UNITS, &format!("{PAID}01/08/2026,XMT,1.2.3\n")).await;
    let p = project(smtp.port, server.address().port());
    p.write(
        "jobs/weekly.toml",
        &JOB.replace(
            "127.0.0.1:8000",
            &format!("127.0.0.1:{}", server.address().port()),
        )
        .replace(
            "kind = \"transactions\"",
            "kind = \"transactions\"\non_error = \"skip\"",
        ),
    );
    let run = p.run(&["once", "weekly", "--as-of", "2026-10-31", "--json"]);
    run.expect_code(0);
    let report = run.json();
    let issues = report["data_issues"].as_array().unwrap();
    assert_eq!(issues.len(), 1, "{run}");
    assert_eq!(issues[0]["row"], 8);
    assert_eq!(issues[0]["value"], "1.2.3");
    assert_eq!(issues[0]["column"], "Số tiền (đồng)");
    assert_eq!(smtp.logical(), 3);
    let digest = smtp.one_to("lanhdao@stc.example.gov.vn").text();
    assert!(
        digest.contains("disbursements: row 8: column `Số tiền (đồng)`: value `1.2.3`"),
        "{digest}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mail_server_that_is_down_fails_the_run_and_says_so() {
    let server = sources(UNITS, PAID).await;
    let dead = crate::support::free_port();
    let p = project(dead, server.address().port());
    let run = p.run(&["once", "weekly", "--as-of", "2026-10-31", "--json"]);
    run.expect_code(5);
    let report = run.json();
    assert_eq!(report["outcome"], "delivery_failed");
    for a in report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| !a["to"].as_array().unwrap().is_empty())
    {
        assert_eq!(a["delivered"], false);
        let e = a["error"].as_str().unwrap();
        assert!(e.starts_with("queued for another try"), "{e}");
    }
    // The first message met the dead server; the rest wait in the outbox without being tried.
    let first = report["alerts"][0]["error"].as_str().unwrap();
    assert!(first.contains(&format!("127.0.0.1:{dead}")), "{first}");
    let outbox = p.run(&["outbox"]);
    outbox
        .expect_code(0)
        .expect_stdout("pending")
        .expect_stdout(&format!("127.0.0.1:{dead}"));
    assert_eq!(report["digest"]["delivered"], false);
    run.expect_stderr("delivery deferred");
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_renders_but_sends_nothing() {
    let smtp = Smtp::start();
    let server = sources(UNITS, PAID).await;
    let p = project(smtp.port, server.address().port());
    let run = p.run(&["once", "weekly", "--as-of", "2026-10-31", "--dry-run"]);
    run.expect_code(0)
        .expect_stdout("dry run")
        .expect_stdout("not sent (dry run)");
    assert_eq!(smtp.received().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn preview_prints_the_unit_email() {
    let server = sources(UNITS, PAID).await;
    let p = project(crate::support::free_port(), server.address().port());
    // The real headers, as the message would be queued, with "now" from DISBMON_NOW.
    let run = p.run_env(
        &[
            "preview",
            "weekly",
            "--unit",
            "XMT",
            "--as-of",
            "2026-10-31",
        ],
        &[("DISBMON_NOW", "2026-11-02T08:00:00+07:00")],
    );
    run.expect_code(0)
        .expect_stdout("Date: Mon, 02 Nov 2026 01:00:00 +0000")
        .expect_stdout("Message-ID: <")
        .expect_stdout("MIME-Version: 1.0")
        .expect_stdout("To: UBND xã Mường Tè & Pa Ủ <xmt@sonla.example.gov.vn>")
        .expect_stdout("Cc: phongdautu@stc.example.gov.vn")
        .expect_stdout("Subject: [Giải ngân 2026] UBND xã Mường Tè & Pa Ủ: đạt 64,0%")
        .expect_stdout("25,000 tỷ đồng");
    let run = p.run(&[
        "preview",
        "weekly",
        "--unit",
        "SYT",
        "--as-of",
        "2026-10-31",
    ]);
    run.expect_code(0).expect_stderr("not behind");
    p.run(&[
        "preview",
        "weekly",
        "--unit",
        "NOPE",
        "--as-of",
        "2026-10-31",
    ])
    .expect_code(4)
    .expect_stderr("unit `NOPE` is not");
}

#[tokio::test(flavor = "multi_thread")]
async fn english_alerts() {
    let smtp = Smtp::start();
    let server = sources(UNITS, PAID).await;
    let p = project(smtp.port, server.address().port());
    p.write(
        "jobs/weekly.toml",
        &JOB.replace(
            "127.0.0.1:8000",
            &format!("127.0.0.1:{}", server.address().port()),
        )
        .replace("language = \"vi\"", "language = \"en\""),
    );
    p.run(&["once", "weekly", "--as-of", "2026-10-31"])
        .expect_code(0);
    let m = smtp.one_to("xmt@sonla.example.gov.vn");
    assert_eq!(m.subject(), "[Disbursement 2026] UBND xã Mường Tè & Pa Ủ: 64.0% disbursed, below the expected 71.8% (as of 31/10/2026)");
    assert!(m.text().contains("25.000 billion VND"), "{}", m.text());
    let d = smtp.one_to("lanhdao@stc.example.gov.vn");
    assert!(
        d.subject().contains("3 of 4 units behind"),
        "{}",
        d.subject()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn as_of_defaults_to_today_in_the_job_zone() {
    let server = sources(UNITS, PAID).await;
    let p = project(crate::support::free_port(), server.address().port());
    // 18:00 UTC on 30/10 is 01:00 on 31/10 in Ho Chi Minh City.
    let run = p.run_env(
        &["once", "weekly", "--dry-run", "--json"],
        &[("DISBMON_NOW", "2026-10-30T18:00:00Z")],
    );
    run.expect_code(0);
    assert_eq!(run.json()["as_of"], "2026-10-31");
}

#[test]
fn check_reports_every_problem_at_once() {
    let p = Project::new();
    p.write(
        "config/disbmon.toml",
        &CONFIG
            .replace("Asia/Ho_Chi_Minh", "Asia/Saigon_Old")
            .replace("127.0.0.1", "mail.example.gov.vn")
            .replace("port = 2525", "port = 2525\nconnections = 0")
            .replace("[mail]", "retries = 3\n[mail]"),
    )
    .write(
        "jobs/weekly.toml",
        &JOB.replace("0 8 * * MON", "0 8 * *")
            .replace("pct = 60 }", "pct = 40 }")
            .replace("[alerts]", "[alerts]\nbcc = []"),
    )
    .write(
        "jobs/other.toml",
        &JOB.replacen("number_format = \"vi\"", "number_format = \"fr\"", 1),
    );
    let run = p.run(&["check"]);
    run.expect_code(3);
    let err = run.stderr();
    for want in [
        "config/disbmon.toml: retries: unknown key",
        "config/disbmon.toml: timezone: `Asia/Saigon_Old` is not an IANA time zone",
        "config/disbmon.toml: mail.smtp.tls: \"none\" sends mail unencrypted and is only allowed for a loopback host",
        "jobs/weekly.toml: alerts.bcc: unknown key",
        "jobs/weekly.toml: schedule: `0 8 * *`: expected 5 fields",
        "jobs/weekly.toml: rule.milestones: [2]: pct 40 is lower than the milestone before it",
        "jobs/weekly.toml: sources.plans.location: file not found",
        "jobs/other.toml: line 13: unknown variant `fr`, expected one of `vi`, `en`, `plain`",
        "config/disbmon.toml: mail.smtp.connections: is 0; give 1 to 32",
    ] {
        assert!(err.contains(want), "check output lacks {want:?}\n{run}");
    }
    run.expect_stderr("9 problems found");
}

#[test]
fn check_shows_the_next_three_runs_in_the_job_zone() {
    let p = Project::new();
    p.write("config/disbmon.toml", CONFIG)
        .write("jobs/weekly.toml", JOB)
        .write("jobs/ke_hoach.csv", PLANS)
        .write(
            "jobs/hanoi-daily.toml",
            &JOB.replace("0 8 * * MON", "@daily").replace(
                "# timezone = \"Asia/Ho_Chi_Minh\"",
                "timezone = \"Europe/Berlin\"",
            ),
        );
    // Friday 27/11/2026, 09:00 in Ho Chi Minh City.
    let run = p.run_env(&["check"], &[("DISBMON_NOW", "2026-11-27T09:00:00+07:00")]);
    run.expect_code(0)
        .expect_stdout("job weekly")
        .expect_stdout(
            "next: Mon 2026-11-30 08:00 +07, Mon 2026-12-07 08:00 +07, Mon 2026-12-14 08:00 +07",
        )
        .expect_stdout(
            "next: Sat 2026-11-28 00:00 CET, Sun 2026-11-29 00:00 CET, Mon 2026-11-30 00:00 CET",
        )
        .expect_stdout("all valid");
}

#[test]
fn once_refuses_a_job_with_unknown_keys_naming_file_and_key() {
    let p = Project::new();
    p.write("config/disbmon.toml", CONFIG).write(
        "jobs/weekly.toml",
        &JOB.replace("tolerance_pct", "tolerence_pct"),
    );
    p.run(&["once", "weekly"])
        .expect_code(3)
        .expect_stderr("jobs/weekly.toml: rule.tolerence_pct: unknown key");
    p.run(&["once", "nosuchjob"])
        .expect_code(3)
        .expect_stderr("no such job file; jobs in")
        .expect_stderr("weekly");
    p.run(&["once", "weekly", "--as-of", "31/10/2026"])
        .expect_code(2)
        .expect_stderr("is not a date; write YYYY-MM-DD");
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_and_implicit_tls_deliver_and_a_mode_mismatch_is_reported() {
    let certs = crate::support::make_certs();
    let server = sources(UNITS, PAID).await;
    let ca = certs.ca_cert.to_string_lossy().into_owned();
    for (mode, implicit) in [("starttls", false), ("tls", true)] {
        let smtp = Smtp::start_tls(&certs, implicit);
        let p = project(smtp.port, server.address().port());
        let config = CONFIG
            .replace(
                "port = 2525",
                &format!("port = {}\nca_file = \"{ca}\"", smtp.port),
            )
            .replace("tls = \"none\"", &format!("tls = \"{mode}\""));
        p.write("config/disbmon.toml", &config);
        let run = p.run(&["once", "weekly", "--as-of", "2026-10-31"]);
        run.expect_code(0);
        assert_eq!(smtp.logical(), 3, "{mode}\n{run}");
        assert!(
            smtp.one_to("xmt@sonla.example.gov.vn")
                .subject()
                .contains("Mường Tè"),
            "{mode}"
        );
    }
    // Plain SMTP against a server that requires STARTTLS: refused, reported, exit 5.
    let smtp = Smtp::start_tls(&certs, false);
    let p = project(smtp.port, server.address().port());
    let run = p.run(&["once", "weekly", "--as-of", "2026-10-31"]);
    run.expect_code(5)
        .expect_stdout("NOT DELIVERED")
        .expect_stdout(&format!("SMTP 127.0.0.1:{}", smtp.port));
    assert_eq!(smtp.received().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_auth_uses_credentials_from_the_environment() {
    let smtp = Smtp::start_auth("giamsat", "mật-khẩu");
    let server = sources(UNITS, PAID).await;
    let p = project(smtp.port, server.address().port());
    let env = [
        ("DISBMON_SMTP_USERNAME", "giamsat"),
        ("DISBMON_SMTP_PASSWORD", "mật-khẩu"),
    ];
    p.run_env(&["once", "weekly", "--as-of", "2026-10-31"], &env)
        .expect_code(0);
    assert_eq!(smtp.logical(), 3);
    // Wrong password: refused by the server, reported, exit 5; the password never printed.
    let run = p.run_env(
        &["once", "weekly", "--as-of", "2026-10-31"],
        &[
            ("DISBMON_SMTP_USERNAME", "giamsat"),
            ("DISBMON_SMTP_PASSWORD", "sai-mat-khau-123"),
        ],
    );
    run.expect_code(5).expect_stdout("NOT DELIVERED");
    assert!(
        !run.stdout().contains("sai-mat-khau") && !run.stderr().contains("sai-mat-khau"),
        "{run}"
    );
    // Only one of the two variables: a config error.
    p.run_env(&["once", "weekly"], &[("DISBMON_SMTP_USERNAME", "giamsat")])
        .expect_code(3)
        .expect_stderr("mail.smtp.password_env");
    assert_eq!(smtp.logical(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mail_server_that_never_answers_is_given_up_on_after_one_message() {
    // Accepts connections and says nothing: each message would wait for the timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(conn);
        }
    });
    let server = sources(UNITS, PAID).await;
    let p = project(port, server.address().port());
    p.write(
        "config/disbmon.toml",
        // One connection: the pass stops after its first message (with more, after one each).
        &CONFIG.replace(
            "port = 2525",
            &format!("port = {port}\ntimeout_secs = 1\nconnections = 1"),
        ),
    );
    let run = p.run(&["once", "weekly", "--as-of", "2026-10-31", "--json"]);
    run.expect_code(5);
    let report = run.json();
    let errors: Vec<&str> = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| !a["to"].as_array().unwrap().is_empty())
        .map(|a| a["error"].as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 2, "{run}");
    assert!(
        errors[0].contains("did not answer in time")
            || errors[0].contains(&format!("127.0.0.1:{port}")),
        "{run}"
    );
    assert!(
        errors[1].starts_with("queued for another try") && errors[1].ends_with("not tried yet"),
        "{run}"
    );
    assert!(
        report["digest"]["error"]
            .as_str()
            .unwrap()
            .ends_with("not tried yet"),
        "{run}"
    );
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one connection, not one per message\n{run}"
    );
}

#[test]
fn the_config_can_live_elsewhere_named_by_flag_or_environment() {
    let p = Project::new();
    p.write(
        "elsewhere/my.toml",
        &CONFIG.replace("transport = \"smtp\"", "transport = \"file\""),
    )
    .write("jobs/weekly.toml", JOB)
    .write("jobs/ke_hoach.csv", PLANS);
    std::fs::remove_dir_all(p.path().join("config")).unwrap();
    p.run_env(&["check"], &[("DISBMON_CONFIG", "elsewhere/my.toml")])
        .expect_code(0)
        .expect_stdout("config: elsewhere/my.toml");
    p.run(&["--config", "elsewhere/my.toml", "check"])
        .expect_code(0)
        .expect_stdout("job weekly");
    p.run(&["--config", "elsewhere/missing.toml", "check"])
        .expect_code(3)
        .expect_stderr("elsewhere/missing.toml: the config file does not exist");
    // A schedule that never fires is a problem too.
    p.write(
        "jobs/weekly.toml",
        &JOB.replace("0 8 * * MON", "0 8 30 2 *"),
    );
    p.run(&["--config", "elsewhere/my.toml", "check"])
        .expect_code(3)
        .expect_stderr("never fires");
}

#[test]
fn email_template_overrides_are_checked_and_used() {
    let p = Project::new();
    p.copy_from_repo("config").copy_from_repo("jobs");
    let config = std::fs::read_to_string(p.path().join("config/disbmon.toml")).unwrap();
    p.write(
        "config/disbmon.toml",
        &config.replace("[admin]", "templates_dir = \"mau-thu\"\n\n[admin]"),
    );
    // Broken overrides: every problem at once, with its file and line.
    p.write(
        "config/mau-thu/alert.txt",
        "{{ greeting }}\n{% for r in rows %}\n",
    )
    .write("config/mau-thu/digest.html", "<p>{{ tong_ket }}</p>\n");
    let run = p.run(&["check"]);
    run.expect_code(3)
        .expect_stderr("templates_dir")
        .expect_stderr("mau-thu/alert.txt: line 2")
        .expect_stderr("mau-thu/digest.html: line 1")
        .expect_stderr("tong_ket");
    // A good override is what the units read; the other templates stay built in.
    p.write(
        "config/mau-thu/alert.txt",
        "Kính gửi {{ greeting[10:] }}: tỷ lệ {{ rows[2].value }}.\n{{ footer }}\n",
    );
    std::fs::remove_file(p.path().join("config/mau-thu/digest.html")).unwrap();
    p.run(&["check"]).expect_code(0);
    p.run(&["once", "sample", "--as-of", "2026-10-31"])
        .expect_code(0);
    let mails: Vec<crate::support::Received> = p
        .eml_files("var/outbox")
        .iter()
        .map(|f| crate::support::Received {
            raw: std::fs::read(f).unwrap(),
        })
        .collect();
    let alert = mails
        .iter()
        .find(|m| m.subject().contains("Văn phòng UBND tỉnh"))
        .expect("the alert to VPUB");
    assert!(
        alert
            .text()
            .starts_with("Kính gửi Văn phòng UBND tỉnh: tỷ lệ 63,1%."),
        "{}",
        alert.text()
    );
    let digest = mails
        .iter()
        .find(|m| m.subject().contains("Tổng hợp"))
        .unwrap();
    assert!(digest.html().contains("<table"));
}
