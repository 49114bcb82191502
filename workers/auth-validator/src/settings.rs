//! auth-validator's configuration, read from wrangler vars once per isolate
//! (`edge_glue::config::once_per_isolate`: vars cannot change while an isolate lives).
//! A var that is present but malformed answers `500 misconfigured` naming it: a broken
//! deployment must not silently fall back to a looser default. The bearer-token vars
//! (`JWT_*`, `JWKS_*`) refuse only bearer tokens when malformed: `/health` (which reports
//! them as `problems`, `degraded`) and API keys keep working.

use edge_core::auth::claims::ClaimsMapping;
use edge_core::auth::cors::CorsPolicy;
use edge_core::auth::jwks;
use edge_core::auth::jwt::{JwtPolicy, KeySet, MAX_LEEWAY_S};
use edge_core::auth::rate_limit::RateLimitPolicy;
use edge_core::auth::request_policy::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_METHODS, DEFAULT_PREFIXES, DEFAULT_PUBLIC_PREFIXES,
    MAX_BODY_BYTES_CEILING, RequestPolicy,
};

use edge_core::error::CommonError;
use edge_core::health::Problem;
use edge_glue::config::{self, optional_var as optional, text_var as text};
use worker::{Env, console_warn};

use crate::remote_keys::RemoteJwks;

/// Rate limit of a new API key when the create request names none.
const DEFAULT_KEY_RATE_LIMIT: &str = "600/60";
/// Rate limit of each JWT subject when `JWT_RATE_LIMIT` is unset (`off` turns it off).
const DEFAULT_JWT_RATE_LIMIT: &str = "600/60";

/// Algorithms accepted when `JWT_ALGORITHMS` is unset.
const DEFAULT_ALGORITHMS: &str = "HS256,RS256,EdDSA";
/// Clock leeway when `JWT_LEEWAY_S` is unset.
const DEFAULT_LEEWAY_S: u64 = 30;
/// How long a fetched remote JWKS is used when `JWKS_CACHE_TTL_S` is unset, seconds.
const DEFAULT_JWKS_CACHE_TTL_S: u64 = 600;
/// Least time between refreshes for unknown `kid`s when `JWKS_REFRESH_MIN_INTERVAL_S` is
/// unset, seconds.
const DEFAULT_JWKS_REFRESH_MIN_INTERVAL_S: u64 = 30;

/// Everything the gate decides with.
pub(crate) struct Settings {
    pub(crate) policy: RequestPolicy,
    pub(crate) cors: CorsPolicy,
    pub(crate) key_rate_limit: RateLimitPolicy,
    /// The policy and keys bearer tokens are verified with, or the misconfiguration that
    /// refuses every bearer token (requests without one are not affected).
    pub(crate) token_keys: Result<TokenKeys, CommonError>,
}

/// How bearer tokens are checked, and where their keys come from.
pub(crate) struct TokenKeys {
    /// Algorithms, issuer, audience, leeway, rate limit and claims mapping.
    pub(crate) jwt: JwtPolicy,
    /// The secret `JWT_HS256_SECRET` and the inline JWK Set `JWT_JWKS`.
    pub(crate) local: KeySet,
    /// The identity provider's JWKS (`JWT_JWKS_URL`), if configured.
    pub(crate) remote: Option<RemoteJwks>,
}

edge_glue::settings_per_isolate!(Settings);

impl Settings {
    fn parse(env: &Env) -> Result<Self, CommonError> {
        let policy = RequestPolicy::from_config(
            &text(env, "ALLOWED_PATH_PREFIXES", DEFAULT_PREFIXES),
            &text(env, "PUBLIC_PATH_PREFIXES", DEFAULT_PUBLIC_PREFIXES),
            &text(env, "ALLOWED_METHODS", DEFAULT_METHODS),
            config::u64_var(
                env,
                "MAX_BODY_BYTES",
                DEFAULT_MAX_BODY_BYTES,
                1..=MAX_BODY_BYTES_CEILING,
            )?,
        )
        .map_err(|e| CommonError::Misconfigured(e.0))?;
        let cors =
            CorsPolicy::from_config(&text(env, "CORS_ALLOWED_ORIGINS", ""), policy.methods())
                .map_err(|()| CommonError::Misconfigured("CORS_ALLOWED_ORIGINS"))?;
        let key_rate_limit = RateLimitPolicy::parse(&text(
            env,
            "API_KEY_DEFAULT_RATE_LIMIT",
            DEFAULT_KEY_RATE_LIMIT,
        ))
        .ok_or(CommonError::Misconfigured("API_KEY_DEFAULT_RATE_LIMIT"))?;
        Ok(Self {
            policy,
            cors,
            key_rate_limit,
            token_keys: jwt_policy(env).and_then(|jwt| token_keys(env, jwt)),
        })
    }

