//! `ChatSession`: one web chat session per SQLite-backed Durable Object (named by the
//! session id). Everything lives in the object's SQLite storage (the session row, every
//! message, the rolling summary), so memory survives eviction and restarts; nothing is
//! kept in isolate memory but an "answering" flag.
//!
//! The worker ([`crate::chat_api`]) checks the session token and forwards here:
//! `POST /create`, `GET /messages?after=N`, `POST /messages` (answered as SSE),
//! `GET /ws?after=N` (a WebSocket accepted with the hibernation API: an idle socket costs
//! nothing, and `websocket_message` wakes the object). The flows are [`crate::web_chat`]'s;
//! `DELETE /end` ends the session (status `ended`, sockets told and closed); one alarm at
//! a time ends an idle session and later deletes its storage, once it is archived to R2
//! ([`crate::archive`]). An ended session takes itself out of its creator's live set
//! ([`crate::live`]). The admin's export and erase ([`crate::web_customers`]) call
//! `GET /export` and `POST /erase`.

use std::cell::Cell;
use std::rc::Rc;

use edge_core::HttpError;
use edge_core::auth::rate_limit::RateLimitPolicy;
use edge_core::chat::intent::Language;
use edge_core::chat::sse;
use edge_core::chat::web::SessionNotFound;
use edge_core::chat::web::frame::{self, ClientFrame, Message, Metadata, ServerFrame, Status};
use edge_core::chat::web::limits::{self, AlarmAction, Refusal};
use edge_core::chat::web::token::SUBPROTOCOL;
use edge_core::error::CommonError;
use edge_core::{MetricEvent, Observation, RequestId, RouteNote, ServiceName};
use edge_glue::{REQUEST_ID_HEADER, metrics, now_ms, random_uuid, respond, window_log};
use futures::channel::mpsc;
use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair, durable_object,
};

use crate::archive;
use crate::backends::BackendError;
use crate::bindings;
use crate::escalation_queue::QueueEscalator;
use crate::live;
use crate::log;
use crate::quota::QUOTA_BINDING;
use crate::settings::{ArchiveSettings, ToolSettings, WebChatSettings};
use crate::support_desk::D1Desk;
use crate::tools::{ToolBox, ToolPolicy};
use crate::web_chat::{
    self, AddressGate, ChainAnswerer, FrameSink, Policy, PostError, SessionRow, SessionStore,
    Summary,
};

/// The Durable Object namespace of chat sessions.
pub(crate) const SESSION_BINDING: &str = "CHAT_SESSION";
/// The header the worker passes the client's address in.
pub(crate) const CLIENT_HEADER: &str = "x-chat-client";
/// Close code for a session that ended or was deleted.
const CLOSE_ENDED: u16 = 4410;
/// On `/create`: the session's id, its creator's address key and the expected end its
/// entry in that address's live set holds (unix ms).
pub(crate) const SESSION_ID_HEADER: &str = "x-chat-session";
pub(crate) const LIVE_KEY_HEADER: &str = "x-chat-live-key";
pub(crate) const LIVE_UNTIL_HEADER: &str = "x-chat-live-until";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS session (k INTEGER PRIMARY KEY CHECK (k = 1),
  status TEXT NOT NULL, created_at INTEGER NOT NULL, last_activity INTEGER NOT NULL, ended_at INTEGER);
CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, role TEXT NOT NULL,
  content TEXT NOT NULL, created_at INTEGER NOT NULL, client_id TEXT UNIQUE, metadata TEXT,
  tokens INTEGER);
