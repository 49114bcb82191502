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
//! With tools ([`stream_reply_with`]), each round of the chain may end in tool calls
//! (OpenAI-compatible `tool_calls`, streamed or not): they are run, each within the tool
//! timeout, their results added to the conversation, and the chain asked again, at most
//! [`MAX_TOOL_ROUNDS`] times; then once more with `tool_choice: none`. Text said before a
//! round is kept (the stored answer is still exactly what was shown; a blank line separates
//! two rounds' texts). A LangServe provider takes no tools: it answers from the prompt with
//! the rounds' results folded into its system message.
//!
//! No cache and no quota here: the caller applies its own limits.

use std::borrow::Cow;

use edge_core::chat::completion::{MAX_ANSWER_CHARS, Prompt};
use edge_core::chat::intent::Language;
use edge_core::chat::langserve;
use edge_core::chat::stream::{self, Ended, MAX_STREAM_BYTES, Splice, StreamError, StreamReader};
use edge_core::chat::text;
use edge_core::chat::tools::{
    self, MAX_TOOL_ROUNDS, Offer, Round, Tool, ToolCall, ToolRecord, ToolStatus,
};
use edge_core::routing::breaker::Observation;
use futures::future::{Either, select};

use crate::ai::{Attempt, Failure, ProviderRequest, admit, record_failure};
use crate::backends::{Call, ChatIo, ChunkStream, Clock, Method, StreamCall, StreamingOutbound};
use crate::log;
use crate::settings::{AiSettings, Credentials, Provider, ProviderKind};
use crate::tools::{ToolPolicy, ToolRunner};

/// Longest one provider may stream for, however steadily, ms.
pub(crate) const MAX_STREAM_MS: u64 = 120_000;

/// Where the pieces of an answer go, in order, as they arrive.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait DeltaSink {
    /// The next piece of the answer (never empty).
    async fn delta(&mut self, text: &str);
    /// A tool call started (`ToolStatus::Started`) or ended; `label` is what to show.
    async fn tool(&mut self, _call: &ToolCall, _status: ToolStatus, _label: &str) {}
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
    /// The tool calls made for the answer and their results, in order.
    pub(crate) tool_calls: Vec<ToolRecord>,
}

/// The sink, and what it was given.
struct Out<'a, S> {
    sink: &'a mut S,
    text: String,
    started: u64,
    first_token_ms: Option<u64>,
    /// A new tool round's first text comes after a blank line.
    separate: bool,
}

impl<S: DeltaSink> Out<'_, S> {
    async fn send(&mut self, text: &str, clock: &impl Clock) {
        if text.is_empty() {
            return;
        }
        if self.first_token_ms.is_none() {
            self.first_token_ms = Some(clock.now_ms().saturating_sub(self.started));
        }
        let text = if std::mem::take(&mut self.separate) {
            Cow::Owned(format!("\n\n{text}"))
        } else {
            Cow::Borrowed(text)
        };
        self.text.push_str(&text);
        self.sink.delta(&text).await;
    }
}

/// Streams the answer to `prompt` through the provider chain into `sink` (no tools).
#[cfg(test)]
pub(crate) async fn stream_reply(
    io: &impl ChatIo,
    s: &AiSettings,
    lang: Language,
    prompt: &Prompt,
    sink: &mut impl DeltaSink,
) -> StreamedReply {
    stream_reply_with(
        io,
        s,
        lang,
        prompt,
        sink,
        None::<(&crate::tools::NoTools, ToolPolicy)>,
    )
    .await
}

