//! The admin API's web chat customers (admin secret, checked by [`crate::admin`]): a
//! customer is the embedding site's own id for a visitor, given when a session is created
//! (`POST /chat/v1/sessions {"customer": …}`) and kept in the D1 index `web_sessions`.
//!
//! - `GET /admin/v1/web-customers/:customer/export`: the customer's sessions — a live one
//!   (not yet archived) from its `ChatSession` object, an archived one from R2 (redacted,
//!   as archived) — and the tickets of those sessions with their history.
//! - `DELETE /admin/v1/web-customers/:customer`: erases the customer's sessions — each
//!   object's storage (a call on the object), its R2 archive, its tickets and their
//!   events, its escalation ledger rows, its index row — and reports the counts.
//!   Idempotent: a second erase finds no index rows and reports zeros. At most
//!   [`MAX_SESSIONS`] sessions per call (`"more": true` asks for another call); a failure
//!   part way leaves the unfinished sessions' index rows, so a retry finishes them.

use edge_core::chat::archive;
use edge_core::error::CommonError;
use edge_glue::respond;
use serde::Serialize;
use serde_json::Value;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env, Method, Request, RequestInit, Response};

use crate::archive::{ArchiveBucket, IndexRow, R2Archive};
use crate::backends::BackendError;
use crate::chat_api;
use crate::db;
use crate::error::Error;

/// Most sessions one export or erase covers.
pub(crate) const MAX_SESSIONS: usize = 200;

fn backend(e: worker::Error) -> BackendError {
    BackendError(e.to_string())
}

fn unavailable(e: &BackendError) -> Error {
    crate::log::error(&format!("web customers: {e}"));
    Error::Common(CommonError::UpstreamUnavailable)
}

fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

/// The customer's index rows (one more than [`MAX_SESSIONS`] tells there are more).
async fn sessions_of(db: &D1Database, customer: &str) -> Result<Vec<IndexRow>, BackendError> {
    db.prepare(
        "SELECT id, created_at, ended_at, archive_key, archived_at FROM web_sessions
         WHERE customer = ?1 ORDER BY created_at, id LIMIT ?2",
    )
    .bind(&[s(customer), JsValue::from_f64((MAX_SESSIONS + 1) as f64)])
    .map_err(backend)?
    .all()
    .await
    .map_err(backend)?
    .results::<IndexRow>()
    .map_err(backend)
}

/// Calls the session object's `path` (`GET /export`, `POST /erase`).
async fn call_session(
    env: &Env,
    id: &str,
    method: Method,
    path: &str,
) -> Result<Response, BackendError> {
    let mut init = RequestInit::new();
    init.with_method(method);
    let req =
        Request::new_with_init(&format!("https://chat-session{path}"), &init).map_err(backend)?;
    let stub = chat_api::stub(env, id).map_err(|e| BackendError(e.to_string()))?;
    stub.fetch_with_request(req).await.map_err(backend)
}

/// A live session's content from its object; `None` when the object holds none.
async fn live_session(env: &Env, id: &str) -> Result<Option<Value>, BackendError> {
    let mut r = call_session(env, id, Method::Get, "/export").await?;
    match r.status_code() {
        200 => r.json::<Value>().await.map(Some).map_err(backend),
        404 => Ok(None),
        other => Err(BackendError(format!("session export: status {other}"))),
    }
}

/// The tickets of session `id` and their history.
async fn tickets_of(db: &D1Database, id: &str) -> Result<Vec<Value>, BackendError> {
    let tickets: Vec<Value> = db
        .prepare("SELECT * FROM tickets WHERE session_id = ?1 ORDER BY created_at, id")
        .bind(&[s(id)])
        .map_err(backend)?
        .all()
        .await
        .map_err(backend)?
        .results()
        .map_err(backend)?;
    let mut out = Vec::with_capacity(tickets.len());
    for mut t in tickets {
        let tid = t
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let events: Vec<Value> = db
            .prepare("SELECT seq, at, actor, change FROM ticket_events WHERE ticket_id = ?1 ORDER BY seq")
            .bind(&[s(&tid)])
            .map_err(backend)?
            .all()
            .await
            .map_err(backend)?
            .results()
            .map_err(backend)?;
        if let Value::Object(map) = &mut t {
            map.insert("events".to_owned(), Value::Array(events));
        }
        out.push(t);
    }
    Ok(out)
}

/// What export and erase start from: the bindings and the customer's index rows (at
/// most [`MAX_SESSIONS`]; `more` when there are others).
struct Customer<'a> {
    /// The customer id, validated.
    id: &'a str,
    db: D1Database,
    bucket: R2Archive,
    rows: Vec<IndexRow>,
    more: bool,
}

impl<'a> Customer<'a> {
    async fn of(customer: &'a str, env: &Env) -> Result<Self, Error> {
        let customer = archive::customer(customer)?;
        let db = db::db(env)?;
        let bucket = R2Archive::of(env).map_err(|e| unavailable(&e))?;
        let mut rows = sessions_of(&db, customer)
            .await
            .map_err(|e| unavailable(&e))?;
        let more = rows.len() > MAX_SESSIONS;
        rows.truncate(MAX_SESSIONS);
        Ok(Self {
            id: customer,
            db,
            bucket,
            rows,
            more,
        })
    }
}

