//! Operator requests the entry passes on without the gate's credential check, and the
//! throttle on admin-secret attempts.
//!
//! | path | who can reach it | what the entry does |
//! |---|---|---|
//! | `POST /admin/v1/cache/purge` | anyone on the internet | checks the admin secret (throttled), then forwards the body to cache-manager **without** the secret, sealed instead (`edge_core::signed::seal`, keyed from the secret) |
//! | anything else under `/admin/v1/cache/` | anyone | 404 / 405: never forwarded |
//! | `/api/v1/analytics/edge/…` without `Authorization` | anyone | framing checked, reserved headers dropped, passed to analytics-collector for its sign-in form and cookie; sign-in attempts are throttled |
//!
//! The cheapest abuse of each is guessing the admin secret: every path that checks it
//! counts failures per client address (`edge_glue::admin::AdminAttempt`,
//! `ADMIN_AUTH_FAILURE_LIMIT`, default 10 per 10 minutes) in the exact rate-limit Durable
//! Object, and refuses that address with 429 once over, before the secret is looked at.

use edge_core::auth::request_policy::RequestError;
use edge_core::error::CommonError;
use edge_core::signed::seal;
use edge_glue::Incoming;
use edge_glue::admin::{ADMIN_SECRET, AdminAttempt, SEALED_OPERATOR};
use edge_glue::{Hop, body, config, now_ms};
use worker::js_sys::Uint8Array;
use worker::wasm_bindgen::JsValue;
use worker::{Env, web_sys};

use crate::error::Error;
use crate::gate::{self, Target};
use crate::limiter;
use crate::settings::Settings;

/// Operator endpoints of cache-manager, reached through this entry.
pub(crate) const CACHE_ADMIN_PREFIX: &str = "/admin/v1/cache/";
/// The one of them that exists.
const PURGE_PATH: &str = "/admin/v1/cache/purge";
/// Largest purge request body.
const MAX_PURGE_BODY: usize = 64 * 1024;
/// The dashboard's sign-in form, which carries the admin secret.
const SIGN_IN_PATH: &str = "/api/v1/analytics/edge/session";

/// `POST /admin/v1/cache/purge`, checked and sealed; anything else under the prefix is
/// refused here and never forwarded.
pub(crate) async fn cache_admin(
    req: Incoming,
    env: &Env,
    settings: &Settings,
    target: &Target,
    hop: &Hop,
) -> Result<web_sys::Response, Error> {
    if target.path != PURGE_PATH {
        return Err(CommonError::NotFound.into());
    }
    let method = req.inner().method();
    if method != "POST" {
        return Err(RequestError::MethodNotAllowed {
            allow: "POST".to_owned(),
        }
        .into());
    }
    let mut headers = gate::client_headers(&req)?;
    gate::check_framing(&req, settings, &method, &target.path)?;
    edge_glue::admin::require_admin_throttled(req.inner(), env, limiter::BINDING).await?;
    let body = body::read(req.inner(), env, MAX_PURGE_BODY).await?;
    // The secret stays here: cache-manager gets a seal over this very request instead.
    headers.delete("authorization");
    headers.delete("cookie");
    let secret = config::required_string(env, ADMIN_SECRET)?;
    let sealed = seal::Sealed {
        request_id: hop.request_id.as_str(),
        method: &method,
        path: PURGE_PATH,
        subject: SEALED_OPERATOR,
        permissions: SEALED_OPERATOR,
    };
    headers.set(seal::HEADER, &seal::seal(&secret, &sealed, now_ms() / 1000));
    let body = JsValue::from(Uint8Array::from(body.as_slice()));
    let binding = gate::NEXT.binding;
    let resp = gate::send(&req, env, hop, target, binding, headers, Some(body)).await?;
    hop.decide("admin_cache");
    Ok(resp)
}

/// A credential-less request for the edge's analytics (the dashboard's pages, sign-in
/// form and cookie), passed to analytics-collector, which checks the cookie or the form.
pub(crate) async fn analytics_session(
    req: Incoming,
    env: &Env,
    settings: &Settings,
    target: &Target,
    hop: &Hop,
) -> Result<web_sys::Response, Error> {
    let method = req.inner().method();
    gate::check_framing(&req, settings, &method, &target.path)?;
    let headers = gate::client_headers(&req)?;
    let sign_in = method == "POST" && target.path == SIGN_IN_PATH;
    let attempt = if sign_in {
        Some(AdminAttempt::begin(env, req.inner(), limiter::BINDING).await?)
    } else {
        None
    };
    let body = req.inner().body().map(JsValue::from);
    let binding = gate::ANALYTICS.binding;
    let resp = gate::send(&req, env, hop, target, binding, headers, body).await?;
    hop.decide("analytics_session");
    if let Some(attempt) = attempt {
        let outcome = if resp.status() == 401 {
            Err(CommonError::Unauthorized)
        } else {
            Ok(())
        };
        // The collector's own answer (its sign-in page with the message) goes back as is.
        let _ = attempt.settle(env, outcome).await;
    }
    Ok(resp)
}
