//! A real headless Chromium driven over the Chrome DevTools Protocol (CDP), so that a test fills
//! and submits an HTML form as a person does: the field focused and the text typed, the mouse
//! pressed and released over the element where it is drawn, and the page the answer loads.
//!
//! Synchronous on purpose: one command in flight at a time over a blocking websocket, and every
//! event read while waiting is kept, so nothing the browser said is lost between two calls.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// How long any one step (start-up, a command's answer, a page load) may take. Generous: the
/// machine may be compiling on both of its cores while the tests run.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The chromium binary, found as tests/suite/dashboard.rs finds it (tests/run.sh installs it).
pub fn chromium() -> PathBuf {
    let candidates = [
        std::env::var("DISBMON_TEST_CHROMIUM").unwrap_or_default(),
        "/usr/bin/chromium".into(),
        "/usr/bin/chromium-browser".into(),
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("chromium is not installed: `bash tests/run.sh` installs it (apt-get install chromium), or set DISBMON_TEST_CHROMIUM")
}

/// One headless Chromium with one page (tab), killed when dropped.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    /// The flattened session of the page: page-level commands carry it, and its events too.
    session: String,
    /// The page's target id, which is also the id of its main frame.
    target: String,
    next_id: u64,
    /// Every event read, in order; waits look for what they need from a position in it on.
    events: Vec<Value>,
    console: Vec<String>,
    status: Option<u16>,
    /// Chromium's own log, drained by a thread so that a full pipe never stalls the browser.
    stderr: Arc<Mutex<Vec<String>>>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromium with a fresh profile and opens one blank page, ready to `goto`.
    pub fn launch() -> Browser {
        let binary = chromium();
        let profile = tempfile::tempdir().expect("a temporary profile folder for chromium");
        let mut cmd = Command::new(&binary);
        // No background connections, a fresh profile, the window size tests/suite/dashboard.rs uses.
        // Not its `--v=1`: that log was only for the URLs requested, which CDP reports instead.
        cmd.args([
            "--headless=new",
            "--remote-debugging-port=0",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-sync",
            "--disable-extensions",
            "--disable-component-update",
            "--disable-gpu",
            "--disable-quic",
            "--enable-logging=stderr",
            "--window-size=1300,1900",
            // The date field's order of day, month and year is the UI locale's: type_into types
            // a date in en-US order, so the locale is pinned to it.
            "--lang=en-US",
        ])
        .env("LANGUAGE", "en_US")
        .arg(format!("--user-data-dir={}", profile.path().display()));
        // Chromium will not run as root with its sandbox on; as anyone else, the sandbox stays.
        if running_as_root() {
            cmd.arg("--no-sandbox");
        }
        cmd.arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));

        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().expect("chromium's stderr is piped");
        let log = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("ws://") {
                    if line.contains("DevTools listening on") {
                        let _ = tx.send(line[at..].trim().to_string());
                    }
                }
                let mut log = log.lock().unwrap();
                // Only the end is ever shown; a browser left running must not grow without bound.
                if log.len() >= 2000 {
                    log.drain(..1000);
                }
                log.push(line);
            }
        });
        let ws_url = match rx.recv_timeout(TIMEOUT) {
            Ok(url) => url,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                // Give the drain thread a moment to read what a dying chromium printed last.
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "launching {}: no `DevTools listening on ws://...` line on its stderr ({}; exit: {status:?}); its stderr so far:\n{}",
                    binary.display(),
                    match e {
                        mpsc::RecvTimeoutError::Timeout => "timed out after 30 s",
                        mpsc::RecvTimeoutError::Disconnected => "stderr closed first",
                    },
                    stderr.lock().unwrap().join("\n")
                )
            }
        };

        let host = ws_url["ws://".len()..]
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let stream = TcpStream::connect(&host)
            .unwrap_or_else(|e| panic!("connecting to chromium's DevTools at {ws_url}: {e}"));
        stream.set_nodelay(true).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        let (ws, _) = tungstenite::client(ws_url.as_str(), stream).unwrap_or_else(|e| {
            panic!("the websocket handshake with chromium's DevTools at {ws_url}: {e}")
        });

        let mut b = Browser {
            child,
            ws,
            session: String::new(),
            target: String::new(),
            next_id: 0,
            events: Vec::new(),
            console: Vec::new(),
            status: None,
            stderr,
            _profile: profile,
        };
        let doing = "launch: opening a page";
        let created = b.command(
            false,
            "Target.createTarget",
            json!({"url": "about:blank"}),
            doing,
        );
        b.target = created["targetId"]
            .as_str()
            .unwrap_or_else(|| panic!("{doing}: Target.createTarget answered {created}"))
            .to_string();
        let attached = b.command(
            false,
            "Target.attachToTarget",
            json!({"targetId": b.target, "flatten": true}),
            doing,
        );
        b.session = attached["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("{doing}: Target.attachToTarget answered {attached}"))
            .to_string();
        // Log: what the console shows besides console.* calls (CSP violations, failed loads).
        for domain in ["Page", "Runtime", "Network", "Log"] {
            b.call(&format!("{domain}.enable"), json!({}), doing);
        }
        b
    }

    /// Loads `url` and waits for its load event.
    pub fn goto(&mut self, url: &str) {
        let doing = format!("goto({url})");
        let from = self.events.len();
        let nav = self.call("Page.navigate", json!({"url": url}), &doing);
        match nav["errorText"].as_str() {
            // A 4xx/5xx with an empty body: Chromium shows its own error page, and the status is
            // in last_status() for the test to judge.
            None | Some("net::ERR_HTTP_RESPONSE_CODE_FAILURE") => {}
            Some(err) => panic!("{doing}: the navigation failed: {err}{}", self.context()),
        }
        // No loader: a jump within the same document, which has no load event.
        if let Some(loader) = nav["loaderId"].as_str() {
            let loader = loader.to_string();
            self.wait_for_load(from, Some(&loader), &doing);
        }
    }

    /// Evaluates `js` in the page (a promise is awaited) and returns its value as JSON
    /// (`undefined` as null).
    pub fn eval(&mut self, js: &str) -> Value {
        let doing = format!("eval({js})");
        self.evaluate(js, &doing)
    }

    /// Focuses the element and types `text` into it, at the end of what it holds, as a keyboard
    /// would. A date field takes the date as the form sends it, `YYYY-MM-DD`, and is typed into
    /// digit by digit as a person fills its month, day and year. The other date-and-time fields
    /// (time, datetime-local, month, week), whose segments differ by locale, are set to `text` as
    /// the form sends it, with the `input` and `change` events a person's typing fires.
    pub fn type_into(&mut self, selector: &str, text: &str) {
        let doing = format!("type_into({selector:?}, {text:?})");
        let sel = js_string(selector);
        let found = self.evaluate(
            &format!(
                "(() => {{ const el = document.querySelector({sel});
                    if (!el) return {{state: 'missing'}};
                    el.scrollIntoView({{block: 'center', inline: 'center'}});
                    el.focus();
                    if (document.activeElement !== el) return {{state: 'unfocusable'}};
                    const type = el.tagName === 'INPUT' ? el.type : '';
                    if (el.setSelectionRange && ['', 'text', 'search', 'tel', 'url', 'password'].includes(type)
                        && typeof el.value === 'string') {{
                        el.setSelectionRange(el.value.length, el.value.length);
                    }}
                    return {{state: 'ok', type, before: el.value}}; }})()"
            ),
            &doing,
        );
        match found["state"].as_str() {
            Some("ok") => {}
            Some("missing") => panic!("{doing}: no element matches {selector:?}{}", self.context()),
            _ => panic!(
                "{doing}: {selector:?} cannot take the focus (disabled? hidden? not a field?){}",
                self.context()
            ),
        }
        let value = format!("document.querySelector({sel}).value");
        match found["type"].as_str().unwrap_or_default() {
            "date" => {
                let b = text.as_bytes();
                let iso = b.len() == 10
                    && b[4] == b'-'
                    && b[7] == b'-'
                    && [0, 1, 2, 3, 5, 6, 8, 9]
                        .iter()
                        .all(|&i| b[i].is_ascii_digit());
                if !iso {
                    panic!("{doing}: a date field is typed into with the date as the form sends it, YYYY-MM-DD");
                }
                let keys = format!("{}{}{}", &text[5..7], &text[8..10], &text[..4]);
                for key in keys.chars() {
                    let key = key.to_string();
                    self.call(
                        "Input.dispatchKeyEvent",
                        json!({"type": "keyDown", "key": key, "text": key}),
                        &doing,
                    );
                    self.call(
                        "Input.dispatchKeyEvent",
                        json!({"type": "keyUp", "key": key}),
                        &doing,
                    );
                }
                let now = self.evaluate(&value, &doing);
                if now.as_str() != Some(text) {
                    panic!(
                        "{doing}: after typing {keys} (month, day, year) the date field holds {now} (not a valid date? min/max?){}",
                        self.context()
                    );
                }
            }
            "time" | "datetime-local" | "month" | "week" => {
                let now = self.evaluate(
                    &format!(
                        "(() => {{ const el = document.querySelector({sel});
                            Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(el, {});
                            el.dispatchEvent(new Event('input', {{bubbles: true}}));
                            el.dispatchEvent(new Event('change', {{bubbles: true}}));
                            return el.value; }})()",
                        js_string(text)
                    ),
                    &doing,
                );
                if now.as_str() != Some(text) {
                    panic!(
                        "{doing}: the field refuses {text:?} (it holds {now}): give the value as the form sends it{}",
                        self.context()
                    );
                }
            }
            kind => {
                self.call("Input.insertText", json!({"text": text}), &doing);
                // A number field drops what is not a number, silently: the form would send "".
                if kind == "number" && !text.is_empty() {
                    let now = self.evaluate(
                        &format!("(el => [el.value, el.validity.badInput])(document.querySelector({sel}))"),
                        &doing,
                    );
                    if now[1] == json!(true) || now[0] == found["before"] {
                        panic!(
                            "{doing}: the number field refuses {text:?} as a number (it holds {}){}",
                            now[0],
                            self.context()
                        );
                    }
                }
            }
        }
    }

    /// Clicks the middle of the element with the mouse, as a person does: buttons, links,
    /// checkboxes, radio buttons. Panics if something else is drawn over that point.
    pub fn click(&mut self, selector: &str) {
        let doing = format!("click({selector:?})");
        let sel = js_string(selector);
        let at = self.evaluate(
            &format!(
                "(() => {{ const el = document.querySelector({sel});
                    if (!el) return {{missing: true}};
                    el.scrollIntoView({{block: 'center', inline: 'center'}});
                    const r = el.getBoundingClientRect();
                    const x = r.left + r.width / 2, y = r.top + r.height / 2;
                    const hit = document.elementFromPoint(x, y);
                    return {{x, y, w: r.width, h: r.height,
                        hit: hit === null || el.contains(hit) ? null : hit.outerHTML.slice(0, 200)}}; }})()"
            ),
            &doing,
        );
        if at["missing"] == json!(true) {
            panic!("{doing}: no element matches {selector:?}{}", self.context());
        }
        let (Some(x), Some(y)) = (at["x"].as_f64(), at["y"].as_f64()) else {
            panic!("{doing}: the element's position came back as {at}");
        };
        if at["w"].as_f64() == Some(0.0) || at["h"].as_f64() == Some(0.0) {
            panic!(
                "{doing}: the element has no size on screen (hidden?): {at}{}",
                self.context()
            );
        }
        if let Some(hit) = at["hit"].as_str() {
            panic!(
                "{doing}: a person clicking there would hit another element drawn over it: {hit}{}",
                self.context()
            );
        }
        for (kind, button, buttons) in [
            ("mouseMoved", "none", 0),
            ("mousePressed", "left", 1),
            ("mouseReleased", "left", 0),
        ] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": button, "buttons": buttons, "clickCount": 1}),
                &doing,
            );
        }
    }

    /// Chooses the option with this value in a `<select>` (CDP has no input for a drop-down):
    /// sets it and fires `input` and `change` as a person's choice does.
    pub fn select(&mut self, selector: &str, value: &str) {
        let doing = format!("select({selector:?}, {value:?})");
        let (sel, val) = (js_string(selector), js_string(value));
        let r = self.evaluate(
            &format!(
                "(() => {{ const el = document.querySelector({sel});
                    if (!el) return 'no element matches';
                    if (el.tagName !== 'SELECT') return 'not a <select>: ' + el.outerHTML.slice(0, 200);
                    const values = Array.from(el.options, o => o.value);
                    if (!values.includes({val})) return 'no such option; the options are ' + JSON.stringify(values);
                    el.focus();
                    el.value = {val};
                    el.dispatchEvent(new Event('input', {{bubbles: true}}));
                    el.dispatchEvent(new Event('change', {{bubbles: true}}));
                    return 'ok'; }})()"
            ),
            &doing,
        );
        if r.as_str() != Some("ok") {
            panic!(
                "{doing}: {}{}",
                r.as_str().unwrap_or_default(),
                self.context()
            );
        }
    }

    /// Clicks (a submit button, a link) and waits for the page that click loads.
    pub fn click_and_wait(&mut self, selector: &str) {
        let from = self.events.len();
        self.click(selector);
        let doing = format!("click_and_wait({selector:?})");
        self.wait_for_load(from, None, &doing);
        // Chromium's error page also stands for an error status with an empty body; that the
        // server answered at all is last_status() for the test to judge.
        let error_page = self.url().starts_with("chrome-error://");
        let ours = |e: &&Value| self.ours(e);
        let answered = self.events[from..].iter().filter(ours).any(|e| {
            e["method"] == "Network.responseReceived"
                && e["params"]["type"] == "Document"
                && e["params"]["frameId"].as_str() == Some(&self.target)
        });
        if error_page && !answered {
            let why = self.events[from..]
                .iter()
                .filter(ours)
                .filter(|e| {
                    e["method"] == "Network.loadingFailed" && e["params"]["type"] == "Document"
                })
                .filter_map(|e| e["params"]["errorText"].as_str())
                .last()
                .unwrap_or("(no reason given)");
            panic!(
                "{doing}: the browser showed its error page: {why}{}",
                self.context()
            );
        }
    }

    /// What the page shows as text (`document.body.innerText`).
    pub fn text(&mut self) -> String {
        let v = self.evaluate("document.body ? document.body.innerText : ''", "text()");
        v.as_str().unwrap_or_default().to_string()
    }

    /// The page's current DOM as HTML (`document.documentElement.outerHTML`).
    pub fn html(&mut self) -> String {
        let v = self.evaluate("document.documentElement.outerHTML", "html()");
        v.as_str().unwrap_or_default().to_string()
    }

    /// The page's address now (`location.href`).
    pub fn url(&mut self) -> String {
        let v = self.evaluate("location.href", "url()");
        v.as_str().unwrap_or_default().to_string()
    }

    /// The HTTP status of the last page (main document) the browser received; after a redirect,
    /// that of the page it ended on. An error status with an empty body is here too, though the
    /// browser shows its own error page for it.
    pub fn last_status(&self) -> Option<u16> {
        self.status
    }

    /// Headers sent with every request from now on (e.g. `Authorization`).
    pub fn set_extra_headers(&mut self, headers: &[(&str, &str)]) {
        let map: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let doing = format!("set_extra_headers({headers:?})");
        self.call(
            "Network.setExtraHTTPHeaders",
            json!({"headers": map}),
            &doing,
        );
    }

    /// Every console message, uncaught exception, browser log entry (a CSP violation, a failed
    /// load) and dialog of the page so far, one line each: `console.log: ...`,
    /// `exception: ...`, `log.error: ...`, `dialog.confirm: ...`.
    pub fn console(&self) -> &[String] {
        &self.console
    }

    /// Saves what the page shows (the whole page, at the window's width) as a PNG.
    pub fn screenshot(&mut self, path: &std::path::Path) {
        use base64::Engine;
        let doing = format!("screenshot({})", path.display());
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
            &doing,
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{doing}: not base64: {e}"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{doing}: {e}"));
    }

    /// Every CDP event read so far, in order, as the browser sent it.
    pub fn events(&self) -> &[Value] {
        &self.events
    }

    fn evaluate(&mut self, js: &str, doing: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true, "awaitPromise": true, "userGesture": true}),
            doing,
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!(
                "{doing}: the script threw: {}{}",
                exception_text(ex),
                self.context()
            );
        }
        r["result"]["value"].clone()
    }

    /// A page-level command, in the page's session.
    fn call(&mut self, method: &str, params: Value, doing: &str) -> Value {
        self.command(true, method, params, doing)
    }

    /// Sends one command and reads until its answer, keeping every event read on the way.
    fn command(&mut self, in_page: bool, method: &str, params: Value, doing: &str) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut sent = json!({"id": id, "method": method, "params": params});
        if in_page {
            sent["sessionId"] = json!(self.session);
        }
        if let Err(e) = self.ws.send(Message::text(sent.to_string())) {
            panic!(
                "{doing}: sending {method} to chromium: {e}{}",
                self.context_and_log()
            );
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let Some(msg) = self.read(deadline, doing) else {
                panic!(
                    "{doing}: no answer to {method} within {} s{}",
                    TIMEOUT.as_secs(),
                    self.context_and_log()
                );
            };
            if msg["id"].as_u64() != Some(id) {
                continue;
            }
            if let Some(err) = msg.get("error") {
                panic!(
                    "{doing}: {method} {} failed: {err}{}",
                    sent["params"],
                    self.context()
                );
            }
            return msg["result"].clone();
        }
    }

    /// Reads events until a main-frame navigation (of `loader`, if given) committed after
    /// `events[from]` has had its load event.
    fn wait_for_load(&mut self, from: usize, loader: Option<&str>, doing: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while !self.loaded_since(from, loader) {
            if self.read(deadline, doing).is_none() {
                panic!(
                    "{doing}: the page did not finish loading within {} s{}",
                    TIMEOUT.as_secs(),
                    self.context_and_log()
                );
            }
        }
    }

    fn loaded_since(&self, from: usize, loader: Option<&str>) -> bool {
        let mut navigated = false;
        for ev in self.events[from..].iter().filter(|e| self.ours(e)) {
            match ev["method"].as_str() {
                Some("Page.frameNavigated") => {
                    let frame = &ev["params"]["frame"];
                    // A load event is the page's own only once its main frame has committed the
                    // navigation: one still arriving from the page before must not count.
                    if frame.get("parentId").is_none()
                        && loader.is_none_or(|l| frame["loaderId"].as_str() == Some(l))
                    {
                        navigated = true;
                    }
                }
                Some("Page.loadEventFired") if navigated => return true,
                _ => {}
            }
        }
        false
    }

    fn ours(&self, ev: &Value) -> bool {
        ev["sessionId"].as_str() == Some(self.session.as_str())
    }

    /// The next message from the browser, or None at the deadline. Events are kept and noted.
    fn read(&mut self, deadline: Instant, doing: &str) -> Option<Value> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.ws.get_mut().set_read_timeout(Some(left)).unwrap();
            let text = match self.ws.read() {
                Ok(Message::Text(t)) => t.to_string(),
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => panic!(
                    "{doing}: reading from chromium's DevTools: {e} (did chromium die?){}",
                    self.context_and_log()
                ),
            };
            let msg: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{doing}: chromium sent non-JSON ({e}): {text}"));
            if msg.get("method").is_some() {
                if msg["method"] == "Inspector.targetCrashed" && self.ours(&msg) {
                    panic!("{doing}: the page crashed{}", self.context_and_log());
                }
                self.note(&msg);
                self.events.push(msg.clone());
            }
            return Some(msg);
        }
    }

    /// Keeps what tests ask about afterwards from the page's events.
    fn note(&mut self, ev: &Value) {
        if !self.ours(ev) {
            return;
        }
        let p = &ev["params"];
        match ev["method"].as_str().unwrap_or_default() {
            "Runtime.consoleAPICalled" => {
                let args: Vec<String> = p["args"]
                    .as_array()
                    .map(|a| a.iter().map(remote_text).collect())
                    .unwrap_or_default();
                self.console.push(format!(
                    "console.{}: {}",
                    p["type"].as_str().unwrap_or("log"),
                    args.join(" ")
                ));
            }
            "Runtime.exceptionThrown" => {
                let what = exception_text(&p["exceptionDetails"]);
                self.console.push(format!("exception: {what}"));
            }
            // The browser's own request for /favicon.ico, not the page's, fails on a server
            // without one at no predictable moment: left out, so a test can ask for a console
            // free of errors without racing it.
            "Log.entryAdded"
                if p["entry"]["source"] == "network"
                    && p["entry"]["url"]
                        .as_str()
                        .is_some_and(|u| u.ends_with("/favicon.ico")) => {}
            "Log.entryAdded" => {
                let e = &p["entry"];
                let url = e["url"]
                    .as_str()
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default();
                self.console.push(format!(
                    "log.{}: {}{url}",
                    e["level"].as_str().unwrap_or_default(),
                    e["text"].as_str().unwrap_or_default()
                ));
            }
            "Network.responseReceived"
                if p["type"] == "Document" && p["frameId"].as_str() == Some(&self.target) =>
            {
                self.status = p["response"]["status"].as_u64().map(|s| s as u16);
            }
            "Page.javascriptDialogOpening" => {
                // An unanswered alert or confirm blocks the page, and every later step with it:
                // answer OK, as the person the test plays would, and keep it for the test to see.
                self.console.push(format!(
                    "dialog.{}: {}",
                    p["type"].as_str().unwrap_or_default(),
                    p["message"].as_str().unwrap_or_default()
                ));
                self.next_id += 1;
                let accept = json!({"id": self.next_id, "sessionId": self.session,
                    "method": "Page.handleJavaScriptDialog", "params": {"accept": true}});
                let _ = self.ws.send(Message::text(accept.to_string()));
            }
            _ => {}
        }
    }

    /// For a failure message: where the page is, what happened lately, what it logged.
    fn context(&self) -> String {
        let recent: Vec<&str> = self.events[self.events.len().saturating_sub(12)..]
            .iter()
            .filter_map(|e| e["method"].as_str())
            .collect();
        let url = self
            .events
            .iter()
            .rev()
            .find(|e| {
                self.ours(e)
                    && e["method"] == "Page.frameNavigated"
                    && e["params"]["frame"].get("parentId").is_none()
            })
            .and_then(|e| e["params"]["frame"]["url"].as_str())
            .unwrap_or("about:blank");
        format!(
            "\n  page: {url} (last status {:?})\n  last events: {recent:?}\n  console: {:#?}",
            self.status, self.console,
        )
    }

    /// The context, and the end of chromium's own log: for a browser that stopped answering.
    fn context_and_log(&self) -> String {
        let log = self.stderr.lock().unwrap();
        // Headless chromium complains of the missing D-Bus all along; it never explains a hang.
        let lines: Vec<&str> = log
            .iter()
            .map(String::as_str)
            .filter(|l| !l.contains("dbus"))
            .collect();
        format!(
            "{}\n  chromium's stderr (end):\n{}",
            self.context(),
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closed over CDP first, chromium reaps its own renderer and GPU processes; killed
        // outright, it leaves them to init, which in a container may never reap them.
        self.next_id += 1;
        let close = json!({"id": self.next_id, "method": "Browser.close"});
        if self.ws.send(Message::text(close.to_string())).is_ok() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JavaScript string literal of `s` (JSON's is one).
fn js_string(s: &str) -> String {
    Value::from(s).to_string()
}

/// An exception as the console shows it: its message and stack (else the bare "Uncaught"), and
/// where it was thrown.
fn exception_text(details: &Value) -> String {
    let what = details["exception"]["description"]
        .as_str()
        .or(details["text"].as_str())
        .unwrap_or_default();
    let line = details["lineNumber"].as_u64().unwrap_or_default() + 1;
    let column = details["columnNumber"].as_u64().unwrap_or_default() + 1;
    match details["url"].as_str() {
        Some(url) => format!("{what} ({url}:{line}:{column})"),
        None => what.to_string(),
    }
}

/// A console argument as the console shows it.
fn remote_text(obj: &Value) -> String {
    match &obj["value"] {
        Value::String(s) => s.clone(),
        Value::Null => obj["unserializableValue"]
            .as_str()
            .or(obj["description"].as_str())
            .or(obj["type"].as_str())
            .unwrap_or_default()
            .to_string(),
        v => v.to_string(),
    }
}

/// Linux only, as is chromium's sandbox rule: the effective uid from /proc.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let uid = s.lines().find(|l| l.starts_with("Uid:"))?;
            Some(uid.split_whitespace().nth(2)? == "0")
        })
        .unwrap_or(false)
}
