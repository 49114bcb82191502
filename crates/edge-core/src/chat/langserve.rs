//! LangServe (LangChain's FastAPI server) as an AI provider: the body `POST {base}/invoke`
//! and `POST {base}/stream` get, the `/invoke` answer we accept, and what each of
//! `/stream`'s Server-Sent Events means.
//!
//! A LangServe route runs whatever chain its owner wrote, so the chain's input is
//! configurable ([`InputShape`]): LangChain's message list (`[{"type": "system" | "human" |
//! "ai", "content": ...}]`, what a chat model or a `ChatPromptTemplate` with a messages
//! placeholder takes), the user's message as a plain string, or a dict holding it under a
//! configured key. Its output may be a string or a message object (an `AIMessage` or
//! `AIMessageChunk` serialised as a dict) whose `content` is a string or a list of parts
//! (`"text"` or `{"type": "text", "text": ...}`); either is read ([`parse_invoke`]).
//!
//! `/stream` answers `text/event-stream` with the events `metadata` (the run id), `data`
//! (one chunk of output: a JSON string or message chunk), `error` (`{"status_code",
//! "message"}`) and `end`. The SSE byte parser is [`super::sse`]'s; [`StreamReader`] takes
//! the events it split, as (event name, data) pairs, and turns them into text deltas, the
//! end, or an error, with the same limits as an `/invoke` answer; [`StreamBody`] reads the
//! bytes of `/stream` with both, for the streaming chain.

use serde_json::{Value, json};

use super::completion::{Answer, CompletionError, MAX_ANSWER_CHARS, Prompt, Role};
use super::sse::{SseError, SseParser};
use super::stream;

/// The route's answer-at-once endpoint, after the base URL.
pub const INVOKE_PATH: &str = "/invoke";
/// The route's streaming endpoint (Server-Sent Events), after the base URL.
pub const STREAM_PATH: &str = "/stream";
/// Longest dict key accepted for [`InputShape::Dict`].
pub const MAX_KEY_LEN: usize = 64;
/// Longest provider error message kept from an `error` event, in characters.
pub const MAX_ERROR_CHARS: usize = 200;

/// Whether a redirect's `Location` is Cloudflare Access's login (`https://<team>.cloudflareaccess.com/…`
/// or a `/cdn-cgi/access/…` path): what Access answers a request whose service token it
/// refused, unless the application is set to answer 401. A provider call that gets it was
/// refused, not merely failed.
#[must_use]
pub fn is_access_login(location: &str) -> bool {
    let l = location.trim().to_ascii_lowercase();
    let rest = l
        .strip_prefix("https://")
        .or_else(|| l.strip_prefix("http://"));
    let (host, path) = match rest {
        Some(r) => r.split_once('/').map_or((r, ""), |(h, p)| (h, p)),
        None => ("", l.strip_prefix('/').unwrap_or(&l)),
    };
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split_once(':').map_or(host, |(h, _)| h);
    host.ends_with(".cloudflareaccess.com") || path.starts_with("cdn-cgi/access/")
}

/// How the chain's `input` is shaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputShape {
    /// LangChain's message list: the system prompt, the history, the user's message.
    Messages,
    /// The user's message as a plain string (a chain that takes `str`).
    String,
    /// `{"<key>": "<the user's message>"}` (a prompt template's variable).
    Dict(String),
}

impl InputShape {
    /// Parses `messages`, `string` or `dict:<key>` (key: 1..=[`MAX_KEY_LEN`] of
    /// `[A-Za-z0-9_-]`); `None` for anything else.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "messages" => Some(Self::Messages),
            "string" => Some(Self::String),
            other => {
                let key = other.strip_prefix("dict:")?;
                let ok = !key.is_empty()
                    && key.len() <= MAX_KEY_LEN
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
                ok.then(|| Self::Dict(key.to_owned()))
            }
        }
    }

    /// The setting's spelling (`messages`, `string`, `dict:<key>`), for the cache key.
    #[must_use]
    pub fn as_setting(&self) -> String {
        match self {
            Self::Messages => "messages".to_owned(),
            Self::String => "string".to_owned(),
            Self::Dict(key) => format!("dict:{key}"),
        }
    }
}

