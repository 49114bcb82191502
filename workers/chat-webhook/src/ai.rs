//! The AI provider chain: the KV cache (for answers nothing personal shaped, keyed by a
//! digest of the whole prompt, the chain's settings and the channel), then the user's quota
//! (charged only when a paid provider is about to be called), then the primary provider,
//! then the fallback, each behind its own timeout and circuit breaker, then a static
//! apology. Breakers live in isolate memory: each isolate learns on its own that a
//! provider is down, with no shared write per request.
//!
//! A provider is OpenAI-compatible or a LangServe route ([`ProviderKind`]); [`ask`] is the
//! one place the two differ (URL, body, headers, answer parser), so timeouts, breakers,
//! fallback and caching are the same for both. A 401/403 (an expired or revoked API key or
//! Access service token) opens that provider's breaker at once, is logged naming the
//! credential's var (never its value), and is kept as a [`Refusal`] for the worker to
//! report to analytics.

use std::cell::RefCell;
use std::collections::HashMap;

use edge_core::chat::completion::{self, Channel, MAX_RESPONSE_BYTES, Prompt};
use edge_core::chat::intent::{Intent, Language};
use edge_core::chat::{langserve, quota, stream, text};
use edge_core::routing::breaker::{Breaker, BreakerConfig, BreakerState, Observation};
use serde::Serialize;

use crate::backends::{AnswerCache, Call, CallError, ChatIo, Clock, Method, Outbound, QuotaGate};
use crate::log;
use crate::settings::{AiSettings, Credentials, Provider, ProviderKind};

/// Who asks: the channel and its user id (the quota's bucket), and their language.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asker<'a> {
    pub(crate) channel: Channel,
    pub(crate) user_id: &'a str,
    pub(crate) lang: Language,
}

/// Most refusals kept for the worker to report; older ones are dropped first.
pub(crate) const MAX_PENDING_REFUSALS: usize = 16;

/// A provider refused our credentials (401/403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The provider's name.
    pub(crate) provider: String,
    /// The names of the credentials it refused (their vars), never their values.
    pub(crate) credential: String,
    /// 401 or 403.
    pub(crate) status: u16,
    /// When the call started and ended, ms.
    pub(crate) started_ms: u64,
    pub(crate) finished_ms: u64,
}

/// Each provider's circuit breaker, by name: one set per isolate (the worker keeps it in
/// isolate memory), so each isolate learns on its own that a provider is down. It also
/// holds the refusals not yet reported.
#[derive(Debug, Default)]
pub(crate) struct Breakers {
    by_name: RefCell<HashMap<String, Breaker>>,
    refusals: RefCell<Vec<Refusal>>,
}

impl Breakers {
    pub(crate) fn allows(&self, name: &str, now: u64) -> bool {
        self.by_name
            .borrow()
            .get(name)
            .is_none_or(|br| br.allows(now))
    }

    pub(crate) fn observe(
        &self,
        name: &str,
        config: &BreakerConfig,
        observation: Observation,
        now: u64,
    ) {
        self.by_name
            .borrow_mut()
            .entry(name.to_owned())
            .or_default()
            .observe(observation, config, now);
    }

    fn refused(&self, r: Refusal) {
        let mut pending = self.refusals.borrow_mut();
        if pending.len() >= MAX_PENDING_REFUSALS {
            pending.remove(0);
        }
        pending.push(r);
    }

    /// The refusals since the last call, oldest first, for the worker to report.
    pub(crate) fn take_refusals(&self) -> Vec<Refusal> {
        std::mem::take(&mut *self.refusals.borrow_mut())
    }

    /// Each provider's breaker state, for the Discord admin status.
    pub(crate) fn states(&self, s: &AiSettings, now: u64) -> Vec<(String, &'static str)> {
        let b = self.by_name.borrow();
        s.providers
            .iter()
            .map(|p| {
                let state = match b.get(&p.name).map(|br| br.state_at(now)) {
                    None | Some(BreakerState::Closed { .. }) => "closed",
                    Some(BreakerState::Open { .. }) => "open",
                    Some(BreakerState::HalfOpen) => "half-open",
                };
                (p.name.clone(), state)
            })
            .collect()
    }

    /// Closes every provider's breaker.
    pub(crate) fn reset(&self) {
        self.by_name.borrow_mut().clear();
    }
}

/// One provider's try.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Attempt {
    pub(crate) provider: String,
    /// `answered`, `circuit_open`, `no_api_key`, `no_access_token`, `timeout`,
    /// `transport`, `credential_refused` (401/403), `status_<n>`, `bad_answer`.
    pub(crate) outcome: String,
}

/// The answer to one message and how it was made.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) text: String,
    /// The provider's name, `cache`, or `static`.
    pub(crate) provider: String,
    pub(crate) model: Option<String>,
    pub(crate) tokens: Option<u64>,
    pub(crate) latency_ms: u64,
    pub(crate) attempts: Vec<Attempt>,
}

