//! The small backend traits the LINE consumer ([`crate::line_consumer`]), the LINE API
//! client ([`crate::line_api`]) and the AI chains ([`crate::ai`], [`crate::ai_stream`]) are
//! generic over, and the
//! plain data they exchange. Nothing here touches `worker`: [`crate::bindings`] binds the
//! traits to D1, KV, the `AiQuota` Durable Object, `fetch` and the clock; the tests bind
//! them to in-memory fakes that fail on demand.

use std::fmt;

use edge_core::auth::rate_limit::{RateDecision, RateLimitPolicy};
use edge_core::chat::completion::Role;
use edge_core::chat::intent::Language;
use serde::{Deserialize, Serialize};

/// The time, in unix ms, and waiting.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait Clock {
    /// Now, unix ms.
    fn now_ms(&self) -> u64;
    /// Waits `ms` milliseconds.
    async fn sleep(&self, ms: u64);
}

/// A failure of a store, cache or quota call: the backend's own words, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackendError(pub(crate) String);

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The HTTP method of an outbound call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Patch,
}

/// One outbound exchange: everything [`Outbound::call`] sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) url: &'a str,
    pub(crate) headers: &'a [(&'a str, &'a str)],
    /// Content type and bytes, or no body.
    pub(crate) body: Option<(&'a str, Vec<u8>)>,
    /// One deadline over connecting, the head and the (capped) body.
    pub(crate) timeout_ms: u64,
    /// Most body bytes read.
    pub(crate) cap: usize,
}

/// Largest answer read from the LINE, Discord and quote APIs, bytes.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How an exchange ended, when it produced no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallError {
    /// No answer within the deadline.
    Timeout,
    /// Could not connect or read.
    Transport(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Transport(e) => write!(f, "transport error: {e}"),
        }
    }
}

/// An answer: status, `Retry-After` and `Location` headers and (at most the call's cap
/// of) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<String>,
    /// `Location`, of a redirect (never followed: see `outbound`).
    pub(crate) location: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// Outbound HTTP (the LINE API, AI providers): one exchange within its deadline.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait Outbound {
    /// Sends `call` and reads the answer.
    async fn call(&self, call: Call<'_>) -> Result<Answer, CallError>;
}

/// One streamed exchange: the request, and the limits on its answer as it streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamCall<'a> {
    /// The request; its `timeout_ms` bounds the wait for the answer's head and its first
    /// body chunk, its `cap` the body's bytes.
    pub(crate) call: Call<'a>,
    /// Longest wait for each later chunk.
    pub(crate) idle_ms: u64,
    /// Longest whole exchange, however steadily it streams.
    pub(crate) total_ms: u64,
}

/// A streamed answer's head, and its body still to read.
#[derive(Debug)]
pub(crate) struct StreamHead<B> {
    pub(crate) status: u16,
    /// `Location`, of a redirect (never followed).
    pub(crate) location: Option<String>,
    pub(crate) body: B,
}

/// Why a streamed body stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkError {
    /// The first chunk did not come within the call's deadline.
    Timeout,
    /// A later chunk did not come within the idle gap.
    Idle,
    /// The exchange passed its total time.
    TooLong,
    /// The body passed the call's cap.
    TooLarge,
    /// The connection broke.
    Transport(String),
}

impl ChunkError {
    /// The outcome recorded for the provider's attempt.
    pub(crate) const fn outcome(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Idle => "idle_timeout",
            Self::TooLong => "total_timeout",
            Self::TooLarge => "too_large",
            Self::Transport(_) => "transport",
        }
    }
}

/// A streamed body's limits, as it is read: what [`StreamCall`] asked, and how far it got.
/// The worker's body and the tests' one share it, so both time out alike.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    /// When the call was sent, unix ms.
    started: u64,
    first_ms: u64,
    idle_ms: u64,
    total_ms: u64,
    cap: usize,
    read: usize,
    first: bool,
}

impl BodyLimits {
    /// The limits of `call`, sent at `started`.
    pub(crate) const fn of(call: &StreamCall<'_>, started: u64) -> Self {
        Self {
            started,
            first_ms: call.call.timeout_ms,
            idle_ms: call.idle_ms,
            total_ms: call.total_ms,
            cap: call.call.cap,
            read: 0,
            first: true,
        }
    }

