//! analytics-collector: exact metrics from every worker, queryable, with a dashboard.
//!
//! - `POST /v1/metrics`: one event, a batch or an envelope ([`ingest`]), into Analytics Engine and the
//!   per-day-and-shard [`MetricsStore`] Durable Objects ([`store`], reached through [`stores`]).
//! - `GET /api/v1/analytics/edge/query`: windows, grouping and percentiles as JSON ([`read`]).
//! - `GET /api/v1/analytics/edge/metrics`: the Prometheus exposition ([`read`]).
//! - `GET /api/v1/analytics/edge/dashboard` and `POST …/session`: the dashboard and its
//!   sign-in ([`dashboard`]).
//! - `GET /v1/metrics/requests/:id`: every hop of one request (raw hops, kept 24 hours).
//!
//! Every read needs the admin secret, the dashboard's cookie, or an identity with
//! `analytics:read` sealed by auth-validator ([`access`]).

mod access;
mod dashboard;
mod error;
mod ingest;
mod read;
// `#[durable_object]` generates undocumented wasm-bindgen glue methods.
#[allow(missing_docs)]
mod store;
mod stores;

use edge_core::ServiceName;
use edge_core::error::CommonError;
use edge_glue::{Hop, Role, health, now_ms, respond};
use worker::{Context, Env, Request, Response, Result, RouteContext, Router, event};

pub use store::MetricsStore;

const ME: ServiceName = ServiceName::AnalyticsCollector;

/// The read endpoints, behind [`access::authorize`].
#[derive(Clone, Copy)]
enum Read {
    Query,
    Prometheus,
    Dashboard,
    Hops,
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    edge_glue::serve(ME, Role::Collector, req, env, ctx, |req, env, hop| {
        let read = |which: Read| move |req, rc| async move { guarded(which, &req, &rc).await };
        let answer = Router::with_data(hop)
            .get_async("/health", |_, rc| async move {
                health::respond(&rc.env, ME, env!("CARGO_PKG_VERSION"), None).await
            })
            .post_async("/v1/metrics", ingest::ingest)
            .get_async("/v1/metrics/requests/:id", read(Read::Hops))
            .get_async("/api/v1/analytics/edge/query", read(Read::Query))
            .get_async("/api/v1/analytics/edge/metrics", read(Read::Prometheus))
            .get_async(dashboard::DASHBOARD_PATH, read(Read::Dashboard))
            .post_async(dashboard::SESSION_PATH, |mut req, rc| async move {
                dashboard::sign_in(&mut req, &rc.env).await
            })
            .run(req, env);
        async move { answer.await.map_err(error::Error::from) }
    })
    .await
}

/// Runs a read endpoint once the reader is authorized.
async fn guarded(which: Read, req: &Request, rc: &RouteContext<Hop>) -> Result<Response> {
    if let Err(e) = access::authorize(req, &rc.env, &rc.data, now_ms() / 1000) {
        return match (which, e) {
            (Read::Dashboard, CommonError::Unauthorized) if dashboard::wants_html(req) => {
                dashboard::signin(401, "")
            }
            (_, e) => respond::error_response(&e),
        };
    }
    match which {
        Read::Query => read::query(req, &rc.env).await,
        Read::Prometheus => read::prometheus(req, &rc.env).await,
        Read::Dashboard => dashboard::page(req, &rc.env).await,
        Read::Hops => read::hops(&rc.env, rc.param("id").map_or("", String::as_str)).await,
    }
}
