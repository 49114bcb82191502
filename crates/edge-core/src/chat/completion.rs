//! OpenAI-compatible chat completions (DeepSeek, OpenRouter): the request a provider gets,
//! the answer we accept from it, and when an answer may be cached.
//!
//! The prompt carries the user's language and preferences and, for intents that depend on
//! the conversation, its last messages. Greetings and help requests are answered without
//! history, so their answers depend only on (language, intent, text) and are cacheable
//! under a SHA-256 of exactly that.

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

/// What one provider is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The system message.
    pub system: String,
    /// Earlier messages, oldest first.
    pub history: Vec<(Role, String)>,
    /// The message to answer.
    pub user: String,
}

/// Whether answering `intent` needs the conversation so far.
#[must_use]
pub const fn uses_history(intent: Intent) -> bool {
    !matches!(intent, Intent::Greeting | Intent::Help)
}

/// The system prompt for a customer.
#[must_use]
pub fn system_prompt(lang: Language, preferences: &[String]) -> String {
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
    let prefs: Vec<&str> = preferences
        .iter()
        .take(MAX_PREFERENCES)
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect();
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
        "temperature": 0.7,
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

/// The cache key of an answer that depends only on (language, intent, text), or `None`
/// when the answer depends on history. Text is compared trimmed, lowercased, with runs of
/// whitespace as one space.
#[must_use]
pub fn cache_key(lang: Language, intent: Intent, text: &str) -> Option<String> {
    if uses_history(intent) {
        return None;
    }
    let normalized = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let digest = Sha256::digest(format!(
        "v1\n{}\n{}\n{normalized}",
        lang.as_str(),
        intent.as_str()
    ));
    Some(format!("ai:v1:{}", crate::hex::encode(&digest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_system_history_and_message() {
        let p = Prompt {
            system: system_prompt(Language::Th, &["vitamins".into(), " ".into()]),
            history: vec![(Role::User, "hi".into()), (Role::Assistant, "hello".into())],
            user: "ราคาเท่าไหร่".into(),
        };
        assert!(p.system.contains("Thai") && p.system.contains("vitamins."));
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

    #[test]
    fn only_history_free_answers_are_cached_and_keys_normalize() {
        assert_eq!(cache_key(Language::En, Intent::Product, "price?"), None);
        assert_eq!(cache_key(Language::En, Intent::General, "x"), None);
        let a = cache_key(Language::En, Intent::Greeting, "Hello  there").expect("cacheable");
        assert_eq!(
            cache_key(Language::En, Intent::Greeting, " hello there "),
            Some(a.clone())
        );
        assert_ne!(
            cache_key(Language::Th, Intent::Greeting, "hello there"),
            Some(a.clone())
        );
        assert_ne!(
            cache_key(Language::En, Intent::Help, "hello there"),
            Some(a.clone())
        );
        assert!(a.starts_with("ai:v1:") && a.len() == 6 + 64);
    }
}