/// The `input` of `prompt` in `shape`.
#[must_use]
pub fn input(shape: &InputShape, prompt: &Prompt) -> Value {
    match shape {
        InputShape::Messages => {
            let mut messages = Vec::with_capacity(prompt.history.len() + 2);
            messages.push(json!({"type": "system", "content": prompt.system}));
            for (role, content) in &prompt.history {
                let kind = match role {
                    Role::User => "human",
                    Role::Assistant => "ai",
                };
                messages.push(json!({"type": kind, "content": content}));
            }
            messages.push(json!({"type": "human", "content": prompt.user}));
            Value::Array(messages)
        }
        InputShape::String => Value::String(prompt.user.clone()),
        InputShape::Dict(key) => {
            let mut dict = serde_json::Map::new();
            dict.insert(key.clone(), Value::String(prompt.user.clone()));
            Value::Object(dict)
        }
    }
}

/// The body of `POST {base}/invoke` and `POST {base}/stream`:
/// `{"input": ..., "config": {}, "kwargs": {}}`.
#[must_use]
pub fn request_body(shape: &InputShape, prompt: &Prompt) -> Value {
    json!({"input": input(shape, prompt), "config": {}, "kwargs": {}})
}

/// The text of a message `content`: a string, or a list of parts (strings or
/// `{"type": "text", "text": ...}`; other parts, such as images or tool calls, carry no text).
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let mut text = String::new();
            for part in parts {
                match part {
                    Value::String(s) => text.push_str(s),
                    Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("text") => {
                        text.push_str(o.get("text")?.as_str()?);
                    }
                    Value::Object(_) => {}
                    _ => return None,
                }
            }
            Some(text)
        }
        _ => None,
    }
}

/// The text of one output (or output chunk): a string, or a message object's `content`.
fn output_text(output: &Value) -> Option<String> {
    match output {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => content_text(o.get("content")?),
        _ => None,
    }
}

/// Checks an answer's text as the OpenAI-compatible parser does: trimmed, not empty, at
/// most [`MAX_ANSWER_CHARS`].
fn checked(text: &str) -> Result<String, CompletionError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CompletionError::Empty);
    }
    if text.chars().count() > MAX_ANSWER_CHARS {
        return Err(CompletionError::TooLong);
    }
    Ok(text.to_owned())
}

/// Reads an `/invoke` response body: `{"output": <string | message>, "metadata": ...}`;
/// `tokens` from the message's `usage_metadata.total_tokens` when the model reported it.
///
/// # Errors
/// [`CompletionError`] when it carries no usable text.
pub fn parse_invoke(body: &[u8]) -> Result<Answer, CompletionError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| CompletionError::Malformed)?;
    let output = v.get("output").ok_or(CompletionError::Malformed)?;
    let text = output_text(output).ok_or(CompletionError::Malformed)?;
    Ok(Answer {
        text: checked(&text)?,
        tokens: output
            .pointer("/usage_metadata/total_tokens")
            .and_then(Value::as_u64),
    })
}

/// What one `/stream` event meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStep {
    /// More text of the answer (never empty).
    Delta(String),
    /// The stream ended (`end`) after some text: the whole answer was sent.
    End,
    /// Nothing for the answer (`metadata`, an empty chunk, an event LangServe may add).
    Skip,
}

/// Why a `/stream` could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The provider sent an `error` event (its status and message, cut to
    /// [`MAX_ERROR_CHARS`]).
    #[error("provider stream error {status}: {message}")]
    Provider {
        /// The `status_code` it named (0 when none).
        status: u16,
        /// Its message.
        message: String,
    },
    /// A `data` event that is not a string or message chunk.
    #[error("provider stream chunk is malformed")]
    Malformed,
    /// More than [`MAX_ANSWER_CHARS`] of text.
    #[error("provider stream answer is too long")]
    TooLong,
    /// `end` before any text.
    #[error("provider stream answer is empty")]
    Empty,
    /// An event after `end` or after an error.
    #[error("provider stream went on after it ended")]
    AfterEnd,
}

/// Reads `/stream`'s events in order: the deltas, the end, or the error. Once it returned
/// [`StreamStep::End`] or an error, every later event is [`StreamError::AfterEnd`].
#[derive(Debug, Clone, Default)]
pub struct StreamReader {
    chars: usize,
    nonblank: bool,
    done: bool,
}

