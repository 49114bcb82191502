//! Calling the next hop: a service binding or an origin, always with a timeout.
//!
//! The request is forwarded as it came (method, headers, streamed body, query) plus the
//! request id. A hop that does not answer in time is a 504 `upstream_timeout`; one that
//! fails at the transport level is a 503 `upstream_unavailable`; one that answers with a
//! status no response can carry (outside 200–599) is a 502 `bad_upstream_response`.
//! None is retried here: retry policy belongs to the worker that knows whether the
//! request is idempotent.

use edge_core::error::CommonError;
use edge_core::{ServiceName, upstream};
use worker::js_sys::{Reflect, global};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::{
    AbortController, Env, Headers, Request, RequestInit, RequestRedirect, Response, web_sys,
    worker_sys,
};

use crate::deadline::{self, Raced};
use crate::{Hop, REQUEST_ID_HEADER, config, respond};

/// Default time a worker waits for its next hop, in milliseconds (var `UPSTREAM_TIMEOUT_MS`).
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u64 = 30_000;

/// The next hop of a worker in the chain: its binding name and the worker behind it.
#[derive(Debug, Clone, Copy)]
pub struct NextHopBinding {
    /// The service binding's name in the wrangler config, e.g. `"CACHE"`.
    pub binding: &'static str,
    /// The worker expected behind that binding.
    pub worker: ServiceName,
}

/// The var `UPSTREAM_TIMEOUT_MS` (default 30000, at most 300000).
///
/// # Errors
/// [`CommonError::Misconfigured`] when it is set but malformed.
pub fn upstream_timeout_ms(env: &Env) -> Result<u64, CommonError> {
    config::u64_var(
        env,
        "UPSTREAM_TIMEOUT_MS",
        DEFAULT_UPSTREAM_TIMEOUT_MS,
        1..=300_000,
    )
}

/// Where a forwarded request goes; decides whether the incoming `cf` object travels with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// Another worker through a service binding: `cf` (client geo) is carried over, since
    /// the hops below route on it.
    Service,
    /// An origin on the network: `cf` is not carried, since on an outbound fetch it means
    /// cache and resolve options, not client geo.
    Origin,
}

/// Builds the request to send to the next hop: `url` replaces the incoming URL, everything
/// else (method, headers, streamed body) is kept, `x-request-id` is set to `hop`'s id, and
/// `cf` is carried as [`Destination`] says (read through `hop`, which reads it only once).
///
/// # Errors
/// When the runtime refuses to build the request (an invalid URL).
pub fn forwarded_request(
    req: &Request,
    url: &str,
    hop: &Hop,
    to: Destination,
) -> worker::Result<Request> {
    let body = req.inner().body().map(JsValue::from);
    forwarded_request_with(req, url, hop, to, req.headers().clone(), body)
}

/// As [`forwarded_request`], with the caller's `headers` (already filtered) and `body`
/// (e.g. one it has read and checked) instead of the incoming ones.
///
/// # Errors
/// When the runtime refuses to build the request (an invalid URL or header).
pub fn forwarded_request_with(
    req: &Request,
    url: &str,
    hop: &Hop,
    to: Destination,
    headers: Headers,
    body: Option<JsValue>,
) -> worker::Result<Request> {
    headers.set(REQUEST_ID_HEADER, hop.request_id.as_str())?;
    let mut init = RequestInit::new();
    init.with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(body);
    let init: web_sys::RequestInit = (&init).into();
    // The raw method: worker::Method maps methods it does not know (PROPFIND, …) to GET.
    init.set_method(&req.inner().method());
    if to == Destination::Service
        && let Some(cf) = hop.cf()
    {
        // workerd takes `cf` from the init dictionary; copy the incoming object as it is.
        Reflect::set(&init, &JsValue::from_str("cf"), cf)?;
    }
    Ok(web_sys::Request::new_with_str_and_init(url, &init)?.into())
}

/// Sends `req` to the service binding `binding`, waiting at most `timeout_ms` for its
/// answer's headers (the body then streams without a deadline).
///
/// # Errors
/// [`CommonError::Misconfigured`] when the binding is missing, `UpstreamTimeout` or
/// `UpstreamUnavailable` as described in the module docs.
pub async fn call_service(
    env: &Env,
    binding: &'static str,
    req: Request,
    timeout_ms: u64,
) -> Result<Response, CommonError> {
    let fetcher: worker_sys::Fetcher = JsValue::from(
        env.service(binding)
            .map_err(|_| CommonError::Misconfigured(binding))?,
    )
    .unchecked_into();
    let call = fetcher
        .fetch(req.inner())
        .map_err(|_| CommonError::UpstreamUnavailable)?;
    answer(deadline::race(call, timeout_ms).await, timeout_ms)
}

/// Sends `req` to an origin over the network, waiting at most `timeout_ms` for its
/// answer's headers and aborting it then.
///
/// # Errors
/// `UpstreamTimeout` or `UpstreamUnavailable` as described in the module docs.
pub async fn call_origin(req: Request, timeout_ms: u64) -> Result<Response, CommonError> {
    let controller = AbortController::default();
    let init = web_sys::RequestInit::new();
    init.set_signal(Some(&controller.signal()));
    let scope: web_sys::WorkerGlobalScope = global().unchecked_into();
    let call = scope.fetch_with_request_and_init(req.inner(), &init);
    let outcome = answer(deadline::race(call, timeout_ms).await, timeout_ms);
    if matches!(outcome, Err(CommonError::UpstreamTimeout { .. })) {
        controller.abort();
    }
    outcome
}

/// A next hop's answer as the module docs say: a response, or why there is none.
fn answer(raced: Raced, timeout_ms: u64) -> Result<Response, CommonError> {
    match raced {
        Raced::Resolved(v) => {
            let resp: Response = v
                .dyn_into::<web_sys::Response>()
                .map_err(|_| CommonError::UpstreamUnavailable)?
                .into();
            // A status no response can carry is refused here, where every answer from a
            // next hop arrives, so nothing downstream ever tries to relay it (see
            // `edge_core::upstream`).
            upstream::check_status(resp.status_code())?;
            // Its headers are immutable, and every hop edits them: copied once, here.
            Ok(respond::with_copied_headers(resp))
        }
        Raced::Rejected(_) => Err(CommonError::UpstreamUnavailable),
        Raced::TimedOut => Err(CommonError::UpstreamTimeout { timeout_ms }),
    }
}
