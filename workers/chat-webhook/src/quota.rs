//! The per-user quota on paid AI calls: one `AiQuota` Durable Object per user and channel
//! (`edge_core::chat::quota::bucket`), holding the exact sliding-window log shared with
//! auth-validator's rate limiter (`edge_glue::window_log`). Checked by [`crate::ai`] only
//! when a paid provider is about to be called.

use edge_glue::window_log::WindowLog;
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

/// The Durable Object namespace of per-user quota logs.
pub(crate) const QUOTA_BINDING: &str = "AI_QUOTA";

/// One user's (on one channel) log of paid AI calls.
#[durable_object]
pub struct AiQuota {
    log: WindowLog,
}

impl DurableObject for AiQuota {
    fn new(state: State, _env: Env) -> Self {
        Self {
            log: WindowLog::new(&state),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        self.log.fetch(req).await
    }
}
