//! Units answer their alerts: the real binary sends each lagging unit a signed link (the bundled
//! sample, mail through a real SMTP server), `disbmon run` serves the form on its own listener,
//! a real headless browser fills and sends it as a person would, and the unit's page, the next
//! alert and the digest show the answer and check the commitment. Forged, expired and reused
//! links, a post from another site or without the form's token, and a flood are refused.

use crate::support::browser::Browser;
use crate::support::{free_port, http_request, http_send, repo, Project, Smtp};
use base64::Engine;
use hmac::{Hmac, Mac};
use std::net::TcpStream;

const KEY: &str = "answers-signing-key-0123456789-abcdefghij";

/// The sample with mail to `smtp`, the admin listener on `admin` and answers on `answers`; its
/// schedule moved to 1 January so that the daemon serves pages and runs nothing by itself.
fn sample(smtp: u16, admin: u16, answers: u16) -> Project {
    let p = Project::new();
    p.copy_from_repo("jobs/sample");
    let job = std::fs::read_to_string(repo().join("jobs/sample.toml"))
        .unwrap()
        .replace("schedule = \"0 8 * * MON\"", "schedule = \"0 8 1 1 *\"");
    p.write("jobs/sample.toml", &job);
    let config = std::fs::read_to_string(repo().join("config/disbmon.toml"))
        .unwrap()
        .replace("127.0.0.1:9187", &format!("127.0.0.1:{admin}"))
        .replace("transport = \"file\"", "transport = \"smtp\"")
        .replace("port = 2525", &format!("port = {smtp}"))
        .replace(
            "[mail]\n",
            &format!(
                "[answers]\nlisten = \"127.0.0.1:{answers}\"\npublic_url = \"http://127.0.0.1:{answers}\"\nkey_env = \"DISBMON_ANSWER_KEY\"\nper_minute = 60\ntrusted_proxies = [\"127.0.0.1\"]\n\n[mail]\n"
            ),
        );
    p.write("config/disbmon.toml", &config);
    p
}

