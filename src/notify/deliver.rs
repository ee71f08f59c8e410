//! Delivery: builds MIME messages from rendered emails and hands them to a transport — `.eml` files
//! in a folder, or SMTP (lettre's protocol, TLS and AUTH, async on tokio, rustls) over connections
//! of our own, each kept open for the messages that follow. The only module that knows lettre's
//! transports.
//!
//! The connections are ours because lettre 0.11 never sets `TCP_NODELAY`: it writes a message and
//! its closing `.` separately, and Nagle's algorithm holds the second write until the server's
//! delayed ACK (40 ms on Linux) — 44 ms a message instead of 1.

use super::render::context::Email;
use crate::config::daemon::{MailConfig, SmtpConfig, TlsMode, Transport};
use crate::domain::address::Mailbox;
use lettre::message::{header::ContentType, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::authentication::Mechanism;
#[allow(deprecated)] // `AsyncNetworkStream`: see `Encrypted`
use lettre::transport::smtp::client::{AsyncNetworkStream, AsyncTokioStream};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::SystemTime;
use tokio_util::compat::FuturesAsyncReadCompatExt;

pub enum Mailer {
    File {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: std::path::PathBuf,
    },
    Smtp(Smtp),
}

/// How to reach the mail server.
pub struct Smtp {
    host: String,
    port: u16,
    /// `host:port`, for messages.
    server: String,
    tls: Encryption,
    credentials: Option<Credentials>,
    /// The longest one message may take, connect to delivered.
    timeout: std::time::Duration,
    connections: usize,
    hello: ClientId,
}

enum Encryption {
    None,
    StartTls(TlsParameters),
    /// TLS from the first byte (port 465).
    Implicit(TlsParameters),
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
                crate::base::files::private_dir(dir).map_err(|source| MailerError::Folder {
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
            Mailer::Smtp(smtp) => smtp.timeout,
        }
    }

    /// Where messages go, for people.
    pub fn describe(&self) -> String {
        match self {
            Mailer::File { dir, .. } => format!(".eml files in {}", dir.display()),
            Mailer::Smtp(smtp) => format!("SMTP {}", smtp.server),
        }
    }

    /// How many messages may be sent at once: one per SMTP connection.
    pub fn lanes(&self) -> usize {
        match self {
            Mailer::File { .. } => 1,
            Mailer::Smtp(smtp) => smtp.connections,
        }
    }

    /// A sender with its own connection, opened at its first message.
    pub fn lane(&self) -> Lane<'_> {
        Lane {
            mailer: self,
            connection: None,
        }
    }
}

/// One sender: sends messages one at a time over its own connection, kept open between them and
/// opened again after a failure.
pub struct Lane<'m> {
    mailer: &'m Mailer,
    connection: Option<AsyncSmtpConnection>,
}

impl Lane<'_> {
    /// Sends an already rendered message (from the outbox) to one envelope recipient.
    pub async fn send_raw(
        &mut self,
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
        match self.mailer {
            Mailer::File { transport, dir } => transport
                .send_raw(&envelope, raw)
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
            Mailer::Smtp(smtp) => {
                // The whole exchange for one message is bounded: a server that accepts and then
                // says nothing must not hang the run.
                let exchange = async {
                    let connection = match &mut self.connection {
                        Some(c) if !c.has_broken() => c,
                        slot => slot.insert(smtp.connect().await?),
                    };
                    connection
                        .send(&envelope, raw)
                        .await
                        .map_err(|e| smtp.failure(e))
                };
                let result = match tokio::time::timeout(smtp.timeout, exchange).await {
                    Ok(result) => result,
                    Err(_) => Err(SendFailure {
                        message: format!(
                            "SMTP {} did not complete the delivery within {} s; check that the mail server is up and answering (mail.smtp.timeout_secs)",
                            smtp.server,
                            smtp.timeout.as_secs()
                        ),
                        server_down: true,
                        permanent: false,
                    }),
                };
                if result.is_err() {
                    // Whatever state the exchange left the connection in, the next message starts afresh.
                    self.connection = None;
                }
                result.map(|_| ())
            }
        }
    }

    /// Says goodbye to the server (QUIT), if connected.
    pub async fn close(&mut self) {
        if let (Some(mut c), Mailer::Smtp(smtp)) = (self.connection.take(), self.mailer) {
            let _ = tokio::time::timeout(smtp.timeout, c.quit()).await;
        }
    }
}