impl StreamReader {
    /// A reader before the first event.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Characters of text delivered so far.
    #[must_use]
    pub const fn chars(&self) -> usize {
        self.chars
    }

    /// Whether `end` or an error was seen.
    #[must_use]
    pub const fn is_done(&self) -> bool {
        self.done
    }

    /// Reads one event: its name (`None`: SSE's default `message`) and its data.
    ///
    /// # Errors
    /// [`StreamError`]: the provider's `error`, a malformed chunk, too much text, `end`
    /// with no text, or anything after the end.
    pub fn event(&mut self, name: Option<&str>, data: &str) -> Result<StreamStep, StreamError> {
        if self.done {
            return Err(StreamError::AfterEnd);
        }
        let step = self.step(name, data);
        if !matches!(step, Ok(StreamStep::Delta(_) | StreamStep::Skip)) {
            self.done = true;
        }
        step
    }

    fn step(&mut self, name: Option<&str>, data: &str) -> Result<StreamStep, StreamError> {
        match name {
            Some("data") => {
                let v: Value = serde_json::from_str(data).map_err(|_| StreamError::Malformed)?;
                let text = output_text(&v).ok_or(StreamError::Malformed)?;
                if text.is_empty() {
                    return Ok(StreamStep::Skip);
                }
                let chars = self.chars.saturating_add(text.chars().count());
                if chars > MAX_ANSWER_CHARS {
                    return Err(StreamError::TooLong);
                }
                self.chars = chars;
                self.nonblank |= !text.trim().is_empty();
                Ok(StreamStep::Delta(text))
            }
            Some("end") if self.nonblank => Ok(StreamStep::End),
            Some("end") => Err(StreamError::Empty),
            Some("error") => {
                let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
                let status = v
                    .get("status_code")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(0);
                let message = v
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .chars()
                    .take(MAX_ERROR_CHARS)
                    .collect();
                Err(StreamError::Provider { status, message })
            }
            // `metadata` (the run id) and anything LangServe may add later.
            _ => Ok(StreamStep::Skip),
        }
    }
}

/// `/stream`'s body read as it arrives: the SSE framing ([`SseParser`]) and then the events
/// ([`StreamReader`]), with the errors of the OpenAI-compatible reader
/// ([`stream::StreamError`]), so the streaming chain reads either protocol alike.
#[derive(Debug, Clone)]
pub struct StreamBody {
    sse: SseParser,
    events: StreamReader,
    bytes: usize,
    ended: bool,
    failed: Option<stream::StreamError>,
}

impl Default for StreamBody {
    fn default() -> Self {
        Self::new()
    }
}

impl From<StreamError> for stream::StreamError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Provider { status, message } => {
                Self::Provider(format!("{status}: {message}"))
            }
            StreamError::Malformed | StreamError::AfterEnd => Self::Malformed,
            StreamError::TooLong => Self::TooLarge,
            StreamError::Empty => Self::BadAnswer,
        }
    }
}

