//! The messages a run queues, as the outbox holds them: what each is (alert, digest, operator
//! notice), its raw MIME and envelope recipients, and one row per recipient while it is sent.
//! Built by `notify::queue`, stored by `store`, sent by the outbox drainer.

use super::decide::Reason;
use crate::domain::id::UnitId;
use chrono::{DateTime, Utc};

/// What a queued message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Alert,
    Digest,
    /// To the operators (a failed run, a silent job, messages given up): never reported about
    /// itself when it fails, so that a broken mail setup cannot loop.
    Operator,
}
crate::base::names::named!(MessageKind {
    Alert => "alert",
    Digest => "digest",
    Operator => "operator",
});

/// Where one outbox row (one message to one recipient) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    Pending,
    /// Taken by a drainer, under a lease; taken back when the lease runs out or its process died.
    Sending,
    Sent,
    Failed,
    /// Held by the mass-mailing guard until an operator releases the run (`outbox release`).
    Held,
}
crate::base::names::named!(OutboxStatus {
    Pending => "pending",
    Sending => "sending",
    Sent => "sent",
    Failed => "failed",
    Held => "held",
});

/// A rendered message to queue: one outbox row per envelope recipient, so that one refused
/// recipient never holds up the others.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message_id: String,
    pub unit: Option<UnitId>,
    pub kind: MessageKind,
    pub reason: Option<Reason>,
    pub recipients: Vec<String>,
    pub subject: String,
    pub raw: Vec<u8>,
}

/// One message to one recipient in the outbox, as the drainer, the listings and the reports see
/// it (the body stays in the store until the row is taken for sending).
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub message_id: String,
    pub job: String,
    pub unit: Option<UnitId>,
    pub kind: MessageKind,
    /// Why an alert was sent; none for digests and operator notices.
    pub reason: Option<Reason>,
    pub recipient: String,
    pub subject: String,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A run's messages, ready for the outbox.
#[derive(Debug, Default)]
pub struct Outgoing {
    pub messages: Vec<NewMessage>,
    /// Per alert of the decision, in its order: the Message-ID, or None when it could not be built.
    pub alert_ids: Vec<Option<String>>,
    /// The digest's Message-ID, when the job has a digest and it could be built.
    pub digest_id: Option<String>,
}

impl Outgoing {
    /// The Message-IDs of every message built.
    pub fn ids(&self) -> Vec<String> {
        self.messages.iter().map(|m| m.message_id.clone()).collect()
    }

    /// Keeps a built message and returns its Message-ID; a message that could not be built is
    /// logged, and the report says so for its alert or digest.
    pub fn keep(&mut self, built: Result<NewMessage, impl std::fmt::Display>) -> Option<String> {
        match built {
            Ok(m) => {
                let id = m.message_id.clone();
                self.messages.push(m);
                Some(id)
            }
            Err(e) => {
                tracing::error!("{e}");
                None
            }
        }
    }
}
