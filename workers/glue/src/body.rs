//! Reading bodies with a hard limit on the actual bytes and on the time they take.
//!
//! `Content-Length` is checked first as a fast refusal, but the limit is enforced on the
//! bytes actually read, so a lying or absent header cannot get past it. The whole body
//! must arrive within a deadline (var `BODY_TIMEOUT_MS`, default 10 s): a client that
//! trickles a chunked body cannot hold a request open (408 `body_timeout`).

use std::time::Duration;

use edge_core::auth::request_policy::RequestError;
use edge_core::error::CommonError;
use futures::StreamExt;
use futures::future::{Either, select};
use worker::js_sys::Uint8Array;
use worker::{ByteStream, Delay, Env, Response, web_sys};

use crate::deadline::{self, Raced};

/// Default time a whole request body may take to arrive, ms (var `BODY_TIMEOUT_MS`).
pub const DEFAULT_BODY_TIMEOUT_MS: u64 = 10_000;

/// The var `BODY_TIMEOUT_MS` (default 10000, 100..=300000).
///
/// # Errors
/// [`CommonError::Misconfigured`] when it is set but malformed.
pub fn timeout_ms(env: &Env) -> Result<u64, CommonError> {
    crate::config::u64_var(
        env,
        "BODY_TIMEOUT_MS",
        DEFAULT_BODY_TIMEOUT_MS,
        100..=300_000,
    )
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The body (declared or actual) is larger than the limit: a 413 `payload_too_large`.
    TooLarge(CommonError),
    /// The runtime failed while reading the stream: a 400 `unreadable_body`.
    Read(worker::Error),
    /// The body did not arrive in full within the deadline: a 408 `body_timeout`.
    Timeout(RequestError),
    /// `BODY_TIMEOUT_MS` is malformed: a 500 `misconfigured` naming it.
    Config(CommonError),
}

impl BodyError {
    fn visible(&self) -> &dyn edge_core::HttpError {
        match self {
            Self::TooLarge(e) | Self::Config(e) => e,
            Self::Timeout(e) => e,
            Self::Read(_) => &RequestError::UnreadableBody,
        }
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.visible().fmt(f)
    }
}

impl edge_core::HttpError for BodyError {
    fn status(&self) -> u16 {
        self.visible().status()
    }

    fn code(&self) -> &'static str {
        self.visible().code()
    }

    fn field(&self) -> Option<&str> {
        self.visible().field()
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        self.visible().headers()
    }
}

/// Reads the body like [`read_limited`] within the deadline `BODY_TIMEOUT_MS`.
///
/// # Errors
/// [`BodyError`]: 413 `payload_too_large` over the limit, 408 `body_timeout` too slow,
/// 400 `unreadable_body` when the stream fails, 500 `misconfigured` for a malformed
/// `BODY_TIMEOUT_MS`. Return it from a handler (`?`): `serve` answers it.
pub async fn read(req: &web_sys::Request, env: &Env, limit: usize) -> Result<Vec<u8>, BodyError> {
    let timeout = timeout_ms(env).map_err(BodyError::Config)?;
    read_limited(req, limit, timeout).await
}

/// Reads the whole body of `req` within `timeout_ms`, failing once more than `limit`
/// bytes arrive (after draining up to [`DRAIN_LIMIT`] more, so the client can read the
/// 413).
///
/// # Errors
/// [`BodyError::TooLarge`] when the declared length or the actual bytes exceed `limit`;
/// [`BodyError::Timeout`] when the body is not complete after `timeout_ms`;
/// [`BodyError::Read`] when the stream fails.
pub async fn read_limited(
    req: &web_sys::Request,
    limit: usize,
    timeout_ms: u64,
) -> Result<Vec<u8>, BodyError> {
    let too_large = || BodyError::TooLarge(CommonError::PayloadTooLarge { limit });
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let Some(stream) = req.body() else {
        return Ok(Vec::new());
    };
    if declared.is_some() {
        return read_declared(req, limit, timeout_ms).await;
    }
    // A body already read is refused here by the runtime (its stream is locked).
    if req.body_used() {
        return Err(BodyError::Read(worker::Error::BodyUsed));
    }
    let stream = ByteStream::from(stream);
    let read = Box::pin(collect(stream, limit));
    let timer = Delay::from(Duration::from_millis(timeout_ms));
    match select(read, timer).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(((), _)) => Err(BodyError::Timeout(RequestError::BodyTimeout { timeout_ms })),
    }
}

