//! The worker's bindings of [`crate::backends`]: D1 for the [`ChatStore`] (queries in
//! [`crate::db`]), KV for the [`AnswerCache`], the `AiQuota` Durable Objects for the
//! [`QuotaGate`], `fetch` for [`crate::backends::Outbound`] ([`Fetch`]), the runtime's
//! clock, and this isolate's provider breakers.

use std::rc::Rc;
use std::time::Duration;

use edge_core::auth::rate_limit::{RateDecision, RateLimitPolicy};
use edge_core::chat::completion::Role;
use edge_core::chat::intent::Language;
use edge_core::metric::{MetricEvent, Observation};
use edge_core::{RequestId, ServiceName};
use edge_glue::window_log;
use worker::{D1Database, Delay, Env, kv::KvStore};

use crate::ai::Breakers;
use crate::backends::{
    AnswerCache, BackendError, ChatStore, Claim, Clock, Customer, Exchange, Io, NewCustomer,
    Product, QuotaGate,
};
use crate::db;
use crate::log;
use crate::outbound::Fetch;
use crate::quota::QUOTA_BINDING;

/// The KV namespace of cached answers.
const CACHE_BINDING: &str = "AI_CACHE";

thread_local! {
    /// The provider breakers of this isolate.
    static BREAKERS: Rc<Breakers> = Rc::new(Breakers::default());
}

/// The provider breakers of this isolate.
pub(crate) fn breakers() -> Rc<Breakers> {
    BREAKERS.with(Rc::clone)
}

/// Reports this isolate's pending AI credential refusals to analytics-collector: each one a
/// metric event of chat-webhook with path `/ai/<provider>`, the provider's 401/403 as its
/// status and decision `credential_refused` (the dashboard's chat-webhook 4xx; the event by
/// its request id, which is logged).
pub(crate) async fn report_refusals(env: &Env) {
    for r in breakers().take_refusals() {
        let name: String = r
            .provider
            .chars()
            .take(24)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let id = RequestId::parse(&format!("ai-refused-{name}-{}", r.finished_ms))
            .unwrap_or_else(|| RequestId::from_clock(r.finished_ms));
        let event = MetricEvent::from_observation(Observation {
            worker: ServiceName::ChatWebhook,
            request_id: &id,
            method: "POST",
            path: &format!("/ai/{name}"),
            status: r.status,
            started_ms: r.started_ms,
            finished_ms: r.finished_ms,
            country: None,
            colo: None,
            decision: Some("credential_refused"),
            route: None,
        });
        log::info(&format!(
            "ai provider {} credential refusal reported to analytics as request {}",
            r.provider,
            id.as_str()
        ));
        edge_glue::metrics::enqueue(env, event).await;
    }
}

/// The runtime's clock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        edge_glue::now_ms()
    }

    async fn sleep(&self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }
}

/// The answer cache in KV; without the binding, every lookup misses and nothing is stored.
pub(crate) struct KvCache(Option<KvStore>);

impl AnswerCache for KvCache {
    async fn get(&self, key: &str) -> Option<String> {
        self.0.as_ref()?.get(key).text().await.ok().flatten()
    }

    async fn put(&self, key: &str, text: &str, ttl_s: u64) {
        let Some(kv) = &self.0 else { return };
        let written = match kv.put(key, text) {
            Ok(put) => put.expiration_ttl(ttl_s).execute().await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            log::warn(&format!("ai cache write failed: {e}"));
        }
    }
}

/// The per-user quota in `AiQuota` Durable Objects.
pub(crate) struct DoQuota(Env);

impl QuotaGate for DoQuota {
    async fn check(
        &self,
        bucket: &str,
        policy: RateLimitPolicy,
    ) -> Result<RateDecision, BackendError> {
        window_log::check(&self.0, QUOTA_BINDING, bucket, policy)
            .await
            .map_err(|e| BackendError(e.to_string()))
    }
}

/// The chat IO of this worker.
pub(crate) type WorkerIo = Io<Fetch, KvCache, DoQuota, SystemClock>;

/// The chat IO bound to `env`.
pub(crate) fn io(env: &Env) -> WorkerIo {
    Io {
        net: Fetch,
        cache: KvCache(env.kv(CACHE_BINDING).ok()),
        quota: DoQuota(env.clone()),
        clock: SystemClock,
        breakers: breakers(),
    }
}

/// The chat data in D1.
pub(crate) struct D1Store(pub(crate) D1Database);

fn backend(e: worker::Error) -> BackendError {
    BackendError(e.to_string())
}

impl ChatStore for D1Store {
    async fn claim(
        &self,
        event_id: &str,
        event_type: &str,
        now: u64,
        stale_ms: u64,
    ) -> Result<Claim, BackendError> {
        db::claim(&self.0, event_id, event_type, now, stale_ms)
            .await
            .map_err(backend)
    }

    async fn release(&self, event_id: &str) -> Result<(), BackendError> {
        db::release(&self.0, event_id).await.map_err(backend)
    }

    async fn mark_done(&self, event_id: &str, now: u64) -> Result<(), BackendError> {
        db::mark_done(&self.0, event_id, now).await.map_err(backend)
    }

    async fn customer(&self, key: &str) -> Result<Option<Customer>, BackendError> {
        db::customer(&self.0, key).await.map_err(backend)
    }

    async fn create_customer(
        &self,
        c: &NewCustomer<'_>,
        now: u64,
    ) -> Result<Customer, BackendError> {
        db::create_customer(&self.0, c, now).await.map_err(backend)
    }

    async fn set_following(
        &self,
        line_user_id: &str,
        following: bool,
        now: u64,
    ) -> Result<(), BackendError> {
        db::set_following(&self.0, line_user_id, following, now)
            .await
            .map_err(backend)
    }

    async fn active_conversation(
        &self,
        customer: &Customer,
        key: &str,
        lang: Language,
        now: u64,
    ) -> Result<String, BackendError> {
        db::active_conversation(&self.0, customer, key, lang, now)
            .await
            .map_err(backend)
    }

    async fn history(
        &self,
        conversation_id: &str,
        limit: usize,
    ) -> Result<Vec<(Role, String)>, BackendError> {
        db::history(&self.0, conversation_id, limit)
            .await
            .map_err(backend)
    }

    async fn store_exchange(&self, x: &Exchange<'_>, now: u64) -> Result<(), BackendError> {
        db::store_exchange(&self.0, x, now).await.map_err(backend)
    }

    async fn unsend(
        &self,
        chat_key: &str,
        line_message_id: &str,
        now: u64,
    ) -> Result<u64, BackendError> {
        db::unsend(&self.0, chat_key, line_message_id, now)
            .await
            .map_err(backend)
    }

    async fn products(&self, all: bool, limit: usize) -> Result<Vec<Product>, BackendError> {
        db::products(&self.0, all, limit).await.map_err(backend)
    }

    async fn product(&self, id: &str) -> Result<Option<Product>, BackendError> {
        db::product(&self.0, id).await.map_err(backend)
    }
}
