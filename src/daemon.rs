//! The daemon (`disbmon run`): runs every job on its own schedule, one run at a time per job,
//! each run recorded in the state store before it starts so that a restart never runs a slot twice.
//! Catches up missed slots, retries failed runs with backoff, tells operators about failures and
//! silent jobs, stops gracefully on SIGTERM/SIGINT and reloads on SIGHUP.
//!
//! The loop sleeps until the earliest next run (or at most [`TICK`]), so that heartbeats and the
//! dead-man check keep going; every decision about time uses the injected clock.

use crate::admin::{self, Shared};
use crate::clock::Clock;
use crate::config::{Config, Problem};
use crate::job::{self, Job};
use crate::money::Language;
use crate::notify::queue;
use crate::outbox::Drainer;
use crate::pipeline;
use crate::report::Outcome;
use crate::store::{DaemonLock, MessageKind, RunOutcome, RunResult, Store, Trigger};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The longest the loop sleeps: heartbeats, the dead-man check and the health endpoint rely on it.
pub const TICK: Duration = Duration::from_secs(5);

/// What to do at start about slots that passed while the daemon was down.
#[derive(Debug, Clone, PartialEq)]
pub struct CatchUp {
    /// The one slot to run now (the latest missed one inside the window).
    pub run: Option<DateTime<Utc>>,
    /// Missed slots not run (older than the window, or superseded by a later one): the first and
    /// the last of them, for the log.
    pub skipped: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The latest fire time at or before `now`, after `after`; found by looking back in doubling
/// steps, so that a per-second job down for a month costs a few dozen look-ups, not millions.
fn latest_slot(job: &Job, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let next = |t: DateTime<Utc>| {
        job.schedule
            .next_after(job.timezone, t)
            .map(|n| n.with_timezone(&Utc))
    };
    let mut step = chrono::Duration::seconds(1);
    let mut found = None;
    loop {
        let from = (now - step).max(after);
        if let Some(t) = next(from).filter(|t| *t <= now) {
            found = Some(t);
            break;
        }
        if from == after {
            break;
        }
        step = step * 2;
    }
    // Walk forward to the last slot that is still not after now (a step may have overshot back).
    let mut t = found?;
    while let Some(n) = next(t).filter(|n| *n <= now) {
        t = n;
    }
    Some(t)
}

/// Decides which missed slot to run at start. Slots after `last_seen` (when the daemon last
/// watched this job) and up to `now` were missed, as were `interrupted` ones; the latest that is
/// younger than `window` runs once, however many there were. A job the daemon never watched
/// (`last_seen` none) has missed nothing but its interrupted runs.
pub fn catch_up(
    job: &Job,
    last_seen: Option<DateTime<Utc>>,
    interrupted: &[DateTime<Utc>],
    now: DateTime<Utc>,
    window: Duration,
) -> CatchUp {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    let interrupted: Vec<DateTime<Utc>> =
        interrupted.iter().copied().filter(|t| *t <= now).collect();
    // Scheduled slots missed since the job was last watched: the first and the latest.
    let first = last_seen.and_then(|seen| {
        job.schedule
            .next_after(job.timezone, seen)
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| *t <= now)
    });
    let latest = last_seen
        .zip(first)
        .and_then(|(seen, _)| latest_slot(job, seen, now));
    let run = interrupted
        .iter()
        .copied()
        .chain(latest)
        .filter(|t| now - *t <= window)
        .max();
    // What is not run: the interrupted slots but the one run, and the scheduled range but the
    // one run (then it ends at the slot before it).
    let mut rest: Vec<DateTime<Utc>> = interrupted
        .into_iter()
        .filter(|t| Some(*t) != run)
        .collect();
    if let (Some(seen), Some(first), Some(latest)) = (last_seen, first, latest) {
        let end = if Some(latest) == run {
            latest_slot(job, seen, latest - chrono::Duration::milliseconds(1))
        } else {
            Some(latest)
        };
        if let Some(end) = end.filter(|e| *e >= first) {
            rest.extend([first, end]);
        }
    }
    CatchUp {
        run,
        skipped: rest
            .iter()
            .min()
            .zip(rest.iter().max())
            .map(|(a, b)| (*a, *b)),
    }
}

/// A job as the loop holds it.
struct Scheduled {
    job: Arc<Job>,
    next: Option<DateTime<Utc>>,
    task: Option<JoinHandle<()>>,
}

impl Scheduled {
    fn busy(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }
}

/// Loads the config and every job, or returns every problem.
pub fn load_all(config_path: Option<&std::path::Path>) -> Result<(Config, Vec<Job>), Vec<Problem>> {
    let config = Config::load(config_path, &|k| std::env::var(k).ok())?;
    let mut problems = Vec::new();
    let mut jobs = Vec::new();
    let files = job::files(&config.jobs_dir).map_err(|p| vec![p])?;
    for f in files {
        match job::load(&f, config.timezone) {
            Ok(j) => {
                problems.extend(outside_allowed(&config, &j));
                jobs.push(j);
            }
            Err(p) => problems.extend(p.list),
        }
    }
    if problems.is_empty() {
        Ok((config, jobs))
    } else {
        Err(problems)
    }
}