/// One session of an export.
#[derive(Serialize)]
struct ExportedSession {
    id: String,
    created_at: f64,
    ended_at: Option<f64>,
    archived_at: Option<f64>,
    /// `live` (the object's storage, as stored), `archive` (R2, redacted) or `gone`
    /// (neither: expired, or deleted).
    source: &'static str,
    /// The session row and summary.
    session: Option<Value>,
    messages: Vec<Value>,
    tickets: Vec<Value>,
}

/// `GET /admin/v1/web-customers/:customer/export`.
pub(crate) async fn export(customer: &str, env: &Env) -> Result<Response, Error> {
    let c = Customer::of(customer, env).await?;
    let (customer, db, bucket, rows, more) = (c.id, c.db, c.bucket, c.rows, c.more);
    let mut sessions = Vec::with_capacity(rows.len());
    for row in rows {
        let archived = match &row.archive_key {
            Some(key) => bucket.get(key).await.map_err(|e| unavailable(&e))?,
            None => None,
        };
        let (source, session, messages) = match archived {
            Some(text) => {
                let (header, messages) = archive::read(&text);
                ("archive", header, messages)
            }
            // Not archived yet (or its put never happened): the object has it.
            None => match live_session(env, &row.id)
                .await
                .map_err(|e| unavailable(&e))?
            {
                Some(mut v) => {
                    let messages = match v.get_mut("messages").map(Value::take) {
                        Some(Value::Array(m)) => m,
                        _ => Vec::new(),
                    };
                    if let Value::Object(map) = &mut v {
                        map.remove("messages");
                    }
                    ("live", Some(v), messages)
                }
                None => ("gone", None, Vec::new()),
            },
        };
        let tickets = tickets_of(&db, &row.id)
            .await
            .map_err(|e| unavailable(&e))?;
        sessions.push(ExportedSession {
            id: row.id,
            created_at: row.created_at,
            ended_at: row.ended_at,
            archived_at: row.archived_at,
            source,
            session,
            messages,
            tickets,
        });
    }
    Ok(respond::json(
        200,
        &serde_json::json!({"customer": customer, "sessions": sessions, "more": more}),
    )?)
}

/// What an erase removed.
#[derive(Debug, Default, Serialize)]
struct Erased {
    /// Sessions whose object still held storage.
    sessions: u64,
    /// R2 archives deleted.
    archives: u64,
    tickets: u64,
    ticket_events: u64,
    escalations: u64,
    /// Index rows (one per session of the customer, stored or not).
    index_rows: u64,
}

fn changes(r: &worker::D1Result) -> u64 {
    r.meta()
        .ok()
        .flatten()
        .and_then(|m| m.changes)
        .map_or(0, |c| c as u64)
}

/// Erases one session (object, archive, its D1 rows) into `n`; the index row last.
async fn erase_session(
    env: &Env,
    db: &D1Database,
    bucket: &impl ArchiveBucket,
    row: &IndexRow,
    n: &mut Erased,
) -> Result<(), BackendError> {
    let mut r = call_session(env, &row.id, Method::Post, "/erase").await?;
    if r.status_code() != 200 {
        return Err(BackendError(format!(
            "session erase: status {}",
            r.status_code()
        )));
    }
    let erased = r.json::<Value>().await.map_err(backend)?;
    if erased.get("erased").and_then(Value::as_bool) == Some(true) {
        n.sessions += 1;
    }
    if let Some(key) = &row.archive_key {
        bucket.delete(std::slice::from_ref(key)).await?;
        n.archives += 1;
    }
    let id = s(&row.id);
    let stmt = |q: &str| {
        db.prepare(q)
            .bind(std::slice::from_ref(&id))
            .map_err(backend)
    };
    let results = db
        .batch(vec![
            stmt(
                "DELETE FROM ticket_events WHERE ticket_id IN (SELECT id FROM tickets WHERE session_id = ?1)",
            )?,
            stmt("DELETE FROM tickets WHERE session_id = ?1")?,
            stmt("DELETE FROM escalations WHERE session_id = ?1")?,
            stmt("DELETE FROM web_sessions WHERE id = ?1")?,
        ])
        .await
        .map_err(backend)?;
    let counts: Vec<u64> = results.iter().map(changes).collect();
    if let [events, tickets, escalations, index] = counts[..] {
        n.ticket_events += events;
        n.tickets += tickets;
        n.escalations += escalations;
        n.index_rows += index;
    }
    Ok(())
}

/// `DELETE /admin/v1/web-customers/:customer`.
pub(crate) async fn erase(customer: &str, env: &Env) -> Result<Response, Error> {
    let c = Customer::of(customer, env).await?;
    let (customer, db, bucket, rows, more) = (c.id, c.db, c.bucket, c.rows, c.more);
    let mut n = Erased::default();
    for row in &rows {
        erase_session(env, &db, &bucket, row, &mut n)
            .await
            .map_err(|e| unavailable(&e))?;
    }
    Ok(respond::json(
        200,
        &serde_json::json!({"customer": customer, "erased": n, "more": more}),
    )?)
}
