//! In-memory backends for the native tests: a D1-like store with the claim semantics of
//! `db::claim`, an outbound network answered by a closure (and recorded), streamed answers
//! played from scripts, a cache, a quota and a clock the test moves. Each can be told to fail.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;

use edge_core::auth::rate_limit::{RateDecision, RateLimitPolicy};
use edge_core::chat::completion::Role;
use edge_core::chat::intent::Language;
use edge_core::chat::langserve::InputShape;
use edge_core::routing::breaker::BreakerConfig;

use crate::ai::Breakers;
use crate::backends::{
    Answer, AnswerCache, BackendError, BodyLimits, Call, CallError, ChatStore, ChunkError,
    ChunkStream, Claim, Clock, Customer, Exchange, Io, Method, NewCustomer, Outbound, Product,
    QuotaGate, StreamCall, StreamHead, StreamingOutbound,
};
use crate::settings::{self, AccessToken, AiSettings, LineSettings, Provider, ProviderKind};

/// Drives a future to completion (the fakes never wait).
pub(crate) fn run<F: Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// A clock the test sets and moves.
#[derive(Debug, Clone, Default)]
pub(crate) struct FakeClock(pub(crate) Rc<Cell<u64>>);

impl FakeClock {
    pub(crate) fn at(ms: u64) -> Self {
        Self(Rc::new(Cell::new(ms)))
    }

    pub(crate) fn advance(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }

    /// Waiting is the clock moving on.
    async fn sleep(&self, ms: u64) {
        self.advance(ms);
    }
}

/// One call as the fake network saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sent {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
    pub(crate) timeout_ms: u64,
}

impl Sent {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

type Responder = Box<dyn Fn(&Sent) -> Result<Answer, CallError>>;
type Streamer = Box<dyn Fn(&Sent) -> Result<Script, CallError>>;

/// The network: every call recorded, answered by the responder; streamed calls played from
/// the streamer's scripts, their waits on the clock.
pub(crate) struct FakeNet {
    pub(crate) sent: RefCell<Vec<Sent>>,
    responder: RefCell<Responder>,
    streamer: RefCell<Streamer>,
    /// The clock streamed chunks take their time on (the IO's, see [`io`]).
    pub(crate) clock: RefCell<FakeClock>,
}

impl FakeNet {
    pub(crate) fn new(responder: impl Fn(&Sent) -> Result<Answer, CallError> + 'static) -> Self {
        Self {
            sent: RefCell::new(Vec::new()),
            responder: RefCell::new(Box::new(responder)),
            streamer: RefCell::new(Box::new(happy_stream)),
            clock: RefCell::new(FakeClock::default()),
        }
    }

    /// A network whose streamed calls play `streamer`'s scripts.
    pub(crate) fn streaming(
        streamer: impl Fn(&Sent) -> Result<Script, CallError> + 'static,
    ) -> Self {
        let net = Self::new(happy);
        *net.streamer.borrow_mut() = Box::new(streamer);
        net
    }

    /// Answers from now on with `responder`.
    pub(crate) fn answer_with(
        &self,
        responder: impl Fn(&Sent) -> Result<Answer, CallError> + 'static,
    ) {
        *self.responder.borrow_mut() = Box::new(responder);
    }

