//! voice-router's configuration, from wrangler vars.
//!
//! Parsed once per isolate (`edge_glue::config::once_per_isolate`), the routing table
//! included; an invalid var answers `500 misconfigured` naming it, never a fallback.

use edge_core::error::CommonError;
use edge_core::routing::breaker::BreakerConfig;
use edge_core::routing::table::{DEFAULT_TABLE, RoutingTable};
use edge_glue::config;
use edge_glue::hop::DEFAULT_UPSTREAM_TIMEOUT_MS;
use worker::{Env, console_error};

/// How long an isolate uses its copy of the region health map when `HEALTH_CACHE_MS` is
/// unset, ms.
const DEFAULT_HEALTH_CACHE_MS: u64 = 1_000;
/// The path the scheduled probe asks each region for when `HEALTH_PROBE_PATH` is unset.
const DEFAULT_PROBE_PATH: &str = "/health";

/// Everything the router decides with.
pub(crate) struct Settings {
    pub(crate) table: RoutingTable,
    pub(crate) breaker: BreakerConfig,
    pub(crate) timeout_ms: u64,
    pub(crate) health_cache_ms: u64,
    pub(crate) probe_path: String,
    pub(crate) app_origin: Option<String>,
}

edge_glue::settings_per_isolate!(Settings);

impl Settings {
    fn parse(env: &Env) -> Result<Self, CommonError> {
        Ok(Self {
            table: table(env)?,
            breaker: config::breaker(
                env,
                &config::BreakerVars {
                    failures: "BREAKER_FAILURES",
                    recovery_ms: "BREAKER_RECOVERY_MS",
                    slow_ms: Some("BREAKER_SLOW_MS"),
                },
            )?,
            timeout_ms: config::u64_var(
                env,
                "ORIGIN_TIMEOUT_MS",
                DEFAULT_UPSTREAM_TIMEOUT_MS,
                1..=300_000,
            )?,
            health_cache_ms: config::u64_var(
                env,
                "HEALTH_CACHE_MS",
                DEFAULT_HEALTH_CACHE_MS,
                0..=60_000,
            )?,
            probe_path: config::text_var(env, "HEALTH_PROBE_PATH", DEFAULT_PROBE_PATH),
            app_origin: config::optional_var(env, "APP_ORIGIN"),
        })
    }
}

fn table(env: &Env) -> Result<RoutingTable, CommonError> {
    let text = config::text_var(env, "ROUTING_TABLE", DEFAULT_TABLE);
    RoutingTable::parse(&text).map_err(|e| {
        console_error!("{e}");
        CommonError::Misconfigured("ROUTING_TABLE")
    })
}
