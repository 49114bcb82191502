//! OpenAI-compatible streaming chat completions: the request (`"stream": true`), reading
//! the answer as it arrives ([`StreamReader`]: server-sent events, each `data:` a chunk with
//! a delta, a finish reason, usage, or an error object, until `[DONE]`), and the
//! [`Splice`] that lets a fallback provider take over a half-streamed answer without the
//! user seeing any text twice.
//!
//! A provider that ignores `stream` and answers one JSON completion (some do) is read as
//! one delta at the end of its body.
//!
//! Failover mid-stream: the user already saw the primary's first words. The fallback is
//! asked to continue them ([`continuation_prompt`]: the partial answer is in the system
//! message) and its output goes through the [`Splice`]: while it is a prefix of what was
//! shown (whitespace runs compare equal, leading whitespace ignored) it is held back; once
//! it runs past the shown text, only the new part is let through; once it differs, it is
//! a continuation and all of it is let through, except a first part that restates the end
//! of the shown text (from a word start, at least [`MIN_RESTATED_CHARS`] characters, as
//! models often pick up the last sentence again), which is dropped. So a fallback that
//! starts over from the beginning repeats nothing, one that picks up the last words repeats
//! nothing, and one that continues loses nothing.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::completion::{self, MAX_RESPONSE_BYTES, Prompt};
use super::sse::{SseError, SseEvent, SseParser};
use super::tools::{self, CallAccumulator, CallDelta, ToolCall};

/// Largest server-sent event accepted from a provider, bytes (a chunk is a few hundred).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Most bytes read from one provider's stream (chunks carry ~150 bytes of JSON around each
/// delta of a few characters, so this is well above a
/// [`MAX_ANSWER_CHARS`](completion::MAX_ANSWER_CHARS) answer).
pub const MAX_STREAM_BYTES: usize = 4 * 1024 * 1024;
/// Longest provider error message kept (for the log), characters.
const MAX_ERROR_CHARS: usize = 200;

/// The streaming chat-completions request body: [`completion::request_body`] with
/// `"stream": true` and usage reported in the last chunk.
#[must_use]
pub fn request_body(model: &str, max_tokens: u32, prompt: &Prompt) -> Value {
    let mut body = completion::request_body(model, max_tokens, prompt);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    body
}

/// The prompt that asks a provider to continue an answer cut off after `shown` (the prompt
/// itself when nothing was shown), for either protocol. The partial answer goes in the
/// system message, so the last message is still the user's (providers differ on a trailing
/// assistant message).
#[must_use]
pub fn continuation_prompt<'p>(prompt: &'p Prompt, shown: &str) -> Cow<'p, Prompt> {
    if shown.is_empty() {
        return Cow::Borrowed(prompt);
    }
    let mut p = prompt.clone();
    p.system.push_str(
        "\n\nYour answer to the customer's last message was cut off. They already see \
         this beginning of it, between the markers:\n<<<\n",
    );
    p.system.push_str(shown);
    p.system.push_str(
        "\n>>>\nReply with only the rest of that answer, starting exactly where it stops. \
         Do not repeat any of it.",
    );
    Cow::Owned(p)
}

/// The streaming request that asks an OpenAI-compatible provider to continue an answer cut
/// off after `shown` ([`continuation_prompt`]; the plain streaming body when nothing was
/// shown).
#[must_use]
pub fn continuation_body(model: &str, max_tokens: u32, prompt: &Prompt, shown: &str) -> Value {
    request_body(model, max_tokens, &continuation_prompt(prompt, shown))
}

/// What one `data:` payload of a stream says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `[DONE]`: the stream is over.
    Done,
    /// A chunk: some text (maybe empty), maybe the finish reason, maybe the usage.
    Chunk {
        /// `choices[0].delta.content` (empty when absent or null).
        text: String,
        /// `choices[0].finish_reason`, once the answer is complete.
        finish_reason: Option<String>,
        /// `usage.total_tokens`, when reported.
        tokens: Option<u64>,
        /// Pieces of tool calls (`choices[0].delta.tool_calls`).
        calls: Vec<CallDelta>,
    },
    /// An error object in the stream (`{"error": ...}`, or an `error` event): the provider
    /// gave up mid-answer. Its message, shortened.
    Error(String),
}