/// A job's own recipients (cc, digest, escalation) outside `mail.allowed_domains`: the config
/// contradicts itself, and `check` says so before any mail is refused.
pub fn outside_allowed(config: &Config, job: &Job) -> Vec<Problem> {
    let lists = [
        ("alerts.cc", &job.cc),
        ("alerts.digest_to", &job.digest_to),
        ("alerts.escalate_to", &job.escalate_to),
    ];
    let mut problems = Vec::new();
    for (key, list) in lists {
        for (i, m) in list.iter().enumerate() {
            if !config.mail.allows(m.email.as_str()) {
                problems.push(Problem {
                    file: job.file.clone(),
                    key: format!("{key}[{i}]"),
                    message: format!(
                        "`{}` is outside mail.allowed_domains ({}); mail to it would be refused — correct it, or add its domain to the config",
                        m.email,
                        config.mail.allowed_domains.join(", ")
                    ),
                });
            }
        }
    }
    problems
}

fn local(job: &Job, t: DateTime<Utc>) -> String {
    t.with_timezone(&job.timezone)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// Everything a run task needs, cloned per run.
#[derive(Clone)]
struct Env {
    config: Arc<Config>,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    shared: Arc<Shared>,
    stopping: watch::Receiver<bool>,
    /// Wakes the outbox worker (a run queued messages).
    outbox_wake: Arc<tokio::sync::Notify>,
    /// The configuration in force, for tasks that outlive a reload (the outbox worker).
    current: watch::Receiver<Arc<Config>>,
    /// Makes each operator notice its own message, even with the same subject at the same time.
    notices: Arc<AtomicU64>,
}

/// How the daemon is told to stop and to reload: signals in the binary, channels in tests.
pub struct Control<S> {
    /// Resolves when the daemon should stop (SIGTERM, SIGINT).
    pub shutdown: S,
    /// A message per reload request (SIGHUP).
    pub reload: mpsc::Receiver<()>,
}

/// Runs the daemon until `control.shutdown` resolves. Returns the exit code. Every decision about
/// time uses `clock`; the loop's sleeps are tokio's, so tests can pause and advance time.
pub async fn run<S: Future<Output = ()>>(
    config_path: Option<PathBuf>,
    clock: Arc<dyn Clock>,
    control: Control<S>,
) -> i32 {
    let Control {
        shutdown,
        reload: mut reloads,
    } = control;
    tokio::pin!(shutdown);
    let (config, jobs) = match load_all(config_path.as_deref()) {
        Ok(v) => v,
        Err(problems) => {
            for p in &problems {
                tracing::error!("{p}");
            }
            tracing::error!(
                "{} problems in the configuration; fix them (see `disbmon check`)",
                problems.len()
            );
            return crate::cli::exit::CONFIG;
        }
    };
    // One daemon per state folder: a second one would re-run slots and re-send messages.
    let _lock = match DaemonLock::acquire(&config.state_dir) {
        Ok(l) => l,
        Err(e @ crate::store::LockError::Held { .. }) => {
            tracing::error!("{e}");
            return crate::cli::exit::LOCKED;
        }
        Err(e) => {
            tracing::error!("{e}");
            return crate::cli::exit::ERROR;
        }
    };
    let store = match Store::open(&config.state_dir) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!("{e}");
            return crate::cli::exit::ERROR;
        }
    };
    let shared = Arc::new(Shared::new(store.clone(), config.admin_token.clone()));
    if let Some(addr) = config.admin_listen {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                let addr = listener.local_addr().unwrap_or(addr);
                tracing::info!("admin listener on http://{addr} (/healthz, /metrics, /status)");
                tokio::spawn(admin::serve(listener, shared.clone()));
            }
            Err(e) => {
                tracing::error!("cannot listen on {addr} (admin.listen): {e}; choose another address, or \"off\"");
                return crate::cli::exit::CONFIG;
            }
        }
    }
    if let Some(answers) = &config.answers {
        match tokio::net::TcpListener::bind(answers.listen).await {
            Ok(listener) => {
                let addr = listener.local_addr().unwrap_or(answers.listen);
                tracing::info!(
                    "answers listener on http://{addr} (links point at {}/a/…)",
                    answers.public_url
                );
                let known = shared.clone();
                let jobs: crate::answers::Jobs = Arc::new(move |job: &str| {
                    known.jobs().into_iter().find(|j| j.name == job).map(|j| {
                        let zone = j.timezone.parse().unwrap_or(chrono_tz::Asia::Ho_Chi_Minh);
                        (j.language, zone)
                    })
                });
                let (answers, store, clock) = (answers.clone(), store.clone(), clock.clone());
                tokio::spawn(async move {
                    crate::answers::serve(listener, &answers, store, clock, jobs).await
                });
            }
            Err(e) => {
                tracing::error!(
                    "cannot listen on {} (answers.listen): {e}; choose another address",
                    answers.listen
                );
                return crate::cli::exit::CONFIG;
            }
        }
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let config = Arc::new(config);
    let (config_tx, config_rx) = watch::channel(config.clone());
    let mut env = Env {
        current: config_rx,
        config,
        store: store.clone(),
        clock: clock.clone(),
        shared: shared.clone(),
        stopping: stop_rx,
        outbox_wake: Arc::new(tokio::sync::Notify::new()),
        notices: Arc::new(AtomicU64::new(0)),
    };

    // Messages pending from before (a crash, a mail server that was down) go out before anything
    // else; rows a dead process was sending are taken back by the drainer.
    deliver_pending(&env).await;
    let worker = tokio::spawn(outbox_worker(env.clone()));

    let started = clock.now();
    // This daemon holds the lock, so a scheduled run still marked running was cut off by a crash.
    match store.interrupt_scheduled(None) {
        Ok(n) if n > 0 => tracing::warn!(
            "{n} run(s) were cut off when the daemon last stopped; they count as missed"
        ),
        Err(e) => tracing::error!("{e}"),
        _ => {}
    }
    if let Err(e) = store.interrupt_orphaned_manual() {
        tracing::error!("{e}");
    }
    let mut scheduled: BTreeMap<String, Scheduled> = BTreeMap::new();
    for job in jobs {
        let job = Arc::new(job);
        let interrupted = store.interrupted(&job.name).unwrap_or_default();
        let last_seen = store.job_seen(&job.name).unwrap_or_else(|e| {
            tracing::error!("{e}");
            None
        });
        let decision = catch_up(
            &job,
            last_seen.map(|s| s.last),
            &interrupted,
            started,
            job.catch_up,
        );
        if let Some((first, last)) = decision.skipped {
            tracing::warn!(job = %job.name, "missed runs from {} to {} are not caught up (older than catch_up, or a later one runs instead)", local(&job, first), local(&job, last));
        }
        let mut s = Scheduled {
            next: job
                .schedule
                .next_after(job.timezone, started)
                .map(|t| t.with_timezone(&Utc)),
            job,
            task: None,
        };
        if let Some(slot) = decision.run {
            tracing::info!(job = %s.job.name, "catching up the missed run of {}", local(&s.job, slot));
            start(&mut s, slot, &env);
        }
        scheduled.insert(s.job.name.clone(), s);
    }
    publish(&scheduled, &shared);
    tracing::info!(
        "disbmon started with {} job(s); state in {}",
        scheduled.len(),
        store.path().display()
    );

    loop {
        let now = clock.now();
        let names: Vec<&str> = scheduled.keys().map(String::as_str).collect();
        if let Err(e) = store.beat(now, &names) {
            tracing::error!("{e}");
        }
        shared.alive();
        let earliest = scheduled.values().filter_map(|s| s.next).min();
        let wait = earliest
            .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(TICK)
            .min(TICK);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut shutdown => { tracing::info!("stopping"); break; }
            Some(()) = reloads.recv() => {
                reload(&config_tx, config_path.as_deref(), &mut scheduled, &mut env);
                publish(&scheduled, &shared);
                continue;
            }
        }
        let now = clock.now();
        for s in scheduled.values_mut() {
            let Some(due) = s.next.filter(|t| *t <= now) else {
                continue;
            };
            // Slots that passed while the loop was busy are not run one by one: the latest runs.
            s.next = s
                .job
                .schedule
                .next_after(s.job.timezone, now)
                .map(|t| t.with_timezone(&Utc));
            start(s, due, &env);
        }
        dead_man(&scheduled, &env, now).await;
        publish(&scheduled, &shared);
    }

    // Stop scheduling; let runs in progress finish within the grace period.
    let _ = stop_tx.send(true);
    let grace = env.config.shutdown_grace;
    let tasks: Vec<(String, JoinHandle<()>)> = scheduled
        .into_iter()
        .filter_map(|(name, s)| s.task.filter(|t| !t.is_finished()).map(|t| (name, t)))
        .collect();
    if !tasks.is_empty() {
        tracing::info!(
            "waiting up to {} s for {} run(s) in progress",
            grace.as_secs(),
            tasks.len()
        );
    }
    let deadline = tokio::time::sleep(grace);
    tokio::pin!(deadline);
    for (name, mut task) in tasks {
        tokio::select! {
            _ = &mut task => {}
            _ = &mut deadline => {
                task.abort();
                tracing::warn!(job = %name, "run cut off at the end of the shutdown grace period; recorded as interrupted");
                if let Err(e) = store.interrupt_scheduled(Some(&name)) {
                    tracing::error!("{e}");
                }
            }
        }
    }
    worker.abort();
    tracing::info!("stopped");
    crate::cli::exit::OK
}

