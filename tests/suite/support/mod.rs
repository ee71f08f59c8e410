//! Black-box test helpers: a temporary project folder that runs the real `disbmon` binary, a real
//! SMTP server (aiosmtpd) on loopback that stores what arrives, and a local HTTP server; and in
//! `browser`, a real headless Chromium that fills and submits forms.
#![allow(dead_code)]
// Black-box helpers wait for real child processes in real time; the clock rule is for src/.
#![allow(clippy::disallowed_methods)]

pub mod browser;
pub mod fixtures;

use mail_parser::{MessageParser, MimeHeaders};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A project on the config and job, SMTP at `smtp`, the job reading local files, with
/// `extra` job keys; no admin listener (tests run side by side), retries after 1 s.
pub fn local_project(smtp: u16, extra: &str) -> Project {
    use fixtures::{CONFIG, JOB, PAID, PLANS, UNITS};
    let p = Project::new();
    let config = CONFIG
        .replace("port = 2525", &format!("port = {smtp}"))
        .replace(
            "[mail]",
            "[admin]\nlisten = \"off\"\n\n[mail]\nretry_initial = \"1s\"",
        );
    let job = JOB
        .replace("http://127.0.0.1:8000/don_vi.csv", "don_vi.csv")
        .replace("http://127.0.0.1:8000/giai_ngan.csv", "giai_ngan.csv")
        .replace("plan_year = 2026", &format!("plan_year = 2026\n{extra}"));
    p.write("config/disbmon.toml", &config)
        .write("jobs/weekly.toml", &job)
        .write("jobs/ke_hoach.csv", PLANS)
        .write("jobs/don_vi.csv", UNITS)
        .write("jobs/giai_ngan.csv", PAID);
    p
}

/// `disbmon once weekly --as-of 2026-10-31 --json` with "now" pinned (the fixtures' job and day).
pub fn once(p: &Project, now: &str) -> Run {
    p.run_env(
        &["once", "weekly", "--as-of", "2026-10-31", "--json"],
        &[("DISBMON_NOW", now)],
    )
}

/// The project's state store (`var/`).
pub fn store(p: &Project) -> disbmon::store::db::Store {
    disbmon::store::db::Store::open(&p.path().join("var")).unwrap()
}

/// The binary under test: the one cargo built for this test run, or `DISBMON_TEST_BIN` (e.g. the
/// release build: `DISBMON_TEST_BIN=target/release/disbmon cargo test --test suite hostile::`).
pub fn bin() -> PathBuf {
    match std::env::var_os("DISBMON_TEST_BIN") {
        Some(p) => std::fs::canonicalize(&p)
            .unwrap_or_else(|e| panic!("DISBMON_TEST_BIN={}: {e}", PathBuf::from(&p).display())),
        None => PathBuf::from(env!("CARGO_BIN_EXE_disbmon")),
    }
}

/// A project folder with its own `config/` and `jobs/`.
pub struct Project {
    pub dir: tempfile::TempDir,
}

