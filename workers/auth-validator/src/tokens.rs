//! Verifying bearer tokens: assembling the key set and keeping a remote JWKS fresh.
//!
//! Keys come from three optional places: the secret `JWT_HS256_SECRET`, the var
//! `JWT_JWKS` (an inline JWK Set of public keys), and the var `JWT_JWKS_URL` (an identity
//! provider's JWKS, fetched and kept in this isolate for `JWKS_CACHE_TTL_S`, default 600).
//!
//! Rotation: a token whose `kid` is unknown makes the worker refetch the JWKS at once,
//! at most once per `JWKS_REFRESH_MIN_INTERVAL_S` (default 30, never under 1 s), so a
//! provider's new key works from its first token while a stream of forged `kid`s cannot
//! hammer the provider. Fetches are single-flight (`edge_core::auth::jwks::decide`): the
//! first request marks the fetch in flight before awaiting it, and every concurrent
//! request joins that one fetch. A failed fetch keeps the last good keys.
//!
//! A remote JWKS must be `https` (or loopback `http`, for local development), requires
//! `JWT_ISSUER`, and contributes only asymmetric keys.
//!
//! Signatures are checked by `edge_glue::webcrypto` (RS256 and EdDSA in WebCrypto with the
//! keys imported once per isolate and reused across JWKS refreshes; HS256 in wasm).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use edge_core::auth::AuthError;
use edge_core::auth::Identity;
use edge_core::auth::jwks::{self, Action, Reason, RemoteState};
use edge_core::auth::jwt::{self, JwtPolicy, KeySet, MAX_JWKS_BYTES};
use edge_core::error::CommonError;
use edge_glue::config::optional_var as optional;
use edge_glue::{body, config, hop, now_ms, webcrypto};
use worker::{Delay, Env, Method, Request, RequestInit, console_warn};

use crate::rejection::Rejection;

/// Longest a JWKS fetch may take, in milliseconds.
const JWKS_FETCH_TIMEOUT_MS: u64 = 5_000;
/// How often a request waiting for another request's fetch looks again, ms.
const JOIN_POLL_MS: u64 = 20;

/// The remote key set of this isolate.
struct Remote {
    url: String,
    keys: KeySet,
    fetched_ms: Option<u64>,
    attempted_ms: Option<u64>,
    in_flight_since: Option<u64>,
}

impl Remote {
    fn state(&self) -> RemoteState {
        RemoteState {
            fetched_ms: self.fetched_ms,
            attempted_ms: self.attempted_ms,
            in_flight_since: self.in_flight_since,
        }
    }
}

thread_local! {
    static REMOTE: RefCell<Option<Remote>> = const { RefCell::new(None) };
}

/// Verifies `token` at `now_s` against every configured key.
pub(crate) async fn verify(
    env: &Env,
    token: &str,
    policy: &JwtPolicy,
    now_s: u64,
) -> Result<Identity, Rejection> {
    let local = local_keys(env)?;
    let Some(url) = optional(env, "JWT_JWKS_URL") else {
        return Ok(check(token, &local, policy, now_s).await?);
    };
    if !jwks::url_allowed(&url) {
        return Err(CommonError::Misconfigured("JWT_JWKS_URL").into());
    }
    if policy.issuer.is_none() {
        // Keys from a URL are the provider's; without an issuer check, a token from any
        // tenant of the same provider would do.
        return Err(CommonError::Misconfigured("JWT_ISSUER").into());
    }
    let ttl_ms = config::u64_var(env, "JWKS_CACHE_TTL_S", 600, 1..=86_400)? * 1000;
    let min_gap_ms = config::u64_var(
        env,
        "JWKS_REFRESH_MIN_INTERVAL_S",
        30,
        jwks::MIN_REFRESH_INTERVAL_FLOOR_S..=3_600,
    )? * 1000;
    let remote = remote_keys(&url, Reason::IfStale { ttl_ms }).await;
    let outcome = check(token, &with(&local, &remote)?, policy, now_s).await;
    if outcome != Err(AuthError::UnknownKey) {
        return Ok(outcome?);
    }
    // An unknown kid may be a key the provider has just rotated in.
    let header = jwt::peek_header(token, policy)?;
    if header.kid.is_none_or(|kid| remote.has_kid(&kid)) {
        return Ok(outcome?);
    }
    let refreshed = remote_keys(&url, Reason::UnknownKid { min_gap_ms }).await;
    Ok(check(token, &with(&local, &refreshed)?, policy, now_s).await?)
}

/// `jwt::verify` with the signature checked by `edge_glue::webcrypto` (RSA and Ed25519 in
/// WebCrypto with keys imported once per isolate, HMAC in wasm).
async fn check(
    token: &str,
    keys: &KeySet,
    policy: &JwtPolicy,
    now_s: u64,
) -> Result<Identity, AuthError> {
    let pending = jwt::prepare(token, keys, policy)?;
    let verified = match pending.signature() {
        Some(sig) => webcrypto::verify_any(pending.candidates(), pending.message(), sig).await,
        None => false,
    };
    pending.finish_claims(verified, policy, now_s)
}

