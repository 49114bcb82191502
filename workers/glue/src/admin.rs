//! Guarding operator endpoints (metric queries today; purges and key admin later).

use edge_core::admin;
use edge_core::auth::rate_limit::{RateLimitPolicy, RateLimited};
use edge_core::error::CommonError;
use edge_core::signed::seal;
use worker::{Env, web_sys};

use crate::{Hop, config, now_ms, window_log};

/// Failed admin-secret attempts allowed per client address when
/// `ADMIN_AUTH_FAILURE_LIMIT` is unset: 10 per 10 minutes.
pub const DEFAULT_FAILURE_LIMIT: &str = "10/600";

/// The identity auth-validator seals an operator request with once it has checked the
/// admin secret itself (the secret is not forwarded).
pub const SEALED_OPERATOR: &str = "admin-secret";

/// Name of the secret that guards operator endpoints.
pub const ADMIN_SECRET: &str = "ADMIN_SECRET";

/// Checks that `req` carries `Authorization: Bearer <ADMIN_SECRET>`, in constant time.
///
/// # Errors
/// [`CommonError::Unauthorized`] for a missing or wrong header;
/// [`CommonError::Misconfigured`] when the secret is unset or shorter than 16 bytes, so an
/// unconfigured deployment keeps its operator endpoints closed.
pub fn require_admin(req: &web_sys::Request, env: &Env) -> Result<(), CommonError> {
    let secret = config::required_string(env, ADMIN_SECRET)?;
    let authorization = req.headers().get("authorization").ok().flatten();
    admin::authorize(authorization.as_deref(), &secret)
}

/// Checks an operator request that arrives by service binding: either sealed by
/// auth-validator, which checked the admin secret and did not forward it (a seal over
/// this request's id, method and path, keyed from the same secret), or carrying the
/// secret itself (`Authorization: Bearer`, for callers inside the account).
///
/// # Errors
/// [`CommonError::Unauthorized`] for a bad seal or secret; [`CommonError::Misconfigured`]
/// as [`require_admin`].
pub fn require_sealed_admin(
    req: &web_sys::Request,
    env: &Env,
    hop: &Hop,
) -> Result<(), CommonError> {
    let Some(value) = req.headers().get(seal::HEADER).ok().flatten() else {
        return require_admin(req, env);
    };
    let secret = config::required_string(env, ADMIN_SECRET)?;
    admin::check_configured(&secret)?;
    let (method, path) = (req.method(), crate::incoming::path_of(&req.url()));
    let sealed = seal::Sealed {
        request_id: hop.request_id.as_str(),
        method: &method,
        path: &path,
        subject: SEALED_OPERATOR,
        permissions: SEALED_OPERATOR,
    };
    if seal::verify(&secret, &sealed, &value, now_ms() / 1000) {
        Ok(())
    } else {
        Err(CommonError::Unauthorized)
    }
}

/// The var `ADMIN_AUTH_FAILURE_LIMIT` (`<failures>/<seconds>`, default
/// [`DEFAULT_FAILURE_LIMIT`]).
///
/// # Errors
/// [`CommonError::Misconfigured`] when it is set but malformed.
pub fn failure_limit(env: &Env) -> Result<RateLimitPolicy, CommonError> {
    RateLimitPolicy::parse(&config::text_var(
        env,
        "ADMIN_AUTH_FAILURE_LIMIT",
        DEFAULT_FAILURE_LIMIT,
    ))
    .ok_or(CommonError::Misconfigured("ADMIN_AUTH_FAILURE_LIMIT"))
}

/// Why an admin-secret attempt was refused.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// The client address has used up its failures (429 with `Retry-After`).
    #[error(transparent)]
    Throttled(#[from] RateLimited),
    /// A wrong secret (401), a misconfiguration (500), or the limiter unreachable (503).
    #[error(transparent)]
    Refused(#[from] CommonError),
}

impl edge_core::HttpError for AttemptError {
    fn status(&self) -> u16 {
        self.inner().status()
    }
    fn code(&self) -> &'static str {
        self.inner().code()
    }
    fn headers(&self) -> Vec<(&'static str, String)> {
        self.inner().headers()
    }
}

impl AttemptError {
    fn inner(&self) -> &dyn edge_core::HttpError {
        match self {
            Self::Throttled(e) => e,
            Self::Refused(e) => e,
        }
    }
}

/// One attempt to present the admin secret, from one client address, counted in the
/// window-log Durable Object namespace `binding` (see [`window_log`]).
///
/// Only failures count, after they happen; an address over its allowance is refused before
/// the secret is looked at. So an operator is never throttled by their own work, and a
/// guesser can lock out only their own address.
pub struct AdminAttempt {
    binding: &'static str,
    bucket: String,
    policy: RateLimitPolicy,
}

impl AdminAttempt {
    /// Starts an attempt from `req`'s client address (`CF-Connecting-IP`, which
    /// Cloudflare's edge sets on every request).
    ///
    /// # Errors
    /// [`AttemptError::Throttled`] over the limit; 503 when the limiter cannot be asked (a
    /// security control does not fail open); 500 for a malformed limit.
    pub async fn begin(
        env: &Env,
        req: &web_sys::Request,
        binding: &'static str,
    ) -> Result<Self, AttemptError> {
        let client = req
            .headers()
            .get("cf-connecting-ip")
            .ok()
            .flatten()
            .unwrap_or_else(|| "unknown".to_owned());
        let attempt = Self {
            binding,
            bucket: format!("admin-failures:{client}"),
            policy: failure_limit(env)?,
        };
        let decision = window_log::peek(env, binding, &attempt.bucket, attempt.policy).await?;
        if decision.allowed {
            Ok(attempt)
        } else {
            Err(RateLimited(decision).into())
        }
    }

    /// Ends the attempt with the secret check's `outcome`; a failure is counted (and
    /// waited for, so a client guessing one at a time meets the limit exactly).
    ///
    /// # Errors
    /// The outcome's error (401 for a wrong secret), or 503 when the failure could not be
    /// counted.
    pub async fn settle(
        self,
        env: &Env,
        outcome: Result<(), CommonError>,
    ) -> Result<(), CommonError> {
        if let Err(CommonError::Unauthorized) = outcome {
            window_log::check(env, self.binding, &self.bucket, self.policy).await?;
        }
        outcome
    }
}

/// [`require_admin`], throttled per client address (see [`AdminAttempt`]).
///
/// # Errors
/// As [`AdminAttempt::begin`] and [`require_admin`].
pub async fn require_admin_throttled(
    req: &web_sys::Request,
    env: &Env,
    binding: &'static str,
) -> Result<(), AttemptError> {
    let attempt = AdminAttempt::begin(env, req, binding).await?;
    Ok(attempt.settle(env, require_admin(req, env)).await?)
}