/// Why a stream could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// A chunk that is not a chat-completion chunk.
    #[error("malformed stream chunk")]
    Malformed,
    /// The provider reported an error in the stream.
    #[error("provider error in stream: {0}")]
    Provider(String),
    /// The stream ended before `[DONE]` or a finish reason.
    #[error("stream ended early")]
    Truncated,
    /// An event or the whole stream was too large.
    #[error("stream too large")]
    TooLarge,
    /// A plain JSON answer without usable text.
    #[error("unusable answer")]
    BadAnswer,
}

impl StreamError {
    /// The outcome recorded for the provider's attempt.
    #[must_use]
    pub const fn outcome(&self) -> &'static str {
        match self {
            Self::Malformed => "bad_chunk",
            Self::Provider(_) => "stream_error",
            Self::Truncated => "truncated",
            Self::TooLarge => "too_large",
            Self::BadAnswer => "bad_answer",
        }
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(MAX_ERROR_CHARS).collect()
}

/// Reads one event of a provider's stream.
///
/// # Errors
/// [`StreamError::Malformed`] when the data is neither `[DONE]`, an error, nor a chunk
/// (a JSON object with a `choices` array or a `usage` object).
pub fn parse_event(event: &SseEvent) -> Result<Payload, StreamError> {
    let data = event.data.trim();
    let parsed: Option<Value> = serde_json::from_str(data).ok();
    let error_message = |v: &Value| {
        v.pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("message"))
            .and_then(Value::as_str)
            .map_or_else(|| "unknown error".to_owned(), shorten)
    };
    if event.event.as_deref() == Some("error") {
        return Ok(Payload::Error(
            parsed.as_ref().map_or_else(|| shorten(data), error_message),
        ));
    }
    if data == "[DONE]" {
        return Ok(Payload::Done);
    }
    let v = parsed.ok_or(StreamError::Malformed)?;
    if v.get("error").is_some_and(|e| !e.is_null()) {
        return Ok(Payload::Error(error_message(&v)));
    }
    let choices = v.get("choices").and_then(Value::as_array);
    let usage = v.get("usage").filter(|u| u.is_object());
    if choices.is_none() && usage.is_none() {
        return Err(StreamError::Malformed);
    }
    let first = choices.and_then(|c| c.first());
    let text = match first.and_then(|c| c.pointer("/delta/content")) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(StreamError::Malformed),
    };
    Ok(Payload::Chunk {
        text,
        finish_reason: first
            .and_then(|c| c.get("finish_reason"))
            .and_then(Value::as_str)
            .map(shorten),
        tokens: usage
            .and_then(|u| u.get("total_tokens"))
            .and_then(Value::as_u64),
        calls: tools::deltas_of(first)?,
    })
}

/// How a stream that was read to its end ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ended {
    /// Text known only at the end: the whole answer of a provider that answered plain JSON.
    pub tail: String,
    /// `usage.total_tokens`, when reported.
    pub tokens: Option<u64>,
    /// The finish reason (`stop`, `length`, `tool_calls`, ...), when given.
    pub finish_reason: Option<String>,
    /// The tools the model called (streamed pieces put together, or a JSON answer's), in
    /// order.
    pub tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Clone)]
enum Mode {
    /// No non-whitespace byte yet (and the content type did not say JSON).
    Unknown(Vec<u8>),
    Sse(SseParser),
    /// A plain JSON completion, buffered until the end.
    Json(Vec<u8>),
}

impl Default for StreamReader {
    fn default() -> Self {
        Self::new()
    }
}

/// One `push` of a stream reader that stays failed once it failed (`failed`): nothing after
/// its end (`done`); the texts `read` completed from the chunk, or its error when it
/// completed none (the error then comes on the next call), and the failure to keep.
pub(crate) fn read_chunk(
    failed: Option<StreamError>,
    done: bool,
    read: impl FnOnce(&mut Vec<String>) -> Result<(), StreamError>,
) -> (Result<Vec<String>, StreamError>, Option<StreamError>) {
    if let Some(e) = failed {
        return (Err(e.clone()), Some(e));
    }
    if done {
        return (Ok(Vec::new()), None);
    }
    let mut texts = Vec::new();
    match read(&mut texts) {
        Ok(()) => (Ok(texts), None),
        Err(e) if texts.is_empty() => (Err(e.clone()), Some(e)),
        Err(e) => (Ok(texts), Some(e)),
    }
}

