//! How the daemon runs (`config/disbmon.toml`): where jobs and state live, the default time zone,
//! how mail leaves, the listeners, and the operators who hear about failures.

use super::read::{
    is_loopback_host, mailboxes, parse_duration, parse_mailbox, parse_zone, read_toml, resolve,
    Problem, Problems,
};
use crate::base::secret::Secret;
use crate::domain::address::Mailbox;
use chrono_tz::Tz;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawConfig {
    jobs_dir: Option<String>,
    state_dir: Option<String>,
    timezone: Option<String>,
    mail: RawMail,
    /// Who hears about failed runs and silent jobs.
    operators: Vec<String>,
    /// How long a run in progress may finish after SIGTERM/SIGINT.
    shutdown_grace: Option<String>,
    admin: RawAdmin,
    /// The listener where units answer their alerts through signed links; no links without it.
    answers: Option<RawAnswers>,
    /// A folder whose `alert.txt`, `alert.html`, `digest.txt`, `digest.html`, `notice.txt`,
    /// `notice.html` replace the built-in email templates.
    templates_dir: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawAnswers {
    /// Where the answer form listens, e.g. "127.0.0.1:9188" (behind the department's proxy).
    listen: Option<String>,
    /// The address units reach it at, used in the links, e.g. "https://giaingan.stc.example.gov.vn".
    public_url: Option<String>,
    /// The signing key: from an environment variable or a file, at least 32 characters.
    key_env: Option<String>,
    key_file: Option<String>,
    /// Requests one link (or one address with a bad link) may make per minute (default 30).
    per_minute: Option<u32>,
    /// Proxies (addresses) whose `X-Forwarded-For` names the client, e.g. ["127.0.0.1"].
    trusted_proxies: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawAdmin {
    listen: Option<String>,
    /// The bearer token a non-loopback listener requires: from an environment variable or a file.
    token_env: Option<String>,
    token_file: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawMail {
    /// First wait before a message that failed transiently is tried again; it doubles each time.
    retry_initial: Option<String>,
    /// How long a message is tried before it is given up as failed.
    retry_deadline: Option<String>,
    from: Option<String>,
    transport: Option<String>,
    dir: Option<String>,
    smtp: RawSmtp,
    /// When set, mail goes only to addresses in these domains (and their subdomains).
    allowed_domains: Option<Vec<String>>,
    /// A run that would queue more messages than this holds them for an operator to release.
    max_messages_per_run: Option<usize>,
    /// Rehearsal: every message goes to this one mailbox instead.
    redirect_to: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct RawSmtp {
    host: String,
    port: Option<u16>,
    tls: String,
    username_env: Option<String>,
    password_env: Option<String>,
    timeout_secs: u64,
    /// A PEM file of extra CA certificates to trust (a private CA of the mail server).
    ca_file: Option<String>,
    /// Connections sending at once.
    connections: usize,
}

impl Default for RawSmtp {
    fn default() -> Self {
        RawSmtp {
            host: "127.0.0.1".into(),
            port: None,
            tls: "starttls".into(),
            username_env: None,
            password_env: None,
            timeout_secs: 60,
            ca_file: None,
            connections: 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    None,
    StartTls,
    Tls,
}

/// The most SMTP connections one drainer opens at once.
pub const MAX_CONNECTIONS: usize = 32;

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub credentials: Option<(String, Secret)>,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    /// Connections draining the outbox at once (each sends one message at a time).
    pub connections: usize,
}

#[derive(Debug, Clone)]
pub enum Transport {
    /// One `.eml` file per message in this directory.
    File {
        dir: PathBuf,
    },
    Smtp(SmtpConfig),
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub from: Mailbox,
    pub transport: Transport,
    pub retry_initial: Duration,
    pub retry_deadline: Duration,
    /// Lower-case domains mail may go to (with their subdomains); empty: any.
    pub allowed_domains: Vec<String>,
    /// The most messages one run may queue; none: twice the job's units plus 10.
    pub max_messages_per_run: Option<usize>,
    /// Rehearsal mode: every message goes here, naming its real recipients.
    pub redirect_to: Option<Mailbox>,
}

impl Default for MailConfig {
    /// The embedded defaults: `.eml` files into `var/outbox`, from `disbmon@localhost`, to anyone.
    fn default() -> MailConfig {
        MailConfig {
            from: Mailbox::new(
                Some("disbmon".into()),
                "disbmon@localhost".parse().expect("a valid address"),
            ),
            transport: Transport::File {
                dir: PathBuf::from("var/outbox"),
            },
            retry_initial: Duration::from_secs(30),
            retry_deadline: Duration::from_secs(24 * 3600),
            allowed_domains: Vec::new(),
            max_messages_per_run: None,
            redirect_to: None,
        }
    }
}

impl MailConfig {
    /// Whether mail may go to this address under `allowed_domains`.
    pub fn allows(&self, address: &str) -> bool {
        if self.allowed_domains.is_empty() {
            return true;
        }
        let domain = address
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        self.allowed_domains
            .iter()
            .any(|a| domain == *a || domain.ends_with(&format!(".{a}")))
    }

    /// The most messages a run of a job with `units` units may queue.
    pub fn message_limit(&self, units: usize) -> usize {
        self.max_messages_per_run
            .unwrap_or_else(|| units.saturating_mul(2).saturating_add(10))
    }
}

/// `[answers]`: where units answer their alerts.
#[derive(Debug, Clone)]
pub struct AnswersConfig {
    pub listen: std::net::SocketAddr,
    /// Without a trailing slash.
    pub public_url: String,
    pub key: Secret,
    pub per_minute: u32,
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl AnswersConfig {
    /// What signs and checks the links to this form.
    pub fn signer(&self) -> crate::domain::link::Signer {
        crate::domain::link::Signer::new(self.key.expose().as_bytes(), &self.public_url)
    }
}

/// A secret from an environment variable (`env_key`) or a file (`file_key`); every problem is
/// reported under its key.
fn secret_from(
    (env_key, var): (&str, &Option<String>),
    (file_key, file): (&str, &Option<String>),
    what: &str,
    env: &dyn Fn(&str) -> Option<String>,
    base: &Path,
    p: &mut Problems,
) -> Option<Secret> {
    match (var, file) {
        (Some(_), Some(_)) => {
            p.add(env_key, format!("give {env_key} or {file_key}, not both"));
            None
        }
        (Some(var), None) => match env(var).filter(|t| !t.trim().is_empty()) {
            Some(t) => Some(Secret::new(t.trim().to_string())),
            None => {
                p.add(
                    env_key,
                    format!("the environment variable {var} is not set; set it to {what}"),
                );
                None
            }
        },
        (None, Some(f)) => {
            let path = resolve(base, f);
            match std::fs::read_to_string(&path) {
                Ok(t) if !t.trim().is_empty() => Some(Secret::new(t.trim().to_string())),
                Ok(_) => {
                    p.add(
                        file_key,
                        format!("{} is empty; write {what} in it", path.display()),
                    );
                    None
                }
                Err(e) => {
                    p.add(file_key, format!("cannot read {}: {e}", path.display()));
                    None
                }
            }
        }
        (None, None) => None,
    }
}

/// The validated daemon configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from; `None` when the embedded defaults are used.
    pub file: Option<PathBuf>,
    pub jobs_dir: PathBuf,
    pub state_dir: PathBuf,
    pub timezone: Tz,
    pub mail: MailConfig,
    pub operators: Vec<Mailbox>,
    pub shutdown_grace: Duration,
    /// Where the admin HTTP listener binds; none when `admin.listen = "off"`.
    pub admin_listen: Option<std::net::SocketAddr>,
    /// The bearer token the admin listener requires (always, when it listens beyond loopback).
    pub admin_token: Option<Secret>,
    /// The answers listener (`[answers]`); none: alerts carry no answer link.
    pub answers: Option<AnswersConfig>,
    /// The folder whose templates replace the built-in email templates (`templates_dir`).
    pub templates_dir: Option<PathBuf>,
}

pub const DEFAULT_CONFIG: &str = "config/disbmon.toml";

impl Config {
    /// Where a job's downloads and stored sums (the daily cube) are kept between runs.
    pub fn job_cache(&self, job: &str) -> PathBuf {
        self.state_dir.join("cache").join(job)
    }

    /// Loads the config: `explicit` (from `--config` or `DISBMON_CONFIG`) must exist; without it,
    /// `config/disbmon.toml` is used when present, else the embedded defaults relative to the
    /// current directory. `env` reads environment variables (credentials); `check_templates`
    /// lists what is wrong with the templates of `templates_dir`, when it is set.
    pub fn load(
        explicit: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        check_templates: &mut dyn FnMut(&Path) -> Vec<String>,
    ) -> Result<Config, Vec<Problem>> {
        let (file, raw, base) = match explicit {
            Some(path) => (
                Some(path.to_path_buf()),
                None,
                path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            ),
            None if Path::new(DEFAULT_CONFIG).exists() => (
                Some(PathBuf::from(DEFAULT_CONFIG)),
                None,
                PathBuf::from("config"),
            ),
            None => (None, Some(RawConfig::default()), PathBuf::from(".")),
        };
        let shown = file
            .clone()
            .unwrap_or_else(|| PathBuf::from("(embedded defaults)"));
        let mut problems = Problems::new(&shown);
        let raw = match raw {
            Some(r) => r,
            None => {
                let path = file.as_deref().expect("a file when not embedded");
                if !path.exists() {
                    problems.add(
                        "",
                        "the config file does not exist; create it (see config/disbmon.toml in the repository) or point --config / DISBMON_CONFIG at it",
                    );
                    return Err(problems.list);
                }
                match read_toml::<RawConfig>(path, &mut problems) {
                    Some(r) => r,
                    None => return Err(problems.list),
                }
            }
        };
        let config = Self::validate(raw, &base, file, env, check_templates, &mut problems);
        match config {
            Some(c) if problems.is_empty() => Ok(c),
            _ => Err(problems.list),
        }
    }

    fn validate(
        raw: RawConfig,
        base: &Path,
        file: Option<PathBuf>,
        env: &dyn Fn(&str) -> Option<String>,
        check_templates: &mut dyn FnMut(&Path) -> Vec<String>,
        p: &mut Problems,
    ) -> Option<Config> {
        let jobs_dir = resolve(base, raw.jobs_dir.as_deref().unwrap_or("jobs"));
        let state_dir = resolve(base, raw.state_dir.as_deref().unwrap_or("var"));
        let timezone = parse_zone(raw.timezone.as_deref().unwrap_or("Asia/Ho_Chi_Minh"))
            .map_err(|e| p.add("timezone", e))
            .ok();
        let from = parse_mailbox(
            raw.mail
                .from
                .as_deref()
                .unwrap_or("disbmon <disbmon@localhost>"),
        )
        .map_err(|e| p.add("mail.from", e))
        .ok();
        let transport = match raw.mail.transport.as_deref().unwrap_or("file") {
            "file" => {
                let dir = match &raw.mail.dir {
                    Some(d) => resolve(base, d),
                    None => state_dir.join("outbox"),
                };
                Some(Transport::File { dir })
            }
            "smtp" => smtp(raw.mail.smtp, base, env, p).map(Transport::Smtp),
            other => {
                p.add(
                    "mail.transport",
                    format!("`{other}` is not a transport; use \"file\" or \"smtp\""),
                );
                None
            }
        };
        let operators = mailboxes("operators", &raw.operators, p);
        let retry_initial = parse_duration(raw.mail.retry_initial.as_deref().unwrap_or("30s"))
            .map_err(|e| p.add("mail.retry_initial", e))
            .ok();
        let retry_deadline = parse_duration(raw.mail.retry_deadline.as_deref().unwrap_or("24h"))
            .map_err(|e| p.add("mail.retry_deadline", e))
            .ok();
        let shutdown_grace = parse_duration(raw.shutdown_grace.as_deref().unwrap_or("60s"))
            .map_err(|e| p.add("shutdown_grace", e))
            .ok();
        let admin_listen = match raw.admin.listen.as_deref().unwrap_or("127.0.0.1:9187") {
            "off" => Some(None),
            text => {
                match text.parse::<std::net::SocketAddr>() {
                    Ok(addr) => Some(Some(addr)),
                    Err(_) => {
                        p.add("admin.listen", format!("`{text}` is not an address; write e.g. \"127.0.0.1:9187\", or \"off\""));
                        None
                    }
                }
            }
        };
        let admin_token = secret_from(
            ("admin.token_env", &raw.admin.token_env),
            ("admin.token_file", &raw.admin.token_file),
            "the admin token",
            env,
            base,
            p,
        );
        let answers = raw.answers.as_ref().and_then(|a| {
            let listen = match a.listen.as_deref().unwrap_or("127.0.0.1:9188").parse() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    p.add("answers.listen", "not an address; write e.g. \"127.0.0.1:9188\"");
                    None
                }
            };
            let public_url = match a.public_url.as_deref().map(|u| u.trim().trim_end_matches('/')) {
                // scheme://host[:port] only: the form and its cookie live at /a/ of that origin.
                Some(u) if (u.starts_with("https://") || u.starts_with("http://"))
                    && !u.split_once("://").is_some_and(|(_, rest)| rest.contains(['/', '?', '#', '@']) || rest.is_empty()) =>
                {
                    Some(u.to_string())
                }
                Some(u) => {
                    p.add("answers.public_url", format!("`{u}` is not an http(s) origin; write the scheme and host (and port) units reach the form at, without a path, e.g. \"https://giaingan.stc.example.gov.vn\""));
                    None
                }
                None => {
                    p.add("answers.public_url", "missing: write the address units reach the form at (it goes into the links), e.g. \"https://giaingan.stc.example.gov.vn\"");
                    None
                }
            };
            let key = secret_from(
                ("answers.key_env", &a.key_env),
                ("answers.key_file", &a.key_file),
                "the key that signs the answer links",
                env,
                base,
                p,
            );
            match &key {
                None if a.key_env.is_none() && a.key_file.is_none() => {
                    p.add("answers.key_env", "the answer links must be signed: set key_env (an environment variable) or key_file holding a random key of at least 32 characters, e.g. from `openssl rand -hex 32`");
                }
                Some(k) if k.expose().len() < 32 => {
                    p.add("answers.key_env", "the signing key is shorter than 32 characters; use e.g. `openssl rand -hex 32`");
                }
                _ => {}
            }
            let trusted_proxies: Vec<std::net::IpAddr> = a
                .trusted_proxies
                .iter()
                .filter_map(|t| match t.trim().parse::<std::net::IpAddr>() {
                    Ok(ip) => Some(ip.to_canonical()),
                    Err(_) => {
                        p.add("answers.trusted_proxies", format!("`{t}` is not an IP address; list the proxies' addresses, e.g. [\"127.0.0.1\"]"));
                        None
                    }
                })
                .collect();
            let per_minute = a.per_minute.unwrap_or(30);
            if per_minute == 0 {
                p.add("answers.per_minute", "must be at least 1 (requests one address may make per minute)");
            }
            match (listen, public_url, key) {
                (Some(listen), Some(public_url), Some(key)) if key.expose().len() >= 32 && per_minute > 0 => {
                    Some(AnswersConfig { listen, public_url, key, per_minute, trusted_proxies })
                }
                _ => None,
            }
        });
        if let Some(Some(addr)) = admin_listen {
            if !addr.ip().is_loopback() && admin_token.is_none() {
                p.add(
                    "admin.listen",
                    format!("{addr} is reachable from other machines, and the admin listener shows every job's state: set admin.token_env or admin.token_file (a bearer token it will require), or listen on 127.0.0.1"),
                );
            }
        }
        let allowed_domains: Vec<String> = raw
            .mail
            .allowed_domains
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
                let ok = !d.is_empty()
                    && d.split('.').all(|l| {
                        !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    });
                if !ok {
                    p.add(
                        format!("mail.allowed_domains[{i}]"),
                        format!("`{d}` is not a domain; write e.g. \"sonla.gov.vn\""),
                    );
                }
                ok.then_some(d)
            })
            .collect();
        if raw.mail.max_messages_per_run == Some(0) {
            p.add("mail.max_messages_per_run", "must be at least 1; leave it out for the default (twice the number of units plus 10)");
        }
        let redirect_to = raw.mail.redirect_to.as_deref().and_then(|r| {
            parse_mailbox(r)
                .map_err(|e| p.add("mail.redirect_to", e))
                .ok()
        });
        // The templates themselves are the caller's to read (they are notify's): here only
        // whether they are right, reported with everything else.
        let templates_dir = raw.templates_dir.as_deref().map(|d| resolve(base, d));
        if let Some(dir) = &templates_dir {
            for problem in check_templates(dir) {
                p.add("templates_dir", problem);
            }
        }
        Some(Config {
            templates_dir,
            file,
            jobs_dir,
            state_dir,
            timezone: timezone?,
            mail: MailConfig {
                from: from?,
                transport: transport?,
                retry_initial: retry_initial?,
                retry_deadline: retry_deadline?,
                allowed_domains,
                max_messages_per_run: raw.mail.max_messages_per_run,
                redirect_to,
            },
            operators,
            shutdown_grace: shutdown_grace?,
            admin_listen: admin_listen?,
            admin_token,
            answers,
        })
    }
}

fn smtp(
    raw: RawSmtp,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> Option<SmtpConfig> {
    let tls = match raw.tls.as_str() {
        "none" => TlsMode::None,
        "starttls" => TlsMode::StartTls,
        "tls" => TlsMode::Tls,
        other => {
            p.add(
                "mail.smtp.tls",
                format!("`{other}` is not a TLS mode; use \"none\", \"starttls\" or \"tls\""),
            );
            return None;
        }
    };
    if tls == TlsMode::None && !is_loopback_host(&raw.host) {
        p.add(
            "mail.smtp.tls",
            format!("\"none\" sends mail unencrypted and is only allowed for a loopback host, not `{}`; use \"starttls\" or \"tls\"", raw.host),
        );
    }
    if raw.host.trim().is_empty() {
        p.add(
            "mail.smtp.host",
            "is empty; give the mail server's host name",
        );
    }
    let read = |var: &Option<String>| var.as_ref().and_then(|v| env(v)).filter(|s| !s.is_empty());
    let user = read(&raw.username_env);
    let pass = read(&raw.password_env);
    let credentials = match (user, pass) {
        (Some(u), Some(pw)) => Some((u, Secret::new(pw))),
        (None, None) => None,
        (Some(_), None) => {
            p.add(
                "mail.smtp.password_env",
                format!(
                    "the username is set but `{}` is not; set both variables for SMTP AUTH, or neither",
                    raw.password_env.as_deref().unwrap_or("(no password_env)")
                ),
            );
            None
        }
        (None, Some(_)) => {
            p.add(
                "mail.smtp.username_env",
                format!(
                    "the password is set but `{}` is not; set both variables for SMTP AUTH, or neither",
                    raw.username_env.as_deref().unwrap_or("(no username_env)")
                ),
            );
            None
        }
    };
    let port = raw.port.unwrap_or(match tls {
        TlsMode::None => 25,
        TlsMode::StartTls => 587,
        TlsMode::Tls => 465,
    });
    let ca_file = raw.ca_file.as_deref().map(|f| resolve(base, f));
    if let Some(f) = &ca_file {
        if !f.is_file() {
            p.add("mail.smtp.ca_file", format!("{} does not exist; give the PEM file of the CA that signed the mail server's certificate", f.display()));
        }
    }
    if !(1..=MAX_CONNECTIONS).contains(&raw.connections) {
        p.add(
            "mail.smtp.connections",
            format!("is {}; give 1 to {MAX_CONNECTIONS} (connections sending at once; most servers accept a few per client)", raw.connections),
        );
    }
    Some(SmtpConfig {
        connections: raw.connections.clamp(1, MAX_CONNECTIONS),
        host: raw.host,
        port,
        tls,
        credentials,
        timeout: Duration::from_secs(raw.timeout_secs.max(1)),
        ca_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Config, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disbmon.toml");
        std::fs::write(&path, text).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load(
            Some(&path),
            &|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            &mut |_| Vec::new(),
        )
        .map_err(|ps| {
            ps.iter()
                .map(|p| format!("{}: {}", p.key, p.message))
                .collect()
        })
    }

    const EXAMPLE: &str = r#"
jobs_dir = "../jobs"
state_dir = "../var"
timezone = "Asia/Ho_Chi_Minh"

[mail]
from = "Giám sát giải ngân <giamsat@stc.example.gov.vn>"
transport = "smtp"
dir = "../var/outbox"

[mail.smtp]
host = "127.0.0.1"
port = 2525
tls = "none"
username_env = "DISBMON_SMTP_USERNAME"
password_env = "DISBMON_SMTP_PASSWORD"
"#;

    #[test]
    fn the_example_config_loads() {
        let c = load_text(EXAMPLE, &[]).unwrap();
        assert_eq!(
            c.jobs_dir,
            c.file
                .as_ref()
                .unwrap()
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("jobs")
        );
        let Transport::Smtp(s) = &c.mail.transport else {
            panic!("smtp expected")
        };
        assert_eq!((s.port, s.tls), (2525, TlsMode::None));
        assert!(s.credentials.is_none());
        assert_eq!(c.mail.from.name.as_deref(), Some("Giám sát giải ngân"));
        let c = load_text(
            EXAMPLE,
            &[
                ("DISBMON_SMTP_USERNAME", "u"),
                ("DISBMON_SMTP_PASSWORD", "p"),
            ],
        )
        .unwrap();
        let Transport::Smtp(s) = &c.mail.transport else {
            panic!()
        };
        assert_eq!(format!("{:?}", s.credentials), "Some((\"u\", Secret(***)))");
    }

    #[test]
    fn reports_every_problem_at_once() {
        let text = EXAMPLE
            .replace("127.0.0.1", "mail.example.gov.vn")
            .replace("Asia/Ho_Chi_Minh", "Asia/Hanoi_City")
            .replace("timezone", "colour = 1\ntimezone")
            .replace("port = 2525", "port = 2525\nretries = 3");
        let errs = load_text(&text, &[("DISBMON_SMTP_USERNAME", "u")]).unwrap_err();
        let all = errs.join("\n");
        assert!(all.contains("colour: unknown key"), "{all}");
        assert!(all.contains("mail.smtp.retries: unknown key"), "{all}");
        assert!(
            all.contains("timezone: `Asia/Hanoi_City` is not an IANA time zone"),
            "{all}"
        );
        assert!(
            all.contains("mail.smtp.tls: \"none\" sends mail unencrypted"),
            "{all}"
        );
        assert!(all.contains("mail.smtp.password_env"), "{all}");
        assert_eq!(errs.len(), 5, "{all}");
    }

    #[test]
    fn type_and_syntax_errors_name_the_line() {
        let errs = load_text("[mail.smtp]\nport = \"abc\"\n", &[]).unwrap_err();
        assert!(errs[0].starts_with("line 2:"), "{errs:?}");
        let errs = load_text("jobs_dir = \n", &[]).unwrap_err();
        assert!(errs[0].starts_with("line 1:"), "{errs:?}");
    }
}