/// How often the outbox worker looks for messages due for another try.
const OUTBOX_TICK: Duration = Duration::from_secs(2);

/// One outbox pass with the current configuration; messages given up are reported to the
/// operators (they are also listed in their job's next digest).
async fn deliver_pending(env: &Env) {
    let config = env.current.borrow().clone();
    let env = &Env {
        config,
        ..env.clone()
    };
    let drainer = match Drainer::new(&env.store, &env.config.mail, env.clock.as_ref()) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("outbox: {e}");
            return;
        }
    };
    let pass = drainer.drain(&[]).await;
    pass.log();
    env.shared.metrics(|m| {
        *m.outbox_sent.get_or_insert(0) += pass.sent as u64;
        *m.outbox_failed.get_or_insert(0) += pass.failed as u64;
    });
    // Operator notices themselves are not reported again if they fail (no loop).
    let failures: Vec<_> = pass
        .failures
        .iter()
        .filter(|f| f.kind != MessageKind::Operator)
        .collect();
    if failures.is_empty() {
        return;
    }
    // In the language of the first failed message's job.
    let language = language_of(env, &failures[0].job);
    let n = failures.len();
    let (subject, head, tail) = match language {
        Language::Vi => (
            format!("[disbmon] {n} thư không gửi được"),
            format!("{n} thư không gửi được và đã dừng gửi:"),
            "`disbmon outbox` liệt kê các thư này; `disbmon outbox retry ID` xếp một thư để gửi lại.",
        ),
        Language::En => (
            format!("[disbmon] {n} message(s) could not be delivered"),
            format!("{n} message(s) could not be delivered and were given up:"),
            "`disbmon outbox` lists them; `disbmon outbox retry ID` queues one again.",
        ),
    };
    let mut lines = vec![head];
    lines.extend(failures.iter().map(|f| {
        format!(
            "  job {}, to {}: {}\n    {}",
            f.job, f.recipient, f.subject, f.why
        )
    }));
    lines.push(tail.into());
    notify_operators(env, &failures[0].job, language, &subject, &lines).await;
}

