//! Worker-side glue shared by the five edge-workers.
//!
//! The core crate (`edge-core`) decides; this crate does the IO around those decisions
//! with the `worker` crate, so each worker's own code stays a router and a few handlers.
//!
//! - [`serve`]: the entry wrapper every worker uses (request id, error mapping, metrics);
//!   [`finish::LastStep`] adds a last step over every final response.
//! - [`incoming`]: the request as the runtime hands it over, read only where used.
//! - [`reply`]: a handler's answer, built in Rust or a runtime `Response` relayed as it is.
//! - [`respond`]: the one place that turns errors into HTTP responses.
//! - [`failure`]: each worker's handler error ([`handler_error!`]) and [`failure::Internal`].
//! - [`body`]: reading request bodies with a hard byte limit.
//! - [`hop`]: calling the next hop (service binding or origin) with a timeout.
//! - [`health`]: `GET /health`, including the next hop's health.
//! - [`metrics`]: a hop's metric into the per-isolate outbox, flushed in batches in `wait_until`.
//! - [`config`]: reading vars with defaults and validation.
//! - [`deadline`]: a JS promise raced against a native deadline.
//! - [`admin`]: the admin-secret guard of operator endpoints.
//! - [`watch`]: observing how a relayed response body ends.
//! - [`webcrypto`]: signature verification with the runtime's WebCrypto, keys imported
//!   once per isolate.
//! - [`window_log`]: exact sliding-window admission in a Durable Object (rate limits, quotas).

pub mod admin;
pub mod body;
pub mod boundary;
pub mod config;
pub mod deadline;
pub mod failure;
pub mod finish;
pub mod health;
pub mod hop;
pub mod incoming;
pub mod metrics;
pub mod reply;
pub mod respond;
pub mod serve;
pub mod watch;
pub mod webcrypto;
pub mod window_log;

pub use incoming::Incoming;
pub use reply::Reply;
pub use serve::{Hop, Role, random_uuid, serve};

/// Header that carries the request id between hops and back to the client.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The current time in unix milliseconds, from the runtime's clock.
///
/// Workers advance this clock only across IO, which is what latency measurement needs.
#[must_use]
pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// The global object `object` and its method `method` (e.g. `crypto.randomUUID`), for a
/// caller to keep per isolate instead of looking both up on every call; `None` where the
/// runtime has no such method.
pub(crate) fn global_method(
    object: &str,
    method: &str,
) -> Option<(worker::wasm_bindgen::JsValue, worker::js_sys::Function)> {
    use worker::js_sys::{Function, Reflect, global};
    use worker::wasm_bindgen::{JsCast, JsValue};
    let this = Reflect::get(&global(), &JsValue::from_str(object)).ok()?;
    let f = Reflect::get(&this, &JsValue::from_str(method)).ok()?;
    Some((this, f.dyn_into::<Function>().ok()?))
}
