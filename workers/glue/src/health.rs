//! `GET /health`: the worker's own report, folded with its next hop's.
//!
//! The next hop is asked through its service binding with a short timeout and a capped
//! body, so a slow or broken hop makes this worker report `degraded` (503) instead of
//! hanging. The folding rules live in `edge_core::health`.

use edge_core::ServiceName;
use edge_core::error::CommonError;
use edge_core::health::{HealthReport, HopOutcome, MAX_HEALTH_BODY, NextHop, Problem};
use worker::{Env, Method, Request, Response};

use crate::hop::{self, NextHopBinding};
use crate::{body, config, respond};

/// Default time a worker waits for its next hop's `/health`, in milliseconds.
pub const DEFAULT_HEALTH_TIMEOUT_MS: u64 = 2_000;

/// Answers `GET /health` for `me` at `version` (the worker's own crate version), asking
/// `next` (when given) for its health first.
///
/// The wait for the next hop is the var `HEALTH_TIMEOUT_MS` (default 2000); a malformed
/// value answers 500 `misconfigured`, like every other malformed var.
///
/// # Errors
/// 500 `misconfigured` naming `HEALTH_TIMEOUT_MS` when it is malformed; 500
/// `internal_error` if the response cannot be built.
pub async fn respond(
    env: &Env,
    me: ServiceName,
    version: &str,
    next: Option<NextHopBinding>,
) -> Result<Response, CommonError> {
    respond_with_problems(env, me, version, next, Vec::new()).await
}

/// [`respond`] for a worker that knows some of its own `problems` (a malformed var that
/// refuses part of its requests): any makes the report `degraded` (503) and is listed in
/// its `problems`, so the operator sees why while the rest keeps working.
///
/// # Errors
/// As [`respond`].
pub async fn respond_with_problems(
    env: &Env,
    me: ServiceName,
    version: &str,
    next: Option<NextHopBinding>,
    problems: Vec<Problem>,
) -> Result<Response, CommonError> {
    let report = match next {
        None => HealthReport::leaf(me, version),
        Some(next) => {
            let timeout_ms = config::u64_var(
                env,
                "HEALTH_TIMEOUT_MS",
                DEFAULT_HEALTH_TIMEOUT_MS,
                1..=30_000,
            )?;
            HealthReport::chained(me, version, probe(env, next, timeout_ms).await)
        }
    }
    .with_problems(problems);
    // Serializing the report and a 200/503 status cannot fail.
    respond::json(report.http_status(), &report).map_err(|_| CommonError::Internal)
}

async fn probe(env: &Env, next: NextHopBinding, timeout_ms: u64) -> NextHop {
    match ask(env, next.binding, timeout_ms).await {
        Observed::Answered(status, body) => NextHop::from_outcome(
            next.worker,
            HopOutcome::Answered {
                status,
                body: &body,
            },
        ),
        Observed::TimedOut => NextHop::from_outcome(next.worker, HopOutcome::TimedOut),
        Observed::Failed => NextHop::from_outcome(next.worker, HopOutcome::Failed),
    }
}

/// What came back from the next hop, owning the body.
enum Observed {
    Answered(u16, Vec<u8>),
    TimedOut,
    Failed,
}

async fn ask(env: &Env, binding: &'static str, timeout_ms: u64) -> Observed {
    let Ok(req) = Request::new("https://internal/health", Method::Get) else {
        return Observed::Failed;
    };
    let mut resp = match hop::call_service(env, binding, req.inner(), timeout_ms).await {
        Ok(resp) => resp,
        Err(CommonError::UpstreamTimeout { .. }) => return Observed::TimedOut,
        Err(_) => return Observed::Failed,
    };
    match body::read_capped(&mut resp, MAX_HEALTH_BODY).await {
        Ok(body) => Observed::Answered(resp.status_code(), body),
        Err(_) => Observed::Failed,
    }
}
