//! Exact sliding-window admission in a Durable Object: one object per bucket, so every
//! check of a bucket runs in one place, one at a time.
//!
//! [`WindowLog`] is the object's state (the core's `SlidingWindowLog`, written through to the
//! object's SQLite storage, so it survives eviction); a worker's `#[durable_object]` wraps it
//! and forwards `fetch`. [`check`] asks a bucket's object to admit one request under a
//! policy. Each check is synchronous inside the object, so concurrent requests cannot
//! interleave a read and a write: 1,000 simultaneous requests against a limit of 100 admit
//! exactly 100. Used by auth-validator's rate limiter and chat-webhook's AI quota.

use std::cell::RefCell;

use edge_core::auth::rate_limit::{RateDecision, RateLimitPolicy, SlidingWindowLog};
use edge_core::error::CommonError;
use worker::{
    Env, Method, Request, RequestInit, Response, Result, SqlStorage, SqlStorageValue, State,
    console_error,
};

use crate::{now_ms, respond};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS hits (ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS hits_by_ts ON hits(ts);";

/// Asks the object of `bucket` in Durable Object namespace `binding` to admit one request
/// under `policy`.
///
/// # Errors
/// [`CommonError::Misconfigured`] without the binding; [`CommonError::UpstreamUnavailable`]
/// when the object cannot be reached or answers nonsense (callers fail closed on it).
pub async fn check(
    env: &Env,
    binding: &'static str,
    bucket: &str,
    policy: RateLimitPolicy,
) -> std::result::Result<RateDecision, CommonError> {
    call(env, binding, bucket, policy, "https://window-log/check").await
}

/// Asks the object of `bucket` whether it would admit one request under `policy`, without
/// counting it (for limits that count only some outcomes, such as failed sign-ins).
///
/// # Errors
/// As [`check`].
pub async fn peek(
    env: &Env,
    binding: &'static str,
    bucket: &str,
    policy: RateLimitPolicy,
) -> std::result::Result<RateDecision, CommonError> {
    call(env, binding, bucket, policy, "https://window-log/peek").await
}

async fn call(
    env: &Env,
    binding: &'static str,
    bucket: &str,
    policy: RateLimitPolicy,
    url: &str,
) -> std::result::Result<RateDecision, CommonError> {
    let unavailable = |what: &str, e: &dyn std::fmt::Display| {
        console_error!("{binding} {what} failed: {e}");
        CommonError::UpstreamUnavailable
    };
    let namespace = env
        .durable_object(binding)
        .map_err(|_| CommonError::Misconfigured(binding))?;
    let stub = namespace
        .id_from_name(bucket)
        .and_then(|id| id.get_stub())
        .map_err(|e| unavailable("lookup", &e))?;
    let body = serde_json::to_string(&policy).map_err(|e| unavailable("encode", &e))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init(url, &init).map_err(|e| unavailable("request", &e))?;
    let mut resp = stub
        .fetch_with_request(req)
        .await
        .map_err(|e| unavailable("call", &e))?;
    resp.json::<RateDecision>()
        .await
        .map_err(|e| unavailable("decode", &e))
}

/// One bucket's admission log, the state of a Durable Object.
pub struct WindowLog {
    sql: SqlStorage,
    log: RefCell<Option<SlidingWindowLog>>,
}

impl WindowLog {
    /// The log of the object with `state`.
    #[must_use]
    pub fn new(state: &State) -> Self {
        let sql = state.storage().sql();
        // Idempotent; if it failed, the first insert reports it.
        let _ = sql.exec(SCHEMA, None);
        Self {
            sql,
            log: RefCell::new(None),
        }
    }

    /// Answers [`check`] and [`peek`]: `POST` with a policy, a [`RateDecision`] back.
    ///
    /// # Errors
    /// When the body is not a policy or the storage fails.
    pub async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.method() != Method::Post {
            return respond::error_response(&CommonError::MethodNotAllowed);
        }
        let count = req.path() != "/peek";
        let policy: RateLimitPolicy = req.json().await?;
        // From here to the response nothing awaits: the check and its write are atomic.
        let decision = self.decide(policy, now_ms(), count)?;
        respond::json(200, &decision)
    }

    /// Decides one request at `now`; with `count`, an admitted request is counted; without
    /// it (a peek), nothing is.
    fn decide(&self, policy: RateLimitPolicy, now: u64, count: bool) -> Result<RateDecision> {
        let mut slot = self.log.borrow_mut();
        let log = match slot.as_mut() {
            Some(log) => log,
            None => {
                #[derive(serde::Deserialize)]
                struct Hit {
                    ts: i64,
                }
                let stored: Vec<Hit> = self.sql.exec("SELECT ts FROM hits", None)?.to_array()?;
                let hits = stored
                    .into_iter()
                    .filter_map(|h| u64::try_from(h.ts).ok())
                    .collect();
                slot.insert(SlidingWindowLog::from_hits(hits))
            }
        };
        let before = log.len();
        let mut decision = log.check(policy, now);
        if !count && decision.allowed {
            log.release();
            decision.remaining = decision.remaining.saturating_add(1);
            return Ok(decision);
        }
        let ts = i64::try_from(now).unwrap_or(i64::MAX);
        if decision.allowed {
            self.sql.exec(
                "INSERT INTO hits (ts) VALUES (?)",
                vec![SqlStorageValue::try_from_i64(ts)?],
            )?;
        }
        if log.len() < before + usize::from(decision.allowed) {
            // Same rule as the log: an admission at t expires when t + window <= now.
            let cutoff = ts.saturating_sub(i64::from(policy.window_s) * 1000);
            self.sql.exec(
                "DELETE FROM hits WHERE ts <= ?",
                vec![SqlStorageValue::try_from_i64(cutoff)?],
            )?;
        }
        Ok(decision)
    }
}