/// A job's language, as the scheduler loop last published it (Vietnamese for a job it no longer
/// runs).
fn language_of(env: &Env, job: &str) -> Language {
    env.shared
        .jobs()
        .iter()
        .find(|j| j.name == job)
        .map(|j| j.language)
        .unwrap_or_default()
}

/// Delivers due messages every few seconds, or at once when a run has queued some.
async fn outbox_worker(env: Env) {
    let mut stopping = env.stopping.clone();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(OUTBOX_TICK) => {}
            _ = env.outbox_wake.notified() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        deliver_pending(&env).await;
    }
}

/// Starts the run of `slot` unless the previous run is still going or the slot already ran.
fn start(s: &mut Scheduled, slot: DateTime<Utc>, env: &Env) {
    let job = s.job.clone();
    if s.busy() {
        tracing::warn!(job = %job.name, "skipping the run of {}: the previous run is still going", local(&job, slot));
        env.shared
            .metrics(|m| *m.skipped.entry(job.name.clone()).or_default() += 1);
        return;
    }
    match env
        .store
        .claim(&job.name, slot, env.clock.now(), Trigger::Schedule)
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(job = %job.name, "the run of {} already took place; not running it again", local(&job, slot));
            return;
        }
        Err(e) => {
            tracing::error!(job = %job.name, "cannot record the run of {}: {e}; not running it", local(&job, slot));
            return;
        }
    }
    let env = env.clone();
    s.task = Some(tokio::spawn(async move {
        run_with_retries(job, slot, env).await
    }));
}

/// What the state store records of a finished run.
pub fn run_result(report: &crate::report::RunReport, attempts: u32) -> RunResult {
    let ok = !failed(report);
    let sent = report.alerts.iter().filter(|a| a.delivered).count()
        + usize::from(report.digest.as_ref().is_some_and(|d| d.delivered));
    let failed = report
        .alerts
        .iter()
        .filter(|a| !a.delivered && !a.to.is_empty())
        .count()
        + usize::from(report.digest.as_ref().is_some_and(|d| !d.delivered));
    let held = report.outcome == Outcome::Held;
    RunResult {
        outcome: match (held, ok) {
            (true, _) => RunOutcome::Held,
            (false, true) => RunOutcome::Ok,
            (false, false) => RunOutcome::Failed,
        },
        attempts,
        units_behind: report
            .units
            .iter()
            .filter(|u| u.status.is_alerted())
            .count() as u32,
        emails_sent: sent as u32,
        emails_failed: failed as u32,
        error: (!ok || held).then(|| failure_summary(report)),
    }
}

