//! The provider chain, streamed: every provider is asked with `stream: true` and each piece
//! of its answer is handed to a [`DeltaSink`] as it arrives. Same providers, same order,
//! same per-isolate [`Breakers`](crate::ai::Breakers) as the non-streaming chain
//! ([`crate::ai`]); each provider's timeout bounds the wait for its first chunk and for
//! every gap between two, and [`MAX_STREAM_MS`] the whole of it.
//!
//! A provider failing mid-answer (a broken connection, an error object in the stream, a
//! stall, a malformed chunk, a stream that ends early) hands over to the next one, asked to
//! continue the text already shown; its output goes through the core's
//! [`Splice`](edge_core::chat::stream::Splice), so the user never sees text twice. When every
//! provider failed, the static apology is streamed too. The reply's text is, by
//! construction, exactly the concatenation of the deltas given to the sink.
//!
//! No cache and no quota here: the caller applies its own limits.

use edge_core::chat::completion::{MAX_ANSWER_CHARS, Prompt};
use edge_core::chat::intent::Language;
use edge_core::chat::langserve;
use edge_core::chat::stream::{self, Ended, MAX_STREAM_BYTES, Splice, StreamError, StreamReader};
use edge_core::chat::text;
use edge_core::routing::breaker::Observation;

use crate::ai::{Attempt, Failure, ProviderRequest, admit, record_failure};
use crate::backends::{Call, ChatIo, ChunkStream, Clock, Method, StreamCall, StreamingOutbound};
use crate::log;
use crate::settings::{AiSettings, Credentials, Provider, ProviderKind};

/// Longest one provider may stream for, however steadily, ms.
pub(crate) const MAX_STREAM_MS: u64 = 120_000;

/// Where the pieces of an answer go, in order, as they arrive.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait DeltaSink {
    /// The next piece of the answer (never empty).
    async fn delta(&mut self, text: &str);
}

/// A streamed answer and how it was made.
#[derive(Debug, Clone)]
pub(crate) struct StreamedReply {
    /// Everything given to the sink, concatenated.
    pub(crate) text: String,
    /// The provider that finished the answer, or `static`.
    pub(crate) provider: String,
    pub(crate) model: Option<String>,
    /// The usage the providers reported, summed (a provider that failed mid-stream usually
    /// reports none).
    pub(crate) tokens: Option<u64>,
    /// From the call to the end of the answer.
    pub(crate) latency_ms: u64,
    /// From the call to the first delta (`None`: nothing was sent).
    pub(crate) first_token_ms: Option<u64>,
    pub(crate) attempts: Vec<Attempt>,
}

/// The sink, and what it was given.
struct Out<'a, S> {
    sink: &'a mut S,
    text: String,
    started: u64,
    first_token_ms: Option<u64>,
}

impl<S: DeltaSink> Out<'_, S> {
    async fn send(&mut self, text: &str, clock: &impl Clock) {
        if text.is_empty() {
            return;
        }
        if self.first_token_ms.is_none() {
            self.first_token_ms = Some(clock.now_ms().saturating_sub(self.started));
        }
        self.text.push_str(text);
        self.sink.delta(text).await;
    }
}

/// Streams the answer to `prompt` through the provider chain into `sink`.
pub(crate) async fn stream_reply(
    io: &impl ChatIo,
    s: &AiSettings,
    lang: Language,
    prompt: &Prompt,
    sink: &mut impl DeltaSink,
) -> StreamedReply {
    let started = io.clock().now_ms();
    let mut out = Out {
        sink,
        text: String::new(),
        started,
        first_token_ms: None,
    };
    let mut splice = Splice::new(MAX_ANSWER_CHARS);
    let mut attempts = Vec::new();
    let mut tokens: Option<u64> = None;
    for p in &s.providers {
        let mut attempt = |outcome: &str| {
            attempts.push(Attempt {
                provider: p.name.clone(),
                outcome: outcome.to_owned(),
            });
        };
        let creds = match admit(io, p) {
            Ok(creds) => creds,
            Err(skipped) => {
                attempt(skipped);
                continue;
            }
        };
        let t0 = io.clock().now_ms();
        splice.restart();
        let result = stream_one(io, p, creds, prompt, &mut splice, &mut out).await;
        let now = io.clock().now_ms();
        match result {
            Ok((ended, head_ms)) => {
                io.breakers().observe(
                    &p.name,
                    &s.breaker,
                    Observation::Answered {
                        latency_ms: head_ms as f64,
                    },
                    now,
                );
                attempt("answered");
                if let Some(t) = ended.tokens {
                    tokens = Some(tokens.unwrap_or(0).saturating_add(t));
                }
                return StreamedReply {
                    text: out.text,
                    provider: p.name.clone(),
                    model: Some(p.model.clone()),
                    tokens,
                    latency_ms: now.saturating_sub(started),
                    first_token_ms: out.first_token_ms,
                    attempts,
                };
            }
            Err(failure) => {
                let outcome = record_failure(io, s, p, failure, t0);
                attempt(&outcome);
            }
        }
    }
    let apology = text::apology(lang);
    let apology = if out.text.is_empty() {
        apology.to_owned()
    } else {
        format!("\n\n{apology}")
    };
    out.send(&apology, io.clock()).await;
    StreamedReply {
        text: out.text,
        provider: "static".to_owned(),
        model: None,
        tokens,
        latency_ms: io.clock().now_ms().saturating_sub(started),
        first_token_ms: out.first_token_ms,
        attempts,
    }
}

