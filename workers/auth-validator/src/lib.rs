//! auth-validator: the public entry of the API pipeline.
//!
//! Validates each request, authenticates it (JWT or API key), applies the caller's exact
//! rate limit, and forwards it through the `CACHE` service binding to cache-manager with
//! identity headers (see [`gate`]). Also serves the key admin API ([`admin`]) and answers
//! CORS preflights for configured origins.
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

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    edge_glue::serve(ME, Role::Entry, req, env, ctx, |req, env, hop| async move {
        let origin = req.headers().get("origin").ok().flatten();
        let settings = match settings::Settings::load(&env) {
            Ok(s) => s,
            Err(e) => return gate::refuse(&e.into(), &hop),
        };
        let outcome = if req.path().starts_with(admin::PREFIX) {
            admin::handle(req, &env, &settings, &hop).await
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
