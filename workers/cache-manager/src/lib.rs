//! cache-manager: the RFC 9111 shared HTTP cache between auth-validator and voice-router.
//!
//! - `GET /health`: the chain's health.
//! - `POST /admin/v1/cache/purge`: purge by URL and by prefix (admin secret; see [`purge`]).
//!   Every other `/admin/…` request is refused here (404, or 405 `Allow: POST` at the
//!   purge path) and never forwarded (`edge_core::cache::admin`).
//! - anything else: through the cache ([`http_cache`]) to voice-router by the `ROUTER`
//!   service binding.

mod coalesce;
mod error;
mod http_cache;
mod purge;
mod settings;
mod store;

use edge_core::cache::admin::{self, AdminRoute};
use edge_core::{HttpError, ServiceName};
use edge_glue::{Role, health, respond};
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
            let answer: Result<Response> = async move {
                let path = req.path();
                let method = req.inner().method();
                if method == "GET" && path == "/health" {
                    return health::respond(
                        &env,
                        ME,
                        env!("CARGO_PKG_VERSION"),
                        Some(http_cache::NEXT),
                    )
                    .await;
                }
                // Admin paths are answered here, whatever their method or body, and never
                // forwarded (nor their admin bearer with them).
                match admin::route(&method, &path) {
                    Ok(AdminRoute::Purge) => purge::handle(req, &env, &hop).await,
                    Ok(AdminRoute::NotAdmin) => http_cache::handle(req, &env, &hop).await,
                    Err(e) => {
                        hop.decide(e.code());
                        respond::error_response(&e)
                    }
                }
            }
            .await;
            answer.map_err(error::Error::from)
        },
    )
    .await
}
