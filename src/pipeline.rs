//! One run of a job, stage by stage, each a call into the module that owns it:
//! pull (`source`) → measure (`measure`, `compute`) → validate (`validate`) → decide (`decide`)
//! → render (`notify::queue`) → record (`store`) → deliver (`outbox`).

use crate::clock::Clock;
use crate::compute::{self, Rates};
use crate::config::{Config, MailConfig};
use crate::decide::{self, Decision};
use crate::job::Job;
use crate::ledger::{DataIssue, Ledger, SourceStats};
use crate::measure;
use crate::notify::queue::{self, Envelope};
use crate::notify::{deliver::MailerError, render, Context, Email};
use crate::outbox::Drainer;
use crate::report::RunReport;
use crate::rule::{self, PlanYear};
use crate::source;
use crate::store::{RunRecordSet, Store, StoreError};
use crate::validate::{self, Verdict};
use chrono::{DateTime, NaiveDate, Utc};

/// Why a run could not be carried out — the machine or the setup, never the data (data problems
/// are [`DataIssue`]s in the report).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Setup(#[from] source::SetupError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot compute the rates: {0}")]
    Compute(String),
    #[error("the run stopped unexpectedly ({0}); this is a bug — please report it with the job file and the data; the run is retried like any failed run")]
    Panicked(String),
    #[error("the mail transport cannot be set up: {0}; the messages stay in the outbox")]
    Mail(#[from] MailerError),
}

/// What the data says on the as-of date, before anyone is told anything.
pub struct Assessment {
    pub plan_year: PlanYear,
    pub as_of: NaiveDate,
    pub expected_pct: f64,
    pub ledger: Ledger,
    /// None when the data was rejected.
    pub rates: Option<Rates>,
    pub issues: Vec<DataIssue>,
    /// Things the data needed that did not stop it (e.g. names cleaned of control characters).
    pub notes: Vec<DataIssue>,
    pub sources: Vec<SourceStats>,
    pub verdict: Verdict,
    /// Who could release or absorb capital, when units are projected.
    pub reallocation: Option<crate::reallocation::Proposal>,
}

impl Assessment {
    pub fn rejected(&self) -> bool {
        self.rates.is_none()
    }

    pub fn context<'a>(
        &'a self,
        job: &'a Job,
        rates: &'a Rates,
        details: &'a Details,
        templates: &'a crate::notify::templates::Templates,
    ) -> Context<'a> {
        Context {
            templates,
            details,
            charts: job.charts,
            job: &job.name,
            language: job.language,
            as_of: self.as_of,
            plan_year: self.plan_year,
            ranked: rates.ranked(),
            rates,
            next_milestone: job.milestones.next(self.plan_year, self.as_of),
            reallocation: self.reallocation.as_ref(),
            zone: job.timezone,
            milestones_after: job
                .milestones
                .points(self.plan_year)
                .into_iter()
                .map(|(d, _)| d)
                .find(|d| *d > self.as_of),
            answers: None,
            links: None,
        }
    }
}

/// Reads the job's answers source and records each answer once; the row problems found.
async fn import_answers(
    run: &Run<'_>,
    src: &crate::job::Source,
    a: &Assessment,
    rates: &Rates,
    cache: &std::path::Path,
) -> Result<Vec<DataIssue>, RunError> {
    let tmp = tempfile::tempdir().map_err(source::SetupError::TempDir)?;
    let clients = source::Clients::new()?;
    let table = match source::pull(src, &clients, tmp.path(), Some(cache), run.clock).await {
        Ok(t) => t,
        Err(issues) => return Ok(issues),
    };
    let disbursed: std::collections::BTreeMap<String, i64> = rates
        .units
        .iter()
        .map(|u| (u.unit_id.clone(), u.disbursed))
        .collect();
    let known: std::collections::HashSet<&str> =
        a.ledger.units.iter().map(|u| u.id.as_str()).collect();
    let (answers, issues) = crate::answers::from_table(
        &table,
        src,
        &run.job.name,
        a.plan_year,
        &disbursed,
        &known,
        &run.job.successors,
        (run.clock.now(), run.job.timezone),
    );
    let mut added = 0;
    for mut answer in answers {
        // What the unit had disbursed on its answer day, to check its commitments from there:
        // the latest run on or before that day, else the month end before it.
        let day = answer
            .received_at
            .with_timezone(&run.job.timezone)
            .date_naive();
        let stored = run
            .store
            .previous_disbursed(&run.job.name, a.plan_year, day + chrono::Days::new(1))?
            .and_then(|(_, paid)| paid.get(&answer.unit).copied());
        let month_end = a
            .ledger
            .curve_of(&answer.unit)
            .into_iter()
            .filter(|(d, _)| *d <= day)
            .map(|(_, paid)| paid)
            .next_back();
        if let Some(then) = stored.or(month_end) {
            answer.disbursed_then = then;
        }
        added += usize::from(run.store.record_answer(&answer)?.is_some());
    }
    if added > 0 {
        tracing::info!(job = %run.job.name, added, "answers recorded from the answers source");
    }
    Ok(issues)
}