/// Why one provider's call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// 401/403: the credentials were refused.
    Refused(u16),
    /// Anything else, as its attempt outcome (`timeout`, `status_500`, `bad_answer`…).
    Failed(String),
}

impl Failure {
    /// The failure of an exchange that produced no answer.
    pub(crate) fn of_call(e: &CallError) -> Self {
        Self::Failed(
            match e {
                CallError::Timeout => "timeout",
                CallError::Transport(_) => "transport",
            }
            .to_owned(),
        )
    }

    /// The failure an answer's status (and `Location`, of a redirect) means, if not 200: a
    /// 401/403, or a redirect to Cloudflare Access's login, is a refusal.
    pub(crate) fn of_head(status: u16, location: Option<&str>) -> Option<Self> {
        match status {
            200 => None,
            401 | 403 => Some(Self::Refused(status)),
            300..=399 if location.is_some_and(langserve::is_access_login) => {
                Some(Self::Refused(status))
            }
            s => Some(Self::Failed(format!("status_{s}"))),
        }
    }
}

/// One call to a provider, either kind, streamed or not: the one place the kinds' requests
/// differ (URL, body, headers).
pub(crate) struct ProviderRequest<'p> {
    pub(crate) url: String,
    pub(crate) body: Vec<u8>,
    authorization: Option<String>,
    creds: Credentials<'p>,
    accept: &'static str,
}

impl<'p> ProviderRequest<'p> {
    /// Provider `p`'s request for `prompt` with `creds`; `streamed` asks for the answer as
    /// server-sent events (`/chat/completions` with `stream: true`, or LangServe's
    /// `/stream`).
    pub(crate) fn new(
        p: &Provider,
        creds: Credentials<'p>,
        prompt: &Prompt,
        streamed: bool,
    ) -> Self {
        let (path, body) = match (&p.kind, streamed) {
            (ProviderKind::OpenAi, false) => (
                "/chat/completions",
                completion::request_body(&p.model, p.max_tokens, prompt),
            ),
            (ProviderKind::OpenAi, true) => (
                "/chat/completions",
                stream::request_body(&p.model, p.max_tokens, prompt),
            ),
            (ProviderKind::LangServe(shape), false) => (
                langserve::INVOKE_PATH,
                langserve::request_body(shape, prompt),
            ),
            (ProviderKind::LangServe(shape), true) => (
                langserve::STREAM_PATH,
                langserve::request_body(shape, prompt),
            ),
        };
        Self {
            url: format!("{}{path}", p.base_url),
            body: body.to_string().into_bytes(),
            authorization: creds.api_key.map(|key| format!("Bearer {key}")),
            creds,
            accept: if streamed {
                "text/event-stream"
            } else {
                "application/json"
            },
        }
    }

    /// Its headers: `accept`, the API key and the Access service token, when set.
    pub(crate) fn headers(&self) -> Vec<(&str, &str)> {
        let mut headers = vec![("accept", self.accept)];
        if let Some(auth) = &self.authorization {
            headers.push(("authorization", auth));
        }
        if let Some(access) = self.creds.access {
            headers.push(("cf-access-client-id", &access.client_id));
            headers.push(("cf-access-client-secret", &access.client_secret));
        }
        headers
    }
}

/// Provider `p`'s credentials if it may be asked now, or the outcome of skipping it
/// (`no_api_key`, `no_access_token`, `circuit_open`).
pub(crate) fn admit<'p>(
    io: &impl ChatIo,
    p: &'p Provider,
) -> Result<Credentials<'p>, &'static str> {
    let creds = p.credentials()?;
    if !io.breakers().allows(&p.name, io.clock().now_ms()) {
        return Err("circuit_open");
    }
    Ok(creds)
}

/// Records that provider `p`, asked at `t0`, failed: its breaker observes it (a refusal
/// opens it at once, logged by credential name and kept for analytics); the attempt's
/// outcome.
pub(crate) fn record_failure(
    io: &impl ChatIo,
    s: &AiSettings,
    p: &Provider,
    failure: Failure,
    t0: u64,
) -> String {
    let done = io.clock().now_ms();
    match failure {
        Failure::Refused(status) => {
            io.breakers()
                .observe(&p.name, &s.breaker, Observation::Refused, done);
            let credential = p.credential_names();
            log::warn(&refusal_message(p, &credential, status, &s.breaker));
            io.breakers().refused(Refusal {
                provider: p.name.clone(),
                credential,
                status,
                started_ms: t0,
                finished_ms: done,
            });
            "credential_refused".to_owned()
        }
        Failure::Failed(outcome) => {
            io.breakers()
                .observe(&p.name, &s.breaker, Observation::Failed, done);
            log::warn(&format!("ai provider {} failed: {outcome}", p.name));
            outcome
        }
    }
}