    /// How long the next chunk may take, from `now`, and the error when it does not come:
    /// the first chunk within the call's deadline, later ones within the idle gap, all
    /// within the total time.
    pub(crate) fn wait(&self, now: u64) -> (u64, ChunkError) {
        let left = (self.started + self.total_ms).saturating_sub(now);
        let (gap, late) = if self.first {
            (
                (self.started + self.first_ms).saturating_sub(now),
                ChunkError::Timeout,
            )
        } else {
            (self.idle_ms, ChunkError::Idle)
        };
        if left <= gap {
            (left, ChunkError::TooLong)
        } else {
            (gap, late)
        }
    }

    /// Counts a chunk of `len` bytes.
    ///
    /// # Errors
    /// [`ChunkError::TooLarge`] once the body passed the cap.
    pub(crate) fn took(&mut self, len: usize) -> Result<(), ChunkError> {
        self.first = false;
        self.read = self.read.saturating_add(len);
        if self.read > self.cap {
            return Err(ChunkError::TooLarge);
        }
        Ok(())
    }
}

/// A body read chunk by chunk, as it arrives; dropping it cancels the exchange.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait ChunkStream {
    /// The next chunk, `None` at the body's end.
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ChunkError>;
}

/// Outbound HTTP whose answer is read as it streams (AI providers with `stream: true`).
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait StreamingOutbound {
    type Body: ChunkStream;
    /// Sends `call` and returns the answer's head once it arrives (within the call's
    /// deadline), its body unread.
    async fn open(&self, call: StreamCall<'_>) -> Result<StreamHead<Self::Body>, CallError>;
}

/// Whether this consumer now owns a webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// First time seen, or taken over from a consumer that died: process it.
    Taken,
    /// Already answered: a redelivery, acknowledge it.
    Done,
    /// Another consumer is handling it right now: look again later.
    InProgress,
}

/// A customer as the bot uses it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Customer {
    pub(crate) id: String,
    pub(crate) display_name: Option<String>,
    pub(crate) language: String,
    pub(crate) preferences: String,
}

impl Customer {
    pub(crate) fn language(&self) -> Language {
        Language::from_tag(Some(&self.language))
    }

    /// Preferences, a JSON array of strings (anything else reads as none).
    pub(crate) fn preferences(&self) -> Vec<String> {
        serde_json::from_str(&self.preferences).unwrap_or_default()
    }
}

/// What LINE's profile gave, for a new customer.
pub(crate) struct NewCustomer<'a> {
    pub(crate) line_user_id: &'a str,
    pub(crate) display_name: Option<&'a str>,
    pub(crate) picture_url: Option<&'a str>,
    pub(crate) language: Language,
}

/// One exchange to store: the user's message, the answer, and how it was made.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Exchange<'a> {
    pub(crate) event_id: &'a str,
    pub(crate) conversation_id: &'a str,
    /// Who asked (the speaker, else the chat's key), for `ai_sessions`.
    pub(crate) line_user_id: &'a str,
    /// Who spoke in a group or room, when LINE shared it.
    pub(crate) speaker_user_id: Option<&'a str>,
    pub(crate) line_message_id: Option<&'a str>,
    pub(crate) user_text: &'a str,
    pub(crate) intent: &'a str,
    pub(crate) confidence: f64,
    pub(crate) answer: &'a str,
    pub(crate) provider: &'a str,
    pub(crate) model: Option<&'a str>,
    pub(crate) tokens: Option<u64>,
    pub(crate) latency_ms: u64,
    /// JSON `[{provider, outcome}]`, for an AI answer (`None`: a canned answer).
    pub(crate) attempts: Option<String>,
}

/// A product, as stored and as the admin API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Product {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) price: Option<f64>,
    pub(crate) currency: String,
    pub(crate) category: Option<String>,
    pub(crate) status: String,
    pub(crate) created_at: f64,
    pub(crate) updated_at: f64,
}

