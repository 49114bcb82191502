//! Chat bots: the LINE webhook, intent and language, canned texts and message limits, and
//! the AI provider protocol.
//!
//! - [`line`]: signature verification and webhook events.
//! - [`intent`]: intent and language detection (English and Thai).
//! - [`text`]: welcome / not-text / apology texts, and splitting to LINE's limits.
//! - [`completion`]: OpenAI-compatible chat completions and the answer cache key.
//! - [`product`]: the admin API's product body.

pub mod completion;
pub mod intent;
pub mod line;
pub mod product;
pub mod text;
