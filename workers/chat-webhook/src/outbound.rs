//! Outbound HTTP calls (LINE and Discord APIs, AI providers, the quote API) through `fetch`,
//! with one deadline over the whole exchange: connecting, the answer's head and reading its
//! body (capped), so a provider that sends headers and then stalls cannot hold the
//! consumer. [`Fetch`] is the worker's binding of [`Outbound`].
//!
//! Streamed answers ([`StreamingOutbound`]): the head within the call's deadline, then the
//! body's `ReadableStream` read chunk by chunk as it arrives (never buffered whole), each
//! chunk within its gap (the call's deadline for the first, the idle gap for the others),
//! the whole within its total time and byte cap. Giving up, or dropping the body before
//! its end, aborts the fetch.

use std::time::Duration;

use edge_glue::body;
use futures::StreamExt;
use futures::future::{Either, select};
use worker::{
    AbortController, ByteStream, Delay, Headers, Request, RequestInit, RequestRedirect, js_sys,
};

use crate::backends::{
    Answer, BodyLimits, Call, CallError, ChunkError, ChunkStream, Method, Outbound, StreamCall,
    StreamHead, StreamingOutbound,
};

/// `fetch`, as the [`Outbound`] backend.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fetch;

impl Outbound for Fetch {
    async fn call(&self, call: Call<'_>) -> Result<Answer, CallError> {
        send(call).await
    }
}

fn transport(e: worker::Error) -> CallError {
    CallError::Transport(e.to_string())
}

/// The fetch request of `call`.
fn request(call: &Call<'_>) -> Result<Request, CallError> {
    let h = Headers::new();
    for (k, v) in call.headers {
        h.set(k, v).map_err(transport)?;
    }
    let mut init = RequestInit::new();
    if let Some((content_type, bytes)) = &call.body {
        h.set("content-type", content_type).map_err(transport)?;
        init.with_body(Some(js_sys::Uint8Array::from(bytes.as_slice()).into()));
    }
    let method = match call.method {
        Method::Get => worker::Method::Get,
        Method::Post => worker::Method::Post,
        Method::Patch => worker::Method::Patch,
    };
    // Redirects are answers, never followed: a redirect would carry the call's headers
    // (API keys, the Access service token) to wherever it points, and an Access login
    // redirect means a refused token (`ai::Failure::of_head`).
    init.with_method(method)
        .with_headers(h)
        .with_redirect(RequestRedirect::Manual);
    Request::new_with_init(call.url, &init).map_err(transport)
}

/// Sends `call` and reads the answer, all within its deadline.
async fn send(call: Call<'_>) -> Result<Answer, CallError> {
    let req = request(&call)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let cap = call.cap;
    let exchange = async move {
        let mut resp = worker::Fetch::Request(req)
            .send_with_signal(&signal)
            .await?;
        let body = body::read_capped(&mut resp, cap).await?;
        Ok::<_, worker::Error>(Answer {
            status: resp.status_code(),
            retry_after: resp.headers().get("retry-after").ok().flatten(),
            location: resp.headers().get("location").ok().flatten(),
            body,
        })
    };
    let timer = Delay::from(Duration::from_millis(call.timeout_ms));
    match select(Box::pin(exchange), timer).await {
        Either::Left((Ok(answer), _)) => Ok(answer),
        Either::Left((Err(e), _)) => Err(transport(e)),
        Either::Right(((), _)) => {
            controller.abort();
            Err(CallError::Timeout)
        }
    }
}

impl StreamingOutbound for Fetch {
    type Body = FetchBody;

    async fn open(&self, call: StreamCall<'_>) -> Result<StreamHead<FetchBody>, CallError> {
        let started = edge_glue::now_ms();
        let req = request(&call.call)?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let head = async move {
            let mut resp = worker::Fetch::Request(req)
                .send_with_signal(&signal)
                .await?;
            let stream = match resp.body() {
                worker::ResponseBody::Empty => None,
                _ => Some(resp.stream()?),
            };
            Ok::<_, worker::Error>((resp, stream))
        };
        let timer = Delay::from(Duration::from_millis(call.call.timeout_ms));
        let (resp, stream) = match select(Box::pin(head), timer).await {
            Either::Left((Ok(r), _)) => r,
            Either::Left((Err(e), _)) => return Err(transport(e)),
            Either::Right(((), _)) => {
                controller.abort();
                return Err(CallError::Timeout);
            }
        };
        Ok(StreamHead {
            status: resp.status_code(),
            location: resp.headers().get("location").ok().flatten(),
            body: FetchBody {
                stream,
                controller: Some(controller),
                limits: BodyLimits::of(&call, started),
            },
        })
    }
}

/// A fetched body, read as it streams.
pub(crate) struct FetchBody {
    /// `None` once read to its end (or for an empty body).
    stream: Option<ByteStream>,
    /// Taken when aborted.
    controller: Option<AbortController>,
    limits: BodyLimits,
}

impl FetchBody {
    fn abort(&mut self) {
        self.stream = None;
        if let Some(c) = self.controller.take() {
            c.abort();
        }
    }

    fn give_up(&mut self, e: ChunkError) -> ChunkError {
        self.abort();
        e
    }
}

impl ChunkStream for FetchBody {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ChunkError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(None);
        };
        let (wait, late) = self.limits.wait(edge_glue::now_ms());
        let timer = Delay::from(Duration::from_millis(wait));
        match select(stream.next(), timer).await {
            Either::Left((Some(Ok(chunk)), _)) => match self.limits.took(chunk.len()) {
                Ok(()) => Ok(Some(chunk)),
                Err(e) => Err(self.give_up(e)),
            },
            Either::Left((Some(Err(e)), _)) => {
                Err(self.give_up(ChunkError::Transport(e.to_string())))
            }
            Either::Left((None, _)) => {
                self.stream = None;
                Ok(None)
            }
            Either::Right(((), _)) => Err(self.give_up(late)),
        }
    }
}

impl Drop for FetchBody {
    /// A body dropped before its end (the answer is complete, or failed over): the
    /// provider's connection is closed rather than read on.
    fn drop(&mut self) {
        if self.stream.is_some() {
            self.abort();
        }
    }
}
