//! Verifying a bearer token against the configured keys and a remote JWKS kept fresh: the
//! IO sequence around `edge_core::auth::jwks::decide` and `edge_core::auth::jwt`, generic
//! over its backends so `cargo test` runs it natively (the worker binds them in
//! [`crate::tokens`]):
//!
//! - [`Fetcher`]: GET the JWKS document (the worker: `fetch` with a 5 s deadline);
//! - [`Clock`]: the time, and a pause while another request's fetch is in flight;
//! - [`Cache`]: where the remote key set and its fetch state live (the worker: isolate
//!   memory, shared by every request of the isolate);
//! - [`Signatures`]: the signature check (the worker: WebCrypto).
//!
//! The sequence: keys from the cache, fetched first when stale ([`Reason::IfStale`]);
//! verify; a token whose `kid` no key has triggers one refresh ([`Reason::UnknownKid`],
//! rate limited by the core) and a second verification. Fetches are single-flight: the
//! first request marks the fetch in flight before it awaits, and others poll the cache
//! until it lands (workers cannot await I/O another request started). A failed fetch (an
//! error, a timeout, a malformed document) keeps the last good keys.

use edge_core::auth::jwks::{self, Action, Reason, RemoteState};
use edge_core::auth::jwt::{self, JwtPolicy, KeySet};
use edge_core::auth::{AuthError, Identity};
use edge_core::error::CommonError;
use edge_core::sig::VerifyKey;

use crate::error::Error;

/// Longest a JWKS fetch may take, in milliseconds; a fetch in flight for longer is taken
/// as lost (its request ended) and started again.
pub(crate) const FETCH_TIMEOUT_MS: u64 = 5_000;
/// How often a request waiting for another request's fetch looks again, ms.
const JOIN_POLL_MS: u64 = 20;

/// Where a remote JWKS comes from and how long its keys are used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteJwks {
    /// The document's URL (`https`, or loopback `http`).
    pub(crate) url: String,
    /// How long fetched keys are used, ms (`JWKS_CACHE_TTL_S`).
    pub(crate) ttl_ms: u64,
    /// Least time between two refreshes for unknown `kid`s, ms
    /// (`JWKS_REFRESH_MIN_INTERVAL_S`).
    pub(crate) min_gap_ms: u64,
}

/// The cached remote key set of one URL and its fetch state.
#[derive(Debug, Clone)]
pub(crate) struct Remote {
    url: String,
    keys: KeySet,
    state: RemoteState,
    /// How long the last fetched set is used (its `Cache-Control`, see
    /// `jwks::cache_ttl_ms`); `None`: the configured TTL.
    ttl_ms: Option<u64>,
}

/// A JWKS document as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Document {
    /// The body of the 200 answer.
    pub(crate) body: Vec<u8>,
    /// Its `Cache-Control` header, if any.
    pub(crate) cache_control: Option<String>,
}

/// GETs a JWKS document.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait Fetcher {
    /// The 200 answer from `url` within [`FETCH_TIMEOUT_MS`], or why not.
    async fn fetch(&self, url: &str) -> Result<Document, String>;
    /// A fetch failed for `reason`; the last good keys stay in use.
    fn failed(&self, reason: &str);
    /// A key of the fetched set (`kid`) is not used, for `reason`; the others are.
    fn skipped(&self, kid: &str, reason: &str);
}

/// The time, and waiting.
#[allow(async_fn_in_trait)]
pub(crate) trait Clock {
    /// Now, unix ms.
    fn now_ms(&self) -> u64;
    /// Resolves after about `ms`.
    async fn pause(&self, ms: u64);
}

/// The slot holding the remote key set, shared by every request of the isolate.
pub(crate) trait Cache {
    /// Runs `f` on the slot (no `await` can happen inside, so no request interleaves).
    fn with<R>(&self, f: impl FnOnce(&mut Option<Remote>) -> R) -> R;
}

/// Checks a token's signature.
#[allow(async_fn_in_trait)]
pub(crate) trait Signatures {
    /// Whether any of `candidates` verifies `signature` over `message`.
    async fn verify(&self, candidates: &[&VerifyKey], message: &[u8], signature: &[u8]) -> bool;
}

/// The token verifier over its backends.
pub(crate) struct Verifier<F, C, K, S> {
    pub(crate) fetcher: F,
    pub(crate) clock: C,
    pub(crate) cache: K,
    pub(crate) signatures: S,
}

