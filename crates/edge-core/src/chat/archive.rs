//! Web chat archives and the customer index, sans-IO: the JSONL an ended session is kept
//! as in R2 once its Durable Object storage goes (redacted: [`super::privacy`]), where it
//! is kept (`sessions/<day archived>/<session id>.jsonl`) and when it expires, and the
//! embedding site's customer id a session may be created with.
//!
//! JSONL: one line per record, the first `{"type":"session", …}` (the session row, its
//! summary, when it was archived), then `{"type":"message", …}` per message, oldest first.
//! Every string value is redacted; numbers (ids, times, tokens) are kept.

use serde_json::{Map, Value};

use super::privacy;
use super::web::frame::Message;
use crate::analytics::window;
use crate::error::HttpError;

/// Where archives live in the bucket (an R2 lifecycle rule may expire this prefix too).
pub const PREFIX: &str = "sessions/";
/// One day, ms.
pub use crate::analytics::window::DAY_MS;
/// Longest customer id.
pub const MAX_CUSTOMER_CHARS: usize = 128;
/// Most lines read back from one archive (a header and the messages; a session holds far
/// fewer under its rate limits).
pub const MAX_LINES: usize = 20_000;

/// `YYYY-MM-DD` (UTC) of the unix time `ms`.
#[must_use]
pub fn day(ms: u64) -> String {
    window::day_name(window::day_of(ms))
}

/// The key of session `id`'s archive made at `archived_ms`.
#[must_use]
pub fn key(archived_ms: u64, id: &str) -> String {
    format!("{PREFIX}{}/{id}.jsonl", day(archived_ms))
}

/// The day prefixes (`sessions/YYYY-MM-DD/`, as a delimited listing returns them) that may
/// hold archives due to expire at `now_ms` after `retention_ms`: those of days up to and
/// including the day of the cutoff. Anything else (a foreign prefix) is never touched.
#[must_use]
pub fn expiring_prefixes(prefixes: &[String], now_ms: u64, retention_ms: u64) -> Vec<&str> {
    let cutoff = day(now_ms.saturating_sub(retention_ms));
    prefixes
        .iter()
        .map(String::as_str)
        .filter(|p| {
            p.strip_prefix(PREFIX)
                .and_then(|d| d.strip_suffix('/'))
                .is_some_and(|d| is_day(d) && *d <= *cutoff)
        })
        .collect()
}

/// Whether `d` is `YYYY-MM-DD` (digits and dashes in place).
fn is_day(d: &str) -> bool {
    d.len() == 10
        && d.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        })
}

/// Whether an archive uploaded at `uploaded_ms` has expired at `now_ms`.
#[must_use]
pub fn expired(uploaded_ms: u64, now_ms: u64, retention_ms: u64) -> bool {
    uploaded_ms.saturating_add(retention_ms) <= now_ms
}

/// Replaces every string in `v` (not the keys) by its redaction.
pub fn redact_json(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(r) = privacy::redact(s) {
                *s = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(map) => map.values_mut().for_each(redact_json),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The archive's header record, before redaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// The session id.
    pub id: &'a str,
    /// `active`, `idle` or `ended`.
    pub status: &'a str,
    /// Unix ms.
    pub created_at: u64,
    /// Unix ms.
    pub last_activity: u64,
    /// Unix ms, once it ended.
    pub ended_at: Option<u64>,
    /// Unix ms.
    pub archived_at: u64,
    /// The rolling summary, if one was made.
    pub summary: Option<&'a str>,
}

/// The archive of a session: its header and its messages, one JSON object a line,
/// every string redacted.
#[must_use]
pub fn jsonl(header: &Header<'_>, messages: &[Message]) -> String {
    let mut out = String::new();
    let mut line = |mut v: Value| {
        redact_json(&mut v);
        out.push_str(&v.to_string());
        out.push('\n');
    };
    line(serde_json::json!({
        "type": "session",
        "id": header.id,
        "status": header.status,
        "created_at": header.created_at,
        "last_activity": header.last_activity,
        "ended_at": header.ended_at,
        "archived_at": header.archived_at,
        "summary": header.summary,
    }));
    for m in messages {
        let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            let mut tagged = Map::new();
            tagged.insert("type".to_owned(), Value::from("message"));
            tagged.append(map);
            v = Value::Object(tagged);
        }
        line(v);
    }
    out
}

