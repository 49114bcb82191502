//! The live web chat sessions of one client address: a set of session ids, each with its
//! expected end (its last activity + the idle period), kept in the address's `AiQuota`
//! object (bucket `web-chat:live:<address key>`, table `live`; the key is a hash of the
//! address, see `edge_core::chat::web::limits::address_key`).
//!
//! Creating a session [`add`]s it when fewer than the limit are live; a session that ends
//! (DELETE, or its idle alarm) [`release`]s itself; a busy one [`renew`]s its expected
//! end about once per half idle period. Every operation first prunes the entries whose
//! expected end has passed, so a release that was lost (an isolate gone between the end
//! and the release) holds a slot for at most one idle period after the session's last
//! activity. Decisions are the core's (`limits::admit_live`); this module sequences them
//! over a [`LiveStore`] (the object's SQLite; an in-memory fake in tests).

use edge_core::chat::web::frame::FrameError;
use edge_core::chat::web::limits::{self, Refusal};
use edge_core::error::CommonError;
use edge_glue::{now_ms, respond};
use serde::{Deserialize, Serialize};
use worker::{Env, Method, Request, RequestInit, Response, SqlStorage, SqlStorageValue};

use crate::backends::BackendError;
use crate::log;
use crate::quota::QUOTA_BINDING;

/// The live-set operations' path inside an `AiQuota` object.
pub(crate) const LIVE_PATH: &str = "/live";

/// The table of a live set (created on first use, in the object's SQLite).
const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS live (id TEXT PRIMARY KEY, ends_at INTEGER NOT NULL);";

/// One address's live sessions (synchronous: the object's SQLite is).
pub(crate) trait LiveStore {
    /// Every entry's expected end, unix ms.
    fn ends(&self) -> Result<Vec<u64>, BackendError>;
    /// Adds or moves entry `id`.
    fn put(&self, id: &str, ends_at: u64) -> Result<(), BackendError>;
    /// Removes entry `id` (absent: nothing).
    fn remove(&self, id: &str) -> Result<(), BackendError>;
    /// Removes the entries whose expected end is at or before `now`.
    fn prune(&self, now: u64) -> Result<(), BackendError>;
}

/// Adds session `id` (expected to end at `ends_at`) if fewer than `limit` are live at `now`.
///
/// # Errors
/// `Ok(Err(refusal))` at the limit (nothing stored); the store's failures.
pub(crate) fn add(
    store: &impl LiveStore,
    id: &str,
    ends_at: u64,
    limit: u32,
    now: u64,
) -> Result<Result<(), Refusal>, BackendError> {
    store.prune(now)?;
    if let Err(r) = limits::admit_live(&store.ends()?, now, limit) {
        return Ok(Err(r));
    }
    store.put(id, ends_at)?;
    Ok(Ok(()))
}

/// Moves a live session's expected end (it is still live: no limit applies).
///
/// # Errors
/// The store's failures.
pub(crate) fn renew(
    store: &impl LiveStore,
    id: &str,
    ends_at: u64,
    now: u64,
) -> Result<(), BackendError> {
    store.prune(now)?;
    store.put(id, ends_at)
}

/// Removes an ended session; releasing twice, or one never added, changes nothing.
///
/// # Errors
/// The store's failures.
pub(crate) fn release(store: &impl LiveStore, id: &str, now: u64) -> Result<(), BackendError> {
    store.prune(now)?;
    store.remove(id)
}

/// What a live-set call does.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LiveKind {
    Add,
    Renew,
    Release,
}

/// One call on an address's live set (a flat object: an internally tagged enum would cost
/// the wasm a buffering deserializer).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct LiveOp {
    op: LiveKind,
    id: String,
    #[serde(default)]
    ends_at: u64,
    #[serde(default)]
    limit: u32,
}

impl LiveOp {
    /// Add `id`, expected to end at `ends_at`, if fewer than `limit` are live.
    pub(crate) fn add(id: &str, ends_at: u64, limit: u32) -> Self {
        Self {
            op: LiveKind::Add,
            id: id.to_owned(),
            ends_at,
            limit,
        }
    }

    /// Move live `id`'s expected end to `ends_at`.
    pub(crate) fn renew(id: &str, ends_at: u64) -> Self {
        Self {
            op: LiveKind::Renew,
            id: id.to_owned(),
            ends_at,
            limit: 0,
        }
    }

    /// Take `id` out.
    pub(crate) fn release(id: &str) -> Self {
        Self {
            op: LiveKind::Release,
            id: id.to_owned(),
            ends_at: 0,
            limit: 0,
        }
    }
}

/// The answer of a live-set call.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
struct LiveAnswer {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_after_s: Option<u64>,
}

/// Most bytes of a session id in a live-set call (ids are 32 hex characters).
const MAX_ID_BYTES: usize = 64;

