//! Reading bodies with a hard limit on the actual bytes.
//!
//! `Content-Length` is checked first as a fast refusal, but the limit is enforced on the
//! bytes actually read, so a lying or absent header cannot get past it.

use edge_core::error::CommonError;
use futures::StreamExt;
use worker::{ByteStream, Request, Response};

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The body (declared or actual) is larger than the limit: a 413 `payload_too_large`.
    TooLarge(CommonError),
    /// The runtime failed while reading the stream.
    Read(worker::Error),
}

/// Reads the whole body of `req`, failing as soon as more than `limit` bytes arrive.
///
/// # Errors
/// [`BodyError::TooLarge`] when the declared length or the actual bytes exceed `limit`;
/// [`BodyError::Read`] when the stream fails.
pub async fn read_limited(req: &mut Request, limit: usize) -> Result<Vec<u8>, BodyError> {
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
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let stream = req.stream().map_err(BodyError::Read)?;
    let (bytes, overflowed) = collect(stream, limit).await.map_err(BodyError::Read)?;
    if overflowed {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Reads at most `cap + 1` bytes of a response body and stops; a result longer than `cap`
/// tells the caller the body was too long without reading the rest of it.
///
/// # Errors
/// When the runtime fails while reading the stream.
pub async fn read_capped(resp: &mut Response, cap: usize) -> worker::Result<Vec<u8>> {
    if matches!(resp.body(), worker::ResponseBody::Empty) {
        return Ok(Vec::new());
    }
    let (mut bytes, overflowed) = collect(resp.stream()?, cap).await?;
    if overflowed {
        bytes.push(0);
    }
    Ok(bytes)
}

/// Collects chunks until the stream ends (`false`) or more than `limit` bytes arrived
/// (`true`, with the bytes up to the limit).
async fn collect(mut stream: ByteStream, limit: usize) -> worker::Result<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            let room = limit - out.len();
            out.extend_from_slice(&chunk[..room]);
            return Ok((out, true));
        }
        out.extend_from_slice(&chunk);
    }
    Ok((out, false))
}