/// Streams the answer to `prompt` through the provider chain into `sink`, offering the
/// model `tools` (when given): at most [`MAX_TOOL_ROUNDS`] rounds of calls, each call within
/// the policy's timeout, then an answer without tools.
pub(crate) async fn stream_reply_with<T: ToolRunner>(
    io: &impl ChatIo,
    s: &AiSettings,
    lang: Language,
    prompt: &Prompt,
    sink: &mut impl DeltaSink,
    tools: Option<(&T, ToolPolicy)>,
) -> StreamedReply {
    let started = io.clock().now_ms();
    let mut out = Out {
        sink,
        text: String::new(),
        started,
        first_token_ms: None,
        separate: false,
    };
    let mut chain = Chain {
        attempts: Vec::new(),
        tokens: None,
    };
    let mut rounds: Vec<Round> = Vec::new();
    let mut records = Vec::new();
    loop {
        let offer = tools.map(|_| {
            if rounds.len() < MAX_TOOL_ROUNDS {
                Offer::Auto
            } else {
                Offer::Final
            }
        });
        let before = out.text.len();
        out.separate = !out.text.is_empty() && !out.text.ends_with(char::is_whitespace);
        let Some((p, ended)) = chain.round(io, s, prompt, &rounds, offer, &mut out).await else {
            break;
        };
        let calls = match (tools, offer) {
            (Some((runner, policy)), Some(Offer::Auto)) if !ended.tool_calls.is_empty() => {
                Some((runner, policy, ended.tool_calls))
            }
            _ => None,
        };
        let Some((runner, policy, calls)) = calls else {
            return StreamedReply {
                text: out.text,
                provider: p.name.clone(),
                model: Some(p.model.clone()),
                tokens: chain.tokens,
                latency_ms: io.clock().now_ms().saturating_sub(started),
                first_token_ms: out.first_token_ms,
                attempts: chain.attempts,
                tool_calls: records,
            };
        };
        out.separate = false;
        let number = u32::try_from(rounds.len() + 1).unwrap_or(u32::MAX);
        let results = run_calls(
            io,
            runner,
            policy,
            lang,
            number,
            &calls,
            &mut out,
            &mut records,
        )
        .await;
        rounds.push(Round {
            text: out.text[before..].trim_start().to_owned(),
            calls,
            results,
        });
    }
    out.separate = false;
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
        tokens: chain.tokens,
        latency_ms: io.clock().now_ms().saturating_sub(started),
        first_token_ms: out.first_token_ms,
        attempts: chain.attempts,
        tool_calls: records,
    }
}

/// What the chain did across rounds: every provider's attempt, the tokens reported.
struct Chain {
    attempts: Vec<Attempt>,
    tokens: Option<u64>,
}

impl Chain {
    /// One round through the chain (primary, fallback, each taking over what the one
    /// before showed): the provider that answered and how its answer ended, or `None`
    /// when every provider failed.
    async fn round<'p, S: DeltaSink>(
        &mut self,
        io: &impl ChatIo,
        s: &'p AiSettings,
        prompt: &Prompt,
        rounds: &[Round],
        offer: Option<Offer>,
        out: &mut Out<'_, S>,
    ) -> Option<(&'p Provider, Ended)> {
        let separator = if out.separate { 2 } else { 0 };
        let room = MAX_ANSWER_CHARS.saturating_sub(out.text.chars().count() + separator);
        let mut splice = Splice::new(room);
        for p in &s.providers {
            let mut attempt = |outcome: &str| {
                self.attempts.push(Attempt {
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
            let asked = Asked {
                prompt,
                rounds,
                offer,
            };
            let result = stream_one(io, p, creds, &asked, &mut splice, out).await;
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
                        self.tokens = Some(self.tokens.unwrap_or(0).saturating_add(t));
                    }
                    return Some((p, ended));
                }
                Err(failure) => {
                    let outcome = record_failure(io, s, p, failure, t0);
                    attempt(&outcome);
                }
            }
        }
        None
    }
}

