//! LINE webhook bodies: `{"destination": …, "events": [...]}`, parsed into the events this
//! bot acts on. Parsing is strict about what it uses (ids, lengths, types) and lenient about
//! what LINE may add: an event of an unknown type, or a known type missing what we need,
//! becomes [`EventKind::Unknown`] (accepted and logged, never an error), so one odd event
//! never costs LINE a redelivery of the others.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::HttpError;

/// Largest webhook body accepted, bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most events in one webhook.
pub const MAX_EVENTS: usize = 500;
/// Longest text message LINE sends, in characters.
pub const MAX_TEXT_CHARS: usize = 5000;
/// Longest id (user, group, room, message, webhook event, reply token) we keep, bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Longest postback data LINE sends, bytes.
pub const MAX_POSTBACK_BYTES: usize = 300;

/// Why a (correctly signed) webhook body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Not a JSON object with an `events` array.
    #[error("webhook body is not a json object with an events array")]
    Malformed,
    /// More than [`MAX_EVENTS`] events.
    #[error("too many events in one webhook")]
    TooManyEvents,
}

impl HttpError for WebhookError {
    fn status(&self) -> u16 {
        match self {
            Self::Malformed => 400,
            Self::TooManyEvents => 413,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed_json",
            Self::TooManyEvents => "too_many_events",
        }
    }

    fn field(&self) -> Option<&str> {
        Some("events")
    }
}

/// Who an event came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Source {
    /// A one-to-one chat.
    User {
        /// The user.
        user_id: String,
    },
    /// A group chat.
    Group {
        /// The group.
        group_id: String,
        /// The speaker, when LINE shares it.
        user_id: Option<String>,
    },
    /// A multi-person chat.
    Room {
        /// The room.
        room_id: String,
        /// The speaker, when LINE shares it.
        user_id: Option<String>,
    },
}

impl Source {
    /// The user, when known.
    #[must_use]
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Self::User { user_id } => Some(user_id),
            Self::Group { user_id, .. } | Self::Room { user_id, .. } => user_id.as_deref(),
        }
    }

    /// Where a push message goes: the group or room, else the user.
    #[must_use]
    pub fn push_target(&self) -> &str {
        match self {
            Self::User { user_id } => user_id,
            Self::Group { group_id, .. } => group_id,
            Self::Room { room_id, .. } => room_id,
        }
    }

    /// The chat the event belongs to: what conversation memory (and the customer record
    /// that owns it) is keyed by. A group or room is one chat whoever speaks, so a desktop
    /// user (no `userId`) and a phone user share the group's memory.
    #[must_use]
    pub fn chat(&self) -> Chat {
        match self {
            Self::User { user_id } => Chat::User(user_id.clone()),
            Self::Group { group_id, .. } => Chat::Group(group_id.clone()),
            Self::Room { room_id, .. } => Chat::Room(room_id.clone()),
        }
    }

    /// The API path of the speaker's profile, when LINE shared who spoke: in a group or room
    /// the member endpoint (it answers for members who are not the bot's friends, which
    /// `/v2/bot/profile` does not), in a one-to-one chat the user's profile.
    #[must_use]
    pub fn profile_path(&self) -> Option<String> {
        match self {
            Self::User { user_id } => Some(format!("/v2/bot/profile/{user_id}")),
            Self::Group {
                group_id,
                user_id: Some(user_id),
            } => Some(format!("/v2/bot/group/{group_id}/member/{user_id}")),
            Self::Room {
                room_id,
                user_id: Some(user_id),
            } => Some(format!("/v2/bot/room/{room_id}/member/{user_id}")),
            Self::Group { user_id: None, .. } | Self::Room { user_id: None, .. } => None,
        }
    }
}

/// A chat: a one-to-one chat with a user, a group, or a room. Ids are LINE's (checked by
/// the parser: ASCII letters, digits, `_`, `-`), so the storage keys cannot collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
pub enum Chat {
    /// One user's chat with the bot.
    User(String),
    /// A group chat.
    Group(String),
    /// A multi-person chat (room).
    Room(String),
}