impl StreamBody {
    /// A reader for a new body.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            sse: SseParser::new(stream::MAX_EVENT_BYTES).with_named_empty(),
            events: StreamReader {
                chars: 0,
                nonblank: false,
                done: false,
            },
            bytes: 0,
            ended: false,
            failed: None,
        }
    }

    /// Whether there is nothing more to read: `end` came, or the stream failed.
    #[must_use]
    pub const fn is_done(&self) -> bool {
        self.ended || self.failed.is_some()
    }

    /// Feeds the next chunk of the body; the texts it completed, in order.
    ///
    /// # Errors
    /// [`stream::StreamError`] once the stream cannot be used (it stays failed); texts
    /// completed before the failure in the same chunk come first, the error on the next
    /// call or from [`finish`](Self::finish).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, stream::StreamError> {
        let failed = self.failed.take();
        let (texts, failed) =
            stream::read_chunk(failed, self.ended, |texts| self.read(chunk, texts));
        self.failed = failed;
        texts
    }

    fn read(&mut self, chunk: &[u8], texts: &mut Vec<String>) -> Result<(), stream::StreamError> {
        self.bytes = self.bytes.saturating_add(chunk.len());
        if self.bytes > stream::MAX_STREAM_BYTES {
            return Err(stream::StreamError::TooLarge);
        }
        let events = self
            .sse
            .push(chunk)
            .map_err(|SseError::EventTooLarge(_)| stream::StreamError::TooLarge)?;
        for e in &events {
            match self.events.event(e.event.as_deref(), &e.data)? {
                StreamStep::Delta(text) => texts.push(text),
                StreamStep::Skip => {}
                StreamStep::End => {
                    self.ended = true;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Ends the stream at the end of the body.
    ///
    /// # Errors
    /// The error the stream failed with; [`stream::StreamError::Truncated`] when the body
    /// ended before `end`.
    pub fn finish(self) -> Result<stream::Ended, stream::StreamError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if !self.ended {
            return Err(stream::StreamError::Truncated);
        }
        Ok(stream::Ended {
            finish_reason: Some("stop".to_owned()),
            ..stream::Ended::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::intent::Language;

    fn prompt() -> Prompt {
        Prompt::new(
            Language::En,
            &[],
            vec![
                (Role::User, "hi".into()),
                (Role::Assistant, "hello!".into()),
            ],
            "  where is my order?  ",
        )
    }

    #[test]
    fn input_shapes_parse_and_reject_the_rest() {
        assert_eq!(InputShape::parse("messages"), Some(InputShape::Messages));
        assert_eq!(InputShape::parse(" string "), Some(InputShape::String));
        assert_eq!(
            InputShape::parse("dict:question"),
            Some(InputShape::Dict("question".into()))
        );
        assert_eq!(
            InputShape::parse("dict:a_b-9").map(|s| s.as_setting()),
            Some("dict:a_b-9".into())
        );
        for bad in [
            "",
            "dict:",
            "dict",
            "Messages",
            "dict:a b",
            "dict:ä",
            "dict:a.b",
            "list",
            &format!("dict:{}", "k".repeat(MAX_KEY_LEN + 1)),
        ] {
            assert_eq!(InputShape::parse(bad), None, "{bad:?}");
        }
        assert!(InputShape::parse(&format!("dict:{}", "k".repeat(MAX_KEY_LEN))).is_some());
    }

    #[test]
    fn the_messages_body_carries_system_history_and_message_in_langchain_types() {
        let p = prompt();
        let body = request_body(&InputShape::Messages, &p);
        assert_eq!(body["config"], json!({}));
        assert_eq!(body["kwargs"], json!({}));
        assert_eq!(
            body["input"],
            json!([
                {"type": "system", "content": p.system},
                {"type": "human", "content": "hi"},
                {"type": "ai", "content": "hello!"},
                {"type": "human", "content": "where is my order?"},
            ])
        );
        assert_eq!(
            body.as_object().map(|o| o.len()),
            Some(3),
            "nothing else at the top"
        );
    }

    #[test]
    fn the_string_and_dict_bodies_carry_only_the_message() {
        let p = prompt();
        assert_eq!(
            request_body(&InputShape::String, &p),
            json!({"input": "where is my order?", "config": {}, "kwargs": {}})
        );
        assert_eq!(
            request_body(&InputShape::Dict("question".into()), &p),
            json!({"input": {"question": "where is my order?"}, "config": {}, "kwargs": {}})
        );
    }

    fn ok(text: &str, tokens: Option<u64>) -> Result<Answer, CompletionError> {
        Ok(Answer {
            text: text.into(),
            tokens,
        })
    }

    #[test]
    fn invoke_answers_are_read_as_string_or_message() {
        // A chain that outputs a string.
        assert_eq!(
            parse_invoke(br#"{"output":" Hi! ","metadata":{"run_id":"r1","feedback_tokens":[]}}"#),
            ok("Hi!", None)
        );
        // A chat model's AIMessage, as LangServe serialises it, with usage.
        let ai = json!({"output": {"content": "Hello", "additional_kwargs": {}, "type": "ai",
            "id": "run-1", "tool_calls": [], "usage_metadata": {"input_tokens": 3,
            "output_tokens": 4, "total_tokens": 7}}, "metadata": {}});
        assert_eq!(
            parse_invoke(ai.to_string().as_bytes()),
            ok("Hello", Some(7))
        );
        // A message chunk whose content is a list of text parts (and a part without text).
        let parts = json!({"output": {"type": "AIMessageChunk", "content": [
            "Hel", {"type": "text", "text": "lo "}, {"type": "image_url", "image_url": "x"},
            {"type": "text", "text": "there"}]}});
        assert_eq!(
            parse_invoke(parts.to_string().as_bytes()),
            ok("Hello there", None)
        );
        // A bare {"content"} dict (a chain returning a plain dict shaped like a message).
        assert_eq!(
            parse_invoke(br#"{"output":{"content":"plain"}}"#),
            ok("plain", None)
        );
    }

    #[test]
    fn malformed_or_unusable_invoke_answers_are_errors() {
        for body in [
            &b""[..],
            b"<html>502</html>",
            b"[]",
            br#"{"detail":[{"msg":"Field required"}]}"#,
            br#"{"output":null}"#,
            br#"{"output":42}"#,
            br#"{"output":["a","b"]}"#,
            br#"{"output":{"type":"ai"}}"#,
            br#"{"output":{"content":7}}"#,
            br#"{"output":{"content":[{"type":"text","text":3}]}}"#,
            br#"{"output":{"content":[7]}}"#,
        ] {
            assert_eq!(
                parse_invoke(body),
                Err(CompletionError::Malformed),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            parse_invoke(br#"{"output":"  \n"}"#),
            Err(CompletionError::Empty)
        );
        assert_eq!(
            parse_invoke(br#"{"output":{"content":[{"type":"image_url"}]}}"#),
            Err(CompletionError::Empty)
        );
        let long = json!({"output": "a".repeat(MAX_ANSWER_CHARS + 1)}).to_string();
        assert_eq!(parse_invoke(long.as_bytes()), Err(CompletionError::TooLong));
        let max = json!({"output": "a".repeat(MAX_ANSWER_CHARS)}).to_string();
        assert!(parse_invoke(max.as_bytes()).is_ok());
    }

    /// Feeds `events` to a fresh reader; the deltas joined, and how it ended.
    fn read(events: &[(Option<&str>, &str)]) -> (String, Vec<Result<StreamStep, StreamError>>) {
        let mut r = StreamReader::new();
        let mut text = String::new();
        let mut steps = Vec::new();
        for (name, data) in events {
            let step = r.event(*name, data);
            if let Ok(StreamStep::Delta(d)) = &step {
                text.push_str(d);
            }
            steps.push(step);
        }
        (text, steps)
    }

    #[test]
    fn a_stream_of_string_chunks_maps_to_deltas_then_end() {
        let (text, steps) = read(&[
            (Some("metadata"), r#"{"run_id": "r1"}"#),
            (Some("data"), r#""langserve ""#),
            (Some("data"), r#""says: hi""#),
            (Some("end"), ""),
        ]);
        assert_eq!(text, "langserve says: hi");
        assert_eq!(
            steps,
            [
                Ok(StreamStep::Skip),
                Ok(StreamStep::Delta("langserve ".into())),
                Ok(StreamStep::Delta("says: hi".into())),
                Ok(StreamStep::End),
            ]
        );
    }

    #[test]
    fn a_stream_of_message_chunks_maps_their_content_and_skips_empty_ones() {
        let chunk = |c: &str| {
            json!({"content": c, "additional_kwargs": {}, "type": "AIMessageChunk",
                "tool_call_chunks": []})
            .to_string()
        };
        let parts = json!({"type": "AIMessageChunk", "content": [{"type": "text", "text": "!"}]})
            .to_string();
        let (a, b, empty) = (chunk("Hello"), chunk(" there"), chunk(""));
        let (text, steps) = read(&[
            (Some("data"), &a),
            (Some("data"), &empty),
            (Some("data"), &b),
            (Some("data"), &parts),
            (None, "a default `message` event"),
            (Some("end"), ""),
        ]);
        assert_eq!(text, "Hello there!");
        assert_eq!(steps[1], Ok(StreamStep::Skip));
        assert_eq!(steps[4], Ok(StreamStep::Skip));
        assert_eq!(steps[5], Ok(StreamStep::End));
    }

    #[test]
    fn an_error_event_ends_the_stream_with_the_providers_status() {
        let (text, steps) = read(&[
            (Some("data"), r#""partial ""#),
            (
                Some("error"),
                r#"{"status_code": 500, "message": "Internal Server Error"}"#,
            ),
            (Some("data"), r#""more""#),
            (Some("end"), ""),
        ]);
        assert_eq!(text, "partial ");
        assert_eq!(
            steps[1],
            Err(StreamError::Provider {
                status: 500,
                message: "Internal Server Error".into()
            })
        );
        assert_eq!(steps[2], Err(StreamError::AfterEnd));
        assert_eq!(steps[3], Err(StreamError::AfterEnd));
        // An error event without JSON is still an error, never a panic.
        let (_, steps) = read(&[(Some("error"), "boom")]);
        assert_eq!(
            steps[0],
            Err(StreamError::Provider {
                status: 0,
                message: String::new()
            })
        );
        let long = json!({"status_code": 70_000, "message": "x".repeat(1_000)}).to_string();
        let (_, steps) = read(&[(Some("error"), &long)]);
        assert!(
            matches!(&steps[0], Err(StreamError::Provider { status: 0, message }) if message.len() == MAX_ERROR_CHARS)
        );
    }

    /// What LangServe 0.3's `/stream` sends for a chat model's answer (CRLF line ends).
    const LANGSERVE_STREAM: &str = "event: metadata\r\ndata: {\"run_id\": \"1f0\"}\r\n\r\nevent: data\r\ndata: {\"content\":\"Hello\",\"type\":\"AIMessageChunk\"}\r\n\r\nevent: data\r\ndata: {\"content\":\", Ayaka here.\",\"type\":\"AIMessageChunk\"}\r\n\r\nevent: end\r\n\r\n";

    #[test]
    fn access_login_redirects_are_recognised_and_nothing_else() {
        for yes in [
            "https://acme.cloudflareaccess.com/cdn-cgi/access/login/llm.example.com?kid=1&redirect_url=%2Finvoke",
            "HTTPS://Acme.CloudflareAccess.com/",
            "https://llm.example.com/cdn-cgi/access/login/llm.example.com",
            "/cdn-cgi/access/login/llm.example.com",
            "https://acme.cloudflareaccess.com:443/x",
        ] {
            assert!(is_access_login(yes), "{yes}");
        }
        for no in [
            "https://llm.example.com/invoke",
            "https://cloudflareaccess.com.evil.example/cdn",
            "https://evil.example/?u=.cloudflareaccess.com",
            "/invoke",
            "",
        ] {
            assert!(!is_access_login(no), "{no}");
        }
    }

    #[test]
    fn a_stream_body_reads_sse_bytes_to_deltas_and_maps_every_failure() {
        let mut r = StreamBody::new();
        let texts = r.push(LANGSERVE_STREAM.as_bytes()).expect("valid");
        assert_eq!(texts, ["Hello", ", Ayaka here."]);
        assert!(r.is_done());
        assert!(r.finish().is_ok());

        let cut = &LANGSERVE_STREAM[..LANGSERVE_STREAM.find("event: end").expect("end")];
        let mut r = StreamBody::new();
        assert_eq!(r.push(cut.as_bytes()).map(|t| t.len()), Ok(2));
        assert_eq!(r.finish().err(), Some(stream::StreamError::Truncated));

        let error = "event: data\ndata: \"Hi\"\n\nevent: error\ndata: {\"status_code\": 500, \"message\": \"Internal Server Error\"}\n\n";
        let mut r = StreamBody::new();
        assert_eq!(
            r.push(error.as_bytes()),
            Ok(vec!["Hi".to_owned()]),
            "text before the error comes first"
        );
        let failed = stream::StreamError::Provider("500: Internal Server Error".into());
        assert_eq!(
            r.push(b"event: data\ndata: \"more\"\n\n"),
            Err(failed.clone())
        );
        assert_eq!(r.finish().err(), Some(failed));

        for (body, want) in [
            ("event: end\n\n", stream::StreamError::BadAnswer),
            ("event: data\ndata: [1]\n\n", stream::StreamError::Malformed),
        ] {
            let mut r = StreamBody::new();
            assert_eq!(r.push(body.as_bytes()), Err(want), "{body:?}");
        }
        let mut r = StreamBody::new();
        let huge = format!(
            "event: data\ndata: \"{}\"\n\n",
            "x".repeat(stream::MAX_EVENT_BYTES)
        );
        assert_eq!(r.push(huge.as_bytes()), Err(stream::StreamError::TooLarge));
    }

    #[test]
    fn malformed_empty_or_oversized_streams_are_errors() {
        for bad in ["not json", "42", r#"{"type":"ai"}"#, r#"["a"]"#, "null"] {
            let (_, steps) = read(&[(Some("data"), bad)]);
            assert_eq!(steps[0], Err(StreamError::Malformed), "{bad}");
        }
        let (_, steps) = read(&[(Some("data"), r#""  ""#), (Some("end"), "")]);
        assert_eq!(steps[1], Err(StreamError::Empty), "blank text is no answer");
        let (_, steps) = read(&[(Some("end"), "")]);
        assert_eq!(steps[0], Err(StreamError::Empty));
        let half = serde_json::to_string(&"a".repeat(MAX_ANSWER_CHARS / 2)).expect("ser");
        let mut r = StreamReader::new();
        assert!(r.event(Some("data"), &half).is_ok());
        assert!(r.event(Some("data"), &half).is_ok());
        assert_eq!(r.chars(), MAX_ANSWER_CHARS);
        assert_eq!(r.event(Some("data"), r#""a""#), Err(StreamError::TooLong));
        assert!(r.is_done());
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;
        use super::LANGSERVE_STREAM;

        /// A `/stream` event: a name (or none) and data that is often a JSON chunk.
        fn event() -> impl Strategy<Value = (Option<&'static str>, String)> {
            let name = prop::sample::select(vec![
                None,
                Some("metadata"),
                Some("data"),
                Some("error"),
                Some("end"),
                Some("other"),
            ]);
            let data = prop_oneof![
                "\\PC{0,40}",
                "\\PC{0,40}".prop_map(|t| serde_json::to_string(&t).unwrap_or_default()),
                "\\PC{0,40}"
                    .prop_map(|t| json!({"content": t, "type": "AIMessageChunk"}).to_string()),
            ];
            (name, data)
        }

        proptest! {
            #[test]
            fn any_invoke_body_is_an_answer_within_limits_or_an_error(body in prop::collection::vec(any::<u8>(), 0..200)) {
                if let Ok(a) = parse_invoke(&body) {
                    prop_assert!(!a.text.is_empty() && a.text.trim() == a.text);
                }
            }

            #[test]
            fn any_output_string_round_trips_trimmed(text in "\\PC{1,60}") {
                let body = json!({"output": {"content": text.clone(), "type": "ai"}}).to_string();
                match parse_invoke(body.as_bytes()) {
                    Ok(a) => prop_assert_eq!(a.text, text.trim()),
                    Err(e) => prop_assert_eq!((e, text.trim().is_empty()), (CompletionError::Empty, true)),
                }
            }

            #[test]
            fn a_stream_delivers_its_chunks_once_and_nothing_after_its_end(events in prop::collection::vec(event(), 0..30)) {
                let mut r = StreamReader::new();
                let mut text = String::new();
                let mut ended = false;
                for (name, data) in &events {
                    let step = r.event(*name, data);
                    prop_assert!(!ended || step == Err(StreamError::AfterEnd));
                    match step {
                        Ok(StreamStep::Delta(d)) => { prop_assert!(!d.is_empty()); text.push_str(&d); }
                        Ok(StreamStep::Skip) => {}
                        Ok(StreamStep::End) | Err(_) => ended = true,
                    }
                    prop_assert_eq!(r.chars(), text.chars().count());
                }
                prop_assert_eq!(r.is_done(), ended);
            }

            #[test]
            fn a_stream_body_reads_the_same_however_it_is_cut(cuts in prop::collection::vec(0usize..400, 0..12)) {
                let body = LANGSERVE_STREAM.as_bytes();
                let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (body.len() + 1)).collect();
                cuts.sort_unstable();
                let (mut r, mut text, mut at) = (StreamBody::new(), String::new(), 0);
                for c in cuts.into_iter().chain([body.len()]) {
                    for t in r.push(&body[at..c]).expect("a valid stream") { text.push_str(&t); }
                    at = c;
                }
                prop_assert!(r.is_done());
                prop_assert_eq!(r.finish().map(|e| e.finish_reason), Ok(Some("stop".to_owned())));
                prop_assert_eq!(text, "Hello, Ayaka here.");
            }
        }
    }
}