/// Runs one round's `calls` in order, each within the policy's timeout (the first
/// `calls_per_round`; the model is told to ask again for the others), telling the sink as
/// each starts and ends and recording it; each call's result for the model.
#[allow(clippy::too_many_arguments)]
async fn run_calls<S: DeltaSink>(
    io: &impl ChatIo,
    runner: &impl ToolRunner,
    policy: ToolPolicy,
    lang: Language,
    round: u32,
    calls: &[ToolCall],
    out: &mut Out<'_, S>,
    records: &mut Vec<ToolRecord>,
) -> Vec<String> {
    let mut results = Vec::with_capacity(calls.len());
    for (i, call) in calls.iter().enumerate() {
        let label = Tool::named(&call.name).map_or(tools::unknown_label(lang), |t| t.label(lang));
        out.sink.tool(call, ToolStatus::Started, label).await;
        let t0 = io.clock().now_ms();
        let (status, result) = if i >= policy.calls_per_round {
            (
                ToolStatus::Failed,
                tools::error_result(&format!(
                    "at most {} tool calls are run per round; call this one again",
                    policy.calls_per_round
                )),
            )
        } else {
            match tools::parse_call(call) {
                Err(e) => (ToolStatus::Failed, tools::error_result(&e.to_string())),
                Ok(req) => {
                    let run = std::pin::pin!(runner.run(&req, t0));
                    let timer = std::pin::pin!(io.clock().sleep(policy.timeout_ms));
                    match select(run, timer).await {
                        Either::Left((Ok(v), _)) => (ToolStatus::Ok, v),
                        Either::Left((Err(m), _)) => (ToolStatus::Failed, tools::error_result(&m)),
                        Either::Right(_) => {
                            log::warn(&format!(
                                "tool {} timed out after {} ms",
                                call.name, policy.timeout_ms
                            ));
                            (
                                ToolStatus::TimedOut,
                                tools::error_result(&format!(
                                    "the tool did not answer within {} ms; tell the customer \
                                     it is unavailable right now",
                                    policy.timeout_ms
                                )),
                            )
                        }
                    }
                }
            }
        };
        let content = tools::result_content(&result);
        out.sink.tool(call, status, label).await;
        let ms = io.clock().now_ms().saturating_sub(t0);
        records.push(ToolRecord::new(call, round, label, status, &content, ms));
        results.push(content);
    }
    results
}

