//! `x-line-signature`: base64(HMAC-SHA256(channel secret, raw body)), checked on the exact
//! bytes received, before anything parses them, in constant time (`hmac`'s `verify_slice`).
//! Split for native crypto: [`presented_tag`] reads the header, a verifier checks the tag
//! ([`verify`]: the core's Rust reference; the worker: `sig::SigAlg::backend`, i.e. wasm
//! for bodies up to 1 KB and WebCrypto beyond), [`outcome`] names the result.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::chat::signature::SignatureError;

/// The header LINE signs webhooks in.
pub const HEADER: &str = "x-line-signature";
/// Length of an HMAC-SHA256 tag, bytes.
pub const TAG_BYTES: usize = crate::sig::HMAC_SHA256_TAG_BYTES;

/// Whether `tag` is the full HMAC-SHA256 of `msg` under `key` (a truncated tag never is),
/// compared in constant time.
#[must_use]
pub fn tag_matches(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
    crate::sig::hmac_sha256_matches(key, msg, tag)
}

/// The tag `header` (the `x-line-signature` value) carries.
///
/// # Errors
/// [`SignatureError::Missing`] without a header; [`SignatureError::Invalid`] unless it is
/// canonical base64.
pub fn presented_tag(header: Option<&str>) -> Result<Vec<u8>, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    STANDARD
        .decode(header.as_bytes())
        .map_err(|_| SignatureError::Invalid)
}

/// The result of a webhook whose tag a verifier did or did not accept.
///
/// # Errors
/// [`SignatureError::Invalid`] when it did not.
pub fn outcome(verified: bool) -> Result<(), SignatureError> {
    SignatureError::unless_verified(verified)
}

/// Checks `header` (the `x-line-signature` value) against `body` under `channel_secret`
/// with the Rust reference.
///
/// # Errors
/// [`SignatureError::Missing`] without a header; [`SignatureError::Invalid`] for anything but
/// the canonical base64 of the right tag.
pub fn verify(
    channel_secret: &str,
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let tag = presented_tag(header)?;
    outcome(tag_matches(channel_secret.as_bytes(), body, &tag))
}

/// The signature LINE would send for `body` (for tests and local tools).
#[must_use]
pub fn sign(channel_secret: &str, body: &[u8]) -> String {
    STANDARD.encode(crate::sig::hmac_sha256(channel_secret.as_bytes(), &[body]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::HttpError;

    /// The known answer in LINE's Python SDK (`tests/test_webhook.py`, `TestSignatureValidator`),
    /// also checked with `openssl dgst -sha256 -hmac channel_secret`.
    const SDK_SECRET: &str = "channel_secret";
    const SDK_BODY: &[u8] = b"bodybodybodybody";
    const SDK_SIGNATURE: &str = "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k=";

    #[test]
    fn the_line_sdk_known_answer() {
        assert_eq!(sign(SDK_SECRET, SDK_BODY), SDK_SIGNATURE);
        assert_eq!(verify(SDK_SECRET, SDK_BODY, Some(SDK_SIGNATURE)), Ok(()));
        // The SDK's negative case: one character of the signature changed.
        let wrong = "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7K=";
        assert_eq!(
            verify(SDK_SECRET, SDK_BODY, Some(wrong)),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn anything_but_the_exact_signature_of_the_exact_bytes_fails() {
        let sig = sign("s3cret", b"{\"events\":[]}");
        assert_eq!(verify("s3cret", b"{\"events\":[]}", Some(&sig)), Ok(()));
        for (body, header) in [
            (&b"{\"events\":[] }"[..], Some(sig.as_str())), // one byte more
            (b"{\"events\":[]}", Some(&sig[..sig.len() - 1])), // padding cut
            (b"{\"events\":[]}", Some("")),
            (b"{\"events\":[]}", Some("not base64!")),
            (b"{\"events\":[]}", Some("AAAA")), // valid base64, short tag
        ] {
            assert_eq!(
                verify("s3cret", body, header),
                Err(SignatureError::Invalid),
                "{header:?}"
            );
        }
        let spaced = format!(" {sig}");
        assert_eq!(
            verify("s3cret", b"{\"events\":[]}", Some(&spaced)),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify("other", b"{\"events\":[]}", Some(&sig)),
            Err(SignatureError::Invalid)
        );
        assert_eq!(verify("s3cret", b"{}", None), Err(SignatureError::Missing));
        assert_eq!(SignatureError::Missing.status(), 401);
    }
}
