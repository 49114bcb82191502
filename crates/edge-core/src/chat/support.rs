//! The support desk's data, shared by the model's tools (`chat::tools`), the D1 store, the
//! admin API and escalation: knowledge-base articles and search hits, tickets and their
//! changes, and the escalation a ticket or a request for a human sends.
//!
//! CONTRACT (issue 19): the types below are what the workers' traits exchange. Owners may
//! add fields, constructors, parsing and validation; renaming or removing a field is agreed
//! first.
//!
//! Validation lives here, once, for every door (the model's tools and the admin API):
//! [`NewTicket::validated`], [`TicketUpdate::validated`], [`ArticleInput::parse`],
//! [`SearchQuery::new`] (in `chat::kb`), [`valid_ticket_id`], [`valid_article_id`]; every
//! refusal is a [`SupportError`] (400 with a stable code and the field).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::chat::intent::Language;
use crate::error::HttpError;

/// Longest search query, characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most hits one search returns.
pub const MAX_HITS: usize = 10;
/// Hits a search returns when the caller names no limit.
pub const DEFAULT_HITS: usize = 5;
/// Longest article title, characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest article body, characters.
pub const MAX_BODY_CHARS: usize = 20_000;
/// Most tags of an article.
pub const MAX_TAGS: usize = 16;
/// Longest tag, characters.
pub const MAX_TAG_CHARS: usize = 32;
/// Largest admin article body, bytes (a 20,000-character Thai body is 60 KB of UTF-8).
pub const MAX_ARTICLE_BYTES: usize = 96 * 1024;
/// Longest ticket subject, characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest ticket description, characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;
/// Longest contact, characters.
pub const MAX_CONTACT_CHARS: usize = 200;
/// Longest note, characters.
pub const MAX_NOTE_CHARS: usize = 2000;
/// Most history rows of one ticket: a change past it is refused (`ticket_history_full`).
pub const MAX_TICKET_EVENTS: u32 = 200;
/// Most history rows a ticket read shows (the latest).
pub const MAX_HISTORY_SHOWN: usize = 50;
/// Largest admin ticket change body, bytes.
pub const MAX_UPDATE_BYTES: usize = 16 * 1024;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// An article or a product.
    pub kind: HitKind,
    /// The article's title or the product's name.
    pub title: String,
    /// The matching part, plain text.
    pub snippet: String,
    /// Higher is better (bm25, negated).
    pub score: f64,
}

/// A knowledge-base article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// `[A-Za-z0-9_-]{1,64}`, chosen by the admin (the path of its PUT).
    pub id: String,
    /// 1..=[`MAX_TITLE_CHARS`] characters.
    pub title: String,
    /// 1..=[`MAX_BODY_CHARS`] characters, plain text.
    pub body: String,
    /// The language it is written in: a Thai article is also in the Thai index.
    pub language: Language,
    /// At most [`MAX_TAGS`] words, searched (weighted between title and body).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Unpublished articles are never searched.
    pub published: bool,
    /// Unix ms.
    pub created_at: u64,
    /// Unix ms.
    pub updated_at: u64,
}

/// A ticket's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    /// Waiting for the support team.
    Open,
    /// Waiting for the customer.
    Pending,
    /// Done (a change can reopen it).
    Solved,
}

/// A ticket's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Whenever there is time.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Soon.
    High,
    /// Now.
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
    /// Unix ms.
    pub at: u64,
    /// Who made the change.
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
    /// The web chat session that opened it (its owner).
    pub session_id: String,
    /// How to reach the customer (an email or phone number they gave), if they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// 1..=[`MAX_SUBJECT_CHARS`] characters.
    pub subject: String,
    /// 1..=[`MAX_DESCRIPTION_CHARS`] characters.
    pub description: String,
    /// Its state.
    pub status: TicketStatus,
    /// Its priority.
    pub priority: Priority,
    /// Unix ms.
    pub created_at: u64,
    /// Unix ms, the last change.
    pub updated_at: u64,
    /// Oldest first (the last [`MAX_HISTORY_SHOWN`] when it is longer).
    #[serde(default)]
    pub history: Vec<TicketEvent>,
}

