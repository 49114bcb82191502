//! analytics-collector: exact metrics from every worker, queryable, with a dashboard.
//!
//! - `POST /v1/metrics`: one event, a batch or an envelope ([`ingest`]), into Analytics Engine and the
//!   per-day-and-shard [`MetricsStore`] Durable Objects ([`metrics_store`], reached through
//!   [`store_client`]).
//! - `GET /api/v1/analytics/edge/query`: windows, grouping and percentiles as JSON ([`read`]).
//! - `GET /api/v1/analytics/edge/metrics`: the Prometheus exposition ([`read`]).
//! - `GET /api/v1/analytics/edge/dashboard` and `POST …/session`: the dashboard and its
//!   sign-in ([`dashboard`]).
//! - `GET /v1/metrics/requests/:id`: every hop of one request (raw hops, kept 24 hours).
//!
//! Every read needs the admin secret, the dashboard's cookie, or an identity with
//! `analytics:read` sealed by auth-validator ([`access`]). Handlers return
//! [`error::Error`]; `edge_glue::serve` answers it. Configuration: [`settings`].

mod access;
mod dashboard;
mod error;
mod ingest;
// `#[durable_object]` generates undocumented wasm-bindgen glue methods.
#[allow(missing_docs)]
mod metrics_store;
mod read;
mod settings;
mod store_client;

use edge_core::ServiceName;
use edge_core::error::CommonError;
use edge_core::route::{self, RouteRow};
use edge_glue::{Hop, Incoming, Role, health, now_ms};
use worker::{Context, Env, Request, Response, event, web_sys};

use crate::error::Error;
use crate::settings::Settings;

pub use metrics_store::MetricsStore;

const ME: ServiceName = ServiceName::AnalyticsCollector;

/// The read endpoints, behind [`access::authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Query,
    Prometheus,
    Dashboard,
    Hops,
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Health,
    Ingest,
    Read(Read),
    SignIn,
}

/// The collector's routes (404 and 405 with `Allow` come from here).
const ROUTES: &[RouteRow<Route>] = &[
    ("GET", "/health", Route::Health),
    ("POST", "/v1/metrics", Route::Ingest),
    ("GET", "/v1/metrics/requests/:id", Route::Read(Read::Hops)),
    (
        "GET",
        "/api/v1/analytics/edge/query",
        Route::Read(Read::Query),
    ),
    (
        "GET",
        "/api/v1/analytics/edge/metrics",
        Route::Read(Read::Prometheus),
    ),
    (
        "GET",
        dashboard::DASHBOARD_PATH,
        Route::Read(Read::Dashboard),
    ),
    ("POST", dashboard::SESSION_PATH, Route::SignIn),
];

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    edge_glue::serve(ME, Role::Collector, req, env, ctx, handle).await
}

/// Routes one request to its handler.
async fn handle(req: Incoming, env: Env, hop: Hop) -> Result<Response, Error> {
    let (which, params) = route::route(ROUTES, hop.method(), hop.path())?;
    // Ingest, the hot route (every worker's batches), reads only its body; the others take
    // the worker crate's Request.
    match which {
        Route::Health => Ok(health::respond(&env, ME, env!("CARGO_PKG_VERSION"), None).await?),
        Route::Ingest => {
            let settings = Settings::load(&env)?;
            ingest::ingest(&req, &env, &settings).await
        }
        Route::Read(read) => {
            let id = params.get("id").unwrap_or_default();
            guarded(read, &req.into_request(), &env, &hop, id).await
        }
        Route::SignIn => {
            let settings = Settings::load(&env)?;
            dashboard::sign_in(&req.into_request(), &settings).await
        }
    }
}

/// Runs a read endpoint once the reader is authorized.
async fn guarded(
    which: Read,
    req: &Request,
    env: &Env,
    hop: &Hop,
    id: &str,
) -> Result<Response, Error> {
    let settings = Settings::load(env)?;
    if let Err(e) = access::authorize(req, &settings, hop, now_ms() / 1000) {
        return match (which, e) {
            // A browser that is not signed in gets the sign-in page, not JSON.
            (Read::Dashboard, CommonError::Unauthorized) if dashboard::wants_html(req) => {
                Ok(dashboard::signin(401, "")?)
            }
            (_, e) => Err(e.into()),
        };
    }
    match which {
        Read::Query => read::query(req, env).await,
        Read::Prometheus => read::prometheus(req, env).await,
        Read::Dashboard => dashboard::page(req, env).await,
        Read::Hops => read::hops(env, id).await,
    }
}

#[cfg(test)]
mod tests {
    use edge_core::HttpError;

    use super::*;

    #[test]
    fn the_route_table_names_params_and_refuses_with_404_and_405() {
        let hops = route::route(ROUTES, "GET", "/v1/metrics/requests/r-1");
        assert_eq!(
            hops.map(|(r, p)| (r, p.get("id"))),
            Ok((Route::Read(Read::Hops), Some("r-1")))
        );
        let e = route::route(ROUTES, "GET", "/v1/metrics").expect_err("POST only");
        assert_eq!(e.status(), 405);
        assert_eq!(e.headers(), vec![("allow", "POST".to_owned())]);
        let e = route::route(ROUTES, "GET", "/v1/metrics/requests/").expect_err("no id");
        assert_eq!(e.status(), 404);
        let e = route::route(ROUTES, "PUT", dashboard::SESSION_PATH).expect_err("405");
        assert_eq!(e.headers(), vec![("allow", "POST".to_owned())]);
    }
}
