//! The web chat's data on the wire: stored [`Message`]s, the server's [`ServerFrame`]s
//! (WebSocket text frames, and the `data:` of the SSE answer) and the client's
//! [`ClientFrame`]s, parsed strictly ([`parse_client_frame`]). User and provider texts are
//! carried as JSON strings only: data, never markup.

use serde::{Deserialize, Serialize};

use crate::chat::completion::Role;
use crate::chat::tools::{ToolRecord, ToolStatus};

/// Largest client frame read, bytes (a message of the longest allowed length in 4-byte
/// characters, JSON-escaped, fits).
pub const MAX_CLIENT_FRAME_BYTES: usize = 64 * 1024;
/// Longest `client_id`, characters.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// How an assistant message was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Metadata {
    /// The provider's name, or `static` (the apology).
    pub provider: String,
    /// The model asked, when a provider answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Tokens the provider counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// From the question to the first piece of the answer, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_ms: Option<u64>,
    /// From the question to the whole answer, ms.
    pub latency_ms: u64,
    /// The providers that failed before this answer, each as `<name>: <outcome>`
    /// (`primary: transport`, `primary: circuit_open`): a failover is visible in history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// The tools the model called for this answer and their results, in order (at most
    /// `MAX_TOOL_ROUNDS` × calls per round; each record bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolRecord>,
}

/// One stored message of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// 1, 2, 3… per session.
    pub id: u64,
    /// Who said it.
    pub role: Role,
    /// The text, as said (never markup).
    pub content: String,
    /// When it was stored, unix ms.
    pub created_at: u64,
    /// The client's own id for a user message (resends de-duplicate on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// How an assistant message was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// A session's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Taking messages.
    Active,
    /// No activity for the idle period: ended by the alarm; its storage goes after the
    /// retention period.
    Idle,
    /// Ended (no more messages); storage goes after the retention period.
    Ended,
}

impl Status {
    /// The stored spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Idle => "idle",
            Self::Ended => "ended",
        }
    }

    /// The status stored as `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "idle" => Some(Self::Idle),
            "ended" => Some(Self::Ended),
            _ => None,
        }
    }

    /// Whether the session still takes messages.
    #[must_use]
    pub const fn is_open(self) -> bool {
        matches!(self, Self::Active)
    }
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The first frame after connecting: the messages after the client's `after` (all
    /// without it), the rolling summary and the status.
    History {
        /// Oldest first.
        messages: Vec<Message>,
        /// The rolling summary of older messages, if one was made.
        summary: Option<String>,
        /// The session's status.
        status: Status,
    },
    /// A stored user message (the sender's own, echoed with its id).
    Message {
        /// The message.
        message: Message,
    },
    /// The assistant is working on an answer.
    Typing,
    /// A piece of assistant message `message_id`, in order.
    Delta {
        /// The assistant message the piece belongs to.
        message_id: u64,
        /// The piece.
        text: String,
    },
    /// A tool call of assistant message `message_id`: `started`, then how it went.
    Tool {
        /// The assistant message the call belongs to.
        message_id: u64,
        /// The call's id.
        call_id: String,
        /// The tool's name.
        name: String,
        /// `started`, `ok`, `failed`, `timed_out`.
        status: ToolStatus,
        /// What the page shows, plain text ("Searching the knowledge base…").
        label: String,
    },
    /// The assistant message as stored (equal to its deltas joined).
    Done {
        /// The message.
        message: Message,
    },
    /// A refusal or failure.
    Error {
        /// A stable code (`rate_limited`, `message_too_long`, `bad_frame`, …).
        code: String,
        /// For people.
        message: String,
        /// When to try again, seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
}

impl ServerFrame {
    /// The frame's `type`, the SSE event name.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::History { .. } => "history",
            Self::Message { .. } => "message",
            Self::Typing => "typing",
            Self::Delta { .. } => "delta",
            Self::Tool { .. } => "tool",
            Self::Done { .. } => "done",
            Self::Error { .. } => "error",
        }
    }

    /// The frame as JSON text.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"unencodable frame"}"#.to_owned()
        })
    }
}

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// A message to answer.
    Message {
        /// The text.
        content: String,
        /// The client's id for it: a resend with the same id is not stored twice.
        #[serde(default)]
        client_id: Option<String>,
    },
    /// The user is typing (ignored).
    Typing,
}

/// Why a client frame is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Larger than [`MAX_CLIENT_FRAME_BYTES`].
    #[error("frame too large")]
    TooLarge,
    /// Not a frame this protocol knows.
    #[error("not a chat frame")]
    Malformed,
    /// A `client_id` that is empty, too long, or not printable ASCII.
    #[error("bad client_id")]
    BadClientId,
}

/// The body of `POST /chat/v1/sessions/:id/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostedMessage {
    /// The text.
    pub content: String,
    /// The client's id for it.
    #[serde(default)]
    pub client_id: Option<String>,
}

fn check_client_id(id: Option<&str>) -> Result<(), FrameError> {
    match id {
        Some(id)
            if id.is_empty()
                || id.chars().count() > MAX_CLIENT_ID_CHARS
                || !id.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Err(FrameError::BadClientId)
        }
        _ => Ok(()),
    }
}