/// A ticket to open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTicket {
    /// 1..=[`MAX_SUBJECT_CHARS`] characters, one line.
    pub subject: String,
    /// 1..=[`MAX_DESCRIPTION_CHARS`] characters.
    pub description: String,
    /// How to reach the customer, at most [`MAX_CONTACT_CHARS`] characters, one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Normal unless said.
    #[serde(default)]
    pub priority: Priority,
}

/// A change to a ticket (at least one field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TicketUpdate {
    /// The new state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TicketStatus>,
    /// The new priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// A note added to the history, 1..=[`MAX_NOTE_CHARS`] characters.
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
    /// Why.
    pub reason: EscalationReason,
    /// The ticket a human should look at.
    pub ticket_id: String,
    /// Its session.
    pub session_id: String,
    /// The ticket's subject.
    pub subject: String,
    /// The ticket's priority.
    pub priority: Priority,
    /// How to reach the customer, if they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Unix ms.
    pub created_at: u64,
}

/// Why a support desk input was refused: 400 (409 for a full history) with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupportError {
    /// Not a JSON object.
    #[error("body is not a json object")]
    Malformed,
    /// A field the body does not have.
    #[error("unknown field")]
    UnknownField {
        /// Its name (cut to 64 characters).
        field: String,
    },
    /// A field with a wrong type or value.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What it must be.
        reason: &'static str,
    },
    /// A ticket change that names no change.
    #[error("nothing to change: give a status, a priority or a note")]
    NothingToChange,
    /// A ticket with [`MAX_TICKET_EVENTS`] history rows takes no more changes.
    #[error("the ticket's history is full")]
    HistoryFull,
}

impl SupportError {
    /// [`SupportError::Invalid`].
    #[must_use]
    pub const fn invalid(field: &'static str, reason: &'static str) -> Self {
        Self::Invalid { field, reason }
    }
}

impl HttpError for SupportError {
    fn status(&self) -> u16 {
        match self {
            Self::HistoryFull => 409,
            _ => 400,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed_json",
            Self::UnknownField { .. } => "unknown_field",
            Self::Invalid { .. } => "invalid_field",
            Self::NothingToChange => "nothing_to_change",
            Self::HistoryFull => "ticket_history_full",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::UnknownField { field } => Some(field),
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Whether `id` is an article id: `[A-Za-z0-9_-]{1,64}`.
#[must_use]
pub fn valid_article_id(id: &str) -> bool {
    crate::chat::product::valid_id(id)
}

/// Whether `id` is a ticket id: `t_` and 24 lowercase hex digits.
#[must_use]
pub fn valid_ticket_id(id: &str) -> bool {
    id.len() == 26
        && id.starts_with("t_")
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A ticket id from a random UUID (`crypto.randomUUID()`, version 4): its 24 first random
/// hex digits (the version and variant digits skipped), 96 random bits. `None` when `uuid`
/// is not a UUID.
#[must_use]
pub fn ticket_id_from_uuid(uuid: &str) -> Option<String> {
    let hex: Vec<char> = uuid.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.iter().all(char::is_ascii_hexdigit) {
        return None;
    }
    let random: String = hex
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 12 && *i != 16)
        .map(|(_, c)| c.to_ascii_lowercase())
        .take(24)
        .collect();
    Some(format!("t_{random}"))
}

/// `s` trimmed when it has 1..=`max` characters and no control character (newlines and
/// tabs allowed when `multiline`).
fn checked(
    s: &str,
    field: &'static str,
    max: usize,
    multiline: bool,
    reason: &'static str,
) -> Result<String, SupportError> {
    let t = s.trim();
    let bad = |c: char| c.is_control() && !(multiline && (c == '\n' || c == '\t'));
    if t.is_empty() || t.chars().count() > max || t.chars().any(bad) {
        return Err(SupportError::invalid(field, reason));
    }
    Ok(t.to_owned())
}

impl NewTicket {
    /// The ticket to open with its texts trimmed, once every limit holds.
    ///
    /// # Errors
    /// [`SupportError::Invalid`] naming the first field out of its limits.
    pub fn validated(&self) -> Result<Self, SupportError> {
        Ok(Self {
            subject: checked(
                &self.subject,
                "subject",
                MAX_SUBJECT_CHARS,
                false,
                "expected 1..=200 characters on one line",
            )?,
            description: checked(
                &self.description,
                "description",
                MAX_DESCRIPTION_CHARS,
                true,
                "expected 1..=4000 characters",
            )?,
            contact: match self.contact.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(c) => Some(checked(
                    c,
                    "contact",
                    MAX_CONTACT_CHARS,
                    false,
                    "expected at most 200 characters on one line",
                )?),
            },
            priority: self.priority,
        })
    }
}

impl TicketUpdate {
    /// The change with its note trimmed, once it names something and every limit holds.
    ///
    /// # Errors
    /// [`SupportError::NothingToChange`] for an empty change, [`SupportError::Invalid`] for
    /// a note out of its limits.
    pub fn validated(&self) -> Result<Self, SupportError> {
        let note = self
            .note
            .as_deref()
            .map(|n| {
                checked(
                    n,
                    "note",
                    MAX_NOTE_CHARS,
                    true,
                    "expected 1..=2000 characters",
                )
            })
            .transpose()?;
        if self.status.is_none() && self.priority.is_none() && note.is_none() {
            return Err(SupportError::NothingToChange);
        }
        Ok(Self {
            status: self.status,
            priority: self.priority,
            note,
        })
    }

    /// An admin's change body: a JSON object of `status`, `priority`, `note` only.
    ///
    /// # Errors
    /// [`SupportError`] naming what is wrong.
    pub fn parse(body: &[u8]) -> Result<Self, SupportError> {
        let map = object(body, &["status", "priority", "note"])?;
        let u = Self {
            status: field(&map, "status", "expected open, pending or solved")?,
            priority: field(&map, "priority", "expected low, normal, high or urgent")?,
            note: field(&map, "note", "expected 1..=2000 characters")?,
        };
        u.validated()
    }
}

fn status_str(s: TicketStatus) -> &'static str {
    match s {
        TicketStatus::Open => "open",
        TicketStatus::Pending => "pending",
        TicketStatus::Solved => "solved",
    }
}

fn priority_str(p: Priority) -> &'static str {
    match p {
        Priority::Low => "low",
        Priority::Normal => "normal",
        Priority::High => "high",
        Priority::Urgent => "urgent",
    }
}