impl<F: Fetcher, C: Clock, K: Cache, S: Signatures> Verifier<F, C, K, S> {
    /// Verifies `token` at `now_s` against `local` and, when configured, the `remote` JWKS.
    ///
    /// # Errors
    /// The token's [`AuthError`]; 500 `misconfigured` naming `JWT_JWKS_URL` when the
    /// remote keys would take the set over its size limit.
    pub(crate) async fn verify(
        &self,
        token: &str,
        local: &KeySet,
        remote: Option<&RemoteJwks>,
        policy: &JwtPolicy,
        now_s: u64,
    ) -> Result<Identity, Error> {
        let Some(remote) = remote else {
            return Ok(self.check(token, local, policy, now_s).await?);
        };
        let ttl_ms = remote.ttl_ms;
        let keys = self.remote_keys(remote, Reason::IfStale { ttl_ms }).await;
        let outcome = self.check(token, &with(local, &keys)?, policy, now_s).await;
        if outcome != Err(AuthError::UnknownKey) {
            return Ok(outcome?);
        }
        // An unknown kid may be a key the provider has just rotated in.
        let header = jwt::peek_header(token, policy)?;
        if header.kid.is_none_or(|kid| keys.has_kid(&kid)) {
            return Ok(outcome?);
        }
        let min_gap_ms = remote.min_gap_ms;
        let refreshed = self
            .remote_keys(remote, Reason::UnknownKid { min_gap_ms })
            .await;
        Ok(self
            .check(token, &with(local, &refreshed)?, policy, now_s)
            .await?)
    }

    /// `jwt::verify` with the signature checked by [`Signatures`].
    async fn check(
        &self,
        token: &str,
        keys: &KeySet,
        policy: &JwtPolicy,
        now_s: u64,
    ) -> Result<Identity, AuthError> {
        let pending = jwt::prepare(token, keys, policy)?;
        let verified = match pending.signature() {
            Some(sig) => {
                self.signatures
                    .verify(pending.candidates(), pending.message(), sig)
                    .await
            }
            None => false,
        };
        pending.finish_claims(verified, policy, now_s)
    }

    /// The remote keys, after a fetch if [`jwks::decide`] says one is due, or after the
    /// fetch another request has in flight lands.
    async fn remote_keys(&self, remote: &RemoteJwks, reason: Reason) -> KeySet {
        let url = remote.url.as_str();
        loop {
            let now = self.clock.now_ms();
            let action = self.cache.with(|slot| {
                let r = match slot {
                    Some(r) if r.url == url => r,
                    _ => slot.insert(Remote {
                        url: url.to_owned(),
                        keys: KeySet::default(),
                        state: RemoteState::default(),
                        ttl_ms: None,
                    }),
                };
                let reason = match reason {
                    Reason::IfStale { ttl_ms } => Reason::IfStale {
                        ttl_ms: r.ttl_ms.unwrap_or(ttl_ms),
                    },
                    unknown_kid => unknown_kid,
                };
                let action = jwks::decide(r.state, reason, now, FETCH_TIMEOUT_MS);
                if action == Action::Fetch {
                    // Marked before anything awaits: requests arriving meanwhile wait for it.
                    r.state.attempted_ms = Some(now);
                    r.state.in_flight_since = Some(now);
                }
                action
            });
            match action {
                Action::UseCached => return self.cached(url),
                Action::Fetch => return self.fetch_and_keep(url, now, remote.ttl_ms).await,
                Action::Join => self.clock.pause(JOIN_POLL_MS).await,
            }
        }
    }

    fn cached(&self, url: &str) -> KeySet {
        self.cache.with(|slot| {
            slot.as_ref()
                .filter(|r| r.url == url)
                .map(|r| r.keys.clone())
                .unwrap_or_default()
        })
    }

    /// Fetches the JWKS and keeps the result (or, on failure, the last good keys). Keys
    /// that cannot be used are skipped, each reported; the set is kept for the document's
    /// `Cache-Control` max-age within bounds, or the configured TTL.
    async fn fetch_and_keep(&self, url: &str, started: u64, default_ttl_ms: u64) -> KeySet {
        let fetched = self.fetcher.fetch(url).await.and_then(|document| {
            let mut keys = KeySet::default();
            let report = keys
                .add_remote_jwks(&document.body)
                .map_err(|e| e.to_string())?;
            for (kid, why) in &report.skipped {
                self.fetcher.skipped(kid, &why.to_string());
            }
            let ttl = jwks::cache_ttl_ms(document.cache_control.as_deref(), default_ttl_ms);
            Ok((keys, ttl))
        });
        if let Err(reason) = &fetched {
            self.fetcher.failed(reason);
        }
        self.cache.with(|slot| {
            let Some(r) = slot.as_mut().filter(|r| r.url == url) else {
                return fetched.map(|(keys, _)| keys).unwrap_or_default();
            };
            if r.state.in_flight_since == Some(started) {
                r.state.in_flight_since = None;
            }
            if let Ok((keys, ttl_ms)) = fetched {
                r.keys = keys;
                r.state.fetched_ms = Some(started);
                r.ttl_ms = Some(ttl_ms);
            }
            r.keys.clone()
        })
    }
}

/// The configured keys and the remote ones, as one set.
fn with(local: &KeySet, remote: &KeySet) -> Result<KeySet, CommonError> {
    let mut all = local.clone();
    all.extend_from(remote)
        .map_err(|_| CommonError::Misconfigured("JWT_JWKS_URL"))?;
    Ok(all)
}

#[cfg(test)]
mod tests;