/// A body whose length is declared (and within the limit) read whole in one call
/// (`arrayBuffer()`) instead of chunk by chunk: the runtime frames it by that length, and
/// the limit is still checked on the bytes that arrived.
async fn read_declared(
    req: &web_sys::Request,
    limit: usize,
    timeout_ms: u64,
) -> Result<Vec<u8>, BodyError> {
    let read = req.array_buffer().map_err(|e| BodyError::Read(e.into()))?;
    match deadline::race(read, timeout_ms).await {
        Raced::Resolved(buf) => {
            let bytes = Uint8Array::new(&buf);
            if bytes.length() as usize > limit {
                return Err(BodyError::TooLarge(CommonError::PayloadTooLarge { limit }));
            }
            Ok(bytes.to_vec())
        }
        Raced::Rejected(e) => Err(BodyError::Read(e.into())),
        Raced::TimedOut => Err(BodyError::Timeout(RequestError::BodyTimeout { timeout_ms })),
    }
}

async fn collect(mut stream: ByteStream, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BodyError::Read)?;
        if out.len() + chunk.len() > limit {
            drain(stream).await;
            return Err(BodyError::TooLarge(CommonError::PayloadTooLarge { limit }));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Most bytes read and discarded after a body passed its limit.
pub const DRAIN_LIMIT: usize = 1024 * 1024;

/// Reads and discards up to [`DRAIN_LIMIT`] more bytes, so a client still uploading a body
/// that is refused gets the 413 instead of a connection reset; a longer upload is cut.
async fn drain(mut stream: ByteStream) {
    let mut drained = 0;
    while drained <= DRAIN_LIMIT {
        match stream.next().await {
            Some(Ok(chunk)) => drained += chunk.len(),
            _ => return,
        }
    }
}

/// Reads a response body until it ends or passes `cap` bytes, and returns at most
/// `cap + 1` of them: a result longer than `cap` tells the caller the body was too long,
/// without reading the rest of it.
///
/// # Errors
/// When the runtime fails while reading the stream.
pub async fn read_capped(resp: &mut Response, cap: usize) -> worker::Result<Vec<u8>> {
    Ok(match read_prefix(resp, cap).await? {
        Prefix::Complete(bytes) => bytes,
        Prefix::Overflow { mut read, .. } => {
            read.truncate(cap + 1);
            read
        }
    })
}

/// The start of a response body, read up to a limit.
pub enum Prefix {
    /// The whole body, no longer than the limit.
    Complete(Vec<u8>),
    /// More than the limit: every byte read so far (a little over the limit) and the
    /// unread rest, to be sent on after them.
    Overflow {
        /// The bytes read.
        read: Vec<u8>,
        /// The rest of the body.
        rest: ByteStream,
    },
}

/// Reads `resp`'s body until it ends or passes `limit` bytes, keeping the rest unread.
///
/// # Errors
/// When the runtime fails while reading the stream.
pub async fn read_prefix(resp: &mut Response, limit: usize) -> worker::Result<Prefix> {
    if matches!(resp.body(), worker::ResponseBody::Empty) {
        return Ok(Prefix::Complete(Vec::new()));
    }
    let mut stream = resp.stream()?;
    let mut read = Vec::new();
    while let Some(chunk) = stream.next().await {
        read.extend_from_slice(&chunk?);
        if read.len() > limit {
            return Ok(Prefix::Overflow { read, rest: stream });
        }
    }
    Ok(Prefix::Complete(read))
}