    /// The calls whose URL ends with `suffix`.
    pub(crate) fn to(&self, suffix: &str) -> Vec<Sent> {
        self.sent
            .borrow()
            .iter()
            .filter(|s| s.url.ends_with(suffix))
            .cloned()
            .collect()
    }
}

impl Sent {
    fn of(call: &Call<'_>) -> Self {
        Self {
            method: call.method,
            url: call.url.to_owned(),
            headers: call
                .headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .chain(
                    call.body
                        .as_ref()
                        .map(|(ct, _)| ("content-type".to_owned(), (*ct).to_owned())),
                )
                .collect(),
            body: call
                .body
                .as_ref()
                .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
            timeout_ms: call.timeout_ms,
        }
    }
}

impl Outbound for FakeNet {
    async fn call(&self, call: Call<'_>) -> Result<Answer, CallError> {
        let sent = Sent::of(&call);
        let answer = (self.responder.borrow())(&sent);
        self.sent.borrow_mut().push(sent);
        answer
    }
}

/// An answer with `status` and `body`.
pub(crate) fn answer(status: u16, body: &str) -> Result<Answer, CallError> {
    Ok(Answer {
        status,
        retry_after: None,
        location: None,
        body: body.as_bytes().to_vec(),
    })
}

/// An OpenAI-compatible completion saying `text`.
pub(crate) fn completion(text: &str) -> Result<Answer, CallError> {
    answer(
        200,
        &serde_json::json!({
            "choices": [{"message": {"role": "assistant", "content": text}}],
            "usage": {"total_tokens": 42}
        })
        .to_string(),
    )
}

/// The usual world: LINE answers 200 (profiles name the user "Ann"), the primary provider
/// answers "from primary", the fallback "from fallback".
pub(crate) fn happy(sent: &Sent) -> Result<Answer, CallError> {
    if sent.url.contains("/v2/bot/profile/") || sent.url.contains("/member/") {
        answer(200, r#"{"displayName":"Ann","language":"en"}"#)
    } else if sent.url.starts_with("https://primary.test") {
        completion("from primary")
    } else if sent.url.starts_with("https://fallback.test") {
        completion("from fallback")
    } else {
        answer(200, "{}")
    }
}

/// [`happy`], except that a call whose URL contains one of `odd`'s parts gets that answer.
pub(crate) fn except(
    odd: &[(&'static str, Result<Answer, CallError>)],
) -> impl Fn(&Sent) -> Result<Answer, CallError> + 'static {
    let odd = odd.to_vec();
    move |sent| {
        odd.iter()
            .find(|(part, _)| sent.url.contains(part))
            .map_or_else(|| happy(sent), |(_, a)| a.clone())
    }
}

/// How a scripted stream ends after its chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// The body ends.
    Eof,
    /// The read fails so (a broken connection, say).
    Fail(ChunkError),
    /// Nothing more comes: the reader waits out its gap, then gives up.
    Stall,
}

/// A streamed answer: its head, its chunks (each after a wait, ms), and how it ends.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    pub(crate) status: u16,
    /// `Location`, for a redirect.
    pub(crate) location: Option<String>,
    pub(crate) chunks: Vec<(u64, Vec<u8>)>,
    pub(crate) end: End,
}

impl Script {
    /// An event stream of `chunks`, `gap_ms` apart, ending `end`.
    pub(crate) fn sse(chunks: Vec<String>, gap_ms: u64, end: End) -> Self {
        Self {
            status: 200,
            location: None,
            chunks: chunks
                .into_iter()
                .map(|c| (gap_ms, c.into_bytes()))
                .collect(),
            end,
        }
    }

    /// An answer that is not streamed at all: `status` and `body` at once.
    pub(crate) fn whole(status: u16, body: &str) -> Self {
        Self {
            status,
            location: None,
            chunks: vec![(0, body.as_bytes().to_vec())],
            end: End::Eof,
        }
    }
}

/// The event-stream chunk of a delta saying `text`.
pub(crate) fn delta_event(text: &str) -> String {
    format!(
        "data: {}\n\n",
        serde_json::json!({
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]
        })
    )
}

/// The end of a complete stream: the finish reason, the usage (`tokens`), `[DONE]`.
pub(crate) fn stream_end(tokens: u64) -> String {
    format!(
        "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        serde_json::json!({"choices": [], "usage": {"total_tokens": tokens}})
    )
}

/// A complete stream of `texts` as deltas, `gap_ms` apart, then its end with `tokens`.
pub(crate) fn streamed(texts: &[&str], gap_ms: u64, tokens: u64) -> Script {
    let mut chunks: Vec<String> = texts.iter().map(|t| delta_event(t)).collect();
    chunks.push(stream_end(tokens));
    Script::sse(chunks, gap_ms, End::Eof)
}

/// The usual streams: the primary says "from primary", the fallback "from fallback", in
/// two deltas 100 ms apart; anything else is refused.
pub(crate) fn happy_stream(sent: &Sent) -> Result<Script, CallError> {
    let name = ["primary", "fallback"]
        .into_iter()
        .find(|n| sent.url.starts_with(&format!("https://{n}.test")));
    match name {
        Some(n) => Ok(streamed(&["from ", n], 100, 42)),
        None => Ok(Script::whole(404, "no such provider")),
    }
}

/// A scripted body being read.
pub(crate) struct FakeBody {
    chunks: VecDeque<(u64, Vec<u8>)>,
    end: End,
    clock: FakeClock,
    limits: BodyLimits,
}

