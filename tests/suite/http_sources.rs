//! Sources that misbehave, served by a real local HTTP server (wiremock): errors then success,
//! Retry-After, timeouts, 304 Not Modified, bodies over the limit, authentication, stale data.

use crate::support::fixtures::{JOB, PAID, PLANS, UNITS};
use crate::support::{http_server, Project};
use std::time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn project(port: u16, extra_units: &str) -> Project {
    let p = Project::new();
    p.write("config/disbmon.toml", "jobs_dir = \"../jobs\"\nstate_dir = \"../var\"\n[admin]\nlisten = \"off\"\n")
        .write("jobs/ke_hoach.csv", PLANS)
        .write(
            "jobs/weekly.toml",
            &JOB.replace("127.0.0.1:8000", &format!("127.0.0.1:{port}")).replace(
                "columns = { unit_id = \"Mã ĐV\", unit_name = \"Tên đơn vị\", email = \"Email\" }",
                &format!("columns = {{ unit_id = \"Mã ĐV\", unit_name = \"Tên đơn vị\", email = \"Email\" }}\n{extra_units}"),
            ),
        );
    p
}

async fn ok(server: &MockServer, at: &str, body: &str) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_string(body))
        .mount(server)
        .await;
}

fn dry_run(p: &Project, env: &[(&str, &str)]) -> crate::support::Run {
    p.run_env(
        &[
            "once",
            "weekly",
            "--as-of",
            "2026-10-31",
            "--dry-run",
            "--json",
        ],
        env,
    )
}

