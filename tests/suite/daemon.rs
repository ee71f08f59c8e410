//! Black-box tests of `disbmon run`: the real binary with per-second schedules, a local HTTP
//! source, a real SMTP server, signals, restarts and the admin listener.

use crate::support::fixtures::{CONFIG, JOB, PAID, PLANS, UNITS};
use crate::support::{free_port, http_get, http_server, serve, Project, Smtp};
use disbmon::store::runs::RunOutcome;
use nix::sys::signal::Signal;
use std::time::Duration;

/// A project whose config delivers to `smtp`, tells `ops@...`, and listens for admin on `admin`.
fn project(smtp: u16, admin: u16, extra: &str) -> Project {
    let p = Project::new();
    let config = CONFIG
        .replace("port = 2525", &format!("port = {smtp}"))
        .replace("[mail]", &format!("operators = [\"ops@stc.example.gov.vn\"]\nshutdown_grace = \"30s\"\n{extra}\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n\n[mail]"));
    p.write("config/disbmon.toml", &config)
        .write("jobs/ke_hoach.csv", PLANS);
    p
}

/// The job, on `schedule`, reading from `http`, its digest to `digest`.
fn job(http: u16, schedule: &str, digest: &str, extra: &str) -> String {
    JOB.replace("127.0.0.1:8000", &format!("127.0.0.1:{http}"))
        .replace("0 8 * * MON", schedule)
        .replace("lanhdao@stc.example.gov.vn", digest)
        .replace("plan_year = 2026", &format!("plan_year = 2026\n{extra}"))
}

fn digests_to(smtp: &Smtp, rcpt: &str) -> usize {
    smtp.received()
        .iter()
        .filter(|m| m.rcpt_to().iter().any(|r| r == rcpt))
        .count()
}

/// The value of one series in Prometheus text, e.g. `disbmon_emails_sent_total{job="weekly"}`.
#[track_caller]
fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}")) as u64
}

