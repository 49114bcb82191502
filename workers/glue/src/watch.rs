//! Watching a relayed body to its end, for a hop that must know whether its upstream's
//! body arrived whole (voice-router: its breakers and its metric).
//!
//! The body is not buffered, and no chunk crosses into wasm: the upstream's stream is
//! piped natively (`pipeTo`, in `js/boundary.js`) into the runtime's
//! `IdentityTransformStream` whose readable side is the body sent on (runtime streams on
//! both sides: workerd pumps the bytes itself), and only the pipe's end comes back to
//! Rust, once: complete, broken by the upstream, or abandoned by the reader (the client
//! went away, which says nothing about the upstream). A pipe that fails is told apart by
//! cancelling the upstream's stream afterwards: that succeeds on a stream the reader
//! abandoned (and releases the upstream) and fails with the stored error on one that broke.

use edge_core::upstream::BodyEnd;
use futures::future::{FutureExt, LocalBoxFuture};
use worker::js_sys::Promise;
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys;

use crate::boundary;

/// The end of a watched body. The hop awaits it once, in one `wait_until` task, for every
/// party that needs it (its metric, and the handler's [`crate::Hop::after_body`] work).
pub type BodyWatch = LocalBoxFuture<'static, BodyEnd>;

/// `resp` rebuilt in one crossing, with headers of its own (mutable: `resp` comes with the
/// immutable headers of `fetch`, `hop::call_origin_relayed`, and this is the one place
/// they are copied) and its body piped through so its end is observed; the watch on that
/// end, `None` when there is no body. `Err` only where the runtime refuses to rebuild it.
///
/// # Errors
/// When the runtime cannot build the response (it can for any answer `fetch` gave).
pub fn observe(resp: &web_sys::Response) -> worker::Result<(web_sys::Response, Option<BodyWatch>)> {
    let pair = boundary::relay(resp)?;
    let relayed: web_sys::Response = pair.get(0).unchecked_into();
    let end = pair.get(1);
    if end.is_null() {
        return Ok((relayed, None));
    }
    let end = async move {
        let code = JsFuture::from(Promise::from(end)).await.ok();
        boundary::body_end(code.and_then(|c| c.as_f64()))
    }
    .boxed_local();
    Ok((relayed, Some(end)))
}
