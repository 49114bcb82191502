//! auth-validator: the public entry of the API pipeline.
//!
//! Validates each request, authenticates it (JWT or API key), applies the caller's exact
//! rate limit, and forwards it through the `CACHE` service binding to cache-manager with
//! identity headers (see [`gate`]). Also serves the key admin API ([`admin`]), passes
//! `/admin/v1/cache/…` (cache purges, admin secret) on to cache-manager, passes
//! `/api/v1/analytics/edge/…` without credentials (the dashboard's sign-in and cookie) on to
//! analytics-collector, and answers CORS preflights for configured origins.
//!
//! Every response to an allowed origin carries CORS headers, errors included, so browser
//! clients can read why they were refused.

mod admin;
mod gate;
mod keys;
#[allow(missing_docs)] // the #[durable_object] macro generates undocumented items
mod limiter;
mod rejection;
mod settings;
mod tokens;

use edge_core::ServiceName;
use edge_glue::{Role, respond};
use worker::{Context, Env, Request, Response, Result, event};

pub use limiter::RateLimiter;

const ME: ServiceName = ServiceName::AuthValidator;
/// Operator endpoints of cache-manager (purge), reached through this entry.
const CACHE_ADMIN_PREFIX: &str = "/admin/v1/cache/";

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    edge_glue::serve(ME, Role::Entry, req, env, ctx, |req, env, hop| async move {
        let origin = req.headers().get("origin").ok().flatten();
        let settings = match settings::Settings::load(&env) {
            Ok(s) => s,
            Err(e) => return gate::refuse(&e.into(), &hop),
        };
        let path = req.path();
        let outcome = if path.starts_with(admin::PREFIX) {
            admin::handle(req, &env, &settings, &hop).await
        } else if path.starts_with(CACHE_ADMIN_PREFIX) {
            // cache-manager checks the secret too; refusing here keeps it off the chain.
            match edge_glue::admin::require_admin(&req, &env) {
                Ok(()) => {
                    hop.decide("admin_cache");
                    edge_glue::hop::forward_to_service(&req, &env, gate::NEXT, &hop.request_id)
                        .await
                        .map_err(Into::into)
                }
                Err(e) => Err(e.into()),
            }
        } else if path.starts_with(gate::EDGE_ANALYTICS_PREFIX)
            && req.headers().get("authorization")?.is_none()
        {
            // The dashboard's sign-in form and cookie session: analytics-collector checks
            // them (its cookie is keyed from the same admin secret). Bearer tokens and API
            // keys go through the gate below and arrive sealed.
            hop.decide("analytics_session");
            edge_glue::hop::forward_to_service(&req, &env, gate::ANALYTICS, &hop.request_id)
                .await
                .map_err(Into::into)
        } else {
            gate::admit(req, &env, &settings, &hop).await
        };
        // A refused preflight carries no CORS headers, so the browser blocks the call.
        let (resp, cors) = match outcome {
            Ok(resp) => (respond::with_mutable_headers(resp), true),
            Err(rejection) => (
                gate::refuse(&rejection, &hop)?,
                !matches!(rejection, rejection::Rejection::Cors(_)),
            ),
        };
        if cors {
            respond::set_headers(&resp, &settings.cors.response_headers(origin.as_deref()))?;
        }
        resp.headers().append("vary", "Origin")?;
        Ok(resp)
    })
    .await
}
