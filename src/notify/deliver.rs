//! Delivery: builds MIME messages from rendered emails and hands them to a transport — `.eml` files
//! in a folder, or SMTP (lettre, async on tokio, rustls) over one pooled connection per run. The
//! only module that knows lettre's transports.

use crate::address::Mailbox;
use crate::config::{MailConfig, SmtpConfig, TlsMode, Transport};
use crate::notify::Email;
use lettre::message::{header::ContentType, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::SystemTime;

pub enum Mailer {
    File {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: std::path::PathBuf,
    },
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        server: String,
        /// The longest one message may take, connect to delivered.
        timeout: std::time::Duration,
    },
}

/// Why the configured mail transport cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("cannot create the mail folder {dir}: {source}; fix mail.dir or its permissions")]
    Folder {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read mail.smtp.ca_file {file}: {source}")]
    CaFile {
        file: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("mail.smtp.ca_file {file} is not a PEM certificate: {detail}")]
    CaPem {
        file: std::path::PathBuf,
        detail: String,
    },
    #[error("cannot set up TLS for {server}: {detail}")]
    Tls { server: String, detail: String },
}

/// Why a rendered email could not be made into a MIME message.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the message `{subject}`: {detail}")]
pub struct BuildError {
    pub subject: String,
    pub detail: String,
}

impl Mailer {
    /// Prepares the configured transport; nothing is connected until the first message.
    pub fn new(mail: &MailConfig) -> Result<Mailer, MailerError> {
        match &mail.transport {
            Transport::File { dir } => {
                crate::store::private_dir(dir).map_err(|source| MailerError::Folder {
                    dir: dir.clone(),
                    source,
                })?;
                Ok(Mailer::File {
                    transport: AsyncFileTransport::new(dir),
                    dir: dir.clone(),
                })
            }
            Transport::Smtp(smtp) => smtp_transport(smtp),
        }
    }

    /// The longest one message may take to hand over, connect to delivered.
    pub fn per_message_bound(&self) -> std::time::Duration {
        match self {
            Mailer::File { .. } => std::time::Duration::from_secs(30),
            Mailer::Smtp { timeout, .. } => *timeout,
        }
    }

    /// Where messages go, for people.
    pub fn describe(&self) -> String {
        match self {
            Mailer::File { dir, .. } => format!(".eml files in {}", dir.display()),
            Mailer::Smtp { server, .. } => format!("SMTP {server}"),
        }
    }

    /// Sends an already rendered message (from the outbox) to one envelope recipient.
    pub async fn send_raw(
        &self,
        from: &Mailbox,
        recipient: &str,
        raw: &[u8],
    ) -> Result<(), SendFailure> {
        let refused = |message: String| SendFailure {
            message,
            server_down: false,
            permanent: true,
        };
        let to = recipient
            .parse::<lettre::Address>()
            .map_err(|e| refused(format!("`{recipient}` is not an address: {e}")))?;
        let sender = from
            .email
            .as_str()
            .parse::<lettre::Address>()
            .map_err(|e| refused(format!("mail.from `{}` is not an address: {e}", from.email)))?;
        let envelope = lettre::address::Envelope::new(Some(sender), vec![to])
            .map_err(|e| refused(format!("cannot address the message: {e}")))?;
        self.transmit(&envelope, raw).await
    }

    async fn transmit(
        &self,
        envelope: &lettre::address::Envelope,
        raw: &[u8],
    ) -> Result<(), SendFailure> {
        match self {
            Mailer::File { transport, dir } => transport
                .send_raw(envelope, raw)
                .await
                .map(|_| ())
                .map_err(|e| SendFailure {
                    message: format!(
                        "cannot write the message into {}: {e}; check mail.dir and free disk space",
                        dir.display()
                    ),
                    server_down: true,
                    permanent: false,
                }),
            Mailer::Smtp {
                transport,
                server,
                timeout,
            } => {
                // lettre bounds only the TCP connect: a server that accepts and then says nothing
                // would hang the run, so the whole exchange for one message is bounded here.
                let sent = match tokio::time::timeout(*timeout, transport.send_raw(envelope, raw)).await {
                    Ok(result) => result,
                    Err(_) => {
                        return Err(SendFailure {
                            message: format!(
                                "SMTP {server} did not complete the delivery within {} s; check that the mail server is up and answering (mail.smtp.timeout_secs)",
                                timeout.as_secs()
                            ),
                            server_down: true,
                            permanent: false,
                        })
                    }
                };
                sent.map(|_| ()).map_err(|e| {
                    let mut detail = e.to_string();
                    let mut cause = std::error::Error::source(&e);
                    while let Some(c) = cause {
                        detail = format!("{detail}: {c}");
                        cause = c.source();
                    }
                    let message = if e.is_permanent() {
                        format!("SMTP {server} refused the message ({detail}); check the recipients' addresses, mail.from and the credentials")
                    } else if e.is_transient() {
                        format!("SMTP {server} deferred the message ({detail}); it is tried again later")
                    } else if e.is_timeout() {
                        format!("SMTP {server} did not answer in time ({detail}); check that the mail server is up")
                    } else {
                        format!("cannot deliver through SMTP {server}: {detail}; check [mail.smtp] host, port and tls, and that the server is up")
                    };
                    // A reply (4xx/5xx) concerns this message; anything else (no connection, a
                    // timeout, a TLS failure) concerns the server, and would fail the next message too.
                    SendFailure { message, server_down: !(e.is_permanent() || e.is_transient()), permanent: e.is_permanent() }
                })
            }
        }
    }
}

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct SendFailure {
    pub message: String,
    /// The server (or folder) itself failed: the following messages would fail the same way.
    pub server_down: bool,
    /// The server refused it for good (5xx): trying again will not help.
    pub permanent: bool,
}