/// Completes the past years the projection follows with those the state store kept runs of, when
/// the sources no longer hold them, and projects again (and proposes again) when any was added.
pub fn add_stored_history(a: &mut Assessment, job: &Job, store: &Store) -> Result<(), StoreError> {
    let Some(rates) = a.rates.as_mut() else {
        return Ok(());
    };
    let mut added = false;
    for k in 1..=job.projection.years as i32 {
        let year = a.plan_year - k;
        if a.ledger.history.iter().any(|h| h.year == year) {
            continue;
        }
        let days = store.year_figures(&job.name, year)?;
        let same_day = crate::measure::years_earlier(a.as_of, k as u32);
        if let Some(past) = crate::projection::from_store(year, &days, same_day) {
            a.ledger.history.push(past);
            added = true;
        }
    }
    if added {
        a.ledger.history.sort_by_key(|h| std::cmp::Reverse(h.year));
        crate::projection::project(rates, &a.ledger, &job.milestones, a.plan_year, a.as_of);
        a.reallocation = crate::reallocation::propose(rates, &a.ledger, &job.reallocation);
    }
    Ok(())
}

/// A plan year's answers by unit, oldest first.
pub fn answer_book(
    answers: Vec<crate::store::Answer>,
) -> std::collections::BTreeMap<String, Vec<crate::store::Answer>> {
    let mut book: std::collections::BTreeMap<String, Vec<crate::store::Answer>> =
        Default::default();
    for a in answers {
        book.entry(a.unit.clone()).or_default().push(a);
    }
    book
}

/// Pull, measure and validate: the figures of every unit, or why the data is rejected.
/// `cache` keeps HTTP sources for conditional requests and the sources' sums for the next run
/// (`reuse`); `clock` judges the data's age.
pub async fn assess_with(
    job: &Job,
    mail: &MailConfig,
    as_of: NaiveDate,
    cache: Option<&std::path::Path>,
    clock: &dyn Clock,
) -> Result<Assessment, RunError> {
    let mut a = empty(job, as_of);
    let plan_year = a.plan_year;
    let tables = match source::pull_all(job, cache, clock).await? {
        Ok(t) => t,
        Err(issues) => {
            a.issues = issues;
            return Ok(a);
        }
    };
    let owned = job.clone();
    let stored = cache.map(std::path::Path::to_path_buf);
    let (measured, tables) = off_runtime(move || {
        let m = measure::measure(&owned, &tables, plan_year, as_of, stored.as_deref());
        (m, tables)
    })
    .await?;
    let measured = match measured {
        Ok(m) => m,
        Err(issue) => {
            a.issues.push(issue);
            return Ok(a);
        }
    };
    let modified: Vec<_> = tables
        .all()
        .iter()
        .map(|t| (t.role, t.origin.as_str(), t.last_modified))
        .collect();
    let stale = validate::stale(job, measured.newest_payment, &modified, as_of, clock.now());
    if !stale.is_empty() {
        a.issues = stale;
        return Ok(a);
    }
    let mut measured = measured;
    let refused = validate::recipients(job, mail, &mut measured.ledger);
    measured.issues = crate::ledger::cap([measured.issues, refused].concat());
    a.verdict = validate::verdict(job, &measured.issues);
    let totals = validate::totals(&measured.ledger);
    if !totals.is_empty() {
        a.verdict = Verdict::Rejected;
    }
    (a.issues, a.sources, a.ledger) = (measured.issues, measured.sources, measured.ledger);
    a.issues.extend(totals);
    a.notes = measured.notes;
    if a.verdict != Verdict::Rejected {
        let (ledger, expected, bands) = (a.ledger.clone(), a.expected_pct, job.bands);
        let milestones = job.milestones.clone();
        let share = milestones.expected_share(plan_year, as_of);
        let rates = off_runtime(move || {
            let mut rates =
                compute::rates(&ledger, expected, share, &bands).map_err(|e| e.to_string())?;
            crate::projection::project(&mut rates, &ledger, &milestones, plan_year, as_of);
            for u in &mut rates.units {
                u.missed_milestones = crate::rule::missed_in_a_row(
                    &ledger.milestones_passed,
                    &u.unit_id,
                    bands.tolerance_pct,
                );
            }
            Ok::<_, String>(rates)
        })
        .await?;
        let rates = rates.map_err(RunError::Compute)?;
        a.reallocation = crate::reallocation::propose(&rates, &a.ledger, &job.reallocation);
        a.rates = Some(rates);
    }
    Ok(a)
}