/// One scheduled run: tries, backoff between them, the record, and the operators' notice. Only
/// a rejected run (a source down, bad data) is tried again; messages that could not be delivered
/// stay in the outbox, whose worker keeps trying them.
async fn run_with_retries(job: Arc<Job>, slot: DateTime<Utc>, mut env: Env) {
    let as_of = slot.with_timezone(&job.timezone).date_naive();
    let began = env.clock.now();
    let mut errors: Vec<String> = Vec::new();
    let mut attempts = 0;
    tracing::info!(job = %job.name, "run of {} starts (as of {as_of})", local(&job, slot));
    let report = loop {
        attempts += 1;
        let run = pipeline::Run {
            job: &job,
            config: &env.config,
            store: &env.store,
            clock: env.clock.as_ref(),
            scheduled: slot,
            as_of,
            dry_run: false,
        };
        let report = pipeline::run_job(&run).await;
        let ok = !failed(&report);
        if !ok {
            errors.push(format!("try {attempts}: {}", failure_summary(&report)));
        }
        if ok || attempts > job.retries.len() {
            break report;
        }
        let delay = job.retries[attempts - 1];
        tracing::warn!(job = %job.name, "run of {} failed (try {attempts}); retrying in {} s: {}", local(&job, slot), delay.as_secs(), errors.last().map(String::as_str).unwrap_or(""));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = env.stopping.wait_for(|s| *s) => {
                tracing::warn!(job = %job.name, "shutdown during the backoff of the run of {}; recorded as interrupted", local(&job, slot));
                let _ = env.store.interrupt_scheduled(Some(&job.name));
                return;
            }
        }
    };
    let mut result = run_result(&report, attempts as u32);
    if !errors.is_empty() && result.outcome == RunOutcome::Failed {
        result.error = Some(errors.join("\n"));
    }
    let ok = result.outcome == RunOutcome::Ok;
    env.shared.last_run(
        &job.name,
        (!ok).then(|| result.error.clone().unwrap_or_default()),
    );
    let now = env.clock.now();
    if let Err(e) = env.store.finish(&job.name, slot, now, &result) {
        tracing::error!(job = %job.name, "{e}");
    }
    env.shared.metrics(|m| {
        *m.runs
            .entry((job.name.clone(), result.outcome.to_string()))
            .or_default() += 1;
        let d = m.duration.entry(job.name.clone()).or_default();
        d.0 += (now - began).to_std().unwrap_or_default().as_secs_f64();
        d.1 += 1;
        *m.emails_sent.entry(job.name.clone()).or_default() += u64::from(result.emails_sent);
        *m.emails_failed.entry(job.name.clone()).or_default() += u64::from(result.emails_failed);
        if ok {
            m.last_success.insert(job.name.clone(), now.timestamp());
        }
    });
    env.outbox_wake.notify_one();
    if ok {
        tracing::info!(
            job = %job.name,
            "run of {} done: {} unit(s) behind, {} message(s) sent, {} waiting in the outbox",
            local(&job, slot),
            result.units_behind,
            result.emails_sent,
            result.emails_failed
        );
        return;
    }
    if result.outcome == RunOutcome::Held {
        // The operators were told by the run itself, with the command that releases the messages.
        tracing::warn!(job = %job.name, "run of {} done, its messages held: {}", local(&job, slot), result.error.as_deref().unwrap_or(""));
        return;
    }
    tracing::error!(job = %job.name, "run of {} failed after {attempts} tr{}", local(&job, slot), if attempts == 1 { "y" } else { "ies" });
    let (subject, mut lines) = match job.language {
        Language::Vi => (
            format!(
                "[disbmon] công việc {} không chạy được: lần chạy {}",
                job.name,
                local(&job, slot)
            ),
            vec![
                format!(
                    "Lần chạy công việc `{}` theo lịch lúc {} (số liệu đến ngày {}) không thành công sau {attempts} lần thử.",
                    job.name,
                    local(&job, slot),
                    as_of.format("%d/%m/%Y")
                ),
                format!("Tệp công việc: {}", job.file.display()),
                "Lý do:".to_string(),
            ],
        ),
        Language::En => (
            format!("[disbmon] job {} failed: run of {}", job.name, local(&job, slot)),
            vec![
                format!(
                    "The run of job `{}` scheduled for {} (as of {as_of}) failed after {attempts} tr{}.",
                    job.name,
                    local(&job, slot),
                    if attempts == 1 { "y" } else { "ies" }
                ),
                format!("Job file: {}", job.file.display()),
                "Why:".to_string(),
            ],
        ),
    };
    lines.extend(errors.iter().map(|e| format!("  {e}")));
    lines.push(match job.language {
        Language::Vi => "Hệ thống vẫn chạy các lần theo lịch tiếp theo. Lệnh `disbmon once JOB --dry-run` cho xem lỗi.".into(),
        Language::En => "The daemon goes on with the next scheduled runs. `disbmon once JOB --dry-run` shows the problem by hand.".into(),
    });
    notify_operators(&env, &job.name, job.language, &subject, &lines).await;
}

