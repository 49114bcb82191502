//! Watching a relayed body to its end, for a hop that must know whether its upstream's
//! body arrived whole (voice-router: its breakers and its metric).
//!
//! The body is re-wrapped, not buffered: chunks pass through as they come (the same JS
//! `Uint8Array`s, no copy), and the end is reported once — complete, broken by the
//! upstream, or abandoned by the reader (dropped before the end: the client went away,
//! which says nothing about the upstream). The price is that the body now flows through
//! the wasm instance chunk by chunk instead of being piped natively by workerd.

use std::pin::Pin;
use std::task::{Context, Poll};

use edge_core::upstream::BodyEnd;
use futures::channel::oneshot;
use futures::future::{FutureExt, LocalBoxFuture, Shared};
use futures::stream::{LocalBoxStream, Stream, StreamExt};
use worker::wasm_bindgen::JsValue;
use worker::{Response, ResponseBody};

/// The end of a watched body, awaitable by several parties (the metric, the breakers).
pub type BodyWatch = Shared<LocalBoxFuture<'static, BodyEnd>>;

/// `resp` with its body wrapped so its end is observed, and the watch on that end; `None`
/// (and `resp` unchanged) when it has no streamed body.
#[must_use]
pub fn watch(resp: Response) -> (Response, Option<BodyWatch>) {
    let ResponseBody::Stream(raw) = resp.body() else {
        return (resp, None);
    };
    let source = wasm_streams::ReadableStream::from_raw(raw.clone()).into_stream();
    let (tx, rx) = oneshot::channel();
    let watched = Watched {
        inner: source.boxed_local(),
        end: Some(tx),
    };
    let body = wasm_streams::ReadableStream::from_stream(watched).into_raw();
    let relayed = Response::builder()
        .with_status(resp.status_code())
        .with_headers(resp.headers().clone())
        .stream(body);
    let end = rx
        .map(|r| r.unwrap_or(BodyEnd::Abandoned))
        .boxed_local()
        .shared();
    (relayed, Some(end))
}

/// A body stream that reports how it ended.
struct Watched {
    inner: LocalBoxStream<'static, Result<JsValue, JsValue>>,
    end: Option<oneshot::Sender<BodyEnd>>,
}

impl Watched {
    fn report(&mut self, end: BodyEnd) {
        if let Some(tx) = self.end.take() {
            // The receiver may be gone (nobody waits any more): nothing to tell.
            let _ = tx.send(end);
        }
    }
}

impl Stream for Watched {
    type Item = Result<JsValue, JsValue>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = match self.inner.poll_next_unpin(cx) {
            Poll::Ready(item) => item,
            Poll::Pending => return Poll::Pending,
        };
        match &item {
            None => self.report(BodyEnd::Complete),
            Some(Err(_)) => self.report(BodyEnd::Broken),
            Some(Ok(_)) => {}
        }
        Poll::Ready(item)
    }
}

impl Drop for Watched {
    /// Dropped before its end: the reader cancelled it.
    fn drop(&mut self) {
        self.report(BodyEnd::Abandoned);
    }
}