fn env(now: &str) -> [(&'static str, String); 2] {
    [
        ("DISBMON_ANSWER_KEY", KEY.to_string()),
        ("DISBMON_NOW", now.to_string()),
    ]
}

fn run(p: &Project, args: &[&str], now: &str) -> crate::support::Run {
    let e = env(now);
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    p.run_env(args, &pairs)
}

/// The answer link in a unit's alert (text part).
fn link_in(text: &str, port: u16) -> String {
    let prefix = format!("http://127.0.0.1:{port}/a/");
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no answer link in the alert:\n{text}"))
        .to_string()
}

/// A token signed with the job's key, as disbmon signs them, for a link that has expired.
fn signed(link: &serde_json::Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = serde_json::to_vec(link).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
    mac.update(&payload);
    format!(
        "{}.{}",
        b64.encode(&payload),
        b64.encode(mac.finalize().into_bytes())
    )
}

fn payload_of(token: &str) -> serde_json::Value {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = b64.decode(token.split('.').next().unwrap()).unwrap();
    serde_json::from_slice(&payload).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_unit_answers_in_a_browser_and_the_next_alert_and_the_digest_check_its_commitment() {
    let smtp = Smtp::start();
    let (admin, answers) = (free_port(), free_port());
    let p = sample(smtp.port, admin, answers);
    // The run of 31/10, on 2/11: X-YENCHAU is critically behind and gets a link.
    let first = run(
        &p,
        &["once", "sample", "--as-of", "2026-10-31"],
        "2026-11-02T08:00:00+07:00",
    );
    first.expect_code(0);
    let alert = smtp.one_to("yenchau@sonla.example.gov.vn");
    let url = link_in(&alert.text(), answers);
    // The HTML part links the same address ('/' written as an entity by the escaping).
    assert!(
        alert
            .html()
            .replace("&#x2f;", "/")
            .contains(&format!("href=\"{url}\"")),
        "{}",
        alert.html()
    );
    assert!(
        alert.text().contains("đến hết ngày 31/12/2026"),
        "{}",
        alert.text()
    );
    // Each unit's link is its own.
    let other = link_in(&smtp.one_to("cdsl@sonla.example.gov.vn").text(), answers);
    assert_ne!(url, other);
    let token = url.rsplit('/').next().unwrap().to_string();
    assert_eq!(payload_of(&token)["unit"], "X-YENCHAU");

    let e = env("2026-11-02T09:00:00+07:00");
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let d = p.spawn_daemon(&pairs);
    d.wait_for("the answers listener", 30, || {
        TcpStream::connect(("127.0.0.1", answers)).is_ok()
    });
    d.wait_for("the admin listener", 30, || {
        TcpStream::connect(("127.0.0.1", admin)).is_ok()
    });

    // A person opens the link, ticks two reasons, writes a note and a commitment, and sends it.
    let mut b = Browser::launch();
    b.goto(&url);
    assert_eq!(b.last_status(), Some(200), "{}", b.text());
    let page = b.text();
    assert!(page.contains("UBND xã Yên Châu"), "{page}");
    assert!(
        page.contains("Kế hoạch vốn") && page.contains("94,943"),
        "{page}"
    );
    // Nothing about any other unit.
    for other in ["Sở Xây dựng", "Trường Cao đẳng Sơn La", "Sở Y tế"] {
        assert!(!page.contains(other), "the form shows {other}:\n{page}");
    }
    let shots = crate::support::repo().join("target/answer-screenshots");
    b.screenshot(&shots.join("form.png"));
    b.click("#reason-gpmb");
    b.click("#reason-vat_lieu");
    b.type_into("#note", "Chờ phê duyệt phương án bồi thường đợt 2");
    b.type_into("#amount_1", "20");
    b.type_into("#due_1", "2026-11-15");
    b.click_and_wait("#send");
    assert_eq!(b.last_status(), Some(200), "{}", b.text());
    let done = b.text();
    assert!(done.contains("Đã ghi nhận"), "{done}");
    assert!(done.contains("Vướng mắc giải phóng mặt bằng"), "{done}");
    assert!(done.contains("20,000 tỷ đồng – 15/11/2026"), "{done}");
    b.screenshot(&shots.join("done.png"));

    // The same link again: refused, in the browser and by a replayed POST.
    b.goto(&url);
    assert_eq!(b.last_status(), Some(409), "{}", b.text());
    assert!(
        b.text().contains("each alert is answered once"),
        "{}",
        b.text()
    );

    // The unit's page on the dashboard shows the answer, with its time, address and link id.
    b.goto(&format!(
        "http://127.0.0.1:{admin}/jobs/sample/units/X-YENCHAU"
    ));
    let unit_page = b.text();
    assert!(
        unit_page.contains("Giải trình và cam kết của đơn vị"),
        "{unit_page}"
    );
    assert!(
        unit_page.contains("Giá, nguồn cung vật liệu"),
        "{unit_page}"
    );
    assert!(
        unit_page.contains("qua đường dẫn · 127.0.0.1"),
        "{unit_page}"
    );
    assert!(
        unit_page.contains("cam kết giải ngân thêm 20,000 tỷ đồng đến 15/11/2026"),
        "{unit_page}"
    );
    assert!(
        b.console().iter().all(|c| !c.starts_with("exception")),
        "{:?}",
        b.console()
    );
    drop(b);
    drop(d);

    // A week later, the run of 9/11: the reminder to the unit checks the commitment, and the
    // digest counts who answered.
    run(
        &p,
        &["once", "sample", "--as-of", "2026-11-09", "--json"],
        "2026-11-09T10:00:00+07:00",
    )
    .expect_code(0);
    let later: Vec<_> = smtp
        .received()
        .into_iter()
        .filter(|m| m.subject().contains("09/11/2026"))
        .collect();
    let reminder = later
        .iter()
        .find(|m| {
            m.rcpt_to()
                .iter()
                .any(|r| r == "yenchau@sonla.example.gov.vn")
        })
        .expect("X-YENCHAU is reminded a week later");
    let text = reminder.text();
    assert!(
        text.contains("Giải trình của đơn vị (ngày 02/11/2026)"),
        "{text}"
    );
    assert!(
        text.contains("cam kết giải ngân thêm 20,000 tỷ đồng đến 15/11/2026; từ ngày giải trình (02/11/2026) đã giải ngân thêm"),
        "{text}"
    );
    let digest = later
        .iter()
        .find(|m| m.subject().contains("Tổng hợp"))
        .expect("a digest");
    let text = digest.text();
    // The sample's answers source gave three units' letters; the form one more.
    let count = text
        .lines()
        .find(|l| l.contains("đơn vị chậm tiến độ đã giải trình"))
        .unwrap_or_else(|| panic!("no count of answers in the digest:\n{text}"));
    assert!(count.trim_start().starts_with("- 4/"), "{text}");
    assert!(text.contains("UBND xã Yên Châu: Nguyên nhân: Vướng mắc giải phóng mặt bằng; Giá, nguồn cung vật liệu"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_expired_reused_and_cross_site_answers_are_refused_and_a_flood_is_limited() {
    let smtp = Smtp::start();
    let (admin, answers) = (free_port(), free_port());
    let p = sample(smtp.port, admin, answers);
    run(
        &p,
        &["once", "sample", "--as-of", "2026-10-31"],
        "2026-11-02T08:00:00+07:00",
    )
    .expect_code(0);
    let url = link_in(&smtp.one_to("muongla@sonla.example.gov.vn").text(), answers);
    let token = url.rsplit('/').next().unwrap().to_string();
    let e = env("2026-11-02T09:00:00+07:00");
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let d = p.spawn_daemon(&pairs);
    d.wait_for("the answers listener", 30, || {
        TcpStream::connect(("127.0.0.1", answers)).is_ok()
    });
    let get = |t: &str| http_request(answers, "GET", &format!("/a/{t}"));

    // Forged: another unit's name in a payload with this unit's signature; a changed signature;
    // a link signed with another key.
    let mut other = payload_of(&token);
    other["unit"] = "SYT".into();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let swapped = format!(
        "{}.{}",
        b64.encode(serde_json::to_vec(&other).unwrap()),
        token.split('.').nth(1).unwrap()
    );
    let mut bent = token.clone();
    bent.pop();
    bent.push(if token.ends_with('A') { 'B' } else { 'A' });
    for forged in [swapped.as_str(), bent.as_str(), "not-a-token"] {
        let (status, _, body) = get(forged);
        assert_eq!(status, 403, "{forged}: {}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("not valid"));
    }
    // Expired: a link signed with the right key whose time has passed.
    let mut old = payload_of(&token);
    old["expires"] = 1_700_000_000.into();
    let (status, _, body) = get(&signed(&old));
    assert_eq!(status, 410, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("expired"));

    // The form sets its token in a cookie and a hidden field.
    let (status, head, body) = get(&token);
    assert_eq!(status, 200);
    let body = String::from_utf8(body).unwrap();
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no csrf field in the form:\n{body}"))
        .to_string();
    let head_lower = head.to_lowercase();
    // The cookie is the link's own: disbmon_csrf_<link id>=<token>.
    let cookie_name = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .strip_prefix("set-cookie: ")
                .map(|_| l[12..].to_string())
        })
        .and_then(|c| c.split('=').next().map(str::to_string))
        .unwrap_or_else(|| panic!("no cookie set:\n{head}"));
    assert!(cookie_name.starts_with("disbmon_csrf_"), "{head}");
    assert!(head_lower.contains("samesite=strict"), "{head}");
    assert!(
        head_lower.contains("referrer-policy: same-origin"),
        "{head}"
    );
    let form = format!("csrf={csrf}&reason=thu_tuc&amount_1=5&due_1=2026-11-30");
    let cookie = format!("{cookie_name}={csrf}");
    let post = |headers: &[(&str, &str)], body: &str| {
        let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
        h.extend_from_slice(headers);
        http_send(answers, "POST", &format!("/a/{token}"), &h, body.as_bytes())
    };
    // Without the cookie, with another site's origin, with a token of another link: refused.
    assert_eq!(post(&[], &form).0, 403);
    assert_eq!(
        post(
            &[("Cookie", &cookie), ("Origin", "https://evil.example")],
            &form
        )
        .0,
        403
    );
    let stranger = "0123456789abcdef.AAAA";
    assert_eq!(
        post(
            &[("Cookie", &format!("{cookie_name}={stranger}"))],
            &form.replace(&csrf, stranger)
        )
        .0,
        403
    );
    // A wrong answer names its field and records nothing.
    let (status, _, body) = post(&[("Cookie", &cookie)], &format!("csrf={csrf}&reason=khac"));
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("note: with the reason"));
    // A good one is recorded once; the same POST again is a reuse.
    let origin = format!("http://127.0.0.1:{answers}");
    // Through the department's proxy (trusted): the address it forwards for is the client's.
    let (status, _, body) = post(
        &[
            ("Cookie", &cookie),
            ("Origin", &origin),
            ("X-Forwarded-For", "203.0.113.7"),
        ],
        &form,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = post(&[("Cookie", &cookie), ("Origin", &origin)], &form);
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("was used on"));

    // A flood from one address: past `per_minute` (60), 429 with Retry-After.
    let statuses: Vec<(u16, String)> = (0..70)
        .map(|_| {
            let (s, h, _) = get("flood");
            (s, h)
        })
        .collect();
    let limited: Vec<_> = statuses.iter().filter(|(s, _)| *s == 429).collect();
    assert!(!limited.is_empty(), "no request was limited");
    assert!(limited[0].1.to_lowercase().contains("retry-after: 60"));
    // ... and a unit's own link still opens: the flood is counted against its sender.
    let other = link_in(&smtp.one_to("cdsl@sonla.example.gov.vn").text(), answers);
    assert_eq!(get(other.rsplit('/').next().unwrap()).0, 200);
    // One link, many requests: past `per_minute`, that link waits too.
    let mine: Vec<u16> = (0..70).map(|_| get(&token).0).collect();
    assert!(mine.contains(&429), "{mine:?}");
    drop(d);

    // The store holds exactly one answer for the unit, with its address and link id.
    let shown = http_unit_page(&p, admin);
    assert_eq!(
        shown.matches("Thủ tục đầu tư, điều chỉnh dự án").count(),
        1,
        "{shown}"
    );
    assert!(shown.contains("203.0.113.7"), "{shown}");
}

/// The unit's dashboard page, served by a fresh daemon (the store is what it shows).
fn http_unit_page(p: &Project, admin: u16) -> String {
    let e = env("2026-11-02T10:00:00+07:00");
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let d = p.spawn_daemon(&pairs);
    d.wait_for("the admin listener", 30, || {
        TcpStream::connect(("127.0.0.1", admin)).is_ok()
    });
    let (status, _, body) = http_request(admin, "GET", "/jobs/sample/units/X-MUONGLA");
    assert_eq!(status, 200);
    String::from_utf8(body).unwrap()
}

#[test]
fn an_answers_listener_without_a_signing_key_is_a_config_problem() {
    let p = sample(free_port(), free_port(), free_port());
    let r = p.run(&["check"]);
    r.expect_code(3)
        .expect_stderr("answers.key_env: the environment variable DISBMON_ANSWER_KEY is not set");
    let short = p.run_env(&["check"], &[("DISBMON_ANSWER_KEY", "short")]);
    short
        .expect_code(3)
        .expect_stderr("shorter than 32 characters");
    // The form and its cookie live at /a/ of the origin: a path in public_url would lose them.
    let config = std::fs::read_to_string(p.path().join("config/disbmon.toml")).unwrap();
    let with_path = config.replace(
        "public_url = \"http://127.0.0.1:",
        "public_url = \"https://giaingan.example.gov.vn/tra-loi#",
    );
    p.write("config/disbmon.toml", &with_path);
    p.run_env(&["check"], &[("DISBMON_ANSWER_KEY", KEY)])
        .expect_code(3)
        .expect_stderr("answers.public_url")
        .expect_stderr("without a path");
}

#[test]
fn bad_rows_of_the_answers_source_are_named_and_the_alerts_go_on() {
    let p = Project::new();
    p.copy_from_repo("config")
        .copy_from_repo("jobs/sample.toml")
        .copy_from_repo("jobs/sample");
    let letters = "Mã ĐV,Ngày,Nguyên nhân,Giải trình,Cam kết (tỷ đồng),Đến ngày\n\
        X-MUONGLA,20/10/2026,gpmb,,10,15/11/2026\n\
        NO-SUCH-UNIT,20/10/2026,gpmb,,10,15/11/2026\n\
        CDSL,21/10/2026,\u{1b}[31mbogus,,5,15/11/2026\n\
        SXD,21/10/2026,khac,,5,15/11/2026\n\
        SYT,22/10/2026,dau_thau,,-5,15/11/2026\n\
        SCT,22/10/2026,dau_thau,,5,31/02/2026\n";
    p.write("jobs/sample/giai_trinh.csv", letters);
    let run = p.run(&["once", "sample", "--as-of", "2026-10-31", "--json"]);
    // The answers say nothing of the figures: every alert still goes out.
    run.expect_code(0);
    let report = run.json();
    let issues: Vec<&serde_json::Value> = report["data_issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["source"] == "answers")
        .collect();
    let at = |row: u64| {
        issues
            .iter()
            .find(|i| i["row"] == row)
            .unwrap_or_else(|| panic!("no issue on row {row}: {issues:?}"))
    };
    assert_eq!(issues.len(), 5, "{issues:?}");
    assert_eq!(at(3)["column"], "Mã ĐV");
    assert_eq!(at(4)["column"], "Nguyên nhân");
    // A hostile cell is shown escaped, never as a terminal escape.
    assert!(
        !at(4)["value"].as_str().unwrap().contains('\u{1b}'),
        "{:?}",
        at(4)
    );
    assert!(
        at(5)["problem"].as_str().unwrap().contains("khac"),
        "{:?}",
        at(5)
    );
    assert_eq!(at(6)["column"], "Cam kết (tỷ đồng)");
    assert_eq!(at(7)["column"], "Đến ngày");
    assert!(report["alerts"].as_array().unwrap().len() >= 10);
    // The good letter is in the digest; the run's issues are listed there too.
    let digest = p
        .eml_files("var/outbox")
        .into_iter()
        .map(|f| crate::support::Received {
            raw: std::fs::read(f).unwrap(),
        })
        .find(|m| m.header("To").contains("lanhdao@"))
        .expect("a digest");
    let text = digest.text();
    assert!(
        text.contains("UBND xã Mường La: Nguyên nhân: Vướng mắc giải phóng mặt bằng"),
        "{text}"
    );
    assert!(text.contains("NO-SUCH-UNIT"), "{text}");
}
