//! The web support chat (a third channel beside LINE and Discord), sans-IO:
//!
//! - [`token`]: session tokens (HMAC-signed, bound to the session id, with expiry).
//! - [`frame`]: stored messages and the WebSocket / SSE frames, parsed strictly.
//! - [`memory`]: what the model is sent (summary + last N), when to summarise, the
//!   bounded summary request.
//! - [`limits`]: message length, per-minute and per-hour-token admission, the alarm plan.

pub mod frame;
pub mod limits;
pub mod memory;
pub mod token;

use crate::error::HttpError;

/// A session that does not exist (never created, or deleted after its retention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no such chat session")]
pub struct SessionNotFound;

impl HttpError for SessionNotFound {
    fn status(&self) -> u16 {
        404
    }

    fn code(&self) -> &'static str {
        "session_not_found"
    }
}

impl HttpError for token::TokenError {
    fn status(&self) -> u16 {
        401
    }

    fn code(&self) -> &'static str {
        "invalid_session_token"
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![("www-authenticate", r#"Bearer realm="chat""#.to_owned())]
    }
}

impl HttpError for frame::FrameError {
    fn status(&self) -> u16 {
        match self {
            Self::TooLarge => 413,
            Self::Malformed | Self::BadClientId => 400,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => "message_too_long",
            Self::Malformed | Self::BadClientId => "bad_frame",
        }
    }
}

impl HttpError for limits::Refusal {
    fn status(&self) -> u16 {
        limits::Refusal::status(*self)
    }

    fn code(&self) -> &'static str {
        limits::Refusal::code(*self)
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        self.retry_after_s()
            .map(|s| vec![("retry-after", s.to_string())])
            .unwrap_or_default()
    }
}

/// A request to the WebSocket endpoint that is not a WebSocket upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this endpoint takes a WebSocket upgrade")]
pub struct UpgradeRequired;

impl HttpError for UpgradeRequired {
    fn status(&self) -> u16 {
        426
    }

    fn code(&self) -> &'static str {
        "websocket_required"
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![("upgrade", "websocket".to_owned())]
    }
}