/// A provider's streamed body, read by its kind's reader.
enum Reader {
    OpenAi(StreamReader),
    LangServe(langserve::StreamBody),
}

impl Reader {
    fn of(p: &Provider) -> Self {
        match p.kind {
            ProviderKind::OpenAi => Self::OpenAi(StreamReader::new()),
            ProviderKind::LangServe(_) => Self::LangServe(langserve::StreamBody::new()),
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Self::OpenAi(r) => r.is_done(),
            Self::LangServe(r) => r.is_done(),
        }
    }

    fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, StreamError> {
        match self {
            Self::OpenAi(r) => r.push(chunk),
            Self::LangServe(r) => r.push(chunk),
        }
    }

    fn finish(self) -> Result<Ended, StreamError> {
        match self {
            Self::OpenAi(r) => r.finish(),
            Self::LangServe(r) => r.finish(),
        }
    }
}

/// Streams provider `p`'s answer (a continuation of what `splice` already showed) into
/// `out`: how it ended and how long its head took, or why it failed.
async fn stream_one<S: DeltaSink>(
    io: &impl ChatIo,
    p: &Provider,
    creds: Credentials<'_>,
    prompt: &Prompt,
    splice: &mut Splice,
    out: &mut Out<'_, S>,
) -> Result<(Ended, u64), Failure> {
    let prompt = stream::continuation_prompt(prompt, splice.shown());
    let request = ProviderRequest::new(p, creds, &prompt, true);
    let t0 = io.clock().now_ms();
    let head = io
        .streaming()
        .open(StreamCall {
            call: Call {
                method: Method::Post,
                url: &request.url,
                headers: &request.headers(),
                body: Some(("application/json", request.body.clone())),
                timeout_ms: p.timeout_ms,
                cap: MAX_STREAM_BYTES,
            },
            idle_ms: p.timeout_ms,
            total_ms: MAX_STREAM_MS,
        })
        .await
        .map_err(|e| Failure::of_call(&e))?;
    let head_ms = io.clock().now_ms().saturating_sub(t0);
    if let Some(failure) = Failure::of_head(head.status, head.location.as_deref()) {
        return Err(failure);
    }
    // The outcome of an unusable stream; a provider's own error message is logged.
    let unusable = |e: StreamError| {
        if let StreamError::Provider(m) = &e {
            log::warn(&format!("ai provider {} said in its stream: {m}", p.name));
        }
        Failure::Failed(e.outcome().to_owned())
    };
    let mut reader = Reader::of(p);
    let mut body = head.body;
    while !reader.is_done() && !splice.is_full() {
        let Some(chunk) = body
            .next_chunk()
            .await
            .map_err(|e| Failure::Failed(e.outcome().to_owned()))?
        else {
            break;
        };
        for text in reader.push(&chunk).map_err(unusable)? {
            let new = splice.push(&text);
            out.send(&new, io.clock()).await;
        }
    }
    // Dropping the body closes a stream not read to its end.
    drop(body);
    if splice.is_full() {
        return Ok((
            Ended {
                finish_reason: Some("length".to_owned()),
                ..Ended::default()
            },
            head_ms,
        ));
    }
    let ended = reader.finish().map_err(unusable)?;
    let tail = splice.push(&ended.tail);
    out.send(&tail, io.clock()).await;
    if out.text.is_empty() {
        return Err(Failure::Failed("empty".to_owned()));
    }
    Ok((ended, head_ms))
}