impl ChunkStream for FakeBody {
    /// Plays the script as `Fetch` would read it: a chunk that comes later than the
    /// reader waits is a timeout at the end of its wait.
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ChunkError> {
        let (patience, late) = self.limits.wait(self.clock.now_ms());
        let Some((wait, chunk)) = self.chunks.pop_front() else {
            return match std::mem::replace(&mut self.end, End::Eof) {
                End::Eof => Ok(None),
                End::Fail(e) => Err(e),
                End::Stall => {
                    self.clock.advance(patience);
                    Err(late)
                }
            };
        };
        if wait > patience {
            self.clock.advance(patience);
            self.chunks.clear();
            return Err(late);
        }
        self.clock.advance(wait);
        self.limits.took(chunk.len())?;
        Ok(Some(chunk))
    }
}

impl StreamingOutbound for FakeNet {
    type Body = FakeBody;

    async fn open(&self, call: StreamCall<'_>) -> Result<StreamHead<FakeBody>, CallError> {
        let sent = Sent::of(&call.call);
        let script = (self.streamer.borrow())(&sent);
        self.sent.borrow_mut().push(sent);
        let script = script?;
        let clock = self.clock.borrow().clone();
        Ok(StreamHead {
            status: script.status,
            location: script.location.clone(),
            body: FakeBody {
                chunks: script.chunks.into(),
                end: script.end,
                limits: BodyLimits::of(&call, clock.now_ms()),
                clock,
            },
        })
    }
}

/// The answer cache.
#[derive(Debug, Default)]
pub(crate) struct FakeCache {
    pub(crate) entries: RefCell<HashMap<String, String>>,
    pub(crate) ttls: RefCell<Vec<u64>>,
}

impl AnswerCache for FakeCache {
    async fn get(&self, key: &str) -> Option<String> {
        self.entries.borrow().get(key).cloned()
    }

    async fn put(&self, key: &str, text: &str, ttl_s: u64) {
        self.entries
            .borrow_mut()
            .insert(key.to_owned(), text.to_owned());
        self.ttls.borrow_mut().push(ttl_s);
    }
}

/// What the quota answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuotaMode {
    Allow,
    /// Over quota, free again in this many seconds.
    Over(u64),
    /// The quota object cannot be reached.
    Down,
}

/// The quota: answers as told and counts the checks.
#[derive(Debug)]
pub(crate) struct FakeQuota {
    pub(crate) mode: Cell<QuotaMode>,
    pub(crate) checked: RefCell<Vec<String>>,
}

impl Default for FakeQuota {
    fn default() -> Self {
        Self {
            mode: Cell::new(QuotaMode::Allow),
            checked: RefCell::new(Vec::new()),
        }
    }
}

impl QuotaGate for FakeQuota {
    async fn check(
        &self,
        bucket: &str,
        policy: RateLimitPolicy,
    ) -> Result<RateDecision, BackendError> {
        self.checked.borrow_mut().push(bucket.to_owned());
        let decision = |allowed, reset_s| RateDecision {
            allowed,
            policy,
            remaining: u32::from(allowed),
            reset_s,
        };
        match self.mode.get() {
            QuotaMode::Allow => Ok(decision(true, 0)),
            QuotaMode::Over(reset_s) => Ok(decision(false, reset_s)),
            QuotaMode::Down => Err(BackendError("quota object unreachable".to_owned())),
        }
    }
}

/// A webhook event's claim row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClaimRow {
    pub(crate) done: bool,
    pub(crate) received_at: u64,
}

/// A stored exchange, owned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredRow {
    pub(crate) event_id: String,
    pub(crate) conversation_id: String,
    pub(crate) asker: String,
    pub(crate) speaker: Option<String>,
    pub(crate) user_text: String,
    pub(crate) answer: String,
    pub(crate) provider: String,
    pub(crate) attempts: Option<String>,
}

/// The D1 data in memory, with D1's claim semantics; `fail` names the operations that fail.
#[derive(Debug, Default)]
pub(crate) struct FakeStore {
    pub(crate) claims: RefCell<HashMap<String, ClaimRow>>,
    pub(crate) customers: RefCell<HashMap<String, Customer>>,
    pub(crate) conversations: RefCell<HashMap<String, String>>,
    pub(crate) history: RefCell<Vec<(String, Role, String)>>,
    pub(crate) stored: RefCell<Vec<StoredRow>>,
    pub(crate) following: RefCell<HashMap<String, bool>>,
    pub(crate) unsent: RefCell<Vec<(String, String)>>,
    pub(crate) products: RefCell<Vec<Product>>,
    pub(crate) fail: RefCell<HashSet<&'static str>>,
}

impl FakeStore {
    pub(crate) fn failing(&self, op: &'static str) {
        self.fail.borrow_mut().insert(op);
    }

    pub(crate) fn heal(&self) {
        self.fail.borrow_mut().clear();
    }

