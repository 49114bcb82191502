//! Watching a relayed body to its end, for a hop that must know whether its upstream's
//! body arrived whole (voice-router: its breakers and its metric).
//!
//! The body is not buffered, and no chunk crosses into wasm: the upstream's stream is
//! piped natively (`pipeTo`) into an identity `TransformStream` whose readable side is
//! the body sent on, and only the pipe's end comes back to Rust, once: complete, broken by
//! the upstream, or abandoned by the reader (the client went away, which says nothing
//! about the upstream). A pipe that fails is told apart by cancelling the upstream's
//! stream afterwards: that succeeds on a stream the reader abandoned (and releases the
//! upstream) and fails with the stored error on one that broke.

use edge_core::error::CommonError;
use edge_core::upstream::{BodyEnd, BodyPlan};
use futures::future::{FutureExt, LocalBoxFuture, Shared, ready};
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{ReadableStream, Response as WebResponse, ResponseInit, TransformStream};
use worker::{Headers, Response, ResponseBody};

use crate::respond;

/// The end of a watched body, awaitable by several parties (the metric, the breakers).
pub type BodyWatch = Shared<LocalBoxFuture<'static, BodyEnd>>;

/// `resp` with its body observed to its end, as the core's [`BodyPlan`] says: a short body
/// of declared length is read whole first (in JS, one `arrayBuffer()`, no byte enters
/// wasm) and one that breaks becomes a 502 `upstream_body_incomplete` answer; any other is
/// piped through ([`watch`]). The profile that chose this is in DESIGN.md ("Where the rest
/// goes"): a pipe moves the body from native pumping to a JS-backed stream.
pub async fn observe(resp: Response) -> (Response, Option<BodyWatch>) {
    let ResponseBody::Stream(raw) = resp.body() else {
        return (resp, None);
    };
    let header = |name| resp.headers().get(name).ok().flatten();
    let plan = BodyPlan::of(
        header("content-length").as_deref(),
        header("content-encoding").as_deref(),
    );
    if plan == BodyPlan::Relay {
        return watch(resp);
    }
    let done = |end| Some(ready(end).boxed_local().shared());
    let read =
        match WebResponse::new_with_opt_readable_stream_and_init(Some(raw), &ResponseInit::new())
            .and_then(|body| body.array_buffer())
        {
            Ok(promise) => JsFuture::from(promise).await,
            Err(e) => Err(e),
        };
    let whole = read.and_then(|buffer| {
        let init = ResponseInit::new();
        init.set_status(resp.status_code());
        init.set_headers(&resp.headers().0);
        WebResponse::new_with_opt_buffer_source_and_init(Some(buffer.unchecked_ref()), &init)
    });
    match whole {
        Ok(answer) => (Response::from(answer), done(BodyEnd::Complete)),
        Err(_) => match respond::error_response(&CommonError::UpstreamBodyIncomplete) {
            Ok(refusal) => (refusal, done(BodyEnd::Broken)),
            Err(_) => (resp, done(BodyEnd::Broken)),
        },
    }
}

/// `resp` with its body piped through so its end is observed, and the watch on that end;
/// `None` (and `resp` unchanged) when it has no streamed body.
#[must_use]
pub fn watch(resp: Response) -> (Response, Option<BodyWatch>) {
    let ResponseBody::Stream(raw) = resp.body() else {
        return (resp, None);
    };
    let Ok(relay) = TransformStream::new() else {
        return (resp, None);
    };
    let source: ReadableStream = raw.clone();
    let piped = JsFuture::from(source.pipe_to(&relay.writable()));
    // The same Headers object, not a copy (`Headers::clone` copies): a next hop's answer
    // already has mutable headers of its own (`hop` copies them on arrival).
    let headers = Headers(Clone::clone(&resp.headers().0));
    let relayed = Response::builder()
        .with_status(resp.status_code())
        .with_headers(headers)
        .stream(relay.readable());
    let end = async move {
        if piped.await.is_ok() {
            return BodyEnd::Complete;
        }
        match JsFuture::from(source.cancel()).await {
            Ok(_) => BodyEnd::Abandoned,
            Err(_) => BodyEnd::Broken,
        }
    }
    .boxed_local()
    .shared();
    (relayed, Some(end))
}