/// The LINE bot's data (D1 in the worker): event claims, customers, conversations,
/// messages and the product catalog.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait ChatStore {
    /// Takes webhook event `event_id`: a first delivery inserts the claim; a claim still
    /// processing after `stale_ms` is taken over; an answered one is [`Claim::Done`]; a
    /// fresh one is [`Claim::InProgress`].
    async fn claim(
        &self,
        event_id: &str,
        event_type: &str,
        now: u64,
        stale_ms: u64,
    ) -> Result<Claim, BackendError>;
    /// Gives a claimed event back (its answer was not delivered).
    async fn release(&self, event_id: &str) -> Result<(), BackendError>;
    /// Marks an event answered.
    async fn mark_done(&self, event_id: &str, now: u64) -> Result<(), BackendError>;
    /// The customer keyed `key`, if known.
    async fn customer(&self, key: &str) -> Result<Option<Customer>, BackendError>;
    /// Creates the customer (no-op when a concurrent event already did) and returns it.
    async fn create_customer(
        &self,
        c: &NewCustomer<'_>,
        now: u64,
    ) -> Result<Customer, BackendError>;
    /// Marks a customer as following again or unfollowed.
    async fn set_following(
        &self,
        line_user_id: &str,
        following: bool,
        now: u64,
    ) -> Result<(), BackendError>;
    /// The chat's active conversation, created when there is none.
    async fn active_conversation(
        &self,
        customer: &Customer,
        key: &str,
        lang: Language,
        now: u64,
    ) -> Result<String, BackendError>;
    /// The last `limit` messages of a conversation, oldest first.
    async fn history(
        &self,
        conversation_id: &str,
        limit: usize,
    ) -> Result<Vec<(Role, String)>, BackendError>;
    /// Stores an exchange and marks its event done, in one transaction.
    async fn store_exchange(&self, x: &Exchange<'_>, now: u64) -> Result<(), BackendError>;
    /// Blanks an unsent message (a tombstone); how many rows it changed.
    async fn unsend(
        &self,
        chat_key: &str,
        line_message_id: &str,
        now: u64,
    ) -> Result<u64, BackendError>;
    /// Products, active ones only unless `all`, by name, at most `limit`.
    async fn products(&self, all: bool, limit: usize) -> Result<Vec<Product>, BackendError>;
    /// One product.
    async fn product(&self, id: &str) -> Result<Option<Product>, BackendError>;
}

/// The answer cache (KV in the worker). A cache that fails is a miss: it never fails a reply.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait AnswerCache {
    /// The cached answer under `key`, if any.
    async fn get(&self, key: &str) -> Option<String>;
    /// Stores `text` under `key` for `ttl_s` (failures are the backend's to log).
    async fn put(&self, key: &str, text: &str, ttl_s: u64);
}

/// The per-user quota on paid AI calls (one `AiQuota` Durable Object per bucket).
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait QuotaGate {
    /// Counts one call in `bucket` under `policy`, if it fits.
    async fn check(
        &self,
        bucket: &str,
        policy: RateLimitPolicy,
    ) -> Result<RateDecision, BackendError>;
}

/// The IO around the chat flows: outbound HTTP, the answer cache, the quota, the clock, and
/// this isolate's provider breakers.
pub(crate) struct Io<N, K, Q, C> {
    pub(crate) net: N,
    pub(crate) cache: K,
    pub(crate) quota: Q,
    pub(crate) clock: C,
    pub(crate) breakers: std::rc::Rc<crate::ai::Breakers>,
}

/// The chat IO as one bound: what the flows need of an [`Io`].
pub(crate) trait ChatIo {
    fn net(&self) -> &impl Outbound;
    /// The same network, for answers read as they stream.
    fn streaming(&self) -> &impl StreamingOutbound;
    fn cache(&self) -> &impl AnswerCache;
    fn quota(&self) -> &impl QuotaGate;
    fn clock(&self) -> &impl Clock;
    fn breakers(&self) -> &crate::ai::Breakers;
}

impl<N: Outbound + StreamingOutbound, K: AnswerCache, Q: QuotaGate, C: Clock> ChatIo
    for Io<N, K, Q, C>
{
    fn net(&self) -> &impl Outbound {
        &self.net
    }

    fn streaming(&self) -> &impl StreamingOutbound {
        &self.net
    }

    fn cache(&self) -> &impl AnswerCache {
        &self.cache
    }

    fn quota(&self) -> &impl QuotaGate {
        &self.quota
    }

    fn clock(&self) -> &impl Clock {
        &self.clock
    }

    fn breakers(&self) -> &crate::ai::Breakers {
        &self.breakers
    }
}