/// A run that is tried again: its data was rejected, or the run itself failed.
fn failed(report: &crate::report::RunReport) -> bool {
    matches!(report.outcome, Outcome::Rejected | Outcome::Failed)
}

/// A short account of why a run failed, for logs and operators.
fn failure_summary(report: &crate::report::RunReport) -> String {
    match report.outcome {
        Outcome::Held => format!(
            "{} messages held by the mass-mailing guard: {}",
            report.held.as_ref().map(|h| h.messages).unwrap_or_default(),
            report
                .held
                .as_ref()
                .map(|h| h.release.as_str())
                .unwrap_or("disbmon outbox")
        ),
        Outcome::Failed => format!(
            "the run failed: {}",
            report.error.as_deref().unwrap_or("unknown")
        ),
        Outcome::Rejected => {
            let mut parts: Vec<String> = report
                .data_issues
                .iter()
                .take(5)
                .map(|i| i.to_string())
                .collect();
            if report.data_issues.len() > 5 {
                parts.push(format!(
                    "and {} more data issues",
                    report.data_issues.len() - 5
                ));
            }
            format!("data rejected: {}", parts.join("; "))
        }
        Outcome::DeliveryFailed => {
            let errors: Vec<String> = report
                .alerts
                .iter()
                .filter(|a| !a.to.is_empty())
                .filter_map(|a| a.error.as_ref().map(|e| format!("{}: {e}", a.unit_id)))
                .chain(
                    report
                        .digest
                        .iter()
                        .filter_map(|d| d.error.as_ref().map(|e| format!("digest: {e}"))),
                )
                .take(5)
                .collect();
            format!("delivery failed: {}", errors.join("; "))
        }
        Outcome::Ok => "ok".into(),
    }
}

/// Queues a notice to the operators in the outbox, and wakes its worker. Each notice is its own
/// message (its Message-ID carries the time and a counter), however alike two subjects are.
/// `lang`: the job's language, which the notice is written in.
async fn notify_operators(env: &Env, job: &str, lang: Language, subject: &str, lines: &[String]) {
    if env.config.operators.is_empty() {
        tracing::error!("no operators configured to tell: {subject}");
        return;
    }
    let now = env.clock.now();
    let n = env.notices.fetch_add(1, Ordering::Relaxed);
    let identity = format!(
        "operator|{job}|{subject}|{}|{}|{n}",
        now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        std::process::id()
    );
    let queued = queue::operator_message(&env.config, lang, subject, lines, &identity, now)
        .map_err(|e| e.to_string())
        .and_then(|m| {
            env.store
                .enqueue(job, &[m], now, env.config.mail.retry_deadline)
                .map_err(|e| e.to_string())
        });
    match queued {
        Ok(n) if n > 0 => {
            tracing::info!("operators told: {subject}");
            env.outbox_wake.notify_one();
        }
        Ok(_) => tracing::error!("the notice to the operators was already queued: {subject}"),
        Err(e) => tracing::error!("could not tell the operators ({subject}): {e}"),
    }
}

/// Tells operators once when a job has not succeeded for longer than its silence limit.
async fn dead_man(scheduled: &BTreeMap<String, Scheduled>, env: &Env, now: DateTime<Utc>) {
    for s in scheduled.values() {
        let Some(limit) = s.job.silence_limit(now) else {
            continue;
        };
        let last = env.store.last_success(&s.job.name).ok().flatten();
        // A job that never succeeded is silent since the daemon first watched it — a time kept
        // in the store, so a restart does not make it a new silence (and a new notice).
        let Some(started) = env
            .store
            .job_seen(&s.job.name)
            .ok()
            .flatten()
            .map(|s| s.first)
        else {
            continue;
        };
        let since = last.unwrap_or(started);
        let silent = (now - since).to_std().unwrap_or_default();
        if silent <= limit {
            continue;
        }
        let key = last
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| format!("never since {}", started.to_rfc3339()));
        if !env
            .store
            .notice_once(&s.job.name, "silence", &key, now)
            .unwrap_or(false)
        {
            continue;
        }
        let hours = silent.as_secs() / 3600;
        let (subject, lines) = match s.job.language {
            Language::Vi => (
                format!("[disbmon] công việc {} đã {hours} giờ không chạy thành công", s.job.name),
                vec![
                    match last {
                        Some(t) => format!("Công việc `{}` chạy thành công lần cuối lúc {}.", s.job.name, local(&s.job, t)),
                        None => format!("Công việc `{}` chưa chạy thành công lần nào kể từ khi hệ thống khởi động lúc {}.", s.job.name, local(&s.job, started)),
                    },
                    format!("Giới hạn của công việc (max_silence, hoặc gấp đôi chu kỳ) là {} giây. Xem các lần chạy gần đây bằng `disbmon status`.", limit.as_secs()),
                ],
            ),
            Language::En => (
                format!("[disbmon] job {} has not completed successfully for {hours} h", s.job.name),
                vec![
                    match last {
                        Some(t) => format!("Job `{}` last completed successfully at {}.", s.job.name, local(&s.job, t)),
                        None => format!("Job `{}` has not completed successfully since the daemon started at {}.", s.job.name, local(&s.job, started)),
                    },
                    format!("Its limit (max_silence, or twice its period) is {} s. Check its recent runs with `disbmon status`.", limit.as_secs()),
                ],
            ),
        };
        tracing::error!(job = %s.job.name, "{subject}");
        notify_operators(env, &s.job.name, s.job.language, &subject, &lines).await;
    }
}