    fn check(&self, op: &'static str) -> Result<(), BackendError> {
        if self.fail.borrow().contains(op) {
            Err(BackendError(format!("D1 {op} failed")))
        } else {
            Ok(())
        }
    }

    pub(crate) fn claim_of(&self, id: &str) -> Option<ClaimRow> {
        self.claims.borrow().get(id).cloned()
    }

    /// A claim another consumer took at `received_at` and still holds.
    pub(crate) fn held(&self, id: &str, received_at: u64) {
        self.claims.borrow_mut().insert(
            id.to_owned(),
            ClaimRow {
                done: false,
                received_at,
            },
        );
    }

    pub(crate) fn add_product(&self, id: &str, name: &str, price: Option<f64>, active: bool) {
        self.products.borrow_mut().push(Product {
            id: id.to_owned(),
            name: name.to_owned(),
            description: format!("{name} description"),
            price,
            currency: "THB".to_owned(),
            category: None,
            status: if active { "active" } else { "inactive" }.to_owned(),
            created_at: 0.0,
            updated_at: 0.0,
        });
    }
}

impl ChatStore for FakeStore {
    async fn claim(
        &self,
        event_id: &str,
        _event_type: &str,
        now: u64,
        stale_ms: u64,
    ) -> Result<Claim, BackendError> {
        self.check("claim")?;
        let mut claims = self.claims.borrow_mut();
        match claims.get_mut(event_id) {
            None => {
                claims.insert(
                    event_id.to_owned(),
                    ClaimRow {
                        done: false,
                        received_at: now,
                    },
                );
                Ok(Claim::Taken)
            }
            Some(row) if !row.done && row.received_at < now.saturating_sub(stale_ms) => {
                row.received_at = now;
                Ok(Claim::Taken)
            }
            Some(row) if row.done => Ok(Claim::Done),
            Some(_) => Ok(Claim::InProgress),
        }
    }

    async fn release(&self, event_id: &str) -> Result<(), BackendError> {
        self.check("release")?;
        let mut claims = self.claims.borrow_mut();
        if claims.get(event_id).is_some_and(|r| !r.done) {
            claims.remove(event_id);
        }
        Ok(())
    }

    async fn mark_done(&self, event_id: &str, _now: u64) -> Result<(), BackendError> {
        self.check("mark_done")?;
        if let Some(row) = self.claims.borrow_mut().get_mut(event_id) {
            row.done = true;
        }
        Ok(())
    }

    async fn customer(&self, key: &str) -> Result<Option<Customer>, BackendError> {
        self.check("customer")?;
        Ok(self.customers.borrow().get(key).cloned())
    }

    async fn create_customer(
        &self,
        c: &NewCustomer<'_>,
        _now: u64,
    ) -> Result<Customer, BackendError> {
        self.check("create_customer")?;
        let mut customers = self.customers.borrow_mut();
        let n = customers.len();
        Ok(customers
            .entry(c.line_user_id.to_owned())
            .or_insert_with(|| Customer {
                id: format!("c{n}"),
                display_name: c.display_name.map(str::to_owned),
                language: c.language.as_str().to_owned(),
                preferences: "[]".to_owned(),
            })
            .clone())
    }

    async fn set_following(
        &self,
        line_user_id: &str,
        following: bool,
        _now: u64,
    ) -> Result<(), BackendError> {
        self.check("set_following")?;
        self.following
            .borrow_mut()
            .insert(line_user_id.to_owned(), following);
        Ok(())
    }

    async fn active_conversation(
        &self,
        _customer: &Customer,
        key: &str,
        _lang: Language,
        _now: u64,
    ) -> Result<String, BackendError> {
        self.check("active_conversation")?;
        let mut conversations = self.conversations.borrow_mut();
        let n = conversations.len();
        Ok(conversations
            .entry(key.to_owned())
            .or_insert_with(|| format!("conv{n}"))
            .clone())
    }

    async fn history(
        &self,
        conversation_id: &str,
        limit: usize,
    ) -> Result<Vec<(Role, String)>, BackendError> {
        self.check("history")?;
        let all: Vec<(Role, String)> = self
            .history
            .borrow()
            .iter()
            .filter(|(c, _, _)| c == conversation_id)
            .map(|(_, r, t)| (*r, t.clone()))
            .collect();
        Ok(all[all.len().saturating_sub(limit)..].to_vec())
    }