#[cfg(test)]
mod tests {
    use edge_core::chat::completion::MAX_ANSWER_CHARS;

    use edge_core::chat::langserve::InputShape;

    use super::*;
    use crate::backends::ChunkError;
    use crate::testkit::{
        self, End, FakeClock, FakeNet, Script, TestIo, delta_event, provider, run, streamed,
    };

    const T0: u64 = 1_790_000_000_000;

    /// Records every delta with the (fake) time it came at.
    struct Recorder {
        clock: FakeClock,
        got: Vec<(u64, String)>,
    }

    impl DeltaSink for Recorder {
        async fn delta(&mut self, text: &str) {
            self.got.push((self.clock.now_ms() - T0, text.to_owned()));
        }
    }

    impl Recorder {
        fn texts(&self) -> Vec<&str> {
            self.got.iter().map(|(_, t)| t.as_str()).collect()
        }
    }

    /// A network where the primary plays `primary` and the fallback `fallback`.
    fn world(primary: Script, fallback: Script) -> TestIo {
        testkit::io(
            FakeNet::streaming(move |sent| {
                Ok(if sent.url.starts_with("https://primary.test") {
                    primary.clone()
                } else {
                    fallback.clone()
                })
            }),
            T0,
        )
    }

    fn prompt() -> Prompt {
        Prompt::new(Language::En, &[], Vec::new(), "When do you open?")
    }

    /// Streams the answer with the usual chain (both providers 8 s); the reply and the sink.
    fn ask(io: &TestIo) -> (StreamedReply, Recorder) {
        let s = testkit::settings();
        let mut sink = Recorder {
            clock: io.clock.clone(),
            got: Vec::new(),
        };
        let r = run(stream_reply(io, &s.ai, Language::En, &prompt(), &mut sink));
        assert_eq!(
            r.text,
            sink.texts().concat(),
            "the reply is exactly what was shown"
        );
        assert!(sink.got.iter().all(|(_, t)| !t.is_empty()));
        (r, sink)
    }

    fn outcomes(r: &StreamedReply) -> Vec<(&str, &str)> {
        r.attempts
            .iter()
            .map(|a| (a.provider.as_str(), a.outcome.as_str()))
            .collect()
    }

    #[test]
    fn deltas_are_forwarded_in_order_as_they_arrive() {
        let io = world(
            streamed(&["Hel", "lo ", "world"], 100, 42),
            streamed(&["unused"], 0, 1),
        );
        let (r, sink) = ask(&io);
        // Each delta reached the sink when its chunk came, not at the end of the stream.
        assert_eq!(
            sink.got,
            [
                (100, "Hel".to_owned()),
                (200, "lo ".to_owned()),
                (300, "world".to_owned())
            ]
        );
        assert_eq!(
            (r.text.as_str(), r.provider.as_str(), r.model.as_deref()),
            ("Hello world", "primary", Some("primary-model"))
        );
        assert_eq!(
            (r.tokens, r.first_token_ms, r.latency_ms),
            (Some(42), Some(100), 400)
        );
        assert_eq!(outcomes(&r), [("primary", "answered")]);
        let sent = io.net.to("/chat/completions");
        assert_eq!(sent.len(), 1, "the fallback is not asked");
        let body = sent[0].json();
        assert_eq!(
            (&body["stream"], &body["stream_options"]["include_usage"]),
            (&serde_json::json!(true), &serde_json::json!(true))
        );
        assert_eq!(sent[0].header("authorization"), Some("Bearer primary-key"));
        assert_eq!(sent[0].timeout_ms, 8_000);
    }

    /// The primary's first words, then how it breaks.
    fn broken_primary(end: End, extra: Option<&str>) -> Script {
        let mut chunks = vec![delta_event("Our shop "), delta_event("opens")];
        chunks.extend(extra.map(str::to_owned));
        Script::sse(chunks, 100, end)
    }

