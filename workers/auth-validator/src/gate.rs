//! The gate every API request passes, in order:
//!
//! 1. path: percent-escapes in one spelling ([`Target`]), canonical and under an allowed
//!    prefix (400 / 404); client headers in the edge's reserved namespaces dropped, or
//!    refused when spelled with `_` (400 `reserved_header`);
//! 2. CORS preflight, answered here for configured origins (204 / 403);
//! 3. method, body framing and content type (405 / 411 / 413 / 415 / 400);
//! 4. public paths (`GET`/`HEAD /health` exactly) skip 5–7;
//! 5. credentials: a JWT bearer token or an API key (401), then the route's permission (403);
//! 6. the caller's rate limit, exact, in a Durable Object (429);
//! 7. the body, read under the limit on its actual bytes, JSON checked when JSON (413 / 400);
//! 8. forwarding the normalised URL to cache-manager with the client's reserved headers
//!    removed and the verified identity's headers set; `/api/v1/analytics/edge/…` (the edge's own analytics,
//!    `analytics:read`) goes to analytics-collector instead, with the identity sealed
//!    (`edge_core::signed::seal`) because that worker can also be reached directly.
//!
//! The body is read only after the caller is known, so anonymous clients cannot make the
//! edge buffer 10 MB. Every outcome is recorded as the hop's decision for analytics.

use edge_core::ServiceName;
use edge_core::auth::AuthError;
use edge_core::auth::client_headers;
use edge_core::auth::credentials::Credential;
use edge_core::auth::identity::{self, AuthMethod, Identity};
use edge_core::auth::rate_limit::{RateDecision, RateLimited};
use edge_core::auth::request_policy::{
    self, BodyRule, HEALTH_PATH, RequestError, RequestHead, normalize_escapes,
};
use edge_core::signed::seal;
use edge_glue::admin::ADMIN_SECRET;
use edge_glue::body;
use edge_glue::boundary::{self, Base, HeaderLines};
use edge_glue::hop::{self, Destination, NextHopBinding};
use edge_glue::metrics::ANALYTICS_BINDING;
use edge_glue::{Hop, Incoming, Reply, config, now_ms, respond};
use worker::js_sys::Uint8Array;
use worker::wasm_bindgen::JsValue;
use worker::{Env, Headers, Response, console_log, web_sys};

use crate::error::Error;
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

/// The request's URL with its percent-escapes in one spelling (RFC 3986 §6.2.2), so
/// `/api/v1/agents/%61%31` and `/api/v1/agents/a1` are one resource to the policy, the
/// routing and the cache behind the entry. Everything the entry forwards uses it.
pub(crate) struct Target {
    /// The normalised URL, as forwarded.
    pub(crate) url: String,
    /// Its path.
    pub(crate) path: String,
}

impl Target {
    /// The target of `req`.
    ///
    /// # Errors
    /// 400 `invalid_path` for a `%` not followed by two hex digits.
    pub(crate) fn of(req: &Incoming) -> Result<Self, Error> {
        let mut url = req.url()?;
        let path = normalize_escapes(url.path())?.into_owned();
        let query = url
            .query()
            .map(normalize_escapes)
            .transpose()?
            .map(std::borrow::Cow::into_owned);
        url.set_path(&path);
        url.set_query(query.as_deref());
        Ok(Self {
            url: url.into(),
            path,
        })
    }
}

/// The headers a request is forwarded with: the client's that may travel on (every
/// reserved one dropped), then the edge's own set over them. Kept in wasm and sent in the
/// one crossing that builds the forwarded request (`edge_glue::boundary`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Forwarded(Vec<(String, String)>);

impl Forwarded {
    /// Sets `name` to `value`, replacing the client's values of that name.
    pub(crate) fn set(&mut self, name: &str, value: &str) {
        self.delete(name);
        self.0.push((name.to_owned(), value.to_owned()));
    }

    /// Removes every value of `name`.
    pub(crate) fn delete(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// The list that crosses.
    fn lines(&self) -> Result<HeaderLines, Error> {
        let mut lines = HeaderLines::new();
        for (name, value) in &self.0 {
            lines.push(name, value)?;
        }
        Ok(lines)
    }
}

/// The client's headers that may travel on: every reserved one dropped (read in one
/// crossing).
///
/// # Errors
/// 400 `reserved_header` for a reserved name spelled with `_` (see
/// `edge_core::auth::client_headers`).
pub(crate) fn client_headers(req: &Incoming) -> Result<Forwarded, Error> {
    let all = boundary::entries(req.headers());
    let kept = client_headers::filter(all.pairs())?;
    Ok(Forwarded(
        kept.into_iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect(),
    ))
}

/// The body framing rules alone (for pass-throughs that do not judge the content type):
/// a valid length within the limit, and no body on `GET`, `HEAD` or `OPTIONS`.
///
/// # Errors
/// 400 / 411 / 413 as `RequestPolicy::check_framing` says.
pub(crate) fn check_framing(
    req: &Incoming,
    settings: &Settings,
    method: &str,
    path: &str,
) -> Result<(), Error> {
    let content_length = req.headers().get("content-length")?;
    settings
        .policy
        .check_framing(&head(req, method, path, None, content_length.as_deref()))?;
    Ok(())
}

/// Sends `req` to `target` through `binding` with `headers` and `body`, within
/// `UPSTREAM_TIMEOUT_MS`.
///
/// # Errors
/// 504 / 503 / 500 `misconfigured` as `edge_glue::hop::call_service` says.
pub(crate) async fn send(
    req: &Incoming,
    env: &Env,
    hop: &Hop,
    target: &Target,
    binding: &'static str,
    headers: Forwarded,
    body: Option<JsValue>,
) -> Result<web_sys::Response, Error> {
    let body = body.unwrap_or(JsValue::NULL);
    let to = Destination::Service;
    let fwd = hop::forwarded(
        req.inner(),
        &target.url,
        hop,
        to,
        Base::Empty,
        headers.lines()?,
        &body,
    )?;
    let timeout_ms = hop::upstream_timeout_ms(env)?;
    Ok(hop::relay_service(env, binding, &fwd, timeout_ms).await?)
}

/// The parts of `req`'s head the request policy reads.
fn head<'a>(
    req: &Incoming,
    method: &'a str,
    path: &'a str,
    content_type: Option<&'a str>,
    content_length: Option<&'a str>,
) -> RequestHead<'a> {
    RequestHead {
        method,
        path,
        content_type,
        content_length,
        has_body_stream: req.inner().body().is_some(),
    }
}