fn units_requests(server_requests: &[wiremock::Request]) -> usize {
    server_requests
        .iter()
        .filter(|r| r.url.path() == "/don_vi.csv")
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_then_success_are_retried_and_retry_after_is_honoured() {
    let server = http_server(None).await;
    ok(&server, "/giai_ngan.csv", PAID).await;
    Mock::given(path("/don_vi.csv"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/don_vi.csv"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    ok(&server, "/don_vi.csv", UNITS).await;
    let p = project(server.address().port(), "");
    let run = dry_run(&p, &[]);
    run.expect_code(0)
        .expect_stderr("answered HTTP 500 Internal Server Error; trying again")
        .expect_stderr("as it asked (Retry-After)");
    assert_eq!(
        units_requests(&server.received_requests().await.unwrap()),
        3
    );
    // With no retries left, the error is the run's.
    let server = http_server(None).await;
    ok(&server, "/giai_ngan.csv", PAID).await;
    Mock::given(path("/don_vi.csv"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let p = project(server.address().port(), "http_retries = 1");
    dry_run(&p, &[])
        .expect_code(4)
        .expect_stderr("don_vi.csv answered HTTP 502 Bad Gateway");
    assert_eq!(
        units_requests(&server.received_requests().await.unwrap()),
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_times_out_is_named() {
    let server = http_server(None).await;
    ok(&server, "/giai_ngan.csv", PAID).await;
    Mock::given(path("/don_vi.csv"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(UNITS)
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let p = project(
        server.address().port(),
        "timeout_secs = 1\nhttp_retries = 0",
    );
    dry_run(&p, &[])
        .expect_code(4)
        .expect_stderr("no answer within 1 s");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_source_is_not_downloaded_again() {
    let server = http_server(None).await;
    ok(&server, "/giai_ngan.csv", PAID).await;
    Mock::given(path("/don_vi.csv"))
        .and(header("If-None-Match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/don_vi.csv"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(UNITS)
                .insert_header("ETag", "\"v1\""),
        )
        .mount(&server)
        .await;
    let p = project(server.address().port(), "");
    let first = dry_run(&p, &[]);
    first.expect_code(0);
    let second = p.run_env(
        &[
            "once",
            "weekly",
            "--as-of",
            "2026-10-31",
            "--dry-run",
            "--json",
        ],
        &[("DISBMON_LOG", "info")],
    );
    second
        .expect_code(0)
        .expect_stderr("is unchanged (HTTP 304); using the cached copy");
    assert_eq!(first.json()["units"], second.json()["units"]);
    let requests = server.received_requests().await.unwrap();
    let conditional = requests
        .iter()
        .filter(|r| r.url.path() == "/don_vi.csv" && r.headers.get("if-none-match").is_some())
        .count();
    assert_eq!(conditional, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_is_refused() {
    let server = http_server(None).await;
    ok(&server, "/giai_ngan.csv", PAID).await;
    ok(&server, "/don_vi.csv", UNITS).await;
    let p = project(server.address().port(), "max_bytes = 100");
    dry_run(&p, &[])
        .expect_code(4)
        .expect_stderr("more than sources.units.max_bytes (100");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bearer_token_comes_from_the_environment() {
    let server = http_server(None).await;
    ok(&server, "/giai_ngan.csv", PAID).await;
    Mock::given(path("/don_vi.csv"))
        .and(header("Authorization", "Bearer tok-123"))
        .respond_with(ResponseTemplate::new(200).set_body_string(UNITS))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/don_vi.csv"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let p = project(
        server.address().port(),
        "auth = { bearer_env = \"DISBMON_TEST_TOKEN\" }",
    );
    dry_run(&p, &[])
        .expect_code(4)
        .expect_stderr("DISBMON_TEST_TOKEN is not set");
    dry_run(&p, &[("DISBMON_TEST_TOKEN", "sai")])
        .expect_code(4)
        .expect_stderr("401 Unauthorized")
        .expect_stderr("sources.units.auth");
    dry_run(&p, &[("DISBMON_TEST_TOKEN", "tok-123")]).expect_code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_data_alerts_nobody_and_says_since_when() {
    let server = http_server(None).await;
    ok(&server, "/giai_ngan.csv", PAID).await;
    ok(&server, "/don_vi.csv", UNITS).await;
    let p = project(server.address().port(), "");
    let job = std::fs::read_to_string(p.path().join("jobs/weekly.toml")).unwrap();
    p.write(
        "jobs/weekly.toml",
        &job.replace(
            "plan_year = 2026",
            "plan_year = 2026\nmax_data_age = \"7d\"",
        ),
    );
    // On 31/10 the newest payment (30/10) is a day old: fine.
    dry_run(&p, &[]).expect_code(0);
    // On 30/11 the newest (05/11) is 25 days old.
    let run = p.run(&["once", "weekly", "--as-of", "2026-11-30", "--json"]);
    run.expect_code(4)
        .expect_stderr("the newest disbursement is from 05/11/2026 (25 days before the as-of date 30/11/2026), older than max_data_age (7 days)");
    assert!(run.json()["alerts"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gzip_body_is_read_and_header_or_basic_auth_is_sent() {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(UNITS.as_bytes()).unwrap();
    let body = gz.finish().unwrap();
    let server = http_server(None).await;
    ok(&server, "/giai_ngan.csv", PAID).await;
    Mock::given(path("/don_vi.csv"))
        .and(header("X-Api-Key", "k-42"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(body)
                .insert_header("Content-Encoding", "gzip"),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/don_vi.csv"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;
    let p = project(
        server.address().port(),
        "auth = { header = \"X-Api-Key\", value_file = \"key.txt\" }",
    );
    p.write("jobs/key.txt", "k-42\n");
    let run = dry_run(&p, &[]);
    run.expect_code(0);
    assert_eq!(run.json()["units"].as_array().unwrap().len(), 5);
    // Basic authentication, both parts from the environment.
    let server = http_server(None).await;
    ok(&server, "/giai_ngan.csv", PAID).await;
    Mock::given(path("/don_vi.csv"))
        .and(header("Authorization", "Basic Z2lhbXNhdDpwdw=="))
        .respond_with(ResponseTemplate::new(200).set_body_string(UNITS))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/don_vi.csv"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let p = project(
        server.address().port(),
        "auth = { username_env = \"DISBMON_TEST_USER\", password_env = \"DISBMON_TEST_PASS\" }",
    );
    dry_run(
        &p,
        &[
            ("DISBMON_TEST_USER", "giamsat"),
            ("DISBMON_TEST_PASS", "pw"),
        ],
    )
    .expect_code(0);
    // A half-given auth is a job error, with the key named.
    let p = project(
        server.address().port(),
        "auth = { username_env = \"DISBMON_TEST_USER\" }",
    );
    dry_run(&p, &[])
        .expect_code(3)
        .expect_stderr("sources.units.auth: give one of");
}

/// The payments served with an ETag, answered 304 while it holds.
async fn paid_with_etag(server: &MockServer, body: &str, etag: &str) {
    server.reset().await;
    ok(server, "/don_vi.csv", UNITS).await;
    Mock::given(path("/giai_ngan.csv"))
        .and(header("If-None-Match", etag))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(path("/giai_ngan.csv"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(body)
                .insert_header("ETag", etag),
        )
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_source_s_cube_is_reused_on_304_and_a_grown_body_adds_its_tail() {
    let server = http_server(None).await;
    paid_with_etag(&server, PAID, "\"p1\"").await;
    let p = project(server.address().port(), "");
    let run = |as_of: &str| {
        let r = p.run(&["once", "weekly", "--as-of", as_of, "--dry-run", "--json"]);
        r.expect_code(0);
        r
    };
    let paid_sums = |r: &crate::support::Run| r.json()["sources"][2]["sums"].clone();
    assert_eq!(paid_sums(&run("2026-10-31")), "read");
    // Another day: the server says 304, the cube answers it.
    let next = run("2026-10-30");
    assert_eq!(paid_sums(&next), "unchanged", "{next}");
    let conditional = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/giai_ngan.csv" && r.headers.get("if-none-match").is_some())
        .count();
    assert_eq!(conditional, 1);
    // A new body, the old one with rows appended: only the tail is read.
    let grown = format!("{PAID}25/10/2026,SYT,7.000.000.000\n28/10/2026,BQLGT,1.000.000.000\n");
    paid_with_etag(&server, &grown, "\"p2\"").await;
    let later = run("2026-10-29");
    assert_eq!(paid_sums(&later)["appended"]["rows"], 2, "{later}");
    // The figures of a run from no state.
    std::fs::remove_dir_all(p.path().join("var")).unwrap();
    let fresh = run("2026-10-29");
    assert_eq!(later.json()["units"], fresh.json()["units"]);
    assert_eq!(paid_sums(&fresh), "read");
}
