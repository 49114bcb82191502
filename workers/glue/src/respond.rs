//! The one place that maps errors to HTTP responses.
//!
//! Every error a worker answers with goes through [`error_response`]: the status and
//! code come from the error's [`HttpError`] impl, the body is [`ErrorBody`] JSON, and
//! error responses are never cached.

use edge_core::upstream::{self, Delivery};
use edge_core::{ErrorBody, HttpError};
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
/// When a header is invalid or `resp`'s headers are immutable.
pub fn set_headers(resp: &Response, headers: &[(&'static str, String)]) -> Result<()> {
    for (name, value) in headers {
        resp.headers().set(name, value)?;
    }
    Ok(())
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
    let has_body = || !matches!(resp.body(), ResponseBody::Empty);
    match upstream::delivery(status, has_body, true) {
        Delivery::AsIs => Ok(resp),
        Delivery::Refused(e) => error_response(&e),
        Delivery::WithoutBody => {
            let headers = resp.headers().clone();
            Ok(Response::empty()?.with_status(status).with_headers(headers))
        }
    }
}
