//! Exact rate limiting in a Durable Object: one `RateLimiter` instance per bucket (an API
//! key, or a JWT subject), so every check of a bucket runs in one place, one at a time
//! (the shared [`edge_glue::window_log`]): 1,000 simultaneous requests against a limit of
//! 100 admit exactly 100. The log survives the object being evicted from memory.
//!
//! If the limiter cannot be reached, the request is refused (503): a security control
//! that fails open is not one.

use edge_core::auth::rate_limit::{RateDecision, RateLimitPolicy};
use edge_core::error::CommonError;
use edge_glue::window_log::{self, WindowLog};
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

/// Durable Object binding of the limiter.
pub(crate) const BINDING: &str = "RATE_LIMITER";

/// Asks the bucket's limiter to admit one request under `policy`.
pub(crate) async fn check(
    env: &Env,
    bucket: &str,
    policy: RateLimitPolicy,
) -> std::result::Result<RateDecision, CommonError> {
    window_log::check(env, BINDING, bucket, policy).await
}

/// One bucket's admission log.
#[durable_object]
pub struct RateLimiter {
    log: WindowLog,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self {
            log: WindowLog::new(&state),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        self.log.fetch(req).await
    }
}