    #[test]
    fn a_primary_failing_mid_stream_hands_over_without_repeating_a_word() {
        let error = "data: {\"error\":{\"message\":\"overloaded\"}}\n\n";
        let cases = [
            (
                broken_primary(End::Fail(ChunkError::Transport("reset".into())), None),
                "transport",
            ),
            (broken_primary(End::Eof, Some(error)), "stream_error"),
            (broken_primary(End::Stall, None), "idle_timeout"),
            (
                broken_primary(End::Eof, Some("data: <html>oops</html>\n\n")),
                "bad_chunk",
            ),
            (broken_primary(End::Eof, None), "truncated"),
        ];
        for (primary, outcome) in cases {
            // The fallback starts over, in other chunks, and goes on.
            let io = world(
                primary,
                streamed(&["Our shop ", "opens at 9", " am."], 100, 30),
            );
            let (r, sink) = ask(&io);
            assert_eq!(r.text, "Our shop opens at 9 am.", "{outcome}");
            assert_eq!(sink.texts(), ["Our shop ", "opens", " at 9", " am."]);
            assert_eq!(
                outcomes(&r),
                [("primary", outcome), ("fallback", "answered")]
            );
            assert_eq!(
                (r.provider.as_str(), r.tokens),
                ("fallback", Some(30)),
                "{outcome}"
            );
            // The fallback was told what the user already sees.
            let fallback = &io.net.to("https://fallback.test/chat/completions")[0].json();
            let system = fallback["messages"][0]["content"].as_str().unwrap_or("");
            assert!(system.contains("<<<\nOur shop opens\n>>>"), "{system}");
        }
    }

    #[test]
    fn a_stall_waits_the_providers_timeout_and_a_continuing_fallback_loses_nothing() {
        let io = world(
            broken_primary(End::Stall, None),
            streamed(&[" at 9", " am."], 100, 30),
        );
        let (r, sink) = ask(&io);
        assert_eq!(r.text, "Our shop opens at 9 am.");
        // 200 ms of primary, its 8 s idle gap, then the fallback's 100 ms.
        assert_eq!(sink.got[2], (8_300, " at 9".to_owned()));
        assert_eq!(r.first_token_ms, Some(100));
        // A first chunk later than the timeout is a timeout, measured on the same clock.
        let late = Script {
            chunks: vec![(9_000, delta_event("late").into_bytes())],
            ..streamed(&[], 0, 1)
        };
        let io = world(late, streamed(&["from fallback"], 100, 5));
        let (r, _) = ask(&io);
        assert_eq!(
            outcomes(&r),
            [("primary", "timeout"), ("fallback", "answered")]
        );
        assert_eq!(r.first_token_ms, Some(8_100));
    }

    #[test]
    fn a_stream_that_drips_past_its_total_time_or_grows_past_its_cap_is_cut() {
        // A word every 7 s (within the 8 s idle gap) for 140 s: cut at 120 s.
        let drip: Vec<String> = (0..20).map(|_| delta_event("word ")).collect();
        let io = world(
            Script::sse(drip, 7_000, End::Eof),
            streamed(&["from fallback"], 100, 5),
        );
        let (r, sink) = ask(&io);
        assert_eq!(
            outcomes(&r),
            [("primary", "total_timeout"), ("fallback", "answered")]
        );
        assert_eq!(
            sink.got.len(),
            17 + 1,
            "17 words in 120 s, then the fallback"
        );
        assert_eq!(sink.got[17], (120_100, "from fallback".to_owned()));
        let huge = Script::sse(vec![" ".repeat(MAX_STREAM_BYTES + 1)], 0, End::Eof);
        let io = world(huge, streamed(&["from fallback"], 100, 5));
        let (r, _) = ask(&io);
        assert_eq!(
            outcomes(&r),
            [("primary", "too_large"), ("fallback", "answered")]
        );
    }

    #[test]
    fn a_fallback_that_picks_up_the_last_words_does_not_repeat_them() {
        let io = world(
            broken_primary(End::Stall, None),
            streamed(&["shop ", "opens at", " 9 am."], 100, 30),
        );
        let (r, sink) = ask(&io);
        assert_eq!(r.text, "Our shop opens at 9 am.");
        assert_eq!(sink.texts(), ["Our shop ", "opens", " at", " 9 am."]);
    }

    #[test]
    fn a_fallback_that_only_repeats_the_partial_answer_adds_nothing() {
        let io = world(
            broken_primary(End::Stall, None),
            streamed(&["Our ", "shop"], 100, 30),
        );
        let (r, sink) = ask(&io);
        assert_eq!(r.text, "Our shop opens");
        assert_eq!(sink.texts(), ["Our shop ", "opens"]);
        assert_eq!(r.provider, "fallback");
    }

