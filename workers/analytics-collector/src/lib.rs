//! analytics-collector: receives one metric per hop from every worker.
//!
//! Walking skeleton: `POST /v1/metrics` validates one event (strictly, see
//! `edge_core::metric`) and hands it to the [`store::MetricsStore`] Durable Object, which
//! owns the rows, so concurrent reports are never lost. Operators read them back with the
//! admin secret: `GET /v1/metrics/summary` (counts by worker) and
//! `GET /v1/metrics/requests/:id` (every hop of one request). Windows, percentiles,
//! retention and the dashboard are the analytics issue's work.

// `#[durable_object]` generates undocumented wasm-bindgen glue methods.
#[allow(missing_docs)]
mod store;

use edge_core::error::CommonError;
use edge_core::{MetricEvent, RequestId, ServiceName};
use edge_glue::admin::require_admin;
use edge_glue::body::{self, BodyError};
use edge_glue::{Role, health, respond};
use worker::{
    Context, Env, Method, Request, RequestInit, Response, Result, RouteContext, Router, event,
};

pub use store::MetricsStore;

const ME: ServiceName = ServiceName::AnalyticsCollector;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    edge_glue::serve(ME, Role::Collector, req, env, ctx, |req, env, _hop| {
        Router::new()
            .get_async("/health", |_, rc| async move {
                health::respond(&rc.env, ME, env!("CARGO_PKG_VERSION"), None).await
            })
            .post_async("/v1/metrics", ingest)
            .get_async("/v1/metrics/summary", |req, rc| async move {
                admin_query(&req, &rc, store::SUMMARY_PATH.to_owned()).await
            })
            .get_async("/v1/metrics/requests/:id", |req, rc| async move {
                let Some(id) = rc.param("id").and_then(|id| RequestId::parse(id)) else {
                    return respond::error_response(&CommonError::NotFound);
                };
                admin_query(&req, &rc, format!("{}{id}", store::REQUESTS_PATH)).await
            })
            .run(req, env)
    })
    .await
}

/// `POST /v1/metrics`: validate one event and store it; 202 with the request id.
async fn ingest(mut req: Request, rc: RouteContext<()>) -> Result<Response> {
    let bytes = match body::read_limited(&mut req, edge_core::metric::MAX_EVENT_BYTES).await {
        Ok(b) => b,
        Err(BodyError::TooLarge(e)) => return respond::error_response(&e),
        Err(BodyError::Read(_)) => {
            return respond::error_response(&edge_core::MetricError::Malformed);
        }
    };
    let event = match MetricEvent::from_json(&bytes) {
        Ok(ev) => ev,
        Err(e) => return respond::error_response(&e),
    };
    let mut init = RequestInit::new();
    // The store's row form: `degraded` as 0/1, SQLite having no boolean.
    let mut row = serde_json::to_value(&event)?;
    if let Some(d) = event.degraded {
        row["degraded"] = serde_json::json!(u8::from(d));
    }
    init.with_method(Method::Post)
        .with_body(Some(row.to_string().into()));
    let stored = store_stub(&rc.env)?
        .fetch_with_request(Request::new_with_init(
            &format!("https://store{}", store::INGEST_PATH),
            &init,
        )?)
        .await?;
    if stored.status_code() != 204 {
        return respond::error_response(&CommonError::Internal);
    }
    respond::json(
        202,
        &serde_json::json!({ "accepted": 1, "request_id": event.request_id }),
    )
}

/// Checks the admin secret, then relays `path` to the store.
async fn admin_query(req: &Request, rc: &RouteContext<()>, path: String) -> Result<Response> {
    if let Err(e) = require_admin(req, &rc.env) {
        return respond::error_response(&e);
    }
    let resp = store_stub(&rc.env)?
        .fetch_with_str(&format!("https://store{path}"))
        .await?;
    Ok(resp)
}

/// The single metrics store. One instance is exact and enough for the skeleton's volume;
/// sharding by time window is the analytics issue's work.
fn store_stub(env: &Env) -> Result<worker::Stub> {
    env.durable_object("METRICS_STORE")?
        .id_from_name("global")?
        .get_stub()
}