    /// What this isolate's configuration breaks, for `/health`.
    pub(crate) fn problems(&self) -> Vec<Problem> {
        self.token_keys
            .as_ref()
            .err()
            .map(Problem::of)
            .into_iter()
            .collect()
    }
}

/// The bearer-token policy: `JWT_ALGORITHMS`, `JWT_ISSUER`, `JWT_AUDIENCE`,
/// `JWT_LEEWAY_S`, `JWT_RATE_LIMIT` and the claims mapping `JWT_CLAIMS` (JSON, see
/// `edge_core::auth::claims::ClaimsMapping::parse`).
fn jwt_policy(env: &Env) -> Result<JwtPolicy, CommonError> {
    let algorithms = JwtPolicy::parse_algorithms(&text(env, "JWT_ALGORITHMS", DEFAULT_ALGORITHMS))
        .ok()
        .filter(|a| !a.is_empty())
        .ok_or(CommonError::Misconfigured("JWT_ALGORITHMS"))?;
    let claims = match optional(env, "JWT_CLAIMS") {
        None => ClaimsMapping::default(),
        Some(doc) => ClaimsMapping::parse(&doc).map_err(|e| {
            console_warn!("JWT_CLAIMS refused: {e}");
            CommonError::Misconfigured("JWT_CLAIMS")
        })?,
    };
    Ok(JwtPolicy {
        algorithms,
        issuer: optional(env, "JWT_ISSUER"),
        audience: optional(env, "JWT_AUDIENCE"),
        leeway_s: config::u64_var(env, "JWT_LEEWAY_S", DEFAULT_LEEWAY_S, 0..=MAX_LEEWAY_S)?,
        rate_limit: match text(env, "JWT_RATE_LIMIT", DEFAULT_JWT_RATE_LIMIT).trim() {
            "off" => None,
            raw => Some(
                RateLimitPolicy::parse(raw).ok_or(CommonError::Misconfigured("JWT_RATE_LIMIT"))?,
            ),
        },
        claims,
    })
}

/// The configured keys: `JWT_HS256_SECRET`, `JWT_JWKS`, and `JWT_JWKS_URL` (`https` or
/// loopback `http`, only with `JWT_ISSUER`: keys at a URL are a provider's, shared by all
/// its tenants) with `JWKS_CACHE_TTL_S` and `JWKS_REFRESH_MIN_INTERVAL_S`.
fn token_keys(env: &Env, jwt: JwtPolicy) -> Result<TokenKeys, CommonError> {
    let mut local = KeySet::default();
    if let Ok(secret) = env.secret("JWT_HS256_SECRET") {
        local
            .add_hs256_secret(secret.to_string().as_bytes())
            .map_err(|_| CommonError::Misconfigured("JWT_HS256_SECRET"))?;
    }
    if let Some(doc) = optional(env, "JWT_JWKS") {
        local
            .add_jwks(doc.as_bytes())
            .map_err(|_| CommonError::Misconfigured("JWT_JWKS"))?;
    }
    let Some(url) = optional(env, "JWT_JWKS_URL") else {
        return Ok(TokenKeys {
            jwt,
            local,
            remote: None,
        });
    };
    if !jwks::url_allowed(&url) {
        return Err(CommonError::Misconfigured("JWT_JWKS_URL"));
    }
    if jwt.issuer.is_none() {
        return Err(CommonError::Misconfigured("JWT_ISSUER"));
    }
    let seconds = |name, default, range| config::u64_var(env, name, default, range);
    let ttl_s = seconds("JWKS_CACHE_TTL_S", DEFAULT_JWKS_CACHE_TTL_S, 1..=86_400)?;
    let min_gap_s = seconds(
        "JWKS_REFRESH_MIN_INTERVAL_S",
        DEFAULT_JWKS_REFRESH_MIN_INTERVAL_S,
        jwks::MIN_REFRESH_INTERVAL_FLOOR_S..=3_600,
    )?;
    Ok(TokenKeys {
        jwt,
        local,
        remote: Some(RemoteJwks {
            url,
            ttl_ms: ttl_s * 1000,
            min_gap_ms: min_gap_s * 1000,
        }),
    })
}
