//! auth-validator: the public entry of the API pipeline.
//!
//! Validates each request, authenticates it (JWT or API key), applies the caller's exact
//! rate limit, and forwards it through the `CACHE` service binding to cache-manager with
//! identity headers (see [`gate`]). Also serves the key admin API ([`admin`]), passes
//! `POST /admin/v1/cache/purge` (admin secret checked here, sealed onward) to
//! cache-manager, passes `/api/v1/analytics/edge/…` without credentials (the dashboard's
//! sign-in and cookie) to analytics-collector (see [`operator`]), and answers CORS
//! preflights for configured origins.
//!
//! Every response to an allowed origin carries CORS headers, errors included, so browser
//! clients can read why they were refused.

mod admin;
mod error;
mod gate;
mod keys;
#[allow(missing_docs)] // the #[durable_object] macro generates undocumented items
mod limiter;
mod operator;
mod rejection;
mod settings;
mod tokens;

use edge_core::ServiceName;
use edge_glue::{Hop, Role, respond};
use worker::{Context, Env, Request, Response, Result, event};

pub use limiter::RateLimiter;

use crate::gate::Target;
use crate::rejection::Rejection;
use crate::settings::Settings;

const ME: ServiceName = ServiceName::AuthValidator;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    edge_glue::serve(ME, Role::Entry, req, env, ctx, |req, env, hop| async move {
        let answer: Result<Response> = async move {
            let origin = req.headers().get("origin").ok().flatten();
            let settings = match Settings::load(&env) {
                Ok(s) => s,
                Err(e) => return gate::refuse(&e.into(), &hop),
            };
            // A refused preflight carries no CORS headers, so the browser blocks the call.
            let (resp, cors) = match route(req, &env, &settings, &hop).await {
                Ok(resp) => (respond::with_mutable_headers(resp), true),
                Err(rejection) => (
                    gate::refuse(&rejection, &hop)?,
                    !matches!(rejection, Rejection::Cors(_)),
                ),
            };
            if cors {
                respond::set_headers(&resp, &settings.cors.response_headers(origin.as_deref()))?;
            }
            resp.headers().append("vary", "Origin")?;
            Ok(resp)
        }
        .await;
        answer.map_err(error::Error::from)
    })
    .await
}

/// Sends `req` to the key admin API, the cache's operator endpoints, the dashboard's
/// session pass-through, or the gate, by its normalised path.
async fn route(
    req: Request,
    env: &Env,
    settings: &Settings,
    hop: &Hop,
) -> std::result::Result<Response, Rejection> {
    let target = Target::of(&req)?;
    let path = target.path.as_str();
    if path.starts_with(admin::PREFIX) {
        admin::handle(req, env, settings, hop).await
    } else if path.starts_with(operator::CACHE_ADMIN_PREFIX) {
        operator::cache_admin(req, env, settings, &target, hop).await
    } else if path.starts_with(gate::EDGE_ANALYTICS_PREFIX)
        && req.headers().get("authorization")?.is_none()
    {
        // The dashboard's sign-in form and cookie session: analytics-collector checks
        // them (its cookie is keyed from the same admin secret). Bearer tokens and API
        // keys go through the gate below and arrive sealed.
        operator::analytics_session(req, env, settings, &target, hop).await
    } else {
        gate::admit(req, env, settings, target, hop).await
    }
}