CREATE INDEX IF NOT EXISTS messages_by_time ON messages(created_at);
CREATE TABLE IF NOT EXISTS summary (k INTEGER PRIMARY KEY CHECK (k = 1), text TEXT NOT NULL,
  through INTEGER NOT NULL, made_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS owner (k INTEGER PRIMARY KEY CHECK (k = 1), session_id TEXT NOT NULL,
  address_key TEXT NOT NULL, live_until INTEGER NOT NULL);";

fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

fn backend(e: worker::Error) -> BackendError {
    BackendError(e.to_string())
}

/// The session's storage: the object's SQLite.
pub(crate) struct SqlStore(pub(crate) SqlStorage);

#[derive(Deserialize)]
struct SessionSql {
    status: String,
    created_at: i64,
    last_activity: i64,
    ended_at: Option<i64>,
}

#[derive(Deserialize)]
struct MessageSql {
    id: i64,
    role: String,
    content: String,
    created_at: i64,
    client_id: Option<String>,
    metadata: Option<String>,
}

impl MessageSql {
    fn message(self) -> Message {
        Message {
            id: u64::try_from(self.id).unwrap_or_default(),
            role: if self.role == "assistant" {
                edge_core::chat::completion::Role::Assistant
            } else {
                edge_core::chat::completion::Role::User
            },
            content: self.content,
            created_at: u64::try_from(self.created_at).unwrap_or_default(),
            client_id: self.client_id,
            metadata: self
                .metadata
                .and_then(|m| serde_json::from_str::<Metadata>(&m).ok()),
        }
    }
}

const MESSAGE_COLUMNS: &str = "id, role, content, created_at, client_id, metadata";

impl SqlStore {
    fn rows<T: for<'de> Deserialize<'de>>(
        &self,
        q: &str,
        args: Vec<SqlStorageValue>,
    ) -> std::result::Result<Vec<T>, BackendError> {
        self.0
            .exec(q, args)
            .and_then(|c| c.to_array())
            .map_err(backend)
    }

    fn run(&self, q: &str, args: Vec<SqlStorageValue>) -> std::result::Result<(), BackendError> {
        self.0.exec(q, args).map(|_| ()).map_err(backend)
    }

    fn messages(
        &self,
        q: &str,
        args: Vec<SqlStorageValue>,
    ) -> std::result::Result<Vec<Message>, BackendError> {
        Ok(self
            .rows::<MessageSql>(q, args)?
            .into_iter()
            .map(MessageSql::message)
            .collect())
    }
}

fn ms(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

/// Whose live set a session is in: its id, its creator's address key, the expected end
/// that set holds for it.
#[derive(Debug, Clone, Deserialize)]
struct Owner {
    session_id: String,
    address_key: String,
    live_until: i64,
}

impl SqlStore {
    fn owner(&self) -> Option<Owner> {
        self.rows::<Owner>(
            "SELECT session_id, address_key, live_until FROM owner WHERE k = 1",
            vec![],
        )
        .ok()?
        .into_iter()
        .next()
    }

    fn set_owner(
        &self,
        session_id: &str,
        key: &str,
        until: u64,
    ) -> std::result::Result<(), BackendError> {
        self.run(
            "INSERT INTO owner (k, session_id, address_key, live_until) VALUES (1, ?, ?, ?)
             ON CONFLICT(k) DO UPDATE SET live_until = excluded.live_until",
            vec![session_id.into(), key.into(), int(until)],
        )
    }
}

impl SessionStore for SqlStore {
    fn session(&self) -> std::result::Result<Option<SessionRow>, BackendError> {
        let rows: Vec<SessionSql> = self.rows(
            "SELECT status, created_at, last_activity, ended_at FROM session WHERE k = 1",
            vec![],
        )?;
        Ok(rows.into_iter().next().map(|r| SessionRow {
            status: Status::parse(&r.status).unwrap_or(Status::Ended),
            created_at: ms(r.created_at),
            last_activity: ms(r.last_activity),
            ended_at: r.ended_at.map(ms),
        }))
    }

    fn create(&self, now: u64) -> std::result::Result<SessionRow, BackendError> {
        self.run(
            "INSERT OR IGNORE INTO session (k, status, created_at, last_activity) VALUES (1, 'active', ?, ?)",
            vec![int(now), int(now)],
        )?;
        self.session()?
            .ok_or_else(|| BackendError("session row missing after insert".to_owned()))
    }

    fn set_status(&self, status: Status, now: u64) -> std::result::Result<(), BackendError> {
        let ended = if status.is_open() {
            SqlStorageValue::Null
        } else {
            int(now)
        };
        self.run(
            "UPDATE session SET status = ?, ended_at = COALESCE(ended_at, ?) WHERE k = 1",
            vec![status.as_str().into(), ended],
        )
    }

    fn touch(&self, now: u64) -> std::result::Result<(), BackendError> {
        self.run(
            "UPDATE session SET last_activity = MAX(last_activity, ?) WHERE k = 1",
            vec![int(now)],
        )
    }

    fn messages_after(
        &self,
        after: u64,
        limit: usize,
    ) -> std::result::Result<Vec<Message>, BackendError> {
        self.messages(
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id > ? ORDER BY id LIMIT ?"),
            vec![int(after), int(limit as u64)],
        )
    }

    fn last_id(&self) -> std::result::Result<u64, BackendError> {
        #[derive(Deserialize)]
        struct Max {
            id: Option<i64>,
        }
        let rows: Vec<Max> = self.rows("SELECT MAX(id) AS id FROM messages", vec![])?;
        Ok(rows.first().and_then(|r| r.id).map_or(0, ms))
    }

    fn insert(&self, m: &Message) -> std::result::Result<(), BackendError> {
        let role = match m.role {
            edge_core::chat::completion::Role::User => "user",
            edge_core::chat::completion::Role::Assistant => "assistant",
        };
        let metadata = m
            .metadata
            .as_ref()
            .and_then(|md| serde_json::to_string(md).ok());
        let tokens = m.metadata.as_ref().and_then(|md| md.tokens);
        self.run(
            "INSERT INTO messages (id, role, content, created_at, client_id, metadata, tokens) VALUES (?, ?, ?, ?, ?, ?, ?)",
            vec![
                int(m.id),
                role.into(),
                m.content.as_str().into(),
                int(m.created_at),
                m.client_id.clone().into(),
                metadata.into(),
                tokens.map_or(SqlStorageValue::Null, int),
            ],
        )
    }

    fn by_client_id(&self, client_id: &str) -> std::result::Result<Option<Message>, BackendError> {
        Ok(self
            .messages(
                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE client_id = ?"),
                vec![client_id.into()],
            )?
            .into_iter()
            .next())
    }

    fn message(&self, id: u64) -> std::result::Result<Option<Message>, BackendError> {
        Ok(self
            .messages(
                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?"),
                vec![int(id)],
            )?
            .into_iter()
            .next())
    }

    fn user_times_since(&self, since: u64) -> std::result::Result<Vec<u64>, BackendError> {
        #[derive(Deserialize)]
        struct T {
            created_at: i64,
        }
        let rows: Vec<T> = self.rows(
            "SELECT created_at FROM messages WHERE role = 'user' AND created_at > ?",
            vec![int(since)],
        )?;
        Ok(rows.into_iter().map(|r| ms(r.created_at)).collect())
    }

    fn tokens_since(&self, since: u64) -> std::result::Result<Vec<(u64, u64)>, BackendError> {
        #[derive(Deserialize)]
        struct T {
            created_at: i64,
            tokens: i64,
        }
        let rows: Vec<T> = self.rows(
            "SELECT created_at, tokens FROM messages WHERE tokens IS NOT NULL AND created_at > ?",
            vec![int(since)],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| (ms(r.created_at), ms(r.tokens)))
            .collect())
    }

    fn summary(&self) -> std::result::Result<Option<Summary>, BackendError> {
        #[derive(Deserialize)]
        struct S {
            text: String,
            through: i64,
            made_at: i64,
        }
        let rows: Vec<S> = self.rows(
            "SELECT text, through, made_at FROM summary WHERE k = 1",
            vec![],
        )?;
        Ok(rows.into_iter().next().map(|s| Summary {
            text: s.text,
            through: ms(s.through),
            made_at: ms(s.made_at),
        }))
    }

    fn set_summary(&self, s: &Summary) -> std::result::Result<(), BackendError> {
        self.run(
            "INSERT INTO summary (k, text, through, made_at) VALUES (1, ?, ?, ?)
             ON CONFLICT(k) DO UPDATE SET text = excluded.text, through = excluded.through, made_at = excluded.made_at",
            vec![s.text.as_str().into(), int(s.through), int(s.made_at)],
        )
    }
}

/// The per-address message limit, in the `AiQuota` window logs.
struct IpGate<'a> {
    env: &'a Env,
    client: &'a str,
    policy: RateLimitPolicy,
}

