//! What a handler answers with: a response built in Rust, or a runtime `Response` relayed
//! as it is.
//!
//! The worker crate's `fetch` event takes any `Into<web_sys::Response>`; its own `Response`
//! is a Rust-side description that becomes a JS `Response` at the end (a `ResponseInit`,
//! a second `Response`, the headers copied again). A next hop's answer is already a JS
//! `Response`: converting it into the worker crate's type reads its headers, status,
//! websocket and `cf` across the boundary, and the way back rebuilds it. A hop that only
//! edits an answer's headers and sends it on returns it as [`Reply::Relayed`], and
//! [`serve`](crate::serve) hands that object to the runtime as it is.

use edge_core::upstream::{self, Delivery};
use worker::{Headers, Response, web_sys};

use crate::respond;

/// A handler's answer.
#[derive(Debug)]
pub enum Reply {
    /// Built in Rust (errors, health, cached entries, anything the worker wrote).
    Built(Response),
    /// A runtime `Response` whose headers are its own (mutable: `hop` copies a next hop's
    /// answer's headers where it arrives), sent on as it is.
    Relayed(web_sys::Response),
}

impl From<Response> for Reply {
    fn from(resp: Response) -> Self {
        Self::Built(resp)
    }
}

impl From<web_sys::Response> for Reply {
    fn from(resp: web_sys::Response) -> Self {
        Self::Relayed(resp)
    }
}

impl Reply {
    /// The status.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::Built(resp) => resp.status_code(),
            Self::Relayed(resp) => resp.status(),
        }
    }

    /// The headers (a handle: changes apply to the answer).
    #[must_use]
    pub fn headers(&self) -> Headers {
        match self {
            // A second handle on the same object (`Headers::clone` would copy it).
            Self::Built(resp) => Headers(resp.headers().0.clone()),
            Self::Relayed(resp) => Headers(resp.headers()),
        }
    }

    /// The answer with header `name` set to `value`. Headers that turn out immutable (a
    /// runtime answer sent on without a copy: no path of ours does, this is the net) are
    /// copied first, once.
    ///
    /// # Errors
    /// When the header is invalid.
    pub fn with_header(self, name: &str, value: &str) -> worker::Result<Self> {
        if self.headers().set(name, value).is_ok() {
            return Ok(self);
        }
        let copied = match self {
            // `Headers::clone` copies; the rest (a WebSocket too) stays as it is.
            Self::Built(resp) => {
                let headers = resp.headers().clone();
                Self::Built(resp.with_headers(headers))
            }
            Self::Relayed(resp) => Self::Relayed(own_headers(&resp)?),
        };
        copied.headers().set(name, value)?;
        Ok(copied)
    }

    /// The answer as something the runtime can send (see [`respond::deliverable`]): a
    /// status outside 200–599 becomes the 502 `bad_upstream_response` error, a null-body
    /// status loses its body.
    ///
    /// # Errors
    /// Only if the replacement response cannot be built.
    pub fn deliverable(self) -> worker::Result<Self> {
        match self {
            Self::Built(resp) => Ok(Self::Built(respond::deliverable(resp)?)),
            Self::Relayed(resp) => {
                let status = resp.status();
                // A relayed answer is an upstream's: its 101 is not this worker's upgrade.
                match upstream::delivery(status, || resp.body().is_some(), false) {
                    Delivery::AsIs => Ok(Self::Relayed(resp)),
                    Delivery::Refused(e) => Ok(Self::Built(respond::error_response(&e)?)),
                    Delivery::WithoutBody => {
                        let init = web_sys::ResponseInit::new();
                        init.set_status(status);
                        init.set_headers(&resp.headers());
                        Ok(Self::Relayed(web_sys::Response::new_with_opt_str_and_init(
                            None, &init,
                        )?))
                    }
                }
            }
        }
    }

    /// The runtime `Response` to send.
    #[must_use]
    pub fn into_raw(self) -> web_sys::Response {
        match self {
            Self::Built(resp) => resp.into(),
            Self::Relayed(resp) => resp,
        }
    }
}

/// `resp` with headers of its own (mutable), everything else as it is (status, body, a
/// WebSocket): for an answer straight from `fetch`, whose headers are immutable, that is
/// sent on unwatched. One crossing.
///
/// # Errors
/// When the runtime cannot build the response (it can for any answer it gave).
pub fn own_headers(resp: &web_sys::Response) -> worker::Result<web_sys::Response> {
    Ok(crate::boundary::with_own_headers(resp)?)
}
