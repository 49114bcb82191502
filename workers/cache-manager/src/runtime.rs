//! The flow's backends in the Workers runtime: the `ROUTER` service binding as the
//! [`Origin`], its `Response` as [`Upstream`], the runtime's clock and timers, and
//! `wait_until` for background work (the store is [`crate::store`]).

use edge_core::error::CommonError;
use edge_core::{ServiceName, upstream};
use edge_glue::body::{self, Prefix};
use edge_glue::boundary::{self, Base, HeaderLines};
use edge_glue::hop::{self, Destination, NextHopBinding};
use edge_glue::{Hop, Incoming, now_ms};
use futures::StreamExt;
use futures::stream;
use std::future::Future;
use std::time::Duration;
use worker::wasm_bindgen::JsValue;
use worker::{Delay, Env, Headers, Response, web_sys};

use crate::flow::{Background, Buffered, Clock, Origin, Refusal, Upstream};

/// The next hop: voice-router.
pub(crate) const NEXT: NextHopBinding = NextHopBinding {
    binding: "ROUTER",
    worker: ServiceName::VoiceRouter,
};

/// voice-router, for one request.
pub(crate) struct Router {
    pub(crate) req: Incoming,
    pub(crate) env: Env,
    pub(crate) hop: Hop,
    /// How long to wait for its answer's headers.
    pub(crate) timeout_ms: u64,
}

impl Origin for Router {
    type Response = web_sys::Response;
    type Fault = worker::Error;

    async fn forward(&self) -> Result<web_sys::Response, Refusal> {
        // A GET or HEAD with a body cannot be forwarded (Fetch refuses to build it).
        let method = self.req.inner().method();
        if let Err(e) = upstream::check_forwardable(&method, self.req.has_body()) {
            return Err(Box::new(e));
        }
        let url = self.req.url();
        let req = url.and_then(|url| {
            hop::forwarded_request(
                self.req.inner(),
                url.as_str(),
                &self.hop,
                Destination::Service,
            )
        });
        self.send(req).await.map_err(|e| Box::new(e) as Refusal)
    }

    async fn fetch(
        &self,
        headers: Vec<(String, String)>,
    ) -> Result<web_sys::Response, CommonError> {
        // The request's own headers (one value per name, as the runtime joined them) and
        // the validators: every name once, so setting them is appending them.
        let mut lines = HeaderLines::new();
        for (name, value) in &headers {
            lines.push(name, value)?;
        }
        let url = self.req.url();
        let req = url.and_then(|url| {
            let to = Destination::Service;
            let none = JsValue::NULL;
            hop::forwarded(
                self.req.inner(),
                url.as_str(),
                &self.hop,
                to,
                Base::Empty,
                lines,
                &none,
            )
        });
        self.send(req).await
    }

    fn detach(&self) -> worker::Result<Self> {
        Ok(Self {
            // The JS `clone()` (a second body stream), not a second handle.
            req: Incoming::from(self.req.inner().clone()?),
            env: self.env.clone(),
            hop: self.hop.clone(),
            timeout_ms: self.timeout_ms,
        })
    }
}

impl Upstream for web_sys::Response {
    type Fault = worker::Error;

    fn status(&self) -> u16 {
        web_sys::Response::status(self)
    }

    fn headers(&self) -> Vec<(String, String)> {
        boundary::entry_pairs(&Headers(web_sys::Response::headers(self)))
    }

    async fn buffer(self, limit: usize) -> worker::Result<Buffered<Self>> {
        // Read in Rust: the worker crate's `Response` is the body reader.
        let mut resp = Response::from(self);
        match body::read_prefix(&mut resp, limit).await {
            Ok(Prefix::Complete(bytes)) => Ok(Buffered::Whole(bytes)),
            Ok(Prefix::Overflow { read, rest }) => {
                // Too large after all: send what was read, then the rest of the stream.
                let head = stream::once(async move { Ok::<Vec<u8>, worker::Error>(read) });
                let joined = Response::from_stream(head.chain(rest))?
                    .with_status(resp.status_code())
                    .with_headers(Response::headers(&resp).clone());
                Ok(Buffered::TooLarge(joined.into()))
            }
            Err(_) => Ok(Buffered::Broken),
        }
    }
}

impl Router {
    /// Sends `req` (if it could be built) through the binding.
    async fn send(
        &self,
        req: worker::Result<web_sys::Request>,
    ) -> Result<web_sys::Response, CommonError> {
        let req = req.map_err(|_| CommonError::Internal)?;
        hop::relay_service(&self.env, NEXT.binding, &req, self.timeout_ms).await
    }
}

/// The runtime's clock.
#[derive(Clone, Copy)]
pub(crate) struct RuntimeClock;

impl Clock for RuntimeClock {
    fn now_ms(&self) -> u64 {
        now_ms()
    }

    async fn sleep(&self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }
}

impl Background for Hop {
    fn spawn(&self, work: impl Future<Output = ()> + 'static) {
        self.wait_until(work);
    }
}
