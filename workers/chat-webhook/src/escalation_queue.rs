//! The worker's side of escalation ([`crate::escalation`]): the ledger in D1
//! ([`D1Ledger`]), the `chat-escalations` queue ([`QueueEscalator`], the producer; [`consume`]
//! and [`consume_dead`], the consumers of the queue and of its dead-letter queue), and the
//! scheduled sweeper ([`sweep_pending`]).

use edge_core::chat::support::Escalation;
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, js_sys};

use crate::backends::BackendError;
use crate::escalation::{
    self, Delivery, EscalationQueue, Escalator, Ledger, LedgerClaim, Recorded,
};
use crate::outbound::Fetch;
use crate::settings::EscalationSettings;

/// The queue's producer binding.
pub(crate) const QUEUE_BINDING: &str = "CHAT_ESCALATIONS";

fn d1(e: worker::Error) -> BackendError {
    BackendError(format!("D1: {e}"))
}

fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

fn n(v: u64) -> JsValue {
    JsValue::from_f64(v as f64)
}

/// The escalation ledger in D1 (`escalations`, migration 0003).
pub(crate) struct D1Ledger(pub(crate) D1Database);

#[derive(Deserialize)]
struct ClaimRow {
    attempts: f64,
    delivered_to: String,
}

#[derive(Deserialize)]
struct StatusRow {
    status: String,
}

#[derive(Deserialize)]
struct BodyRow {
    body: String,
}

impl D1Ledger {
    async fn status(&self, key: &str) -> Result<Option<String>, BackendError> {
        let row: Option<StatusRow> = self
            .0
            .prepare("SELECT status FROM escalations WHERE key = ?1")
            .bind(&[s(key)])
            .map_err(d1)?
            .first(None)
            .await
            .map_err(d1)?;
        Ok(row.map(|r| r.status))
    }

    async fn changes(&self, sql: &str, args: &[JsValue]) -> Result<u64, BackendError> {
        let r = self
            .0
            .prepare(sql)
            .bind(args)
            .map_err(d1)?
            .run()
            .await
            .map_err(d1)?;
        Ok(r.meta().map_err(d1)?.and_then(|m| m.changes).unwrap_or(0) as u64)
    }
}

impl Ledger for D1Ledger {
    async fn record(&self, e: &Escalation, now: u64) -> Result<Recorded, BackendError> {
        let body = serde_json::to_string(e).map_err(|x| BackendError(x.to_string()))?;
        let inserted = self
            .changes(
                "INSERT INTO escalations (key, ticket_id, session_id, status, attempts, created_at, body, updated_at)
                 VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?5, ?4) ON CONFLICT (key) DO NOTHING",
                &[s(&e.key), s(&e.ticket_id), s(&e.session_id), n(now), s(&body)],
            )
            .await?;
        if inserted == 1 {
            return Ok(Recorded::New);
        }
        Ok(match self.status(&e.key).await?.as_deref() {
            Some("pending") => Recorded::Pending,
            _ => Recorded::Settled,
        })
    }

    async fn claim(&self, key: &str, now: u64, lease_ms: u64) -> Result<LedgerClaim, BackendError> {
        let row: Option<ClaimRow> = self
            .0
            .prepare(
                "UPDATE escalations SET claimed_until = ?2, attempts = attempts + 1, updated_at = ?3
                 WHERE key = ?1 AND status = 'pending' AND (claimed_until IS NULL OR claimed_until < ?3)
                 RETURNING attempts, delivered_to",
            )
            .bind(&[s(key), n(now.saturating_add(lease_ms)), n(now)])
            .map_err(d1)?
            .first(None)
            .await
            .map_err(d1)?;
        if let Some(r) = row {
            return Ok(LedgerClaim::Taken {
                attempts: r.attempts as u32,
                delivered_to: serde_json::from_str(&r.delivered_to).unwrap_or_default(),
            });
        }
        Ok(match self.status(key).await?.as_deref() {
            None => LedgerClaim::Missing,
            Some("pending") => LedgerClaim::Busy,
            Some(_) => LedgerClaim::Settled,
        })
    }

    async fn delivered_to(
        &self,
        key: &str,
        names: &[String],
        now: u64,
    ) -> Result<(), BackendError> {
        let names = serde_json::to_string(names).map_err(|x| BackendError(x.to_string()))?;
        self.changes(
            "UPDATE escalations SET delivered_to = ?2, updated_at = ?3 WHERE key = ?1",
            &[s(key), s(&names), n(now)],
        )
        .await
        .map(drop)
    }

    async fn settle(&self, key: &str, now: u64) -> Result<(), BackendError> {
        self.changes(
            "UPDATE escalations SET status = 'delivered', delivered_at = ?2, claimed_until = NULL,
             last_error = NULL, updated_at = ?2 WHERE key = ?1 AND status = 'pending'",
            &[s(key), n(now)],
        )
        .await
        .map(drop)
    }

    async fn release(&self, key: &str, error: &str, now: u64) -> Result<(), BackendError> {
        let error: String = error.chars().take(500).collect();
        self.changes(
            "UPDATE escalations SET claimed_until = NULL, last_error = ?2, updated_at = ?3
             WHERE key = ?1 AND status = 'pending'",
            &[s(key), s(&error), n(now)],
        )
        .await
        .map(drop)
    }

    async fn kill(&self, key: &str, now: u64) -> Result<bool, BackendError> {
        let changed = self
            .changes(
                "UPDATE escalations SET status = 'dead', claimed_until = NULL, updated_at = ?2
                 WHERE key = ?1 AND status = 'pending'",
                &[s(key), n(now)],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn stale(
        &self,
        before: u64,
        now: u64,
        limit: usize,
    ) -> Result<Vec<Escalation>, BackendError> {
        let rows: Vec<BodyRow> = self
            .0
            .prepare(
                "SELECT body FROM escalations WHERE status = 'pending' AND updated_at < ?1
                 AND (claimed_until IS NULL OR claimed_until < ?2) ORDER BY updated_at LIMIT ?3",
            )
            .bind(&[n(before), n(now), n(limit as u64)])
            .map_err(d1)?
            .all()
            .await
            .map_err(d1)?
            .results()
            .map_err(d1)?;
        Ok(rows
            .iter()
            .filter_map(|r| serde_json::from_str(&r.body).ok())
            .collect())
    }

    async fn touch(&self, keys: &[String], now: u64) -> Result<(), BackendError> {
        let mut statements = Vec::with_capacity(keys.len());
        for k in keys {
            statements.push(
                self.0
                    .prepare("UPDATE escalations SET updated_at = ?2 WHERE key = ?1")
                    .bind(&[s(k), n(now)])
                    .map_err(d1)?,
            );
        }
        self.0.batch(statements).await.map_err(d1).map(drop)
    }
}

/// The escalation queue's producer binding.
pub(crate) struct Queue(pub(crate) worker::Queue);

impl EscalationQueue for Queue {
    async fn send(&self, es: &[Escalation]) -> Result<(), BackendError> {
        let sent = match es {
            [one] => self.0.send(one).await,
            many => self.0.send_batch(many.to_vec()).await,
        };
        sent.map_err(|e| BackendError(format!("queue: {e}")))
    }
}

/// The [`Escalator`] of the worker: the ledger row in D1, then the queue message.
pub(crate) struct QueueEscalator {
    pub(crate) ledger: D1Ledger,
    pub(crate) queue: Queue,
}

impl QueueEscalator {
    /// The `DB` and `CHAT_ESCALATIONS` bindings.
    ///
    /// # Errors
    /// A binding is missing.
    pub(crate) fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            ledger: D1Ledger(crate::db::db(env)?),
            queue: Queue(env.queue(QUEUE_BINDING)?),
        })
    }
}

