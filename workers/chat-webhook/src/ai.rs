//! The AI provider chain: the KV cache (for answers nothing personal shaped, keyed by a
//! digest of the whole prompt, the chain's settings and the channel), then the user's quota
//! (charged only when a paid provider is about to be called), then the primary provider,
//! then the fallback, each behind its own timeout and circuit breaker, then a static
//! apology. Breakers live in isolate memory: each isolate learns on its own that a
//! provider is down, with no shared write per request.

use std::cell::RefCell;
use std::collections::HashMap;

use edge_core::chat::completion::{self, Channel, MAX_RESPONSE_BYTES, Prompt};
use edge_core::chat::intent::{Intent, Language};
use edge_core::chat::{quota, text};
use edge_core::routing::breaker::{Breaker, BreakerConfig, BreakerState, Observation};
use serde::Serialize;

use crate::backends::{AnswerCache, Call, CallError, ChatIo, Clock, Method, Outbound, QuotaGate};
use crate::log;
use crate::settings::{AiSettings, Provider};

/// Who asks: the channel and its user id (the quota's bucket), and their language.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asker<'a> {
    pub(crate) channel: Channel,
    pub(crate) user_id: &'a str,
    pub(crate) lang: Language,
}

/// Each provider's circuit breaker, by name: one set per isolate (the worker keeps it in
/// isolate memory), so each isolate learns on its own that a provider is down.
#[derive(Debug, Default)]
pub(crate) struct Breakers(RefCell<HashMap<String, Breaker>>);

impl Breakers {
    pub(crate) fn allows(&self, name: &str, now: u64) -> bool {
        self.0.borrow().get(name).is_none_or(|br| br.allows(now))
    }

    pub(crate) fn observe(
        &self,
        name: &str,
        config: &BreakerConfig,
        observation: Observation,
        now: u64,
    ) {
        self.0
            .borrow_mut()
            .entry(name.to_owned())
            .or_default()
            .observe(observation, config, now);
    }

    /// Each provider's breaker state, for the Discord admin status.
    pub(crate) fn states(&self, s: &AiSettings, now: u64) -> Vec<(String, &'static str)> {
        let b = self.0.borrow();
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
        self.0.borrow_mut().clear();
    }
}

/// One provider's try.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Attempt {
    pub(crate) provider: String,
    /// `answered`, `circuit_open`, `no_api_key`, `timeout`, `transport`, `status_<n>`,
    /// `bad_answer`.
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

async fn ask(
    net: &impl Outbound,
    p: &Provider,
    key: &str,
    prompt: &Prompt,
) -> Result<completion::Answer, String> {
    let body = completion::request_body(&p.model, p.max_tokens, prompt).to_string();
    let auth = format!("Bearer {key}");
    let url = format!("{}/chat/completions", p.base_url);
    let answer = net
        .call(Call {
            method: Method::Post,
            url: &url,
            headers: &[("authorization", &auth), ("accept", "application/json")],
            body: Some(("application/json", body.into_bytes())),
            timeout_ms: p.timeout_ms,
            cap: MAX_RESPONSE_BYTES,
        })
        .await
        .map_err(|e| match e {
            CallError::Timeout => "timeout".to_owned(),
            CallError::Transport(_) => "transport".to_owned(),
        })?;
    if answer.status != 200 {
        return Err(format!("status_{}", answer.status));
    }
    completion::parse_response(&answer.body).map_err(|_| "bad_answer".to_owned())
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
        .any(|p| p.api_key.is_some() && io.breakers().allows(&p.name, started));
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
        let Some(api_key) = &p.api_key else {
            attempt("no_api_key");
            continue;
        };
        let t0 = io.clock().now_ms();
        if !io.breakers().allows(&p.name, t0) {
            attempt("circuit_open");
            continue;
        }
        match ask(io.net(), p, api_key, prompt).await {
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
            Err(outcome) => {
                io.breakers().observe(
                    &p.name,
                    &s.breaker,
                    Observation::Failed,
                    io.clock().now_ms(),
                );
                log::warn(&format!("ai provider {} failed: {outcome}", p.name));
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
}
