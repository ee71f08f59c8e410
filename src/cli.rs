//! The command line: `check`, `once`, `preview`, `run`, `status`, `history`, `silence`,
//! `outbox`. Each command returns an exit code; main prints nothing of its own. The only place
//! that installs signal handlers (for `run`).

use crate::clock::{Clock, FixedClock, SystemClock};
use crate::config::{Config, Problem};
use crate::job::{self, Job};
use crate::pipeline;
use crate::report::Outcome;
use crate::store::OutboxStatus;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// Output for a person's terminal: whatever the data holds (a name with an ANSI or OSC escape, a
/// server's answer) is shown escaped, never run by the terminal. `--json` output is JSON, which
/// escapes control characters itself.
macro_rules! say {
    ($($t:tt)*) => { print!("{}", $crate::text::for_terminal(&format!($($t)*))) };
}
macro_rules! sayln {
    ($($t:tt)*) => { println!("{}", $crate::text::for_terminal(&format!($($t)*))) };
}
macro_rules! esayln {
    ($($t:tt)*) => { eprintln!("{}", $crate::text::for_terminal(&format!($($t)*))) };
}

/// Exit codes (documented in the README).
pub mod exit {
    /// Everything computed and delivered.
    pub const OK: i32 = 0;
    /// An unexpected error (a bug, or the machine itself failing).
    pub const ERROR: i32 = 1;
    /// The command line was wrong (clap's own code).
    pub const USAGE: i32 = 2;
    /// The config or a job file is invalid.
    pub const CONFIG: i32 = 3;
    /// A source could not be read or its data was rejected; no unit was alerted.
    pub const DATA: i32 = 4;
    /// Some message could not be delivered.
    pub const DELIVERY: i32 = 5;
    /// Another `disbmon run` already uses the state folder.
    pub const LOCKED: i32 = 6;
    /// The run queued more messages than `mail.max_messages_per_run`: none was sent, they wait
    /// for `disbmon outbox release RUN`.
    pub const HELD: i32 = 7;
}

#[derive(Debug, Parser)]
#[command(
    name = "disbmon",
    version,
    about = "Public-investment disbursement monitor"
)]
pub struct Cli {
    /// The config file [default: config/disbmon.toml if it exists, else the embedded defaults]
    #[arg(long, global = true, env = "DISBMON_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the config and every job; print each job's next 3 run times.
    Check,
    /// Run the daemon in the foreground: every job on its schedule, until SIGTERM or SIGINT;
    /// SIGHUP reloads the config and jobs.
    Run,
    /// Show each job's schedule, next run and last runs, from the state store.
    Status,
    /// A job's runs, or one unit's rate over time and every email it was sent.
    History {
        #[arg(long)]
        job: String,
        #[arg(long)]
        unit: Option<String>,
    },
    /// Hold back a unit's alerts until a date (recorded as suppressed, sent when it ends).
    Silence {
        #[command(subcommand)]
        action: SilenceAction,
    },
    /// List pending and failed messages; `outbox retry ID` queues a failed one again.
    Outbox {
        #[command(subcommand)]
        action: Option<OutboxAction>,
    },
    /// Run one job now.
    Once {
        /// A job name (jobs/NAME.toml) or the path of a job file.
        job: String,
        /// The cut-off date, YYYY-MM-DD [default: today in the job's time zone]
        #[arg(long, value_parser = parse_date)]
        as_of: Option<NaiveDate>,
        /// Compute and render, but send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the run report as JSON on stdout (logs stay on stderr).
        #[arg(long)]
        json: bool,
    },
    /// Write the official table of a job as an Excel workbook (computed as `once --dry-run`
    /// does; nothing is recorded or sent).
    Report {
        /// A job name (jobs/NAME.toml) or the path of a job file.
        job: String,
        /// The cut-off date, YYYY-MM-DD [default: today in the job's time zone]
        #[arg(long, value_parser = parse_date)]
        as_of: Option<NaiveDate>,
        /// Where to write the workbook, e.g. bang.xlsx.
        #[arg(long)]
        xlsx: std::path::PathBuf,
    },
    /// Replay the past years the sources hold, month by month: project each unit's rate at the
    /// 31/1 close from every month end (from the years before it only) and print the mean
    /// absolute error per month beside a straight line's. Nothing is recorded or sent.
    Backtest {
        /// A job name (jobs/NAME.toml) or the path of a job file.
        job: String,
        /// The cut-off date the sources are read at, YYYY-MM-DD [default: today]
        #[arg(long, value_parser = parse_date)]
        as_of: Option<NaiveDate>,
        /// Past plan years to measure, 1 to 10 [default: 10]
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10))]
        years: u32,
        /// Print the backtest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the email one unit would get (headers and text part).
    Preview {
        job: String,
        #[arg(long)]
        unit: String,
        #[arg(long, value_parser = parse_date)]
        as_of: Option<NaiveDate>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SilenceAction {
    /// Silence a unit of a job until (and including) a date.
    Add {
        #[arg(long)]
        job: String,
        #[arg(long)]
        unit: String,
        #[arg(long, value_parser = parse_date)]
        until: NaiveDate,
        #[arg(long)]
        reason: String,
    },
    /// The silences in force or still to come.
    List,
    /// Lift a silence.
    Remove { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum OutboxAction {
    /// Queue a failed message again (with a new delivery deadline).
    Retry { id: i64 },
    /// Send every message that is due now (for setups that run `disbmon once` from cron).
    Send,
    /// Release the messages of a run held by the mass-mailing guard (`mail.max_messages_per_run`):
    /// they are sent from then on. RUN is the number `disbmon outbox` and the operators' notice give.
    Release { run: i64 },
}

/// Text from the data or a remote server, as a terminal may print it.
fn esc(text: &str) -> std::borrow::Cow<'_, str> {
    crate::text::escape(text)
}

/// A command-line date that is not one.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a date; write YYYY-MM-DD")]
pub struct BadDate(String);

fn parse_date(s: &str) -> Result<NaiveDate, BadDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| BadDate(s.to_string()))
}

