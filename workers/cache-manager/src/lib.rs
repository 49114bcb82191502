//! cache-manager: the RFC 9111 shared HTTP cache between auth-validator and voice-router.
//!
//! - `GET /health`: the chain's health.
//! - `POST /admin/v1/cache/purge`: purge by URL and by prefix (admin secret; see [`purge`]).
//!   Every other `/admin/…` request is refused here (404, or 405 `Allow: POST` at the
//!   purge path) and never forwarded (`edge_core::cache::admin`).
//! - anything else: through the cache ([`http_cache`], its sequence in [`flow`]) to
//!   voice-router by the `ROUTER` service binding.

mod coalesce;
mod error;
mod flow;
mod hit_for_pass;
mod http_cache;
mod purge;
mod ranged;
mod runtime;
mod settings;
mod store;
mod tiers;

use edge_core::ServiceName;
use edge_core::cache::admin::{self, AdminRoute};
use edge_glue::{Hop, Incoming, Reply, Role, health};
use worker::{Context, Env, event, web_sys};

use crate::error::Error;

const ME: ServiceName = ServiceName::CacheManager;

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    edge_glue::serve(ME, Role::Internal, req, env, ctx, handle).await
}

async fn handle(req: Incoming, env: Env, hop: Hop) -> Result<Reply, Error> {
    let (method, path) = (req.method(), hop.path());
    if method == "GET" && path == "/health" {
        let version = env!("CARGO_PKG_VERSION");
        return Ok(health::respond(&env, ME, version, Some(runtime::NEXT))
            .await?
            .into());
    }
    // Admin paths are answered here, whatever their method or body, and never forwarded
    // (nor their admin bearer with them).
    match admin::route(&method, path)? {
        AdminRoute::Purge => Ok(purge::handle(req.into_request(), &env, &hop).await?.into()),
        AdminRoute::NotAdmin => http_cache::handle(req, &env, &hop).await,
    }
}
