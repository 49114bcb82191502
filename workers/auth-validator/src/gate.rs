//! The gate every API request passes, in order:
//!
//! 1. path: canonical and under an allowed prefix (400 / 404);
//! 2. CORS preflight, answered here for configured origins (204 / 403);
//! 3. method, body framing and content type (405 / 411 / 413 / 415 / 400);
//! 4. public paths (`/health`) skip 5–7;
//! 5. credentials: a JWT bearer token or an API key (401), then the route's permission (403);
//! 6. the caller's rate limit, exact, in a Durable Object (429);
//! 7. the body, read under the limit on its actual bytes, JSON checked when JSON (413 / 400);
//! 8. forwarding to cache-manager with the client's `x-auth-*` headers removed and the
//!    verified identity's headers set; `/api/v1/analytics/edge/…` (the edge's own analytics,
//!    `analytics:read`) goes to analytics-collector instead, with the identity sealed
//!    (`edge_core::signed::seal`) because that worker can also be reached directly.
//!
//! The body is read only after the caller is known, so anonymous clients cannot make the
//! edge buffer 10 MB. Every outcome is recorded as the hop's decision for analytics.

use edge_core::HttpError;
use edge_core::ServiceName;
use edge_core::auth::AuthError;
use edge_core::auth::credentials::Credential;
use edge_core::auth::identity::{self, AuthMethod, Identity};
use edge_core::auth::rate_limit::{RateDecision, RateLimited};
use edge_core::auth::request_policy::{self, BodyRule, RequestError, RequestHead};
use edge_core::signed::seal;
use edge_glue::admin::ADMIN_SECRET;
use edge_glue::body::{self, BodyError};
use edge_glue::hop::{self, Destination, NextHopBinding};
use edge_glue::metrics::ANALYTICS_BINDING;
use edge_glue::{Hop, config, health, now_ms, respond};
use worker::js_sys::Uint8Array;
use worker::wasm_bindgen::JsValue;
use worker::{Env, Headers, Request, Response};

use crate::rejection::Rejection;
use crate::settings::Settings;
use crate::{keys, limiter, tokens};

/// The next hop: cache-manager.
pub(crate) const NEXT: NextHopBinding = NextHopBinding {
    binding: "CACHE",
    worker: ServiceName::CacheManager,
};

/// The edge's own analytics, answered by analytics-collector rather than the origin.
pub(crate) const EDGE_ANALYTICS_PREFIX: &str = "/api/v1/analytics/edge/";
/// analytics-collector, for [`EDGE_ANALYTICS_PREFIX`].
pub(crate) const ANALYTICS: NextHopBinding = NextHopBinding {
    binding: ANALYTICS_BINDING,
    worker: ServiceName::AnalyticsCollector,
};

