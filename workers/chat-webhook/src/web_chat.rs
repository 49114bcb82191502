//! The web support chat's flows, generic over small backends so they run natively against
//! fakes: a session's store ([`SessionStore`]: the `ChatSession` object's SQLite in the
//! worker), where its frames go ([`FrameSink`]: the session's WebSockets and/or an SSE
//! stream), who answers ([`Answerer`]: the streaming provider chain) and the per-address
//! limit ([`AddressGate`]). Decisions (limits, memory, alarms) are the core's
//! (`edge_core::chat::web`); this module sequences them and the IO.

use edge_core::chat::completion::{Prompt, Role};
use edge_core::chat::intent::Language;
use edge_core::chat::tools::{ToolCall, ToolRecord, ToolStatus};
use edge_core::chat::web::frame::{Message, Metadata, ServerFrame, Status};
use edge_core::chat::web::limits::{
    self, AlarmAction, Clocks, HOUR_MS, Limits, MINUTE_MS, Refusal, Timers,
};
use edge_core::chat::web::memory::{self, MemoryPolicy, SUMMARY_MAX_TOKENS};

use std::rc::Rc;

use crate::ai;
use crate::ai_stream::{self, DeltaSink};
use crate::backends::{BackendError, ChatIo};
use crate::settings::AiSettings;
use crate::tools::{ToolPolicy, ToolRunner};

/// Most messages one history answer (HTTP or the WebSocket's first frame) carries.
pub(crate) const MAX_HISTORY_MESSAGES: usize = 1_000;

/// A session's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionRow {
    pub(crate) status: Status,
    pub(crate) created_at: u64,
    pub(crate) last_activity: u64,
    pub(crate) ended_at: Option<u64>,
}

impl SessionRow {
    pub(crate) fn clocks(&self) -> Clocks {
        Clocks {
            status: self.status,
            last_activity_ms: self.last_activity,
            ended_at_ms: self.ended_at,
        }
    }
}

/// The rolling summary: its text, the last message id it covers, when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) text: String,
    pub(crate) through: u64,
    pub(crate) made_at: u64,
}

/// One session's storage (synchronous: the object's SQLite is).
pub(crate) trait SessionStore {
    /// The session, if it was created (and not deleted).
    fn session(&self) -> Result<Option<SessionRow>, BackendError>;
    /// Creates the session at `now` (no-op when it exists); returns it.
    fn create(&self, now: u64) -> Result<SessionRow, BackendError>;
    /// Sets the status (and `ended_at` when it is no longer active).
    fn set_status(&self, status: Status, now: u64) -> Result<(), BackendError>;
    /// Records activity at `now`.
    fn touch(&self, now: u64) -> Result<(), BackendError>;
    /// Messages with id > `after`, oldest first, at most `limit`.
    fn messages_after(&self, after: u64, limit: usize) -> Result<Vec<Message>, BackendError>;
    /// The highest message id (0 with none).
    fn last_id(&self) -> Result<u64, BackendError>;
    /// Stores a message (its id chosen by the caller).
    fn insert(&self, m: &Message) -> Result<(), BackendError>;
    /// The user message sent with `client_id`, if any.
    fn by_client_id(&self, client_id: &str) -> Result<Option<Message>, BackendError>;
    /// The message `id`, if any.
    fn message(&self, id: u64) -> Result<Option<Message>, BackendError>;
    /// Times of user messages after `since`.
    fn user_times_since(&self, since: u64) -> Result<Vec<u64>, BackendError>;
    /// `(time, tokens)` of answers after `since`.
    fn tokens_since(&self, since: u64) -> Result<Vec<(u64, u64)>, BackendError>;
    /// The rolling summary, if one was made.
    fn summary(&self) -> Result<Option<Summary>, BackendError>;
    /// Replaces the rolling summary.
    fn set_summary(&self, s: &Summary) -> Result<(), BackendError>;
}

/// Where a session's frames go.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait FrameSink {
    async fn send(&mut self, frame: &ServerFrame);
}

/// An answer, streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answered {
    /// Exactly the deltas joined.
    pub(crate) text: String,
    pub(crate) provider: String,
    pub(crate) model: Option<String>,
    pub(crate) tokens: Option<u64>,
    pub(crate) first_token_ms: Option<u64>,
    pub(crate) latency_ms: u64,
    /// The providers that failed before it, `<name>: <outcome>`.
    pub(crate) failed: Vec<String>,
    /// The tool calls made for it, with their results.
    pub(crate) tool_calls: Vec<ToolRecord>,
}

/// Who answers: the provider chain, streaming (`on_delta` gets every piece, in order, and
/// their concatenation is the answer's text) or not (the summary, bounded in tokens).
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait Answerer {
    async fn answer(&self, prompt: &Prompt, sink: &mut impl FrameSink, message_id: u64)
    -> Answered;
    /// A summary's text, or `None` when no provider gave one.
    async fn summarise(&self, prompt: &Prompt) -> Option<(String, Option<u64>)>;
}

