//! The per-user quota on paid AI calls: one `AiQuota` Durable Object per user and channel
//! (`edge_core::chat::quota::bucket`), holding the exact sliding-window log shared with
//! auth-validator's rate limiter (`edge_glue::window_log`). Checked by [`crate::ai`] only
//! when a paid provider is about to be called. The same class keeps the web chat's
//! per-address window logs and live-session sets ([`crate::live`], path `/live`).

use edge_glue::window_log::WindowLog;
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

/// The Durable Object namespace of per-user quota logs.
pub(crate) const QUOTA_BINDING: &str = "AI_QUOTA";

/// One user's (on one channel) log of paid AI calls.
#[durable_object]
pub struct AiQuota {
    log: WindowLog,
    /// The web chat's live-session set of one address ([`crate::live`]), in the same
    /// object class (its own bucket names, its own table).
    sql: worker::SqlStorage,
}

impl DurableObject for AiQuota {
    fn new(state: State, _env: Env) -> Self {
        Self {
            log: WindowLog::new(&state),
            sql: state.storage().sql(),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if req.path() == crate::live::LIVE_PATH {
            return crate::live::serve(&self.sql, req).await;
        }
        self.log.fetch(req).await
    }
}
