//! The read-only dashboard as a person sees it: the real `disbmon run` serving the bundled sample
//! after a run, loaded in a real headless browser (Debian's chromium, which `tests/run.sh`
//! installs), and read back over HTTP.

use crate::support::{free_port, http_get, http_request, repo, Daemon, Project};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The sample project (config, job, data) with its admin listener on `admin`, after one run.
fn sample(admin: u16, edit_units: impl FnOnce(String) -> String) -> (Project, serde_json::Value) {
    let p = Project::new();
    p.copy_from_repo("jobs/sample.toml")
        .copy_from_repo("jobs/sample");
    let config = std::fs::read_to_string(repo().join("config/disbmon.toml"))
        .unwrap()
        .replace("127.0.0.1:9187", &format!("127.0.0.1:{admin}"));
    p.write("config/disbmon.toml", &config);
    let units = std::fs::read_to_string(p.path().join("jobs/sample/don_vi.csv")).unwrap();
    p.write("jobs/sample/don_vi.csv", &edit_units(units));
    let run = p.run(&["once", "sample", "--as-of", "2026-10-31", "--json"]);
    run.expect_code(0);
    (p, run.json())
}

fn started(p: &Project, admin: u16) -> Daemon {
    let d = p.spawn_daemon(&[]);
    d.wait_for("the admin listener", 30, || {
        TcpStream::connect(("127.0.0.1", admin)).is_ok()
    });
    d
}

fn chromium() -> PathBuf {
    crate::support::browser::chromium()
}

/// Loads `url` in headless chromium: the DOM after load, and every console message and every
/// URL the browser requested, from its log.
struct Loaded {
    dom: String,
    console: Vec<String>,
    requested: Vec<String>,
}

fn browse(url: &str, screenshot: Option<&Path>) -> Loaded {
    let profile = tempfile::tempdir().unwrap();
    let base = |cmd: &mut Command| {
        // As the machine's notes advise: no background connections, a fresh profile.
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=1",
            "--window-size=1300,1900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()));
    };
    let mut cmd = Command::new(chromium());
    base(&mut cmd);
    cmd.arg("--dump-dom").arg(url);
    let out = cmd.output().expect("chromium runs");
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "chromium --dump-dom {url} failed\n{log}"
    );
    if let Some(file) = screenshot {
        let mut cmd = Command::new(chromium());
        base(&mut cmd);
        cmd.arg(format!("--screenshot={}", file.display())).arg(url);
        let shot = cmd.output().expect("chromium runs");
        assert!(
            shot.status.success() && file.is_file(),
            "chromium --screenshot {url} failed\n{}",
            String::from_utf8_lossy(&shot.stderr)
        );
    }
    Loaded {
        dom: String::from_utf8_lossy(&out.stdout).to_string(),
        console: log
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_string)
            .collect(),
        requested: log
            .lines()
            .filter_map(|l| l.split("NotifyBeforeURLRequest: ").nth(1))
            .map(|u| u.trim().to_string())
            .collect(),
    }
}

/// The text of each cell (`td` or `th`) of each body row of the table with this id, markup
/// stripped.
fn table_rows(dom: &str, id: &str) -> Vec<Vec<String>> {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table #{id} in the page:\n{dom}"));
    let table = &dom[start..];
    let table = &table[..table.find("</table>").unwrap()];
    let body = table.find("<tbody>").map(|b| &table[b..]).unwrap_or(table);
    body.split("<tr")
        .skip(1)
        .map(|row| {
            let mut cells = Vec::new();
            let mut rest = row;
            while let Some(at) = rest.find("<t") {
                let tag = &rest[at + 1..at + 3];
                rest = &rest[at + 3..];
                if tag != "td" && tag != "th" {
                    continue;
                }
                let open = rest.find('>').unwrap() + 1;
                let close = rest.find(&format!("</{tag}>")).unwrap();
                cells.push(strip(&rest[open..close]));
                rest = &rest[close..];
            }
            cells
        })
        .collect()
}