/// Answers `prompt` through the streaming provider chain (primary, fallback, static
/// apology, each with its timeouts and breaker; no cache: every web answer is the
/// session's own; no per-user quota: the session's limits apply), offering `tools` when
/// given, every piece to `out`, the answer's text exactly their concatenation.
pub(crate) async fn stream_answer<T: ToolRunner>(
    io: &impl ChatIo,
    s: &AiSettings,
    lang: Language,
    prompt: &Prompt,
    out: &mut impl DeltaSink,
    tools: Option<(&T, ToolPolicy)>,
) -> Answered {
    let r = ai_stream::stream_reply_with(io, s, lang, prompt, out, tools).await;
    Answered {
        text: r.text,
        provider: r.provider,
        model: r.model,
        tokens: r.tokens,
        first_token_ms: r.first_token_ms,
        latency_ms: r.latency_ms,
        failed: r
            .attempts
            .iter()
            .filter(|a| a.outcome != "answered")
            .map(|a| format!("{}: {}", a.provider, a.outcome))
            .collect(),
        tool_calls: r.tool_calls,
    }
}

/// The provider chain as the web chat's [`Answerer`]: answers stream
/// ([`stream_answer`]) with the session's tools (when it has them); summaries go through
/// the non-streaming chain, every provider's answer capped at [`SUMMARY_MAX_TOKENS`].
pub(crate) struct ChainAnswerer<I, T> {
    pub(crate) io: I,
    pub(crate) ai: Rc<AiSettings>,
    pub(crate) lang: Language,
    /// The tools offered, and how calls run (`None`: no tools).
    pub(crate) tools: Option<(T, ToolPolicy)>,
}

/// Feeds the chain's pieces to a frame sink as `delta` frames of one message.
struct Deltas<'a, S> {
    sink: &'a mut S,
    message_id: u64,
}

impl<S: FrameSink> DeltaSink for Deltas<'_, S> {
    async fn delta(&mut self, text: &str) {
        self.sink
            .send(&ServerFrame::Delta {
                message_id: self.message_id,
                text: text.to_owned(),
            })
            .await;
    }

    async fn tool(&mut self, call: &ToolCall, status: ToolStatus, label: &str) {
        self.sink
            .send(&ServerFrame::Tool {
                message_id: self.message_id,
                call_id: call.id.clone(),
                name: call.name.clone(),
                status,
                label: label.to_owned(),
            })
            .await;
    }
}

impl<I: ChatIo, T: ToolRunner> Answerer for ChainAnswerer<I, T> {
    async fn answer(
        &self,
        prompt: &Prompt,
        sink: &mut impl FrameSink,
        message_id: u64,
    ) -> Answered {
        let mut out = Deltas { sink, message_id };
        let tools = self.tools.as_ref().map(|(t, p)| (t, *p));
        stream_answer(&self.io, &self.ai, self.lang, prompt, &mut out, tools).await
    }

    async fn summarise(&self, prompt: &Prompt) -> Option<(String, Option<u64>)> {
        let bounded = AiSettings {
            providers: self
                .ai
                .providers
                .iter()
                .map(|p| {
                    let mut p = p.clone();
                    p.max_tokens = p.max_tokens.min(SUMMARY_MAX_TOKENS);
                    p
                })
                .collect(),
            breaker: self.ai.breaker,
            history: self.ai.history,
            cache_ttl_s: self.ai.cache_ttl_s,
            quota: self.ai.quota,
        };
        let r = ai::ask_chain(&self.io, &bounded, self.lang, None, prompt).await;
        (r.provider != "static").then_some((r.text, r.tokens))
    }
}

/// The limit across every session of one client address.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait AddressGate {
    /// Counts one message of this address, if it fits.
    async fn admit(&self) -> Result<(), Refusal>;
}

/// The session's settings the flows use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) limits: Limits,
    pub(crate) memory: MemoryPolicy,
    pub(crate) lang: Language,
}

/// Why a message got no answer.
#[derive(Debug)]
pub(crate) enum PostError {
    /// Refused by a limit (an error frame or a JSON error).
    Refused(Refusal),
    /// No such session.
    NotFound,
    /// The storage failed.
    Store(BackendError),
}

impl From<BackendError> for PostError {
    fn from(e: BackendError) -> Self {
        Self::Store(e)
    }
}

/// What a posted message led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Posted {
    pub(crate) user: Message,
    /// The stored answer (`None`: a resend whose answer never got stored).
    pub(crate) answer: Option<Message>,
    /// A resend of an earlier message: nothing new stored or asked.
    pub(crate) resend: bool,
    /// A new rolling summary was made.
    pub(crate) summarised: bool,
}

/// The history frame: messages after `after` (all without it), the summary and status.
///
/// # Errors
/// [`PostError::NotFound`] without a session; the store's failures.
pub(crate) fn history(
    store: &impl SessionStore,
    after: Option<u64>,
) -> Result<ServerFrame, PostError> {
    let session = store.session()?.ok_or(PostError::NotFound)?;
    Ok(ServerFrame::History {
        messages: store.messages_after(after.unwrap_or(0), MAX_HISTORY_MESSAGES)?,
        summary: store.summary()?.map(|s| s.text),
        status: session.status,
    })
}

