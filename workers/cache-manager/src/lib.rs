//! cache-manager: the RFC 9111 shared HTTP cache between auth-validator and voice-router.
//!
//! - `GET /health`: the chain's health.
//! - `POST /admin/v1/cache/purge`: purge by URL and by prefix (admin secret; see [`purge`]).
//! - anything else: through the cache ([`http_cache`]) to voice-router by the `ROUTER`
//!   service binding.

mod coalesce;
mod http_cache;
mod purge;
mod settings;
mod store;

use edge_core::ServiceName;
use edge_glue::{Role, health};
use worker::{Context, Env, Request, Response, Result, event};

const ME: ServiceName = ServiceName::CacheManager;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    edge_glue::serve(
        ME,
        Role::Internal,
        req,
        env,
        ctx,
        |req, env, hop| async move {
            let path = req.path();
            let method = req.inner().method();
            match (method.as_str(), path.as_str()) {
                ("GET", "/health") => {
                    health::respond(&env, ME, env!("CARGO_PKG_VERSION"), Some(http_cache::NEXT))
                        .await
                }
                ("POST", purge::PATH) => purge::handle(req, &env, &hop).await,
                _ => http_cache::handle(req, &env, &hop).await,
            }
        },
    )
    .await
}
