//! cache-manager: the shared HTTP cache between auth-validator and voice-router.
//!
//! Walking skeleton: forwards every request through the `ROUTER` service binding to
//! voice-router and marks the answer `x-cache: BYPASS` (nothing is cached yet), and
//! answers `GET /health` with the chain's health. RFC 9111 caching is the next issue's work.

use edge_core::ServiceName;
use edge_glue::hop::{self, NextHopBinding};
use edge_glue::{Role, health, respond};
use worker::{Context, Env, Request, Response, Result, Router, event};

const ME: ServiceName = ServiceName::CacheManager;
const NEXT: NextHopBinding = NextHopBinding {
    binding: "ROUTER",
    worker: ServiceName::VoiceRouter,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    edge_glue::serve(ME, Role::Internal, req, env, ctx, |req, env, hop| {
        Router::with_data(hop)
            .get_async("/health", |_, rc| async move {
                health::respond(&rc.env, ME, env!("CARGO_PKG_VERSION"), Some(NEXT)).await
            })
            .or_else_any_method_async("/*path", |req, rc| async move {
                let resp =
                    hop::forward_to_service(&req, &rc.env, NEXT, &rc.data.request_id).await?;
                let resp = respond::with_mutable_headers(resp);
                resp.headers().set("x-cache", "BYPASS")?;
                Ok(resp)
            })
            .run(req, env)
    })
    .await
}
