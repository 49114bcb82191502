//! Exact rate limiting in a Durable Object: one `RateLimiter` instance per bucket (an API
//! key, or a JWT subject), so every check of a bucket runs in one place, one at a time.
//!
//! Each check is synchronous inside the object (an in-memory sliding-window log, written
//! through to the object's SQLite storage), so concurrent requests cannot interleave a
//! read and a write: 1,000 simultaneous requests against a limit of 100 admit exactly 100.
//! The log survives the object being evicted from memory.
//!
//! If the limiter cannot be reached, the request is refused (503): a security control
//! that fails open is not one.

use std::cell::RefCell;

use edge_core::auth::rate_limit::{RateDecision, RateLimitPolicy, SlidingWindowLog};
use edge_core::error::CommonError;
use edge_glue::{now_ms, respond};
use worker::{
    DurableObject, Env, Method, Request, RequestInit, Response, Result, SqlStorage,
    SqlStorageValue, State, console_error, durable_object,
};

/// Durable Object binding of the limiter.
const BINDING: &str = "RATE_LIMITER";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS hits (ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS hits_by_ts ON hits(ts);";

/// Asks the bucket's limiter to admit one request under `policy`.
pub(crate) async fn check(
    env: &Env,
    bucket: &str,
    policy: RateLimitPolicy,
) -> std::result::Result<RateDecision, CommonError> {
    call(env, bucket, CHECK, policy).await
}

/// Asks whether the bucket's limiter would admit one request under `policy`, counting
/// nothing (the failed-attempts limit counts only failures, after they happen).
pub(crate) async fn peek(
    env: &Env,
    bucket: &str,
    policy: RateLimitPolicy,
) -> std::result::Result<RateDecision, CommonError> {
    call(env, bucket, PEEK, policy).await
}

const CHECK: &str = "https://rate-limiter/check";
const PEEK: &str = "https://rate-limiter/peek";

async fn call(
    env: &Env,
    bucket: &str,
    url: &str,
    policy: RateLimitPolicy,
) -> std::result::Result<RateDecision, CommonError> {
    let unavailable = |what: &str, e: &dyn std::fmt::Display| {
        console_error!("rate limiter {what} failed: {e}");
        CommonError::UpstreamUnavailable
    };
    let namespace = env
        .durable_object(BINDING)
        .map_err(|_| CommonError::Misconfigured(BINDING))?;
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

/// One bucket's admission log.
#[durable_object]
pub struct RateLimiter {
    sql: SqlStorage,
    log: RefCell<Option<SlidingWindowLog>>,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        // Idempotent; if it failed, the first insert reports it.
        let _ = sql.exec(SCHEMA, None);
        Self {
            sql,
            log: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.method() != Method::Post {
            return respond::error_response(&CommonError::MethodNotAllowed);
        }
        let count = req.path() != "/peek";
        let policy: RateLimitPolicy = req.json().await?;
        // From here to the response nothing awaits: the check and its write are atomic.
        let decision = self.decide(policy, now_ms(), count)?;
        respond::json(200, &decision)
    }
}

impl RateLimiter {
    /// The in-memory log, restored from storage on first use.
    fn loaded<'a>(
        &self,
        slot: &'a mut Option<SlidingWindowLog>,
    ) -> Result<&'a mut SlidingWindowLog> {
        if slot.is_none() {
            #[derive(serde::Deserialize)]
            struct Hit {
                ts: i64,
            }
            let stored: Vec<Hit> = self.sql.exec("SELECT ts FROM hits", None)?.to_array()?;
            let hits = stored
                .into_iter()
                .filter_map(|h| u64::try_from(h.ts).ok())
                .collect();
            *slot = Some(SlidingWindowLog::from_hits(hits));
        }
        Ok(slot.get_or_insert_with(SlidingWindowLog::default))
    }

    /// Decides one request at `now`; with `count`, an admitted request is counted; without
    /// it (a peek), nothing is.
    fn decide(&self, policy: RateLimitPolicy, now: u64, count: bool) -> Result<RateDecision> {
        let mut slot = self.log.borrow_mut();
        let log = self.loaded(&mut slot)?;
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
