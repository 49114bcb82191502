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
mod remote_keys;
mod settings;
mod tokens;

use edge_core::ServiceName;
use edge_core::auth::request_policy::HEALTH_PATH;
use edge_core::health::Problem;
use edge_glue::boundary::HeaderEdits;
use edge_glue::finish::LastStep;
use edge_glue::{Hop, Incoming, Reply, Role};
use worker::{Context, Env, Headers, Response, Result, event, web_sys};

pub use limiter::RateLimiter;

use crate::error::Error;
use crate::gate::Target;
use crate::settings::Settings;

const ME: ServiceName = ServiceName::AuthValidator;

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let origin = req.headers().get("origin").ok().flatten();
    let settings = Settings::load(&env);
    let cors = LastStep::default();
    let resp = edge_glue::serve(ME, Role::Entry, req, env, ctx, |req, env, hop| {
        cors.choose(handle(req, env, hop), |result| {
            // A refused preflight carries no CORS headers, so the browser blocks the call;
            // without settings there is no CORS policy to apply.
            let headers = match &settings {
                Ok(settings) if !result.as_ref().is_err_and(Error::is_cors_refusal) => {
                    Some(settings.cors.response_headers(origin.as_deref()))
                }
                _ => None,
            };
            move |resp: web_sys::Response| {
                let Some(headers) = headers else {
                    return Ok(resp);
                };
                cors_edits(&headers)?.apply(&Headers(resp.headers()))?;
                Ok(resp)
            }
        })
    })
    .await?;
    cors.apply(resp)
}

/// Answers one request (its errors are answered by `edge_glue::serve`).
async fn handle(req: Incoming, env: Env, hop: Hop) -> std::result::Result<Reply, Error> {
    match Settings::load(&env) {
        Ok(settings) => route(req, &env, &settings, &hop).await,
        // Without settings nothing can be checked, but `/health` still says why.
        Err(e)
            if req.path() == HEALTH_PATH
                && matches!(req.inner().method().as_str(), "GET" | "HEAD") =>
        {
            hop.decide("public");
            Ok(health(&env, vec![Problem::of(&e)]).await?.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// This worker's `/health`, degraded by its own configuration `problems`.
async fn health(env: &Env, problems: Vec<Problem>) -> std::result::Result<Response, Error> {
    let version = env!("CARGO_PKG_VERSION");
    Ok(
        edge_glue::health::respond_with_problems(env, ME, version, Some(gate::NEXT), problems)
            .await?,
    )
}

/// Sends `req` to the key admin API, the cache's operator endpoints, the dashboard's
/// session pass-through, or the gate, by its normalised path.
async fn route(
    req: Incoming,
    env: &Env,
    settings: &Settings,
    hop: &Hop,
) -> std::result::Result<Reply, Error> {
    let target = Target::of(&req)?;
    let path = target.path.as_str();
    if path.starts_with(admin::PREFIX) {
        Ok(admin::handle(req, env, settings, hop).await?.into())
    } else if path.starts_with(operator::CACHE_ADMIN_PREFIX) {
        Ok(operator::cache_admin(req, env, settings, &target, hop)
            .await?
            .into())
    } else if path.starts_with(gate::EDGE_ANALYTICS_PREFIX)
        && req.headers().get("authorization")?.is_none()
    {
        // The dashboard's sign-in form and cookie session: analytics-collector checks
        // them (its cookie is keyed from the same admin secret). Bearer tokens and API
        // keys go through the gate below and arrive sealed.
        Ok(
            operator::analytics_session(req, env, settings, &target, hop)
                .await?
                .into(),
        )
    } else {
        gate::admit(req, env, settings, target, hop).await
    }
}

/// The CORS headers of a response to an allowed origin, and `Vary: Origin` appended to the
/// answer's own: one crossing.
fn cors_edits(headers: &[(&'static str, String)]) -> Result<HeaderEdits> {
    let mut edits = HeaderEdits::default();
    for (name, value) in headers {
        edits.set.push(name, value)?;
    }
    edits.append.push("vary", "Origin")?;
    Ok(edits)
}
