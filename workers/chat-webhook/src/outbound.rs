//! Outbound HTTP calls (LINE and Discord APIs, AI providers, the quote API) through `fetch`,
//! with one deadline over the whole exchange: connecting, the answer's head and reading its
//! body (capped), so a provider that sends headers and then stalls cannot hold the
//! consumer. [`Fetch`] is the worker's binding of [`Outbound`].

use std::time::Duration;

use edge_glue::body;
use futures::future::{Either, select};
use worker::{AbortController, Delay, Headers, Request, RequestInit, js_sys};

use crate::backends::{Answer, Call, CallError, Method, Outbound};

/// `fetch`, as the [`Outbound`] backend.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fetch;

impl Outbound for Fetch {
    async fn call(&self, call: Call<'_>) -> Result<Answer, CallError> {
        send(call).await
    }
}

/// Sends `call` and reads the answer, all within its deadline.
async fn send(call: Call<'_>) -> Result<Answer, CallError> {
    let transport = |e: worker::Error| CallError::Transport(e.to_string());
    let h = Headers::new();
    for (k, v) in call.headers {
        h.set(k, v).map_err(transport)?;
    }
    let mut init = RequestInit::new();
    if let Some((content_type, bytes)) = call.body {
        h.set("content-type", content_type).map_err(transport)?;
        init.with_body(Some(js_sys::Uint8Array::from(bytes.as_slice()).into()));
    }
    let method = match call.method {
        Method::Get => worker::Method::Get,
        Method::Post => worker::Method::Post,
        Method::Patch => worker::Method::Patch,
    };
    init.with_method(method).with_headers(h);
    let req = Request::new_with_init(call.url, &init).map_err(transport)?;
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