/// `DISBMON_NOW` is not a time.
#[derive(Debug, thiserror::Error)]
#[error("DISBMON_NOW=`{value}` is not an RFC 3339 time ({detail}); write e.g. 2026-10-31T08:00:00+07:00")]
pub struct BadNow {
    value: String,
    detail: chrono::ParseError,
}

/// The clock: the system's, or `DISBMON_NOW` (RFC 3339) when set, so that runs can be replayed.
fn clock() -> Result<Box<dyn Clock>, BadNow> {
    match std::env::var("DISBMON_NOW") {
        Ok(v) => DateTime::parse_from_rfc3339(&v)
            .map(|t| Box::new(FixedClock(t.with_timezone(&Utc))) as Box<dyn Clock>)
            .map_err(|detail| BadNow { value: v, detail }),
        Err(_) => Ok(Box::new(SystemClock)),
    }
}

/// The daemon's controls from the process's signals: SIGTERM or SIGINT stop it, SIGHUP reloads.
fn signals() -> std::io::Result<crate::daemon::Control<impl std::future::Future<Output = ()>>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            if tx.send(()).await.is_err() {
                break;
            }
        }
    });
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = int.recv() => tracing::info!("SIGINT"),
        }
    };
    Ok(crate::daemon::Control {
        shutdown,
        reload: rx,
    })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn print_problems(problems: &[Problem]) {
    for p in problems {
        esayln!("{p}");
    }
    esayln!(
        "{} problem{} found; fix them and run `disbmon check` again",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
}

fn find_job(config: &Config, name: &str) -> Result<Job, Vec<Problem>> {
    let path = if name.ends_with(".toml") || name.contains('/') || name.contains('\\') {
        PathBuf::from(name)
    } else {
        config.jobs_dir.join(format!("{name}.toml"))
    };
    if !path.is_file() {
        let known = job::files(&config.jobs_dir)
            .map(|fs| {
                fs.iter()
                    .filter_map(|f| f.file_stem().map(|s| s.to_string_lossy().into_owned()))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        return Err(vec![Problem {
            file: path,
            key: String::new(),
            message: format!(
                "no such job file; jobs in {}: {}",
                config.jobs_dir.display(),
                if known.is_empty() { "none" } else { &known }
            ),
        }]);
    }
    job::load(&path, config.timezone).map_err(|p| p.list)
}

pub async fn run(cli: Cli) -> i32 {
    let clock = match clock() {
        Ok(c) => c,
        Err(e) => {
            esayln!("{e}");
            return exit::USAGE;
        }
    };
    match cli.command {
        Command::Check => check(cli.config.as_deref(), clock.as_ref()),
        Command::Run => match signals() {
            Ok(control) => {
                crate::daemon::run(cli.config.clone(), std::sync::Arc::from(clock), control).await
            }
            Err(e) => {
                esayln!("cannot install signal handlers: {e}");
                exit::ERROR
            }
        },
        Command::Status => status(cli.config.as_deref(), clock.as_ref()),
        Command::History { job, unit } => history(cli.config.as_deref(), &job, unit.as_deref()),
        Command::Silence { action } => silence(cli.config.as_deref(), action, clock.as_ref()),
        Command::Outbox { action } => outbox(cli.config.as_deref(), action, clock.as_ref()).await,
        Command::Once {
            job,
            as_of,
            dry_run,
            json,
        } => {
            let (config, job) = match load(cli.config.as_deref(), &job) {
                Ok(v) => v,
                Err(code) => return code,
            };
            let as_of =
                as_of.unwrap_or_else(|| clock.now().with_timezone(&job.timezone).date_naive());
            let store = match crate::store::Store::open(&config.state_dir) {
                Ok(s) => s,
                Err(e) => {
                    esayln!("{e}");
                    return exit::ERROR;
                }
            };
            let scheduled = clock.now();
            if !dry_run {
                // A run of ours that a killed `once` left behind is recorded as cut off.
                let claimed = store.interrupt_orphaned_manual().and_then(|_| {
                    store.claim(
                        &job.name,
                        scheduled,
                        scheduled,
                        crate::store::Trigger::Manual,
                    )
                });
                if let Err(e) = claimed {
                    esayln!("{e}");
                    return exit::ERROR;
                }
            }
            let run = pipeline::Run {
                job: &job,
                config: &config,
                store: &store,
                clock: clock.as_ref(),
                scheduled,
                as_of,
                dry_run,
            };
            let report = pipeline::run_job(&run).await;
            if !dry_run {
                let result = crate::daemon::run_result(&report, 1);
                if let Err(e) = store.finish(&job.name, scheduled, clock.now(), &result) {
                    esayln!("{e}");
                }
            }
            if json {
                match serde_json::to_string_pretty(&report) {
                    // JSON escapes control characters itself, and must stay JSON.
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        esayln!("cannot write the report: {e}");
                        return exit::ERROR;
                    }
                }
            } else {
                say!("{}", report.human(job.language));
            }
            if report.outcome == Outcome::Rejected {
                esayln!(
                    "job {}: the data was rejected, no unit was alerted:",
                    job.name
                );
                for i in &report.data_issues {
                    esayln!("  {i}");
                }
            }
            if let Some(e) = &report.error {
                esayln!("job {}: the run failed: {e}", job.name);
            }
            if !dry_run {
                if let crate::config::Transport::File { dir } = &config.mail.transport {
                    let sent = report.alerts.iter().filter(|a| a.delivered).count()
                        + usize::from(report.digest.as_ref().is_some_and(|d| d.delivered));
                    if sent > 0 {
                        esayln!(
                            "wrote {sent} message{} as .eml files into {}",
                            if sent == 1 { "" } else { "s" },
                            dir.display()
                        );
                    }
                }
            }
            match report.outcome {
                Outcome::Ok => exit::OK,
                Outcome::Rejected => exit::DATA,
                Outcome::DeliveryFailed => exit::DELIVERY,
                Outcome::Failed => exit::ERROR,
                Outcome::Held => exit::HELD,
            }
        }
        Command::Report { job, as_of, xlsx } => {
            let (config, job, a) = match assessed(
                cli.config.as_deref(),
                &job,
                as_of,
                clock.as_ref(),
                "no table written",
            )
            .await
            {
                Ok(v) => v,
                Err(code) => return code,
            };
            let Some(rates) = &a.rates else {
                return exit::DATA;
            };
            let details = pipeline::details(&job, &a, rates, stored_previous(&config, &job, &a));
            match crate::workbook::write(
                &xlsx,
                &a.context(&job, rates, &details, &config.templates),
                &a.issues,
            ) {
                Ok(()) => {
                    sayln!(
                        "wrote the table of {} units as of {} to {}",
                        rates.units.len(),
                        a.as_of,
                        xlsx.display()
                    );
                    if !a.issues.is_empty() {
                        esayln!(
                            "{} data issues, listed in the workbook's last sheet",
                            a.issues.len()
                        );
                    }
                    exit::OK
                }
                Err(e) => {
                    esayln!("{e}");
                    exit::ERROR
                }
            }
        }
        Command::Backtest {
            job,
            as_of,
            years,
            json,
        } => {
            let (config, mut job) = match load(cli.config.as_deref(), &job) {
                Ok(v) => v,
                Err(code) => return code,
            };
            job.projection.years = years;
            job.projection.curves = true;
            let a = match assess_loaded(&config, &job, as_of, clock.as_ref(), "nothing replayed")
                .await
            {
                Ok(a) => a,
                Err(code) => return code,
            };
            let Some(rates) = &a.rates else {
                return exit::DATA;
            };
            let b = crate::projection::backtest(&a.ledger.history, rates);
            if json {
                sayln!("{}", serde_json::to_string_pretty(&b).unwrap_or_default());
            } else {
                say!("{}", crate::report::backtest_table(&job.name, &b));
            }
            match b.months.is_empty() {
                true => {
                    esayln!("job {}: the sources hold fewer than two whole past years (plans with a plan year, and their payments): nothing to replay", job.name);
                    exit::DATA
                }
                false => exit::OK,
            }
        }
        Command::Preview { job, unit, as_of } => {
            let (config, job, a) = match assessed(
                cli.config.as_deref(),
                &job,
                as_of,
                clock.as_ref(),
                "nothing to preview",
            )
            .await
            {
                Ok(v) => v,
                Err(code) => return code,
            };
            let as_of = a.as_of;
            let previous = stored_previous(&config, &job, &a);
            match pipeline::preview(&job, &a, &unit, &config, clock.now(), previous) {
                Ok((email, built, alerted)) => {
                    if !alerted {
                        esayln!("note: unit {unit} is not behind on {as_of}; this run would send it nothing");
                    }
                    match built {
                        // The headers exactly as the message would be queued.
                        Some(m) => {
                            let list = |m: &[crate::address::Mailbox]| {
                                m.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ")
                            };
                            // Encoded words (RFC 2047) are shown as a person reads them.
                            let readable = |name: &str| match name.to_ascii_lowercase().as_str() {
                                "from" => Some(config.mail.from.to_string()),
                                "to" => Some(list(&email.to)),
                                "cc" => Some(list(&email.cc)),
                                "subject" => Some(email.subject.clone()),
                                _ => None,
                            };
                            let raw = String::from_utf8_lossy(&m.raw);
                            let head = raw.split("\r\n\r\n").next().unwrap_or_default();
                            for field in head.replace("\r\n ", " ").replace("\r\n\t", " ").split("\r\n") {
                                let (name, value) = field.split_once(':').unwrap_or((field, ""));
                                sayln!("{name}: {}", readable(name).unwrap_or_else(|| value.trim().to_string()));
                            }
                        }
                        None => sayln!(
                            "From: {}\nTo: (no address in the units source: the unit gets nothing)\nSubject: {}",
                            config.mail.from, email.subject
                        ),
                    }
                    sayln!("\n(the text/plain part; an HTML part goes with it)\n");
                    say!("{}", email.text);
                    exit::OK
                }
                Err(e) => {
                    esayln!("{e}");
                    exit::DATA
                }
            }
        }
    }
}

/// Loads a job and assesses it as `once --dry-run` would (nothing recorded or sent). On a
/// failure or rejected data, says why (`instead`: what is not done then) and gives the exit code.
/// Each unit's disbursement at the previous run, read from the state store when there is one
/// (a preview or a report never creates it).
fn stored_previous(
    config: &Config,
    job: &Job,
    a: &pipeline::Assessment,
) -> Option<crate::store::Previous> {
    if !config.state_dir.join(crate::store::FILE).is_file() {
        return None;
    }
    let store = crate::store::Store::open(&config.state_dir).ok()?;
    store
        .previous_disbursed(&job.name, a.plan_year, a.as_of)
        .ok()
        .flatten()
}

async fn assessed(
    config: Option<&std::path::Path>,
    job: &str,
    as_of: Option<NaiveDate>,
    clock: &dyn Clock,
    instead: &str,
) -> Result<(Config, Job, pipeline::Assessment), i32> {
    let (config, job) = load(config, job)?;
    let a = assess_loaded(&config, &job, as_of, clock, instead).await?;
    Ok((config, job, a))
}

/// [`assessed`] for a job already loaded.
async fn assess_loaded(
    config: &Config,
    job: &Job,
    as_of: Option<NaiveDate>,
    clock: &dyn Clock,
    instead: &str,
) -> Result<pipeline::Assessment, i32> {
    let as_of = as_of.unwrap_or_else(|| clock.now().with_timezone(&job.timezone).date_naive());
    let a = pipeline::assess_with(job, &config.mail, as_of, None, clock)
        .await
        .map_err(|e| {
            esayln!("{e}");
            exit::ERROR
        })?;
    if a.rejected() {
        for i in &a.issues {
            esayln!("{i}");
        }
        esayln!("job {}: the data was rejected; {instead}", job.name);
        return Err(exit::DATA);
    }
    // Past years the sources no longer hold, from the runs the state store kept (an existing
    // store only: these commands record nothing).
    let mut a = a;
    if config.state_dir.join(crate::store::FILE).is_file() {
        let added = crate::store::Store::open(&config.state_dir)
            .and_then(|store| pipeline::add_stored_history(&mut a, job, &store));
        if let Err(e) = added {
            esayln!("note: past years from the state store are left out: {e}");
        }
    }
    Ok(a)
}

fn load(config: Option<&Path>, job: &str) -> Result<(Config, Job), i32> {
    let config = Config::load(config, &env).map_err(|p| {
        print_problems(&p);
        exit::CONFIG
    })?;
    let job = find_job(&config, job).map_err(|p| {
        print_problems(&p);
        exit::CONFIG
    })?;
    Ok((config, job))
}

fn check(config_path: Option<&Path>, clock: &dyn Clock) -> i32 {
    let mut problems = Vec::new();
    let config = match Config::load(config_path, &env) {
        Ok(c) => Some(c),
        Err(p) => {
            problems.extend(p);
            None
        }
    };
    // The jobs are checked even when the config is broken, with its default zone.
    let (jobs_dir, zone) = match &config {
        Some(c) => (c.jobs_dir.clone(), c.timezone),
        None => (PathBuf::from("jobs"), chrono_tz::Asia::Ho_Chi_Minh),
    };
    if let Some(c) = &config {
        sayln!(
            "config: {} (jobs in {}, state in {}, zone {})",
            c.file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "embedded defaults".into()),
            c.jobs_dir.display(),
            c.state_dir.display(),
            c.timezone
        );
    }
    let files = match job::files(&jobs_dir) {
        Ok(f) => f,
        Err(p) => {
            problems.push(p);
            Vec::new()
        }
    };
    if files.is_empty() && config.is_some() {
        problems.push(Problem {
            file: jobs_dir.clone(),
            key: String::new(),
            message: "no job files (*.toml) here; add one (see README: writing a job)".into(),
        });
    }
    let now = clock.now();
    for file in files {
        match job::load_with(&file, zone, true) {
            Ok(job) => {
                let next: Vec<String> = job
                    .schedule
                    .upcoming(job.timezone, now, 3)
                    .iter()
                    .map(|t| t.format("%a %Y-%m-%d %H:%M %Z").to_string())
                    .collect();
                if let Some(c) = &config {
                    problems.extend(crate::daemon::outside_allowed(c, &job));
                }
                if next.is_empty() {
                    problems.push(Problem {
                        file: file.clone(),
                        key: "schedule".into(),
                        message: format!(
                            "`{}` never fires (e.g. 30 February); fix the day and month",
                            job.schedule.expression()
                        ),
                    });
                }
                sayln!(
                    "job {} ({}): `{}` in {}; next: {}",
                    job.name,
                    file.display(),
                    job.schedule.expression(),
                    job.timezone,
                    next.join(", ")
                );
            }
            Err(p) => problems.extend(p.list),
        }
    }
    if problems.is_empty() {
        sayln!("all valid");
        exit::OK
    } else {
        print_problems(&problems);
        exit::CONFIG
    }
}

fn status(config_path: Option<&Path>, clock: &dyn Clock) -> i32 {
    let (config, jobs) = match crate::daemon::load_all(config_path) {
        Ok(v) => v,
        Err(p) => {
            print_problems(&p);
            return exit::CONFIG;
        }
    };
    let store = match crate::store::Store::open(&config.state_dir) {
        Ok(s) => s,
        Err(e) => {
            esayln!("{e}");
            return exit::ERROR;
        }
    };
    let now = clock.now();
    match store.heartbeat() {
        Ok(Some(t)) => sayln!(
            "daemon last seen {} (state {})",
            t.with_timezone(&config.timezone)
                .format("%Y-%m-%d %H:%M:%S %Z"),
            store.path().display()
        ),
        Ok(None) => sayln!(
            "the daemon has not run yet (state {})",
            store.path().display()
        ),
        Err(e) => esayln!("{e}"),
    }
    for job in &jobs {
        let tz = job.timezone;
        let fmt = |t: DateTime<Utc>| {
            t.with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        };
        let next = job
            .schedule
            .next_after(tz, now)
            .map(|t| fmt(t.with_timezone(&Utc)))
            .unwrap_or_else(|| "never".into());
        sayln!(
            "\njob {}: `{}` in {tz}; next run {next}",
            job.name,
            job.schedule.expression()
        );
        match store.runs(&job.name, 5) {
            Ok(runs) if runs.is_empty() => sayln!("  no runs yet"),
            Ok(runs) => {
                for r in runs {
                    sayln!(
                        "  run of {}: {}{}, {} tr{}, {} unit(s) behind, {} sent, {} failed{}",
                        fmt(r.scheduled_at),
                        r.outcome,
                        r.finished_at
                            .map(|t| format!(" at {}", fmt(t)))
                            .unwrap_or_default(),
                        r.attempts,
                        if r.attempts == 1 { "y" } else { "ies" },
                        r.units_behind.unwrap_or(0),
                        r.emails_sent.unwrap_or(0),
                        r.emails_failed.unwrap_or(0),
                        r.error
                            .map(|e| format!("\n    {}", e.replace('\n', "\n    ")))
                            .unwrap_or_default()
                    );
                }
            }
            Err(e) => esayln!("{e}"),
        }
    }
    exit::OK
}

/// The config and the opened state store, or the exit code after saying why.
fn open_store(config_path: Option<&Path>) -> Result<(Config, crate::store::Store), i32> {
    let config = Config::load(config_path, &env).map_err(|p| {
        print_problems(&p);
        exit::CONFIG
    })?;
    let store = crate::store::Store::open(&config.state_dir).map_err(|e| {
        esayln!("{e}");
        exit::ERROR
    })?;
    Ok((config, store))
}

fn history(config_path: Option<&Path>, job: &str, unit: Option<&str>) -> i32 {
    let (config, store) = match open_store(config_path) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let tz = config.timezone;
    let fmt = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string();
    let Some(unit) = unit else {
        match store.runs(job, 1000) {
            Ok(runs) if runs.is_empty() => sayln!("job {job}: no runs recorded"),
            Ok(runs) => {
                sayln!("job {job}: {} run(s), newest first", runs.len());
                for r in runs {
                    sayln!(
                        "  {}  {:<11} {} unit(s) behind, {} sent, {} not delivered{}",
                        fmt(r.scheduled_at),
                        r.outcome,
                        r.units_behind.unwrap_or(0),
                        r.emails_sent.unwrap_or(0),
                        r.emails_failed.unwrap_or(0),
                        r.error
                            .map(|e| format!("\n      {}", e.replace('\n', "\n      ")))
                            .unwrap_or_default()
                    );
                }
            }
            Err(e) => {
                esayln!("{e}");
                return exit::ERROR;
            }
        }
        return exit::OK;
    };
    // A unit's history includes that of the units it succeeded (the job's `successors`).
    let mut ids = vec![unit.to_string()];
    if let Ok(j) = find_job(&config, job) {
        let mut grew = true;
        while grew {
            grew = false;
            for (old, new) in &j.successors {
                if ids.contains(new) && !ids.contains(old) {
                    ids.push(old.clone());
                    grew = true;
                }
            }
        }
    }
    let mut figures = Vec::new();
    let mut messages = Vec::new();
    for id in &ids {
        match (store.unit_history(job, id), store.unit_messages(job, id)) {
            (Ok(f), Ok(m)) => {
                figures.extend(f);
                messages.extend(m);
            }
            (Err(e), _) | (_, Err(e)) => {
                esayln!("{e}");
                return exit::ERROR;
            }
        }
    }
    figures.sort_by_key(|r| r.scheduled_at);
    messages.sort_by_key(|m| m.id);
    if ids.len() > 1 {
        sayln!(
            "(including the units it succeeded: {})",
            ids[1..].join(", ")
        );
    }
    if figures.is_empty() && messages.is_empty() {
        sayln!("job {job}, unit {unit}: nothing recorded (check the ids: `disbmon history --job {job}` lists the runs)");
        return exit::OK;
    }
    sayln!("job {job}, unit {unit}: rate over time");
    sayln!(
        "  {:<10}  {:>8}  {:>8}  {:<9}  decision",
        "as of",
        "rate %",
        "expected",
        "status"
    );
    for r in &figures {
        sayln!(
            "  {:<10}  {:>8}  {:>8.2}  {:<9}  {}",
            r.as_of,
            r.figures
                .rate
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "-".into()),
            r.figures.expected,
            r.figures.status.as_str(),
            r.reason.map(|r| r.as_str()).unwrap_or("-")
        );
    }
    sayln!("\nemails");
    if messages.is_empty() {
        sayln!("  none");
    }
    for m in &messages {
        let state = match m.status {
            OutboxStatus::Sent => format!("delivered {}", m.sent_at.map(fmt).unwrap_or_default()),
            OutboxStatus::Failed => format!("FAILED: {}", m.last_error.clone().unwrap_or_default()),
            other => format!(
                "{other}, {} tr{} so far{}",
                m.attempts,
                if m.attempts == 1 { "y" } else { "ies" },
                m.last_error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        };
        sayln!(
            "  {}  to {}  why: {}  — {}\n      {}",
            fmt(m.created_at),
            m.recipient,
            m.reason.as_deref().unwrap_or(m.kind.as_str()),
            state,
            m.subject
        );
    }
    exit::OK
}

fn silence(config_path: Option<&Path>, action: SilenceAction, clock: &dyn Clock) -> i32 {
    let (_, store) = match open_store(config_path) {
        Ok(v) => v,
        Err(code) => return code,
    };
    match action {
        SilenceAction::Add {
            job,
            unit,
            until,
            reason,
        } => match store.add_silence(&job, &unit, until, &reason, clock.now()) {
            Ok(id) => {
                sayln!("silence {id}: alerts of unit {unit} in job {job} are held back until {until} (inclusive): {reason}");
                exit::OK
            }
            Err(e) => {
                esayln!("{e}");
                exit::ERROR
            }
        },
        SilenceAction::List => match store.silences() {
            Ok(list) => {
                if list.is_empty() {
                    sayln!("no silences");
                }
                for s in list {
                    sayln!(
                        "{}  job {}  unit {}  until {}  — {} (added {})",
                        s.id,
                        s.job,
                        s.unit,
                        s.until,
                        s.reason,
                        s.created_at.format("%Y-%m-%d")
                    );
                }
                exit::OK
            }
            Err(e) => {
                esayln!("{e}");
                exit::ERROR
            }
        },
        SilenceAction::Remove { id } => match store.remove_silence(id, clock.now()) {
            Ok(true) => {
                sayln!("silence {id} lifted");
                exit::OK
            }
            Ok(false) => {
                esayln!("no silence {id}; `disbmon silence list` shows them");
                exit::USAGE
            }
            Err(e) => {
                esayln!("{e}");
                exit::ERROR
            }
        },
    }
}

async fn outbox(
    config_path: Option<&Path>,
    action: Option<OutboxAction>,
    clock: &dyn Clock,
) -> i32 {
    let (config, store) = match open_store(config_path) {
        Ok(v) => v,
        Err(code) => return code,
    };
    match action {
        Some(OutboxAction::Retry { id }) => {
            match store.retry(id, clock.now(), config.mail.retry_deadline) {
                Ok(true) => {
                    sayln!("message {id} queued again; the daemon, the next `disbmon once` or `disbmon outbox send` sends it");
                    exit::OK
                }
                Ok(false) => {
                    esayln!("no failed message {id}; `disbmon outbox` lists them");
                    exit::USAGE
                }
                Err(e) => {
                    esayln!("{e}");
                    exit::ERROR
                }
            }
        }
        Some(OutboxAction::Send) => send_due(&config, &store, clock).await,
        Some(OutboxAction::Release { run }) => {
            match store.release_held(run, clock.now(), config.mail.retry_deadline) {
                Ok((Some(job), n)) if n > 0 => {
                    sayln!("run {run} of job {}: {n} held message(s) released; the daemon, the next `disbmon once` or `disbmon outbox send` sends them", esc(&job));
                    exit::OK
                }
                Ok(_) => {
                    esayln!("run {run} has no held messages; `disbmon outbox` lists the held runs");
                    exit::USAGE
                }
                Err(e) => {
                    esayln!("{e}");
                    exit::ERROR
                }
            }
        }
        None => match store.outbox(&[
            OutboxStatus::Pending,
            OutboxStatus::Sending,
            OutboxStatus::Failed,
        ]) {
            Ok(rows) => {
                let held = match store.held_runs() {
                    Ok(held) => {
                        for h in &held {
                            let (id, n) = (h.run_id, h.messages);
                            sayln!(
                                "HELD  run {id}  job {}  {}  {n} message(s) held by the mass-mailing guard; release them with `disbmon outbox release {id}`",
                                esc(&h.job),
                                h.scheduled.to_rfc3339()
                            );
                        }
                        held.len()
                    }
                    Err(e) => {
                        esayln!("{e}");
                        return exit::ERROR;
                    }
                };
                if rows.is_empty() && held == 0 {
                    sayln!("the outbox is empty: every message was delivered");
                }
                for r in rows {
                    sayln!(
                        "{}  {:<7}  job {}  {}  to {}  tries {}  {}\n      {}",
                        r.id,
                        r.status,
                        r.job,
                        r.unit
                            .as_deref()
                            .map(|u| format!("unit {u}"))
                            .unwrap_or_else(|| r.kind.to_string()),
                        r.recipient,
                        r.attempts,
                        match r.status {
                            OutboxStatus::Failed =>
                                format!("error: {}", r.last_error.unwrap_or_default()),
                            _ => format!(
                                "next try {}{}",
                                r.next_attempt_at.to_rfc3339(),
                                r.last_error
                                    .map(|e| format!(", last error: {e}"))
                                    .unwrap_or_default()
                            ),
                        },
                        r.subject
                    );
                }
                exit::OK
            }
            Err(e) => {
                esayln!("{e}");
                exit::ERROR
            }
        },
    }
}

/// `disbmon outbox send`: one drainer pass over everything due, then what is left.
async fn send_due(config: &Config, store: &crate::store::Store, clock: &dyn Clock) -> i32 {
    let drainer = match crate::outbox::Drainer::new(store, &config.mail, clock) {
        Ok(d) => d,
        Err(e) => {
            esayln!("{e}");
            return exit::ERROR;
        }
    };
    let pass = drainer.drain(&[]).await;
    sayln!(
        "{} sent, {} deferred, {} given up ({})",
        pass.sent,
        pass.deferred,
        pass.failed,
        drainer.mailer().describe()
    );
    for f in &pass.failures {
        esayln!(
            "not delivered: job {}, to {}: {}: {}",
            f.job,
            f.recipient,
            f.subject,
            f.why
        );
    }
    if let Some(e) = pass.store_error {
        esayln!("{e}");
        return exit::ERROR;
    }
    match store.waiting() {
        Ok(0) if pass.failed == 0 => exit::OK,
        Ok(n) => {
            if n > 0 {
                esayln!("{n} message(s) still wait in the outbox (`disbmon outbox` lists them)");
            }
            exit::DELIVERY
        }
        Err(e) => {
            esayln!("{e}");
            exit::ERROR
        }
    }
}