impl AddressGate for IpGate<'_> {
    async fn admit(&self) -> std::result::Result<(), Refusal> {
        let bucket = format!("web-chat:ip:{}", self.client);
        match window_log::check(self.env, QUOTA_BINDING, &bucket, self.policy).await {
            Ok(d) if d.allowed => Ok(()),
            Ok(d) => Err(Refusal::RateLimited {
                retry_after_s: d.reset_s.max(1),
            }),
            Err(e) => {
                // A control that cannot be checked does not fail open.
                log::error(&format!("web chat address limit unavailable: {e}"));
                Err(Refusal::RateLimited { retry_after_s: 1 })
            }
        }
    }
}

/// Sends frames to every socket of the session, and to an SSE stream when there is one.
struct Fanout<'a> {
    state: &'a State,
    sse: Option<mpsc::UnboundedSender<Result<Vec<u8>>>>,
}

impl FrameSink for Fanout<'_> {
    async fn send(&mut self, frame: &ServerFrame) {
        let json = frame.to_json();
        for ws in self.state.get_websockets() {
            let _ = ws.send_with_str(&json);
        }
        if let Some(tx) = &self.sse {
            let _ = tx.unbounded_send(Ok(sse::encode(frame.kind(), &json).into_bytes()));
        }
    }
}

