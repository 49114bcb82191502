//! cache-manager's configuration: every var its own code reads, parsed once per isolate,
//! each default in the code (the wrangler file does not repeat them). A malformed var
//! answers `misconfigured` naming it. (`ADMIN_SECRET`, `HEALTH_TIMEOUT_MS` and
//! `METRICS_FLUSH_MS` are read by the glue that uses them.)

use edge_core::cache::decide::{DEFAULT_MAX_ENTRY_BYTES, SetCookie};
use edge_core::cache::policy::{DEFAULT_POLICIES, PolicyTable};

use edge_core::error::CommonError;
use edge_glue::config;
use worker::Env;

/// Largest entry the store accepts (KV values are at most 25 MiB).
const MAX_ENTRY_CEILING: u64 = 25 * 1024 * 1024;

/// What cache-manager runs with.
pub(crate) struct Settings {
    /// `CACHE_TTL_POLICIES`: per-path lifetimes where the origin gives none, and paths
    /// never cached (default [`DEFAULT_POLICIES`]).
    pub(crate) policies: PolicyTable,
    /// `CACHE_MAX_ENTRY_BYTES`: largest body stored (default [`DEFAULT_MAX_ENTRY_BYTES`]).
    pub(crate) max_entry_bytes: usize,
    /// `UPSTREAM_TIMEOUT_MS`: the wait for voice-router's answer, and a coalesced
    /// request's for its leader's (default `hop::DEFAULT_UPSTREAM_TIMEOUT_MS`).
    pub(crate) timeout_ms: u64,
    /// `CACHE_SET_COOKIE`: `refuse` (default) never stores a response that sets a cookie;
    /// `strip` stores it without the cookie (see [`SetCookie`]).
    pub(crate) set_cookie: SetCookie,
    /// `BODY_TIMEOUT_MS`: the wait for a purge request's body (default
    /// `body::DEFAULT_BODY_TIMEOUT_MS`).
    pub(crate) body_timeout_ms: u64,
}

edge_glue::settings_per_isolate!(Settings);

impl Settings {
    fn parse(env: &Env) -> Result<Self, CommonError> {
        let raw = config::text_var(env, "CACHE_TTL_POLICIES", DEFAULT_POLICIES);
        let policies = PolicyTable::parse(&raw)
            .map_err(|()| CommonError::Misconfigured("CACHE_TTL_POLICIES"))?;
        let max_entry_bytes = config::u64_var(
            env,
            "CACHE_MAX_ENTRY_BYTES",
            DEFAULT_MAX_ENTRY_BYTES,
            1..=MAX_ENTRY_CEILING,
        )?;
        let set_cookie = SetCookie::parse(&config::text_var(env, "CACHE_SET_COOKIE", "refuse"))
            .map_err(|()| CommonError::Misconfigured("CACHE_SET_COOKIE"))?;
        Ok(Self {
            policies,
            set_cookie,
            max_entry_bytes: usize::try_from(max_entry_bytes).unwrap_or(usize::MAX),
            timeout_ms: edge_glue::hop::upstream_timeout_ms(env)?,
            body_timeout_ms: edge_glue::body::timeout_ms(env)?,
        })
    }
}
