//! The answer form: each alert carries a link signed for that unit and that alert
//! (`domain::link`), valid until the next milestone, to a small form on a listener of its own
//! (never the admin listener). The form shows the unit its own figures only and records its
//! reasons and its commitments (`domain::answer`), once per link.
//!
//! Safe by construction: a link that does not verify is refused without touching the store; a
//! used link is refused (the store's unique link id makes this hold across processes); a POST
//! needs the CSRF token set with the form (cookie and field must agree, `SameSite=Strict`) and an
//! `Origin`, when the browser sends one, of the form's own address; each address is limited to
//! `per_minute` requests.

use crate::base::clock::Clock;
use crate::config::daemon::AnswersConfig;
use crate::domain::answer::{check, NewAnswer, Problem, ReasonCode, Via, MAX_COMMITMENTS};
use crate::domain::link::{Link, LinkError, Signer};
use crate::domain::money::{
    format_billion, format_date, format_pct_opt, AmountUnit, Language, NumberFormat,
};
use crate::store::db::Store;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use minijinja::{context, Environment};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// A job's language and time zone by name, as the daemon knows them.
pub type Jobs = Arc<dyn Fn(&str) -> Option<(Language, chrono_tz::Tz)> + Send + Sync>;

struct Form {
    store: Arc<Store>,
    signer: Signer,
    clock: Arc<dyn Clock>,
    per_minute: u32,
    /// Requests per key (a link, or an address with a bad link) in the current minute.
    seen: Mutex<Seen>,
    /// The origin units' browsers post from (scheme, host, port of `public_url`).
    origin: String,
    /// `public_url` is https: the cookie is `Secure`.
    secure: bool,
    /// Proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: Vec<IpAddr>,
    templates: Environment<'static>,
    /// Each job's language and zone, as the daemon knows them.
    jobs: Jobs,
}

/// The origin of an address: `https://host:port` without a path.
fn origin_of(url: &str) -> String {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            let host = rest.split('/').next().unwrap_or(rest);
            format!("{}{host}", &url[..i + 3])
        }
        None => url.to_string(),
    }
}

/// Serves the answer form until the listener fails. `language` gives a job's language.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: &AnswersConfig,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    jobs: Jobs,
) {
    let mut templates = Environment::new();
    templates.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    templates
        .add_template(
            "answer.html",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/templates/answers/answer.html"
            )),
        )
        .expect("the embedded answer template parses");
    let state = Arc::new(Form {
        store,
        signer: config.signer(),
        clock,
        per_minute: config.per_minute,
        seen: Mutex::new(Seen::default()),
        origin: origin_of(&config.public_url),
        secure: config.public_url.starts_with("https://"),
        trusted_proxies: config.trusted_proxies.clone(),
        templates,
        jobs,
    });
    let app = Router::new()
        .route("/a/{token}", get(open).post(submit))
        // The admin listener's bound: a client that stalls is answered 503 and let go.
        .layer(axum::middleware::from_fn(crate::web::http::bounded))
        .with_state(state);
    let e = crate::web::http::serve(listener, app).await;
    tracing::error!("the answers listener stopped: {e}");
}

/// Requests counted in the current minute, by key; emptied when the minute turns.
#[derive(Default)]
struct Seen {
    minute: i64,
    counts: HashMap<String, u32>,
}

/// At most this many keys are counted in a minute; past it, new keys wait for the next minute.
const MAX_KEYS: usize = 100_000;

/// The key an address is counted under: IPv6 by its /64 (one host holds a whole /64), IPv4 (and
/// IPv4-mapped IPv6) by itself.
fn address_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

