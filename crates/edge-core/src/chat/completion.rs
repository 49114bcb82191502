//! OpenAI-compatible chat completions (DeepSeek, OpenRouter): the request a provider gets,
//! the answer we accept from it, and when an answer may be cached.
//!
//! The prompt carries the user's language and preferences and, for intents that depend on
//! the conversation, its last messages. An answer may be cached only when nothing about the
//! user shaped it: a greeting or help request, no history, no preferences. Its key is a
//! SHA-256 of everything that did shape it — the channel, every field of the prompt and the
//! provider chain's settings (names, URLs, models, token limits, temperature) — so two
//! requests share an answer only when the providers would have been asked the same thing.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::intent::{Intent, Language};
use super::preferences::MAX_PREFERENCES;
use crate::error::HttpError;

/// Longest answer accepted from a provider, in characters.
pub const MAX_ANSWER_CHARS: usize = 20_000;
/// Largest provider response body read, bytes.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Who said a message in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The customer.
    User,
    /// The bot.
    Assistant,
}

/// The sampling temperature every request uses.
pub const TEMPERATURE: f64 = 0.7;

/// Where a message came from. Each channel has its own answer-cache namespace (and its
/// own quota buckets), so no answer made for one channel is served on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The LINE Messaging API bot.
    Line,
    /// The Discord interactions bot.
    Discord,
    /// The browser support chat.
    Web,
}

impl Channel {
    /// The channel's name in keys and logs.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Line => "line",
            Self::Discord => "discord",
            Self::Web => "web",
        }
    }
}

/// What one provider is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The system message.
    pub system: String,
    /// Earlier messages, oldest first.
    pub history: Vec<(Role, String)>,
    /// The message to answer.
    pub user: String,
    /// Whether the system message carries the customer's own preferences (such a prompt
    /// is never cached: its answer is theirs alone).
    pub personalised: bool,
}

impl Prompt {
    /// The prompt for `user` (trimmed: surrounding whitespace shapes nothing) from a customer
    /// with `preferences` (empty for none), in `lang`. Callers may append to `system` (a
    /// catalog, an instruction); the cache key covers it.
    #[must_use]
    pub fn new(
        lang: Language,
        preferences: &[String],
        history: Vec<(Role, String)>,
        user: &str,
    ) -> Self {
        let prefs = effective_preferences(preferences);
        Self {
            system: system_prompt(lang, &prefs),
            history,
            user: user.trim().to_owned(),
            personalised: !prefs.is_empty(),
        }
    }
}

/// The settings of one provider that shape its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec<'a> {
    /// The provider's name.
    pub provider: &'a str,
    /// Its base URL.
    pub base_url: &'a str,
    /// The model asked.
    pub model: &'a str,
    /// The answer's token limit.
    pub max_tokens: u32,
}

/// Whether answering `intent` needs the conversation so far.
#[must_use]
pub const fn uses_history(intent: Intent) -> bool {
    !matches!(intent, Intent::Greeting | Intent::Help)
}

/// The preferences that reach the prompt: trimmed, non-empty, at most [`MAX_PREFERENCES`].
fn effective_preferences(preferences: &[String]) -> Vec<&str> {
    preferences
        .iter()
        .take(MAX_PREFERENCES)
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The system prompt for a customer with (effective) `prefs`.
fn system_prompt(lang: Language, prefs: &[&str]) -> String {
    let language = match lang {
        Language::Th => "Thai",
        Language::En => "English",
    };
    let mut s = format!(
        "You are the customer assistant of a shop on LINE. Answer in {language}, \
         friendly and concise (a few short paragraphs at most). For health questions give \
         general information only and recommend seeing a doctor for anything serious. \
         Never invent prices or stock; say you will check when unsure."
    );
    if !prefs.is_empty() {
        s.push_str(" The customer is interested in: ");
        s.push_str(&prefs.join(", "));
        s.push('.');
    }
    s
}

/// The chat-completions request body.
#[must_use]
pub fn request_body(model: &str, max_tokens: u32, prompt: &Prompt) -> Value {
    let mut messages = vec![json!({"role": "system", "content": prompt.system})];
    for (role, content) in &prompt.history {
        messages.push(json!({"role": role, "content": content}));
    }
    messages.push(json!({"role": "user", "content": prompt.user}));
    json!({
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": TEMPERATURE,
        "stream": false
    })
}

/// A provider's usable answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The text.
    pub text: String,
    /// `usage.total_tokens`, when reported.
    pub tokens: Option<u64>,
}