    #[test]
    fn when_every_provider_fails_the_apology_is_streamed_after_what_was_shown() {
        let apology = text::apology(Language::En);
        let io = world(Script::whole(500, "{}"), broken_primary(End::Stall, None));
        let (r, sink) = ask(&io);
        assert_eq!(
            sink.texts(),
            ["Our shop ", "opens", &format!("\n\n{apology}")]
        );
        assert_eq!((r.provider.as_str(), r.model.as_deref()), ("static", None));
        assert_eq!(
            outcomes(&r),
            [("primary", "status_500"), ("fallback", "idle_timeout")]
        );
        // Nothing shown before: the apology alone.
        let io = world(Script::whole(503, "busy"), Script::whole(200, "<html>"));
        let (r, sink) = ask(&io);
        assert_eq!(sink.texts(), [apology]);
        assert_eq!(
            outcomes(&r),
            [("primary", "status_503"), ("fallback", "truncated")]
        );
        assert_eq!(r.first_token_ms, Some(0));
    }

    #[test]
    fn an_open_breaker_skips_its_provider_and_the_chains_share_breakers() {
        let io = world(
            broken_primary(End::Stall, None),
            streamed(&["Our shop opens at 9."], 100, 30),
        );
        let s = testkit::settings();
        for _ in 0..3 {
            assert_eq!(outcomes(&ask(&io).0)[0], ("primary", "idle_timeout"));
        }
        assert_eq!(
            io.breakers.states(&s.ai, io.clock.now_ms())[0],
            ("primary".to_owned(), "open")
        );
        let calls = io.net.to("https://primary.test/chat/completions").len();
        let (r, sink) = ask(&io);
        assert_eq!(
            outcomes(&r),
            [("primary", "circuit_open"), ("fallback", "answered")]
        );
        assert_eq!(sink.texts(), ["Our shop opens at 9."]);
        assert_eq!(
            io.net.to("https://primary.test/chat/completions").len(),
            calls,
            "skipped, not called"
        );
    }

    #[test]
    fn a_provider_without_a_key_is_skipped() {
        let io = world(streamed(&["unused"], 0, 1), streamed(&["hi"], 10, 1));
        let mut keyless = provider("primary", 8_000);
        keyless.api_key = None;
        let s = testkit::ai_settings(vec![keyless, provider("fallback", 8_000)]);
        let mut sink = recorder(&io);
        let r = run(stream_reply(&io, &s, Language::En, &prompt(), &mut sink));
        assert_eq!(
            outcomes(&r),
            [("primary", "no_api_key"), ("fallback", "answered")]
        );
        assert_eq!(r.text, "hi");
    }

