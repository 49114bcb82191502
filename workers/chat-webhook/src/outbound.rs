//! Outbound calls (LINE and Discord APIs, AI providers) with one deadline over the whole exchange:
//! connecting, the answer's head and reading its body (capped), so a provider that sends
//! headers and then stalls cannot hold the consumer.

use std::time::Duration;

use edge_glue::body;
use futures::future::{Either, select};
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, js_sys};

/// How an exchange ended, when it produced no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallError {
    /// No answer within the deadline.
    Timeout,
    /// Could not connect or read.
    Transport(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Transport(e) => write!(f, "transport error: {e}"),
        }
    }
}

/// An answer: status, `Retry-After` header and (at most `cap` bytes of) body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// Sends `body` (JSON, or nothing) with `headers` to `url` and reads the answer, all within
/// `timeout_ms`.
pub(crate) async fn call(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
    timeout_ms: u64,
    cap: usize,
) -> Result<Answer, CallError> {
    let body = body.map(|b| ("application/json", b.into_bytes()));
    call_with(method, url, headers, body, timeout_ms, cap).await
}

/// Sends `body` (its content type and bytes, or nothing) with `headers` to `url` and reads
/// the answer, all within `timeout_ms`.
pub(crate) async fn call_with(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, Vec<u8>)>,
    timeout_ms: u64,
    cap: usize,
) -> Result<Answer, CallError> {
    let transport = |e: worker::Error| CallError::Transport(e.to_string());
    let h = Headers::new();
    for (k, v) in headers {
        h.set(k, v).map_err(transport)?;
    }
    let mut init = RequestInit::new();
    if let Some((content_type, bytes)) = body {
        h.set("content-type", content_type).map_err(transport)?;
        init.with_body(Some(js_sys::Uint8Array::from(bytes.as_slice()).into()));
    }
    init.with_method(method).with_headers(h);
    let req = Request::new_with_init(url, &init).map_err(transport)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async move {
        let mut resp = Fetch::Request(req).send_with_signal(&signal).await?;
        let body = body::read_capped(&mut resp, cap).await?;
        Ok::<_, worker::Error>(Answer {
            status: resp.status_code(),
            retry_after: resp.headers().get("retry-after").ok().flatten(),
            body,
        })
    };
    let timer = Delay::from(Duration::from_millis(timeout_ms));
    match select(Box::pin(exchange), timer).await {
        Either::Left((Ok(answer), _)) => Ok(answer),
        Either::Left((Err(e), _)) => Err(transport(e)),
        Either::Right(((), _)) => {
            controller.abort();
            Err(CallError::Timeout)
        }
    }
}