/// Runs CPU-bound polars work off the async workers. polars drives a tokio runtime of its own
/// and may call `block_in_place`, which only works outside ours: so the work runs on a fresh
/// thread (no runtime context), joined from the blocking pool (which also keeps a paused test
/// clock from jumping while it computes). A panic in it fails the run instead of the process.
async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RunError> {
    let joined = tokio::task::spawn_blocking(move || std::thread::spawn(f).join())
        .await
        .map_err(|e| RunError::Compute(e.to_string()))?;
    joined.map_err(|panic| RunError::Panicked(panic_text(panic.as_ref())))
}

/// One run of a job: which job, the run's identity (its scheduled time) and the data's cut-off.
pub struct Run<'a> {
    pub job: &'a Job,
    pub config: &'a Config,
    pub store: &'a Store,
    pub clock: &'a dyn Clock,
    pub scheduled: DateTime<Utc>,
    pub as_of: NaiveDate,
    /// Compute, decide and render, but store and send nothing.
    pub dry_run: bool,
}

/// Runs a job once, every stage in order. Never panics on bad data or a failing server: every
/// problem ends up in the report. Rejected data changes no unit's state and alerts no unit; a run
/// that fails before it records stores nothing, so it can be repeated safely; once recorded, its
/// messages wait in the outbox whatever happens to delivery. A panic anywhere in it (a bug) is
/// caught and reported as a failed run, which the daemon retries and reports like any other.
pub async fn run_job(run: &Run<'_>) -> RunReport {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(stages(run))
        .catch_unwind()
        .await
    {
        Ok(report) => report,
        Err(panic) => {
            let error = RunError::Panicked(panic_text(panic.as_ref()));
            tracing::error!(job = %run.job.name, "{error}");
            RunReport::assessed(&run.job.name, &empty(run.job, run.as_of), run.dry_run)
                .failed(error)
        }
    }
}

/// What a panic said, for the report.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into())
}