    #[test]
    fn a_provider_that_ignores_stream_and_answers_json_is_one_delta() {
        let json = r#"{"choices":[{"message":{"role":"assistant","content":" We open at 9. "},"finish_reason":"stop"}],"usage":{"total_tokens":12}}"#;
        let io = world(Script::whole(200, json), streamed(&["unused"], 0, 1));
        let (r, sink) = ask(&io);
        assert_eq!(sink.texts(), ["We open at 9."]);
        assert_eq!((r.provider.as_str(), r.tokens), ("primary", Some(12)));
        // Unusable JSON moves on.
        let io = world(
            Script::whole(200, r#"{"choices":[]}"#),
            streamed(&["from fallback"], 0, 1),
        );
        let (r, _) = ask(&io);
        assert_eq!(
            outcomes(&r),
            [("primary", "bad_answer"), ("fallback", "answered")]
        );
    }

    #[test]
    fn an_endless_answer_stops_at_the_length_limit() {
        let word = "word ".repeat(1_000);
        let chunks: Vec<String> = (0..10).map(|_| delta_event(&word)).collect();
        let io = world(Script::sse(chunks, 1, End::Stall), streamed(&["x"], 0, 1));
        let (r, _) = ask(&io);
        assert_eq!(r.text.chars().count(), MAX_ANSWER_CHARS);
        assert_eq!(outcomes(&r), [("primary", "answered")]);
        // An empty answer is no answer.
        let io = world(
            streamed(&["", " "], 0, 1),
            streamed(&["from fallback"], 0, 1),
        );
        let (r, _) = ask(&io);
        assert_eq!(
            outcomes(&r),
            [("primary", "empty"), ("fallback", "answered")]
        );
    }

    /// A LangServe primary (input `shape`, an Access token) before the OpenAI-compatible
    /// fallback, its breaker needing 5 failures (so only a refusal opens it at once).
    fn langserve_first(shape: InputShape) -> AiSettings {
        let mut s = testkit::ai_settings(vec![
            testkit::langserve_provider("primary", shape, Some(("id.access", "s3cret"))),
            testkit::provider("fallback", 8_000),
        ]);
        s.breaker.failure_threshold = 5;
        s
    }

    fn recorder(io: &TestIo) -> Recorder {
        Recorder {
            clock: io.clock.clone(),
            got: Vec::new(),
        }
    }

    /// LangServe's `/stream` saying `texts` (as LangServe 0.3 writes it: CRLF, a `metadata`
    /// event first, the `end` event without data).
    fn langserve_stream(texts: &[&str]) -> Script {
        let mut chunks = vec!["event: metadata\r\ndata: {\"run_id\": \"r1\"}\r\n\r\n".to_owned()];
        chunks.extend(texts.iter().map(|t| {
            format!(
                "event: data\r\ndata: {}\r\n\r\n",
                serde_json::json!({"content": t, "type": "AIMessageChunk"})
            )
        }));
        chunks.push("event: end\r\n\r\n".to_owned());
        Script::sse(chunks, 100, End::Eof)
    }

    #[test]
    fn a_langserve_primary_streams_through_its_stream_route_with_its_access_token() {
        let io = world(
            langserve_stream(&["Ayaka ", "here."]),
            streamed(&["unused"], 0, 1),
        );
        let s = langserve_first(InputShape::Messages);
        let mut sink = recorder(&io);
        let r = run(stream_reply(&io, &s, Language::En, &prompt(), &mut sink));
        assert_eq!(
            (r.text.as_str(), r.provider.as_str()),
            ("Ayaka here.", "primary")
        );
        assert_eq!(
            sink.got,
            [(200, "Ayaka ".to_owned()), (300, "here.".to_owned())]
        );
        let sent = io.net.to("/chain/stream");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].json()["input"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            (
                sent[0].header("cf-access-client-id"),
                sent[0].header("cf-access-client-secret")
            ),
            (Some("id.access"), Some("s3cret"))
        );
        assert_eq!(sent[0].header("accept"), Some("text/event-stream"));
        assert!(
            io.net.to("/chat/completions").is_empty(),
            "the fallback is not asked"
        );

        // A stream cut before LangServe's `end` is a failure: the fallback continues.
        let mut cut = langserve_stream(&["Ayaka ", "here."]);
        cut.chunks.pop();
        let io = world(cut, streamed(&["Ayaka here.", " How can I help?"], 100, 9));
        let mut sink = recorder(&io);
        let r = run(stream_reply(&io, &s, Language::En, &prompt(), &mut sink));
        assert_eq!(r.text, "Ayaka here. How can I help?");
        assert_eq!(r.text, sink.texts().concat());
        assert_eq!(
            outcomes(&r),
            [("primary", "truncated"), ("fallback", "answered")]
        );
    }

    #[test]
    fn a_refused_stream_opens_the_breaker_at_once_and_is_kept_for_analytics() {
        let io = world(
            Script::whole(401, "{\"detail\":\"no\"}"),
            streamed(&["fine"], 10, 1),
        );
        let s = langserve_first(InputShape::String);
        let mut sink = recorder(&io);
        let r = run(stream_reply(&io, &s, Language::En, &prompt(), &mut sink));
        assert_eq!(
            outcomes(&r),
            [("primary", "credential_refused"), ("fallback", "answered")]
        );
        let refusals = io.breakers.take_refusals();
        assert_eq!(refusals.len(), 1);
        assert_eq!(
            (refusals[0].status, refusals[0].credential.as_str()),
            (401, "AI_PRIMARY_ACCESS_CLIENT_ID/SECRET")
        );
        assert!(
            !io.breakers.allows("primary", io.clock.now_ms()),
            "one refusal opens it"
        );
        let again = run(stream_reply(&io, &s, Language::En, &prompt(), &mut sink));
        assert_eq!(
            outcomes(&again),
            [("primary", "circuit_open"), ("fallback", "answered")]
        );
        assert_eq!(
            io.net.to("/chain/stream").len(),
            1,
            "no second call to a refused provider"
        );
    }
}