/// What a socket remembers across hibernation.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attachment {
    client: String,
    /// The upgrade's request id: the socket's messages report under it.
    request_id: String,
}

/// Where a message came from, for its limits and its metric.
struct Source {
    client: String,
    request_id: RequestId,
    /// `POST` (SSE) or `WS`.
    method: &'static str,
}

impl Source {
    fn path(&self) -> &'static str {
        if self.method == "WS" {
            "/chat/v1/sessions/ws"
        } else {
            "/chat/v1/sessions/messages"
        }
    }
}

/// `raw` as a request id, or a new one.
fn request_id(raw: Option<&str>) -> RequestId {
    raw.and_then(RequestId::parse)
        .or_else(|| random_uuid().and_then(|u| RequestId::parse(&u)))
        .unwrap_or_else(|| RequestId::from_clock(now_ms()))
}

struct Inner {
    state: State,
    env: Env,
    store: SqlStore,
    answering: Cell<bool>,
}

/// One web chat session.
#[durable_object]
pub struct ChatSession {
    inner: Rc<Inner>,
}

fn refusal_frame(r: Refusal) -> ServerFrame {
    ServerFrame::Error {
        code: r.code().to_owned(),
        message: r.to_string(),
        retry_after: r.retry_after_s(),
    }
}

fn error_frame(code: &str, message: &str) -> ServerFrame {
    ServerFrame::Error {
        code: code.to_owned(),
        message: message.to_owned(),
        retry_after: None,
    }
}

/// `?after=N` of a URL (absent or malformed: none).
fn after_param(req: &Request) -> Option<u64> {
    let url = req.url().ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "after")
        .and_then(|(_, v)| v.parse().ok())
}

fn internal(e: &BackendError) -> Result<Response> {
    log::error(&format!("chat session storage failed: {e}"));
    respond::error_response(&CommonError::UpstreamUnavailable)
}

impl Inner {
    fn settings(&self) -> std::result::Result<Rc<WebChatSettings>, CommonError> {
        WebChatSettings::load(&self.env)
    }

    /// The session's tools over D1 and the escalation queue (`None`: turned off, or no D1
    /// binding: the model answers without tools). Tickets belong to the session id recorded
    /// at creation, never to anything the model says.
    fn tools(&self) -> Option<(ToolBox<D1Desk, QueueEscalator>, ToolPolicy)> {
        let s = match ToolSettings::load(&self.env) {
            Ok(s) => s,
            Err(e) => {
                log::error(&format!("chat tools: {e}; answering without tools"));
                return None;
            }
        };
        if !s.enabled {
            return None;
        }
        let desk = match crate::db::db(&self.env) {
            Ok(db) => D1Desk(db),
            Err(e) => {
                log::error(&format!(
                    "chat tools: no D1 binding ({e}); answering without tools"
                ));
                return None;
            }
        };
        let escalator = QueueEscalator::from_env(&self.env)
            .inspect_err(|e| log::error(&format!("chat tools: tickets not escalated: {e}")))
            .ok();
        let session_id = self.store.owner().map(|o| o.session_id);
        Some((
            ToolBox {
                desk,
                escalator,
                session_id,
            },
            s.policy,
        ))
    }

    fn policy(s: &WebChatSettings, lang: Language) -> Policy {
        Policy {
            limits: s.limits,
            memory: s.memory,
            lang,
        }
    }

    /// Takes the session out of its creator's live set (after it ended). A failure is
    /// logged: the entry then lapses at its expected end, at most one idle period away.
    async fn release_slot(&self) {
        let Some(o) = self.store.owner() else { return };
        let op = live::LiveOp::release(&o.session_id);
        if let Err(e) = live::call(&self.env, &o.address_key, &op).await {
            log::error(&format!("chat session release failed: {e}"));
        }
    }

    /// Moves the session's expected end in its creator's live set when less than half an
    /// idle period of what the set holds is left (a busy session renews about once per
    /// half idle period).
    async fn renew_slot(&self, s: &WebChatSettings, now: u64) {
        let Some(o) = self.store.owner() else { return };
        if !limits::renew_due(ms(o.live_until), now, s.timers.idle_ms) {
            return;
        }
        let until = now.saturating_add(s.timers.idle_ms);
        let op = live::LiveOp::renew(&o.session_id, until);
        match live::call(&self.env, &o.address_key, &op).await {
            Ok(_) => {
                if let Err(e) = self.store.set_owner(&o.session_id, &o.address_key, until) {
                    log::error(&format!("chat session owner: {e}"));
                }
            }
            Err(e) => log::error(&format!("chat session renew failed: {e}")),
        }
    }

