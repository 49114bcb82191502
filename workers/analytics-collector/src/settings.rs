//! analytics-collector's configuration, parsed once per isolate
//! (`edge_glue::config::once_per_isolate`: vars cannot change while an isolate lives).
//!
//! Each setting keeps its own outcome, so a bad var refuses only what needs it, as
//! `misconfigured` naming the var: without a usable `ADMIN_SECRET` every read is closed
//! while ingest goes on; a malformed `BODY_TIMEOUT_MS` refuses the requests with a body.
//! Defaults live in the code (`edge_glue::body::DEFAULT_BODY_TIMEOUT_MS`), not in
//! `wrangler/analytics-collector.toml`.

use edge_core::admin;
use edge_core::error::CommonError;
use edge_glue::admin::ADMIN_SECRET;
use edge_glue::{body, config};
use worker::Env;

/// What the collector reads from its vars and secrets.
pub(crate) struct Settings {
    /// `ADMIN_SECRET`: the operators' credential and the key of sessions and seals; set and
    /// long enough (`edge_core::admin::check_configured`).
    admin_secret: Result<String, CommonError>,
    /// `BODY_TIMEOUT_MS`: how long a request body may take to arrive.
    body_timeout_ms: Result<u64, CommonError>,
}

edge_glue::settings_per_isolate!(Settings);

impl Settings {
    /// Reads every var; never fails: each var's error is kept for the requests that need it
    /// (the `Result` is the per-isolate cell's).
    fn parse(env: &Env) -> Result<Self, CommonError> {
        Ok(Self {
            admin_secret: config::required_string(env, ADMIN_SECRET)
                .and_then(|s| admin::check_configured(&s).map(|()| s)),
            body_timeout_ms: body::timeout_ms(env),
        })
    }

    /// The admin secret.
    ///
    /// # Errors
    /// [`CommonError::Misconfigured`] (`ADMIN_SECRET`) when it is unset, empty or short.
    pub(crate) fn admin_secret(&self) -> Result<&str, CommonError> {
        self.admin_secret.as_deref().map_err(Clone::clone)
    }

    /// The body deadline, ms.
    ///
    /// # Errors
    /// [`CommonError::Misconfigured`] (`BODY_TIMEOUT_MS`) when it is malformed.
    pub(crate) fn body_timeout_ms(&self) -> Result<u64, CommonError> {
        self.body_timeout_ms.clone()
    }
}
