//! chat-webhook: LINE and Discord webhooks.
//!
//! Walking skeleton: answers `GET /health`; every other path is a JSON 404 until the
//! LINE and Discord issues add their webhooks.

use edge_core::ServiceName;
use edge_glue::{Role, health};
use worker::{Context, Env, Request, Response, Result, Router, event};

const ME: ServiceName = ServiceName::ChatWebhook;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    edge_glue::serve(ME, Role::Entry, req, env, ctx, |req, env, _hop| {
        Router::new()
            .get_async("/health", |_, rc| async move {
                health::respond(&rc.env, ME, env!("CARGO_PKG_VERSION"), None).await
            })
            .run(req, env)
    })
    .await
}