impl Smtp {
    /// Opens a connection: TCP with `TCP_NODELAY`, TLS as configured, EHLO, AUTH.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendFailure> {
        let down = |what: &str, e: &dyn std::fmt::Display| {
            SendFailure {
            message: format!(
                "cannot {what} SMTP {}: {e}; check [mail.smtp] host, port and tls, and that the server is up",
                self.server
            ),
            server_down: true,
            permanent: false,
        }
        };
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| down("connect to", &e))?;
        tcp.set_nodelay(true)
            .map_err(|e| down("set TCP_NODELAY on the connection to", &e))?;
        let stream: Box<dyn AsyncTokioStream> = match &self.tls {
            Encryption::Implicit(params) => {
                #[allow(deprecated)] // lettre's documented way to wrap an existing stream
                let mut wrapped = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
                wrapped
                    .upgrade_tls(params.clone())
                    .await
                    .map_err(|e| self.failure(e))?;
                Box::new(Encrypted(wrapped.compat()))
            }
            _ => Box::new(tcp),
        };
        let mut connection = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(|e| self.failure(e))?;
        if let Encryption::StartTls(params) = &self.tls {
            connection
                .starttls(params.clone(), &self.hello)
                .await
                .map_err(|e| self.failure(e))?;
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(|e| self.failure(e))?;
        }
        Ok(connection)
    }

    /// What a failure from lettre means for this message and the ones after it.
    fn failure(&self, e: lettre::transport::smtp::Error) -> SendFailure {
        let server = &self.server;
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
            format!(
                "SMTP {server} did not answer in time ({detail}); check that the mail server is up"
            )
        } else {
            format!("cannot deliver through SMTP {server}: {detail}; check [mail.smtp] host, port and tls, and that the server is up")
        };
        // A reply (4xx/5xx) concerns this message; anything else (no connection, a timeout, a
        // TLS failure) concerns the server, and would fail the next message too.
        SendFailure {
            message,
            server_down: !(e.is_permanent() || e.is_transient()),
            permanent: e.is_permanent(),
        }
    }
}

/// A TLS stream made by lettre, handed back to lettre as a stream to speak SMTP over: the only
/// way to have implicit TLS on a socket we opened (and set `TCP_NODELAY` on) ourselves.
#[allow(deprecated)]
#[derive(Debug)]
struct Encrypted(tokio_util::compat::Compat<AsyncNetworkStream>);

#[allow(deprecated)]
impl AsyncTokioStream for Encrypted {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().peer_addr()
    }
}

impl tokio::io::AsyncRead for Encrypted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Encrypted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
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
        TlsMode::None => Encryption::None,
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
                Encryption::Implicit(params)
            } else {
                Encryption::StartTls(params)
            }
        }
    };
    Ok(Mailer::Smtp(Smtp {
        host: smtp.host.clone(),
        port: smtp.port,
        server,
        tls,
        credentials: smtp
            .credentials
            .as_ref()
            .map(|(user, password)| Credentials::new(user.clone(), password.expose().to_string())),
        timeout: smtp.timeout,
        connections: smtp.connections,
        hello: ClientId::default(),
    }))
}

/// multipart/alternative (text and HTML), inside multipart/mixed with the attachments when
/// there are any.
fn body(email: &Email) -> Result<MultiPart, BuildError> {
    let content_type = |name: &str| {
        ContentType::parse(name).map_err(|e| BuildError {
            subject: email.subject.clone(),
            detail: format!("`{name}` is not a content type: {e}"),
        })
    };
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(crlf(&email.text));
    let html = SinglePart::builder()
        .header(ContentType::TEXT_HTML)
        .body(crlf(&email.html));
    // The HTML part and the pictures it shows (`cid:`) travel together as multipart/related.
    let alternative = match email.inline.is_empty() {
        true => MultiPart::alternative().singlepart(text).singlepart(html),
        false => {
            let mut related = MultiPart::related().singlepart(html);
            for picture in &email.inline {
                related = related.singlepart(
                    lettre::message::Attachment::new_inline(picture.cid.clone())
                        .body(picture.bytes.clone(), content_type(picture.content_type)?),
                );
            }
            MultiPart::alternative().singlepart(text).multipart(related)
        }
    };
    if email.attachments.is_empty() {
        return Ok(alternative);
    }
    let mut mixed = MultiPart::mixed().multipart(alternative);
    for a in &email.attachments {
        let kind = content_type(a.content_type)?;
        mixed = mixed.singlepart(
            lettre::message::Attachment::new(a.name.clone()).body(a.bytes.clone(), kind),
        );
    }
    Ok(mixed)
}

/// The text with CRLF line ends, as MIME wants them. lettre would insert each `\r` in place,
/// moving the rest of the body each time: a digest of 100,000 units took minutes.
fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut rest = text;
    // Line by line (a line end found by memchr), not char by char: 4 % of a repeated dry run.
    while let Some(at) = rest.find('\n') {
        let line = &rest[..at];
        out.push_str(line);
        if !line.ends_with('\r') {
            out.push('\r');
        }
        out.push('\n');
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[test]
fn line_ends_become_crlf_once() {
    for (given, want) in [
        ("", ""),
        ("a", "a"),
        ("\n", "\r\n"),
        ("a\nb\r\nc\n", "a\r\nb\r\nc\r\n"),
        ("\r\n\n\rx", "\r\n\r\n\rx"),
        ("Sở Tài chính\nđồng", "Sở Tài chính\r\nđồng"),
    ] {
        assert_eq!(crlf(given), want, "{given:?}");
    }
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
                    .map(|n| crate::base::text::one_line(n).into_owned());
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
        .subject(crate::base::text::one_line(&email.subject).into_owned())
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
    builder.multipart(body(email)?).map_err(|e| BuildError {
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
    let h = crate::base::text::fnv1a(identity.as_bytes());
    format!("<{h:016x}.disbmon@{}>", from.email.domain())
}