/// Takes a user message: the session's limits, then the address's, stores it (echoed as a
/// `message` frame), streams the answer (`typing`, `delta`s, `done`), stores the answer
/// exactly as streamed, then summarises the older history when it is due.
///
/// A resend (same `client_id`) stores and asks nothing: it echoes the stored message and
/// its stored answer.
///
/// A message asking for a person goes to `handoff` first: what it returns (the ticket the
/// request opened) is the answer's first piece, streamed and stored with it, and the model
/// is told the team was notified.
///
/// # Errors
/// [`PostError`]: refused, no session, or the store failed (nothing was sent then).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn post(
    store: &impl SessionStore,
    answerer: &impl Answerer,
    gate: &impl AddressGate,
    handoff: &impl crate::handoff::Handoff,
    sink: &mut impl FrameSink,
    policy: Policy,
    now: impl Fn() -> u64,
    content: &str,
    client_id: Option<&str>,
) -> Result<Posted, PostError> {
    let session = store.session()?.ok_or(PostError::NotFound)?;
    if let Some(cid) = client_id
        && let Some(user) = store.by_client_id(cid)?
    {
        let answer = store.message(user.id + 1)?;
        sink.send(&ServerFrame::Message {
            message: user.clone(),
        })
        .await;
        if let Some(a) = &answer {
            sink.send(&ServerFrame::Done { message: a.clone() }).await;
        }
        return Ok(Posted {
            user,
            answer,
            resend: true,
            summarised: false,
        });
    }
    let t0 = now();
    limits::admit(
        session.status,
        content,
        &store.user_times_since(t0.saturating_sub(MINUTE_MS))?,
        &store.tokens_since(t0.saturating_sub(HOUR_MS))?,
        t0,
        policy.limits,
    )
    .map_err(PostError::Refused)?;
    gate.admit().await.map_err(PostError::Refused)?;
    let summary = store.summary()?;
    let covered = summary.as_ref().map_or(0, |s| s.through);
    let earlier: Vec<(Role, String)> = store
        .messages_after(covered, MAX_HISTORY_MESSAGES)?
        .into_iter()
        .map(|m| (m.role, m.content))
        .collect();
    let user = Message {
        id: store.last_id()? + 1,
        role: Role::User,
        content: content.to_owned(),
        created_at: t0,
        client_id: client_id.map(str::to_owned),
        metadata: None,
    };
    store.insert(&user)?;
    store.touch(t0)?;
    sink.send(&ServerFrame::Message {
        message: user.clone(),
    })
    .await;
    sink.send(&ServerFrame::Typing).await;
    let notice = handoff.on_message(content, policy.lang, t0).await;
    let asked = match &notice {
        Some(n) => {
            sink.send(&ServerFrame::Delta {
                message_id: user.id + 1,
                text: n.clone(),
            })
            .await;
            format!("{content}\n\n[{}]", n.trim())
        }
        None => content.to_owned(),
    };
    let prompt = memory::answer_prompt(
        policy.lang,
        summary.as_ref().map(|s| s.text.as_str()),
        &earlier,
        &asked,
        policy.memory,
    );
    let a = answerer.answer(&prompt, sink, user.id + 1).await;
    let done = now();
    let answer = Message {
        id: user.id + 1,
        role: Role::Assistant,
        content: notice.unwrap_or_default() + &a.text,
        created_at: done,
        client_id: None,
        metadata: Some(Metadata {
            provider: a.provider,
            model: a.model,
            tokens: a.tokens,
            first_token_ms: a.first_token_ms,
            latency_ms: a.latency_ms,
            failed: a.failed,
            tool_calls: a.tool_calls,
        }),
    };
    store.insert(&answer)?;
    store.touch(done)?;
    sink.send(&ServerFrame::Done {
        message: answer.clone(),
    })
    .await;
    let summarised = summarise_if_due(store, answerer, policy, &now).await?;
    Ok(Posted {
        user,
        answer: Some(answer),
        resend: false,
        summarised,
    })
}

/// Makes a new rolling summary when the unsummarised messages passed the threshold; a
/// failed summary is tried again after the next answer.
async fn summarise_if_due(
    store: &impl SessionStore,
    answerer: &impl Answerer,
    policy: Policy,
    now: &impl Fn() -> u64,
) -> Result<bool, BackendError> {
    let previous = store.summary()?;
    let covered = previous.as_ref().map_or(0, |s| s.through);
    let pending = store.messages_after(covered, MAX_HISTORY_MESSAGES)?;
    let ids: Vec<u64> = pending.iter().map(|m| m.id).collect();
    let Some(through) = memory::summary_due(&ids, policy.memory) else {
        return Ok(false);
    };
    let quoted: Vec<(Role, &str)> = pending
        .iter()
        .take_while(|m| m.id <= through)
        .map(|m| (m.role, m.content.as_str()))
        .collect();
    let prompt = memory::summary_prompt(
        policy.lang,
        previous.as_ref().map(|s| s.text.as_str()),
        &quoted,
    );
    let Some((text, _tokens)) = answerer.summarise(&prompt).await else {
        return Ok(false);
    };
    store.set_summary(&Summary {
        text: memory::stored_summary(&text),
        through,
        made_at: now(),
    })?;
    Ok(true)
}