impl Form {
    /// False when `key` has had `per_minute` requests in this minute already. A unit's link is
    /// counted by itself, so that a flood of bad links from anywhere cannot lock a unit out.
    fn admit(&self, key: &str) -> bool {
        let minute = self.clock.now().timestamp() / 60;
        // A poisoned lock only means a panic elsewhere: the counts are still counts.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.minute != minute {
            seen.minute = minute;
            seen.counts.clear();
        }
        if seen.counts.len() >= MAX_KEYS && !seen.counts.contains_key(key) {
            return false;
        }
        let n = seen.counts.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        *n <= self.per_minute
    }

    /// The client: the peer, or behind a trusted proxy the last address it forwarded for.
    fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.ip().to_canonical();
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .map(|a| a.to_canonical())
            .rfind(|a| !self.trusted_proxies.contains(a))
            .unwrap_or(peer)
    }

    /// The job's zone, for "today" and the times shown.
    fn zone(&self, link: &Link) -> chrono_tz::Tz {
        (self.jobs)(&link.job)
            .map(|(_, z)| z)
            .unwrap_or(chrono_tz::Asia::Ho_Chi_Minh)
    }

    fn page(
        &self,
        status: StatusCode,
        lang: Language,
        ctx: minijinja::Value,
        cookie: Option<String>,
    ) -> Response {
        let body = self
            .templates
            .get_template("answer.html")
            // The page's three forms (refused, done, the form) each set their own flag.
            .and_then(|t| {
                // Later maps win: the page's own values over the defaults.
                t.render(minijinja::value::merge_maps([
                    context! { refused => (), done => false },
                    context! { lang => lang.code(), vi => lang == Language::Vi },
                    ctx,
                ]))
            })
            .unwrap_or_else(|e| format!("the answer page could not be rendered: {e}"));
        let mut headers = HeaderMap::new();
        let set = |h: &mut HeaderMap, k: header::HeaderName, v: &str| {
            if let Ok(v) = v.parse() {
                h.insert(k, v);
            }
        };
        set(
            &mut headers,
            header::CONTENT_TYPE,
            "text/html; charset=utf-8",
        );
        set(&mut headers, header::CACHE_CONTROL, "no-store");
        // The link is a credential: it must not leak to another site through the Referer.
        // ("no-referrer" would also make the browser send `Origin: null` with the form.)
        set(&mut headers, header::REFERRER_POLICY, "same-origin");
        set(&mut headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        set(
            &mut headers,
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        );
        if let Some(c) = cookie {
            set(&mut headers, header::SET_COOKIE, &c);
        }
        (status, headers, body).into_response()
    }

    fn refused(&self, status: StatusCode, lang: Language, why: &str) -> Response {
        self.page(status, lang, context! { refused => why }, None)
    }

    /// The link, checked: signed, not expired, not used.
    fn link(&self, token: &str) -> Result<Link, (StatusCode, LinkError)> {
        let link = self
            .signer
            .verify(token, self.clock.now())
            .map_err(|e| match e {
                LinkError::Expired(_) => (StatusCode::GONE, e),
                _ => (StatusCode::FORBIDDEN, e),
            })?;
        match self.store.link_used(&link.id) {
            Ok(Some(at)) => Err((
                StatusCode::CONFLICT,
                LinkError::Used(
                    at.with_timezone(&self.zone(&link))
                        .format("%d/%m/%Y %H:%M")
                        .to_string(),
                ),
            )),
            _ => Ok(link),
        }
    }

    fn language(&self, link: Option<&Link>) -> Language {
        link.and_then(|l| (self.jobs)(&l.job))
            .map(|(lang, _)| lang)
            .unwrap_or_default()
    }

    /// The unit's own figures in the link's plan year, from the latest run that measured it:
    /// nothing about any other unit. None before any run did (then there is nothing to answer
    /// against).
    fn figures(&self, link: &Link, lang: Language) -> Option<(String, minijinja::Value, i64)> {
        let (as_of, f) = self
            .store
            .unit_figures(&link.job, &link.unit, link.plan_year)
            .ok()
            .flatten()?;
        let name = self
            .store
            .unit_detail(&link.job, &link.unit)
            .ok()
            .flatten()
            .map(|d| d.name)
            .unwrap_or_else(|| link.unit.to_string());
        let figures = context! {
            as_of => format_date(as_of),
            plan => format_billion(f.plan, lang),
            disbursed => format_billion(f.disbursed, lang),
            rate => format_pct_opt(f.rate, lang),
            expected => crate::domain::money::format_pct(f.expected, lang),
        };
        Some((name, context! { figures }, f.disbursed))
    }

    fn form(
        &self,
        link: &Link,
        token: &str,
        lang: Language,
        problems: &[Problem],
        given: Option<&Given>,
    ) -> Response {
        let nonce: String = {
            let mut b = [0u8; 16];
            if getrandom::getrandom(&mut b).is_err() {
                return self.refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    lang,
                    "no randomness available; try again",
                );
            }
            b.iter().map(|x| format!("{x:02x}")).collect()
        };
        let csrf = self.signer.csrf(&link.id, &nonce);
        let Some((name, figures, _)) = self.figures(link, lang) else {
            return self.refused(
                StatusCode::SERVICE_UNAVAILABLE,
                lang,
                "this unit's figures are not available yet; try again later",
            );
        };
        let reasons: Vec<minijinja::Value> = ReasonCode::ALL
            .iter()
            .map(|code| {
                context! {
                    code => code.as_str(),
                    label => code.label(lang),
                    checked => given.is_some_and(|g| g.reasons.iter().any(|r| r == code.as_str())),
                }
            })
            .collect();
        let commitments: Vec<minijinja::Value> = (0..MAX_COMMITMENTS)
            .map(|i| {
                let (a, d) = given
                    .and_then(|g| g.commitments.get(i).cloned())
                    .unwrap_or_default();
                context! { n => i + 1, amount => a, due => d }
            })
            .collect();
        // One cookie per link, so that two forms open side by side do not undo each other.
        let cookie = format!(
            "{}={csrf}; Path=/a/; HttpOnly; SameSite=Strict; Max-Age=7200{}",
            cookie_name(&link.id),
            if self.secure { "; Secure" } else { "" }
        );
        self.page(
            if problems.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY },
            lang,
            context! {
                form => true,
                name,
                unit => link.unit.clone(),
                plan_year => link.plan_year,
                action => format!("/a/{token}"),
                csrf,
                reasons,
                commitments,
                note => given.map(|g| g.note.clone()).unwrap_or_default(),
                problems => problems.iter().map(|p| format!("{}: {}", p.field, p.problem)).collect::<Vec<_>>(),
                ..figures
            },
            Some(cookie),
        )
    }
}