/// Reads one provider's streamed answer, chunk by chunk (sans-IO: the worker feeds it the
/// body's chunks as they arrive and forwards the texts it returns). The body is taken for
/// a plain JSON completion when its first non-blank byte is `{` (an event stream cannot
/// start so), else for server-sent events, whatever its content type says.
#[derive(Debug, Clone)]
pub struct StreamReader {
    mode: Mode,
    bytes: usize,
    done: bool,
    finish_reason: Option<String>,
    tokens: Option<u64>,
    calls: CallAccumulator,
    failed: Option<StreamError>,
}

impl StreamReader {
    /// A reader for a new body.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            mode: Mode::Unknown(Vec::new()),
            bytes: 0,
            done: false,
            finish_reason: None,
            tokens: None,
            calls: CallAccumulator::new(),
            failed: None,
        }
    }

    /// Whether there is nothing more to read: `[DONE]` came (nothing after it matters), or
    /// the stream failed ([`finish`](Self::finish) says how).
    #[must_use]
    pub const fn is_done(&self) -> bool {
        self.done || self.failed.is_some()
    }

    /// Feeds the next chunk of the body; the texts it completed, in order.
    ///
    /// # Errors
    /// [`StreamError`] when the stream cannot be used any more (it stays failed). The texts
    /// completed before the failure in the same chunk are returned first, the error on the
    /// next call (or by [`finish`](Self::finish)), so however the body is cut the same texts
    /// come before the same error.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, StreamError> {
        let done = self.done;
        let failed = self.failed.take();
        let (texts, failed) = read_chunk(failed, done, |texts| self.read(chunk, texts));
        self.failed = failed;
        texts
    }

    fn read(&mut self, chunk: &[u8], texts: &mut Vec<String>) -> Result<(), StreamError> {
        self.bytes = self.bytes.saturating_add(chunk.len());
        let cap = match self.mode {
            Mode::Json(_) => MAX_RESPONSE_BYTES,
            _ => MAX_STREAM_BYTES,
        };
        if self.bytes > cap {
            return Err(StreamError::TooLarge);
        }
        let events = match &mut self.mode {
            Mode::Json(buf) => {
                buf.extend_from_slice(chunk);
                return Ok(());
            }
            Mode::Sse(p) => p.push(chunk),
            Mode::Unknown(buf) => {
                buf.extend_from_slice(chunk);
                let Some(&first) = buf.iter().find(|b| !b.is_ascii_whitespace()) else {
                    return Ok(());
                };
                let seen = std::mem::take(buf);
                if first == b'{' {
                    self.mode = Mode::Json(seen);
                    return Ok(());
                }
                let mut p = SseParser::new(MAX_EVENT_BYTES);
                let events = p.push(&seen);
                self.mode = Mode::Sse(p);
                events
            }
        }
        .map_err(|SseError::EventTooLarge(_)| StreamError::TooLarge)?;
        for e in &events {
            match parse_event(e)? {
                Payload::Done => {
                    self.done = true;
                    break;
                }
                Payload::Error(m) => return Err(StreamError::Provider(m)),
                Payload::Chunk {
                    text,
                    finish_reason,
                    tokens,
                    calls,
                } => {
                    for c in &calls {
                        self.calls.push(c)?;
                    }
                    if !text.is_empty() {
                        texts.push(text);
                    }
                    self.finish_reason = finish_reason.or(self.finish_reason.take());
                    self.tokens = tokens.or(self.tokens);
                }
            }
        }
        Ok(())
    }

    /// Ends the stream at the end of the body (or after `[DONE]`).
    ///
    /// # Errors
    /// The error the stream failed with; [`StreamError::Truncated`] when it ended with
    /// neither `[DONE]` nor a finish reason; [`StreamError::BadAnswer`] for a JSON answer
    /// without usable text.
    pub fn finish(self) -> Result<Ended, StreamError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        match self.mode {
            Mode::Json(body) => {
                let v: Value = serde_json::from_slice(&body).map_err(|_| StreamError::BadAnswer)?;
                if v.get("error").is_some_and(|e| !e.is_null()) {
                    return Err(StreamError::Provider(
                        v.pointer("/error/message")
                            .and_then(Value::as_str)
                            .map_or_else(|| "unknown error".to_owned(), shorten),
                    ));
                }
                let tool_calls = tools::calls_of_message(&v)?;
                let finish_reason = v
                    .pointer("/choices/0/finish_reason")
                    .and_then(Value::as_str)
                    .map(shorten);
                if !tool_calls.is_empty() {
                    // Text beside calls is optional (often null).
                    let tail = match v.pointer("/choices/0/message/content") {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::String(s)) => s.trim().to_owned(),
                        Some(_) => return Err(StreamError::BadAnswer),
                    };
                    if tail.chars().count() > completion::MAX_ANSWER_CHARS {
                        return Err(StreamError::BadAnswer);
                    }
                    return Ok(Ended {
                        tail,
                        tokens: v.pointer("/usage/total_tokens").and_then(Value::as_u64),
                        finish_reason,
                        tool_calls,
                    });
                }
                let answer =
                    completion::parse_response(&body).map_err(|_| StreamError::BadAnswer)?;
                Ok(Ended {
                    tail: answer.text,
                    tokens: answer.tokens,
                    finish_reason,
                    tool_calls,
                })
            }
            Mode::Sse(_) | Mode::Unknown(_) if self.done || self.finish_reason.is_some() => {
                Ok(Ended {
                    tail: String::new(),
                    tokens: self.tokens,
                    finish_reason: self.finish_reason,
                    tool_calls: self.calls.finish(),
                })
            }
            Mode::Sse(_) | Mode::Unknown(_) => Err(StreamError::Truncated),
        }
    }
}