/// The live set in an `AiQuota` object's SQLite.
pub(crate) struct SqlLive<'a>(pub(crate) &'a SqlStorage);

fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

fn backend(e: worker::Error) -> BackendError {
    BackendError(e.to_string())
}

impl LiveStore for SqlLive<'_> {
    fn ends(&self) -> Result<Vec<u64>, BackendError> {
        #[derive(Deserialize)]
        struct E {
            ends_at: i64,
        }
        let rows: Vec<E> = self
            .0
            .exec("SELECT ends_at FROM live", None)
            .and_then(|c| c.to_array())
            .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|e| u64::try_from(e.ends_at).unwrap_or_default())
            .collect())
    }

    fn put(&self, id: &str, ends_at: u64) -> Result<(), BackendError> {
        self.0
            .exec(
                "INSERT INTO live (id, ends_at) VALUES (?, ?)
                 ON CONFLICT(id) DO UPDATE SET ends_at = excluded.ends_at",
                vec![id.into(), int(ends_at)],
            )
            .map(|_| ())
            .map_err(backend)
    }

    fn remove(&self, id: &str) -> Result<(), BackendError> {
        self.0
            .exec("DELETE FROM live WHERE id = ?", vec![id.into()])
            .map(|_| ())
            .map_err(backend)
    }

    fn prune(&self, now: u64) -> Result<(), BackendError> {
        self.0
            .exec("DELETE FROM live WHERE ends_at <= ?", vec![int(now)])
            .map(|_| ())
            .map_err(backend)
    }
}

/// Answers a live-set call inside the address's object (`POST /live` with a [`LiveOp`]).
/// Nothing awaits between reading the set and writing it: one call at a time decides.
///
/// # Errors
/// When the body cannot be read.
pub(crate) async fn serve(sql: &SqlStorage, mut req: Request) -> worker::Result<Response> {
    if req.method() != Method::Post {
        return respond::error_response(&CommonError::MethodNotAllowed);
    }
    let Ok(op) = req.json::<LiveOp>().await else {
        return respond::error_response(&FrameError::Malformed);
    };
    if op.id.is_empty() || op.id.len() > MAX_ID_BYTES {
        return respond::error_response(&FrameError::Malformed);
    }
    // Idempotent; if it failed, the statement below reports it.
    let _ = sql.exec(SCHEMA, None);
    let store = SqlLive(sql);
    let now = now_ms();
    let r = match op.op {
        LiveKind::Add => add(&store, &op.id, op.ends_at, op.limit, now),
        LiveKind::Renew => renew(&store, &op.id, op.ends_at, now).map(Ok),
        LiveKind::Release => release(&store, &op.id, now).map(Ok),
    };
    match r {
        Ok(Ok(())) => respond::json(
            200,
            &LiveAnswer {
                ok: true,
                retry_after_s: None,
            },
        ),
        Ok(Err(refusal)) => respond::json(
            200,
            &LiveAnswer {
                ok: false,
                retry_after_s: refusal.retry_after_s(),
            },
        ),
        Err(e) => {
            log::error(&format!("live-set storage failed: {e}"));
            respond::error_response(&CommonError::UpstreamUnavailable)
        }
    }
}

/// Calls the live set of address key `key`: `Ok(Ok(()))` done, `Ok(Err(refusal))` at the
/// limit.
///
/// # Errors
/// [`CommonError::Misconfigured`] without the binding; [`CommonError::UpstreamUnavailable`]
/// when the object cannot be reached or answers nonsense (callers fail closed on an add).
pub(crate) async fn call(
    env: &Env,
    key: &str,
    op: &LiveOp,
) -> Result<Result<(), Refusal>, CommonError> {
    let unavailable = |what: &str, e: &dyn std::fmt::Display| {
        log::error(&format!("live-set {what} failed: {e}"));
        CommonError::UpstreamUnavailable
    };
    let ns = env
        .durable_object(QUOTA_BINDING)
        .map_err(|_| CommonError::Misconfigured(QUOTA_BINDING))?;
    let stub = ns
        .id_from_name(&format!("web-chat:live:{key}"))
        .and_then(|id| id.get_stub())
        .map_err(|e| unavailable("lookup", &e))?;
    let body = serde_json::to_string(op).map_err(|e| unavailable("encode", &e))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init(&format!("https://live-set{LIVE_PATH}"), &init)
        .map_err(|e| unavailable("request", &e))?;
    let mut resp = stub
        .fetch_with_request(req)
        .await
        .map_err(|e| unavailable("call", &e))?;
    if resp.status_code() != 200 {
        return Err(unavailable("answer", &resp.status_code()));
    }
    let a: LiveAnswer = resp.json().await.map_err(|e| unavailable("decode", &e))?;
    Ok(if a.ok {
        Ok(())
    } else {
        Err(Refusal::TooManySessions {
            retry_after_s: a.retry_after_s.unwrap_or(1).max(1),
        })
    })
}

