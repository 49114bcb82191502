//! voice-router: picks the regional origin for each request and proxies to it.
//!
//! Walking skeleton: proxies every request to the one origin named by the var
//! `ORIGIN_URL` (bounded by `ORIGIN_TIMEOUT_MS`, default 30000), retrying a safe bodyless
//! request once on a transport failure, and answers `GET /health` for itself. Geo routing, health and failover are the next issue's work.

use edge_core::ServiceName;
use edge_core::error::CommonError;
use edge_core::retry::{self, AttemptOutcome};
use edge_glue::hop::{self, DEFAULT_UPSTREAM_TIMEOUT_MS, Destination};
use edge_glue::{Hop, Role, config, health, respond};
use worker::{Context, Env, Request, Response, Result, Router, event};

const ME: ServiceName = ServiceName::VoiceRouter;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    edge_glue::serve(ME, Role::Internal, req, env, ctx, |req, env, hop| {
        Router::with_data(hop)
            .get_async("/health", |_, rc| async move {
                health::respond(&rc.env, ME, env!("CARGO_PKG_VERSION"), None).await
            })
            .or_else_any_method_async("/*path", |req, rc| async move {
                match proxy(&req, &rc.env, &rc.data).await {
                    Ok(resp) => Ok(resp),
                    Err(e) => respond::error_response(&e),
                }
            })
            .run(req, env)
    })
    .await
}

/// Sends `req` to `ORIGIN_URL` + its path and query, repeating a safe bodyless request
/// once when the first attempt fails at the transport level (see `edge_core::retry`).
async fn proxy(req: &Request, env: &Env, hop: &Hop) -> std::result::Result<Response, CommonError> {
    let origin = config::base_url(env, "ORIGIN_URL")?;
    let timeout_ms = config::u64_var(
        env,
        "ORIGIN_TIMEOUT_MS",
        DEFAULT_UPSTREAM_TIMEOUT_MS,
        1..=300_000,
    )?;
    let url = req.url().map_err(|_| CommonError::Internal)?;
    let target = match url.query() {
        Some(q) => format!("{origin}{}?{q}", url.path()),
        None => format!("{origin}{}", url.path()),
    };
    // The raw method: worker::Method turns methods it does not know into GET.
    let method = req.inner().method();
    let has_body = req.inner().body().is_some();
    let mut attempts = 0;
    loop {
        let fwd = hop::forwarded_request(req, &target, &hop.request_id, Destination::Origin)
            .map_err(|_| CommonError::Internal)?;
        attempts += 1;
        let outcome = hop::call_origin(fwd, timeout_ms).await;
        let retry = matches!(outcome, Err(CommonError::UpstreamUnavailable))
            && retry::may_retry(
                &method,
                has_body,
                AttemptOutcome::TransportFailure,
                attempts,
            );
        if !retry {
            return outcome;
        }
    }
}