impl Escalator for QueueEscalator {
    async fn escalate(&self, e: &Escalation) -> Result<(), BackendError> {
        escalation::escalate(&self.ledger, &self.queue, e, edge_glue::now_ms()).await
    }
}

/// A queue message's body as an [`Escalation`] (JSON content type, as sent).
fn body_of(raw: &JsValue) -> Option<Escalation> {
    let text = js_sys::JSON::stringify(raw).ok()?.as_string()?;
    serde_json::from_str(&text).ok()
}

/// The `chat-escalations` consumer: each message delivered ([`escalation::deliver`]),
/// acknowledged or retried with backoff (after the queue's `max_retries`, the dead-letter
/// queue). A message that is no escalation is logged and dropped.
pub(crate) async fn consume<T>(batch: &MessageBatch<T>, env: &Env) {
    let settings = match EscalationSettings::load(env) {
        Ok(s) => s,
        Err(e) => {
            crate::log::warn(&format!("chat-escalations: {e}; retrying the batch"));
            batch.retry_all();
            return;
        }
    };
    let ledger = match crate::db::db(env) {
        Ok(db) => D1Ledger(db),
        Err(e) => {
            crate::log::warn(&format!("chat-escalations: no DB binding ({e}); retrying"));
            batch.retry_all();
            return;
        }
    };
    for message in batch.raw_iter() {
        let Some(e) = body_of(&message.body()) else {
            crate::log::warn("chat-escalations: a message that is no escalation; dropped");
            message.ack();
            continue;
        };
        let outcome = escalation::deliver(
            &ledger,
            &Fetch,
            &settings.webhooks,
            settings.delivery,
            &e,
            edge_glue::now_ms,
        )
        .await;
        match outcome {
            Delivery::Ack => message.ack(),
            Delivery::Retry(0) => message.retry(),
            Delivery::Retry(s) => message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(s)
                    .build(),
            ),
        }
    }
}

/// The `chat-escalations-dlq` consumer: each message's ledger row marked dead
/// ([`escalation::bury`]) and logged.
pub(crate) async fn consume_dead<T>(batch: &MessageBatch<T>, env: &Env) {
    let ledger = match crate::db::db(env) {
        Ok(db) => D1Ledger(db),
        Err(e) => {
            crate::log::warn(&format!(
                "chat-escalations-dlq: no DB binding ({e}); retrying"
            ));
            batch.retry_all();
            return;
        }
    };
    for message in batch.raw_iter() {
        match body_of(&message.body()) {
            Some(e) if !escalation::bury(&ledger, &e, edge_glue::now_ms()).await => {
                message.retry();
            }
            _ => message.ack(),
        }
    }
}

/// The scheduled sweeper: pending rows older than the sweep age queued again.
pub(crate) async fn sweep_pending(env: &Env) {
    let settings = match EscalationSettings::load(env) {
        Ok(s) => s,
        Err(e) => {
            crate::log::warn(&format!("escalation sweep: {e}"));
            return;
        }
    };
    let bindings = crate::db::db(env).and_then(|db| Ok((db, env.queue(QUEUE_BINDING)?)));
    let (db, queue) = match bindings {
        Ok(b) => b,
        Err(e) => {
            crate::log::warn(&format!("escalation sweep: missing binding ({e})"));
            return;
        }
    };
    match escalation::sweep(
        &D1Ledger(db),
        &Queue(queue),
        settings.webhooks.len(),
        settings.sweep_after_ms,
        edge_glue::now_ms(),
    )
    .await
    {
        Ok(0) => {}
        Ok(n) => crate::log::info(&format!("escalation sweep: {n} pending queued again")),
        Err(e) => crate::log::warn(&format!("escalation sweep failed: {e}")),
    }
}