    async fn store_exchange(&self, x: &Exchange<'_>, now: u64) -> Result<(), BackendError> {
        self.check("store_exchange")?;
        self.stored.borrow_mut().push(StoredRow {
            event_id: x.event_id.to_owned(),
            conversation_id: x.conversation_id.to_owned(),
            asker: x.line_user_id.to_owned(),
            speaker: x.speaker_user_id.map(str::to_owned),
            user_text: x.user_text.to_owned(),
            answer: x.answer.to_owned(),
            provider: x.provider.to_owned(),
            attempts: x.attempts.clone(),
        });
        {
            let mut history = self.history.borrow_mut();
            history.push((
                x.conversation_id.to_owned(),
                Role::User,
                x.user_text.to_owned(),
            ));
            history.push((
                x.conversation_id.to_owned(),
                Role::Assistant,
                x.answer.to_owned(),
            ));
        }
        self.mark_done(x.event_id, now).await
    }

    async fn unsend(
        &self,
        chat_key: &str,
        line_message_id: &str,
        _now: u64,
    ) -> Result<u64, BackendError> {
        self.check("unsend")?;
        self.unsent
            .borrow_mut()
            .push((chat_key.to_owned(), line_message_id.to_owned()));
        Ok(1)
    }

    async fn products(&self, all: bool, limit: usize) -> Result<Vec<Product>, BackendError> {
        self.check("products")?;
        Ok(self
            .products
            .borrow()
            .iter()
            .filter(|p| all || p.status == "active")
            .take(limit)
            .cloned()
            .collect())
    }

    async fn product(&self, id: &str) -> Result<Option<Product>, BackendError> {
        self.check("product")?;
        Ok(self.products.borrow().iter().find(|p| p.id == id).cloned())
    }
}

/// A provider named `name` at `https://<name>.test`, with a key.
pub(crate) fn provider(name: &str, timeout_ms: u64) -> Provider {
    Provider {
        name: name.to_owned(),
        kind: ProviderKind::OpenAi,
        base_url: format!("https://{name}.test"),
        model: format!("{name}-model"),
        spec_model: format!("{name}-model"),
        max_tokens: 800,
        timeout_ms,
        api_key: Some(format!("{name}-key")),
        access: None,
        access_incomplete: false,
        vars: if name == "fallback" {
            &settings::FALLBACK
        } else {
            &settings::PRIMARY
        },
    }
}

/// A LangServe provider named `name` at `https://<name>.test/chain`, no key, its input in
/// `shape`, with Access service token `access` (id, secret) when given.
pub(crate) fn langserve_provider(
    name: &str,
    shape: InputShape,
    access: Option<(&str, &str)>,
) -> Provider {
    Provider {
        kind: ProviderKind::LangServe(shape),
        base_url: format!("https://{name}.test/chain"),
        model: "langserve".to_owned(),
        spec_model: "langserve langserve:messages".to_owned(),
        api_key: None,
        access: access.map(|(id, secret)| AccessToken {
            client_id: id.to_owned(),
            client_secret: secret.to_owned(),
        }),
        ..provider(name, 8_000)
    }
}

/// The chain: `primary` then `fallback`, a breaker opening after 3 failures for 30 s.
pub(crate) fn ai_settings(providers: Vec<Provider>) -> AiSettings {
    AiSettings {
        providers,
        breaker: BreakerConfig {
            failure_threshold: 3,
            recovery_ms: 30_000,
            slow_ms: u64::MAX,
        },
        history: 10,
        cache_ttl_s: 3_600,
        quota: RateLimitPolicy {
            limit: 30,
            window_s: 3_600,
        },
    }
}

/// The LINE bot's settings over the usual chain (timeouts 8 s and 8 s, LINE 5 s).
pub(crate) fn settings() -> LineSettings {
    LineSettings {
        line_secret: "secret".to_owned(),
        line_token: "line-token".to_owned(),
        line_api: "https://line.test".to_owned(),
        line_timeout_ms: 5_000,
        ai: Rc::new(ai_settings(vec![
            provider("primary", 8_000),
            provider("fallback", 8_000),
        ])),
    }
}

/// The chat IO over fakes.
pub(crate) type TestIo = Io<FakeNet, FakeCache, FakeQuota, FakeClock>;

/// The chat IO over fakes, the clock at `now`.
pub(crate) fn io(net: FakeNet, now: u64) -> TestIo {
    let clock = FakeClock::at(now);
    *net.clock.borrow_mut() = clock.clone();
    Io {
        net,
        cache: FakeCache::default(),
        quota: FakeQuota::default(),
        clock,
        breakers: Rc::new(Breakers::default()),
    }
}
