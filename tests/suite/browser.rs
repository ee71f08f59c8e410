//! The headless-browser harness (tests/suite/support/browser.rs) checked against a tiny HTTP server of
//! its own: a form filled and submitted as a person would, the body the server received echoed
//! back, and the status of the answer.

use crate::support::browser::Browser;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the server read it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    /// Lower-cased names.
    headers: HashMap<String, String>,
    body: String,
}

/// Serves the form at `/` and answers its POST to `/submit` with `post_status` and a page
/// listing the decoded fields, one `name=value` a line.
struct Server {
    origin: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn start(post_status: u16) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let log = Arc::clone(&log);
                // One thread a connection: Chromium opens spare connections it may never use,
                // and a server waiting on one of those would never answer the real request.
                std::thread::spawn(move || answer(conn, post_status, &log));
            }
        });
        Server { origin, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

const FORM: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Form</title></head>
<body>
<form method="post" action="/submit" enctype="application/x-www-form-urlencoded">
  <p><label>Name <input id="name" name="name" type="text"></label></p>
  <p><label><input id="agree" name="agree" type="checkbox" value="yes"> I agree</label>
     <label><input id="spam" name="spam" type="checkbox" value="please"> Send me offers</label></p>
  <p><select id="unit" name="unit">
    <option value="a">A</option><option value="b">B</option><option value="c">C</option>
  </select></p>
  <p><input id="amount" name="amount" type="number"></p>
  <p><input id="due" name="due" type="date"></p>
  <p><button id="send" type="submit">Send</button></p>
</form>
<script>console.log("form ready", 42)</script>
</body></html>
"#;

fn answer(conn: TcpStream, post_status: u16, log: &Mutex<Vec<Seen>>) {
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = BufReader::new(&conn);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body = String::from_utf8_lossy(&body).to_string();
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        headers,
        body: body.clone(),
    });
    let (status, page) = match (method.as_str(), path.as_str()) {
        ("GET", "/") => (200, FORM.to_string()),
        ("POST", "/submit") => {
            let items: String = decode_form(&body)
                .iter()
                .map(|(k, v)| format!("<li>{}={}</li>\n", escape(k), escape(v)))
                .collect();
            let page = format!(
                "<!doctype html><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>Echo</title>\n<ul id=\"echo\">\n{items}</ul>\n"
            );
            (post_status, page)
        }
        _ => (404, "<!doctype html><title>404</title>not here".to_string()),
    };
    let reason = match status {
        200 => "OK",
        403 => "Forbidden",
        _ => "Not Found",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        page.len()
    );
    let mut conn = conn;
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(page.as_bytes());
}

/// `application/x-www-form-urlencoded`, decoded: `+` is a space, then percent-escapes as UTF-8.
fn decode_form(body: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .expect("the form body is UTF-8")
            .to_string()
    };
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Non-ASCII, and each character the form encoding must escape.
const NAME: &str = "Nguyễn Văn A & co = 100%+";

/// What the filled form must send, in the form's order: the typed text, the checked box only, the
/// chosen option, the number, the date.
fn expected() -> Vec<(String, String)> {
    [
        ("name", NAME),
        ("agree", "yes"),
        ("unit", "c"),
        ("amount", "1234567"),
        ("due", "2026-10-31"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The `name=value` lines of the echo page, as the browser shows them.
fn echoed(b: &mut Browser) -> Vec<String> {
    b.text().lines().map(str::to_string).collect()
}

#[test]
fn a_form_filled_and_submitted_as_a_person_would_reaches_the_server() {
    let server = Server::start(200);
    let mut b = Browser::launch();
    b.set_extra_headers(&[("Authorization", "Basic YWRtaW46c2VjcmV0")]);
    b.goto(&format!("{}/", server.origin));
    assert_eq!(b.last_status(), Some(200));
    assert_eq!(b.url(), format!("{}/", server.origin));
    assert!(
        b.console()
            .contains(&"console.log: form ready 42".to_string()),
        "{:?}",
        b.console()
    );

    b.type_into("#name", NAME);
    b.click("#agree");
    b.select("#unit", "c");
    b.type_into("#amount", "1234567");
    b.type_into("#due", "2026-10-31");
    // Checked in the page before anything is sent, so that a failure tells a click or a choice
    // that did not take from a submission that lost it.
    let state = b.eval(
        "['agree', 'spam'].map(id => document.getElementById(id).checked)
            .concat([document.getElementById('unit').value])",
    );
    assert_eq!(state, serde_json::json!([true, false, "c"]));

    b.click_and_wait("#send");
    assert_eq!(b.url(), format!("{}/submit", server.origin));
    assert_eq!(b.last_status(), Some(200));
    let lines: Vec<String> = expected().iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(echoed(&mut b), lines, "the page:\n{}", b.html());

    let seen = server.seen();
    let posts: Vec<&Seen> = seen.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 1, "{seen:#?}");
    let post = posts[0];
    assert_eq!(post.path, "/submit");
    assert_eq!(decode_form(&post.body), expected(), "{post:#?}");
    assert_eq!(
        post.headers.get("origin"),
        Some(&server.origin),
        "a browser's form POST names its origin: {post:#?}"
    );
    assert_eq!(
        post.headers.get("content-type").map(String::as_str),
        Some("application/x-www-form-urlencoded")
    );
    for r in &seen {
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some("Basic YWRtaW46c2VjcmV0"),
            "every request carries the extra header: {r:#?}"
        );
    }
    assert!(
        !b.console()
            .iter()
            .any(|m| m.starts_with("exception") || m.starts_with("log.error")),
        "{:?}",
        b.console()
    );
}

#[test]
fn a_refused_post_shows_its_status() {
    let server = Server::start(403);
    let mut b = Browser::launch();
    b.goto(&format!("{}/", server.origin));
    assert_eq!(b.last_status(), Some(200));
    b.type_into("#name", "refused");
    b.click("#spam");
    b.click_and_wait("#send");
    assert_eq!(b.last_status(), Some(403));
    assert_eq!(b.url(), format!("{}/submit", server.origin));
    assert_eq!(
        echoed(&mut b),
        ["name=refused", "spam=please", "unit=a", "amount=", "due="]
    );
}
