//! One run of a job, stage by stage, each a call into the module that owns it:
//! pull (`source`) → measure (`measure`, `compute`) → validate (`validate`) → decide (`decide`)
//! → render (`notify::queue`) → record (`store`) → deliver (`outbox`).

use super::assessment::{
    add_stored_history, answer_book, assess_with, details, empty, panic_text, Assessment, Details,
    RunError,
};
use super::outbox::Drainer;
use super::report::{Held, RunReport};
use crate::base::clock::Clock;
use crate::config::daemon::{AnswersConfig, Config};
use crate::config::job::{Job, Source};
use crate::data::source;
use crate::data::validate::Verdict;
use crate::domain::decide::{self, Decision};
use crate::domain::id::UnitId;
use crate::domain::issue::DataIssue;
use crate::domain::message::{OutboxRow, OutboxStatus, Outgoing};
use crate::domain::money::Language;
use crate::domain::rates::Rates;
use crate::notify::queue::{self, Envelope};
use crate::notify::templates::Templates;
use crate::store::db::Store;
use crate::store::record::RunRecordSet;
use chrono::{DateTime, NaiveDate, Utc};

/// Reads the job's answers source and records each answer once; the row problems found.
async fn import_answers(
    run: &Run<'_>,
    src: &Source,
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
    let disbursed: std::collections::BTreeMap<UnitId, i64> = rates
        .units
        .iter()
        .map(|u| (u.unit_id.clone(), u.disbursed))
        .collect();
    let known: std::collections::HashSet<&str> =
        a.ledger.units.iter().map(|u| u.id.as_str()).collect();
    let (answers, issues) = crate::data::answers::from_table(
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

/// One run of a job: which job, the run's identity (its scheduled time) and the data's cut-off.
pub struct Run<'a> {
    pub job: &'a Job,
    pub config: &'a Config,
    /// The email templates (`templates_dir` over the built-in ones).
    pub templates: &'a Templates,
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

/// The stages in order: pull → measure → validate (`assess`), the answers typed in from letters,
/// decide, render, record, deliver.
async fn stages(run: &Run<'_>) -> RunReport {
    let a = match assess(run).await {
        Ok(a) => a,
        Err(failed) => return *failed,
    };
    let mut report = RunReport::assessed(&run.job.name, &a, run.dry_run);
    let Some(rates) = &a.rates else {
        return match record_rejected(run, &a) {
            Ok(()) => report,
            Err(e) => report.failed(e),
        };
    };
    let issues = match answers(run, &a, rates).await {
        Ok(found) => {
            report.data_issues.extend(found.iter().cloned());
            [a.issues.clone(), found].concat()
        }
        Err(e) => return report.failed(e),
    };
    match tell(run, &a, rates, &issues).await {
        Ok(told) => {
            let digest_to: Vec<String> = run.job.digest_to.iter().map(|m| m.to_string()).collect();
            report.delivered(&told.decision, &told.outgoing, &digest_to, &told.rows);
            match told.held {
                Some(held) => report.held(held),
                None => report,
            }
        }
        Err(e) => report.failed(e),
    }
}

/// Where the job's downloads and stored sums are kept between runs.
fn cache(run: &Run<'_>) -> std::path::PathBuf {
    run.config.job_cache(&run.job.name)
}

/// pull → measure → validate, with the past years the store kept; or the failed run's report.
async fn assess(run: &Run<'_>) -> Result<Assessment, Box<RunReport>> {
    let job = run.job;
    let failed = |a: &Assessment, e: RunError| {
        Box::new(RunReport::assessed(&job.name, a, run.dry_run).failed(e))
    };
    let mut a = assess_with(
        job,
        &run.config.mail,
        run.as_of,
        Some(&cache(run)),
        run.clock,
    )
    .await
    .map_err(|e| failed(&empty(job, run.as_of), e))?;
    add_stored_history(&mut a, job, run.store).map_err(|e| failed(&a, e.into()))?;
    Ok(a)
}

/// Rejected data changes no unit's state: only its data issues are recorded.
fn record_rejected(run: &Run<'_>, a: &Assessment) -> Result<(), RunError> {
    if run.dry_run {
        return Ok(());
    }
    let issues = serde_json::to_string(&a.issues).unwrap_or_default();
    run.store
        .record_issues(&run.job.name, run.scheduled, run.as_of, &issues)?;
    Ok(())
}

/// Answers the department typed in from letters: recorded before the emails are written, so
/// this run's alerts and digest show them; their row problems are the run's data issues too.
async fn answers(run: &Run<'_>, a: &Assessment, rates: &Rates) -> Result<Vec<DataIssue>, RunError> {
    match (&run.job.answers, run.dry_run) {
        (Some(src), false) => import_answers(run, src, a, rates, &cache(run)).await,
        _ => Ok(Vec::new()),
    }
}

/// What a run decided, queued and delivered.
struct Told {
    decision: Decision,
    outgoing: Outgoing,
    rows: Vec<OutboxRow>,
    held: Option<Held>,
}

/// decide → render → record → deliver.
async fn tell(
    run: &Run<'_>,
    a: &Assessment,
    rates: &Rates,
    issues: &[DataIssue],
) -> Result<Told, RunError> {
    let now = run.clock.now();
    // decide
    let decision = decide_run(run, a, rates, now)?;
    // render
    let failures = match run.dry_run {
        true => Vec::new(),
        false => run.store.unreported_failures(&run.job.name)?,
    };
    let previous = run
        .store
        .previous_disbursed(&run.job.name, a.plan_year, a.as_of)?;
    let details = details(run.job, a, rates, previous);
    let outgoing = render(
        run,
        (a, rates, &details),
        (&decision, &failures, issues),
        now,
    )?;
    if run.dry_run {
        return Ok(Told {
            decision,
            outgoing,
            rows: Vec::new(),
            held: None,
        });
    }
    // record
    let mut record = RunRecordSet::new(
        &run.job.name,
        run.scheduled,
        run.as_of,
        a.plan_year,
        rates,
        &decision,
        &outgoing,
        &failures,
        issues,
    );
    record.details = details.into_values().collect();
    // The mass-mailing guard: a run that would send far more than its units warrant (a broken
    // units source, a runaway rule) sends nothing until an operator looks.
    let limit = run.config.mail.message_limit(a.ledger.units.len());
    record.held = outgoing.messages.len() > limit;
    run.store
        .record_run(&record, now, run.config.mail.retry_deadline)?;
    // deliver
    let (rows, held) = match record.held {
        true => {
            let (held, notice) = hold_notice(run, &outgoing, limit, now)?;
            // Only the notice goes out; the held messages are not due.
            deliver(run, &notice).await?;
            (run.store.messages(&outgoing.ids())?, Some(held))
        }
        false => (deliver(run, &outgoing.ids()).await?, None),
    };
    Ok(Told {
        decision,
        outgoing,
        rows,
        held,
    })
}

/// The render stage: every message of the run — the decision's alerts, and the digest with the
/// undelivered messages and data issues it reports — with the answers so far and the links.
fn render(
    run: &Run<'_>,
    (a, rates, details): (&Assessment, &Rates, &Details),
    (decision, failures, issues): (&Decision, &[OutboxRow], &[DataIssue]),
    now: DateTime<Utc>,
) -> Result<Outgoing, RunError> {
    let job = run.job;
    let envelope = Envelope {
        mail: &run.config.mail,
        now,
        run_key: run
            .scheduled
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        digest_to: &job.digest_to,
        // A dry run shows what would be sent, not the workbook (`disbmon report` writes it):
        // building it for 2,000 units was a third of a repeated dry run.
        attach_xlsx: job.attach_xlsx && !run.dry_run,
    };
    let answers = answer_book(run.store.answers(&job.name, a.plan_year)?);
    let signer = run.config.answers.as_ref().map(AnswersConfig::signer);
    let mut ctx = a.context(job, rates, details, run.templates);
    ctx.answers = Some(&answers);
    ctx.links = signer.as_ref().map(|s| (s, job.timezone));
    // Nor does a dry run draw charts: nothing it shows includes them. (It still measures the
    // curves: a source's stored sums are kept for one set of windows, a real run's.)
    ctx.charts &= !run.dry_run;
    Ok(queue::compose(&ctx, &envelope, decision, failures, issues))
}

/// Tells the operators that a run's messages are held, and how to release them; returns what the
/// report says.
fn hold_notice(
    run: &Run<'_>,
    outgoing: &Outgoing,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<(Held, Vec<String>), RunError> {
    let run_id = run.store.run_id(&run.job.name, run.scheduled)?;
    let held = Held {
        run_id,
        messages: outgoing.messages.len(),
        limit,
        release: format!("disbmon outbox release {}", run_id.unwrap_or_default()),
    };
    let (subject, lines) = match run.job.language {
        Language::Vi => (
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
        Language::En => (
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
    let operators = queue::Operators {
        mail: &run.config.mail,
        operators: &run.config.operators,
        templates: run.templates,
    };
    match queue::operator_message(
        &operators,
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
async fn deliver(run: &Run<'_>, ids: &[String]) -> Result<Vec<OutboxRow>, RunError> {
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
) -> Result<Vec<OutboxRow>, RunError> {
    let mut waited = std::time::Duration::ZERO;
    let step = std::time::Duration::from_millis(100);
    loop {
        let rows = store.messages(ids)?;
        let sending = rows.iter().any(|r| r.status == OutboxStatus::Sending);
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