async fn stages(run: &Run<'_>) -> RunReport {
    let Run {
        job,
        config,
        store,
        clock,
        ..
    } = *run;
    // pull → measure → validate
    let cache = config.state_dir.join("cache").join(&job.name);
    let a = match assess_with(job, &config.mail, run.as_of, Some(&cache), clock).await {
        Ok(a) => a,
        Err(e) => {
            return RunReport::assessed(&job.name, &empty(job, run.as_of), run.dry_run).failed(e)
        }
    };
    let mut a = a;
    if let Err(e) = add_stored_history(&mut a, job, store) {
        return RunReport::assessed(&job.name, &a, run.dry_run).failed(e);
    }
    let mut report = RunReport::assessed(&job.name, &a, run.dry_run);
    let Some(rates) = &a.rates else {
        if !run.dry_run {
            let issues = serde_json::to_string(&a.issues).unwrap_or_default();
            if let Err(e) = store.record_issues(&job.name, run.scheduled, run.as_of, &issues) {
                return report.failed(e);
            }
        }
        return report;
    };
    // Answers the department typed in from letters: recorded before the emails are written, so
    // this run's alerts and digest show them; their row problems are the run's data issues too.
    let issues = match (&job.answers, run.dry_run) {
        (Some(src), false) => match import_answers(run, src, &a, rates, &cache).await {
            Ok(found) => {
                report.data_issues.extend(found.iter().cloned());
                [a.issues.clone(), found].concat()
            }
            Err(e) => return report.failed(e),
        },
        _ => a.issues.clone(),
    };
    let told = async {
        let now = clock.now();
        // decide
        let decision = decide_run(run, &a, rates, now)?;
        // render
        let failures = match run.dry_run {
            true => Vec::new(),
            false => store.unreported_failures(&job.name)?,
        };
        let envelope = Envelope {
            mail: &config.mail,
            now,
            run_key: run
                .scheduled
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            digest_to: &job.digest_to,
            // A dry run shows what would be sent, not the workbook (`disbmon report` writes it):
            // building it for 2,000 units was a third of a repeated dry run.
            attach_xlsx: job.attach_xlsx && !run.dry_run,
        };
        let previous = store.previous_disbursed(&job.name, a.plan_year, a.as_of)?;
        let details = details(job, &a, rates, previous);
        let answers = answer_book(store.answers(&job.name, a.plan_year)?);
        let signer = config.answers.as_ref().map(crate::answers::Signer::new);
        let mut ctx = a.context(job, rates, &details, &config.templates);
        ctx.answers = Some(&answers);
        ctx.links = signer.as_ref().map(|s| (s, job.timezone));
        // Nor does a dry run draw charts: nothing it shows includes them. (It still measures the
        // curves: a source's stored sums are kept for one set of windows, a real run's.)
        ctx.charts &= !run.dry_run;
        let outgoing = queue::compose(&ctx, &envelope, &decision, &failures, &issues);
        if run.dry_run {
            return Ok((decision, outgoing, Vec::new(), None));
        }
        // record
        let mut record = RunRecordSet::new(
            &job.name,
            run.scheduled,
            run.as_of,
            a.plan_year,
            rates,
            &decision,
            &outgoing,
            &failures,
            &issues,
        );
        // The mass-mailing guard: a run that would send far more than its units warrant (a
        // broken units source, a runaway rule) sends nothing until an operator looks.
        record.details = details.into_values().collect();
        let limit = config.mail.message_limit(a.ledger.units.len());
        record.held = outgoing.messages.len() > limit;
        store.record_run(&record, now, config.mail.retry_deadline)?;
        if record.held {
            let (held, notice) = hold_notice(run, &outgoing, limit, now)?;
            // Only the notice goes out; the held messages are not due.
            deliver(run, &notice).await?;
            let rows = store.messages(&outgoing.ids())?;
            return Ok((decision, outgoing, rows, Some(held)));
        }
        // deliver
        let rows = deliver(run, &outgoing.ids()).await?;
        Ok::<_, RunError>((decision, outgoing, rows, None))
    };
    match told.await {
        Ok((decision, outgoing, rows, held)) => {
            let digest_to: Vec<String> = job.digest_to.iter().map(|m| m.to_string()).collect();
            report.delivered(&decision, &outgoing, &digest_to, &rows);
            if let Some(held) = held {
                report = report.held(held);
            }
            report
        }
        Err(e) => report.failed(e),
    }
}

/// Each unit's detail by id.
pub type Details = std::collections::BTreeMap<String, crate::ledger::UnitDetail>;

/// What a run knows of each unit beyond its rate: its curve, last year's, the milestones, its
/// further denominators, and its disbursement at the `previous` run (as-of date, by unit).
pub fn details(
    job: &Job,
    a: &Assessment,
    rates: &Rates,
    previous: Option<crate::store::Previous>,
) -> Details {
    let milestones = job.milestones.points(a.plan_year);
    rates
        .units
        .iter()
        .map(|u| {
            let mut curve = a.ledger.curve_of(&u.unit_id);
            curve.push((a.as_of, u.disbursed));
            let last_year = a.ledger.last_year.as_ref();
            let detail = crate::ledger::UnitDetail {
                unit: u.unit_id.clone(),
                name: u.unit_name.clone(),
                plan_year: a.plan_year,
                as_of: a.as_of,
                plan: u.plan,
                curve,
                last_year_plan: last_year.and_then(|l| l.plan.get(&u.unit_id).copied()),
                last_year_curve: a.ledger.last_year_curve_of(&u.unit_id, a.plan_year),
                milestones: milestones.clone(),
                denominators: a
                    .ledger
                    .other_denominators
                    .iter()
                    .map(|(key, d)| {
                        let get = |m: &std::collections::BTreeMap<String, i64>| {
                            m.get(&u.unit_id).copied().unwrap_or(0)
                        };
                        (key.clone(), get(&d.plan), get(&d.disbursed))
                    })
                    .collect(),
                projects: a
                    .ledger
                    .slowest_projects(&u.unit_id, crate::ledger::SLOWEST_PROJECTS),
                previous: previous
                    .as_ref()
                    .and_then(|(day, paid)| paid.get(&u.unit_id).map(|d| (*day, *d))),
                projection: u.projection.clone(),
            };
            (u.unit_id.clone(), detail)
        })
        .collect()
}

