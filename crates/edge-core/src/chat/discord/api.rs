//! Calling Discord's HTTP API, sans-IO: the `User-Agent` Discord requires, what to do after
//! a follow-up edit was answered (done, retry once after a 429's `retry_after`, or give up),
//! and the `multipart/form-data` body of an edit that attaches files.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// How long an interaction token accepts follow-ups after the interaction, milliseconds.
pub const TOKEN_LIFE_MS: u64 = 15 * 60 * 1000;
/// The longest `retry_after` a follow-up edit waits for before its one retry, milliseconds.
pub const MAX_RETRY_WAIT_MS: u64 = 5_000;

/// `DiscordBot (<url>, <version>)`, the form Discord requires of a bot's `User-Agent`.
#[must_use]
pub fn user_agent(url: &str, version: &str) -> String {
    format!("DiscordBot ({url}, {version})")
}

/// What to do after Discord answered a follow-up edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditDecision {
    /// The edit was applied (2xx).
    Done,
    /// Rate limited with a short enough `retry_after`: wait this long, then send it again
    /// (once).
    RetryAfter {
        /// How long to wait, milliseconds.
        wait_ms: u64,
    },
    /// Do not send it again; log why.
    GiveUp(GiveUp),
}

/// Why an edit is not sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// Refused with this status (not a 429): sending it again would not help.
    Status(u16),
    /// Still rate limited after the one retry.
    RetriedOnce,
    /// The 429 said to wait this long (ms), more than [`MAX_RETRY_WAIT_MS`].
    WaitTooLong(u64),
    /// Waiting would outlive the interaction token.
    TokenExpiring,
    /// A 429 without a readable `retry_after` (body or header).
    NoRetryAfter,
}

/// The wait a 429 asks for, milliseconds (rounded up): the JSON body's `retry_after`
/// (seconds, a float), else the `Retry-After` header (seconds). Negative, non-finite or
/// unreadable values are `None`.
#[must_use]
pub fn retry_after_ms(body: &[u8], header: Option<&str>) -> Option<u64> {
    let from_body = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("retry_after").and_then(Value::as_f64));
    let secs = from_body.or_else(|| header.and_then(|h| h.trim().parse::<f64>().ok()))?;
    if !(0.0..=86_400.0).contains(&secs) {
        return None;
    }
    Some((secs * 1000.0).ceil() as u64)
}

/// Decides what follows Discord's answer (`status`, `body`, `Retry-After` header) to
/// follow-up edit number `attempt` (0 for the first), at `now_ms`, for an interaction
/// received at `received_ms`. A 429 is retried once, if its wait is at most
/// [`MAX_RETRY_WAIT_MS`] and ends inside the token's life ([`TOKEN_LIFE_MS`], less a second
/// for the request itself).
#[must_use]
pub fn after_edit(
    status: u16,
    body: &[u8],
    retry_after_header: Option<&str>,
    attempt: u32,
    now_ms: u64,
    received_ms: u64,
) -> EditDecision {
    if (200..300).contains(&status) {
        return EditDecision::Done;
    }
    if status != 429 {
        return EditDecision::GiveUp(GiveUp::Status(status));
    }
    if attempt > 0 {
        return EditDecision::GiveUp(GiveUp::RetriedOnce);
    }
    let Some(wait_ms) = retry_after_ms(body, retry_after_header) else {
        return EditDecision::GiveUp(GiveUp::NoRetryAfter);
    };
    if wait_ms > MAX_RETRY_WAIT_MS {
        return EditDecision::GiveUp(GiveUp::WaitTooLong(wait_ms));
    }
    let expires = received_ms.saturating_add(TOKEN_LIFE_MS - 1_000);
    if now_ms.saturating_add(wait_ms) >= expires {
        return EditDecision::GiveUp(GiveUp::TokenExpiring);
    }
    EditDecision::RetryAfter { wait_ms }
}

/// A file attached to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attachment<'a> {
    /// File name, shown by Discord and referenced as `attachment://<filename>`.
    pub filename: &'a str,
    /// Its media type, e.g. `image/png`.
    pub content_type: &'a str,
    /// Alt text.
    pub description: &'a str,
    /// The bytes.
    pub bytes: &'a [u8],
}

/// A `multipart/form-data` body: its `Content-Type` header value and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    /// `multipart/form-data; boundary=…`.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