/// Re-reads config and jobs; keeps the old ones when anything is wrong.
fn reload(
    config_tx: &watch::Sender<Arc<Config>>,
    config_path: Option<&std::path::Path>,
    scheduled: &mut BTreeMap<String, Scheduled>,
    env: &mut Env,
) {
    tracing::info!("SIGHUP: reloading the configuration");
    let (config, jobs) = match load_all(config_path) {
        Ok(v) => v,
        Err(problems) => {
            for p in &problems {
                tracing::error!("{p}");
            }
            tracing::error!(
                "the new configuration is rejected ({} problems); the old one keeps running",
                problems.len()
            );
            return;
        }
    };
    if config.state_dir != env.config.state_dir || config.admin_listen != env.config.admin_listen {
        tracing::warn!("state_dir and admin.listen take effect at the next start");
    }
    // The answers listener checks links with the key it started with: runs keep signing with it
    // (and keep sending links, or none) until the next start.
    let mut config = config;
    let same = |a: &crate::config::AnswersConfig, b: &crate::config::AnswersConfig| {
        a.listen == b.listen
            && a.public_url == b.public_url
            && a.key.expose() == b.key.expose()
            && a.per_minute == b.per_minute
            && a.trusted_proxies == b.trusted_proxies
    };
    let changed = match (&config.answers, &env.config.answers) {
        (Some(a), Some(b)) => !same(a, b),
        (None, None) => false,
        _ => true,
    };
    if changed {
        tracing::warn!("[answers] takes effect at the next start; until then links are signed and checked as before");
        config.answers = env.config.answers.clone();
    }
    env.config = Arc::new(config);
    let _ = config_tx.send(env.config.clone());
    let now = env.clock.now();
    let names: HashSet<String> = jobs.iter().map(|j| j.name.clone()).collect();
    scheduled.retain(|name, _| {
        let keep = names.contains(name);
        if !keep {
            tracing::info!(job = %name, "job removed");
        }
        keep
    });
    for job in jobs {
        let next = job
            .schedule
            .next_after(job.timezone, now)
            .map(|t| t.with_timezone(&Utc));
        match scheduled.get_mut(&job.name) {
            Some(s) if s.job.text == job.text => {}
            Some(s) => {
                tracing::info!(job = %job.name, "job changed");
                s.job = Arc::new(job);
                s.next = next;
            }
            None => {
                tracing::info!(job = %job.name, "job added; next run {}", next.map(|t| local(&job, t)).unwrap_or_else(|| "never".into()));
                scheduled.insert(
                    job.name.clone(),
                    Scheduled {
                        job: Arc::new(job),
                        next,
                        task: None,
                    },
                );
            }
        }
    }
}