/// Ends the session at `now` (`DELETE`): status `ended`, and every socket gets a
/// `session_ended` error frame (the caller closes them). An already ended or idle session
/// stays as it is. Returns the status it has now.
///
/// # Errors
/// [`PostError::NotFound`] without a session; the store's failures.
pub(crate) async fn end(
    store: &impl SessionStore,
    sink: &mut impl FrameSink,
    now: u64,
) -> Result<Status, PostError> {
    let session = store.session()?.ok_or(PostError::NotFound)?;
    let status = if session.status.is_open() {
        store.set_status(Status::Ended, now)?;
        Status::Ended
    } else {
        session.status
    };
    sink.send(&ServerFrame::Error {
        code: Refusal::Ended.code().to_owned(),
        message: Refusal::Ended.to_string(),
        retry_after: None,
    })
    .await;
    Ok(status)
}

/// What the session's alarm does at `now`: ends an idle session, deletes an ended one's
/// storage (the caller's `delete`), or moves itself; the time of the next alarm, if any.
///
/// # Errors
/// The store's failures.
pub(crate) fn alarm(
    store: &impl SessionStore,
    timers: Timers,
    now: u64,
) -> Result<(AlarmAction, Option<u64>), BackendError> {
    let Some(session) = store.session()? else {
        return Ok((AlarmAction::Delete, None));
    };
    let action = limits::on_alarm(session.clocks(), timers, now);
    let next = match action {
        AlarmAction::EndIdle => {
            store.set_status(Status::Idle, now)?;
            store
                .session()?
                .map(|s| limits::next_alarm(s.clocks(), timers))
        }
        AlarmAction::Delete => None,
        AlarmAction::Reschedule(at) => Some(at),
    };
    Ok((action, next))
}

#[cfg(test)]
pub(crate) mod fakes {
    //! In-memory session store, sinks and answerers.

    use std::cell::{Cell, RefCell};

    use super::*;

    /// A session's storage in memory.
    #[derive(Debug, Default)]
    pub(crate) struct MemStore {
        pub(crate) row: RefCell<Option<SessionRow>>,
        pub(crate) messages: RefCell<Vec<Message>>,
        pub(crate) summary: RefCell<Option<Summary>>,
    }

    impl SessionStore for MemStore {
        fn session(&self) -> Result<Option<SessionRow>, BackendError> {
            Ok(*self.row.borrow())
        }

        fn create(&self, now: u64) -> Result<SessionRow, BackendError> {
            Ok(*self.row.borrow_mut().get_or_insert(SessionRow {
                status: Status::Active,
                created_at: now,
                last_activity: now,
                ended_at: None,
            }))
        }

        fn set_status(&self, status: Status, now: u64) -> Result<(), BackendError> {
            if let Some(r) = self.row.borrow_mut().as_mut() {
                r.status = status;
                if !status.is_open() {
                    r.ended_at = Some(now);
                }
            }
            Ok(())
        }

        fn touch(&self, now: u64) -> Result<(), BackendError> {
            if let Some(r) = self.row.borrow_mut().as_mut() {
                r.last_activity = now;
            }
            Ok(())
        }

        fn messages_after(&self, after: u64, limit: usize) -> Result<Vec<Message>, BackendError> {
            Ok(self
                .messages
                .borrow()
                .iter()
                .filter(|m| m.id > after)
                .take(limit)
                .cloned()
                .collect())
        }

        fn last_id(&self) -> Result<u64, BackendError> {
            Ok(self.messages.borrow().last().map_or(0, |m| m.id))
        }

        fn insert(&self, m: &Message) -> Result<(), BackendError> {
            self.messages.borrow_mut().push(m.clone());
            Ok(())
        }

        fn by_client_id(&self, client_id: &str) -> Result<Option<Message>, BackendError> {
            Ok(self
                .messages
                .borrow()
                .iter()
                .find(|m| m.client_id.as_deref() == Some(client_id))
                .cloned())
        }

        fn message(&self, id: u64) -> Result<Option<Message>, BackendError> {
            Ok(self.messages.borrow().iter().find(|m| m.id == id).cloned())
        }

        fn user_times_since(&self, since: u64) -> Result<Vec<u64>, BackendError> {
            Ok(self
                .messages
                .borrow()
                .iter()
                .filter(|m| m.role == Role::User && m.created_at > since)
                .map(|m| m.created_at)
                .collect())
        }

        fn tokens_since(&self, since: u64) -> Result<Vec<(u64, u64)>, BackendError> {
            Ok(self
                .messages
                .borrow()
                .iter()
                .filter(|m| m.created_at > since)
                .filter_map(|m| Some((m.created_at, m.metadata.as_ref()?.tokens?)))
                .collect())
        }

        fn summary(&self) -> Result<Option<Summary>, BackendError> {
            Ok(self.summary.borrow().clone())
        }