/// How a provider's output compares with the text already shown.
enum Overlap {
    /// It repeats all of the shown text; the new part starts at this byte offset.
    Repeats(usize),
    /// It is (so far) a prefix of the shown text: it may yet repeat it.
    Prefix,
    /// It differs: it is new text.
    Differs,
}

/// Compares `out` with the start of `shown`, whitespace runs equal to one another, from
/// byte offsets `from` (a point both matched up to; `(0, 0)` at first). Also returns the
/// furthest such point, so that a caller whose `out` only grows resumes there instead of
/// comparing from the start each time (linear, not quadratic, over a whole repeat).
fn overlap(shown: &str, out: &str, from: (usize, usize)) -> (Overlap, (usize, usize)) {
    let ws_run = |t: &str| t.find(|c: char| !c.is_whitespace()).unwrap_or(t.len());
    let (mut i, mut j) = from;
    let mut matched = from;
    loop {
        match (shown[i..].chars().next(), out[j..].chars().next()) {
            (None, _) => return (Overlap::Repeats(j), matched),
            (Some(_), None) => return (Overlap::Prefix, matched),
            (Some(x), Some(y)) if x.is_whitespace() && y.is_whitespace() => {
                // Not a resume point: more whitespace may come in `out`.
                i += ws_run(&shown[i..]);
                j += ws_run(&out[j..]);
            }
            (Some(x), Some(y)) if x == y => {
                i += x.len_utf8();
                j += y.len_utf8();
                matched = (i, j);
            }
            _ => return (Overlap::Differs, matched),
        }
    }
}

/// Shortest end of the shown text a continuation may restate and have dropped, characters
/// (shorter ones are too likely to be a real continuation: "a", "the").
pub const MIN_RESTATED_CHARS: usize = 8;
/// How far back from the end of the shown text a restated part may start, characters.
const RESTATE_WINDOW_CHARS: usize = 240;

/// Whether a continuation starts by restating the end of the shown text.
enum Tail {
    /// It does: drop this many bytes of it.
    Restates(usize),
    /// It may yet (it is a prefix of such an end).
    Maybe,
    No,
}

/// Looks for the longest end of `shown` that starts at a word, is at least
/// [`MIN_RESTATED_CHARS`] long, lies within the last [`RESTATE_WINDOW_CHARS`], and that
/// `out` starts with.
fn restated_tail(shown: &str, out: &str) -> Tail {
    let window = shown
        .char_indices()
        .rev()
        .nth(RESTATE_WINDOW_CHARS - 1)
        .map_or(0, |(i, _)| i);
    let mut maybe = false;
    let mut prev_space = window == 0 || shown[..window].ends_with(char::is_whitespace);
    for (i, c) in shown[window..].char_indices() {
        let word_start = prev_space && !c.is_whitespace();
        prev_space = c.is_whitespace();
        if !word_start {
            continue;
        }
        let tail = &shown[window + i..];
        if tail.chars().count() < MIN_RESTATED_CHARS {
            break;
        }
        if out.starts_with(tail) {
            return Tail::Restates(tail.len());
        }
        maybe |= tail.starts_with(out);
    }
    if maybe { Tail::Maybe } else { Tail::No }
}

/// The text shown to the user over a chain of providers; see the module docs.
#[derive(Debug, Clone)]
pub struct Splice {
    shown: String,
    shown_chars: usize,
    max_chars: usize,
    /// The current provider's output held back while it may repeat `shown`.
    held: String,
    matching: bool,
    /// How far the held text (after its leading whitespace) and the shown text matched.
    matched: (usize, usize),
}