/// Asks provider `p` with `creds`: the answer, read by its kind's parser.
async fn ask(
    net: &impl Outbound,
    p: &Provider,
    creds: Credentials<'_>,
    prompt: &Prompt,
) -> Result<completion::Answer, Failure> {
    let request = ProviderRequest::new(p, creds, prompt, false);
    let answer = net
        .call(Call {
            method: Method::Post,
            url: &request.url,
            headers: &request.headers(),
            body: Some(("application/json", request.body.clone())),
            timeout_ms: p.timeout_ms,
            cap: MAX_RESPONSE_BYTES,
        })
        .await
        .map_err(|e| Failure::of_call(&e))?;
    if let Some(failure) = Failure::of_head(answer.status, answer.location.as_deref()) {
        return Err(failure);
    }
    match p.kind {
        ProviderKind::OpenAi => completion::parse_response(&answer.body),
        ProviderKind::LangServe(_) => langserve::parse_invoke(&answer.body),
    }
    .map_err(|_| Failure::Failed("bad_answer".to_owned()))
}

/// The log line of a refusal: the provider, its status, the credential's var names (never
/// a value) and how long its breaker stays open.
fn refusal_message(p: &Provider, credential: &str, status: u16, breaker: &BreakerConfig) -> String {
    format!(
        "ai provider {} refused our credentials ({status}): check {credential}; its breaker \
         is open for {} ms",
        p.name, breaker.recovery_ms
    )
}

/// What happens before any provider is asked.
pub(crate) enum Start {
    /// Answered from the cache (no quota charged).
    Cached(Reply),
    /// No paid call: the user is over their quota (told when to come back), or the quota
    /// cannot be checked (the apology; a control that fails open is not one).
    Refused(Reply),
    /// Ask the providers (the quota is charged, when one can be reached) and cache the
    /// answer under this key, if any.
    Ask(Option<String>),
}

fn unpaid(text: String, source: &str, outcome: &str, latency_ms: u64) -> Reply {
    Reply {
        text,
        provider: source.to_owned(),
        model: None,
        tokens: None,
        latency_ms,
        attempts: vec![Attempt {
            provider: source.to_owned(),
            outcome: outcome.to_owned(),
        }],
    }
}

/// Looks `prompt` up in the cache, then charges `who`'s quota if a paid provider is about
/// to be called.
pub(crate) async fn start(
    io: &impl ChatIo,
    s: &AiSettings,
    who: Asker<'_>,
    intent: Intent,
    prompt: &Prompt,
) -> Start {
    let started = io.clock().now_ms();
    let since = || io.clock().now_ms().saturating_sub(started);
    let key = completion::cache_key(who.channel, intent, prompt, &s.models());
    if let Some(k) = &key
        && let Some(text) = io.cache().get(k).await
    {
        return Start::Cached(unpaid(text, "cache", "answered", since()));
    }
    // Only a call that can reach a paid provider counts; with every provider skipped the
    // chain answers the static apology for free.
    let reachable = s
        .providers
        .iter()
        .any(|p| p.credentials().is_ok() && io.breakers().allows(&p.name, started));
    if reachable {
        let bucket = quota::bucket(who.channel, who.user_id);
        match io.quota().check(&bucket, s.quota).await {
            Ok(d) if d.allowed => {}
            Ok(d) => {
                return Start::Refused(unpaid(
                    text::over_quota(who.lang, d.reset_s),
                    "quota",
                    "over_quota",
                    since(),
                ));
            }
            Err(e) => {
                log::warn(&format!("ai quota of {bucket} unavailable: {e}"));
                return Start::Refused(unpaid(
                    text::apology(who.lang).to_owned(),
                    "quota",
                    "unavailable",
                    since(),
                ));
            }
        }
    }
    Start::Ask(key)
}

/// Answers `prompt` for `who`: the cache, the quota, then the provider chain.
pub(crate) async fn reply(
    io: &impl ChatIo,
    s: &AiSettings,
    who: Asker<'_>,
    intent: Intent,
    prompt: &Prompt,
) -> Reply {
    match start(io, s, who, intent, prompt).await {
        Start::Cached(r) | Start::Refused(r) => r,
        Start::Ask(key) => ask_chain(io, s, who.lang, key.as_deref(), prompt).await,
    }
}