fn publish(scheduled: &BTreeMap<String, Scheduled>, shared: &Shared) {
    let jobs = scheduled
        .values()
        .map(|s| admin::JobView {
            name: s.job.name.clone(),
            schedule: s.job.schedule.expression().to_string(),
            timezone: s.job.timezone.to_string(),
            next_run: s
                .next
                .map(|t| t.with_timezone(&s.job.timezone).to_rfc3339()),
            next_run_ts: s.next.map(|t| t.timestamp()),
            running: s.busy(),
            language: s.job.language,
        })
        .collect();
    shared.set_jobs(jobs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn job(schedule: &str) -> Job {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.toml");
        std::fs::write(
            &path,
            format!(
                r#"schedule = "{schedule}"
[sources.units]
location = "u.csv"
columns = {{ unit_id = "a", unit_name = "b", email = "c" }}
[sources.plans]
location = "p.csv"
columns = {{ unit_id = "a", amount = "b" }}
[sources.disbursements]
location = "d.csv"
columns = {{ unit_id = "a", date = "b", amount = "c" }}
[rule]
milestones = [{{ date = "12-31", pct = 95 }}]
"#
            ),
        )
        .unwrap();
        job::load(&path, chrono_tz::Asia::Ho_Chi_Minh).unwrap()
    }

    fn hcm(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Ho_Chi_Minh
            .with_ymd_and_hms(2026, 11, d, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn one_missed_slot_inside_the_window_runs_once() {
        // Daily at 08:00; down from 07:00 on the 27th to 09:00 on the 27th.
        let j = job("0 8 * * *");
        let c = catch_up(&j, Some(hcm(27, 7, 0)), &[], hcm(27, 9, 0), DAY);
        assert_eq!(
            c,
            CatchUp {
                run: Some(hcm(27, 8, 0)),
                skipped: None
            }
        );
    }

    #[test]
    fn many_missed_slots_run_once_and_older_ones_are_only_logged() {
        // Down for three days: three slots missed, only the latest (inside 24 h) runs.
        let j = job("0 8 * * *");
        let c = catch_up(&j, Some(hcm(24, 12, 0)), &[], hcm(27, 9, 0), DAY);
        assert_eq!(c.run, Some(hcm(27, 8, 0)));
        assert_eq!(c.skipped, Some((hcm(25, 8, 0), hcm(26, 8, 0))));
        // Nothing inside the window: nothing runs, the misses are logged.
        let c = catch_up(
            &j,
            Some(hcm(24, 12, 0)),
            &[],
            hcm(27, 9, 0),
            Duration::from_secs(1800),
        );
        assert_eq!(
            (c.run, c.skipped),
            (None, Some((hcm(25, 8, 0), hcm(27, 8, 0))))
        );
    }

    #[test]
    fn a_per_second_job_down_for_days_catches_up_its_latest_slot_without_walking_them_all() {
        let j = job("* * * * * *");
        let c = catch_up(&j, Some(hcm(20, 8, 0)), &[], hcm(27, 9, 0), DAY);
        assert_eq!(c.run, Some(hcm(27, 9, 0)));
        assert_eq!(
            c.skipped,
            Some((
                hcm(20, 8, 0) + chrono::Duration::seconds(1),
                hcm(27, 9, 0) - chrono::Duration::seconds(1)
            ))
        );
        // Every 5 minutes, down for 40 days: the latest slot, not the 100,000th.
        let j = job("*/5 * * * *");
        let c = catch_up(
            &j,
            Some(hcm(1, 0, 0) - chrono::Duration::days(30)),
            &[],
            hcm(27, 9, 2),
            DAY,
        );
        assert_eq!(c.run, Some(hcm(27, 9, 0)));
    }

    #[test]
    fn no_miss_no_run_and_a_first_start_does_not_catch_up() {
        let j = job("0 8 * * *");
        assert_eq!(
            catch_up(&j, Some(hcm(27, 8, 30)), &[], hcm(27, 9, 0), DAY).run,
            None
        );
        assert_eq!(catch_up(&j, None, &[], hcm(27, 9, 0), DAY).run, None);
    }

    #[test]
    fn an_interrupted_run_counts_as_missed() {
        let j = job("0 8 * * MON");
        let c = catch_up(
            &j,
            Some(hcm(23, 8, 1)),
            &[hcm(23, 8, 0)],
            hcm(23, 9, 0),
            DAY,
        );
        assert_eq!(c.run, Some(hcm(23, 8, 0)));
        // Even on what looks like a first start.
        assert_eq!(
            catch_up(&j, None, &[hcm(23, 8, 0)], hcm(23, 9, 0), DAY).run,
            Some(hcm(23, 8, 0))
        );
    }

    #[tokio::test]
    async fn defect_4_two_notices_with_the_same_subject_are_two_messages() {
        let dir = tempfile::tempdir().unwrap();
        let config_file = dir.path().join("disbmon.toml");
        std::fs::write(
            &config_file,
            "operators = [\"ops@x.gov.vn\"]\n[admin]\nlisten = \"off\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&config_file), &|_| None).unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let config = Arc::new(config);
        let (_stop, stopping) = watch::channel(false);
        let (_tx, current) = watch::channel(config.clone());
        let env = Env {
            config,
            store: store.clone(),
            clock: Arc::new(crate::clock::FixedClock(hcm(2, 8, 0))),
            shared: Arc::new(Shared::new(store.clone(), None)),
            stopping,
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
            current,
            notices: Arc::new(AtomicU64::new(0)),
        };
        let subject = "[disbmon] 1 message(s) could not be delivered";
        notify_operators(&env, "weekly", Language::En, subject, &["first".into()]).await;
        notify_operators(&env, "weekly", Language::En, subject, &["second".into()]).await;
        let rows = store
            .outbox(&[crate::store::OutboxStatus::Pending])
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.kind == MessageKind::Operator));
        assert_ne!(rows[0].message_id, rows[1].message_id);
    }
}