impl Splice {
    /// A splice showing at most `max_chars` characters.
    #[must_use]
    pub const fn new(max_chars: usize) -> Self {
        Self {
            shown: String::new(),
            shown_chars: 0,
            max_chars,
            held: String::new(),
            matching: true,
            matched: (0, 0),
        }
    }

    /// Everything shown so far.
    #[must_use]
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Whether the answer reached its length limit (nothing more will be shown).
    #[must_use]
    pub const fn is_full(&self) -> bool {
        self.shown_chars >= self.max_chars
    }

    /// The next provider takes over: whatever the last one held back is dropped (it was
    /// never shown), and its output is compared with the shown text again.
    pub fn restart(&mut self) {
        self.held.clear();
        self.matching = true;
        self.matched = (0, 0);
    }

    /// The current provider said `text`; what to show now (maybe nothing).
    pub fn push(&mut self, text: &str) -> String {
        if !self.matching {
            return self.show(text);
        }
        self.held.push_str(text);
        let trimmed = self.held.trim_start();
        if trimmed.is_empty() {
            return String::new();
        }
        let lead = self.held.len() - trimmed.len();
        let (overlap, matched) = overlap(&self.shown, trimmed, self.matched);
        self.matched = matched;
        let new = match overlap {
            Overlap::Prefix => return String::new(),
            // Leading whitespace is dropped from the answer's start and from a repeat.
            Overlap::Repeats(at) => lead + at,
            Overlap::Differs => match restated_tail(&self.shown, trimmed) {
                Tail::Restates(n) => lead + n,
                Tail::Maybe => return String::new(),
                Tail::No => 0,
            },
        };
        self.matching = false;
        let held = std::mem::take(&mut self.held);
        self.show(&held[new..])
    }