/// An archive read back: its header and messages as stored (at most [`MAX_LINES`];
/// a line that is not a JSON object is skipped).
#[must_use]
pub fn read(text: &str) -> (Option<Value>, Vec<Value>) {
    let mut header = None;
    let mut messages = Vec::new();
    for line in text.lines().take(MAX_LINES) {
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.get("type").and_then(Value::as_str) == Some("session") => {
                header = Some(v);
            }
            Ok(v) if v.is_object() => messages.push(v),
            _ => {}
        }
    }
    (header, messages)
}

/// A customer id refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CustomerError {
    /// Empty, longer than [`MAX_CUSTOMER_CHARS`], or outside `A-Z a-z 0-9 . _ : -`.
    #[error("customer must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'")]
    Malformed,
    /// Looks like personal data (a phone, card or id number): it would be kept in the
    /// index and in analytics' paths; use the site's opaque id instead.
    #[error("customer looks like personal data (a phone, card or id number); use an opaque id")]
    Personal,
}

impl HttpError for CustomerError {
    fn status(&self) -> u16 {
        400
    }

    fn code(&self) -> &'static str {
        "invalid_customer"
    }
}

/// `customer` when it is a valid customer id: 1–128 of `A-Z a-z 0-9 . _ : -`, holding
/// nothing [`privacy::redact`] would replace.
///
/// # Errors
/// [`CustomerError`].
pub fn customer(customer: &str) -> Result<&str, CustomerError> {
    let ok = !customer.is_empty()
        && customer.len() <= MAX_CUSTOMER_CHARS
        && customer
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if !ok {
        return Err(CustomerError::Malformed);
    }
    if !privacy::is_clean(customer) {
        return Err(CustomerError::Personal);
    }
    Ok(customer)
}

