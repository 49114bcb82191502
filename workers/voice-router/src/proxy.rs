//! Routing one request: classify it, pick the regions (core decision over the health map),
//! proxy to the first, fail over once to the next when allowed, observe every attempt.
//!
//! Headers to the origin: `x-edge-region`, `x-edge-request-class`, `x-edge-priority`,
//! `x-edge-latency-target-ms`, `x-edge-latency-estimate-ms`, `x-edge-cache-strategy`. A
//! response of a never-cacheable class (audio, calls, webhooks) with neither
//! `Cache-Control` nor `Expires` gets `no-store`. Headers to the client: `x-edge-region` (the region that
//! answered), security headers, and CORS for the configured `APP_ORIGIN` only: a request
//! with an `Origin` gets `Vary: Origin`, so a cache cannot hand one origin's CORS answer to
//! another; one without gets neither (auth-validator adds CORS for its allowed origins on
//! every response, cached ones included).

use edge_core::error::CommonError;
use edge_core::retry::{self, AttemptOutcome};
use edge_core::routing::breaker::Observation;
use edge_core::routing::classify::RequestClass;
use edge_core::routing::decide::{self, Basis, Client, Route};
use edge_core::routing::geo::{LatLon, LatencyModel};
use edge_core::upstream::{self, BodyEnd};
use edge_glue::hop::{self, Destination};
use edge_glue::{Hop, now_ms, respond};
use worker::{Env, Request, Response};

use crate::health_store;
use crate::settings::Settings;

/// Security headers on every proxied response.
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
pub(crate) async fn handle(req: &Request, env: &Env, hop: &Hop) -> worker::Result<Response> {
    let settings = match Settings::load(env) {
        Ok(s) => s,
        Err(e) => return respond::error_response(&e),
    };
    // A GET or HEAD with a body cannot be forwarded (Fetch refuses to build it).
    if let Err(e) = upstream::check_forwardable(&req.inner().method(), req.inner().body().is_some())
    {
        return respond::error_response(&e);
    }
    let url = req.url()?;
    let class = RequestClass::of(url.path());
    let country = hop.cf_text("country");
    let location = cf_location(hop);
    let health = health_store::load(env, settings.health_cache_ms).await;
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
    let (outcome, mut attempts, used) = attempt(req, &url, &route, class, &settings, hop).await;
    // A body that breaks off after the headers is the region's failure too: the answered
    // attempt is recorded once its body has ended (DESIGN.md, "Broken bodies").
    let (outcome, body) = match outcome {
        Ok(resp)
            if attempts
                .last()
                .is_some_and(|a| !a.outcome.is_region_failure()) =>
        {
            let (resp, body) = hop.watch_body(resp).await;
            (Ok(resp), body)
        }
        other => (other, None),
    };
    let answered = body.and_then(|body| Some((attempts.pop()?, body)));
    if let Some(write) = health_store::record(env, observations(attempts), settings.breaker) {
        hop.wait_until(write);
    }
    if let Some((last, body)) = answered {
        let env = env.clone();
        let config = settings.breaker;
        hop.wait_until(async move {
            let last = last.after_body(body.await);
            if let Some(write) = health_store::record(&env, observations(vec![last]), config) {
                write.await;
            }
        });
    }

    let region = route.candidates[used].region.id.as_str();
    hop.set_route(region, class.priority().as_str(), route.degraded);
    hop.decide(match (route.degraded, used, route.basis) {
        (true, _, _) => "route_degraded",
        (false, 1.., _) => "route_failover",
        (false, 0, Basis::Country) => "route_country",
        (false, 0, Basis::Nearest) => "route_nearest",
        (false, 0, Basis::Default) => "route_default",
    });
    let resp = match outcome {
        Ok(resp) => resp,
        Err(CommonError::UpstreamUnavailable) if route.degraded => {
            respond::error_response(&CommonError::NoHealthyRegion)?
        }
        Err(e) => respond::error_response(&e)?,
    };
    // The watched body's response (or our own error) has mutable headers: no copy then.
    let resp = respond::with_header(resp, "x-edge-region", region)?;
    let headers = resp.headers();
    // Media and per-call state are not cacheable unless the origin says how long they are.
    if let Some(cc) = class.cache_strategy().default_cache_control()
        && !headers.has("cache-control")?
        && !headers.has("expires")?
    {
        headers.set("cache-control", cc)?;
    }
    for (name, value) in SECURITY_HEADERS {
        headers.set(name, value)?;
    }
    // Only a browser request (one with Origin) gets CORS and `Vary: Origin`: the others,
    // most API traffic, stay one cache entry each instead of a Vary marker and a variant.
    if let (Some(app), Some(origin)) = (&settings.app_origin, req.headers().get("origin")?) {
        headers.append("vary", "Origin")?;
        if origin == *app {
            headers.set("access-control-allow-origin", app)?;
        }
    }
    Ok(resp)
}