/// Runs the gate for `req`; see the module docs.
pub(crate) async fn admit(
    mut req: Request,
    env: &Env,
    settings: &Settings,
    hop: &Hop,
) -> Result<Response, Rejection> {
    let path = req.path();
    // The raw method: worker::Method turns methods it does not know into GET.
    let method = req.inner().method();
    settings.policy.check_path(&path)?;
    let header = |name: &str| req.headers().get(name).ok().flatten();
    if method == "OPTIONS"
        && let (Some(origin), Some(wanted)) =
            (header("origin"), header("access-control-request-method"))
    {
        let allowed = settings.cors.preflight(
            &origin,
            &wanted,
            header("access-control-request-headers").as_deref(),
        )?;
        hop.decide("cors_preflight");
        let resp = Response::empty()?.with_status(204);
        respond::set_headers(&resp, &allowed)?;
        return Ok(resp);
    }
    if path == "/health" && !matches!(method.as_str(), "GET" | "HEAD") {
        return Err(RequestError::MethodNotAllowed {
            allow: "GET, HEAD".to_owned(),
        }
        .into());
    }
    let rule = settings.policy.check(&RequestHead {
        method: &method,
        path: &path,
        content_type: header("content-type").as_deref(),
        content_length: header("content-length").as_deref(),
        has_body_stream: req.inner().body().is_some(),
    })?;
    if settings.policy.is_public(&path) {
        hop.decide("public");
        if path == "/health" {
            return Ok(
                health::respond(env, crate::ME, env!("CARGO_PKG_VERSION"), Some(NEXT)).await?,
            );
        }
        let body = read_body(&mut req, rule).await?;
        return forward(&req, env, hop, None, body).await;
    }

    let now_s = now_ms() / 1000;
    let identity = match Credential::parse(header("authorization").as_deref())? {
        Credential::Bearer(token) => tokens::verify(env, token, &settings.jwt, now_s).await?,
        Credential::ApiKey(key) => keys::verify(env, &key, now_s).await?,
    };
    if let Some(permission) = identity::required_permission(&method, &path)
        && !identity.has_permission(&permission)
    {
        return Err(AuthError::Forbidden { permission }.into());
    }
    let limit = match identity.rate_limit {
        Some(policy) => Some(limiter::check(env, &identity.rate_limit_bucket(), policy).await?),
        None => None,
    };
    if let Some(decision) = limit.filter(|d| !d.allowed) {
        return Err(RateLimited(decision).into());
    }
    let body = read_body(&mut req, rule).await?;
    hop.decide(match identity.method {
        AuthMethod::Jwt => "allow_jwt",
        AuthMethod::ApiKey => "allow_api_key",
    });
    let resp = forward(&req, env, hop, Some(&identity), body).await?;
    let resp = respond::with_mutable_headers(resp);
    respond::set_headers(
        &resp,
        &limit
            .as_ref()
            .map(RateDecision::headers)
            .unwrap_or_default(),
    )?;
    Ok(resp)
}

/// Reads the body under `rule`: nothing, or at most its limit of actual bytes, checked as
/// JSON when the content type is JSON.
async fn read_body(req: &mut Request, rule: BodyRule) -> Result<Option<Vec<u8>>, Rejection> {
    let BodyRule::Read { limit, json } = rule else {
        return Ok(None);
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let bytes = match body::read_limited(req, limit).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge(_)) => {
            return Err(RequestError::PayloadTooLarge {
                limit: limit as u64,
            }
            .into());
        }
        Err(BodyError::Read(_)) => return Err(RequestError::UnreadableBody.into()),
    };
    if json {
        request_policy::check_json_body(&bytes)?;
    }
    Ok(Some(bytes))
}

/// Sends the request on with the identity headers rebuilt from `identity` alone.
async fn forward(
    req: &Request,
    env: &Env,
    hop: &Hop,
    identity: Option<&Identity>,
    body: Option<Vec<u8>>,
) -> Result<Response, Rejection> {
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        if !identity::is_identity_header(&name) {
            headers.append(&name, &value)?;
        }
    }
    for (name, value) in identity.map(Identity::headers).unwrap_or_default() {
        headers.set(name, &value)?;
    }
    let path = req.path();
    let binding = match identity {
        Some(id) if path.starts_with(EDGE_ANALYTICS_PREFIX) => {
            let secret = config::required_string(env, ADMIN_SECRET)?;
            let permissions = id.permissions.join(" ");
            let sealed = seal::Sealed {
                request_id: hop.request_id.as_str(),
                method: &req.inner().method(),
                path: &path,
                subject: &id.subject,
                permissions: &permissions,
            };
            headers.set(seal::HEADER, &seal::seal(&secret, &sealed, now_ms() / 1000))?;
            ANALYTICS.binding
        }
        _ => NEXT.binding,
    };
    let body = body.map(|b| JsValue::from(Uint8Array::from(b.as_slice())));
    let url = req.url()?;
    let fwd = hop::forwarded_request_with(
        req,
        url.as_str(),
        &hop.request_id,
        Destination::Service,
        headers,
        body,
    )?;
    let timeout_ms = hop::upstream_timeout_ms(env)?;
    Ok(hop::call_service(env, binding, fwd, timeout_ms).await?)
}

/// The error response for `rejection`, recorded as the hop's decision.
pub(crate) fn refuse(rejection: &Rejection, hop: &Hop) -> worker::Result<Response> {
    hop.decide(rejection.code());
    respond::error_response(rejection)
}
