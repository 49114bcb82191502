//! Verifying bearer tokens: assembling the key set and keeping a remote JWKS fresh.
//!
//! Keys come from three optional places: the secret `JWT_HS256_SECRET`, the var
//! `JWT_JWKS` (an inline JWK Set of public keys), and the var `JWT_JWKS_URL` (an identity
//! provider's JWKS, fetched and kept in this isolate for `JWKS_CACHE_TTL_S`, default 600).
//!
//! Rotation: a token whose `kid` is unknown makes the worker refetch the JWKS at once,
//! at most once per `JWKS_REFRESH_MIN_INTERVAL_S` (default 30), so a provider's new key
//! works from its first token while a stream of forged `kid`s cannot hammer the provider.
//! A failed fetch keeps the last good keys.

use std::cell::RefCell;
use std::rc::Rc;

use edge_core::auth::AuthError;
use edge_core::auth::Identity;
use edge_core::auth::jwt::{self, JwtPolicy, KeySet, MAX_JWKS_BYTES};
use edge_core::error::CommonError;
use edge_glue::config::optional_var as optional;
use edge_glue::{body, config, hop, now_ms};
use worker::{Env, Method, Request, RequestInit, console_warn};

use crate::rejection::Rejection;

/// Longest a JWKS fetch may take, in milliseconds.
const JWKS_FETCH_TIMEOUT_MS: u64 = 5_000;

/// The remote key set of this isolate.
struct Remote {
    url: String,
    keys: KeySet,
    fetched_ms: Option<u64>,
    attempted_ms: u64,
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
        return Ok(jwt::verify(token, &local, policy, now_s)?);
    };
    let ttl_ms = config::u64_var(env, "JWKS_CACHE_TTL_S", 600, 1..=86_400)? * 1000;
    let min_gap_ms = config::u64_var(env, "JWKS_REFRESH_MIN_INTERVAL_S", 30, 0..=3_600)? * 1000;
    let remote = remote_keys(&url, Refresh::IfStale { ttl_ms }).await;
    let outcome = jwt::verify(token, &with(&local, &remote)?, policy, now_s);
    if outcome != Err(AuthError::UnknownKey) {
        return Ok(outcome?);
    }
    // An unknown kid may be a key the provider has just rotated in.
    let header = jwt::peek_header(token, policy)?;
    if header.kid.is_none_or(|kid| remote.has_kid(&kid)) {
        return Ok(outcome?);
    }
    let refreshed = remote_keys(&url, Refresh::UnknownKid { min_gap_ms }).await;
    Ok(jwt::verify(
        token,
        &with(&local, &refreshed)?,
        policy,
        now_s,
    )?)
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

#[derive(Clone, Copy)]
enum Refresh {
    /// Fetch when nothing is cached or the cache is older than `ttl_ms`.
    IfStale { ttl_ms: u64 },
    /// Fetch unless the last attempt was less than `min_gap_ms` ago.
    UnknownKid { min_gap_ms: u64 },
}

/// The remote keys, fetched first if `refresh` says so.
async fn remote_keys(url: &str, refresh: Refresh) -> KeySet {
    let now = now_ms();
    let (cached, due) = REMOTE.with_borrow(|slot| match slot.as_ref().filter(|r| r.url == url) {
        None => (KeySet::default(), true),
        Some(r) => {
            let due = match refresh {
                Refresh::IfStale { ttl_ms } => {
                    r.fetched_ms.is_none_or(|t| now.saturating_sub(t) >= ttl_ms)
                        && now.saturating_sub(r.attempted_ms) >= 1_000
                }
                Refresh::UnknownKid { min_gap_ms } => {
                    now.saturating_sub(r.attempted_ms) >= min_gap_ms
                }
            };
            (r.keys.clone(), due)
        }
    });
    if !due {
        return cached;
    }
    let fetched = fetch_jwks(url).await;
    REMOTE.with_borrow_mut(|slot| {
        let keep = slot.take().filter(|r| r.url == url);
        let (keys, fetched_ms) = match fetched {
            Ok(keys) => (keys, Some(now)),
            Err(reason) => {
                console_warn!("jwks fetch failed ({reason}); keeping the last good keys");
                keep.map_or((KeySet::default(), None), |r| (r.keys, r.fetched_ms))
            }
        };
        *slot = Some(Remote {
            url: url.to_owned(),
            keys: keys.clone(),
            fetched_ms,
            attempted_ms: now,
        });
        keys
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
    keys.add_jwks(&bytes).map_err(|e| e.to_string())?;
    Ok(keys)
}
