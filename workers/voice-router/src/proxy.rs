//! Routing one request: classify it, pick the regions (core decision over the health map),
//! proxy to the first, fail over once to the next when allowed, observe every attempt.
//!
//! Headers to the origin: `x-edge-region`, `x-edge-request-class`, `x-edge-priority`,
//! `x-edge-latency-target-ms`, `x-edge-latency-estimate-ms`, `x-edge-cache-strategy`. A
//! response of a never-cacheable class (audio, calls, webhooks) with neither
//! `Cache-Control` nor `Expires` gets `no-store`. Headers to the client: `x-edge-region` (the region that
//! answered), security headers where the origin sent none of that name (issue 17: the
//! origin's own `X-Frame-Options`, HSTS or policy is never overwritten), and CORS for the configured `APP_ORIGIN` only: a request
//! with an `Origin` gets `Vary: Origin`, so a cache cannot hand one origin's CORS answer to
//! another; one without gets neither (auth-validator adds CORS for its allowed origins on
//! every response, cached ones included).

use edge_core::error::{CommonError, WithHeaders};
use edge_core::routing::classify::RequestClass;
use edge_core::routing::decide::{self, Client};
use edge_core::routing::geo::{LatLon, LatencyModel};
use edge_core::upstream;
use edge_glue::boundary::HeaderEdits;
use edge_glue::{Hop, Incoming, now_ms, reply};
use futures::FutureExt;
use worker::{Env, Headers, web_sys};

use crate::error::Error;
use crate::failover::{self, observations};
use crate::runtime::{self, Runtime};
use crate::settings::Settings;

/// Security headers on every proxied response, as defaults: a relayed answer keeps the
/// origin's own value of each.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
];

/// Routes and proxies `req`.
///
/// # Errors
/// 500 `misconfigured`, 400 for a `GET`/`HEAD` with a body (Fetch cannot forward it), or
/// the last attempt's error ([`RoutedError`]: it carries the routed answers' headers).
pub(crate) async fn handle(
    req: &Incoming,
    env: &Env,
    hop: &Hop,
) -> Result<web_sys::Response, Error> {
    let settings = Settings::load(env)?;
    // The raw method, as the hop read it on arrival (worker::Method turns methods it does
    // not know into GET).
    let method = hop.method();
    let has_body = req.has_body();
    // A GET or HEAD with a body cannot be forwarded (Fetch refuses to build it).
    upstream::check_forwardable(method, has_body)?;
    let url = req.url()?;
    let class = RequestClass::of(url.path());
    let country = hop.client_cf().and_then(|c| c.country.clone());
    let location = cf_location(hop);
    let health = runtime::health(env).load(settings.health_cache_ms).await;
    let route = decide::route(
        &settings.table,
        &health,
        Client {
            country: country.as_deref(),
            location,
        },
        &LatencyModel::default(),
        now_ms(),
    );
    let origin = runtime::Fetch {
        req,
        url: &url,
        class,
        timeout_ms: settings.timeout_ms,
        hop,
    };
    let routed = failover::attempt(&origin, &Runtime, &route, method, has_body).await;
    // A body that breaks off after the headers is the region's failure too: the answered
    // attempt is recorded once its body has ended (DESIGN.md, "Broken bodies").
    let answered = routed.answered();
    let mut attempts = routed.attempts;
    // Either way the answer gets headers of its own (a fetched answer's are immutable).
    let (answer, watched) = match routed.answer {
        Ok(resp) if answered => {
            let (resp, watched) = hop.watch_body(&resp)?;
            (Ok(resp), watched)
        }
        Ok(resp) => (Ok(reply::own_headers(&resp)?), false),
        Err(e) => (Err(e), false),
    };
    let last = if watched { attempts.pop() } else { None };
    let config = settings.breaker;
    if let Some(write) = runtime::health(env).record(observations(attempts), config) {
        hop.wait_until(write);
    }
    if let Some(last) = last {
        let health = runtime::health(env);
        hop.after_body(move |end| {
            let last = last.after_body(end);
            let write = health.record(observations(vec![last]), config)?;
            Some(write.boxed_local())
        });
    }

    if let Some(region) = &routed.region {
        hop.set_route(region, class.priority().as_str(), route.degraded);
    }
    hop.decide(routed.decision);
    let headers = client_headers(routed.region.as_deref(), &settings, req)?;
    let resp = match answer {
        Ok(resp) => resp,
        Err(error) => {
            return Err(RoutedError {
                error,
                extra: headers,
            }
            .into());
        }
    };
    let out = Headers(resp.headers());
    let mut edits = edits(headers)?;
    // Media and per-call state are not cacheable unless the origin says how long they are.
    if let Some(cc) = class.cache_strategy().default_cache_control()
        && !out.has("cache-control")?
        && !out.has("expires")?
    {
        edits.set.push("cache-control", cc)?;
    }
    edits.apply(&out)?;
    Ok(resp)
}

/// The routed answers' headers as one edit of the relayed answer: `Vary` appended to the
/// origin's own, the security headers set only where the origin sent none, the rest set.
fn edits(headers: Vec<(&'static str, String)>) -> Result<HeaderEdits, Error> {
    let mut edits = HeaderEdits::default();
    for (name, value) in &headers {
        let list = if *name == "vary" {
            &mut edits.append
        } else if is_default_only(name) {
            &mut edits.defaults
        } else {
            &mut edits.set
        };
        list.push(name, value)?;
    }
    Ok(edits)
}

/// The headers of every routed answer, relayed or error: `x-edge-region` (the region that
/// answered), the security headers and, for a browser request (one with `Origin`),
/// `Vary: Origin` (appended to the origin's own) and CORS for the configured `APP_ORIGIN`
/// only. A request without `Origin` (most API traffic) gets neither, so it stays one
/// cache entry instead of a Vary marker and a variant.
fn client_headers(
    region: Option<&str>,
    settings: &Settings,
    req: &Incoming,
) -> worker::Result<Vec<(&'static str, String)>> {
    let mut headers: Vec<_> = region
        .map(|r| ("x-edge-region", r.to_owned()))
        .into_iter()
        .chain(SECURITY_HEADERS.map(|(name, value)| (name, value.to_owned())))
        .collect();
    if let (Some(app), Some(origin)) = (&settings.app_origin, req.headers().get("origin")?) {
        headers.push(("vary", "Origin".to_owned()));
        if origin == *app {
            headers.push(("access-control-allow-origin", app.clone()));
        }
    }
    Ok(headers)
}

/// Whether `name` is one of the security headers, set only where the origin sent none.
fn is_default_only(name: &str) -> bool {
    SECURITY_HEADERS.iter().any(|(n, _)| *n == name)
}

/// The error of a routed request, answered with the routed answers' headers.
pub(crate) type RoutedError = WithHeaders<CommonError>;

/// The client's coordinates from `request.cf` (read once, by the hop), read without
/// trusting their form (`worker::Cf::coordinates` panics on a value that does not parse).
fn cf_location(hop: &Hop) -> Option<LatLon> {
    let cf = hop.client_cf()?;
    let coordinate = |v: &Option<String>| v.as_deref()?.trim().parse::<f64>().ok();
    LatLon::new(coordinate(&cf.latitude)?, coordinate(&cf.longitude)?)
}