    /// Writes the session to its R2 archive (redacted) and the index; `Ok` when it is
    /// there (or there was nothing to archive).
    async fn archive(&self) -> std::result::Result<Option<String>, BackendError> {
        let id = self
            .store
            .owner()
            .map_or_else(|| self.state.id().to_string(), |o| o.session_id);
        let bucket = archive::R2Archive::of(&self.env)?;
        let index = archive::D1Index(self.env.d1("DB").map_err(backend)?);
        archive::archive_session(&self.store, &id, &bucket, &index, now_ms()).await
    }

    /// Deletes everything of the session now (the admin's erase): sockets closed, its
    /// live slot released, alarm and storage gone. Whether there was a session.
    async fn erase(&self) -> Result<bool> {
        let had = matches!(self.store.session(), Ok(Some(_)));
        self.close_all(None, "session_deleted");
        self.release_slot().await;
        self.state.storage().delete_alarm().await?;
        self.state.storage().delete_all().await?;
        // The object lives on empty: recreate the tables for whoever asks next.
        let _ = self.store.0.exec(SCHEMA, None);
        Ok(had)
    }

    /// Every socket gets `frame` and is closed with 4410 and `reason`.
    fn close_all(&self, frame: Option<&ServerFrame>, reason: &str) {
        let json = frame.map(ServerFrame::to_json);
        for ws in self.state.get_websockets() {
            if let Some(j) = &json {
                let _ = ws.send_with_str(j);
            }
            let _ = ws.close(Some(CLOSE_ENDED), Some(reason));
        }
    }

    async fn schedule(&self, at: Option<u64>) {
        let storage = self.state.storage();
        let r = match at {
            Some(at) => {
                let ms = i64::try_from(at).unwrap_or(i64::MAX);
                let date =
                    worker::js_sys::Date::new(&worker::wasm_bindgen::JsValue::from_f64(ms as f64));
                storage.set_alarm(worker::ScheduledTime::new(date)).await
            }
            None => storage.delete_alarm().await,
        };
        if let Err(e) = r {
            log::error(&format!("chat session alarm: {e}"));
        }
    }

    /// The alarm for the session's next due time.
    async fn reschedule(&self, s: &WebChatSettings) {
        if let Ok(Some(row)) = self.store.session() {
            self.schedule(Some(limits::next_alarm(row.clocks(), s.timers)))
                .await;
        }
    }

