//! From rendered emails to outbox rows: each run's messages are rendered, built into MIME with a
//! Message-ID derived from what they are, and handed to the store — never sent from here.

use super::deliver::{self, BuildError};
use super::render::context::{Context, Email};
use super::render::{alert, context, digest, notice};
use crate::config::daemon::MailConfig;
use crate::domain::address::Mailbox;
use crate::domain::decide::Decision;
use crate::domain::issue::DataIssue;
use crate::domain::message::Outgoing;
use crate::domain::message::{MessageKind, NewMessage, OutboxRow};
use chrono::{DateTime, Utc};

/// What the messages of one run share besides the figures.
pub struct Envelope<'a> {
    /// The sender, and the rehearsal mailbox when `mail.redirect_to` is set.
    pub mail: &'a MailConfig,
    pub now: DateTime<Utc>,
    /// The run's identity (its scheduled time), part of every Message-ID: a run repeated from
    /// its record builds the same ids, and the store queues each once.
    pub run_key: String,
    pub digest_to: &'a [Mailbox],
    /// The digest carries the official table as an Excel workbook (`alerts.attach_xlsx`).
    pub attach_xlsx: bool,
}

/// One message for the outbox, built from a rendered email. In rehearsal (`mail.redirect_to`) it
/// goes to that one mailbox instead, naming its real recipients at the top and in a header.
pub fn message(
    mail: &MailConfig,
    email: &Email,
    identity: &str,
    kind: MessageKind,
    now: DateTime<Utc>,
) -> Result<NewMessage, BuildError> {
    let from = &mail.from;
    let id = deliver::message_id(identity, from);
    let rehearsal = mail.redirect_to.as_ref().map(|to| rehearse(email, to));
    let (email, real) = match &rehearsal {
        Some((e, real)) => (e, Some(real.as_str())),
        None => (email, None),
    };
    let m = deliver::build(from, email, now.into(), Some(id.clone()), real)?;
    Ok(NewMessage {
        message_id: id,
        unit: None,
        kind,
        reason: None,
        recipients: email
            .to
            .iter()
            .chain(&email.cc)
            .map(|m| m.email.to_string())
            .collect(),
        subject: email.subject.clone(),
        raw: m.formatted(),
    })
}

/// A notice to the operators, built for the outbox. Each notice is its own message: `identity`
/// must say which.
pub fn operator_message(
    to: &Operators<'_>,
    lang: crate::domain::money::Language,
    subject: &str,
    lines: &[String],
    identity: &str,
    now: DateTime<Utc>,
) -> Result<NewMessage, BuildError> {
    let email = notice::operator_notice(to.templates, lang, to.operators, subject, lines);
    message(to.mail, &email, identity, MessageKind::Operator, now)
}

/// Who operator notices go to, from whom, and the templates they are written with.
#[derive(Clone, Copy)]
pub struct Operators<'a> {
    pub mail: &'a MailConfig,
    pub operators: &'a [Mailbox],
    pub templates: &'a crate::notify::templates::Templates,
}

/// The email as a rehearsal sends it: to `to` alone, saying who would have got it.
fn rehearse(email: &Email, to: &Mailbox) -> (Email, String) {
    let list = |m: &[Mailbox]| {
        m.iter()
            .map(|m| m.email.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let real = if email.cc.is_empty() {
        format!("To: {}", list(&email.to))
    } else {
        format!("To: {}; Cc: {}", list(&email.to), list(&email.cc))
    };
    let banner = format!(
        "REHEARSAL (mail.redirect_to): this message was sent here instead of to its real recipients — {real}"
    );
    let html_banner = format!(
        "<p style=\"border:2px solid #b00;padding:8px;color:#b00\"><b>REHEARSAL</b> (mail.redirect_to): this message was sent here instead of to its real recipients — {}</p>\n",
        minijinja::HtmlEscape(&real)
    );
    // Right after the body's opening tag, whatever attributes a template gives it.
    let body = email
        .html
        .find("<body")
        .and_then(|at| email.html[at..].find('>').map(|end| at + end + 1));
    let html = match body {
        Some(at) => format!("{}\n{html_banner}{}", &email.html[..at], &email.html[at..]),
        None => format!("{html_banner}{}", email.html),
    };
    let rehearsed = Email {
        to: vec![to.clone()],
        cc: Vec::new(),
        subject: email.subject.clone(),
        text: format!("{banner}\n\n{}", email.text),
        html,
        attachments: email.attachments.clone(),
        inline: email.inline.clone(),
    };
    (rehearsed, real)
}

/// `f` over `items` on every core, the results in the items' order. A panic in `f` is the
/// caller's panic (a run catches it and fails).
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    let f = &f;
    std::thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| {
                p.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Renders and builds every message of a run: an alert per decided alert, and the digest listing
/// `failures` (messages given up since the last digest) and the run's data issues.
pub fn compose(
    ctx: &Context,
    env: &Envelope,
    decision: &Decision,
    failures: &[OutboxRow],
    issues: &[DataIssue],
) -> Outgoing {
    let mut out = Outgoing::default();
    let plan_year = ctx.plan_year;
    // Each alert (its chart above all) is rendered and built on its own: on every core.
    let built = in_parallel(&decision.alerts, |alert| {
        let email = alert::unit_alert(ctx, alert);
        let identity = format!(
            "alert|{}|{}|{plan_year}|{}|{}",
            ctx.job,
            alert.unit.unit_id,
            alert.reason.as_str(),
            env.run_key
        );
        message(env.mail, &email, &identity, MessageKind::Alert, env.now).map(|m| NewMessage {
            unit: Some(alert.unit.unit_id.clone()),
            reason: Some(alert.reason),
            ..m
        })
    });
    for built in built {
        let id = out.keep(built);
        out.alert_ids.push(id);
    }
    if !env.digest_to.is_empty() {
        let failed: Vec<context::Delivered> = failures
            .iter()
            .map(|f| context::Delivered {
                unit_id: f.unit.as_deref().unwrap_or("-"),
                unit_name: &f.recipient,
                error: f.last_error.as_deref(),
            })
            .collect();
        // A workbook that cannot be made leaves the digest without it, said in the log: the
        // digest itself still goes.
        let workbook = match env.attach_xlsx {
            true => crate::notify::workbook::to_bytes(ctx, issues)
                .map_err(|e| tracing::error!("the digest goes without its workbook: {e}"))
                .ok()
                .map(|bytes| context::Attachment {
                    name: crate::notify::workbook::file_name(ctx.plan_year, ctx.as_of),
                    content_type: crate::notify::workbook::CONTENT_TYPE,
                    bytes,
                }),
            false => None,
        };
        let mut email = digest::digest(
            ctx,
            env.digest_to,
            decision.alerts.len(),
            &failed,
            &decision.unreachable,
            issues,
            workbook.as_ref().map(|w| w.name.as_str()),
        );
        email.attachments.extend(workbook);
        let identity = format!("digest|{}|{}", ctx.job, env.run_key);
        let built = message(env.mail, &email, &identity, MessageKind::Digest, env.now);
        out.digest_id = out.keep(built);
    }
    out
}