/// Runs the gate for `req`; see the module docs.
pub(crate) async fn admit(
    req: Incoming,
    env: &Env,
    settings: &Settings,
    target: Target,
    hop: &Hop,
) -> Result<Reply, Error> {
    let path = target.path.as_str();
    // The raw method: worker::Method turns methods it does not know into GET.
    let method = req.inner().method();
    settings.policy.check_path(path)?;
    let forwarded = client_headers(&req)?;
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
        let resp = Response::empty()?.with_status(204);
        respond::set_headers(&resp, &allowed)?;
        hop.decide("cors_preflight");
        return Ok(resp.into());
    }
    if path == HEALTH_PATH && !matches!(method.as_str(), "GET" | "HEAD") {
        return Err(RequestError::MethodNotAllowed {
            allow: "GET, HEAD".to_owned(),
        }
        .into());
    }
    let (content_type, content_length) = (header("content-type"), header("content-length"));
    let rule = settings.policy.check(&head(
        &req,
        &method,
        path,
        content_type.as_deref(),
        content_length.as_deref(),
    ))?;
    // A decision is recorded once the request went through; a failure on the way is
    // recorded as its error's code (by `edge_glue::serve`).
    if settings.policy.is_public(path) {
        let resp = if path == HEALTH_PATH {
            Reply::Built(crate::health(env, settings.problems()).await?)
        } else {
            let body = read_body(&req, env, rule).await?;
            Reply::Relayed(forward(&req, env, hop, &target, forwarded, None, body).await?)
        };
        hop.decide("public");
        return Ok(resp);
    }

    let now_s = now_ms() / 1000;
    let identity = match Credential::parse(header("authorization").as_deref())? {
        Credential::Bearer(token) => tokens::verify(token, settings, now_s).await?,
        Credential::ApiKey(key) => keys::verify(env, &key, now_s).await?,
    };
    if identity.ignored_values > 0 {
        // Counted, never refused: the operator's hint that JWT_CLAIMS misses a value.
        console_log!(
            "{}: {} claim values ignored by the claims mapping",
            hop.request_id.as_str(),
            identity.ignored_values
        );
    }
    if let Some(permission) = identity::required_permission(&method, path)
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
    let body = read_body(&req, env, rule).await?;
    let resp = forward(&req, env, hop, &target, forwarded, Some(&identity), body).await?;
    hop.decide(match identity.method {
        AuthMethod::Jwt => "allow_jwt",
        AuthMethod::ApiKey => "allow_api_key",
    });
    // The next hop's answer has headers of its own (copied where it arrived).
    let out = Headers(resp.headers());
    for (name, value) in limit
        .as_ref()
        .map(RateDecision::headers)
        .unwrap_or_default()
    {
        out.set(name, &value)?;
    }
    Ok(resp.into())
}

/// Reads the body under `rule`: nothing, or at most its limit of actual bytes within
/// `BODY_TIMEOUT_MS`, checked as JSON when the content type is JSON.
async fn read_body(req: &Incoming, env: &Env, rule: BodyRule) -> Result<Option<Vec<u8>>, Error> {
    let BodyRule::Read { limit, json } = rule else {
        return Ok(None);
    };
    let bytes = body::read(
        req.inner(),
        env,
        usize::try_from(limit).unwrap_or(usize::MAX),
    )
    .await?;
    if json {
        request_policy::check_json_body(&bytes)?;
    }
    Ok(Some(bytes))
}

/// Sends the request on to `target` with `headers` (the client's, reserved ones already
/// dropped) and the identity headers built from `identity` alone.
async fn forward(
    req: &Incoming,
    env: &Env,
    hop: &Hop,
    target: &Target,
    mut headers: Forwarded,
    identity: Option<&Identity>,
    body: Option<Vec<u8>>,
) -> Result<web_sys::Response, Error> {
    for (name, value) in identity.map(Identity::headers).unwrap_or_default() {
        headers.set(name, &value);
    }
    let path = target.path.as_str();
    let binding = match identity {
        Some(id) if path.starts_with(EDGE_ANALYTICS_PREFIX) => {
            let secret = config::required_string(env, ADMIN_SECRET)?;
            let permissions = id.permissions.join(" ");
            let sealed = seal::Sealed {
                request_id: hop.request_id.as_str(),
                method: &req.inner().method(),
                path,
                subject: &id.subject,
                permissions: &permissions,
            };
            headers.set(seal::HEADER, &seal::seal(&secret, &sealed, now_ms() / 1000));
            ANALYTICS.binding
        }
        _ => NEXT.binding,
    };
    let body = body.map(|b| JsValue::from(Uint8Array::from(b.as_slice())));
    send(req, env, hop, target, binding, headers, body).await
}