/// What a provider is asked in a round: the prompt, the tool rounds so far, the tools.
struct Asked<'a> {
    prompt: &'a Prompt,
    rounds: &'a [Round],
    offer: Option<Offer>,
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
    asked: &Asked<'_>,
    splice: &mut Splice,
    out: &mut Out<'_, S>,
) -> Result<(Ended, u64), Failure> {
    let prompt = stream::continuation_prompt(asked.prompt, splice.shown());
    let request = match (&p.kind, asked.offer) {
        (ProviderKind::OpenAi, Some(offer)) => {
            let mut r = ProviderRequest::new(p, creds, &prompt, true);
            r.body = tools::request_body(&p.model, p.max_tokens, &prompt, asked.rounds, offer)
                .to_string()
                .into_bytes();
            r
        }
        (ProviderKind::LangServe(_), Some(_)) => {
            ProviderRequest::new(p, creds, &tools::folded_prompt(&prompt, asked.rounds), true)
        }
        (_, None) => ProviderRequest::new(p, creds, &prompt, true),
    };
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
    let calls = asked.offer == Some(Offer::Auto) && !ended.tool_calls.is_empty();
    if splice.shown().is_empty() && !calls {
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

#[cfg(test)]
mod tool_loop_tests {
    use edge_core::chat::completion::Prompt;
    use edge_core::chat::intent::Language;
    use edge_core::chat::tools::{ToolCall, ToolStatus};
    use serde_json::{Value, json};

    use super::*;
    use crate::testkit::{self, End, FakeNet, Script, Sent, TestIo, delta_event, run, streamed};
    use crate::tools::ToolBox;
    use crate::tools::fakes::{MemDesk, MemQueue, Mode};

    const T0: u64 = 1_790_000_000_000;

    /// Every delta and tool event, in order.
    #[derive(Default)]
    struct Seen {
        deltas: Vec<String>,
        events: Vec<(String, String, ToolStatus)>,
        order: Vec<&'static str>,
    }

    impl DeltaSink for Seen {
        async fn delta(&mut self, text: &str) {
            self.deltas.push(text.to_owned());
            self.order.push("delta");
        }

        async fn tool(&mut self, call: &ToolCall, status: ToolStatus, label: &str) {
            assert!(!label.is_empty());
            self.events
                .push((call.id.clone(), call.name.clone(), status));
            self.order.push("tool");
        }
    }

    /// The event-stream chunk of a piece of tool call `index`.
    fn call_piece(index: usize, id: Option<&str>, name: Option<&str>, args: &str) -> String {
        let mut f = json!({"arguments": args});
        if let Some(n) = name {
            f["name"] = json!(n);
        }
        let mut c = json!({"index": index, "type": "function", "function": f});
        if let Some(id) = id {
            c["id"] = json!(id);
        }
        format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [c]}, "finish_reason": null}]})
        )
    }

    fn tool_end(tokens: u64) -> String {
        format!(
            "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            json!({"choices": [], "usage": {"total_tokens": tokens}})
        )
    }

    /// Says `text` (if any), then calls `name` with `args` (cut in two pieces).
    fn calling(text: Option<&str>, id: &str, name: &str, args: &str) -> Script {
        let mut chunks: Vec<String> = text.map(delta_event).into_iter().collect();
        let mid = args.len() / 2;
        chunks.push(call_piece(0, Some(id), Some(name), &args[..mid]));
        chunks.push(call_piece(0, None, None, &args[mid..]));
        chunks.push(tool_end(7));
        Script::sse(chunks, 10, End::Eof)
    }

    fn rounds_in(sent: &Sent) -> usize {
        sent.json()["messages"].as_array().map_or(0, |m| {
            m.iter()
                .filter(|m| m["role"] == "assistant" && m.get("tool_calls").is_some())
                .count()
        })
    }

    fn toolbox() -> ToolBox<MemDesk, MemQueue> {
        ToolBox {
            desk: MemDesk::with_article("kb-42", "Refunds", "Refunds take 5 days."),
            escalator: Some(MemQueue::default()),
            session_id: Some("s1".to_owned()),
        }
    }

    const POLICY: ToolPolicy = ToolPolicy {
        timeout_ms: 5_000,
        calls_per_round: 4,
    };

    fn ask(
        io: &TestIo,
        b: &ToolBox<MemDesk, MemQueue>,
        policy: ToolPolicy,
    ) -> (StreamedReply, Seen) {
        let s = testkit::settings();
        let prompt = Prompt::new(Language::En, &[], Vec::new(), "How long do refunds take?");
        let mut seen = Seen::default();
        let r = run(stream_reply_with(
            io,
            &s.ai,
            Language::En,
            &prompt,
            &mut seen,
            Some((b, policy)),
        ));
        assert_eq!(r.text, seen.deltas.concat(), "stored == shown");
        (r, seen)
    }

    /// The primary searches the knowledge base first, then answers from the result.
    fn searching_primary(sent: &Sent) -> Script {
        if rounds_in(sent) == 0 {
            calling(
                Some("Let me check."),
                "call_1",
                "search_knowledge_base",
                r#"{"query":"refund"}"#,
            )
        } else {
            streamed(&["Refunds take ", "5 days [kb-42]."], 10, 20)
        }
    }

    #[test]
    fn a_streamed_tool_call_is_run_and_the_answer_cites_its_result() {
        let io = testkit::io(FakeNet::streaming(|sent| Ok(searching_primary(sent))), T0);
        let b = toolbox();
        let (r, seen) = ask(&io, &b, POLICY);
        assert_eq!(r.text, "Let me check.\n\nRefunds take 5 days [kb-42].");
        assert_eq!(
            seen.deltas[1], "\n\nRefunds take ",
            "a blank line between rounds"
        );
        assert_eq!(seen.order, ["delta", "tool", "tool", "delta", "delta"]);
        assert_eq!(
            seen.events,
            [
                (
                    "call_1".into(),
                    "search_knowledge_base".into(),
                    ToolStatus::Started
                ),
                (
                    "call_1".into(),
                    "search_knowledge_base".into(),
                    ToolStatus::Ok
                )
            ]
        );
        assert_eq!((r.provider.as_str(), r.tokens), ("primary", Some(27)));
        assert_eq!(r.tool_calls.len(), 1);
        let rec = &r.tool_calls[0];
        assert_eq!(
            (rec.status, rec.round, rec.name.as_str()),
            (ToolStatus::Ok, 1, "search_knowledge_base")
        );
        assert!(rec.result.contains("kb-42"));
        assert_eq!(rec.label, "Searching the knowledge base…");
        assert_eq!(b.desk.searches.borrow()[0].text, "refund");
        // What the provider was sent: tools offered, then the round and its result.
        let sent = io.net.to("https://primary.test/chat/completions");
        assert_eq!(sent.len(), 2);
        let first = sent[0].json();
        assert_eq!(
            (
                first["tool_choice"].as_str(),
                first["tools"].as_array().map(Vec::len)
            ),
            (Some("auto"), Some(4))
        );
        let second = sent[1].json();
        let m = second["messages"].as_array().expect("messages");
        let n = m.len();
        assert_eq!(m[n - 2]["role"], "assistant");
        assert_eq!(m[n - 2]["content"], "Let me check.");
        assert_eq!(
            m[n - 2]["tool_calls"][0]["function"]["arguments"],
            r#"{"query":"refund"}"#
        );
        assert_eq!(m[n - 1]["role"], "tool");
        assert_eq!(m[n - 1]["tool_call_id"], "call_1");
        let result: Value =
            serde_json::from_str(m[n - 1]["content"].as_str().expect("text")).expect("json");
        assert_eq!(result["hits"][0]["id"], "kb-42");
    }

    #[test]
    fn a_tool_that_times_out_is_reported_and_the_answer_goes_on() {
        let io = testkit::io(
            FakeNet::streaming(|sent| {
                Ok(if rounds_in(sent) == 0 {
                    calling(None, "c9", "search_knowledge_base", r#"{"query":"refund"}"#)
                } else {
                    streamed(
                        &["Sorry, our help articles are unavailable right now."],
                        10,
                        5,
                    )
                })
            }),
            T0,
        );
        let b = toolbox();
        b.desk.mode.set(Mode::Hangs);
        let t0 = io.clock.now_ms();
        let (r, seen) = ask(&io, &b, POLICY);
        assert_eq!(seen.events.last().map(|e| e.2), Some(ToolStatus::TimedOut));
        assert_eq!(
            r.text,
            "Sorry, our help articles are unavailable right now."
        );
        assert_eq!(r.tool_calls[0].status, ToolStatus::TimedOut);
        assert_eq!(r.tool_calls[0].ms, 5_000, "waited exactly the tool timeout");
        assert!(io.clock.now_ms() - t0 >= 5_000);
        let sent = io.net.to("/chat/completions");
        let told = sent[1].json()["messages"]
            .as_array()
            .and_then(|m| m.last().cloned())
            .expect("tool");
        assert!(
            told["content"]
                .as_str()
                .unwrap_or("")
                .contains("did not answer within 5000 ms")
        );
    }

    #[test]
    fn failed_tools_and_bad_arguments_are_told_to_the_model_without_backend_words() {
        let io = testkit::io(
            FakeNet::streaming(|sent| {
                Ok(match rounds_in(sent) {
                    0 => calling(
                        None,
                        "a",
                        "create_ticket",
                        r#"{"subject":"Broken","description":"cracked"}"#,
                    ),
                    1 => calling(None, "b", "get_ticket", r#"{"ticket_id":"nope","x":1}"#),
                    _ => streamed(&["I could not open a ticket."], 10, 5),
                })
            }),
            T0,
        );
        let b = toolbox();
        b.desk.mode.set(Mode::Fails);
        let (r, _) = ask(&io, &b, POLICY);
        let statuses: Vec<ToolStatus> = r.tool_calls.iter().map(|t| t.status).collect();
        assert_eq!(statuses, [ToolStatus::Failed, ToolStatus::Failed]);
        assert!(r.tool_calls[0].result.contains("unavailable"));
        assert!(!r.tool_calls[0].result.contains("D1_ERROR"));
        assert!(
            r.tool_calls[1].result.contains("unknown argument"),
            "{}",
            r.tool_calls[1].result
        );
        assert_eq!(r.text, "I could not open a ticket.");
        assert!(b.desk.tickets.borrow().is_empty());
    }

    #[test]
    fn the_loop_stops_after_four_rounds_and_asks_once_more_without_tools() {
        // A model that always wants another search, even when told not to.
        let io = testkit::io(
            FakeNet::streaming(|sent| {
                Ok(if sent.json()["tool_choice"] == "none" {
                    let mut s = calling(
                        Some("Here is what I found."),
                        "z",
                        "search_knowledge_base",
                        r#"{"query":"x"}"#,
                    );
                    s.chunks.pop();
                    s.chunks.push((10, delta_event(" Done.").into_bytes()));
                    s.chunks.push((10, tool_end(1).into_bytes()));
                    s
                } else {
                    calling(
                        None,
                        "again",
                        "search_knowledge_base",
                        r#"{"query":"refund"}"#,
                    )
                })
            }),
            T0,
        );
        let b = toolbox();
        let (r, _) = ask(&io, &b, POLICY);
        let sent = io.net.to("https://primary.test/chat/completions");
        assert_eq!(sent.len(), MAX_TOOL_ROUNDS + 1);
        let choices: Vec<String> = sent
            .iter()
            .map(|s| s.json()["tool_choice"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(choices, ["auto", "auto", "auto", "auto", "none"]);
        assert_eq!(r.tool_calls.len(), MAX_TOOL_ROUNDS);
        assert_eq!(
            b.desk.searches.borrow().len(),
            MAX_TOOL_ROUNDS,
            "the last round's calls are not run"
        );
        assert_eq!(r.text, "Here is what I found. Done.");
    }

    #[test]
    fn calls_past_the_per_round_limit_are_refused_and_a_json_answer_with_calls_works() {
        let many = json!({"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[
            {"id":"a","type":"function","function":{"name":"search_knowledge_base","arguments":"{\"query\":\"a\"}"}},
            {"id":"b","type":"function","function":{"name":"search_knowledge_base","arguments":"{\"query\":\"b\"}"}},
            {"id":"c","type":"function","function":{"name":"search_knowledge_base","arguments":"{\"query\":\"c\"}"}}
        ]},"finish_reason":"tool_calls"}],"usage":{"total_tokens":3}});
        let io = testkit::io(
            FakeNet::streaming(move |sent| {
                Ok(if rounds_in(sent) == 0 {
                    Script::whole(200, &many.to_string())
                } else {
                    streamed(&["ok"], 10, 1)
                })
            }),
            T0,
        );
        let b = toolbox();
        let (r, _) = ask(
            &io,
            &b,
            ToolPolicy {
                timeout_ms: 5_000,
                calls_per_round: 2,
            },
        );
        let statuses: Vec<ToolStatus> = r.tool_calls.iter().map(|t| t.status).collect();
        assert_eq!(
            statuses,
            [ToolStatus::Ok, ToolStatus::Ok, ToolStatus::Failed]
        );
        assert!(r.tool_calls[2].result.contains("at most 2"));
        assert_eq!(b.desk.searches.borrow().len(), 2);
        assert_eq!(r.text, "ok");
    }

    #[test]
    fn a_tool_round_fails_over_and_a_langserve_fallback_gets_the_results_without_tools() {
        let mut s = testkit::ai_settings(vec![
            testkit::provider("primary", 8_000),
            testkit::langserve_provider(
                "fallback",
                edge_core::chat::langserve::InputShape::Messages,
                None,
            ),
        ]);
        s.breaker.failure_threshold = 5;
        let io = testkit::io(
            FakeNet::streaming(|sent| {
                Ok(if sent.url.starts_with("https://primary.test") {
                    if rounds_in(sent) == 0 {
                        calling(None, "c1", "search_knowledge_base", r#"{"query":"refund"}"#)
                    } else {
                        Script::whole(500, "down")
                    }
                } else {
                    let mut chunks =
                        vec!["event: metadata\r\ndata: {\"run_id\": \"r1\"}\r\n\r\n".to_owned()];
                    chunks.push(format!(
                        "event: data\r\ndata: {}\r\n\r\n",
                        json!({"content": "5 days [kb-42].", "type": "AIMessageChunk"})
                    ));
                    chunks.push("event: end\r\n\r\n".to_owned());
                    Script::sse(chunks, 10, End::Eof)
                })
            }),
            T0,
        );
        let b = toolbox();
        let prompt = Prompt::new(Language::En, &[], Vec::new(), "refunds?");
        let mut seen = Seen::default();
        let r = run(stream_reply_with(
            &io,
            &s,
            Language::En,
            &prompt,
            &mut seen,
            Some((&b, POLICY)),
        ));
        assert_eq!(r.text, "5 days [kb-42].");
        assert_eq!(r.provider, "fallback");
        let ls = io.net.to("/chain/stream");
        assert_eq!(ls.len(), 1);
        let body = ls[0].json();
        assert!(body.get("tools").is_none(), "LangServe gets no tools");
        assert!(ls[0].body.contains("kb-42"), "but sees the results");
    }

    #[test]
    fn without_tools_the_request_offers_none() {
        let io = testkit::io(FakeNet::streaming(|_| Ok(streamed(&["hi"], 10, 1))), T0);
        let s = testkit::settings();
        let prompt = Prompt::new(Language::En, &[], Vec::new(), "hi");
        let mut seen = Seen::default();
        let r = run(stream_reply(&io, &s.ai, Language::En, &prompt, &mut seen));
        assert_eq!(r.text, "hi");
        assert!(r.tool_calls.is_empty());
        assert!(
            io.net.to("/chat/completions")[0]
                .json()
                .get("tools")
                .is_none()
        );
    }
}