/// What one run of the binary did; `Display` shows everything for a failing assertion.
pub struct Run {
    pub command: String,
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{self}"))
    }
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), code, "unexpected exit code\n{self}");
        self
    }
    #[track_caller]
    pub fn expect_stdout(&self, part: &str) -> &Self {
        assert!(
            self.stdout().contains(part),
            "stdout lacks {part:?}\n{self}"
        );
        self
    }
    #[track_caller]
    pub fn expect_stderr(&self, part: &str) -> &Self {
        assert!(
            self.stderr().contains(part),
            "stderr lacks {part:?}\n{self}"
        );
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- command: {}\n--- exit: {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.command,
            self.output.status.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

impl Project {
    pub fn new() -> Project {
        let p = Project {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(p.path().join("config")).unwrap();
        std::fs::create_dir_all(p.path().join("jobs")).unwrap();
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) -> &Self {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// Copies a file or folder of the repository into the project.
    pub fn copy_from_repo(&self, rel: &str) -> &Self {
        copy(&repo().join(rel), &self.path().join(rel));
        self
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(bin());
        cmd.args(args).current_dir(self.path()).stdin(Stdio::null());
        for (k, _) in std::env::vars() {
            // The table fits the terminal: a width from the shell that runs the tests is not
            // the tests'.
            if k.starts_with("DISBMON_") || k == "COLUMNS" {
                cmd.env_remove(&k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let output = cmd.output().expect("the disbmon binary runs");
        let env_text: String = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        Run {
            command: format!(
                "cd {} && {env_text}disbmon {}",
                self.path().display(),
                args.join(" ")
            ),
            output,
        }
    }

    /// The `.eml` files written by the file transport into `rel`.
    pub fn eml_files(&self, rel: &str) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.path().join(rel))
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Python that has aiosmtpd: `DISBMON_TEST_PYTHON`, Debian's `/usr/bin/python3`, or `python3`.
fn python_with_aiosmtpd() -> String {
    let candidates: Vec<String> = std::env::var("DISBMON_TEST_PYTHON")
        .into_iter()
        .chain(["/usr/bin/python3".to_string(), "python3".to_string()])
        .collect();
    for py in &candidates {
        let ok = Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return py.clone();
        }
    }
    panic!(
        "no Python with aiosmtpd among {candidates:?}: the email tests need a real SMTP server. \
         Run the README's test command (it installs Debian's python3-aiosmtpd), or `pip install aiosmtpd`."
    );
}

/// A real SMTP server (aiosmtpd) on 127.0.0.1 that stores every message in a Maildir.
pub struct Smtp {
    child: Child,
    pub port: u16,
    maildir: tempfile::TempDir,
}

/// One message as it arrived.
pub struct Received {
    pub raw: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        MessageParser::default()
            .parse(&self.raw)
            .expect("a parseable message")
    }
    /// The SMTP envelope recipients (aiosmtpd's `X-RcptTo`).
    pub fn rcpt_to(&self) -> Vec<String> {
        let m = self.parsed();
        let mut v: Vec<String> = m
            .header_raw("X-RcptTo")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        v.sort();
        v
    }
    pub fn message_id(&self) -> String {
        self.parsed().message_id().unwrap_or_default().to_string()
    }
    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or_default().to_string()
    }
    pub fn text(&self) -> String {
        self.parsed().body_text(0).unwrap_or_default().into_owned()
    }
    pub fn html(&self) -> String {
        self.parsed().body_html(0).unwrap_or_default().into_owned()
    }
    pub fn header(&self, name: &str) -> String {
        self.parsed()
            .header_raw(name)
            .unwrap_or_default()
            .trim()
            .to_string()
    }
    /// Content types: the root's and each leaf part's, e.g. ["multipart/alternative", "text/plain", "text/html"].
    /// The inline PNG pictures: (Content-ID, bytes).
    pub fn inline_pngs(&self) -> Vec<(String, Vec<u8>)> {
        use mail_parser::MimeHeaders;
        let m = self.parsed();
        m.parts
            .iter()
            .filter(|p| {
                p.content_type()
                    .is_some_and(|c| c.ctype() == "image" && c.subtype() == Some("png"))
            })
            .map(|p| {
                (
                    p.content_id().unwrap_or_default().to_string(),
                    p.contents().to_vec(),
                )
            })
            .collect()
    }

    pub fn mime_types(&self) -> Vec<String> {
        let m = self.parsed();
        m.parts
            .iter()
            .filter_map(|p| {
                p.content_type()
                    .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
            })
            .collect()
    }
}

impl Smtp {
    pub fn start() -> Smtp {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Smtp {
        Self::start_with(port, &[])
    }

    /// STARTTLS required (`--tlscert/--tlskey`) or implicit TLS (`--smtpscert/--smtpskey`).
    pub fn start_tls(certs: &Certs, implicit: bool) -> Smtp {
        let (c, k) = if implicit {
            ("--smtpscert", "--smtpskey")
        } else {
            ("--tlscert", "--tlskey")
        };
        let cert = certs.leaf_cert.to_string_lossy().into_owned();
        let key = certs.leaf_key.to_string_lossy().into_owned();
        Self::start_with(free_port(), &[c, &cert, k, &key])
    }

    /// A server that requires AUTH with this user and password.
    pub fn start_auth(user: &str, password: &str) -> Smtp {
        let port = free_port();
        let script = repo().join("tests/suite/support/auth_smtpd.py");
        Self::spawn(port, |py, maildir| {
            let mut c = Command::new(py);
            c.arg(&script)
                .arg(port.to_string())
                .arg(maildir)
                .args([user, password]);
            c
        })
    }

    /// A server that refuses `reject` (550) and/or waits `delay_secs` over each message.
    pub fn start_custom(port: u16, reject: Option<&str>, delay_secs: f64) -> Smtp {
        let script = repo().join("tests/suite/support/custom_smtpd.py");
        Self::spawn(port, |py, maildir| {
            let mut c = Command::new(py);
            c.arg(&script).arg(port.to_string()).arg(maildir);
            if let Some(r) = reject {
                c.args(["--reject", r]);
            }
            c.args(["--delay", &delay_secs.to_string()]);
            c
        })
    }

    fn start_with(port: u16, extra: &[&str]) -> Smtp {
        Self::spawn(port, |py, maildir| {
            let mut c = Command::new(py);
            c.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
                .args(extra)
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(maildir);
            c
        })
    }

    fn spawn(port: u16, command: impl FnOnce(&str, &Path) -> Command) -> Smtp {
        let py = python_with_aiosmtpd();
        let maildir = tempfile::tempdir().unwrap();
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.path().join(sub)).unwrap();
        }
        let mut child = command(&py, maildir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the SMTP server starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                use std::io::Read;
                child.stderr.take().unwrap().read_to_string(&mut err).ok();
                panic!("aiosmtpd exited ({status}) before listening on {port}:\n{err}");
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on 127.0.0.1:{port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Smtp {
            child,
            port,
            maildir,
        }
    }

    /// Every message that has arrived, in no particular order.
    pub fn received(&self) -> Vec<Received> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(dir) = std::fs::read_dir(self.maildir.path().join(sub)) {
                for e in dir.flatten() {
                    out.push(Received {
                        raw: std::fs::read(e.path()).unwrap(),
                    });
                }
            }
        }
        out
    }

    /// Logical messages that arrived: one per Message-ID, whatever the number of recipients (the
    /// outbox sends each recipient its own copy).
    pub fn logical(&self) -> usize {
        let ids: std::collections::BTreeSet<String> =
            self.received().iter().map(|r| r.message_id()).collect();
        ids.len()
    }

    /// Every envelope recipient a logical message reached, sorted.
    pub fn recipients_of(&self, message_id: &str) -> Vec<String> {
        let bare = message_id.trim_matches(|c| c == '<' || c == '>');
        let mut v: Vec<String> = self
            .received()
            .iter()
            .filter(|r| r.message_id() == bare)
            .flat_map(|r| r.rcpt_to())
            .collect();
        v.sort();
        v
    }

    /// The message whose envelope includes `rcpt`, exactly one.
    #[track_caller]
    pub fn one_to(&self, rcpt: &str) -> Received {
        let mut found: Vec<Received> = self
            .received()
            .into_iter()
            .filter(|r| r.rcpt_to().iter().any(|t| t == rcpt))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected exactly one message to {rcpt}, got {}",
            found.len()
        );
        found.pop().unwrap()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A local HTTP server serving files (wiremock), on a chosen port or any free one.
pub async fn http_server(port: Option<u16>) -> wiremock::MockServer {
    match port {
        Some(p) => {
            let listener = std::net::TcpListener::bind(("127.0.0.1", p)).unwrap_or_else(|e| {
                panic!("cannot listen on 127.0.0.1:{p} for the HTTP source: {e}")
            });
            wiremock::MockServer::builder()
                .listener(listener)
                .start()
                .await
        }
        None => wiremock::MockServer::start().await,
    }
}

/// Serves `body` at `path` (GET), as many times as asked.
pub async fn serve(server: &wiremock::MockServer, path: &str, body: &str) {
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path(path))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_string(body)
                .insert_header("content-type", "text/csv"),
        )
        .mount(server)
        .await;
}

/// Serves an HTTP error status at `path`.
pub async fn fail(server: &wiremock::MockServer, path: &str, status: u16) {
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path(path))
        .respond_with(wiremock::ResponseTemplate::new(status))
        .mount(server)
        .await;
}

/// A test CA and a leaf certificate for 127.0.0.1 / localhost, made with the openssl command.
pub struct Certs {
    _dir: tempfile::TempDir,
    pub ca_cert: PathBuf,
    pub leaf_cert: PathBuf,
    pub leaf_key: PathBuf,
}

pub fn make_certs() -> Certs {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .expect("the openssl command runs");
        assert!(
            out.status.success(),
            "openssl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=disbmon test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    Certs {
        ca_cert: d.join("ca.pem"),
        leaf_cert: d.join("leaf.pem"),
        leaf_key: d.join("leaf.key"),
        _dir: dir,
    }
}

/// `disbmon run` in the background, its log in `run.log` of the project folder.
pub struct Daemon {
    pub child: Option<std::process::Child>,
    log: PathBuf,
    pub command: String,
}

impl Project {
    pub fn spawn_daemon(&self, env: &[(&str, &str)]) -> Daemon {
        let log = self.path().join(format!("run-{}.log", free_port()));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(bin());
        cmd.arg("run")
            .current_dir(self.path())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, _) in std::env::vars() {
            // The table fits the terminal: a width from the shell that runs the tests is not
            // the tests'.
            if k.starts_with("DISBMON_") || k == "COLUMNS" {
                cmd.env_remove(&k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("disbmon run starts");
        Daemon {
            child: Some(child),
            log,
            command: format!("cd {} && disbmon run", self.path().display()),
        }
    }
}

impl Daemon {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.as_ref().unwrap().id() as i32)
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(self.pid(), sig).unwrap();
    }

    /// Waits until `cond` holds (checked every 100 ms), or fails with the log.
    #[track_caller]
    pub fn wait_for(&self, what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "waited {secs} s for {what}\n--- command: {}\n--- log:\n{}",
                self.command,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the log contains `text`.
    #[track_caller]
    pub fn wait_log(&self, text: &str, secs: u64) {
        let log = self.log.clone();
        self.wait_for(&format!("the log to say {text:?}"), secs, || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(text)
        });
    }

    /// Waits for the process to exit and returns its code.
    #[track_caller]
    pub fn wait_exit(&mut self, secs: u64) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "disbmon run did not exit within {secs} s\n--- log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A plain HTTP GET on loopback, without a client library: (status, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let (status, _, body) = http_request(port, "GET", path);
    (status, String::from_utf8(body).expect("a text body"))
}

/// One request to 127.0.0.1:`port`: the status, the response head and the body's bytes.
pub fn http_request(port: u16, method: &str, path: &str) -> (u16, String, Vec<u8>) {
    http_send(port, method, path, &[], b"")
}

/// [`http_request`] with further headers and a body.
pub fn http_send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("the listener accepts");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    (status, head, body)
}

/// A PNG decoded: its width, height, and the share of pixels that are not white.
pub fn decode_png(bytes: &[u8]) -> (u32, u32, f64) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    // An indexed PNG read as the colours it shows.
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a bounded PNG")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    let channels = reader.output_color_type().0.samples();
    let pixels = buf[..info.buffer_size()].chunks(channels);
    let total = (info.width * info.height) as f64;
    let inked = pixels
        .filter(|p| p.iter().take(3).any(|c| *c < 240))
        .count() as f64;
    (info.width, info.height, inked / total)
}
