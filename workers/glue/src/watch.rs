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
use worker::js_sys::Promise;
use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::future_to_promise;
use worker::{Context, web_sys};

use crate::boundary;
use crate::serve::Waiting;

/// The end of a watched body: a promise of how it ended. The hop settles it once, for every
/// party that needs it (its metric, and the handler's [`crate::Hop::after_body`] work), with
/// [`after_end`].
pub type BodyWatch = Promise;

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
    Ok((relayed, Some(Promise::from(end))))
}

/// Runs `work` with how the body of `end` ended, in `ctx.waitUntil`, from one JS callback:
/// what `work` decides is done right there, and only what has to wait (a flush, a breaker
/// write) becomes a Rust task the request also waits for. Most bodies end with nothing to
/// wait for, so a watched response costs one callback, not a Rust task awaiting a promise
/// (two more callbacks and a microtask per wake). (The waiting part is returned, not polled
/// here: a timer polled once with a no-op waker would keep that waker.)
pub fn after_end(ctx: &Context, end: &BodyWatch, work: impl FnOnce(BodyEnd) -> Waiting + 'static) {
    let settle = Closure::once_into_js(move |code: JsValue| -> JsValue {
        match work(boundary::body_end(code.as_f64())) {
            None => JsValue::UNDEFINED,
            Some(waiting) => future_to_promise(async move {
                waiting.await;
                Ok(JsValue::UNDEFINED)
            })
            .into(),
        }
    });
    boundary::after_end(ctx.as_ref(), end, &settle);
}
