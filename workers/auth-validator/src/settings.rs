//! auth-validator's configuration, read from wrangler vars once per isolate
//! (`edge_glue::config::once_per_isolate`: vars cannot change while an isolate lives).
//! A var that is present but malformed answers `500 misconfigured` naming it: a broken
//! deployment must not silently fall back to a looser default.

use edge_core::auth::cors::CorsPolicy;
use edge_core::auth::jwt::{JwtPolicy, MAX_LEEWAY_S};
use edge_core::auth::rate_limit::RateLimitPolicy;
use edge_core::auth::request_policy::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_METHODS, DEFAULT_PREFIXES, DEFAULT_PUBLIC_PREFIXES,
    MAX_BODY_BYTES_CEILING, RequestPolicy,
};
use std::rc::Rc;

use edge_core::error::CommonError;
use edge_glue::config::{self, optional_var as optional, text_var as text};
use worker::Env;

/// Rate limit of a new API key when the create request names none.
const DEFAULT_KEY_RATE_LIMIT: &str = "600/60";
/// Rate limit of each JWT subject when `JWT_RATE_LIMIT` is unset (`off` turns it off).
const DEFAULT_JWT_RATE_LIMIT: &str = "600/60";

/// Algorithms accepted when `JWT_ALGORITHMS` is unset.
const DEFAULT_ALGORITHMS: &str = "HS256,RS256,EdDSA";
/// Clock leeway when `JWT_LEEWAY_S` is unset.
const DEFAULT_LEEWAY_S: u64 = 30;

/// Everything the gate decides with.
pub(crate) struct Settings {
    pub(crate) policy: RequestPolicy,
    pub(crate) cors: CorsPolicy,
    pub(crate) jwt: JwtPolicy,
    pub(crate) key_rate_limit: RateLimitPolicy,
}

thread_local! {
    static SETTINGS: config::IsolateCell<Settings> = const { config::IsolateCell::new() };
}

impl Settings {
    /// The settings of this isolate, parsed on its first request.
    pub(crate) fn load(env: &Env) -> Result<Rc<Self>, CommonError> {
        config::once_per_isolate(&SETTINGS, env, Self::parse)
    }

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
        let algorithms =
            JwtPolicy::parse_algorithms(&text(env, "JWT_ALGORITHMS", DEFAULT_ALGORITHMS))
                .ok()
                .filter(|a| !a.is_empty())
                .ok_or(CommonError::Misconfigured("JWT_ALGORITHMS"))?;
        let jwt = JwtPolicy {
            algorithms,
            issuer: optional(env, "JWT_ISSUER"),
            audience: optional(env, "JWT_AUDIENCE"),
            leeway_s: config::u64_var(env, "JWT_LEEWAY_S", DEFAULT_LEEWAY_S, 0..=MAX_LEEWAY_S)?,
            rate_limit: match text(env, "JWT_RATE_LIMIT", DEFAULT_JWT_RATE_LIMIT).trim() {
                "off" => None,
                raw => Some(
                    RateLimitPolicy::parse(raw)
                        .ok_or(CommonError::Misconfigured("JWT_RATE_LIMIT"))?,
                ),
            },
        };
        let key_rate_limit = RateLimitPolicy::parse(&text(
            env,
            "API_KEY_DEFAULT_RATE_LIMIT",
            DEFAULT_KEY_RATE_LIMIT,
        ))
        .ok_or(CommonError::Misconfigured("API_KEY_DEFAULT_RATE_LIMIT"))?;
        Ok(Self {
            policy,
            cors,
            jwt,
            key_rate_limit,
        })
    }
}
