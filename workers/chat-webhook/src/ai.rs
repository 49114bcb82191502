//! The AI provider chain: the KV cache (for answers that do not depend on history), then
//! the primary provider, then the fallback, each behind its own timeout and circuit
//! breaker, then a static apology. Breakers live in isolate memory: each isolate learns
//! on its own that a provider is down, with no shared write per request.

use std::cell::RefCell;
use std::collections::HashMap;

use edge_core::chat::completion::{self, MAX_RESPONSE_BYTES, Prompt};
use edge_core::chat::intent::{Intent, Language};
use edge_core::chat::text;
use edge_core::routing::breaker::{Breaker, BreakerState, Observation};
use edge_glue::now_ms;
use serde::Serialize;
use worker::{Env, Method, console_warn};

use crate::http::{self, CallError};
use crate::settings::{AiSettings, Provider};

/// The KV namespace of cached answers.
const CACHE_BINDING: &str = "AI_CACHE";

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
    let answer = http::call(
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

/// Answers `message` (whose intent and language are known) with `prompt`.
pub(crate) async fn reply(
    env: &Env,
    s: &AiSettings,
    lang: Language,
    intent: Intent,
    message: &str,
    prompt: &Prompt,
) -> Reply {
    let started = now_ms();
    let cache = env.kv(CACHE_BINDING).ok();
    let key = completion::cache_key(lang, intent, message);
    if let (Some(kv), Some(k)) = (&cache, &key)
        && let Ok(Some(text)) = kv.get(k).text().await
    {
        return Reply {
            text,
            provider: "cache".to_owned(),
            model: None,
            tokens: None,
            latency_ms: now_ms() - started,
            attempts: vec![Attempt {
                provider: "cache".to_owned(),
                outcome: "answered".to_owned(),
            }],
        };
    }
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
                if let (Some(kv), Some(k)) = (&cache, &key) {
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