    /// Appends `text` (cut to the length limit) to the shown text and returns it.
    fn show(&mut self, text: &str) -> String {
        let room = self.max_chars.saturating_sub(self.shown_chars);
        let cut = text.char_indices().nth(room).map_or(text.len(), |(i, _)| i);
        let text = &text[..cut];
        self.shown_chars += text.chars().count();
        self.shown.push_str(text);
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::chat::intent::Language;

    fn data(d: &str) -> SseEvent {
        SseEvent {
            data: d.to_owned(),
            ..SseEvent::default()
        }
    }

    fn chunk(text: &str) -> String {
        format!(
            "data: {}\n\n",
            json!({"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":text},"finish_reason":null}]})
        )
    }

    const END: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"total_tokens\":9}}\n\ndata: [DONE]\n\n";

    #[test]
    fn the_request_asks_for_a_stream_with_usage() {
        let p = Prompt::new(Language::En, &[], Vec::new(), "hi");
        let body = request_body("m", 100, &p);
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["messages"][1]["content"], "hi");
        assert_eq!(continuation_body("m", 100, &p, ""), body);
        let cont = continuation_body("m", 100, &p, "Our shop opens");
        let system = cont["messages"][0]["content"].as_str().expect("system");
        assert!(system.starts_with(&p.system) && system.contains("<<<\nOur shop opens\n>>>"));
        let last = &cont["messages"].as_array().expect("messages")[1];
        assert_eq!(
            (&last["role"], &last["content"]),
            (&json!("user"), &json!("hi"))
        );
    }

    #[test]
    fn payloads_deltas_done_usage_and_errors() {
        assert_eq!(parse_event(&data("[DONE]")), Ok(Payload::Done));
        assert_eq!(
            parse_event(&data(chunk("Hi").trim_start_matches("data: ").trim())),
            Ok(Payload::Chunk {
                text: "Hi".into(),
                finish_reason: None,
                tokens: None,
                calls: vec![]
            })
        );
        assert_eq!(
            parse_event(&data(
                r#"{"choices":[{"delta":{"role":"assistant","content":null},"finish_reason":"length"}],"usage":{"total_tokens":5}}"#
            )),
            Ok(Payload::Chunk {
                text: String::new(),
                finish_reason: Some("length".into()),
                tokens: Some(5),
                calls: vec![]
            })
        );
        assert_eq!(
            parse_event(&data(r#"{"error":{"message":"overloaded","code":529}}"#)),
            Ok(Payload::Error("overloaded".into()))
        );
        let named = SseEvent {
            event: Some("error".into()),
            data: "upstream reset".into(),
            id: None,
        };
        assert_eq!(
            parse_event(&named),
            Ok(Payload::Error("upstream reset".into()))
        );
        let long = format!(r#"{{"error":"{}"}}"#, "x".repeat(1000));
        assert!(matches!(parse_event(&data(&long)), Ok(Payload::Error(m)) if m.len() == 200));
        for bad in [
            "",
            "nope",
            "{}",
            "[1]",
            r#"{"choices":[{"delta":{"content":7}}]}"#,
        ] {
            assert_eq!(
                parse_event(&data(bad)),
                Err(StreamError::Malformed),
                "{bad}"
            );
        }
    }

    fn read_all(body: &[u8], cuts: usize) -> (Vec<String>, Result<Ended, StreamError>) {
        let mut r = StreamReader::new();
        let mut texts = Vec::new();
        for part in body.chunks(cuts.max(1)) {
            match r.push(part) {
                Ok(mut t) => texts.append(&mut t),
                Err(e) => return (texts, Err(e)),
            }
            if r.is_done() {
                break;
            }
        }
        (texts, r.finish())
    }

    #[test]
    fn a_stream_gives_its_deltas_then_its_usage() {
        let body = format!(
            ": OPENROUTER PROCESSING\n\n{}{}{END}",
            chunk("Hel"),
            chunk("lo")
        );
        for cut in [1, 3, 7, 1000] {
            let (texts, end) = read_all(body.as_bytes(), cut);
            assert_eq!(texts, ["Hel", "lo"]);
            assert_eq!(
                end,
                Ok(Ended {
                    tail: String::new(),
                    tokens: Some(9),
                    finish_reason: Some("stop".into()),
                    tool_calls: vec![]
                })
            );
        }
        // Nothing after [DONE] is read.
        let (_, end) = read_all(
            format!("{}data: [DONE]\n\ndata: junk\n\n", chunk("a")).as_bytes(),
            1000,
        );
        assert!(end.is_ok());
    }

    fn call_chunk(index: usize, id: Option<&str>, name: Option<&str>, args: &str) -> String {
        format!(
            "data: {}\n\n",
            json!({"choices":[{"index":0,"delta":{"tool_calls":[
                {"index": index, "id": id, "function": {"name": name, "arguments": args}}]},
                "finish_reason": null}]})
        )
    }

    #[test]
    fn streamed_tool_calls_come_with_the_end() {
        let body = format!(
            "{}{}{}{}{}data: {}\n\ndata: [DONE]\n\n",
            chunk("Let me check."),
            call_chunk(0, Some("c1"), Some("search_knowledge_base"), "{\"query\":"),
            call_chunk(1, Some("c2"), Some("get_ticket"), "{}"),
            call_chunk(0, None, None, "\"refund\"}"),
            chunk(""),
            json!({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})
        );
        for cut in [1, 7, 1000] {
            let (texts, end) = read_all(body.as_bytes(), cut);
            assert_eq!(texts, ["Let me check."]);
            let end = end.expect("complete");
            assert_eq!(end.finish_reason.as_deref(), Some("tool_calls"));
            assert_eq!(
                end.tool_calls,
                [
                    ToolCall {
                        id: "c1".into(),
                        name: "search_knowledge_base".into(),
                        arguments: r#"{"query":"refund"}"#.into()
                    },
                    ToolCall {
                        id: "c2".into(),
                        name: "get_ticket".into(),
                        arguments: "{}".into()
                    }
                ]
            );
        }
        // A call past the limits makes the stream unusable.
        let far = call_chunk(tools::MAX_STREAMED_CALLS, None, Some("x"), "");
        assert_eq!(read_all(far.as_bytes(), 5).1, Err(StreamError::Malformed));
        // A plain JSON answer with calls and no text.
        let json_answer = r#"{"choices":[{"message":{"content":null,"tool_calls":[{"id":"j","type":"function","function":{"name":"get_ticket","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#;
        let end = read_all(json_answer.as_bytes(), 3).1.expect("calls");
        assert_eq!((end.tail.as_str(), end.tool_calls.len()), ("", 1));
    }

    #[test]
    fn streams_that_break_say_how() {
        let cases = [
            (chunk("a"), StreamError::Truncated),
            (
                format!(
                    "{}data: {{\"error\":{{\"message\":\"boom\"}}}}\n\n",
                    chunk("a")
                ),
                StreamError::Provider("boom".into()),
            ),
            (
                format!("{}data: <html>\n\n", chunk("a")),
                StreamError::Malformed,
            ),
            (
                format!("{}data: {}", chunk("a"), "x".repeat(MAX_EVENT_BYTES)),
                StreamError::TooLarge,
            ),
        ];
        for (body, want) in cases {
            let (texts, end) = read_all(body.as_bytes(), 5);
            assert_eq!(texts, ["a"], "{want:?}");
            assert_eq!(end, Err(want));
        }
    }

    #[test]
    fn texts_before_a_failure_come_out_however_the_body_is_cut() {
        let body = format!("{}{}data: <html>\n\n{}", chunk("a"), chunk("b"), chunk("c"));
        for cut in [1, 2, 5, 40, 1000] {
            let (texts, end) = read_all(body.as_bytes(), cut);
            assert_eq!(texts, ["a", "b"], "cut {cut}");
            assert_eq!(end, Err(StreamError::Malformed));
        }
    }

    #[test]
    fn a_plain_json_answer_is_one_delta_at_the_end() {
        let body = r#"{"choices":[{"message":{"content":" Hi there "},"finish_reason":"stop"}],"usage":{"total_tokens":4}}"#;
        for cut in [1, 4, 1000] {
            let (texts, end) = read_all(format!("\n {body}").as_bytes(), cut);
            assert!(texts.is_empty());
            assert_eq!(
                end,
                Ok(Ended {
                    tail: "Hi there".into(),
                    tokens: Some(4),
                    finish_reason: Some("stop".into()),
                    tool_calls: vec![]
                })
            );
        }
        assert_eq!(
            read_all(b"{\"choices\":[]}", 4).1,
            Err(StreamError::BadAnswer)
        );
        assert_eq!(
            read_all(br#"{"error":{"message":"no stream for you"}}"#, 4).1,
            Err(StreamError::Provider("no stream for you".into()))
        );
        let mut huge = b"{".to_vec();
        huge.resize(MAX_RESPONSE_BYTES + 1, b' ');
        assert_eq!(read_all(&huge, 4096).1, Err(StreamError::TooLarge));
    }

    fn splice(shown_by_first: &[&str], then: &[&str]) -> (String, Vec<String>) {
        let mut s = Splice::new(1000);
        let mut out = Vec::new();
        for t in shown_by_first {
            out.push(s.push(t));
        }
        s.restart();
        for t in then {
            out.push(s.push(t));
        }
        out.retain(|t| !t.is_empty());
        (s.shown().to_owned(), out)
    }

    #[test]
    fn a_fallback_that_starts_over_repeats_nothing() {
        let (shown, out) = splice(
            &["Our shop ", "opens at"],
            &["Our ", "shop opens", " at 9 am", "."],
        );
        assert_eq!(shown, "Our shop opens at 9 am.");
        assert_eq!(out, ["Our shop ", "opens at", " 9 am", "."]);
        // Cut mid-word, whitespace that differs, leading blank lines.
        let (shown, _) = splice(&["The price is 1", "00"], &["\n\nThe  price\nis 100 baht"]);
        assert_eq!(shown, "The price is 100 baht");
    }

    #[test]
    fn a_fallback_that_continues_loses_nothing() {
        let (shown, out) = splice(&["Our shop opens at"], &[" 9", " am."]);
        assert_eq!(shown, "Our shop opens at 9 am.");
        assert_eq!(out, ["Our shop opens at", " 9", " am."]);
        // Output that starts like the shown text but then differs is held, then shown whole.
        let (shown, out) = splice(&["Our shop opens at"], &["Our", " hours: 9-5"]);
        assert_eq!(shown, "Our shop opens atOur hours: 9-5");
        assert_eq!(out[1], "Our hours: 9-5");
    }

    #[test]
    fn a_continuation_that_restates_the_last_words_repeats_nothing() {
        let (shown, out) = splice(
            &["Our shop opens at nine in the"],
            &["opens at nine", " in the morning."],
        );
        assert_eq!(shown, "Our shop opens at nine in the morning.");
        assert_eq!(out[1], " morning.");
        // Too short to tell from a real continuation: kept.
        let (shown, _) = splice(&["It is in the"], &["the box."]);
        assert_eq!(shown, "It is in thethe box.");
        // Not from a word start: kept.
        let (shown, _) = splice(&["Call us at 0123456789"], &["3456789 now"]);
        assert_eq!(shown, "Call us at 01234567893456789 now");
        // Held while it may still restate them, shown once it cannot.
        let mut s = Splice::new(1000);
        s.push("Our shop opens at nine in the");
        s.restart();
        assert_eq!(s.push("at nine"), "");
        assert_eq!(s.push(" sharp."), "at nine sharp.");
    }

    #[test]
    fn what_a_failed_provider_held_back_is_never_shown() {
        let mut s = Splice::new(1000);
        s.push("Hello there");
        s.restart();
        assert_eq!(s.push("Hello"), "", "may be a repeat: held");
        s.restart();
        assert_eq!(s.push("Hello there, friend"), ", friend");
        assert_eq!(s.shown(), "Hello there, friend");
    }

    #[test]
    fn the_answer_starts_without_blank_space_and_stops_at_its_limit() {
        let mut s = Splice::new(5);
        assert_eq!(s.push("  \n"), "");
        assert_eq!(s.push(" ab"), "ab");
        assert_eq!(s.push("cdéfg"), "cdé");
        assert!(s.is_full());
        assert_eq!(s.push("more"), "");
        assert_eq!(s.shown(), "abcdé");
    }

    /// A provider stream from pieces that matter: deltas (some multi-byte), comments,
    /// finish, usage, errors, junk, `[DONE]`, CR/LF variants.
    fn provider_stream() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                "[a-zก🙂 ]{0,6}".prop_map(|t| chunk(&t)),
                Just(": keep-alive\n\n".to_owned()),
                Just(END.to_owned()),
                Just("data: {\"error\":{\"message\":\"x\"}}\n\n".to_owned()),
                Just("data: <html>\n\n".to_owned()),
                Just("data: [DONE]\n\n".to_owned()),
                "[a-z\"{}]{0,5}".prop_map(|a| call_chunk(0, Some("c"), Some("get_ticket"), &a)),
                "[a-z]{0,3}".prop_map(|a| call_chunk(1, None, None, &a)),
                Just("\r\n".to_owned()),
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat().into_bytes())
    }

    proptest! {
        #[test]
        fn any_chunking_of_a_provider_stream_reads_the_same(
            body in provider_stream(),
            cuts in proptest::collection::vec(1usize..64, 1..4),
        ) {
            let whole = read_all(&body, usize::MAX);
            for cut in cuts {
                prop_assert_eq!(read_all(&body, cut), whole.clone());
            }
        }

        #[test]
        fn a_restated_end_is_dropped_and_the_rest_kept(
            words in proptest::collection::vec("[a-z]{1,6}", 4..30),
            from in any::<prop::sample::Index>(),
            rest in "[a-z .]{0,20}",
            cut in 1usize..8,
        ) {
            // Distinct words (`q<i>` first), so no other part of the text matches by chance.
            let words: Vec<String> =
                words.iter().enumerate().map(|(i, w)| format!("q{i}{w}")).collect();
            let shown = words.join(" ");
            let tail = words[from.index(words.len())..].join(" ");
            prop_assume!(tail.chars().count() >= MIN_RESTATED_CHARS && tail.len() < 200);
            let mut s = Splice::new(10_000);
            s.push(&shown);
            s.restart();
            let out: Vec<char> = format!("{tail}{rest}").chars().collect();
            for piece in out.chunks(cut) {
                s.push(&piece.iter().collect::<String>());
            }
            prop_assert_eq!(s.shown(), format!("{shown}{rest}"));
        }

        #[test]
        fn the_shown_text_is_what_was_emitted_and_a_restart_never_repeats(
            first in proptest::collection::vec("[a-c ]{0,5}", 0..6),
            rest in proptest::collection::vec("[a-c ]{0,5}", 0..6),
            chunking in 1usize..5,
        ) {
            let mut s = Splice::new(10_000);
            let mut emitted = String::new();
            for t in &first {
                emitted.push_str(&s.push(t));
            }
            let shown = s.shown().to_owned();
            prop_assert_eq!(&emitted, &shown);
            // The fallback starts over with the full answer (the first's output, longer).
            let full: String = first.concat() + &rest.concat();
            s.restart();
            let chars: Vec<char> = full.chars().collect();
            for piece in chars.chunks(chunking) {
                emitted.push_str(&s.push(&piece.iter().collect::<String>()));
            }
            prop_assert_eq!(&emitted, s.shown());
            let norm = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
            if !shown.trim().is_empty() {
                prop_assert_eq!(norm(s.shown()), norm(&full), "nothing repeated, nothing lost");
            }
        }
    }
}