/// Asks the providers in order (after [`start`] said so), caching the answer under `key`.
pub(crate) async fn ask_chain(
    io: &impl ChatIo,
    s: &AiSettings,
    lang: Language,
    key: Option<&str>,
    prompt: &Prompt,
) -> Reply {
    let started = io.clock().now_ms();
    let mut attempts = Vec::new();
    for p in &s.providers {
        let mut attempt = |outcome: &str| {
            attempts.push(Attempt {
                provider: p.name.clone(),
                outcome: outcome.to_owned(),
            })
        };
        let creds = match admit(io, p) {
            Ok(creds) => creds,
            Err(skipped) => {
                attempt(skipped);
                continue;
            }
        };
        let t0 = io.clock().now_ms();
        match ask(io.net(), p, creds, prompt).await {
            Ok(answer) => {
                let done = io.clock().now_ms();
                io.breakers().observe(
                    &p.name,
                    &s.breaker,
                    Observation::Answered {
                        latency_ms: done.saturating_sub(t0) as f64,
                    },
                    done,
                );
                attempt("answered");
                if let Some(k) = key {
                    io.cache().put(k, &answer.text, s.cache_ttl_s).await;
                }
                return Reply {
                    text: answer.text,
                    provider: p.name.clone(),
                    model: Some(p.model.clone()),
                    tokens: answer.tokens,
                    latency_ms: done.saturating_sub(started),
                    attempts,
                };
            }
            Err(failure) => {
                let outcome = record_failure(io, s, p, failure, t0);
                attempt(&outcome);
            }
        }
    }
    Reply {
        text: text::apology(lang).to_owned(),
        provider: "static".to_owned(),
        model: None,
        tokens: None,
        latency_ms: io.clock().now_ms().saturating_sub(started),
        attempts,
    }
}

#[cfg(test)]
mod tests {
    use edge_core::chat::intent;

    use super::*;
    use edge_core::chat::langserve::InputShape;

    use crate::backends::CallError;
    use crate::testkit::{self, FakeNet, QuotaMode, answer, except, happy, provider, run};

    const T0: u64 = 1_790_000_000_000;