fn smtp_transport(smtp: &SmtpConfig) -> Result<Mailer, MailerError> {
    let server = format!("{}:{}", smtp.host, smtp.port);
    let tls = match smtp.tls {
        TlsMode::None => Tls::None,
        mode => {
            let mut params = TlsParameters::builder(smtp.host.clone());
            if let Some(ca) = &smtp.ca_file {
                let pem = std::fs::read(ca).map_err(|source| MailerError::CaFile {
                    file: ca.clone(),
                    source,
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| MailerError::CaPem {
                    file: ca.clone(),
                    detail: e.to_string(),
                })?;
                params = params.add_root_certificate(cert);
            }
            let params = params.build_rustls().map_err(|e| MailerError::Tls {
                server: server.clone(),
                detail: e.to_string(),
            })?;
            if mode == TlsMode::Tls {
                Tls::Wrapper(params)
            } else {
                Tls::Required(params)
            }
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(smtp.timeout));
    if let Some((user, password)) = &smtp.credentials {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    Ok(Mailer::Smtp {
        transport: builder.build(),
        server,
        timeout: smtp.timeout,
    })
}

/// Builds the MIME message: multipart/alternative with a text/plain and an HTML part.
/// `message_id` (e.g. from [`message_id`]) keeps a message's identity when it is sent again.
pub fn build(
    from: &Mailbox,
    email: &Email,
    date: SystemTime,
    message_id: Option<String>,
    rehearsal_for: Option<&str>,
) -> Result<Message, BuildError> {
    let failed = |detail: String| BuildError {
        subject: email.subject.clone(),
        detail,
    };
    // Our mailboxes become the mail library's here, and only here.
    let convert = |m: &Mailbox| {
        m.email
            .as_str()
            .parse::<lettre::Address>()
            // lettre panics formatting a header that holds a line break: every header text is
            // one line by the time it gets there (names are cleaned when read; this is the last
            // line of defence).
            .map(|a| {
                let name = m
                    .name
                    .as_deref()
                    .map(|n| crate::text::one_line(n).into_owned());
                lettre::message::Mailbox::new(name, a)
            })
            .map_err(|e| {
                failed(format!(
                    "`{}` is not an address the mail library accepts: {e}",
                    m.email
                ))
            })
    };
    let mut builder = Message::builder()
        .from(convert(from)?)
        .subject(crate::text::one_line(&email.subject).into_owned())
        .date(date)
        .message_id(message_id);
    for to in &email.to {
        builder = builder.to(convert(to)?);
    }
    for cc in &email.cc {
        builder = builder.cc(convert(cc)?);
    }
    if let Some(real) = rehearsal_for {
        builder = builder.header(RehearsalFor(real.to_string()));
    }
    builder
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(email.text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(email.html.clone()),
                ),
        )
        .map_err(|e| BuildError {
            subject: email.subject.clone(),
            detail: e.to_string(),
        })
}

/// `X-Disbmon-Rehearsal-For`: the real recipients of a message sent to `mail.redirect_to`.
#[derive(Debug, Clone)]
struct RehearsalFor(String);

impl lettre::message::header::Header for RehearsalFor {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("X-Disbmon-Rehearsal-For")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(RehearsalFor(s.to_string()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// A Message-ID derived from a message's logical identity (job, unit, run, reason), so that a
/// message sent again after a crash carries the same id.
pub fn message_id(identity: &str, from: &Mailbox) -> String {
    let h = crate::text::fnv1a(identity.as_bytes());
    format!("<{h:016x}.disbmon@{}>", from.email.domain())
}