impl TicketStatus {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        status_str(self)
    }

    /// From the stored spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Pending, Self::Solved]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

impl Priority {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        priority_str(self)
    }

    /// From the stored spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Low, Self::Normal, Self::High, Self::Urgent]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

impl Actor {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assistant => "assistant",
            Self::Admin => "admin",
            Self::System => "system",
        }
    }

    /// From the stored spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Assistant, Self::Admin, Self::System]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// What applying a change to a ticket does: its new status and priority, and one history
/// line per real change (a status or priority set to what it already is is no change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePlan {
    /// The status after.
    pub status: TicketStatus,
    /// The priority after.
    pub priority: Priority,
    /// The history lines, in order (empty: nothing changes).
    pub changes: Vec<String>,
}

/// How `u` (validated) changes a ticket now at `status`/`priority` with `events` history
/// rows.
///
/// # Errors
/// [`SupportError::HistoryFull`] when the changes would pass [`MAX_TICKET_EVENTS`].
pub fn plan_change(
    status: TicketStatus,
    priority: Priority,
    events: u32,
    u: &TicketUpdate,
) -> Result<ChangePlan, SupportError> {
    let mut changes = Vec::new();
    let new_status = u.status.unwrap_or(status);
    if new_status != status {
        changes.push(format!(
            "status: {} -> {}",
            status.as_str(),
            new_status.as_str()
        ));
    }
    let new_priority = u.priority.unwrap_or(priority);
    if new_priority != priority {
        changes.push(format!(
            "priority: {} -> {}",
            priority.as_str(),
            new_priority.as_str()
        ));
    }
    if let Some(note) = &u.note {
        changes.push(format!("note: {note}"));
    }
    if events.saturating_add(changes.len() as u32) > MAX_TICKET_EVENTS {
        return Err(SupportError::HistoryFull);
    }
    Ok(ChangePlan {
        status: new_status,
        priority: new_priority,
        changes,
    })
}

