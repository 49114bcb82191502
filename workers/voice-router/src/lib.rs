//! voice-router: picks the regional origin for each request and proxies to it.
//!
//! - `GET /health`: this worker's own health (a leaf: regions are not probed on the
//!   request path).
//! - anything else: routed by [`proxy`] — country priority list, else nearest healthy
//!   region by `cf` coordinates, else the default route; per-region circuit breakers fed
//!   by real traffic and by the scheduled [`probe`]; one failover for idempotent bodyless
//!   requests.
//! - `scheduled`: the health probe (cron in `wrangler/voice-router.toml`).

mod error;
mod failover;
mod probe;
mod proxy;
mod region_health;
mod runtime;
mod settings;

use edge_core::ServiceName;
use edge_glue::{Incoming, Reply, Role, health};
use worker::{Context, Env, Result, ScheduleContext, ScheduledEvent, event, web_sys};

const ME: ServiceName = ServiceName::VoiceRouter;

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    edge_glue::serve(
        ME,
        Role::Internal,
        req,
        env,
        ctx,
        |req: Incoming, env, hop| async move {
            if hop.path() == "/health" && req.method() == "GET" {
                let health = health::respond(&env, ME, env!("CARGO_PKG_VERSION"), None).await?;
                return Ok(Reply::from(health));
            }
            proxy::handle(&req, &env, &hop).await.map(Reply::from)
        },
    )
    .await
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    probe::run(&env).await;
}