/// Why a provider's response was not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompletionError {
    /// Not JSON, or no `choices[0].message.content` string.
    #[error("provider answer has no message content")]
    Malformed,
    /// The content is empty or whitespace.
    #[error("provider answer is empty")]
    Empty,
    /// Longer than [`MAX_ANSWER_CHARS`].
    #[error("provider answer is too long")]
    TooLong,
}

impl HttpError for CompletionError {
    fn status(&self) -> u16 {
        502
    }

    fn code(&self) -> &'static str {
        "bad_provider_answer"
    }
}

/// Reads a chat-completions response body.
///
/// # Errors
/// [`CompletionError`] when it carries no usable text.
pub fn parse_response(body: &[u8]) -> Result<Answer, CompletionError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| CompletionError::Malformed)?;
    let text = v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or(CompletionError::Malformed)?
        .trim();
    if text.is_empty() {
        return Err(CompletionError::Empty);
    }
    if text.chars().count() > MAX_ANSWER_CHARS {
        return Err(CompletionError::TooLong);
    }
    Ok(Answer {
        text: text.to_owned(),
        tokens: v.pointer("/usage/total_tokens").and_then(Value::as_u64),
    })
}

/// The answer-cache key of `prompt` on `channel` with the provider chain `models`, or
/// `None` when the answer must not be shared: the intent depends on the conversation, the
/// prompt carries history, or it is personalised.
///
/// The key is `ai:v2:<channel>:<sha256>`, the digest taken over a length-prefixed encoding
/// of the channel, the temperature, every provider's settings in chain order, the system
/// message, every history message and the user's message, so no two different prompts
/// (or chains) can share a key, and the channel is a namespace of its own.
#[must_use]
pub fn cache_key(
    channel: Channel,
    intent: Intent,
    prompt: &Prompt,
    models: &[ModelSpec<'_>],
) -> Option<String> {
    if uses_history(intent) || prompt.personalised || !prompt.history.is_empty() {
        return None;
    }
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(b"ai-answer-v2");
    field(channel.as_str().as_bytes());
    field(&TEMPERATURE.to_be_bytes());
    field(&(models.len() as u64).to_be_bytes());
    for m in models {
        field(m.provider.as_bytes());
        field(m.base_url.as_bytes());
        field(m.model.as_bytes());
        field(&m.max_tokens.to_be_bytes());
    }
    field(prompt.system.as_bytes());
    field(&(prompt.history.len() as u64).to_be_bytes());
    for (role, text) in &prompt.history {
        field(match role {
            Role::User => b"user",
            Role::Assistant => b"assistant",
        });
        field(text.as_bytes());
    }
    field(prompt.user.as_bytes());
    Some(format!(
        "ai:v2:{}:{}",
        channel.as_str(),
        crate::hex::encode(&h.finalize())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_system_history_and_message() {
        let p = Prompt::new(
            Language::Th,
            &["vitamins".into(), " ".into()],
            vec![(Role::User, "hi".into()), (Role::Assistant, "hello".into())],
            "ราคาเท่าไหร่",
        );
        assert!(p.system.contains("Thai") && p.system.contains("vitamins."));
        assert!(p.personalised);
        assert!(!Prompt::new(Language::Th, &[" ".into()], Vec::new(), "x").personalised);
        let body = request_body("deepseek-chat", 512, &p);
        assert_eq!(body["model"], "deepseek-chat");
        assert_eq!(body["max_tokens"], 512);
        let roles: Vec<_> = body["messages"]
            .as_array()
            .expect("array")
            .iter()
            .map(|m| m["role"].clone())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(body["messages"][3]["content"], "ราคาเท่าไหร่");
    }

    #[test]
    fn answers_must_have_text() {
        let ok = br#"{"choices":[{"message":{"role":"assistant","content":" Hi! "}}],"usage":{"total_tokens":42}}"#;
        assert_eq!(
            parse_response(ok),
            Ok(Answer {
                text: "Hi!".into(),
                tokens: Some(42)
            })
        );
        assert_eq!(
            parse_response(br#"{"choices":[]}"#),
            Err(CompletionError::Malformed)
        );
        assert_eq!(parse_response(b"<html>"), Err(CompletionError::Malformed));
        assert_eq!(
            parse_response(br#"{"choices":[{"message":{"content":"  "}}]}"#),
            Err(CompletionError::Empty)
        );
        let long = serde_json::to_vec(
            &json!({"choices":[{"message":{"content": "a".repeat(MAX_ANSWER_CHARS + 1)}}]}),
        )
        .expect("ser");
        assert_eq!(parse_response(&long), Err(CompletionError::TooLong));
    }

    const CHAIN: [ModelSpec<'static>; 2] = [
        ModelSpec {
            provider: "deepseek",
            base_url: "https://api.deepseek.com",
            model: "deepseek-chat",
            max_tokens: 800,
        },
        ModelSpec {
            provider: "openrouter",
            base_url: "https://openrouter.ai/api/v1",
            model: "deepseek/deepseek-chat",
            max_tokens: 800,
        },
    ];

    fn hello(prefs: &[String]) -> Prompt {
        Prompt::new(Language::En, prefs, Vec::new(), "hello")
    }

    #[test]
    fn item_13_1_personalised_prompts_are_never_cached() {
        let a = hello(&["diabetes".into()]);
        assert_eq!(cache_key(Channel::Line, Intent::Greeting, &a, &CHAIN), None);
        assert_eq!(cache_key(Channel::Discord, Intent::Help, &a, &CHAIN), None);
        // A customer without preferences may share a greeting's answer.
        assert!(cache_key(Channel::Line, Intent::Greeting, &hello(&[]), &CHAIN).is_some());
        // Blank preferences do not reach the prompt, so they do not personalise it.
        assert_eq!(
            cache_key(
                Channel::Line,
                Intent::Greeting,
                &hello(&[" ".into()]),
                &CHAIN
            ),
            cache_key(Channel::Line, Intent::Greeting, &hello(&[]), &CHAIN)
        );
    }

    #[test]
    fn item_13_1_history_or_conversational_intents_are_never_cached() {
        let plain = hello(&[]);
        assert_eq!(
            cache_key(Channel::Line, Intent::Product, &plain, &CHAIN),
            None
        );
        assert_eq!(
            cache_key(Channel::Line, Intent::General, &plain, &CHAIN),
            None
        );
        let mut with_history = plain;
        with_history.history.push((Role::User, "hi".into()));
        assert_eq!(
            cache_key(Channel::Line, Intent::Greeting, &with_history, &CHAIN),
            None
        );
    }

    #[test]
    fn item_13_1_the_key_covers_channel_prompt_and_provider_settings() {
        let base = hello(&[]);
        let key = |channel, prompt: &Prompt, chain: &[ModelSpec<'_>]| {
            cache_key(channel, Intent::Greeting, prompt, chain).expect("cacheable")
        };
        let k = key(Channel::Line, &base, &CHAIN);
        assert!(k.starts_with("ai:v2:line:") && k.len() == "ai:v2:line:".len() + 64);
        assert_eq!(k, key(Channel::Line, &base.clone(), &CHAIN), "stable");
        // Each channel is its own namespace.
        let d = key(Channel::Discord, &base, &CHAIN);
        assert!(d.starts_with("ai:v2:discord:"));
        assert_ne!(d[14..], k[11..], "different digests, not just prefixes");
        assert_ne!(key(Channel::Web, &base, &CHAIN), k);
        // Every part of the prompt.
        let mut system = base.clone();
        system.system.push_str(" Be brief.");
        let mut user = base.clone();
        user.user = "Hello".into();
        assert_eq!(
            key(
                Channel::Line,
                &Prompt::new(Language::En, &[], Vec::new(), "  hello \n"),
                &CHAIN
            ),
            k,
            "the prompt carries the trimmed text"
        );
        let thai = Prompt::new(Language::Th, &[], Vec::new(), "hello");
        for other in [&system, &user, &thai] {
            assert_ne!(key(Channel::Line, other, &CHAIN), k);
        }
        // Every provider setting, and the chain's order.
        let mut variants = Vec::new();
        for i in 0..4 {
            let mut c = CHAIN;
            match i {
                0 => c[0].provider = "other",
                1 => c[0].base_url = "https://example.test",
                2 => c[1].model = "gpt",
                _ => c[1].max_tokens = 801,
            }
            variants.push(c.to_vec());
        }
        variants.push(vec![CHAIN[1], CHAIN[0]]);
        variants.push(vec![CHAIN[0]]);
        for chain in &variants {
            assert_ne!(key(Channel::Line, &base, chain), k, "{chain:?}");
        }
        // Field boundaries are unambiguous: moving text between fields changes the key.
        let mut a = base.clone();
        a.system = "ab".into();
        a.user = "c".into();
        let mut b = base;
        b.system = "a".into();
        b.user = "bc".into();
        assert_ne!(
            key(Channel::Line, &a, &CHAIN),
            key(Channel::Line, &b, &CHAIN)
        );
    }
}