/// What the form sent.
#[derive(Debug, Default)]
struct Given {
    reasons: Vec<String>,
    note: String,
    commitments: Vec<(String, String)>,
    csrf: String,
}

/// The CSRF cookie of one link.
fn cookie_name(link_id: &str) -> String {
    format!("disbmon_csrf_{link_id}")
}

/// The link of a request, once it is admitted: a valid link counts against itself, a bad one
/// against its sender's address.
fn admitted(
    f: &Form,
    token: &str,
    addr: SocketAddr,
    headers: &HeaderMap,
) -> Result<Link, Box<Response>> {
    let ip = f.client(addr, headers);
    let checked = f.link(token);
    let key = match &checked {
        Ok(link) => format!("link:{}", link.id),
        Err(_) => address_key(ip),
    };
    if !f.admit(&key) {
        return Err(Box::new(too_many()));
    }
    checked.map_err(|(status, e)| Box::new(f.refused(status, f.language(None), &e.to_string())))
}

async fn open(
    State(f): State<Arc<Form>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    match admitted(&f, &token, addr, &headers) {
        Ok(link) => {
            let lang = f.language(Some(&link));
            f.form(&link, &token, lang, &[], None)
        }
        Err(refused) => *refused,
    }
}

fn too_many() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, "60")],
        "too many requests from this address; wait a minute and try again\n",
    )
        .into_response()
}