/// Parses one client WebSocket text frame.
///
/// # Errors
/// [`FrameError`]: too large, not a known frame, or a bad `client_id`.
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, FrameError> {
    if text.len() > MAX_CLIENT_FRAME_BYTES {
        return Err(FrameError::TooLarge);
    }
    let frame: ClientFrame = serde_json::from_str(text).map_err(|_| FrameError::Malformed)?;
    if let ClientFrame::Message { client_id, .. } = &frame {
        check_client_id(client_id.as_deref())?;
    }
    Ok(frame)
}

/// Parses the body of a posted message (empty `client_id` refused as in frames).
///
/// # Errors
/// As [`parse_client_frame`].
pub fn parse_posted(body: &[u8]) -> Result<PostedMessage, FrameError> {
    if body.len() > MAX_CLIENT_FRAME_BYTES {
        return Err(FrameError::TooLarge);
    }
    let m: PostedMessage = serde_json::from_slice(body).map_err(|_| FrameError::Malformed)?;
    check_client_id(m.client_id.as_deref())?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn msg(id: u64, role: Role, content: &str) -> Message {
        Message {
            id,
            role,
            content: content.to_owned(),
            created_at: 1_000,
            client_id: None,
            metadata: None,
        }
    }

    #[test]
    fn server_frames_have_the_contracts_shape() {
        let done = ServerFrame::Done {
            message: Message {
                metadata: Some(Metadata {
                    provider: "deepseek".to_owned(),
                    model: Some("m".to_owned()),
                    tokens: Some(15),
                    first_token_ms: Some(40),
                    latency_ms: 90,
                    failed: Vec::new(),
                    tool_calls: Vec::new(),
                }),
                ..msg(2, Role::Assistant, "<b>hi</b>")
            },
        };
        let v: serde_json::Value = serde_json::from_str(&done.to_json()).expect("json");
        assert_eq!(
            v,
            json!({"type":"done","message":{"id":2,"role":"assistant","content":"<b>hi</b>",
                "created_at":1000,"metadata":{"provider":"deepseek","model":"m","tokens":15,
                "first_token_ms":40,"latency_ms":90}}})
        );
        let h = ServerFrame::History {
            messages: vec![msg(1, Role::User, "q")],
            summary: None,
            status: Status::Active,
        };
        assert_eq!(
            serde_json::to_value(&h).expect("json"),
            json!({"type":"history","messages":[{"id":1,"role":"user","content":"q","created_at":1000}],
                "summary":null,"status":"active"})
        );
        assert_eq!(ServerFrame::Typing.to_json(), r#"{"type":"typing"}"#);
        let tool = ServerFrame::Tool {
            message_id: 2,
            call_id: "c1".to_owned(),
            name: "search_knowledge_base".to_owned(),
            status: ToolStatus::TimedOut,
            label: "Searching the knowledge base…".to_owned(),
        };
        assert_eq!(
            serde_json::to_value(&tool).expect("json"),
            json!({"type":"tool","message_id":2,"call_id":"c1","name":"search_knowledge_base",
                "status":"timed_out","label":"Searching the knowledge base…"})
        );
        assert_eq!(tool.kind(), "tool");
        let e = ServerFrame::Error {
            code: "rate_limited".to_owned(),
            message: "slow down".to_owned(),
            retry_after: Some(7),
        };
        assert_eq!(
            e.to_json(),
            r#"{"type":"error","code":"rate_limited","message":"slow down","retry_after":7}"#
        );
        assert_eq!(e.kind(), "error");
    }

    #[test]
    fn client_frames_are_parsed_strictly() {
        assert_eq!(
            parse_client_frame(r#"{"type":"message","content":"hi","client_id":"c-1"}"#),
            Ok(ClientFrame::Message {
                content: "hi".to_owned(),
                client_id: Some("c-1".to_owned())
            })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"typing"}"#),
            Ok(ClientFrame::Typing)
        );
        for bad in [
            "",
            "hi",
            "{}",
            r#"{"type":"delta","text":"x"}"#,
            r#"{"type":"message"}"#,
            r#"{"type":"message","content":5}"#,
            r#"{"type":"message","content":"x","role":"assistant"}"#,
        ] {
            assert_eq!(parse_client_frame(bad), Err(FrameError::Malformed), "{bad}");
        }
        for id in ["", " x", "é", &"a".repeat(65)] {
            let f = json!({"type":"message","content":"x","client_id":id}).to_string();
            assert_eq!(parse_client_frame(&f), Err(FrameError::BadClientId), "{id}");
        }
        let big =
            json!({"type":"message","content":"x".repeat(MAX_CLIENT_FRAME_BYTES)}).to_string();
        assert_eq!(parse_client_frame(&big), Err(FrameError::TooLarge));
        assert_eq!(
            parse_posted(br#"{"content":"q"}"#).map(|m| m.content),
            Ok("q".to_owned())
        );
        assert_eq!(parse_posted(b"{}"), Err(FrameError::Malformed));
    }

    #[test]
    fn statuses_round_trip() {
        for s in [Status::Active, Status::Idle, Status::Ended] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("gone"), None);
        assert!(Status::Active.is_open() && !Status::Ended.is_open() && !Status::Idle.is_open());
    }
}