/// The client's coordinates from `request.cf` (read once, by the hop), read without
/// trusting their form (`worker::Cf::coordinates` panics on a value that does not parse).
fn cf_location(hop: &Hop) -> Option<LatLon> {
    use worker::js_sys::Reflect;
    use worker::wasm_bindgen::JsValue;
    let cf = hop.cf()?;
    let coordinate = |name: &str| -> Option<f64> {
        let v = Reflect::get(cf, &JsValue::from_str(name)).ok()?;
        v.as_f64().or_else(|| v.as_string()?.trim().parse().ok())
    };
    LatLon::new(coordinate("latitude")?, coordinate("longitude")?)
}

/// One attempt at a region, as its breaker will see it.
struct Attempt {
    region: String,
    outcome: AttemptOutcome,
    latency_ms: f64,
}

impl Attempt {
    /// The attempt once its answer's body ended: broken is a region failure.
    fn after_body(self, end: BodyEnd) -> Self {
        match end {
            BodyEnd::Broken => Self {
                outcome: AttemptOutcome::BodyBroken,
                ..self
            },
            BodyEnd::Complete | BodyEnd::Abandoned => self,
        }
    }
}

/// What the breakers are told (the core's rule: `Observation::of_attempt`).
fn observations(attempts: Vec<Attempt>) -> Vec<(String, Observation)> {
    attempts
        .into_iter()
        .map(|a| (a.region, Observation::of_attempt(a.outcome, a.latency_ms)))
        .collect()
}

type Attempts = (Result<Response, CommonError>, Vec<Attempt>, usize);

/// Tries the first candidate, then (once, if [`retry::may_fail_over`] allows) the next;
/// when there is no next region, a transport failure is retried on the same one (an idle
/// keep-alive connection closed by the origin never reached it).
async fn attempt(
    req: &Request,
    url: &worker::Url,
    route: &Route<'_>,
    class: RequestClass,
    settings: &Settings,
    hop: &Hop,
) -> Attempts {
    // The raw method: worker::Method turns methods it does not know into GET.
    let method = req.inner().method();
    let has_body = req.inner().body().is_some();
    let mut attempts = Vec::new();
    let mut index = 0;
    let mut made = 0;
    loop {
        let candidate = &route.candidates[index];
        made += 1;
        let started = now_ms();
        let outcome = send(
            req,
            url,
            candidate.region,
            class,
            candidate.estimate_ms,
            settings,
            hop,
        )
        .await;
        let latency_ms = now_ms().saturating_sub(started) as f64;
        let attempt = match &outcome {
            Ok(resp) => AttemptOutcome::Answered(resp.status_code()),
            Err(CommonError::UpstreamTimeout { .. }) => AttemptOutcome::TimedOut,
            Err(CommonError::BadUpstreamResponse { .. }) => AttemptOutcome::BadAnswer,
            Err(_) => AttemptOutcome::TransportFailure,
        };
        attempts.push(Attempt {
            region: candidate.region.id.clone(),
            outcome: attempt,
            latency_ms,
        });
        let next = index + 1 < route.candidates.len();
        let again = if next {
            retry::may_fail_over(&method, has_body, attempt, made)
        } else {
            retry::may_retry(&method, has_body, attempt, made)
        };
        if !again {
            return (outcome, attempts, index);
        }
        if next {
            index += 1;
        }
    }
}

async fn send(
    req: &Request,
    url: &worker::Url,
    region: &edge_core::routing::table::Region,
    class: RequestClass,
    estimate_ms: Option<f64>,
    settings: &Settings,
    hop: &Hop,
) -> Result<Response, CommonError> {
    let target = match url.query() {
        Some(q) => format!("{}{}?{q}", region.endpoint, url.path()),
        None => format!("{}{}", region.endpoint, url.path()),
    };
    let headers = req.headers().clone();
    let set = |name: &str, value: &str| headers.set(name, value).map_err(|_| CommonError::Internal);
    set("x-edge-region", &region.id)?;
    set("x-edge-request-class", class.as_str())?;
    set("x-edge-priority", class.priority().as_str())?;
    set(
        "x-edge-latency-target-ms",
        &class.latency_target_ms().to_string(),
    )?;
    set("x-edge-cache-strategy", class.cache_strategy().as_str())?;
    if let Some(ms) = estimate_ms {
        set("x-edge-latency-estimate-ms", &format!("{ms:.0}"))?;
    }
    let body = req.inner().body().map(worker::wasm_bindgen::JsValue::from);
    let fwd = hop::forwarded_request_with(req, &target, hop, Destination::Origin, headers, body)
        .map_err(|_| CommonError::Internal)?;
    hop::call_origin(fwd, settings.timeout_ms).await
}