impl Chat {
    /// The key stored for the chat's customer and conversations: the user id itself (as
    /// before groups were answered, so existing rows keep their key), `group:<id>`,
    /// `room:<id>`. Written, never parsed back: readers build a [`Chat`] and ask for its key.
    #[must_use]
    pub fn storage_key(&self) -> String {
        match self {
            Self::User(id) => id.clone(),
            Self::Group(id) => format!("group:{id}"),
            Self::Room(id) => format!("room:{id}"),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A text message.
    Text {
        /// LINE's message id.
        message_id: String,
        /// The text (at most [`MAX_TEXT_CHARS`] characters).
        text: String,
    },
    /// A message of another type (image, sticker, audio, …).
    OtherMessage {
        /// LINE's message type.
        message_type: String,
    },
    /// The user added the bot (or unblocked it).
    Follow,
    /// The user blocked the bot.
    Unfollow,
    /// A postback action.
    Postback {
        /// The action's data.
        data: String,
    },
    /// The bot joined a group or room.
    Join,
    /// The bot left (was removed from) a group or room.
    Leave,
    /// The user unsent (withdrew) a message they had sent.
    Unsend {
        /// The withdrawn message's id.
        message_id: String,
    },
    /// Anything else; kept for the log.
    Unknown {
        /// The event's `type`, or why it was not usable.
        event_type: String,
    },
}

/// One webhook event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `webhookEventId`: the same across redeliveries (when absent, a digest of the event).
    pub id: String,
    /// `deliveryContext.isRedelivery`.
    pub redelivery: bool,
    /// When it happened, unix ms.
    pub timestamp_ms: u64,
    /// `mode`: `active`, or `standby` when another module owns the channel (no replies then).
    pub standby: bool,
    /// The chat it came from (absent on some event types).
    pub source: Option<Source>,
    /// The reply token, valid for about a minute.
    pub reply_token: Option<String>,
    /// What happened.
    pub kind: EventKind,
}

/// A parsed webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The bot's user id the webhook is for.
    pub destination: Option<String>,
    /// The events, in order (empty for LINE's "verify" call).
    pub events: Vec<Event>,
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_BYTES
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn id_at<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str).filter(|s| valid_id(s))
}

fn source(v: Option<&Value>) -> Option<Source> {
    let obj = v?.as_object()?;
    let user_id = id_at(obj, "userId").map(str::to_owned);
    match obj.get("type")?.as_str()? {
        "user" => Some(Source::User { user_id: user_id? }),
        "group" => Some(Source::Group {
            group_id: id_at(obj, "groupId")?.to_owned(),
            user_id,
        }),
        "room" => Some(Source::Room {
            room_id: id_at(obj, "roomId")?.to_owned(),
            user_id,
        }),
        _ => None,
    }
}

fn unknown(why: &str) -> EventKind {
    EventKind::Unknown {
        event_type: why.chars().take(64).collect(),
    }
}

fn kind(obj: &Map<String, Value>) -> EventKind {
    let Some(event_type) = obj.get("type").and_then(Value::as_str) else {
        return unknown("(no type)");
    };
    match event_type {
        "message" => {
            let Some(message) = obj.get("message").and_then(Value::as_object) else {
                return unknown("message without message");
            };
            match message.get("type").and_then(Value::as_str) {
                Some("text") => {
                    let (Some(message_id), Some(text)) = (
                        id_at(message, "id"),
                        message.get("text").and_then(Value::as_str),
                    ) else {
                        return unknown("text message without id or text");
                    };
                    if text.chars().count() > MAX_TEXT_CHARS {
                        return unknown("text message over 5000 characters");
                    }
                    EventKind::Text {
                        message_id: message_id.to_owned(),
                        text: text.to_owned(),
                    }
                }
                Some(t) if valid_id(t) => EventKind::OtherMessage {
                    message_type: t.to_owned(),
                },
                _ => unknown("message of no valid type"),
            }
        }
        "follow" => EventKind::Follow,
        "unfollow" => EventKind::Unfollow,
        "join" => EventKind::Join,
        "leave" => EventKind::Leave,
        "unsend" => match obj.get("unsend").and_then(Value::as_object) {
            Some(u) => match id_at(u, "messageId") {
                Some(id) => EventKind::Unsend {
                    message_id: id.to_owned(),
                },
                None => unknown("unsend without a valid messageId"),
            },
            None => unknown("unsend without unsend"),
        },
        "postback" => match obj
            .get("postback")
            .and_then(|p| p.get("data"))
            .and_then(Value::as_str)
        {
            Some(d) if d.len() <= MAX_POSTBACK_BYTES => EventKind::Postback { data: d.to_owned() },
            _ => unknown("postback without usable data"),
        },
        other => unknown(other),
    }
}

