//! Verifying bearer tokens: [`crate::remote_keys`]'s sequence bound to the runtime.
//!
//! Keys come from three optional places (parsed once per isolate, see
//! [`crate::settings::TokenKeys`]): the secret `JWT_HS256_SECRET`, the var `JWT_JWKS` (an
//! inline JWK Set of public keys), and the var `JWT_JWKS_URL` (an identity provider's
//! JWKS, fetched and kept in this isolate's memory for `JWKS_CACHE_TTL_S`, default 600).
//!
//! Rotation: a token whose `kid` is unknown makes the worker refetch the JWKS at once,
//! at most once per `JWKS_REFRESH_MIN_INTERVAL_S` (default 30, never under 1 s), so a
//! provider's new key works from its first token while a stream of forged `kid`s cannot
//! hammer the provider. Fetches are single-flight. A failed fetch keeps the last good keys.
//!
//! Signatures are checked by `edge_glue::webcrypto` (RSA, ECDSA and Ed25519 in WebCrypto
//! with the keys imported once per isolate and reused across JWKS refreshes; HMAC over a
//! token in wasm). The JWKS is kept for its `Cache-Control` max-age (clamped to 60 s–24 h)
//! or, without one, `JWKS_CACHE_TTL_S`; keys of it that cannot be used are logged and
//! skipped.

use std::cell::RefCell;
use std::time::Duration;

use edge_core::auth::Identity;
use edge_core::auth::jwt::MAX_JWKS_BYTES;
use edge_core::sig::VerifyKey;
use edge_glue::{body, hop, now_ms, webcrypto};
use worker::{Delay, Method, Request, RequestInit, console_warn};

use crate::error::Error;
use crate::remote_keys::{
    Cache, Clock, Document, FETCH_TIMEOUT_MS, Fetcher, Remote, Signatures, Verifier,
};
use crate::settings::Settings;

/// Verifies `token` at `now_s` against every configured key.
///
/// # Errors
/// The token's refusal, or the key configuration's `misconfigured`.
pub(crate) async fn verify(
    token: &str,
    settings: &Settings,
    now_s: u64,
) -> Result<Identity, Error> {
    let keys = settings.token_keys.as_ref().map_err(Clone::clone)?;
    let verifier = Verifier {
        fetcher: Fetch,
        clock: Runtime,
        cache: Isolate,
        signatures: WebCrypto,
    };
    verifier
        .verify(token, &keys.local, keys.remote.as_ref(), &keys.jwt, now_s)
        .await
}

/// `fetch`, bounded by [`FETCH_TIMEOUT_MS`], at most [`MAX_JWKS_BYTES`] read.
struct Fetch;

impl Fetcher for Fetch {
    async fn fetch(&self, url: &str) -> Result<Document, String> {
        let mut init = RequestInit::new();
        init.with_method(Method::Get);
        let req = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
        let mut resp = hop::call_origin(req.inner(), FETCH_TIMEOUT_MS)
            .await
            .map_err(|e| e.to_string())?;
        if resp.status_code() != 200 {
            return Err(format!("status {}", resp.status_code()));
        }
        let cache_control = resp.headers().get("cache-control").ok().flatten();
        let body = body::read_capped(&mut resp, MAX_JWKS_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Document {
            body,
            cache_control,
        })
    }

    fn failed(&self, reason: &str) {
        console_warn!("jwks fetch failed ({reason}); keeping the last good keys");
    }

    fn skipped(&self, kid: &str, reason: &str) {
        console_warn!("jwks key {kid:?} skipped: {reason}");
    }
}

/// The runtime's clock and timers.
struct Runtime;

impl Clock for Runtime {
    fn now_ms(&self) -> u64 {
        now_ms()
    }

    async fn pause(&self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }
}

thread_local! {
    static REMOTE: RefCell<Option<Remote>> = const { RefCell::new(None) };
}

/// This isolate's memory: the remote key set every request of the isolate shares.
struct Isolate;

impl Cache for Isolate {
    fn with<R>(&self, f: impl FnOnce(&mut Option<Remote>) -> R) -> R {
        REMOTE.with_borrow_mut(f)
    }
}

/// WebCrypto (RSA, Ed25519) and HMAC in wasm.
struct WebCrypto;

impl Signatures for WebCrypto {
    async fn verify(&self, candidates: &[&VerifyKey], message: &[u8], signature: &[u8]) -> bool {
        webcrypto::verify_any(candidates, message, signature).await
    }
}