    fn who() -> Asker<'static> {
        Asker {
            channel: Channel::Line,
            user_id: "U1",
            lang: Language::En,
        }
    }

    fn ask_about(text: &str) -> (Intent, Prompt) {
        (
            intent::detect(text).0,
            Prompt::new(Language::En, &[], Vec::new(), text),
        )
    }

    /// The chain's reply to `text` (the usual settings), asked by `who()`.
    fn chain(io: &impl ChatIo, text: &str) -> Reply {
        let s = testkit::settings();
        let (intent, prompt) = ask_about(text);
        run(reply(io, &s.ai, who(), intent, &prompt))
    }

    fn outcomes(r: &Reply) -> Vec<(&str, &str)> {
        r.attempts
            .iter()
            .map(|a| (a.provider.as_str(), a.outcome.as_str()))
            .collect()
    }

    /// The primary times out (after its 8 s), the fallback answers.
    fn primary_times_out(clock: testkit::FakeClock) -> FakeNet {
        FakeNet::new(move |sent| {
            if sent.url.starts_with("https://primary.test") {
                clock.advance(sent.timeout_ms);
                Err(CallError::Timeout)
            } else {
                happy(sent)
            }
        })
    }

    #[test]
    fn a_primary_that_times_out_hands_over_to_the_fallback() {
        let clock = testkit::FakeClock::at(T0);
        let mut io = testkit::io(primary_times_out(clock.clone()), T0);
        io.clock = clock;
        let r = chain(&io, "Tell me about the weather");
        assert_eq!(
            (r.text.as_str(), r.provider.as_str()),
            ("from fallback", "fallback")
        );
        assert_eq!(
            outcomes(&r),
            [("primary", "timeout"), ("fallback", "answered")]
        );
        assert_eq!(r.model.as_deref(), Some("fallback-model"));
        assert_eq!(r.tokens, Some(42));
        assert_eq!(
            r.latency_ms, 8_000,
            "the primary's timeout is part of the answer's time"
        );
        let primary = &io.net.to("/chat/completions")[0];
        assert_eq!(primary.header("authorization"), Some("Bearer primary-key"));
        assert_eq!(primary.timeout_ms, 8_000);
    }

    #[test]
    fn when_every_provider_fails_the_answer_is_the_static_apology() {
        let io = testkit::io(
            FakeNet::new(except(&[
                ("https://primary.test", Err(CallError::Timeout)),
                ("https://fallback.test", answer(500, "down")),
            ])),
            T0,
        );
        let r = chain(&io, "Tell me about the weather");
        assert_eq!(
            (r.text.as_str(), r.provider.as_str()),
            (text::apology(Language::En), "static")
        );
        assert_eq!(
            outcomes(&r),
            [("primary", "timeout"), ("fallback", "status_500")]
        );
        assert_eq!(r.model, None);
    }

    #[test]
    fn an_unreadable_answer_or_a_broken_connection_moves_down_the_chain() {
        let io = testkit::io(
            FakeNet::new(except(&[
                ("https://primary.test", answer(200, "<html>not json</html>")),
                (
                    "https://fallback.test",
                    Err(CallError::Transport("reset".to_owned())),
                ),
            ])),
            T0,
        );
        let r = chain(&io, "Tell me about the weather");
        assert_eq!(
            outcomes(&r),
            [("primary", "bad_answer"), ("fallback", "transport")]
        );
        assert_eq!(r.provider, "static");
    }

    #[test]
    fn three_timeouts_open_the_primarys_breaker_until_its_recovery_time() {
        let clock = testkit::FakeClock::at(T0);
        let mut io = testkit::io(primary_times_out(clock.clone()), T0);
        io.clock = clock;
        let s = testkit::settings();
        let (intent, prompt) = ask_about("Tell me about the weather");
        for _ in 0..3 {
            let r = run(reply(&io, &s.ai, who(), intent, &prompt));
            assert_eq!(outcomes(&r)[0], ("primary", "timeout"));
        }
        assert_eq!(
            io.breakers.states(&s.ai, io.clock.now_ms())[0],
            ("primary".to_owned(), "open")
        );
        let calls = io.net.to("https://primary.test/chat/completions").len();
        let r = run(reply(&io, &s.ai, who(), intent, &prompt));
        assert_eq!(
            outcomes(&r),
            [("primary", "circuit_open"), ("fallback", "answered")]
        );
        assert_eq!(
            io.net.to("https://primary.test/chat/completions").len(),
            calls,
            "skipped, not called"
        );
        // The clock passes the 30 s recovery: the primary gets a trial, and answers.
        io.clock.advance(30_001);
        io.net.answer_with(happy);
        let r = run(reply(&io, &s.ai, who(), intent, &prompt));
        assert_eq!(outcomes(&r), [("primary", "answered")]);
        assert_eq!(io.breakers.states(&s.ai, io.clock.now_ms())[0].1, "closed");
        io.breakers.reset();
        assert_eq!(io.breakers.states(&s.ai, io.clock.now_ms())[1].1, "closed");
    }

    #[test]
    fn a_provider_without_a_key_is_skipped_and_with_none_reachable_no_quota_is_charged() {
        let io = testkit::io(FakeNet::new(happy), T0);
        let mut keyless = provider("primary", 8_000);
        keyless.api_key = None;
        let s = testkit::ai_settings(vec![keyless.clone(), provider("fallback", 8_000)]);
        let (intent, prompt) = ask_about("Tell me about the weather");
        let r = run(reply(&io, &s, who(), intent, &prompt));
        assert_eq!(
            outcomes(&r),
            [("primary", "no_api_key"), ("fallback", "answered")]
        );
        assert_eq!(io.quota.checked.borrow().len(), 1);
        let s = testkit::ai_settings(vec![keyless]);
        let r = run(reply(&io, &s, who(), intent, &prompt));
        assert_eq!(r.provider, "static");
        assert_eq!(
            io.quota.checked.borrow().len(),
            1,
            "a free apology is not charged"
        );
    }

    #[test]
    fn a_shareable_answer_is_cached_and_a_hit_costs_no_quota_and_no_call() {
        let io = testkit::io(FakeNet::new(happy), T0);
        let s = testkit::settings();
        let (intent, prompt) = ask_about("hello");
        assert_eq!(intent, Intent::Greeting);
        let first = run(reply(&io, &s.ai, who(), intent, &prompt));
        assert_eq!(first.provider, "primary");
        assert_eq!(*io.cache.ttls.borrow(), [3_600]);
        let second = run(reply(&io, &s.ai, who(), intent, &prompt));
        assert_eq!(
            (second.text.as_str(), second.provider.as_str()),
            ("from primary", "cache")
        );
        assert_eq!(io.net.to("/chat/completions").len(), 1);
        assert_eq!(io.quota.checked.borrow().len(), 1);
        // A question that uses history is never cached.
        let (intent, prompt) = ask_about("Tell me about the weather");
        run(reply(&io, &s.ai, who(), intent, &prompt));
        assert_eq!(io.cache.entries.borrow().len(), 1);
    }

    #[test]
    fn a_quota_that_cannot_be_checked_fails_closed_with_the_apology() {
        let io = testkit::io(FakeNet::new(happy), T0);
        io.quota.mode.set(QuotaMode::Down);
        let r = chain(&io, "Tell me about the weather");
        assert_eq!(
            (r.text.as_str(), r.provider.as_str()),
            (text::apology(Language::En), "quota")
        );
        assert_eq!(outcomes(&r), [("quota", "unavailable")]);
        assert!(io.net.sent.borrow().is_empty());
    }

    #[test]
    fn start_defers_only_what_must_reach_a_provider() {
        let io = testkit::io(FakeNet::new(happy), T0);
        let s = testkit::settings();
        let discord = Asker {
            channel: Channel::Discord,
            ..who()
        };
        let (intent, prompt) = ask_about("hello");
        let Start::Ask(Some(key)) = run(start(&io, &s.ai, discord, intent, &prompt)) else {
            panic!("a cache miss within quota asks the providers");
        };
        assert!(key.starts_with("ai:v2:discord:"), "{key}");
        assert_eq!(
            *io.quota.checked.borrow(),
            ["ai-quota:discord:U1".to_owned()]
        );
        io.quota.mode.set(QuotaMode::Over(30));
        assert!(
            matches!(run(start(&io, &s.ai, discord, intent, &prompt)), Start::Refused(r) if r.provider == "quota")
        );
        io.cache
            .entries
            .borrow_mut()
            .insert(key, "cached".to_owned());
        assert!(
            matches!(run(start(&io, &s.ai, discord, intent, &prompt)), Start::Cached(r) if r.text == "cached")
        );
    }

    /// IO whose clock the network moves: a call to a URL starting with `prefix` takes `ms`
    /// (its whole timeout when `None`) and gets `odd`; any other call is answered by `rest`.
    fn timed_io(
        prefix: &'static str,
        ms: Option<u64>,
        odd: Result<crate::backends::Answer, CallError>,
        rest: fn(&testkit::Sent) -> Result<crate::backends::Answer, CallError>,
    ) -> testkit::TestIo {
        let clock = testkit::FakeClock::at(T0);
        let net = {
            let clock = clock.clone();
            FakeNet::new(move |sent| {
                if sent.url.starts_with(prefix) {
                    clock.advance(ms.unwrap_or(sent.timeout_ms));
                    odd.clone()
                } else {
                    rest(sent)
                }
            })
        };
        let mut io = testkit::io(net, T0);
        io.clock = clock;
        io
    }

    /// A LangServe `/invoke` answer: an AI message saying `text`.
    fn langserve_says(text: &str) -> Result<crate::backends::Answer, CallError> {
        answer(
            200,
            &serde_json::json!({
                "output": {"content": text, "type": "ai", "additional_kwargs": {},
                    "usage_metadata": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}},
                "metadata": {"run_id": "r-1", "feedback_tokens": []}
            })
            .to_string(),
        )
    }

    /// The LangServe provider `ayaka` answers "from ayaka"; OpenAI-compatible ones as usual.
    fn ayaka_happy(sent: &testkit::Sent) -> Result<crate::backends::Answer, CallError> {
        if sent.url == "https://ayaka.test/chain/invoke" {
            langserve_says("from ayaka")
        } else {
            happy(sent)
        }
    }

    fn ayaka(access: Option<(&str, &str)>) -> Provider {
        testkit::langserve_provider("ayaka", InputShape::Messages, access)
    }

    #[test]
    fn a_langserve_primary_answers_through_invoke_with_the_messages_list() {
        let io = testkit::io(FakeNet::new(ayaka_happy), T0);
        let s = testkit::ai_settings(vec![ayaka(None), provider("fallback", 8_000)]);
        let (intent, prompt) = ask_about("Tell me about the weather");
        let r = run(reply(&io, &s, who(), intent, &prompt));
        assert_eq!(
            (r.text.as_str(), r.provider.as_str()),
            ("from ayaka", "ayaka")
        );
        assert_eq!(outcomes(&r), [("ayaka", "answered")]);
        assert_eq!(r.model.as_deref(), Some("langserve"));
        assert_eq!(r.tokens, Some(7));
        let sent = io.net.sent.borrow();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].url, "https://ayaka.test/chain/invoke");
        assert_eq!(sent[0].method, Method::Post);
        assert_eq!(
            sent[0].json(),
            serde_json::json!({
                "input": [
                    {"type": "system", "content": prompt.system},
                    {"type": "human", "content": "Tell me about the weather"},
                ],
                "config": {},
                "kwargs": {}
            })
        );
        assert_eq!(sent[0].header("content-type"), Some("application/json"));
        // No key and no Access token configured: none sent, and the open LangServe counts as
        // reachable (the quota is charged).
        for h in [
            "authorization",
            "cf-access-client-id",
            "cf-access-client-secret",
        ] {
            assert_eq!(sent[0].header(h), None, "{h}");
        }
        assert_eq!(io.quota.checked.borrow().len(), 1);
    }

    #[test]
    fn a_langserve_that_is_down_or_answers_garbage_hands_over_to_the_fallback() {
        for (down, outcome) in [
            (Err(CallError::Transport("refused".to_owned())), "transport"),
            (answer(502, "Bad Gateway"), "status_502"),
            (answer(200, r#"{"output":{"type":"ai"}}"#), "bad_answer"),
            (answer(500, "Internal Server Error"), "status_500"),
        ] {
            let io = testkit::io(FakeNet::new(except(&[("https://ayaka.test", down)])), T0);
            let s = testkit::ai_settings(vec![ayaka(None), provider("fallback", 8_000)]);
            let (intent, prompt) = ask_about("Tell me about the weather");
            let r = run(reply(&io, &s, who(), intent, &prompt));
            assert_eq!(outcomes(&r), [("ayaka", outcome), ("fallback", "answered")]);
            assert_eq!(r.text, "from fallback");
            assert!(io.breakers.take_refusals().is_empty(), "not a refusal");
        }
    }

    #[test]
    fn langserve_as_the_fallback_of_an_openai_compatible_primary_with_a_string_input() {
        let io = timed_io(
            "https://primary.test",
            None,
            Err(CallError::Timeout),
            |_| answer(200, r#"{"output":"plain string answer","metadata":{}}"#),
        );
        let mut fallback = testkit::langserve_provider("ayaka", InputShape::String, None);
        fallback.vars = &crate::settings::FALLBACK;
        let s = testkit::ai_settings(vec![provider("primary", 8_000), fallback]);
        let (intent, prompt) = ask_about("Tell me about the weather");
        let r = run(reply(&io, &s, who(), intent, &prompt));
        assert_eq!(
            outcomes(&r),
            [("primary", "timeout"), ("ayaka", "answered")]
        );
        assert_eq!(r.text, "plain string answer");
        assert_eq!(r.latency_ms, 8_000);
        let to_ayaka = &io.net.to("/chain/invoke")[0];
        assert_eq!(
            to_ayaka.json(),
            serde_json::json!({"input": "Tell me about the weather", "config": {}, "kwargs": {}})
        );
        assert_eq!(to_ayaka.timeout_ms, 8_000, "its own timeout");
    }

    #[test]
    fn access_headers_go_only_to_the_provider_that_has_them() {
        let io = testkit::io(
            FakeNet::new(except(&[("https://ayaka.test", answer(500, "boom"))])),
            T0,
        );
        let s = testkit::ai_settings(vec![
            ayaka(Some(("id-123.access", "access-secret-xyz"))),
            provider("fallback", 8_000),
        ]);
        let (intent, prompt) = ask_about("Tell me about the weather");
        let r = run(reply(&io, &s, who(), intent, &prompt));
        assert_eq!(
            outcomes(&r),
            [("ayaka", "status_500"), ("fallback", "answered")]
        );
        let sent = io.net.sent.borrow();
        let (to_ayaka, to_fallback) = (&sent[0], &sent[1]);
        assert_eq!(
            to_ayaka.header("cf-access-client-id"),
            Some("id-123.access")
        );
        assert_eq!(
            to_ayaka.header("cf-access-client-secret"),
            Some("access-secret-xyz")
        );
        assert_eq!(to_ayaka.header("authorization"), None);
        assert_eq!(to_fallback.url, "https://fallback.test/chat/completions");
        assert_eq!(to_fallback.header("cf-access-client-id"), None);
        assert_eq!(to_fallback.header("cf-access-client-secret"), None);
        assert_eq!(
            to_fallback.header("authorization"),
            Some("Bearer fallback-key")
        );
        assert!(
            !to_fallback.body.contains("access-secret-xyz"),
            "nor in a body"
        );
    }

    #[test]
    fn a_401_opens_the_breaker_at_once_names_the_credential_and_is_kept_for_analytics() {
        let io = timed_io("https://ayaka.test", Some(40), answer(401, ""), happy);
        let mut s = testkit::ai_settings(vec![
            ayaka(Some(("id-1", "expired-secret"))),
            provider("fallback", 8_000),
        ]);
        s.breaker.failure_threshold = 5;
        let (intent, prompt) = ask_about("Tell me about the weather");
        let r = run(reply(&io, &s, who(), intent, &prompt));
        assert_eq!(
            outcomes(&r),
            [("ayaka", "credential_refused"), ("fallback", "answered")]
        );
        assert_eq!(
            io.breakers.states(&s, io.clock.now_ms())[0],
            ("ayaka".to_owned(), "open"),
            "one refusal opens it, with a threshold of 5"
        );
        let refusals = io.breakers.take_refusals();
        assert_eq!(
            refusals,
            [Refusal {
                provider: "ayaka".to_owned(),
                credential: "AI_PRIMARY_ACCESS_CLIENT_ID/SECRET".to_owned(),
                status: 401,
                started_ms: T0,
                finished_ms: T0 + 40,
            }]
        );
        assert!(io.breakers.take_refusals().is_empty(), "taken once");
        let line = refusal_message(&s.providers[0], &refusals[0].credential, 401, &s.breaker);
        assert!(
            line.contains("AI_PRIMARY_ACCESS_CLIENT_ID/SECRET"),
            "{line}"
        );
        assert!(line.contains("ayaka") && line.contains("401"), "{line}");
        assert!(
            !line.contains("expired-secret") && !line.contains("id-1"),
            "{line}"
        );
        // The next message skips it without a call, until the recovery time.
        let r = run(reply(&io, &s, who(), intent, &prompt));
        assert_eq!(
            outcomes(&r),
            [("ayaka", "circuit_open"), ("fallback", "answered")]
        );
        assert_eq!(io.net.to("/chain/invoke").len(), 1);
        // Refused again at the trial: open again at once.
        io.clock.advance(30_001);
        run(reply(&io, &s, who(), intent, &prompt));
        assert_eq!(io.net.to("/chain/invoke").len(), 2);
        assert_eq!(io.breakers.states(&s, io.clock.now_ms())[0].1, "open");
    }

    #[test]
    fn a_403_from_an_openai_compatible_provider_names_its_api_key() {
        let io = testkit::io(
            FakeNet::new(except(&[("https://fallback.test", answer(403, "{}"))])),
            T0,
        );
        let mut primary = provider("primary", 8_000);
        primary.api_key = None;
        let s = testkit::ai_settings(vec![primary, provider("fallback", 8_000)]);
        let (intent, prompt) = ask_about("Tell me about the weather");
        let r = run(reply(&io, &s, who(), intent, &prompt));
        assert_eq!(
            outcomes(&r),
            [
                ("primary", "no_api_key"),
                ("fallback", "credential_refused")
            ]
        );
        assert_eq!(r.provider, "static");
        let refusals = io.breakers.take_refusals();
        assert_eq!(refusals.len(), 1);
        assert_eq!(
            (refusals[0].credential.as_str(), refusals[0].status),
            ("AI_FALLBACK_API_KEY", 403)
        );
        assert_eq!(io.breakers.states(&s, T0)[1].1, "open");
    }

    /// A redirect to `location`.
    fn redirect(location: &str) -> Result<crate::backends::Answer, CallError> {
        Ok(crate::backends::Answer {
            status: 302,
            retry_after: None,
            location: Some(location.to_owned()),
            body: Vec::new(),
        })
    }

    #[test]
    fn an_access_login_redirect_is_a_refusal_and_any_other_redirect_a_failure() {
        let login = "https://acme.cloudflareaccess.com/cdn-cgi/access/login/ayaka.test?kid=1";
        let io = testkit::io(
            FakeNet::new(except(&[("https://ayaka.test", redirect(login))])),
            T0,
        );
        let mut s = testkit::ai_settings(vec![
            ayaka(Some(("id-1", "expired-secret"))),
            provider("fallback", 8_000),
        ]);
        s.breaker.failure_threshold = 5;
        let (intent, prompt) = ask_about("Tell me about the weather");
        let r = run(reply(&io, &s, who(), intent, &prompt));
        assert_eq!(
            outcomes(&r),
            [("ayaka", "credential_refused"), ("fallback", "answered")]
        );
        assert_eq!(io.breakers.take_refusals()[0].status, 302);
        assert_eq!(io.breakers.states(&s, T0)[0].1, "open");

        let io = testkit::io(
            FakeNet::new(except(&[(
                "https://ayaka.test",
                redirect("https://elsewhere.example/invoke"),
            )])),
            T0,
        );
        let r = run(reply(&io, &s, who(), intent, &prompt));
        assert_eq!(
            outcomes(&r),
            [("ayaka", "status_302"), ("fallback", "answered")]
        );
        assert!(io.breakers.take_refusals().is_empty());
        assert_eq!(
            io.net.to("/invoke").len(),
            1,
            "the redirect is not followed"
        );
    }

    #[test]
    fn a_half_configured_access_token_skips_the_langserve_and_refusals_are_bounded() {
        let io = testkit::io(FakeNet::new(ayaka_happy), T0);
        let mut half = ayaka(None);
        half.access_incomplete = true;
        let s = testkit::ai_settings(vec![half, provider("fallback", 8_000)]);
        let (intent, prompt) = ask_about("Tell me about the weather");
        let r = run(reply(&io, &s, who(), intent, &prompt));
        assert_eq!(
            outcomes(&r),
            [("ayaka", "no_access_token"), ("fallback", "answered")]
        );
        assert!(io.net.to("/chain/invoke").is_empty());
        // Nothing reachable (the only provider is skipped): no paid call, no quota.
        let s = testkit::ai_settings(vec![{
            let mut p = ayaka(None);
            p.access_incomplete = true;
            p
        }]);
        let checked = io.quota.checked.borrow().len();
        assert_eq!(
            run(reply(&io, &s, who(), intent, &prompt)).provider,
            "static"
        );
        assert_eq!(io.quota.checked.borrow().len(), checked);
        // Pending refusals are bounded, the oldest dropped.
        let b = Breakers::default();
        for i in 0..(MAX_PENDING_REFUSALS as u64 + 3) {
            b.refused(Refusal {
                provider: "p".to_owned(),
                credential: "AI_PRIMARY_API_KEY".to_owned(),
                status: 401,
                started_ms: i,
                finished_ms: i,
            });
        }
        let kept = b.take_refusals();
        assert_eq!(kept.len(), MAX_PENDING_REFUSALS);
        assert_eq!(kept[0].started_ms, 3);
    }
}
