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