/// The multipart body Discord takes for a message with files: `payload` (the JSON message)
/// gets `attachments: [{id: n, filename, description}]` and goes in the `payload_json` part;
/// file `n` goes in the `files[n]` part. The boundary is derived from the content (no RNG in
/// the core) and checked not to occur in it.
#[must_use]
pub fn multipart(payload: &Value, files: &[Attachment<'_>]) -> Multipart {
    let mut payload = payload.clone();
    let attachments: Vec<Value> = files
        .iter()
        .enumerate()
        .map(|(id, f)| {
            serde_json::json!({ "id": id, "filename": f.filename, "description": f.description })
        })
        .collect();
    if let Some(obj) = payload.as_object_mut() {
        obj.insert("attachments".to_owned(), Value::Array(attachments));
    }
    let json = payload.to_string();
    let boundary = boundary(json.as_bytes(), files);
    let mut body = Vec::with_capacity(
        json.len() + files.iter().map(|f| f.bytes.len() + 200).sum::<usize>() + 200,
    );
    let part = |body: &mut Vec<u8>, disposition: &str, content_type: &str, bytes: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\nContent-Type: {content_type}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    };
    part(
        &mut body,
        "name=\"payload_json\"",
        "application/json",
        json.as_bytes(),
    );
    for (n, f) in files.iter().enumerate() {
        let name = quoted(f.filename);
        part(
            &mut body,
            &format!("name=\"files[{n}]\"; filename=\"{name}\""),
            f.content_type,
            f.bytes,
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Multipart {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        body,
    }
}

/// A file name safe inside a quoted header parameter.
fn quoted(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn boundary(json: &[u8], files: &[Attachment<'_>]) -> String {
    let mut h = Sha256::new();
    h.update(json);
    for f in files {
        h.update(f.bytes);
    }
    let mut seed = h.finalize().to_vec();
    loop {
        let b = format!(
            "edge-workers-{}",
            crate::hex::encode(seed.get(..12).unwrap_or(&seed))
        );
        let clash = |hay: &[u8]| hay.windows(b.len()).any(|w| w == b.as_bytes());
        if !clash(json) && !files.iter().any(|f| clash(f.bytes)) {
            return b;
        }
        seed = Sha256::digest(&seed).to_vec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_agent_has_discords_form() {
        assert_eq!(
            user_agent("https://example.com/bot", "0.1.0"),
            "DiscordBot (https://example.com/bot, 0.1.0)"
        );
    }

    #[test]
    fn a_short_429_is_retried_once_inside_the_tokens_life() {
        let t0 = 1_000_000;
        assert_eq!(after_edit(200, b"{}", None, 0, t0, t0), EditDecision::Done);
        assert_eq!(
            after_edit(
                429,
                br#"{"retry_after": 1.234, "global": false}"#,
                None,
                0,
                t0,
                t0
            ),
            EditDecision::RetryAfter { wait_ms: 1234 }
        );
        assert_eq!(
            after_edit(429, b"", Some("2"), 0, t0, t0),
            EditDecision::RetryAfter { wait_ms: 2000 }
        );
        assert_eq!(
            after_edit(429, br#"{"retry_after": 0.5}"#, None, 1, t0, t0),
            EditDecision::GiveUp(GiveUp::RetriedOnce)
        );
        assert_eq!(
            after_edit(429, br#"{"retry_after": 30}"#, None, 0, t0, t0),
            EditDecision::GiveUp(GiveUp::WaitTooLong(30_000))
        );
        assert_eq!(
            after_edit(
                429,
                br#"{"retry_after": 3}"#,
                None,
                0,
                t0 + TOKEN_LIFE_MS - 2_000,
                t0
            ),
            EditDecision::GiveUp(GiveUp::TokenExpiring)
        );
        for bad in [
            &br#"{"retry_after": -1}"#[..],
            b"nope",
            br#"{"retry_after": "x"}"#,
        ] {
            assert_eq!(
                after_edit(429, bad, Some("soon"), 0, t0, t0),
                EditDecision::GiveUp(GiveUp::NoRetryAfter)
            );
        }
        assert_eq!(
            after_edit(404, b"", None, 0, t0, t0),
            EditDecision::GiveUp(GiveUp::Status(404))
        );
        assert_eq!(retry_after_ms(b"", Some("1e9")), None);
        assert_eq!(retry_after_ms(b"", Some("NaN")), None);
        assert_eq!(retry_after_ms(b"", None), None);
    }

    #[test]
    fn multipart_follows_discords_form() {
        let png = b"\x89PNG\r\n\x1a\n--not-a-boundary";
        let m = multipart(
            &json!({ "content": "AAPL", "embeds": [{ "image": { "url": "attachment://chart.png" } }] }),
            &[Attachment {
                filename: "chart.png",
                content_type: "image/png",
                description: "AAPL price chart",
                bytes: png,
            }],
        );
        let boundary = m
            .content_type
            .strip_prefix("multipart/form-data; boundary=")
            .expect("boundary");
        let text = String::from_utf8_lossy(&m.body);
        assert!(text.starts_with(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: application/json\r\n\r\n{{")));
        assert!(text.contains(
            "name=\"files[0]\"; filename=\"chart.png\"\r\nContent-Type: image/png\r\n\r\n"
        ));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
        assert_eq!(text.matches(boundary).count(), 3);
        let start = text.find("\r\n\r\n").expect("head") + 4;
        let end = text[start..].find("\r\n--").expect("end") + start;
        let payload: Value = serde_json::from_str(&text[start..end]).expect("payload json");
        assert_eq!(payload["attachments"][0]["id"], json!(0));
        assert_eq!(payload["attachments"][0]["filename"], json!("chart.png"));
        assert!(m.body.windows(png.len()).any(|w| w == png));
        assert_eq!(quoted("a\"b\\c\n.png"), "a_b_c_.png");
    }
}