/// The configuration the local key set was built from: the HS256 secret and `JWT_JWKS`.
type LocalConfig = (Option<String>, Option<String>);

thread_local! {
    static LOCAL: RefCell<Option<(LocalConfig, Rc<KeySet>)>> = const { RefCell::new(None) };
}

/// The keys configured in this worker's own vars and secrets, built once per isolate for
/// each distinct configuration (not parsed again on every request).
fn local_keys(env: &Env) -> Result<Rc<KeySet>, CommonError> {
    let config: LocalConfig = (
        env.secret("JWT_HS256_SECRET").ok().map(|s| s.to_string()),
        optional(env, "JWT_JWKS"),
    );
    if let Some(keys) = LOCAL.with_borrow(|c| {
        c.as_ref()
            .filter(|(built_from, _)| *built_from == config)
            .map(|(_, keys)| Rc::clone(keys))
    }) {
        return Ok(keys);
    }
    let mut keys = KeySet::default();
    if let Some(secret) = &config.0 {
        keys.add_hs256_secret(secret.as_bytes())
            .map_err(|_| CommonError::Misconfigured("JWT_HS256_SECRET"))?;
    }
    if let Some(doc) = &config.1 {
        keys.add_jwks(doc.as_bytes())
            .map_err(|_| CommonError::Misconfigured("JWT_JWKS"))?;
    }
    let keys = Rc::new(keys);
    LOCAL.with_borrow_mut(|c| *c = Some((config, Rc::clone(&keys))));
    Ok(keys)
}

fn with(local: &KeySet, remote: &KeySet) -> Result<KeySet, CommonError> {
    let mut all = local.clone();
    all.extend_from(remote)
        .map_err(|_| CommonError::Misconfigured("JWT_JWKS_URL"))?;
    Ok(all)
}

/// The remote keys, after a fetch if [`jwks::decide`] says one is due, or after the
/// fetch another request has in flight lands.
async fn remote_keys(url: &str, reason: Reason) -> KeySet {
    loop {
        let now = now_ms();
        let action = REMOTE.with_borrow_mut(|slot| {
            let r = match slot {
                Some(r) if r.url == url => r,
                _ => slot.insert(Remote {
                    url: url.to_owned(),
                    keys: KeySet::default(),
                    fetched_ms: None,
                    attempted_ms: None,
                    in_flight_since: None,
                }),
            };
            let action = jwks::decide(r.state(), reason, now, JWKS_FETCH_TIMEOUT_MS);
            if action == Action::Fetch {
                // Marked before anything awaits: requests arriving meanwhile wait for it.
                r.attempted_ms = Some(now);
                r.in_flight_since = Some(now);
            }
            action
        });
        match action {
            Action::UseCached => return cached(url),
            Action::Fetch => return fetch_and_keep(url, now).await,
            Action::Join => Delay::from(Duration::from_millis(JOIN_POLL_MS)).await,
        }
    }
}

fn cached(url: &str) -> KeySet {
    REMOTE.with_borrow(|slot| {
        slot.as_ref()
            .filter(|r| r.url == url)
            .map(|r| r.keys.clone())
            .unwrap_or_default()
    })
}

/// Fetches the JWKS and keeps the result (or, on failure, the last good keys).
async fn fetch_and_keep(url: &str, started: u64) -> KeySet {
    let fetched = fetch_jwks(url).await;
    REMOTE.with_borrow_mut(|slot| {
        let Some(r) = slot.as_mut().filter(|r| r.url == url) else {
            return fetched.unwrap_or_default();
        };
        if r.in_flight_since == Some(started) {
            r.in_flight_since = None;
        }
        match fetched {
            Ok(keys) => {
                r.keys = keys;
                r.fetched_ms = Some(started);
            }
            Err(reason) => {
                console_warn!("jwks fetch failed ({reason}); keeping the last good keys");
            }
        }
        r.keys.clone()
    })
}

async fn fetch_jwks(url: &str) -> Result<KeySet, String> {
    let mut init = RequestInit::new();
    init.with_method(Method::Get);
    let req = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
    let mut resp = hop::call_origin(req, JWKS_FETCH_TIMEOUT_MS)
        .await
        .map_err(|e| e.to_string())?;
    if resp.status_code() != 200 {
        return Err(format!("status {}", resp.status_code()));
    }
    let bytes = body::read_capped(&mut resp, MAX_JWKS_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    let mut keys = KeySet::default();
    keys.add_remote_jwks(&bytes).map_err(|e| e.to_string())?;
    Ok(keys)
}