/// Tells the operators that a run's messages are held, and how to release them; returns what the
/// report says.
fn hold_notice(
    run: &Run<'_>,
    outgoing: &queue::Outgoing,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<(crate::report::Held, Vec<String>), RunError> {
    let run_id = run.store.run_id(&run.job.name, run.scheduled)?;
    let held = crate::report::Held {
        run_id,
        messages: outgoing.messages.len(),
        limit,
        release: format!("disbmon outbox release {}", run_id.unwrap_or_default()),
    };
    let (subject, lines) = match run.job.language {
        crate::money::Language::Vi => (
            format!(
                "[disbmon] {}: tạm giữ {} thư (vượt giới hạn {limit})",
                run.job.name, held.messages
            ),
            vec![
                format!(
                    "Lần chạy công việc {} với số liệu đến ngày {} sẽ gửi {} thư, nhiều hơn mức mail.max_messages_per_run cho phép ({limit}; mặc định gấp đôi số đơn vị cộng 10).",
                    run.job.name, run.as_of.format("%d/%m/%Y"), held.messages
                ),
                "Chưa thư nào được gửi. Các thư đã được lưu và đang tạm giữ trong hộp thư đi (`disbmon outbox`).".into(),
                format!("Nếu các thư là đúng, cho gửi bằng lệnh: {}", held.release),
                "Nếu không, kiểm tra nguồn danh sách đơn vị (địa chỉ thư, đơn vị trùng) và quy tắc của công việc, rồi chạy lại.".into(),
            ],
        ),
        crate::money::Language::En => (
            format!(
                "[disbmon] {}: {} messages held (more than the limit of {limit})",
                run.job.name, held.messages
            ),
            vec![
                format!(
                    "The run of job {} for {} would send {} messages, more than mail.max_messages_per_run allows ({limit}; by default twice the number of units plus 10).",
                    run.job.name, run.as_of, held.messages
                ),
                "Nothing was sent. The messages are stored, held in the outbox (`disbmon outbox`).".into(),
                format!("If they are right, release them with: {}", held.release),
                "If not, check the units source (addresses, duplicated units) and the job's rules, and run the job again.".into(),
            ],
        ),
    };
    tracing::error!("{subject}");
    if run.config.operators.is_empty() {
        tracing::error!("no operators configured to tell that messages are held");
        return Ok((held, Vec::new()));
    }
    let identity = format!("held|{}|{}", run.job.name, run.scheduled.to_rfc3339());
    match queue::operator_message(
        run.config,
        run.job.language,
        &subject,
        &lines,
        &identity,
        now,
    ) {
        Ok(m) => {
            let id = m.message_id.clone();
            let deadline = run.config.mail.retry_deadline;
            run.store.enqueue(&run.job.name, &[m], now, deadline)?;
            Ok((held, vec![id]))
        }
        Err(e) => {
            tracing::error!("cannot tell the operators that messages are held: {e}");
            Ok((held, Vec::new()))
        }
    }
}

/// The deliver stage: one drainer pass (this run's messages first, then everything else due),
/// then the state of this run's messages.
async fn deliver(run: &Run<'_>, ids: &[String]) -> Result<Vec<crate::store::OutboxRow>, RunError> {
    let drainer = Drainer::new(run.store, &run.config.mail, run.clock)?;
    drainer.drain(ids).await.log();
    settled(run.store, ids, drainer.mailer().per_message_bound()).await
}

/// The outbox rows of these messages once none is being sent: another drainer (the daemon's) may
/// hold some of them for at most `bound` each.
async fn settled(
    store: &Store,
    ids: &[String],
    bound: std::time::Duration,
) -> Result<Vec<crate::store::OutboxRow>, RunError> {
    let mut waited = std::time::Duration::ZERO;
    let step = std::time::Duration::from_millis(100);
    loop {
        let rows = store.messages(ids)?;
        let sending = rows
            .iter()
            .any(|r| r.status == crate::store::OutboxStatus::Sending);
        if !sending || waited > bound {
            return Ok(rows);
        }
        tokio::time::sleep(step).await;
        waited += step;
    }
}

/// The decide stage with the units' memory: merged units' state carried to their successors,
/// silences in force today, and no "back on track" from partial data.
fn decide_run(
    run: &Run<'_>,
    a: &Assessment,
    rates: &Rates,
    now: DateTime<Utc>,
) -> Result<Decision, RunError> {
    let job = run.job;
    let mut memory = run.store.memory(&job.name, a.plan_year)?;
    decide::carry_over(&mut memory, &job.successors);
    let today = now.with_timezone(&job.timezone).date_naive();
    let silenced = run.store.silenced(&job.name, today)?;
    Ok(decide::decide(
        rates,
        &a.ledger.units,
        &memory,
        &silenced,
        run.as_of,
        now,
        &policy(job),
        a.verdict == Verdict::Partial,
    ))
}

fn policy(job: &Job) -> decide::Policy {
    decide::Policy {
        cc: job.cc.clone(),
        repeat_after: job.repeat_after,
        escalate_after: job.escalate_after,
        escalate_to: job.escalate_to.clone(),
        escalate_after_milestones: job.escalate_after_milestones,
        alert_at_risk: job.projection.alert_at_risk,
    }
}

/// An assessment of nothing, for a run that failed before it could read anything.
fn empty(job: &Job, as_of: NaiveDate) -> Assessment {
    let plan_year = job
        .plan_year
        .unwrap_or_else(|| rule::default_plan_year(as_of));
    Assessment {
        plan_year,
        as_of,
        expected_pct: job.milestones.expected_pct(plan_year, as_of),
        ledger: Ledger::default(),
        rates: None,
        issues: Vec::new(),
        notes: Vec::new(),
        sources: Vec::new(),
        verdict: Verdict::Rejected,
        reallocation: None,
    }
}

/// Why `disbmon preview` has nothing to show.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("the data was rejected; run `disbmon once JOB --dry-run` to see why")]
    Rejected,
    #[error("unit `{unit}` is not in the units source of job {job}")]
    UnknownUnit { unit: String, job: String },
    #[error(transparent)]
    Build(#[from] crate::notify::deliver::BuildError),
}

/// The email one unit would receive on `as_of`, whatever its status, built exactly as a run would
/// queue it (its Message-ID and Date included); and whether the unit is behind.
pub fn preview(
    job: &Job,
    a: &Assessment,
    unit_id: &str,
    config: &Config,
    now: DateTime<Utc>,
    previous: Option<crate::store::Previous>,
) -> Result<(Email, Option<crate::store::NewMessage>, bool), PreviewError> {
    let rates = a.rates.as_ref().ok_or(PreviewError::Rejected)?;
    let details = details(job, a, rates, previous);
    let unknown = || PreviewError::UnknownUnit {
        unit: unit_id.to_string(),
        job: job.name.clone(),
    };
    let rate = rates
        .units
        .iter()
        .find(|u| u.unit_id == unit_id)
        .ok_or_else(unknown)?;
    let unit = a
        .ledger
        .units
        .iter()
        .find(|u| u.id == unit_id)
        .ok_or_else(unknown)?;
    let alert = decide::Alert {
        unit: rate.clone(),
        to: unit.emails.clone(),
        cc: job.cc.clone(),
        reason: decide::Reason::First,
        escalation: None,
    };
    // With the answer link it would carry (answers themselves are the store's: not shown here).
    let signer = config.answers.as_ref().map(crate::answers::Signer::new);
    let mut ctx = a.context(job, rates, &details, &config.templates);
    ctx.links = signer.as_ref().map(|s| (s, job.timezone));
    let email = render::unit_alert(&ctx, &alert);
    let mail = &config.mail;
    let identity = format!(
        "alert|{}|{unit_id}|{}|first|{}",
        job.name,
        a.plan_year,
        now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    // A unit without an address gets nothing; there are no headers to show.
    let built = if email.to.is_empty() {
        None
    } else {
        Some(queue::message(
            mail,
            &email,
            &identity,
            crate::store::MessageKind::Alert,
            now,
        )?)
    };
    Ok((email, built, rate.status.is_alerted()))
}