fn runs(p: &Project, job: &str) -> Vec<disbmon::store::runs::RunRecord> {
    disbmon::store::db::Store::open(&p.path().join("var"))
        .unwrap()
        .runs(job, 1000)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_per_second_job_runs_sends_and_is_watched_over_http() {
    let smtp = Smtp::start();
    let http = http_server(None).await;
    serve(&http, "/don_vi.csv", UNITS).await;
    serve(&http, "/giai_ngan.csv", PAID).await;
    let admin = free_port();
    let p = project(smtp.port, admin, "");
    p.write(
        "jobs/weekly.toml",
        &job(
            http.address().port(),
            "*/2 * * * * *",
            "lanhdao@stc.example.gov.vn",
            "",
        ),
    );
    let mut d = p.spawn_daemon(&[]);
    d.wait_for("two runs' digests", 20, || {
        digests_to(&smtp, "lanhdao@stc.example.gov.vn") >= 2
    });

    let (code, body) = http_get(admin, "/healthz");
    assert_eq!((code, body.trim()), (200, "ok"));
    let (code, metrics) = http_get(admin, "/metrics");
    assert_eq!(code, 200);
    let ok_runs = metric(
        &metrics,
        "disbmon_runs_total{job=\"weekly\",outcome=\"ok\"}",
    );
    assert!(ok_runs >= 2, "{metrics}");
    let sent = metric(&metrics, "disbmon_emails_sent_total{job=\"weekly\"}");
    // The first run alerts the units behind and sends the digest; the runs after it, seconds
    // later, only send the digest (the units were just told).
    let mut finished: Vec<_> = runs(&p, "weekly")
        .into_iter()
        .filter(|r| r.outcome == RunOutcome::Ok)
        .collect();
    finished.sort_by_key(|r| r.scheduled_at);
    let first = u64::from(finished[0].emails_sent.unwrap());
    assert!(first >= 2, "{finished:#?}");
    assert!(
        finished[1..].iter().all(|r| r.emails_sent == Some(1)),
        "{finished:#?}"
    );
    assert_eq!(sent, first + (ok_runs - 1), "{metrics}");
    for family in [
        "disbmon_run_duration_seconds_count{job=\"weekly\"}",
        "disbmon_last_success_timestamp_seconds{job=\"weekly\"}",
        "disbmon_next_run_timestamp_seconds{job=\"weekly\"}",
        "disbmon_emails_failed_total{job=\"weekly\"} 0",
        "disbmon_skipped_ticks_total{job=\"weekly\"}",
    ] {
        assert!(metrics.contains(family), "{family} missing from\n{metrics}");
    }
    let (code, status) = http_get(admin, "/status");
    assert_eq!(code, 200);
    let status: serde_json::Value =
        serde_json::from_str(&status).unwrap_or_else(|e| panic!("{e}: {status}"));
    let j = &status["jobs"][0];
    assert_eq!(j["name"], "weekly");
    assert_eq!(j["schedule"], "*/2 * * * * *");
    assert_eq!(j["timezone"], "Asia/Ho_Chi_Minh");
    assert!(
        j["next_run"].as_str().unwrap().ends_with("+07:00"),
        "{status}"
    );
    assert!(
        j["last_run"]["scheduled_at"]
            .as_str()
            .unwrap()
            .ends_with("+07:00"),
        "{status}"
    );

    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(30), 0, "{}", d.log());
    assert!(
        d.log().contains("+07"),
        "times in the log carry the zone\n{}",
        d.log()
    );
    // `disbmon status` reads the same from the state store, without the daemon.
    let st = p.run(&["status"]);
    st.expect_code(0)
        .expect_stdout("job weekly: `*/2 * * * * *` in Asia/Ho_Chi_Minh")
        .expect_stdout(": ok at ");
    assert!(runs(&p, "weekly")
        .iter()
        .all(|r| r.outcome == RunOutcome::Ok));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_source_never_runs_twice_at_once() {
    let smtp = Smtp::start();
    let http = http_server(None).await;
    serve(&http, "/don_vi.csv", UNITS).await;
    wiremock::Mock::given(wiremock::matchers::path("/giai_ngan.csv"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_string(PAID)
                .set_delay(Duration::from_millis(2500)),
        )
        .mount(&http)
        .await;
    let admin = free_port();
    let p = project(smtp.port, admin, "");
    p.write(
        "jobs/weekly.toml",
        &job(
            http.address().port(),
            "* * * * * *",
            "lanhdao@stc.example.gov.vn",
            "",
        ),
    );
    let mut d = p.spawn_daemon(&[]);
    d.wait_for("two finished runs", 30, || {
        runs(&p, "weekly")
            .iter()
            .filter(|r| r.outcome == RunOutcome::Ok)
            .count()
            >= 2
    });
    d.wait_log("skipping the run of", 5);
    let (_, metrics) = http_get(admin, "/metrics");
    let skipped = metric(&metrics, "disbmon_skipped_ticks_total{job=\"weekly\"}");
    assert!(skipped >= 1, "{metrics}");
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(30), 0);
    // No two runs overlap: each started after the one before it finished.
    let mut all = runs(&p, "weekly");
    all.sort_by_key(|r| r.started_at);
    for w in all.windows(2) {
        let prev_end = w[0].finished_at.expect("every run finished");
        assert!(
            w[1].started_at >= prev_end,
            "overlap: {:?} and {:?}",
            w[0],
            w[1]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_run_finish_and_a_cut_off_run_is_caught_up_at_the_next_start() {
    let smtp = Smtp::start();
    let http = http_server(None).await;
    serve(&http, "/don_vi.csv", UNITS).await;
    wiremock::Mock::given(wiremock::matchers::path("/giai_ngan.csv"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_string(PAID)
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&http)
        .await;
    let p = project(smtp.port, free_port(), "");
    // Every 5 s, each run taking 2 s: SIGTERM comes during the first run.
    p.write(
        "jobs/weekly.toml",
        &job(
            http.address().port(),
            "*/5 * * * * *",
            "lanhdao@stc.example.gov.vn",
            "",
        ),
    );
    let mut d = p.spawn_daemon(&[]);
    d.wait_log("starts (as of", 10);
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(30), 0, "{}", d.log());
    assert!(
        d.log()
            .contains("waiting up to 30 s for 1 run(s) in progress"),
        "{}",
        d.log()
    );
    assert_eq!(
        digests_to(&smtp, "lanhdao@stc.example.gov.vn"),
        1,
        "the run finished and sent\n{}",
        d.log()
    );
    assert_eq!(runs(&p, "weekly")[0].outcome, RunOutcome::Ok);

    // Now with a grace period shorter than the run: cut off, recorded as interrupted.
    p.write(
        "config/disbmon.toml",
        &std::fs::read_to_string(p.path().join("config/disbmon.toml"))
            .unwrap()
            .replace("shutdown_grace = \"30s\"", "shutdown_grace = \"1s\""),
    );
    let mut d = p.spawn_daemon(&[]);
    d.wait_for("a second run to start", 10, || {
        runs(&p, "weekly").len() >= 2
    });
    d.signal(Signal::SIGINT);
    assert_eq!(d.wait_exit(30), 0, "{}", d.log());
    d.wait_log("recorded as interrupted", 1);
    let cut = runs(&p, "weekly")[0].clone();
    assert_eq!(cut.outcome, RunOutcome::Interrupted);
    // The next start runs that slot again, once.
    let mut d = p.spawn_daemon(&[]);
    d.wait_log("catching up the missed run", 10);
    d.wait_for("the caught-up run to finish", 20, || {
        runs(&p, "weekly")
            .iter()
            .any(|r| r.scheduled_at == cut.scheduled_at && r.outcome == RunOutcome::Ok)
    });
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(30), 0);
    assert_eq!(
        runs(&p, "weekly")
            .iter()
            .filter(|r| r.scheduled_at == cut.scheduled_at)
            .count(),
        1
    );
}

// Catch-up after a restart (exactly once, per job, nothing on an immediate second restart) is
// tested in-process on paused time: tests/suite/daemon_loop.rs.

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_source_is_retried_then_reported_while_another_job_keeps_running() {
    let smtp = Smtp::start();
    let http = http_server(None).await;
    serve(&http, "/don_vi.csv", UNITS).await;
    serve(&http, "/giai_ngan.csv", PAID).await;
    wiremock::Mock::given(wiremock::matchers::path("/broken/giai_ngan.csv"))
        .respond_with(wiremock::ResponseTemplate::new(500))
        .mount(&http)
        .await;
    let port = http.address().port();
    let p = project(smtp.port, free_port(), "");
    p.write(
        "jobs/healthy.toml",
        &job(port, "*/2 * * * * *", "healthy@stc.example.gov.vn", ""),
    );
    p.write(
        "jobs/broken.toml",
        &job(
            port,
            "*/10 * * * * *",
            "broken@stc.example.gov.vn",
            "retries = [\"1s\", \"2s\"]\nmax_silence = \"5s\"",
        )
        .replace(
            &format!("127.0.0.1:{port}/giai_ngan.csv"),
            &format!("127.0.0.1:{port}/broken/giai_ngan.csv"),
        ),
    );
    // The dead-man notice comes once the job has gone 5 s without a success; the failure notice
    // after its first run's three tries.
    let mut d = p.spawn_daemon(&[]);
    d.wait_for("the failure and the dead-man notices", 45, || {
        let got = smtp.received();
        got.iter().any(|m| {
            m.subject()
                .starts_with("[disbmon] công việc broken không chạy được")
        }) && got
            .iter()
            .any(|m| m.subject().contains("giờ không chạy thành công"))
    });
    // Past more dead-man checks (the loop goes round while the healthy job runs twice more):
    // the notice is not repeated. (Across restarts: tests/suite/daemon_loop.rs.)
    let healthy_now = digests_to(&smtp, "healthy@stc.example.gov.vn");
    d.wait_for("two more runs of the healthy job", 20, || {
        digests_to(&smtp, "healthy@stc.example.gov.vn") >= healthy_now + 2
    });
    let notice = smtp
        .received()
        .into_iter()
        .find(|m| {
            m.subject()
                .starts_with("[disbmon] công việc broken không chạy được")
        })
        .unwrap();
    assert_eq!(notice.rcpt_to(), ["ops@stc.example.gov.vn"]);
    let text = notice.text();
    assert!(text.contains("không thành công sau 3 lần thử"), "{text}");
    assert!(text.contains("answered HTTP 500"), "{text}");
    let silence: Vec<_> = smtp
        .received()
        .into_iter()
        .filter(|m| m.subject().contains("giờ không chạy thành công"))
        .collect();
    assert_eq!(silence.len(), 1, "the dead-man notice is sent once");
    assert_eq!(digests_to(&smtp, "broken@stc.example.gov.vn"), 0);
    // Three requests for the broken source (first try and two retries) in that run.
    let broken_requests = http
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/broken/giai_ngan.csv")
        .count();
    assert!(broken_requests >= 3, "{broken_requests}");
    // Meanwhile the healthy job kept running and sending.
    let healthy = digests_to(&smtp, "healthy@stc.example.gov.vn");
    assert!(healthy >= 2, "{}", d.log());
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(30), 0);
    let broken = runs(&p, "broken");
    let failed = broken
        .iter()
        .find(|r| r.outcome == RunOutcome::Failed)
        .expect("a failed run is recorded");
    assert_eq!(failed.attempts, 3);
    assert!(failed.error.as_deref().unwrap().contains("HTTP 500"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_picks_up_a_new_job_and_rejects_an_invalid_one_while_the_old_keeps_running() {
    let smtp = Smtp::start();
    let http = http_server(None).await;
    serve(&http, "/don_vi.csv", UNITS).await;
    serve(&http, "/giai_ngan.csv", PAID).await;
    let port = http.address().port();
    let p = project(smtp.port, free_port(), "");
    p.write(
        "jobs/first.toml",
        &job(port, "*/2 * * * * *", "first@stc.example.gov.vn", ""),
    );
    let mut d = p.spawn_daemon(&[]);
    d.wait_for("the first job to send", 10, || {
        digests_to(&smtp, "first@stc.example.gov.vn") >= 1
    });
    // A new job, picked up without a restart.
    p.write(
        "jobs/second.toml",
        &job(port, "*/2 * * * * *", "second@stc.example.gov.vn", ""),
    );
    d.signal(Signal::SIGHUP);
    d.wait_log("job added", 5);
    d.wait_for("the second job to send", 10, || {
        digests_to(&smtp, "second@stc.example.gov.vn") >= 1
    });
    // An invalid job: rejected with every problem, the old configuration keeps running.
    p.write(
        "jobs/third.toml",
        &job(port, "0 8 * *", "third@stc.example.gov.vn", "colour = 1"),
    );
    d.signal(Signal::SIGHUP);
    d.wait_log("the new configuration is rejected", 5);
    let log = d.log();
    assert!(
        log.contains("jobs/third.toml: colour: unknown key"),
        "{log}"
    );
    assert!(
        log.contains("jobs/third.toml: schedule: `0 8 * *`: expected 5 fields"),
        "{log}"
    );
    let (first, second) = (
        digests_to(&smtp, "first@stc.example.gov.vn"),
        digests_to(&smtp, "second@stc.example.gov.vn"),
    );
    d.wait_for("both jobs to keep sending", 10, || {
        digests_to(&smtp, "first@stc.example.gov.vn") > first
            && digests_to(&smtp, "second@stc.example.gov.vn") > second
    });
    assert_eq!(digests_to(&smtp, "third@stc.example.gov.vn"), 0);
    // Fixing the third and removing the first: both take effect on the next SIGHUP.
    std::fs::remove_file(p.path().join("jobs/third.toml")).unwrap();
    std::fs::remove_file(p.path().join("jobs/first.toml")).unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_log("job removed", 5);
    // A run of the removed job that had started may finish; then it runs no more.
    d.wait_for("the removed job's last run to finish", 20, || {
        runs(&p, "first")
            .iter()
            .all(|r| r.outcome != RunOutcome::Running)
    });
    let first = digests_to(&smtp, "first@stc.example.gov.vn");
    let second = digests_to(&smtp, "second@stc.example.gov.vn");
    d.wait_for("the second job to go on", 10, || {
        digests_to(&smtp, "second@stc.example.gov.vn") > second
    });
    assert_eq!(
        digests_to(&smtp, "first@stc.example.gov.vn"),
        first,
        "a removed job no longer runs"
    );
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(30), 0);
}

#[test]
fn an_invalid_configuration_stops_the_daemon_at_start_with_every_problem() {
    let p = project(free_port(), free_port(), "");
    p.write(
        "jobs/weekly.toml",
        &JOB.replace("0 8 * * MON", "61 8 * * MON")
            .replace("tolerance_pct", "tolerence_pct"),
    );
    let mut d = p.spawn_daemon(&[]);
    assert_eq!(d.wait_exit(10), 3);
    let log = d.log();
    assert!(log.contains("rule.tolerence_pct: unknown key"), "{log}");
}

// Stale data reported to the operators: tests/suite/daemon_loop.rs (it needs a date, not today).