    /// Reports one web chat event to analytics-collector (through the isolate's metrics
    /// outbox, in the object's `wait_until`): `decision` the outcome, `provider` (as the
    /// event's region; `degraded` when it was not the primary) and `latency_ms` (for an
    /// answer, its first-token latency).
    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        request_id: &RequestId,
        method: &str,
        path: &str,
        status: u16,
        decision: &str,
        provider: Option<(&str, bool)>,
        latency_ms: u64,
    ) {
        let at = (request_id, method, path, status, decision);
        self.report_spent(at, provider, latency_ms, None);
    }

    /// As [`Self::report`], with the AI tokens an answer spent (the provider's usage count).
    fn report_spent(
        &self,
        (request_id, method, path, status, decision): (&RequestId, &str, &str, u16, &str),
        provider: Option<(&str, bool)>,
        latency_ms: u64,
        tokens: Option<u64>,
    ) {
        let finished = now_ms();
        let event = MetricEvent::from_observation(Observation {
            worker: ServiceName::ChatWebhook,
            request_id,
            method,
            path,
            status,
            started_ms: finished.saturating_sub(latency_ms),
            finished_ms: finished,
            country: None,
            colo: None,
            decision: Some(decision),
            route: provider.map(|(region, degraded)| RouteNote {
                region,
                priority: "web",
                degraded,
            }),
        })
        .with_tokens(tokens);
        let env = self.env.clone();
        self.state
            .wait_until(async move { metrics::enqueue(&env, event).await });
    }

    /// The metric of one message's outcome.
    fn report_post(
        &self,
        from: &Source,
        r: &std::result::Result<web_chat::Posted, PostError>,
        primary: Option<&str>,
    ) {
        let meta = match r {
            Ok(p) if !p.resend => p.answer.as_ref().and_then(|a| a.metadata.clone()),
            _ => None,
        };
        let (status, decision) = match (r, &meta) {
            (Ok(_), Some(m)) if m.provider == "static" => (503, "chat_apology"),
            (Ok(_), Some(_)) => (200, "chat_answer"),
            (Ok(_), None) => (200, "chat_resend"),
            (Err(PostError::Refused(x)), _) => (x.status(), x.code()),
            (Err(PostError::NotFound), _) => (404, "session_not_found"),
            (Err(PostError::Store(_)), _) => (503, "upstream_unavailable"),
        };
        let provider = meta
            .as_ref()
            .map(|m| (m.provider.as_str(), primary != Some(m.provider.as_str())));
        let latency = meta
            .as_ref()
            .map_or(0, |m| m.first_token_ms.unwrap_or(m.latency_ms));
        let at = (&from.request_id, from.method, from.path(), status, decision);
        self.report_spent(at, provider, latency, meta.as_ref().and_then(|m| m.tokens));
    }

    /// A request for a person opens a ticket in D1 and escalates it (none without the
    /// bindings or the session's id: logged, the message is answered as usual).
    fn handoff(
        &self,
    ) -> Option<
        crate::handoff::DeskHandoff<
            crate::support_desk::D1Desk,
            crate::escalation_queue::QueueEscalator,
        >,
    > {
        let session_id = self.store.owner()?.session_id;
        let bound = crate::db::db(&self.env).and_then(|db| {
            Ok((
                db,
                crate::escalation_queue::QueueEscalator::from_env(&self.env)?,
            ))
        });
        match bound {
            Ok((db, escalator)) => Some(crate::handoff::DeskHandoff {
                desk: crate::support_desk::D1Desk(db),
                escalator,
                session_id,
            }),
            Err(e) => {
                crate::log::warn(&format!("no hand-off to a person: {e}"));
                None
            }
        }
    }

    /// Takes one message from a socket or a POST; frames go to every socket (and `sse`).
    async fn take(
        self: &Rc<Self>,
        from: &Source,
        content: &str,
        client_id: Option<&str>,
        sse: Option<mpsc::UnboundedSender<Result<Vec<u8>>>>,
    ) -> std::result::Result<web_chat::Posted, PostError> {
        let s = self
            .settings()
            .map_err(|e| PostError::Store(BackendError(e.to_string())))?;
        let lang = Language::of_text(content, Language::En);
        let answerer = ChainAnswerer {
            io: bindings::io(&self.env),
            ai: Rc::clone(&s.ai),
            lang,
            tools: self.tools(),
        };
        let gate = IpGate {
            env: &self.env,
            client: &from.client,
            policy: s.ip_per_minute,
        };
        let mut sink = Fanout {
            state: &self.state,
            sse,
        };
        let handoff = self.handoff();
        self.answering.set(true);
        let r = web_chat::post(
            &self.store,
            &answerer,
            &gate,
            &handoff,
            &mut sink,
            Self::policy(&s, lang),
            now_ms,
            content,
            client_id,
        )
        .await;
        self.answering.set(false);
        if r.is_ok() {
            self.reschedule(&s).await;
            self.renew_slot(&s, now_ms()).await;
        }
        self.report_post(from, &r, s.ai.providers.first().map(|p| p.name.as_str()));
        r
    }
}