fn event(v: &Value) -> Event {
    let empty = Map::new();
    let obj = v.as_object().unwrap_or(&empty);
    let id = id_at(obj, "webhookEventId").map_or_else(
        // Without an id (older API versions), the event's own bytes identify it, which is
        // what a redelivery repeats.
        || {
            format!(
                "sha256-{}",
                crate::hex::encode(&Sha256::digest(v.to_string().as_bytes()))
            )
        },
        str::to_owned,
    );
    Event {
        id,
        redelivery: obj
            .get("deliveryContext")
            .and_then(|d| d.get("isRedelivery"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        timestamp_ms: obj.get("timestamp").and_then(Value::as_u64).unwrap_or(0),
        standby: obj.get("mode").and_then(Value::as_str) == Some("standby"),
        source: source(obj.get("source")),
        reply_token: id_at(obj, "replyToken").map(str::to_owned),
        kind: if v.is_object() {
            kind(obj)
        } else {
            unknown("(not an object)")
        },
    }
}

impl Webhook {
    /// Parses a webhook body (whose signature was already verified).
    ///
    /// # Errors
    /// [`WebhookError`] when the body is not an object with an `events` array, or has too
    /// many events.
    pub fn parse(body: &[u8]) -> Result<Self, WebhookError> {
        let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
            return Err(WebhookError::Malformed);
        };
        let Some(Value::Array(events)) = obj.get("events") else {
            return Err(WebhookError::Malformed);
        };
        if events.len() > MAX_EVENTS {
            return Err(WebhookError::TooManyEvents);
        }
        Ok(Self {
            destination: id_at(&obj, "destination").map(str::to_owned),
            events: events.iter().map(event).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: &Value) -> Webhook {
        Webhook::parse(&serde_json::to_vec(v).expect("serializes")).expect("valid")
    }

    fn base(kind: Value) -> Value {
        let mut e = json!({
            "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZR",
            "deliveryContext": {"isRedelivery": false},
            "timestamp": 1_625_665_242_211u64,
            "source": {"type": "user", "userId": "U4af4980629"},
            "replyToken": "757913772c4646b784d4b7ce46d12671",
            "mode": "active"
        });
        for (k, v) in kind.as_object().expect("object") {
            e[k] = v.clone();
        }
        e
    }

    #[test]
    fn every_event_type_this_bot_handles() {
        let w = parse(&json!({"destination": "Uxxxxxxxxxxxxxxxx", "events": [
            base(json!({"type": "message", "message": {"type": "text", "id": "14353798921116", "text": "สวัสดี"}})),
            base(json!({"type": "message", "message": {"type": "sticker", "id": "1", "packageId": "1"}})),
            base(json!({"type": "follow"})),
            base(json!({"type": "unfollow"})),
            base(json!({"type": "postback", "postback": {"data": "action=product&id=p1"}})),
            base(json!({"type": "join", "source": {"type": "group", "groupId": "Ca56f94637c"}})),
            base(json!({"type": "leave", "source": {"type": "room", "roomId": "Ra8dbf4673c"}})),
            base(json!({"type": "beacon", "beacon": {}})),
        ]}));
        let kinds: Vec<_> = w.events.iter().map(|e| e.kind.clone()).collect();
        assert_eq!(
            kinds,
            [
                EventKind::Text {
                    message_id: "14353798921116".into(),
                    text: "สวัสดี".into()
                },
                EventKind::OtherMessage {
                    message_type: "sticker".into()
                },
                EventKind::Follow,
                EventKind::Unfollow,
                EventKind::Postback {
                    data: "action=product&id=p1".into()
                },
                EventKind::Join,
                EventKind::Leave,
                EventKind::Unknown {
                    event_type: "beacon".into()
                },
            ]
        );
        let first = &w.events[0];
        assert_eq!(first.id, "01FZ74A0TDDPYRVKNK77XKC3ZR");
        assert!(!first.redelivery && !first.standby);
        assert_eq!(
            first.source.as_ref().and_then(Source::user_id),
            Some("U4af4980629")
        );
        assert_eq!(
            w.events[5].source.as_ref().map(Source::push_target),
            Some("Ca56f94637c")
        );
        assert_eq!(w.destination.as_deref(), Some("Uxxxxxxxxxxxxxxxx"));
    }

    #[test]
    fn group_and_room_sources_key_the_chat() {
        let w = parse(&json!({"events": [
            base(json!({"source": {"type": "group", "groupId": "Ca56f94637c"}})),
            base(json!({"source": {"type": "group", "groupId": "Ca56f94637c", "userId": "U4af4980629"}})),
            base(json!({"source": {"type": "room", "roomId": "Ra8dbf4673c"}})),
            base(json!({"source": {"type": "room", "roomId": "Ra8dbf4673c", "userId": "U4af4980629"}})),
            base(json!({})),
            base(json!({"source": {"type": "group"}})),
            base(json!({"source": {"type": "room", "roomId": "R:1"}})),
        ]}));
        let chats: Vec<_> = w
            .events
            .iter()
            .map(|e| e.source.as_ref().map(Source::chat))
            .collect();
        assert_eq!(
            chats,
            [
                Some(Chat::Group("Ca56f94637c".into())),
                Some(Chat::Group("Ca56f94637c".into())),
                Some(Chat::Room("Ra8dbf4673c".into())),
                Some(Chat::Room("Ra8dbf4673c".into())),
                Some(Chat::User("U4af4980629".into())),
                None,
                None,
            ]
        );
        let keys: Vec<_> = chats.iter().flatten().map(Chat::storage_key).collect();
        assert_eq!(
            keys,
            [
                "group:Ca56f94637c",
                "group:Ca56f94637c",
                "room:Ra8dbf4673c",
                "room:Ra8dbf4673c",
                "U4af4980629"
            ]
        );
        let paths: Vec<_> = w.events[..5]
            .iter()
            .map(|e| e.source.as_ref().and_then(Source::profile_path))
            .collect();
        assert_eq!(
            paths,
            [
                None,
                Some("/v2/bot/group/Ca56f94637c/member/U4af4980629".to_owned()),
                None,
                Some("/v2/bot/room/Ra8dbf4673c/member/U4af4980629".to_owned()),
                Some("/v2/bot/profile/U4af4980629".to_owned()),
            ]
        );
        // Replies and pushes go to the chat, not the speaker.
        assert_eq!(
            w.events[1].source.as_ref().map(Source::push_target),
            Some("Ca56f94637c")
        );
    }

    #[test]
    fn unsend_events() {
        let w = parse(&json!({"events": [
            base(json!({"type": "unsend", "unsend": {"messageId": "325708"}})),
            base(json!({"type": "unsend", "unsend": {"messageId": "a b"}})),
            base(json!({"type": "unsend", "unsend": {}})),
            base(json!({"type": "unsend"})),
        ]}));
        assert_eq!(
            w.events[0].kind,
            EventKind::Unsend {
                message_id: "325708".into()
            }
        );
        for e in &w.events[1..] {
            assert!(matches!(e.kind, EventKind::Unknown { .. }), "{e:?}");
        }
    }

    #[test]
    fn verify_calls_redeliveries_and_standby() {
        assert!(
            parse(&json!({"destination": "U1", "events": []}))
                .events
                .is_empty()
        );
        let mut e = base(json!({"type": "follow", "mode": "standby"}));
        e["deliveryContext"]["isRedelivery"] = json!(true);
        let w = parse(&json!({"events": [e]}));
        assert!(w.events[0].redelivery && w.events[0].standby);
    }

    #[test]
    fn unusable_events_become_unknown_and_ids_are_checked() {
        let mut no_id = base(json!({"type": "follow"}));
        no_id
            .as_object_mut()
            .expect("object")
            .remove("webhookEventId");
        let bad_source =
            base(json!({"type": "follow", "source": {"type": "user", "userId": "U1\"; DROP"}}));
        let long = "a".repeat(MAX_TEXT_CHARS + 1);
        let w = parse(&json!({"events": [
            no_id.clone(),
            bad_source,
            base(json!({"type": "message", "message": {"type": "text", "id": "1", "text": long}})),
            base(json!({"type": "message"})),
            7,
        ]}));
        assert!(
            w.events[0].id.starts_with("sha256-"),
            "a digest stands in for a missing id"
        );
        assert_eq!(
            parse(&json!({"events": [no_id]})).events[0].id,
            w.events[0].id,
            "stable"
        );
        assert_eq!(w.events[1].source, None);
        assert!(matches!(w.events[2].kind, EventKind::Unknown { .. }));
        assert!(matches!(w.events[3].kind, EventKind::Unknown { .. }));
        assert!(matches!(w.events[4].kind, EventKind::Unknown { .. }));
    }

    #[test]
    fn malformed_bodies_and_too_many_events() {
        for body in [&b"[]"[..], b"{}", b"{\"events\": {}}", b"{", b""] {
            assert_eq!(Webhook::parse(body), Err(WebhookError::Malformed));
        }
        let many = json!({"events": vec![json!({"type": "follow"}); MAX_EVENTS + 1]});
        let err = Webhook::parse(&serde_json::to_vec(&many).expect("ser")).expect_err("too many");
        assert_eq!((err.status(), err.code()), (413, "too_many_events"));
    }
}