#[cfg(test)]
pub(crate) mod fakes {
    //! An address's live set in memory.

    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, Default)]
    pub(crate) struct MemLive(pub(crate) RefCell<BTreeMap<String, u64>>);

    impl LiveStore for MemLive {
        fn ends(&self) -> Result<Vec<u64>, BackendError> {
            Ok(self.0.borrow().values().copied().collect())
        }

        fn put(&self, id: &str, ends_at: u64) -> Result<(), BackendError> {
            self.0.borrow_mut().insert(id.to_owned(), ends_at);
            Ok(())
        }

        fn remove(&self, id: &str) -> Result<(), BackendError> {
            self.0.borrow_mut().remove(id);
            Ok(())
        }

        fn prune(&self, now: u64) -> Result<(), BackendError> {
            self.0.borrow_mut().retain(|_, &mut end| end > now);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fakes::MemLive;
    use super::*;

    const IDLE: u64 = 1_800_000;
    const T0: u64 = 1_000_000_000;

    fn ids(s: &MemLive) -> Vec<String> {
        s.0.borrow().keys().cloned().collect()
    }

    #[test]
    fn the_set_admits_up_to_the_limit_and_refuses_until_the_earliest_can_end() {
        let s = MemLive::default();
        assert_eq!(add(&s, "a", T0 + IDLE, 2, T0).expect("store"), Ok(()));
        assert_eq!(
            add(&s, "b", T0 + 60_000 + IDLE, 2, T0 + 60_000).expect("store"),
            Ok(())
        );
        let r = add(&s, "c", T0 + 120_000 + IDLE, 2, T0 + 120_000).expect("store");
        assert_eq!(
            r,
            Err(Refusal::TooManySessions {
                retry_after_s: (IDLE - 120_000) / 1_000
            }),
            "Retry-After: until the earliest live one (a) can end"
        );
        assert_eq!(ids(&s), ["a", "b"], "a refusal stores nothing");
    }

    #[test]
    fn a_release_frees_a_slot_and_releasing_twice_is_harmless() {
        let s = MemLive::default();
        for id in ["a", "b"] {
            assert_eq!(add(&s, id, T0 + IDLE, 2, T0).expect("store"), Ok(()));
        }
        release(&s, "a", T0 + 1).expect("store");
        release(&s, "a", T0 + 2).expect("store");
        release(&s, "never-added", T0 + 2).expect("store");
        assert_eq!(ids(&s), ["b"]);
        assert_eq!(
            add(&s, "c", T0 + 3 + IDLE, 2, T0 + 3).expect("store"),
            Ok(())
        );
        assert!(
            add(&s, "d", T0 + 4 + IDLE, 2, T0 + 4)
                .expect("store")
                .is_err()
        );
    }

    #[test]
    fn a_lost_release_costs_the_slot_only_until_the_expected_end() {
        let s = MemLive::default();
        for id in ["a", "b"] {
            assert_eq!(add(&s, id, T0 + IDLE, 2, T0).expect("store"), Ok(()));
        }
        // Neither is ever released (the isolate died between the end and the release).
        assert!(
            add(&s, "c", T0 + IDLE, 2, T0 + IDLE - 1)
                .expect("store")
                .is_err()
        );
        assert_eq!(
            add(&s, "c", T0 + 2 * IDLE, 2, T0 + IDLE).expect("store"),
            Ok(()),
            "pruned at their expected end"
        );
        assert_eq!(ids(&s), ["c"], "the lost ones are gone from storage too");
    }

    #[test]
    fn a_renewed_session_keeps_its_slot_past_its_first_expected_end() {
        let s = MemLive::default();
        assert_eq!(add(&s, "a", T0 + IDLE, 1, T0).expect("store"), Ok(()));
        renew(&s, "a", T0 + IDLE + IDLE / 2, T0 + IDLE / 2).expect("store");
        let r = add(&s, "b", T0 + 2 * IDLE, 1, T0 + IDLE).expect("store");
        assert_eq!(
            r,
            Err(Refusal::TooManySessions {
                retry_after_s: IDLE / 2 / 1_000
            })
        );
    }

    #[test]
    fn calls_are_tagged_json() {
        let op = LiveOp::add("abc", 5, 3);
        let json = serde_json::to_string(&op).expect("store");
        assert_eq!(json, r#"{"op":"add","id":"abc","ends_at":5,"limit":3}"#);
        assert_eq!(serde_json::from_str::<LiveOp>(&json).expect("store"), op);
        let release = serde_json::from_str::<LiveOp>(r#"{"op":"release","id":"abc"}"#);
        assert_eq!(release.expect("store"), LiveOp::release("abc"));
        assert!(serde_json::from_str::<LiveOp>(r#"{"op":"drop","id":"a"}"#).is_err());
    }
}
