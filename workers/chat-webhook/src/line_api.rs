//! The LINE Messaging API client: profiles, replies, and pushes when a reply token has
//! expired. Base URL, token and timeout come from [`LineSettings`].

use edge_core::chat::line::retry_key;
use edge_core::chat::line::webhook::Event;
use serde::Deserialize;
use serde_json::json;

use crate::backends::{Answer, Call, MAX_ANSWER_BYTES, Method, Outbound};
use crate::log;
use crate::settings::LineSettings;

/// What LINE says about a user.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Profile {
    pub(crate) display_name: Option<String>,
    pub(crate) picture_url: Option<String>,
    pub(crate) language: Option<String>,
}

/// How a send ended, when it did not deliver.
#[derive(Debug)]
pub(crate) enum SendError {
    /// LINE refused the reply token (expired or used).
    ReplyTokenInvalid,
    /// Any other failure: status or transport.
    Failed(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ReplyTokenInvalid => f.write_str("reply token invalid"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}

fn auth(s: &LineSettings) -> String {
    format!("Bearer {}", s.line_token)
}

/// The profile at `path` (`Source::profile_path`: the user's profile, or a group/room
/// member's), or nothing when LINE does not give it (logged): a customer is still created,
/// without a name.
pub(crate) async fn profile(net: &impl Outbound, s: &LineSettings, path: &str) -> Profile {
    let url = format!("{}{path}", s.line_api);
    let token = auth(s);
    let answer = net
        .call(Call {
            method: Method::Get,
            url: &url,
            headers: &[("authorization", &token)],
            body: None,
            timeout_ms: s.line_timeout_ms,
            cap: MAX_ANSWER_BYTES,
        })
        .await;
    match answer {
        Ok(a) if a.status == 200 => serde_json::from_slice(&a.body).unwrap_or_default(),
        Ok(a) => {
            log::warn(&format!("line profile: status {}", a.status));
            Profile::default()
        }
        Err(e) => {
            log::warn(&format!("line profile: {e}"));
            Profile::default()
        }
    }
}

fn text_messages(texts: &[String]) -> serde_json::Value {
    json!(
        texts
            .iter()
            .map(|t| json!({"type": "text", "text": t}))
            .collect::<Vec<_>>()
    )
}

async fn post(
    net: &impl Outbound,
    s: &LineSettings,
    path: &str,
    body: &serde_json::Value,
    extra: Option<(&str, &str)>,
) -> Result<Answer, SendError> {
    let token = auth(s);
    let mut headers = vec![("authorization", token.as_str())];
    headers.extend(extra);
    let url = format!("{}{path}", s.line_api);
    net.call(Call {
        method: Method::Post,
        url: &url,
        headers: &headers,
        body: Some(("application/json", body.to_string().into_bytes())),
        timeout_ms: s.line_timeout_ms,
        cap: MAX_ANSWER_BYTES,
    })
    .await
    .map_err(|e| SendError::Failed(e.to_string()))
}

/// Replies with `texts` (at most five) using the event's reply token.
async fn reply(
    net: &impl Outbound,
    s: &LineSettings,
    token: &str,
    texts: &[String],
) -> Result<(), SendError> {
    let a = post(
        net,
        s,
        "/v2/bot/message/reply",
        &json!({"replyToken": token, "messages": text_messages(texts)}),
        None,
    )
    .await?;
    match a.status {
        200 => Ok(()),
        400 if String::from_utf8_lossy(&a.body)
            .to_lowercase()
            .contains("reply token") =>
        {
            Err(SendError::ReplyTokenInvalid)
        }
        status => Err(SendError::Failed(format!("reply: status {status}"))),
    }
}

/// Pushes `texts` to `to`, with a retry key derived from the event (409: already sent).
async fn push(
    net: &impl Outbound,
    s: &LineSettings,
    to: &str,
    event_id: &str,
    texts: &[String],
) -> Result<(), SendError> {
    let key = retry_key(event_id);
    let a = post(
        net,
        s,
        "/v2/bot/message/push",
        &json!({"to": to, "messages": text_messages(texts)}),
        Some(("x-line-retry-key", &key)),
    )
    .await?;
    match a.status {
        200 | 409 => Ok(()),
        status => Err(SendError::Failed(format!("push: status {status}"))),
    }
}

/// How an answer went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// With the event's reply token.
    Reply,
    /// Pushed to the chat (the reply token was refused or absent).
    Push,
}

/// Sends `texts` for `event`: a reply while its token is good, else a push to its chat.
pub(crate) async fn send(
    net: &impl Outbound,
    s: &LineSettings,
    event: &Event,
    texts: &[String],
) -> Result<Delivery, SendError> {
    if let Some(token) = &event.reply_token {
        match reply(net, s, token, texts).await {
            Ok(()) => return Ok(Delivery::Reply),
            Err(SendError::ReplyTokenInvalid) => {}
            Err(e) => return Err(e),
        }
    }
    let to = event
        .source
        .as_ref()
        .map(|src| src.push_target().to_owned())
        .ok_or_else(|| SendError::Failed("no reply token and no chat to push to".to_owned()))?;
    push(net, s, &to, &event.id, texts)
        .await
        .map(|()| Delivery::Push)
}
