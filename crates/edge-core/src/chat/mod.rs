//! Chat bots: the LINE webhook, intent and language, canned texts and message limits, and
//! the AI provider protocol.
//!
//! - [`line`]: signature verification and webhook events.
//! - [`discord`]: Ed25519 interaction signatures, commands, components, responses.
//! - [`quote`]: the quote API's answers for the market commands.
//! - `chart` (feature `chart`): price charts rendered to PNG for Discord.
//! - [`intent`]: intent and language detection (English and Thai).
//! - [`text`]: welcome / not-text / apology texts, and splitting to LINE's limits.
//! - [`completion`]: OpenAI-compatible chat completions, channels and the answer cache key.
//! - [`langserve`]: LangServe's `/invoke` and `/stream` as a provider.
//! - [`sse`]: server-sent events, read incrementally and written.
//! - [`stream`]: OpenAI-compatible streaming completions and the failover splice.
//! - [`quota`]: the per-user quota on paid AI calls.
//! - [`signature`]: the one error of both webhooks' signature checks.
//! - [`product`], [`preferences`]: the admin API's bodies.
//! - [`archive`]: ended web chat sessions as redacted JSONL, their keys and expiry; customer ids.
//! - [`privacy`]: personal data (e-mails, phones, cards, Thai ids) redacted from text.
//! - [`escalation`]: escalation to a human: "asks for a human", notification bodies, retries.
//! - [`support`]: the support desk's data: articles, search hits, tickets, escalations.
//! - [`kb`]: knowledge-base search: FTS5 queries (quoted terms, English words and Thai
//!   trigrams) and the merged ranking.
//! - [`tools`]: the model's tools (OpenAI `tools`/`tool_calls`): definitions, calls,
//!   arguments, rounds.
//! - [`web`]: the web support chat: session tokens, wire frames, memory and limits.
//! - [`voice`]: the web chat's voice messages: audio limits, transcription and speech.

pub mod archive;
#[cfg(feature = "chart")]
pub mod chart;
pub mod completion;
pub mod discord;
pub mod escalation;
pub mod intent;
pub mod kb;
pub mod langserve;
pub mod line;
pub mod preferences;
pub mod privacy;
pub mod product;
pub mod quota;
pub mod quote;
pub mod signature;
pub mod sse;
pub mod stream;
pub mod support;
pub mod text;
pub mod tools;
pub mod voice;
pub mod web;
