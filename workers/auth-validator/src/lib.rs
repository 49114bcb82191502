//! auth-validator: the public entry of the API pipeline.
//!
//! Walking skeleton: forwards every request through the `CACHE` service binding to
//! cache-manager with a request id, and answers `GET /health` with the chain's health.
//! Request validation and authentication are the next issue's work.

use edge_core::ServiceName;
use edge_glue::hop::{self, NextHopBinding};
use edge_glue::{Role, health};
use worker::{Context, Env, Request, Response, Result, Router, event};

const ME: ServiceName = ServiceName::AuthValidator;
const NEXT: NextHopBinding = NextHopBinding {
    binding: "CACHE",
    worker: ServiceName::CacheManager,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    edge_glue::serve(ME, Role::Entry, req, env, ctx, |req, env, hop| {
        Router::with_data(hop)
            .get_async("/health", |_, rc| async move {
                health::respond(&rc.env, ME, env!("CARGO_PKG_VERSION"), Some(NEXT)).await
            })
            .or_else_any_method_async("/*path", |req, rc| async move {
                hop::forward_to_service(&req, &rc.env, NEXT, &rc.data.request_id).await
            })
            .run(req, env)
    })
    .await
}
