//! The one place that maps errors to HTTP responses.
//!
//! Every error a worker answers with goes through [`error_response`]: the status and
//! code come from the error's [`HttpError`] impl, the body is [`ErrorBody`] JSON, and
//! error responses are never cached.

use edge_core::{ErrorBody, HttpError, upstream};
use serde::Serialize;
use worker::{Headers, Response, ResponseBody, Result};

/// A JSON response with `status`, `content-type: application/json` and `cache-control: no-store`.
///
/// # Errors
/// Only if `value` cannot be serialized or the status is not a valid HTTP status.
pub fn json<T: Serialize>(status: u16, value: &T) -> Result<Response> {
    let body = serde_json::to_vec(value)?;
    let headers = Headers::new();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(body))
}

/// The JSON error response for `err`: `{"error":{"code","message","field"?}}`, with the
/// headers its status requires (`Allow`, `Retry-After`, `WWW-Authenticate`, …).
///
/// # Errors
/// Only if the response cannot be built (it can always be serialized).
pub fn error_response(err: &(impl HttpError + ?Sized)) -> Result<Response> {
    let resp = json(err.status(), &ErrorBody::from_error(err))?;
    set_headers(&resp, &err.headers())?;
    Ok(resp)
}

/// Sets each `(name, value)` on `resp`, replacing earlier values of the same name.
///
/// # Errors
/// When a header is invalid or `resp`'s headers are immutable (see [`with_mutable_headers`]).
pub fn set_headers(resp: &Response, headers: &[(&'static str, String)]) -> Result<()> {
    for (name, value) in headers {
        resp.headers().set(name, value)?;
    }
    Ok(())
}

/// Header name [`with_mutable_headers`] deletes to learn whether headers are mutable: no
/// response of ours or of an upstream carries it, so deleting it changes nothing.
const MUTABILITY_PROBE: &str = "x-edge-mutability-probe";

/// `resp` with mutable headers, so headers can be added: as it is when they already are
/// (a response a worker built, or any next hop's answer: `hop` copies those once, on
/// arrival, see [`with_copied_headers`]), else copied. Mutability is tested with one no-op
/// `delete`, which the runtime refuses on immutable headers; on the paths above it never
/// throws (a thrown exception costs more than the copy).
#[must_use]
pub fn with_mutable_headers(resp: Response) -> Response {
    if resp.headers().delete(MUTABILITY_PROBE).is_ok() {
        return resp;
    }
    with_copied_headers(resp)
}

/// `resp` with a fresh, mutable copy of its headers: for a response straight from
/// `fetch`, whose headers are immutable. Every hop edits its answer (`x-request-id` at
/// least), so `hop` does this once where an answer arrives, and nothing copies it again.
#[must_use]
pub fn with_copied_headers(resp: Response) -> Response {
    let headers = resp.headers().clone();
    resp.with_headers(headers)
}

/// `resp` with header `name` set to `value`, copied (fresh, mutable headers) only when its
/// headers are immutable, as those of a response straight from `fetch` are. A response a
/// worker built, or one whose headers a handler already copied, is changed in place:
/// one crossing instead of a Headers copy.
///
/// # Errors
/// When the header is invalid.
pub fn with_header(resp: Response, name: &str, value: &str) -> Result<Response> {
    if resp.headers().set(name, value).is_ok() {
        return Ok(resp);
    }
    let resp = with_mutable_headers(resp);
    resp.headers().set(name, value)?;
    Ok(resp)
}

/// `resp` as something the runtime can send: a status outside 200–599 (other than a
/// worker's own 101 WebSocket upgrade) becomes the 502 `bad_upstream_response` error,
/// and a null-body status (204, 205, 304) loses any body it carries.
///
/// workers-rs converts the handler's `Response` into a JS one with `unwrap`, and the JS
/// constructor throws on both: a panic that restarts the isolate and hangs every request
/// in flight on it. Every hop refuses such upstream statuses first
/// (`hop::call_service`, `hop::call_origin`); this is the net under everything else.
///
/// # Errors
/// Only if the replacement response cannot be built.
pub fn deliverable(resp: Response) -> Result<Response> {
    let status = resp.status_code();
    if status == 101 {
        return Ok(resp);
    }
    if let Err(e) = upstream::check_status(status) {
        return error_response(&e);
    }
    if upstream::is_null_body(status) && !matches!(resp.body(), ResponseBody::Empty) {
        let headers = resp.headers().clone();
        return Ok(Response::empty()?.with_status(status).with_headers(headers));
    }
    Ok(resp)
}
