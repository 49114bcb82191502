//! Escalation to a human: an [`Escalation`] is sent to the `chat-escalations` queue, whose
//! consumer delivers exactly one notification per key to the configured webhooks.
//!
//! CONTRACT (issue 19, seeded by the lead; the queue, consumer and webhooks are helper C's).

use edge_core::chat::support::Escalation;

use crate::backends::BackendError;

/// Sends escalations on (at least once; the consumer de-duplicates by key).
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait Escalator {
    /// Queues `e`.
    async fn escalate(&self, e: &Escalation) -> Result<(), BackendError>;
}

/// The escalation queue's producer.
pub(crate) struct QueueEscalator(pub(crate) worker::Queue);

impl Escalator for QueueEscalator {
    async fn escalate(&self, _e: &Escalation) -> Result<(), BackendError> {
        Err(BackendError("SEED: not implemented yet".to_owned()))
    }
}
