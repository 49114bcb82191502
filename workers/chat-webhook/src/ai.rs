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
use edge_core::routing::breaker::{Breaker, BreakerState, Observation};
use edge_glue::{now_ms, window_log};
use serde::Serialize;
use worker::{Env, Method, console_warn};

use crate::outbound::{self, CallError};
use crate::quota::QUOTA_BINDING;
use crate::settings::{AiSettings, Provider};

/// The KV namespace of cached answers.
const CACHE_BINDING: &str = "AI_CACHE";

/// Who asks: the channel and its user id (the quota's bucket), and their language.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asker<'a> {
    pub(crate) channel: Channel,
    pub(crate) user_id: &'a str,
    pub(crate) lang: Language,
}

thread_local! {
    static BREAKERS: RefCell<HashMap<String, Breaker>> = RefCell::new(HashMap::new());
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

async fn ask(p: &Provider, key: &str, prompt: &Prompt) -> Result<completion::Answer, String> {
    let body = completion::request_body(&p.model, p.max_tokens, prompt).to_string();
    let auth = format!("Bearer {key}");
    let url = format!("{}/chat/completions", p.base_url);
    let answer = outbound::call(
        Method::Post,
        &url,
        &[("authorization", &auth), ("accept", "application/json")],
        Some(body),
        p.timeout_ms,
        MAX_RESPONSE_BYTES,
    )
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

fn breaker_allows(name: &str, now: u64) -> bool {
    BREAKERS.with(|b| b.borrow().get(name).is_none_or(|br| br.allows(now)))
}

fn observe(name: &str, s: &AiSettings, observation: Observation, now: u64) {
    BREAKERS.with(|b| {
        b.borrow_mut()
            .entry(name.to_owned())
            .or_default()
            .observe(observation, &s.breaker, now);
    });
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

fn unpaid(text: String, source: &str, outcome: &str, started: u64) -> Reply {
    Reply {
        text,
        provider: source.to_owned(),
        model: None,
        tokens: None,
        latency_ms: now_ms() - started,
        attempts: vec![Attempt {
            provider: source.to_owned(),
            outcome: outcome.to_owned(),
        }],
    }
}

/// Looks `prompt` up in the cache, then charges `who`'s quota if a paid provider is about
/// to be called.
pub(crate) async fn start(
    env: &Env,
    s: &AiSettings,
    who: Asker<'_>,
    intent: Intent,
    prompt: &Prompt,
) -> Start {
    let started = now_ms();
    let key = completion::cache_key(who.channel, intent, prompt, &s.models());
    if let (Ok(kv), Some(k)) = (env.kv(CACHE_BINDING), &key)
        && let Ok(Some(text)) = kv.get(k).text().await
    {
        return Start::Cached(unpaid(text, "cache", "answered", started));
    }
    // Only a call that can reach a paid provider counts; with every provider skipped the
    // chain answers the static apology for free.
    let reachable = s
        .providers
        .iter()
        .any(|p| p.api_key.is_some() && breaker_allows(&p.name, started));
    if reachable {
        let bucket = quota::bucket(who.channel, who.user_id);
        match window_log::check(env, QUOTA_BINDING, &bucket, s.quota).await {
            Ok(d) if d.allowed => {}
            Ok(d) => {
                return Start::Refused(unpaid(
                    text::over_quota(who.lang, d.reset_s),
                    "quota",
                    "over_quota",
                    started,
                ));
            }
            Err(e) => {
                console_warn!("ai quota of {bucket} unavailable: {e}");
                return Start::Refused(unpaid(
                    text::apology(who.lang).to_owned(),
                    "quota",
                    "unavailable",
                    started,
                ));
            }
        }
    }
    Start::Ask(key)
}

/// Answers `prompt` for `who`: the cache, the quota, then the provider chain.
pub(crate) async fn reply(
    env: &Env,
    s: &AiSettings,
    who: Asker<'_>,
    intent: Intent,
    prompt: &Prompt,
) -> Reply {
    match start(env, s, who, intent, prompt).await {
        Start::Cached(r) | Start::Refused(r) => r,
        Start::Ask(key) => ask_chain(env, s, who.lang, key.as_deref(), prompt).await,
    }
}

/// Asks the providers in order (after [`start`] said so), caching the answer under `key`.
pub(crate) async fn ask_chain(
    env: &Env,
    s: &AiSettings,
    lang: Language,
    key: Option<&str>,
    prompt: &Prompt,
) -> Reply {
    let started = now_ms();
    let cache = env.kv(CACHE_BINDING).ok();
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
        let t0 = now_ms();
        if !breaker_allows(&p.name, t0) {
            attempt("circuit_open");
            continue;
        }
        match ask(p, api_key, prompt).await {
            Ok(answer) => {
                let done = now_ms();
                observe(
                    &p.name,
                    s,
                    Observation::Answered {
                        latency_ms: (done - t0) as f64,
                    },
                    done,
                );
                attempt("answered");
                if let (Some(kv), Some(k)) = (&cache, key) {
                    match kv.put(k, answer.text.as_str()) {
                        Ok(put) => {
                            if let Err(e) = put.expiration_ttl(s.cache_ttl_s).execute().await {
                                console_warn!("ai cache write failed: {e}");
                            }
                        }
                        Err(e) => console_warn!("ai cache write failed: {e}"),
                    }
                }
                return Reply {
                    text: answer.text,
                    provider: p.name.clone(),
                    model: Some(p.model.clone()),
                    tokens: answer.tokens,
                    latency_ms: done - started,
                    attempts,
                };
            }
            Err(outcome) => {
                observe(&p.name, s, Observation::Failed, now_ms());
                console_warn!("ai provider {} failed: {outcome}", p.name);
                attempt(&outcome);
            }
        }
    }
    Reply {
        text: text::apology(lang).to_owned(),
        provider: "static".to_owned(),
        model: None,
        tokens: None,
        latency_ms: now_ms() - started,
        attempts,
    }
}

/// Each provider's breaker state in this isolate, for the Discord admin status.
pub(crate) fn breaker_states(s: &AiSettings, now: u64) -> Vec<(String, &'static str)> {
    BREAKERS.with(|b| {
        let b = b.borrow();
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
    })
}

/// Closes every provider's breaker in this isolate.
pub(crate) fn reset_breakers() {
    BREAKERS.with(|b| b.borrow_mut().clear());
}