fn strip(html: &str) -> String {
    let mut out = String::new();
    let mut tag = false;
    for c in html.chars() {
        match c {
            '<' => tag = true,
            '>' => tag = false,
            c if !tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// "1.234,5" → 1234.5 (the pages write Vietnamese numbers).
fn vi_number(text: &str) -> f64 {
    text.trim_end_matches('%')
        .replace('.', "")
        .replace(',', ".")
        .replace('−', "-")
        .trim_start_matches('+')
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {text:?}"))
}

/// Every `src` and `href` in the page.
fn references(dom: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| dom.split(attr).skip(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

fn artifacts() -> PathBuf {
    let dir = repo().join("target").join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_job_and_unit_pages_show_the_runs_figures_in_a_real_browser() {
    let admin = free_port();
    let (p, report) = sample(admin, |u| u);
    let _d = started(&p, admin);
    let base = format!("http://127.0.0.1:{admin}");

    // The job page: the ranked table holds every unit with the run's figures.
    let shot = artifacts().join("job.png");
    let page = browse(&format!("{base}/jobs/sample"), Some(&shot));
    assert!(
        page.console.is_empty(),
        "console messages: {:?}",
        page.console
    );
    let rows = table_rows(&page.dom, "ranked");
    let units = report["units"].as_array().unwrap();
    assert_eq!(rows.len(), units.len(), "one row per unit:\n{rows:?}");
    for u in units {
        let id = u["unit_id"].as_str().unwrap();
        let row = rows
            .iter()
            .find(|r| r[1].ends_with(&format!(" {id}")))
            .unwrap_or_else(|| panic!("no row for {id}: {rows:?}"));
        assert!(
            row[1].starts_with(u["unit_name"].as_str().unwrap()),
            "{row:?}"
        );
        let billion = |key: &str| u[key].as_f64().unwrap() / 1e9;
        assert!(
            (vi_number(&row[2]) - billion("plan")).abs() < 0.0006,
            "plan of {id}: {row:?}"
        );
        assert!(
            (vi_number(&row[3]) - billion("disbursed")).abs() < 0.0006,
            "disbursed of {id}: {row:?}"
        );
        match u["rate_pct"].as_f64() {
            Some(rate) => {
                assert!(
                    (vi_number(&row[4]) - rate).abs() < 0.051,
                    "rate of {id}: {row:?}"
                );
                assert_eq!(row[0], u["rank"].to_string(), "rank of {id}");
            }
            None => assert_eq!(row[4], "–"),
        }
    }
    // Ranked best first, as the run ranked them.
    let first = &units[0];
    assert!(rows[0][1].ends_with(first["unit_id"].as_str().unwrap()));
    // Everything the page refers to is disbmon's own (no request leaves the machine), and each
    // was requested by the browser and answered. (The browser's own background requests, e.g.
    // its clock, are not the page's.)
    let referred = references(&page.dom);
    assert!(
        referred.iter().any(|r| r == "/static/style.css"),
        "{referred:?}"
    );
    for r in &referred {
        assert!(
            r.starts_with('/') && !r.starts_with("//"),
            "the page refers elsewhere: {r}"
        );
        let (status, head, body) = http_request(admin, "GET", &r.replace("&amp;", "&"));
        assert_eq!(status, 200, "{r}: {head}");
        assert!(!body.is_empty());
    }
    for loaded in [
        "/static/style.css",
        "/static/DejaVuSans.ttf",
        "/jobs/sample/chart.png",
    ] {
        assert!(
            page.requested
                .iter()
                .any(|u| u == &format!("{base}{loaded}")),
            "the browser did not load {loaded}: {:?}",
            page.requested
        );
    }
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "a screenshot of the page"
    );

    // A unit's page: its figures, its curve, every run and every email it was sent.
    let alerted = report["alerts"][0]["unit_id"].as_str().unwrap();
    let behind = units.iter().find(|u| u["unit_id"] == alerted).unwrap();
    let id = behind["unit_id"].as_str().unwrap();
    let shot = artifacts().join("unit.png");
    let page = browse(&format!("{base}/jobs/sample/units/{id}"), Some(&shot));
    assert!(
        page.console.is_empty(),
        "console messages: {:?}",
        page.console
    );
    assert!(page.dom.contains(behind["unit_name"].as_str().unwrap()));
    let figures = table_rows(&page.dom, "figures");
    let rate = figures.iter().find(|r| r[0].starts_with("Tỷ lệ")).unwrap();
    assert!(
        (vi_number(&rate[1]) - behind["rate_pct"].as_f64().unwrap()).abs() < 0.051,
        "{figures:?}"
    );
    let gap = figures
        .iter()
        .find(|r| r[0].starts_with("Chênh lệch"))
        .unwrap();
    assert!(
        vi_number(&gap[1]) < 0.0,
        "behind: the gap is negative, as Vietnamese reports show it: {gap:?}"
    );
    let history = table_rows(&page.dom, "history");
    assert_eq!(history.len(), 1, "one run so far: {history:?}");
    assert!(history[0][1].contains("31/10/2026"));
    let messages = table_rows(&page.dom, "messages");
    assert!(!messages.is_empty(), "the alert it was sent");
    assert!(
        messages.iter().all(|m| m[5].starts_with("đã gửi")),
        "{messages:?}"
    );
    assert!(page
        .requested
        .iter()
        .any(|u| u.contains(&format!("/units/{id}/curve.png"))));
    let (status, head, curve) =
        http_request(admin, "GET", &format!("/jobs/sample/units/{id}/curve.png"));
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: image/png")
            && curve.starts_with(b"\x89PNG")
    );

    // The unit's alert as its reader sees it: the HTML part in a browser, its chart in place.
    let eml = p
        .eml_files("var/outbox")
        .into_iter()
        .map(|f| crate::support::Received {
            raw: std::fs::read(f).unwrap(),
        })
        .find(|m| m.subject().contains(behind["unit_name"].as_str().unwrap()))
        .expect("the unit's alert as an .eml file");
    let (cid, picture) = eml.inline_pngs().remove(0);
    let (width, height, inked) = crate::support::decode_png(&picture);
    assert!(width >= 600 && height >= 300 && inked > 0.02);
    use base64::Engine;
    let html = eml.html().replace(
        &format!("cid:{cid}"),
        &format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&picture)
        ),
    );
    let file = artifacts().join("alert.html");
    std::fs::write(&file, html).unwrap();
    let page = browse(
        &format!("file://{}", file.display()),
        Some(&artifacts().join("alert.png")),
    );
    assert!(
        page.console.is_empty(),
        "console messages: {:?}",
        page.console
    );
    assert!(page.dom.contains("Kính gửi"));

    // English on request, Vietnamese by default.
    let (_, en) = http_get(admin, "/jobs/sample?lang=en");
    assert!(
        en.contains("Disbursement of the capital plan")
            && en.contains("href=\"/jobs/sample/units/"),
        "{en}"
    );
    assert!(en.contains("?lang=en"), "links keep the language");
    // The runs and the outbox pages.
    let (status, runs) = http_get(admin, "/jobs/sample/runs");
    assert_eq!(status, 200);
    assert_eq!(table_rows(&runs, "runs").len(), 1, "{runs}");
    let (status, outbox) = http_get(admin, "/outbox");
    assert_eq!(status, 200);
    assert!(
        outbox.contains("Không có thư nào đang chờ hoặc lỗi"),
        "everything was sent: {outbox}"
    );
    // Sorting without JavaScript: a column's link sorts by it.
    let (_, by_name) = http_get(admin, "/jobs/sample?sort=unit&dir=asc");
    let names: Vec<String> = table_rows(&by_name, "ranked")
        .iter()
        .map(|r| r[1].clone())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // Unknown things are 404s that say where to look; nothing changes state.
    let (status, body) = http_get(admin, "/jobs/nope");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no job `nope`"));
    assert_eq!(http_get(admin, "/jobs/sample/units/NOPE").0, 404);
    for path in ["/", "/jobs/sample", "/outbox"] {
        let (status, _, _) = http_request(admin, "POST", path);
        assert_eq!(
            status, 405,
            "POST {path} is refused: the dashboard is read-only"
        );
    }
}

#[test]
fn names_from_the_data_are_escaped_on_the_pages() {
    let admin = free_port();
    let (p, _) = sample(admin, |u| {
        u.replace(
            "Sở Dân tộc và Tôn giáo",
            "<script>console.error('x')</script><img src=//evil.example/a.png>",
        )
    });
    let _d = started(&p, admin);
    let page = browse(&format!("http://127.0.0.1:{admin}/jobs/sample"), None);
    assert!(
        page.console.is_empty(),
        "the name ran as a script: {:?}",
        page.console
    );
    assert!(
        page.dom.contains("&lt;script&gt;console.error"),
        "the name is shown as text"
    );
    assert!(
        page.requested.iter().all(|u| !u.contains("evil.example"))
            && references(&page.dom)
                .iter()
                .all(|r| !r.contains("evil.example")),
        "the name became an image: {:?}",
        page.requested
    );
}

#[test]
fn with_an_admin_token_the_pages_ask_for_it() {
    let admin = free_port();
    let (p, _) = sample(admin, |u| u);
    let config = std::fs::read_to_string(p.path().join("config/disbmon.toml"))
        .unwrap()
        .replace(
            "[admin]\n",
            "[admin]\ntoken_env = \"DISBMON_ADMIN_TOKEN\"\n",
        );
    p.write("config/disbmon.toml", &config);
    let _d = {
        let d = p.spawn_daemon(&[("DISBMON_ADMIN_TOKEN", "s3cret-token")]);
        d.wait_for("the admin listener", 30, || {
            TcpStream::connect(("127.0.0.1", admin)).is_ok()
        });
        d
    };
    let (status, head, _) = http_request(admin, "GET", "/jobs/sample");
    assert_eq!(status, 401);
    assert!(
        head.contains("Basic realm=\"disbmon\""),
        "a browser is asked for the token: {head}"
    );
    // A browser sends it as the password of HTTP Basic.
    let page = browse(
        &format!("http://user:s3cret-token@127.0.0.1:{admin}/jobs/sample"),
        None,
    );
    assert_eq!(table_rows(&page.dom, "ranked").len(), 40, "{}", page.dom);
}
