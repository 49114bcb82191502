//! Outbound JSON calls (LINE API, AI providers) with one deadline over the whole exchange:
//! connecting, the answer's head and reading its body (capped), so a provider that sends
//! headers and then stalls cannot hold the consumer.

use std::time::Duration;

use edge_glue::body;
use futures::future::{Either, select};
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

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

/// An answer: status and (at most `cap` bytes of) body.
pub(crate) struct Answer {
    pub(crate) status: u16,
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
    let transport = |e: worker::Error| CallError::Transport(e.to_string());
    let h = Headers::new();
    for (k, v) in headers {
        h.set(k, v).map_err(transport)?;
    }
    if body.is_some() {
        h.set("content-type", "application/json")
            .map_err(transport)?;
    }
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(h);
    if let Some(b) = body {
        init.with_body(Some(b.into()));
    }
    let req = Request::new_with_init(url, &init).map_err(transport)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async move {
        let mut resp = Fetch::Request(req).send_with_signal(&signal).await?;
        let body = body::read_capped(&mut resp, cap).await?;
        Ok::<_, worker::Error>(Answer {
            status: resp.status_code(),
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