/// The optional customer of a `POST /chat/v1/sessions` body: empty, `{}`, or
/// `{"customer": "<id>"}` (other keys ignored, as before).
///
/// # Errors
/// [`CustomerError::Malformed`] for a body that is not a JSON object or a `customer` that
/// is not a string; [`customer`]'s errors.
pub fn create_body(body: &[u8]) -> Result<Option<String>, CustomerError> {
    let text = std::str::from_utf8(body).map_err(|_| CustomerError::Malformed)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(text).map_err(|_| CustomerError::Malformed)?;
    let obj = v.as_object().ok_or(CustomerError::Malformed)?;
    match obj.get("customer") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(c)) => customer(c).map(|c| Some(c.to_owned())),
        Some(_) => Err(CustomerError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::completion::Role;
    use crate::chat::web::frame::Metadata;
    use proptest::prelude::*;

    #[test]
    fn days_are_utc_calendar_days() {
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(day(DAY_MS - 1), "1970-01-01");
        assert_eq!(day(951_782_400_000), "2000-02-29");
        assert_eq!(day(1_796_083_200_000), "2026-12-01");
        assert_eq!(day(1_796_083_200_000 + DAY_MS), "2026-12-02");
        assert_eq!(
            key(1_796_083_200_000, "0123abcd"),
            "sessions/2026-12-01/0123abcd.jsonl"
        );
    }

    #[test]
    fn expiry_takes_days_up_to_the_cutoff_and_nothing_foreign() {
        let now = 1_796_083_200_000 + DAY_MS / 2; // 2026-12-01 12:00
        let prefixes: Vec<String> = [
            "sessions/2026-11-29/",
            "sessions/2026-11-30/",
            "sessions/2026-12-01/",
            "sessions/nonsense/",
            "other/2026-01-01/",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            expiring_prefixes(&prefixes, now, DAY_MS),
            ["sessions/2026-11-29/", "sessions/2026-11-30/"]
        );
        // Seconds of retention (tests): today's prefix is listed, its objects by time.
        assert_eq!(expiring_prefixes(&prefixes, now, 2_000).len(), 3);
        assert!(expired(now - 2_000, now, 2_000));
        assert!(!expired(now - 1_999, now, 2_000));
        assert!(!expired(u64::MAX, 0, u64::MAX));
    }

    fn message(id: u64, role: Role, content: &str) -> Message {
        Message {
            id,
            role,
            content: content.to_owned(),
            created_at: 1_796_169_600_123,
            client_id: None,
            metadata: (role == Role::Assistant).then(|| Metadata {
                provider: "deepseek".into(),
                model: Some("deepseek-chat".into()),
                tokens: Some(4_111_111_111_111_111),
                first_token_ms: None,
                latency_ms: 12,
                failed: vec!["primary: said 0812345678".into()],
                tool_calls: vec![crate::chat::tools::ToolRecord {
                    call_id: "call_1".into(),
                    name: "create_ticket".into(),
                    status: crate::chat::tools::ToolStatus::Ok,
                    label: "Opening a ticket…".into(),
                    arguments: r#"{"contact":"me@x.co.th","subject":"refund"}"#.into(),
                    result: r#"{"id":"t_0123456789abcdef01234567"}"#.into(),
                    round: 1,
                    ms: 12,
                }],
            }),
        }
    }

    #[test]
    fn archives_are_redacted_jsonl_and_read_back() {
        let header = Header {
            id: "abc",
            status: "ended",
            created_at: 1,
            last_activity: 2,
            ended_at: Some(3),
            archived_at: 4,
            summary: Some("the user gave a@b.com"),
        };
        let msgs = [
            message(
                1,
                Role::User,
                "my card 4111 1111 1111 1111, mail me@x.co.th",
            ),
            message(2, Role::Assistant, "noted 1-1037-02071-81-1"),
        ];
        let text = jsonl(&header, &msgs);
        assert_eq!(text.lines().count(), 3);
        for pii in ["4111 1111", "me@x", "a@b.com", "1037", "0812345678"] {
            assert!(!text.contains(pii), "{pii} in {text}");
        }
        let (h, m) = read(&text);
        let h = h.expect("a header line");
        assert_eq!(h["summary"], "the user gave [email]");
        assert_eq!(h["ended_at"], 3);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["type"], "message");
        assert_eq!(m[0]["content"], "my card [card], mail [email]");
        assert_eq!(m[1]["metadata"]["failed"][0], "primary: said [phone]");
        // Tool calls are archived with their arguments redacted, ids kept.
        let call = &m[1]["metadata"]["tool_calls"][0];
        assert_eq!(
            call["arguments"],
            r#"{"contact":"[email]","subject":"refund"}"#
        );
        assert_eq!(call["result"], r#"{"id":"t_0123456789abcdef01234567"}"#);
        // Numbers are data, not text: kept exactly.
        assert_eq!(m[1]["metadata"]["tokens"], 4_111_111_111_111_111_u64);
        assert_eq!(m[0]["created_at"], 1_796_169_600_123_u64);
        assert_eq!(read("junk\n\n[1]\n").1.len(), 0);
    }

    #[test]
    fn customer_ids_are_opaque_and_bounded() {
        assert_eq!(create_body(b""), Ok(None));
        assert_eq!(create_body(b" {} "), Ok(None));
        assert_eq!(create_body(br#"{"customer": null}"#), Ok(None));
        assert_eq!(
            create_body(br#"{"customer": "cus_42:site-a.b"}"#),
            Ok(Some("cus_42:site-a.b".into()))
        );
        for bad in [
            &br#"{"customer": ""}"#[..],
            br#"{"customer": 42}"#,
            br#"{"customer": "a b"}"#,
            br#"{"customer": "a/b"}"#,
            br#"{"customer": "somchai@example.com"}"#,
            b"[]",
            b"{",
            b"\xff",
        ] {
            assert_eq!(create_body(bad), Err(CustomerError::Malformed), "{bad:?}");
        }
        let long = format!(r#"{{"customer": "{}"}}"#, "a".repeat(129));
        assert_eq!(create_body(long.as_bytes()), Err(CustomerError::Malformed));
        assert!(customer(&"a".repeat(128)).is_ok());
        for personal in ["0812345678", "4111111111111111", "tel:0812345678"] {
            assert_eq!(
                customer(personal),
                Err(CustomerError::Personal),
                "{personal}"
            );
        }
        assert_eq!(CustomerError::Personal.code(), "invalid_customer");
        assert_eq!(CustomerError::Personal.status(), 400);
    }

    proptest! {
        #[test]
        fn any_message_text_is_archived_redacted_and_valid(s in "\\PC{0,80}", id in 1u64..1_000) {
            let text = jsonl(
                &Header { id: "x", status: "ended", created_at: 0, last_activity: 0, ended_at: None, archived_at: 0, summary: None },
                &[message(id, Role::User, &s)],
            );
            let (_, m) = read(&text);
            prop_assert_eq!(m.len(), 1);
            let want = privacy::redacted(&s);
            prop_assert_eq!(m[0]["content"].as_str(), Some(want.as_str()));
            prop_assert_eq!(m[0]["id"].as_u64(), Some(id));
        }

        #[test]
        fn days_round_trip_through_their_prefix(ms in DAY_MS..4_102_444_800_000) {
            let d = day(ms);
            prop_assert!(is_day(&d));
            let prefixes = vec![format!("{PREFIX}{d}/")];
            prop_assert_eq!(expiring_prefixes(&prefixes, ms, 0).len(), 1);
            prop_assert_eq!(expiring_prefixes(&prefixes, ms, DAY_MS).len(), 0);
        }
    }
}