/// Field `name` of `map` as a `T` (absent or null: `None`).
fn field<T: serde::de::DeserializeOwned>(
    map: &Map<String, Value>,
    name: &'static str,
    reason: &'static str,
) -> Result<Option<T>, SupportError> {
    map.get(name)
        .filter(|v| !v.is_null())
        .map(|v| serde_json::from_value(v.clone()).map_err(|_| SupportError::invalid(name, reason)))
        .transpose()
}

/// A JSON object with only the `allowed` keys.
fn object(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, SupportError> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(SupportError::Malformed);
    };
    if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(SupportError::UnknownField {
            field: k.chars().take(64).collect(),
        });
    }
    Ok(map)
}

/// A valid article body of the admin API (the id comes from the path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleInput {
    /// 1..=[`MAX_TITLE_CHARS`] characters, one line.
    pub title: String,
    /// 1..=[`MAX_BODY_CHARS`] characters.
    pub body: String,
    /// `en` (default) or `th`.
    pub language: Language,
    /// At most [`MAX_TAGS`], each 1..=[`MAX_TAG_CHARS`] characters, one line.
    pub tags: Vec<String>,
    /// `true` unless said.
    pub published: bool,
}

impl ArticleInput {
    /// Parses an admin article body: `{"title", "body", "language"?, "tags"?,
    /// "published"?}`.
    ///
    /// # Errors
    /// [`SupportError`] naming the first field that failed.
    pub fn parse(body: &[u8]) -> Result<Self, SupportError> {
        let map = object(body, &["title", "body", "language", "tags", "published"])?;
        let text = |name: &'static str, max: usize, multiline: bool, reason: &'static str| match map
            .get(name)
        {
            Some(Value::String(s)) => checked(s, name, max, multiline, reason),
            _ => Err(SupportError::invalid(name, reason)),
        };
        let title = text(
            "title",
            MAX_TITLE_CHARS,
            false,
            "expected 1..=200 characters on one line",
        )?;
        let body = text(
            "body",
            MAX_BODY_CHARS,
            true,
            "expected 1..=20000 characters",
        )?;
        let language = match map.get("language") {
            None | Some(Value::Null) => Language::En,
            Some(Value::String(s)) if s == "en" => Language::En,
            Some(Value::String(s)) if s == "th" => Language::Th,
            Some(_) => return Err(SupportError::invalid("language", "expected en or th")),
        };
        const TAGS: &str = "expected at most 16 strings of 1..=32 characters";
        let tags = match map.get("tags") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.len() <= MAX_TAGS => items
                .iter()
                .map(|t| match t {
                    Value::String(s) => checked(s, "tags", MAX_TAG_CHARS, false, TAGS),
                    _ => Err(SupportError::invalid("tags", TAGS)),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(SupportError::invalid("tags", TAGS)),
        };
        let published = match map.get("published") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(SupportError::invalid("published", "expected true or false")),
        };
        Ok(Self {
            title,
            body,
            language,
            tags,
            published,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn new_ticket(subject: &str, description: &str, contact: Option<&str>) -> NewTicket {
        NewTicket {
            subject: subject.to_owned(),
            description: description.to_owned(),
            contact: contact.map(str::to_owned),
            priority: Priority::default(),
        }
    }

    #[test]
    fn ticket_ids() {
        let id = ticket_id_from_uuid("0f8fad5b-d9cb-469f-a165-70867728950e").expect("uuid");
        assert_eq!(id, "t_0f8fad5bd9cb69f165708677");
        assert!(valid_ticket_id(&id), "{id}");
        assert_eq!(id.len(), 26);
        assert_eq!(ticket_id_from_uuid("not-a-uuid"), None);
        assert_eq!(ticket_id_from_uuid(&"g".repeat(32)), None);
        for bad in [
            "",
            "t_",
            "t_0F8FAD5BD9CB69F16570867A",
            "x_0f8fad5bd9cb69f165708677",
            "t_0f8fad5bd9cb69f1657086778",
        ] {
            assert!(!valid_ticket_id(bad), "{bad}");
        }
    }

    #[test]
    fn new_ticket_limits() {
        let ok = new_ticket(" Late order ", "Where is it?\nOrder 42", Some("  "))
            .validated()
            .expect("valid");
        assert_eq!((ok.subject.as_str(), ok.contact), ("Late order", None));
        for (t, field) in [
            (new_ticket("", "d", None), "subject"),
            (new_ticket(&"s".repeat(201), "d", None), "subject"),
            (new_ticket("two\nlines", "d", None), "subject"),
            (new_ticket("s", "   ", None), "description"),
            (new_ticket("s", &"d".repeat(4001), None), "description"),
            (new_ticket("s", "nul\u{0}", None), "description"),
            (new_ticket("s", "d", Some(&"c".repeat(201))), "contact"),
        ] {
            assert_eq!(t.validated().expect_err(field).field(), Some(field));
        }
        // Limits count characters, not bytes: 200 Thai letters are a valid subject.
        assert!(new_ticket(&"ก".repeat(200), "d", None).validated().is_ok());
    }

    #[test]
    fn updates_and_their_history_lines() {
        assert_eq!(
            TicketUpdate::default().validated(),
            Err(SupportError::NothingToChange)
        );
        let u = TicketUpdate::parse(br#"{"status":"solved","note":" thanks "}"#).expect("valid");
        let plan = plan_change(TicketStatus::Open, Priority::Normal, 1, &u).expect("plan");
        assert_eq!(plan.status, TicketStatus::Solved);
        assert_eq!(plan.changes, ["status: open -> solved", "note: thanks"]);
        // Setting what already is changes nothing.
        let same = TicketUpdate::parse(br#"{"priority":"normal"}"#).expect("valid");
        assert!(
            plan_change(TicketStatus::Open, Priority::Normal, 1, &same)
                .expect("plan")
                .changes
                .is_empty()
        );
        assert_eq!(
            plan_change(TicketStatus::Open, Priority::Normal, MAX_TICKET_EVENTS, &u),
            Err(SupportError::HistoryFull)
        );
        for (body, code) in [
            (br#"{"status":"closed"}"#.as_slice(), "invalid_field"),
            (br#"{"priority":1}"#.as_slice(), "invalid_field"),
            (br#"{"note":""}"#.as_slice(), "invalid_field"),
            (br#"{"session_id":"x"}"#.as_slice(), "unknown_field"),
            (br#"{}"#.as_slice(), "nothing_to_change"),
            (br#"[]"#.as_slice(), "malformed_json"),
        ] {
            assert_eq!(TicketUpdate::parse(body).expect_err(code).code(), code);
        }
        assert_eq!(SupportError::HistoryFull.status(), 409);
    }

    #[test]
    fn stored_spellings_round_trip() {
        for s in [
            TicketStatus::Open,
            TicketStatus::Pending,
            TicketStatus::Solved,
        ] {
            assert_eq!(TicketStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).expect("ser"), json!(s.as_str()));
        }
        for p in [
            Priority::Low,
            Priority::Normal,
            Priority::High,
            Priority::Urgent,
        ] {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).expect("ser"), json!(p.as_str()));
        }
        for a in [Actor::Assistant, Actor::Admin, Actor::System] {
            assert_eq!(Actor::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_value(a).expect("ser"), json!(a.as_str()));
        }
        assert_eq!(TicketStatus::parse("closed"), None);
    }

    #[test]
    fn article_bodies() {
        let a = ArticleInput::parse(
            json!({"title": " Refunds ", "body": "Within 30 days.", "language": "th", "tags": ["refund"]})
                .to_string()
                .as_bytes(),
        )
        .expect("valid");
        assert_eq!(
            (a.title.as_str(), a.language, a.published, a.tags.len()),
            ("Refunds", Language::Th, true, 1)
        );
        for (v, field) in [
            (json!({"body": "b"}), "title"),
            (json!({"title": "t", "body": ""}), "body"),
            (
                json!({"title": "t", "body": "b", "language": "fr"}),
                "language",
            ),
            (
                json!({"title": "t", "body": "b", "tags": vec!["x"; 17]}),
                "tags",
            ),
            (json!({"title": "t", "body": "b", "tags": [1]}), "tags"),
            (
                json!({"title": "t", "body": "b", "published": "yes"}),
                "published",
            ),
            (json!({"title": "t", "body": "b", "id": "x"}), "id"),
        ] {
            let err = ArticleInput::parse(v.to_string().as_bytes()).expect_err(field);
            assert_eq!(err.field(), Some(field), "{v}");
        }
        assert!(valid_article_id("refund-policy_1") && !valid_article_id("a b"));
    }
}