async fn submit(
    State(f): State<Arc<Form>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let ip = f.client(addr, &headers);
    let link = match admitted(&f, &token, addr, &headers) {
        Ok(l) => l,
        Err(refused) => return *refused,
    };
    let lang = f.language(Some(&link));
    // A browser says where a POST comes from; only the form's own address (`public_url`) is ours.
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if !origin.eq_ignore_ascii_case(&f.origin) {
            return f.refused(StatusCode::FORBIDDEN, lang, "this form was sent from another site; open the link from your email and send the form from there");
        }
    }
    let mut given = Given::default();
    let mut amounts: HashMap<usize, (String, String)> = HashMap::new();
    if body.len() > 64 * 1024 {
        return f.refused(StatusCode::PAYLOAD_TOO_LARGE, lang, "the form is too large");
    }
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "reason" => given.reasons.push(v.into_owned()),
            "note" => given.note = v.into_owned(),
            "csrf" => given.csrf = v.into_owned(),
            other => {
                if let Some((what, n)) = other.split_once('_') {
                    if let Ok(n) = n.parse::<usize>() {
                        if (1..=MAX_COMMITMENTS).contains(&n) {
                            let e = amounts.entry(n).or_default();
                            match what {
                                "amount" => e.0 = v.into_owned(),
                                "due" => e.1 = v.into_owned(),
                                _ => {}
                            }
                        }
                    }
                }
            }
        }
    }
    let mut keys: Vec<usize> = amounts.keys().copied().collect();
    keys.sort();
    given.commitments = keys
        .into_iter()
        .filter_map(|k| amounts.remove(&k))
        .collect();
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|c| c.to_str().ok())
        .flat_map(|c| c.split(';'))
        .filter_map(|c| {
            c.trim()
                .strip_prefix(&cookie_name(&link.id))
                .and_then(|c| c.strip_prefix('='))
        })
        .next()
        .unwrap_or("");
    if given.csrf.is_empty() || cookie != given.csrf || !f.signer.csrf_ok(&link.id, &given.csrf) {
        return f.refused(StatusCode::FORBIDDEN, lang, "the form's security token is missing or does not match (the page may be too old, or cookies are off): open the link from your email again");
    }
    let today = f.clock.now().with_timezone(&f.zone(&link)).date_naive();
    let format = match lang {
        Language::Vi => NumberFormat::Vi,
        Language::En => NumberFormat::Plain,
    };
    let parse_date = |d: &str| {
        NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(d, "%d/%m/%Y"))
            .ok()
    };
    let checked = match check(
        &given.reasons,
        &given.note,
        &given.commitments,
        link.plan_year,
        today,
        (format, AmountUnit::Billion),
        &parse_date,
    ) {
        Ok(c) => c,
        Err(problems) => return f.form(&link, &token, lang, &problems, Some(&given)),
    };
    let Some((name, figures, disbursed)) = f.figures(&link, lang) else {
        return f.refused(
            StatusCode::SERVICE_UNAVAILABLE,
            lang,
            "this unit's figures are not available yet; try again later",
        );
    };
    let answer = NewAnswer {
        job: link.job.clone(),
        unit: link.unit.clone(),
        plan_year: link.plan_year,
        via: Via::Form,
        link_id: Some(link.id.clone()),
        source_key: None,
        received_at: f.clock.now(),
        ip: Some(ip.to_string()),
        reasons: checked.reasons.clone(),
        note: checked.note.clone(),
        disbursed_then: disbursed,
        commitments: checked.commitments.clone(),
    };
    match f.store.record_answer(&answer) {
        Ok(Some(_)) => {
            tracing::info!(job = %link.job, unit = %link.unit, link = %link.id, %ip, "answer recorded");
            f.page(
                StatusCode::OK,
                lang,
                context! {
                    done => true,
                    name,
                    unit => link.unit.clone(),
                    plan_year => link.plan_year,
                    recorded_reasons => checked.reasons.iter().map(|r| r.label(lang)).collect::<Vec<_>>(),
                    note => checked.note,
                    recorded_commitments => checked.commitments.iter().map(|(a, d)| format!("{} tỷ đồng – {}", format_billion(*a, lang), format_date(*d))).collect::<Vec<_>>(),
                    ..figures
                },
                None,
            )
        }
        // Another request used the link first.
        Ok(None) => f.refused(
            StatusCode::CONFLICT,
            lang,
            &LinkError::Used(f.clock.now().format("%d/%m/%Y").to_string()).to_string(),
        ),
        Err(e) => {
            tracing::error!("cannot record an answer: {e}");
            f.refused(
                StatusCode::SERVICE_UNAVAILABLE,
                lang,
                "the answer could not be recorded; try again in a few minutes",
            )
        }
    }
}
