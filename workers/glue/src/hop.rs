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
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, Response, web_sys};

use crate::boundary::{self, Base, HeaderLines};
use crate::{Hop, REQUEST_ID_HEADER, config};

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
/// One crossing (`boundary::forward_request`): the headers are copied natively.
///
/// # Errors
/// When the runtime refuses to build the request (an invalid URL).
pub fn forwarded_request(
    req: &web_sys::Request,
    url: &str,
    hop: &Hop,
    to: Destination,
) -> worker::Result<web_sys::Request> {
    forwarded_request_lines(req, url, hop, to, HeaderLines::new())
}

/// As [`forwarded_request`], with `lines` set on the copy of the incoming headers (one
/// crossing for all of them).
///
/// # Errors
/// When the runtime refuses to build the request (an invalid URL or header).
pub fn forwarded_request_lines(
    req: &web_sys::Request,
    url: &str,
    hop: &Hop,
    to: Destination,
    lines: HeaderLines,
) -> worker::Result<web_sys::Request> {
    forwarded(
        req,
        url,
        hop,
        to,
        Base::Incoming,
        lines,
        &JsValue::UNDEFINED,
    )
}

/// The request to the next hop in one crossing: `req`'s method, the headers of `base` with
/// `lines` and `x-request-id` set on them, `body` (`undefined`: the incoming body; `null`:
/// none), `redirect: manual`, `cf` as `to` says, and for an origin the abort signal
/// [`call_origin`] fires at its deadline (built in, so the request is sent as it is).
///
/// # Errors
/// When the runtime refuses to build the request (an invalid URL or header).
pub fn forwarded(
    req: &web_sys::Request,
    url: &str,
    hop: &Hop,
    to: Destination,
    base: Base,
    mut lines: HeaderLines,
    body: &JsValue,
) -> worker::Result<web_sys::Request> {
    lines.push(REQUEST_ID_HEADER, hop.request_id.as_str())?;
    let cf = match to {
        // workerd takes `cf` from the init dictionary: the fields the hops below read.
        Destination::Service => hop
            .client_cf()
            .map_or(JsValue::UNDEFINED, |c| c.forward.clone()),
        Destination::Origin => JsValue::UNDEFINED,
    };
    let copy = matches!(base, Base::Incoming);
    Ok(boundary::forward_request(
        req,
        url,
        copy,
        lines.as_str(),
        body,
        &cf,
        to == Destination::Origin,
    )?)
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
    req: &web_sys::Request,
    timeout_ms: u64,
) -> Result<Response, CommonError> {
    Ok(relay_service(env, binding, req, timeout_ms).await?.into())
}

/// As [`call_service`], the answer (headers copied, mutable) left the runtime's object:
/// for a hop that sends it on as it is ([`crate::Reply::Relayed`]).
///
/// # Errors
/// As [`call_service`].
pub async fn relay_service(
    env: &Env,
    binding: &'static str,
    req: &web_sys::Request,
    timeout_ms: u64,
) -> Result<web_sys::Response, CommonError> {
    let fetcher = JsValue::from(
        env.service(binding)
            .map_err(|_| CommonError::Misconfigured(binding))?,
    );
    sent(req, &fetcher, timeout_ms, Arrival::Copied).await
}

/// Sends `req` to an origin over the network, waiting at most `timeout_ms` for its
/// answer's headers and aborting it then.
///
/// # Errors
/// `UpstreamTimeout` or `UpstreamUnavailable` as described in the module docs.
pub async fn call_origin(req: &web_sys::Request, timeout_ms: u64) -> Result<Response, CommonError> {
    Ok(sent(req, &JsValue::NULL, timeout_ms, Arrival::Copied)
        .await?
        .into())
}

/// As [`call_origin`], the answer left as it came (the runtime's object, its headers
/// immutable): for a hop that rebuilds the answer anyway ([`crate::watch::observe`] does),
/// so they are copied once.
///
/// # Errors
/// As [`call_origin`].
pub async fn call_origin_relayed(
    req: &web_sys::Request,
    timeout_ms: u64,
) -> Result<web_sys::Response, CommonError> {
    sent(req, &JsValue::NULL, timeout_ms, Arrival::AsSent).await
}

/// Whether an answer's headers are copied (made mutable) on arrival.
enum Arrival {
    Copied,
    AsSent,
}

async fn sent(
    req: &web_sys::Request,
    fetcher: &JsValue,
    timeout_ms: u64,
    arrival: Arrival,
) -> Result<web_sys::Response, CommonError> {
    let ms = f64::from(u32::try_from(timeout_ms).unwrap_or(u32::MAX));
    let copy = matches!(arrival, Arrival::Copied);
    let settled = JsFuture::from(boundary::send(req, fetcher, ms, copy)).await;
    answer(settled, timeout_ms)
}

/// A next hop's answer as the module docs say: a response, or why there is none.
fn answer(
    settled: Result<JsValue, JsValue>,
    timeout_ms: u64,
) -> Result<web_sys::Response, CommonError> {
    let value = settled.map_err(|_| CommonError::UpstreamUnavailable)?;
    if let Some(code) = value.as_f64() {
        return Err(if code == boundary::TIMED_OUT {
            CommonError::UpstreamTimeout { timeout_ms }
        } else {
            CommonError::UpstreamUnavailable
        });
    }
    let resp = value
        .dyn_into::<web_sys::Response>()
        .map_err(|_| CommonError::UpstreamUnavailable)?;
    // A status no response can carry is refused here, where every answer from a next hop
    // arrives, so nothing downstream ever tries to relay it (see `edge_core::upstream`).
    upstream::check_status(resp.status())?;
    Ok(resp)
}
