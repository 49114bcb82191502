//! Discord interaction signatures: Ed25519 over `X-Signature-Timestamp` + raw body against
//! the application's public key, verified strictly (`ed25519-dalek`'s `verify_strict`:
//! no small-order keys, no malleable signatures), with the timestamp inside a window so an
//! old, captured request cannot be replayed.
//!
//! Split for native crypto: [`prepare`] checks the headers and builds the signed message,
//! a [`SignatureVerifier`] checks the signature (the worker: WebCrypto Ed25519 with the
//! key imported once per isolate; [`verify`]: the core's [`RustVerifier`]), and
//! [`Signed::finish`] applies the replay window. Strictness (canonical `S`, no small-order
//! key or `R`) is [`crate::sig::precheck`]'s, so both verifiers refuse the same inputs.

use crate::chat::signature::SignatureError;
use crate::sig::{RustVerifier, SignatureVerifier, VerifyKey};

/// The signature header (128 hex digits).
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The timestamp header (unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
/// Default replay window, seconds either side of the verifier's clock.
pub const DEFAULT_WINDOW_S: u64 = 300;

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    crate::hex::decode(s)?.try_into().ok()
}

/// The application's public key from its 64-hex-digit form; `None` unless it is the
/// encoding of a point on the curve.
#[must_use]
pub fn public_key(hex: &str) -> Option<VerifyKey> {
    let bytes = unhex::<32>(hex.trim())?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()?;
    Some(VerifyKey::ed25519(bytes))
}

/// Whether `sig` is a strictly valid signature of `msg` under `key` (the Rust reference).
#[must_use]
pub fn verify_bytes(key: &VerifyKey, msg: &[u8], sig: &[u8]) -> bool {
    RustVerifier.verify(key, msg, sig)
}

/// An interaction whose headers are well formed, waiting for its signature check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Signed {
    message: Vec<u8>,
    signature: [u8; 64],
    timestamp_s: u64,
}

impl Signed {
    /// What was signed: the timestamp header's text followed by the raw body.
    #[must_use]
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The 64 signature bytes.
    #[must_use]
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The verifier's outcome, then the replay window at `now_s`.
    ///
    /// # Errors
    /// [`SignatureError::Invalid`] when not verified; [`SignatureError::Stale`] for a
    /// timestamp more than `window_s` from `now_s` (checked after the signature, so the
    /// answer never tells a forger about the window).
    pub fn finish(self, verified: bool, now_s: u64, window_s: u64) -> Result<(), SignatureError> {
        SignatureError::unless_verified(verified)?;
        if self.timestamp_s.abs_diff(now_s) > window_s {
            return Err(SignatureError::Stale);
        }
        Ok(())
    }
}

/// Checks an interaction's headers and builds the message to verify.
///
/// # Errors
/// [`SignatureError::Missing`] or [`SignatureError::Malformed`] headers.
pub fn prepare(
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
) -> Result<Signed, SignatureError> {
    let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
        return Err(SignatureError::Missing);
    };
    let signature = unhex::<64>(signature).ok_or(SignatureError::Malformed)?;
    if timestamp.is_empty()
        || timestamp.len() > 12
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SignatureError::Malformed);
    }
    let timestamp_s: u64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(body);
    Ok(Signed {
        message,
        signature,
        timestamp_s,
    })
}

/// Checks an interaction's headers and raw body at `now_s` with the Rust reference.
///
/// # Errors
/// [`SignatureError`] for missing or malformed headers, a timestamp more than `window_s`
/// from `now_s`, or a signature that does not verify.
pub fn verify(
    key: &VerifyKey,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now_s: u64,
    window_s: u64,
) -> Result<(), SignatureError> {
    let signed = prepare(signature, timestamp, body)?;
    let ok = verify_bytes(key, signed.message(), signed.signature());
    signed.finish(ok, now_s, window_s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::HttpError;
    use ed25519_dalek::{Signer, SigningKey};

    const NOW: u64 = 1_795_435_200;

    fn hex(b: &[u8]) -> String {
        crate::hex::encode(b)
    }

    fn signed(key: &SigningKey, ts: &str, body: &[u8]) -> String {
        let mut m = ts.as_bytes().to_vec();
        m.extend_from_slice(body);
        hex(&key.sign(&m).to_bytes())
    }

    #[test]
    fn rfc_8032_test_1_verifies_through_the_discord_framing() {
        // RFC 8032 §7.1 TEST 1: the empty message, signed with this key.
        let pk = public_key("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
            .expect("key");
        let sig = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
        assert!(verify_bytes(&pk, b"", &unhex::<64>(sig).expect("hex")));
        assert!(!verify_bytes(&pk, b"x", &unhex::<64>(sig).expect("hex")));
    }

    #[test]
    fn timestamp_and_body_are_both_covered_and_old_requests_refused() {
        let sk = SigningKey::from_bytes(&[7u8; 32]);
        let pk = VerifyKey::ed25519(sk.verifying_key().to_bytes());
        let body = br#"{"type":1}"#;
        let ts = NOW.to_string();
        let sig = signed(&sk, &ts, body);
        assert_eq!(verify(&pk, Some(&sig), Some(&ts), body, NOW, 300), Ok(()));
        assert_eq!(
            verify(&pk, Some(&sig), Some(&ts), br#"{"type":2}"#, NOW, 300),
            Err(SignatureError::Invalid)
        );
        let other_ts = (NOW + 1).to_string();
        assert_eq!(
            verify(&pk, Some(&sig), Some(&other_ts), body, NOW, 300),
            Err(SignatureError::Invalid)
        );
        // A correctly signed but old request is a replay.
        let old = (NOW - 301).to_string();
        let old_sig = signed(&sk, &old, body);
        assert_eq!(
            verify(&pk, Some(&old_sig), Some(&old), body, NOW, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&pk, Some(&old_sig), Some(&old), body, NOW, 400),
            Ok(())
        );
        assert_eq!(
            verify(&pk, None, Some(&ts), body, NOW, 300),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(&pk, Some("zz"), Some(&ts), body, NOW, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&pk, Some(&sig), Some("-1"), body, NOW, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(SignatureError::Stale.status(), 401);
    }

    #[test]
    fn public_keys_are_64_hex_digits() {
        assert!(public_key(&"ab".repeat(31)).is_none());
        assert!(public_key("not hex").is_none());
        let sk = SigningKey::from_bytes(&[9u8; 32]);
        assert_eq!(
            public_key(&hex(sk.verifying_key().as_bytes())),
            Some(VerifyKey::ed25519(sk.verifying_key().to_bytes()))
        );
        // 32 bytes that are not a point on the curve (y = 2 has no x).
        assert!(public_key(&format!("02{}", "00".repeat(31))).is_none());
    }
}