        fn set_summary(&self, s: &Summary) -> Result<(), BackendError> {
            *self.summary.borrow_mut() = Some(s.clone());
            Ok(())
        }
    }

    /// Keeps every frame.
    #[derive(Debug, Default)]
    pub(crate) struct Frames(pub(crate) Vec<ServerFrame>);

    impl FrameSink for Frames {
        async fn send(&mut self, frame: &ServerFrame) {
            self.0.push(frame.clone());
        }
    }

    impl Frames {
        pub(crate) fn kinds(&self) -> Vec<&'static str> {
            self.0.iter().map(ServerFrame::kind).collect()
        }

        pub(crate) fn deltas(&self) -> String {
            self.0
                .iter()
                .filter_map(|f| match f {
                    ServerFrame::Delta { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect()
        }
    }

    /// Answers "echo: <question>" in pieces of 3 characters, 10 tokens each; records
    /// every prompt; summaries answer `summary`, or fail when it is `None`.
    #[derive(Debug)]
    pub(crate) struct Echo {
        pub(crate) prompts: RefCell<Vec<Prompt>>,
        pub(crate) summaries: RefCell<Vec<Prompt>>,
        pub(crate) summary: RefCell<Option<String>>,
    }

    impl Default for Echo {
        fn default() -> Self {
            Self {
                prompts: RefCell::default(),
                summaries: RefCell::default(),
                summary: RefCell::new(Some("SUMMARY".to_owned())),
            }
        }
    }

    impl Answerer for Echo {
        async fn answer(
            &self,
            prompt: &Prompt,
            sink: &mut impl FrameSink,
            message_id: u64,
        ) -> Answered {
            self.prompts.borrow_mut().push(prompt.clone());
            let text = format!("echo: {}", prompt.user);
            let chars: Vec<char> = text.chars().collect();
            for piece in chars.chunks(3) {
                sink.send(&ServerFrame::Delta {
                    message_id,
                    text: piece.iter().collect(),
                })
                .await;
            }
            Answered {
                text,
                provider: "fake".to_owned(),
                model: Some("fake-model".to_owned()),
                tokens: Some(10),
                first_token_ms: Some(5),
                latency_ms: 20,
                failed: Vec::new(),
                tool_calls: Vec::new(),
            }
        }

        async fn summarise(&self, prompt: &Prompt) -> Option<(String, Option<u64>)> {
            self.summaries.borrow_mut().push(prompt.clone());
            self.summary.borrow().clone().map(|s| (s, Some(7)))
        }
    }

    /// The address limit: allows `left` more messages.
    #[derive(Debug)]
    pub(crate) struct Gate(pub(crate) Cell<u32>);

    impl AddressGate for Gate {
        async fn admit(&self) -> Result<(), Refusal> {
            match self.0.get() {
                0 => Err(Refusal::RateLimited { retry_after_s: 42 }),
                n => {
                    self.0.set(n - 1);
                    Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::fakes::{Echo, Frames, Gate, MemStore};
    use super::*;
    use crate::testkit::run;

    const T0: u64 = 1_790_000_000_000;

    fn policy() -> Policy {
        Policy {
            limits: Limits {
                max_chars: 50,
                per_minute: 1_000,
                tokens_per_hour: 1_000_000,
            },
            memory: MemoryPolicy {
                history: 4,
                threshold: 8,
            },
            lang: Language::En,
        }
    }

    struct World {
        store: MemStore,
        ai: Echo,
        gate: Gate,
        clock: Cell<u64>,
    }

    impl World {
        fn new() -> Self {
            let store = MemStore::default();
            store.create(T0).expect("created");
            Self {
                store,
                ai: Echo::default(),
                gate: Gate(Cell::new(u32::MAX)),
                clock: Cell::new(T0),
            }
        }

        fn say(
            &self,
            text: &str,
            client_id: Option<&str>,
            p: Policy,
        ) -> (Result<Posted, PostError>, Frames) {
            let mut frames = Frames::default();
            self.clock.set(self.clock.get() + 1_000);
            let now = || self.clock.get();
            let r = run(post(
                &self.store,
                &self.ai,
                &self.gate,
                &(),
                &mut frames,
                p,
                now,
                text,
                client_id,
            ));
            (r, frames)
        }
    }

    /// Hands every message containing `person` off, with a fixed notice.
    struct Desk;

    impl crate::handoff::Handoff for Desk {
        async fn on_message(&self, content: &str, _: Language, _: u64) -> Option<String> {
            content
                .contains("person")
                .then(|| "Ticket t_1 opened.\n\n".to_owned())
        }
    }

    #[test]
    fn a_hand_off_notice_leads_the_answer_and_is_stored_with_it() {
        let w = World::new();
        let mut frames = Frames::default();
        let now = || T0 + 5;
        let posted = run(post(
            &w.store,
            &w.ai,
            &w.gate,
            &Desk,
            &mut frames,
            policy(),
            now,
            "a person please",
            None,
        ))
        .expect("answered");
        let answer = posted.answer.expect("stored");
        assert!(
            answer.content.starts_with("Ticket t_1 opened.\n\necho: "),
            "{}",
            answer.content
        );
        assert_eq!(answer.content, frames.deltas(), "stored == shown");
        let asked = w.ai.prompts.borrow()[0].user.clone();
        assert!(asked.starts_with("a person please") && asked.contains("[Ticket t_1 opened.]"));
        assert_eq!(
            w.store.messages_after(0, 10).expect("read")[0].content,
            "a person please",
            "the customer's message is stored as typed"
        );
        let mut frames = Frames::default();
        run(post(
            &w.store,
            &w.ai,
            &w.gate,
            &Desk,
            &mut frames,
            policy(),
            now,
            "hello",
            None,
        ))
        .expect("answered");
        assert!(frames.deltas().starts_with("echo: "));
    }

    #[test]
    fn a_message_is_echoed_streamed_and_stored_exactly_as_streamed() {
        let w = World::new();
        let (r, frames) = w.say("<b>hello</b>", Some("c1"), policy());
        let posted = r.expect("answered");
        assert_eq!(frames.kinds()[..2], ["message", "typing"]);
        assert_eq!(frames.kinds().last(), Some(&"done"));
        assert_eq!(frames.deltas(), "echo: <b>hello</b>");
        let answer = posted.answer.expect("stored");
        assert_eq!(answer.content, frames.deltas(), "stored == shown");
        assert_eq!((posted.user.id, answer.id), (1, 2));
        assert!(
            frames
                .0
                .iter()
                .all(|f| !matches!(f, ServerFrame::Delta { message_id, .. } if *message_id != 2))
        );
        assert_eq!(answer.metadata.expect("meta").tokens, Some(10));
        let stored = w.store.messages_after(0, 10).expect("read");
        assert_eq!(
            stored
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>(),
            ["<b>hello</b>", "echo: <b>hello</b>"]
        );
    }

    #[test]
    fn a_resend_with_the_same_client_id_is_not_stored_or_asked_twice() {
        let w = World::new();
        w.say("hi", Some("c1"), policy()).0.expect("answered");
        let (r, frames) = w.say("hi", Some("c1"), policy());
        assert!(r.expect("resend").resend);
        assert_eq!(frames.kinds(), ["message", "done"]);
        assert_eq!(w.store.messages.borrow().len(), 2);
        assert_eq!(w.ai.prompts.borrow().len(), 1);
    }

    #[test]
    fn refusals_store_nothing_and_send_nothing() {
        let w = World::new();
        let (r, frames) = w.say(&"x".repeat(51), None, policy());
        assert!(matches!(
            r,
            Err(PostError::Refused(Refusal::TooLong { max: 50 }))
        ));
        assert!(frames.0.is_empty());
        let mut p = policy();
        p.limits.per_minute = 2;
        w.say("1", None, p).0.expect("first");
        w.say("2", None, p).0.expect("second");
        let (r, _) = w.say("3", None, p);
        assert!(
            matches!(
                r,
                Err(PostError::Refused(Refusal::RateLimited {
                    retry_after_s: 58
                }))
            ),
            "{r:?}"
        );
        w.gate.0.set(0);
        let (r, _) = w.say("4", None, policy());
        assert!(matches!(
            r,
            Err(PostError::Refused(Refusal::RateLimited {
                retry_after_s: 42
            }))
        ));
        let mut p = policy();
        p.limits.tokens_per_hour = 20;
        w.gate.0.set(10);
        let (r, _) = w.say("5", None, p);
        assert!(
            matches!(r, Err(PostError::Refused(Refusal::TokenBudget { .. }))),
            "{r:?}"
        );
        assert_eq!(w.store.messages.borrow().len(), 4);
        w.store.set_status(Status::Idle, T0).expect("ended");
        assert!(matches!(
            w.say("6", None, policy()).0,
            Err(PostError::Refused(Refusal::Ended))
        ));
    }

    #[test]
    fn past_the_threshold_the_older_part_is_summarised_and_then_sent_instead() {
        let w = World::new();
        for i in 1..=4 {
            let (r, _) = w.say(&format!("q{i}"), None, policy());
            assert!(!r.expect("answered").summarised, "8 messages is not past 8");
        }
        let (r, _) = w.say("q5", None, policy());
        assert!(r.expect("answered").summarised);
        let s = w.store.summary().expect("read").expect("made");
        assert_eq!(
            (s.text.as_str(), s.through),
            ("SUMMARY", 6),
            "10 unsummarised, the last 4 kept"
        );
        let asked = w.ai.summaries.borrow()[0].clone();
        assert!(asked.user.contains("Customer: q1") && asked.user.contains("Assistant: echo: q3"));
        assert!(!asked.user.contains("q4"));
        w.say("q6", None, policy()).0.expect("answered");
        let last = w.ai.prompts.borrow().last().cloned().expect("asked");
        assert!(last.system.ends_with("SUMMARY"));
        assert_eq!(
            last.history
                .iter()
                .map(|(_, t)| t.as_str())
                .collect::<Vec<_>>(),
            ["q4", "echo: q4", "q5", "echo: q5"]
        );
        // A failed summary leaves the old one and is tried after the next answer.
        *w.ai.summary.borrow_mut() = None;
        for i in 7..=9 {
            w.say(&format!("q{i}"), None, policy()).0.expect("answered");
        }
        assert_eq!(w.store.summary().expect("read").expect("kept").through, 6);
        let previous =
            w.ai.summaries
                .borrow()
                .last()
                .cloned()
                .expect("asked again");
        assert!(previous.user.starts_with("Summary so far:\nSUMMARY"));
    }

    #[test]
    fn history_is_everything_or_exactly_what_came_after() {
        let w = World::new();
        for i in 1..=3 {
            w.say(&format!("q{i}"), None, policy()).0.expect("answered");
        }
        let ServerFrame::History {
            messages, status, ..
        } = history(&w.store, Some(4)).expect("history")
        else {
            panic!("a history frame");
        };
        assert_eq!(messages.iter().map(|m| m.id).collect::<Vec<_>>(), [5, 6]);
        assert_eq!(status, Status::Active);
        let ServerFrame::History { messages, .. } = history(&w.store, None).expect("history")
        else {
            panic!("a history frame");
        };
        assert_eq!(messages.len(), 6);
        assert!(matches!(
            history(&MemStore::default(), None),
            Err(PostError::NotFound)
        ));
    }

    #[test]
    fn through_the_streaming_chain_a_mid_stream_failover_stores_exactly_what_was_shown() {
        use crate::backends::ChunkError;
        use crate::testkit::{self, End, FakeNet, Script, delta_event, streamed};
        let net = FakeNet::streaming(|sent| {
            Ok(if sent.url.starts_with("https://primary.test") {
                Script::sse(
                    vec![delta_event("Our shop "), delta_event("opens")],
                    50,
                    End::Fail(ChunkError::Transport("reset".into())),
                )
            } else {
                streamed(&["Our shop ", "opens at 9."], 50, 30)
            })
        });
        net.answer_with(|_| testkit::completion("SUMMARY"));
        let ai = ChainAnswerer {
            io: testkit::io(net, T0),
            ai: Rc::clone(&testkit::settings().ai),
            lang: Language::En,
            tools: None::<(crate::tools::NoTools, ToolPolicy)>,
        };
        let store = MemStore::default();
        store.create(T0).expect("created");
        let mut frames = Frames::default();
        let now = || T0 + 1;
        let posted = run(post(
            &store,
            &ai,
            &Gate(Cell::new(9)),
            &(),
            &mut frames,
            policy(),
            now,
            "open?",
            None,
        ))
        .expect("answered");
        let answer = posted.answer.expect("stored");
        assert_eq!(frames.deltas(), "Our shop opens at 9.");
        assert_eq!(answer.content, frames.deltas());
        let meta = answer.metadata.expect("meta");
        assert_eq!(
            (meta.provider.as_str(), meta.tokens),
            ("fallback", Some(30))
        );
        assert_eq!(meta.first_token_ms, Some(50));
        assert_eq!(
            meta.failed,
            ["primary: transport"],
            "the failover shows in history"
        );
        // The summary request is capped in tokens.
        let asked = run(ai.summarise(&memory::summary_prompt(
            Language::En,
            None,
            &[(Role::User, "q")],
        )));
        assert_eq!(asked.map(|a| a.0), Some("SUMMARY".to_owned()));
        let sent = ai.io.net.to("/chat/completions");
        assert_eq!(sent.last().expect("asked").json()["max_tokens"], 300);
    }

    #[test]
    fn the_alarm_ends_an_idle_session_then_deletes_it() {
        let w = World::new();
        let t = Timers {
            idle_ms: 10_000,
            retention_ms: 50_000,
        };
        assert_eq!(
            alarm(&w.store, t, T0 + 5_000).expect("alarm"),
            (AlarmAction::Reschedule(T0 + 10_000), Some(T0 + 10_000))
        );
        assert_eq!(
            alarm(&w.store, t, T0 + 10_000).expect("alarm"),
            (AlarmAction::EndIdle, Some(T0 + 60_000))
        );
        assert_eq!(
            w.store.session().expect("row").expect("kept").status,
            Status::Idle
        );
        assert_eq!(
            alarm(&w.store, t, T0 + 60_000).expect("alarm"),
            (AlarmAction::Delete, None)
        );
    }

    #[test]
    fn an_ended_session_tells_its_sockets_refuses_messages_and_keeps_its_history() {
        let w = World::new();
        let (r, _) = w.say("before the end", None, policy());
        assert!(r.is_ok());
        let mut frames = Frames::default();
        let status = run(end(&w.store, &mut frames, T0 + 50_000)).expect("ended");
        assert_eq!(status, Status::Ended);
        assert_eq!(
            frames.0,
            vec![ServerFrame::Error {
                code: "session_ended".to_owned(),
                message: "this chat session has ended".to_owned(),
                retry_after: None,
            }]
        );
        let row = w.store.session().expect("row").expect("kept");
        assert_eq!(
            (row.status, row.ended_at),
            (Status::Ended, Some(T0 + 50_000))
        );
        let calls = w.ai.prompts.borrow().len();
        let (r, frames) = w.say("after the end", None, policy());
        assert!(matches!(r, Err(PostError::Refused(Refusal::Ended))));
        assert!(frames.0.is_empty(), "a refusal sends nothing");
        assert_eq!(w.ai.prompts.borrow().len(), calls, "no provider asked");
        let ServerFrame::History {
            messages, status, ..
        } = history(&w.store, None).expect("readable")
        else {
            panic!("not a history frame");
        };
        assert_eq!((messages.len(), status), (2, Status::Ended));
        // Ending again changes nothing (the first end time stays); an idle one stays idle.
        assert_eq!(
            run(end(&w.store, &mut Frames::default(), T0 + 90_000)).expect("again"),
            Status::Ended
        );
        assert_eq!(
            w.store.session().expect("row").expect("kept").ended_at,
            Some(T0 + 50_000)
        );
        let t = Timers {
            idle_ms: 10_000,
            retention_ms: 50_000,
        };
        assert_eq!(
            limits::next_alarm(row.clocks(), t),
            T0 + 100_000,
            "deleted one retention period after the end"
        );
        let idle = World::new();
        idle.store.set_status(Status::Idle, T0).expect("idle");
        assert_eq!(
            run(end(&idle.store, &mut Frames::default(), T0 + 1)).expect("idle"),
            Status::Idle
        );
        assert!(matches!(
            run(end(&MemStore::default(), &mut Frames::default(), T0)),
            Err(PostError::NotFound)
        ));
    }
}

#[cfg(test)]
mod tool_tests {
    use std::cell::Cell;

    use edge_core::chat::tools::ToolStatus;
    use serde_json::json;

    use super::fakes::{Frames, Gate, MemStore};
    use super::*;
    use crate::testkit::{self, End, FakeNet, Script, delta_event, run, streamed};
    use crate::tools::ToolBox;
    use crate::tools::fakes::{MemDesk, MemQueue};

    const T0: u64 = 1_790_000_000_000;

    #[test]
    fn tool_activity_is_framed_and_stored_with_the_answer() {
        let net = FakeNet::streaming(|sent| {
            let asked_before = sent.body.contains("\"role\":\"tool\"");
            Ok(if asked_before {
                streamed(&["Refunds take 5 days [kb-42]."], 10, 9)
            } else {
                let call = json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1",
                    "type":"function","function":{"name":"search_knowledge_base",
                    "arguments":"{\"query\":\"refund\"}"}}]},"finish_reason":"tool_calls"}]});
                Script::sse(
                    vec![
                        delta_event("One moment."),
                        format!("data: {call}\n\n"),
                        "data: [DONE]\n\n".to_owned(),
                    ],
                    10,
                    End::Eof,
                )
            })
        });
        let ai = ChainAnswerer {
            io: testkit::io(net, T0),
            ai: Rc::clone(&testkit::settings().ai),
            lang: Language::En,
            tools: Some((
                ToolBox {
                    desk: MemDesk::with_article("kb-42", "Refunds", "Refunds take 5 days."),
                    escalator: Some(MemQueue::default()),
                    session_id: Some("s1".to_owned()),
                },
                ToolPolicy {
                    timeout_ms: 5_000,
                    calls_per_round: 4,
                },
            )),
        };
        let store = MemStore::default();
        store.create(T0).expect("created");
        let mut frames = Frames::default();
        let policy = Policy {
            limits: Limits {
                max_chars: 500,
                per_minute: 100,
                tokens_per_hour: 100_000,
            },
            memory: MemoryPolicy {
                history: 4,
                threshold: 8,
            },
            lang: Language::En,
        };
        let posted = run(post(
            &store,
            &ai,
            &Gate(Cell::new(9)),
            &(),
            &mut frames,
            policy,
            || T0 + 1,
            "How long do refunds take?",
            None,
        ))
        .expect("answered");
        assert_eq!(
            frames.kinds(),
            [
                "message", "typing", "delta", "tool", "tool", "delta", "done"
            ]
        );
        let tools: Vec<(u64, ToolStatus, String)> = frames
            .0
            .iter()
            .filter_map(|f| match f {
                ServerFrame::Tool {
                    message_id,
                    status,
                    label,
                    ..
                } => Some((*message_id, *status, label.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            tools,
            [
                (
                    2,
                    ToolStatus::Started,
                    "Searching the knowledge base…".to_owned()
                ),
                (
                    2,
                    ToolStatus::Ok,
                    "Searching the knowledge base…".to_owned()
                )
            ]
        );
        let answer = posted.answer.expect("stored");
        assert_eq!(answer.content, frames.deltas(), "stored == shown");
        assert_eq!(
            answer.content,
            "One moment.\n\nRefunds take 5 days [kb-42]."
        );
        let meta = answer.metadata.expect("meta");
        assert_eq!(meta.tool_calls.len(), 1);
        assert_eq!(meta.tool_calls[0].call_id, "c1");
        // The history shows it after a reload.
        let stored = store.messages_after(0, 10).expect("read");
        assert_eq!(
            stored[1].metadata.as_ref().map(|m| m.tool_calls.len()),
            Some(1)
        );
    }
}
