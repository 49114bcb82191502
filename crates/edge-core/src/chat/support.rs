//! The support desk's data, shared by the model's tools (`chat::tools`), the D1 store, the
//! admin API and escalation: knowledge-base articles and search hits, tickets and their
//! changes, and the escalation a ticket or a request for a human sends.
//!
//! CONTRACT (issue 19, seeded by the lead): the types below are what the workers' traits
//! exchange. Owners may add fields, constructors, parsing and validation; renaming or
//! removing a field is agreed first.

#![allow(missing_docs)] // SEED: the owner (helper B) documents every field and removes this

use serde::{Deserialize, Serialize};

use crate::chat::intent::Language;

/// Longest search query, characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most hits one search returns.
pub const MAX_HITS: usize = 10;
/// Hits a search returns when the caller names no limit.
pub const DEFAULT_HITS: usize = 5;

/// A knowledge-base search, as the model or the admin asked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// The words searched for (never passed to FTS5 as syntax: the store quotes them).
    pub text: String,
    /// The language to prefer, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// Most hits, `1..=MAX_HITS`.
    pub limit: usize,
}

/// What a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HitKind {
    /// A knowledge-base article.
    Article,
    /// A product of the catalog.
    Product,
}

/// One search hit: what the model may cite (`id`) and read (`snippet`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbHit {
    /// The article's or product's id.
    pub id: String,
    pub kind: HitKind,
    pub title: String,
    /// The matching part, plain text.
    pub snippet: String,
    /// Higher is better (bm25, negated).
    pub score: f64,
}

/// A knowledge-base article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    pub id: String,
    pub title: String,
    pub body: String,
    pub language: Language,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Unpublished articles are never searched.
    pub published: bool,
    pub created_at: u64,
    pub updated_at: u64,
}

/// A ticket's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    Open,
    Pending,
    Solved,
}

/// A ticket's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

/// Who changed a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// The model, through a tool, for the session's customer.
    Assistant,
    /// The admin API.
    Admin,
    /// The worker itself (a request for a human).
    System,
}

/// One change of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketEvent {
    pub at: u64,
    pub actor: Actor,
    /// What changed, e.g. `created`, `status: open -> pending`, `note: ...`.
    pub change: String,
}

/// A support ticket. It belongs to the web chat session that opened it: the model of that
/// session, and only it, can read and change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// `t_` and 24 lowercase hex digits.
    pub id: String,
    pub session_id: String,
    /// How to reach the customer (an email or phone number they gave), if they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    pub subject: String,
    pub description: String,
    pub status: TicketStatus,
    pub priority: Priority,
    pub created_at: u64,
    pub updated_at: u64,
    /// Oldest first.
    #[serde(default)]
    pub history: Vec<TicketEvent>,
}

/// A ticket to open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTicket {
    pub subject: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default)]
    pub priority: Priority,
}

/// A change to a ticket (at least one field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TicketUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TicketStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// A note added to the history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Why a conversation is escalated to a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationReason {
    /// A ticket was created.
    TicketCreated,
    /// The customer asked for a human.
    HumanRequested,
}

/// One escalation: the escalation queue's message body. Exactly one notification is
/// delivered per `key` (`ticket:<ticket id>`), however often it is sent or retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// The idempotency key.
    pub key: String,
    pub reason: EscalationReason,
    pub ticket_id: String,
    pub session_id: String,
    pub subject: String,
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    pub created_at: u64,
}