impl DurableObject for ChatSession {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        // Idempotent; if it failed, the first query reports it.
        let _ = sql.exec(SCHEMA, None);
        Self {
            inner: Rc::new(Inner {
                state,
                env,
                store: SqlStore(sql),
                answering: Cell::new(false),
            }),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let inner = &self.inner;
        let path = req.path();
        let method = req.method();
        let header = |name| req.headers().get(name).ok().flatten();
        let client = header(CLIENT_HEADER).unwrap_or_else(|| "unknown".to_owned());
        let rid = request_id(header(REQUEST_ID_HEADER).as_deref());
        match (method, path.as_str()) {
            (worker::Method::Post, "/create") => {
                let s = match inner.settings() {
                    Ok(s) => s,
                    Err(e) => return respond::error_response(&e),
                };
                let now = now_ms();
                let owner = match (
                    header(SESSION_ID_HEADER),
                    header(LIVE_KEY_HEADER),
                    header(LIVE_UNTIL_HEADER).and_then(|u| u.parse::<u64>().ok()),
                ) {
                    (Some(id), Some(key), Some(until)) => Some((id, key, until)),
                    _ => None,
                };
                let created = inner.store.create(now).and_then(|_| match &owner {
                    Some((id, key, until)) => inner.store.set_owner(id, key, *until),
                    None => Ok(()),
                });
                match created {
                    Ok(()) => {
                        inner.reschedule(&s).await;
                        respond::json(201, &serde_json::json!({"created": true}))
                    }
                    Err(e) => internal(&e),
                }
            }
            (worker::Method::Get, "/messages") => {
                match web_chat::history(&inner.store, after_param(&req)) {
                    Ok(ServerFrame::History {
                        messages,
                        summary,
                        status,
                    }) => respond::json(
                        200,
                        &serde_json::json!({"messages": messages, "summary": summary, "status": status}),
                    ),
                    Ok(_) | Err(PostError::NotFound) => respond::error_response(&SessionNotFound),
                    Err(PostError::Refused(r)) => respond::error_response(&r),
                    Err(PostError::Store(e)) => internal(&e),
                }
            }
            (worker::Method::Post, "/messages") => {
                let body = req.bytes().await?;
                let posted = match frame::parse_posted(&body) {
                    Ok(p) => p,
                    Err(e) => return respond::error_response(&e),
                };
                match inner.store.session() {
                    Ok(Some(_)) => {}
                    Ok(None) => return respond::error_response(&SessionNotFound),
                    Err(e) => return internal(&e),
                }
                if inner.answering.get() {
                    return respond::error_response(&Refusal::RateLimited { retry_after_s: 1 });
                }
                // Refusals before anything streams are plain JSON errors: check them first
                // by running the flow and watching its first frame.
                let (tx, rx) = mpsc::unbounded::<Result<Vec<u8>>>();
                let (first_tx, first_rx) = futures::channel::oneshot::channel::<Option<Response>>();
                let me = Rc::clone(inner);
                let tx2 = tx.clone();
                let from = Source {
                    client,
                    request_id: rid,
                    method: "POST",
                };
                inner.state.wait_until(async move {
                    let r = me
                        .take(
                            &from,
                            &posted.content,
                            posted.client_id.as_deref(),
                            Some(tx2),
                        )
                        .await;
                    let refused = match r {
                        Ok(_) => None,
                        Err(PostError::Refused(r)) => Some(respond::error_response(&r)),
                        Err(PostError::NotFound) => Some(respond::error_response(&SessionNotFound)),
                        Err(PostError::Store(e)) => Some(internal(&e)),
                    };
                    let _ = first_tx.send(refused.and_then(Result::ok));
                    drop(tx);
                });
                let mut rx = rx;
                // Wait for the first frame (or the end): a refusal sends none.
                use futures::StreamExt;
                let first = rx.next().await;
                match first {
                    Some(chunk) => {
                        let head = futures::stream::iter(std::iter::once(chunk));
                        let resp = Response::from_stream(head.chain(rx))?;
                        let h = resp.headers();
                        h.set("content-type", "text/event-stream; charset=utf-8")?;
                        h.set("cache-control", "no-store")?;
                        h.set("x-content-type-options", "nosniff")?;
                        Ok(resp)
                    }
                    None => match first_rx.await {
                        Ok(Some(resp)) => Ok(resp),
                        _ => respond::error_response(&CommonError::UpstreamUnavailable),
                    },
                }
            }
            (worker::Method::Delete, "/end") => {
                let s = match inner.settings() {
                    Ok(s) => s,
                    Err(e) => return respond::error_response(&e),
                };
                let mut sink = Fanout {
                    state: &inner.state,
                    sse: None,
                };
                match web_chat::end(&inner.store, &mut sink, now_ms()).await {
                    Ok(status) => {
                        inner.close_all(None, "session_ended");
                        // Also when it had ended before: retries a release that was lost.
                        inner.release_slot().await;
                        inner.reschedule(&s).await;
                        respond::json(200, &serde_json::json!({"status": status}))
                    }
                    Err(PostError::NotFound) => respond::error_response(&SessionNotFound),
                    Err(PostError::Refused(r)) => respond::error_response(&r),
                    Err(PostError::Store(e)) => internal(&e),
                }
            }
            // The admin's export and erase (`crate::web_customers`): reachable only
            // through this namespace's stubs, never routed from outside.
            (worker::Method::Get, "/export") => match inner.store.session() {
                Ok(Some(row)) => {
                    let messages = match archive::all_messages(&inner.store) {
                        Ok(m) => m,
                        Err(e) => return internal(&e),
                    };
                    let summary = inner.store.summary().ok().flatten().map(|s| s.text);
                    respond::json(
                        200,
                        &serde_json::json!({
                            "status": row.status,
                            "created_at": row.created_at,
                            "last_activity": row.last_activity,
                            "ended_at": row.ended_at,
                            "summary": summary,
                            "messages": messages,
                        }),
                    )
                }
                Ok(None) => respond::error_response(&SessionNotFound),
                Err(e) => internal(&e),
            },
            (worker::Method::Post, "/erase") => {
                let had = inner.erase().await?;
                respond::json(200, &serde_json::json!({"erased": had}))
            }
            (worker::Method::Get, "/ws") => {
                match inner.store.session() {
                    Ok(Some(_)) => {}
                    Ok(None) => return respond::error_response(&SessionNotFound),
                    Err(e) => return internal(&e),
                }
                let history = match web_chat::history(&inner.store, after_param(&req)) {
                    Ok(h) => h,
                    Err(PostError::Store(e)) => return internal(&e),
                    Err(_) => return respond::error_response(&SessionNotFound),
                };
                let pair = WebSocketPair::new()?;
                inner.state.accept_web_socket(&pair.server);
                pair.server.serialize_attachment(Attachment {
                    client,
                    request_id: rid.as_str().to_owned(),
                })?;
                pair.server.send_with_str(history.to_json())?;
                let resp = Response::from_websocket(pair.client)?;
                resp.headers().set("sec-websocket-protocol", SUBPROTOCOL)?;
                Ok(resp)
            }
            _ => respond::error_response(&CommonError::NotFound),
        }
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let inner = &self.inner;
        let reply = |f: &ServerFrame| {
            let _ = ws.send_with_str(f.to_json());
        };
        let WebSocketIncomingMessage::String(text) = message else {
            reply(&error_frame("bad_frame", "frames are JSON text"));
            return Ok(());
        };
        let (content, client_id) = match frame::parse_client_frame(&text) {
            Ok(ClientFrame::Typing) => return Ok(()),
            Ok(ClientFrame::Message { content, client_id }) => (content, client_id),
            Err(e) => {
                reply(&error_frame(e.code(), &e.to_string()));
                return Ok(());
            }
        };
        if inner.answering.get() {
            reply(&refusal_frame(Refusal::RateLimited { retry_after_s: 1 }));
            return Ok(());
        }
        let attached = ws.deserialize_attachment::<Attachment>().ok().flatten();
        let from = Source {
            request_id: request_id(attached.as_ref().map(|a| a.request_id.as_str())),
            client: attached.map_or_else(|| "unknown".to_owned(), |a| a.client),
            method: "WS",
        };
        match inner
            .take(&from, &content, client_id.as_deref(), None)
            .await
        {
            Ok(_) => {}
            Err(PostError::Refused(r)) => reply(&refusal_frame(r)),
            Err(PostError::NotFound) => {
                reply(&error_frame("session_not_found", "no such chat session"));
                let _ = ws.close(Some(CLOSE_ENDED), Some("session_not_found"));
            }
            Err(PostError::Store(e)) => {
                log::error(&format!("chat session storage failed: {e}"));
                reply(&error_frame(
                    "unavailable",
                    "the chat is unavailable; try again",
                ));
            }
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        // Completes the closing handshake (codes 1005/1006 cannot be sent back).
        let code = u16::try_from(code)
            .ok()
            .filter(|c| (1000..5000).contains(c) && *c != 1005 && *c != 1006);
        let _ = ws.close(code.or(Some(1000)), Some("bye"));
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: worker::Error) -> Result<()> {
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        let inner = &self.inner;
        let s = match inner.settings() {
            Ok(s) => s,
            Err(e) => return respond::error_response(&e),
        };
        match web_chat::alarm(&inner.store, s.timers, now_ms()) {
            Ok((AlarmAction::Delete, _)) => {
                // Archived first: the storage goes only once the archive is in R2.
                if let Err(e) = inner.archive().await {
                    log::error(&format!("chat session archive failed, retrying later: {e}"));
                    let retry = ArchiveSettings::load(&inner.env).map_or(300_000, |a| a.retry_ms);
                    inner.schedule(Some(now_ms().saturating_add(retry))).await;
                    return Response::empty();
                }
                inner.report(
                    &request_id(None),
                    "ALARM",
                    "/chat/v1/sessions",
                    200,
                    "chat_session_deleted",
                    None,
                    0,
                );
                inner.close_all(None, "session_deleted");
                inner.release_slot().await;
                inner.state.storage().delete_alarm().await?;
                inner.state.storage().delete_all().await?;
                // The object lives on empty: recreate the tables for whoever asks next.
                let _ = inner.store.0.exec(SCHEMA, None);
            }
            Ok((AlarmAction::EndIdle, next)) => {
                inner.report(
                    &request_id(None),
                    "ALARM",
                    "/chat/v1/sessions",
                    200,
                    "chat_session_idle",
                    None,
                    0,
                );
                let ended = ServerFrame::History {
                    messages: Vec::new(),
                    summary: None,
                    status: Status::Idle,
                };
                inner.close_all(Some(&ended), "session_idle");
                inner.release_slot().await;
                inner.schedule(next).await;
            }
            Ok((AlarmAction::Reschedule(_), next)) => inner.schedule(next).await,
            Err(e) => log::error(&format!("chat session alarm failed: {e}")),
        }
        Response::empty()
    }
}
