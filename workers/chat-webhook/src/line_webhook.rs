//! `POST /webhooks/line`: verify the signature on the raw bytes (in wasm up to 1 KB, in
//! WebCrypto beyond: `edge_glue::webcrypto`), parse the events, queue
//! them, and answer LINE at once. Nothing is parsed, stored or queued for a request whose
//! signature fails. The events go to the queue in as many `sendBatch` calls as the queue's
//! limits need (count and bytes, planned by `edge_core::queue`), in order.

use edge_core::chat::line::signature;
use edge_core::chat::line::webhook::{MAX_BODY_BYTES, Webhook};
use edge_core::error::CommonError;
use edge_core::queue::{self, QueueLimits};
use edge_core::sig::VerifyKey;
use edge_glue::Incoming;
use edge_glue::{Hop, body, now_ms, respond, webcrypto};
use worker::{Env, Response};

use crate::error::Error;
use crate::line_consumer::Queued;
use crate::log;
use crate::settings::LineSettings;

/// The queue binding verified events wait in.
pub(crate) const QUEUE_BINDING: &str = "CHAT_EVENTS";

/// Handles a LINE webhook.
pub(crate) async fn line(req: Incoming, env: &Env, hop: &Hop) -> Result<Response, Error> {
    let settings = LineSettings::load(env)?;
    let raw = body::read(req.inner(), env, MAX_BODY_BYTES).await?;
    let header = req.headers().get(signature::HEADER)?;
    let checked = match signature::presented_tag(header.as_deref()) {
        Ok(tag) => {
            let key = VerifyKey::hmac_sha256(settings.line_secret.as_bytes());
            signature::outcome(webcrypto::verify(&key, &raw, &tag).await)
        }
        Err(e) => Err(e),
    };
    if let Err(e) = checked {
        hop.decide(if header.is_none() {
            "line_missing_signature"
        } else {
            "line_bad_signature"
        });
        return Err(e.into());
    }
    let webhook = Webhook::parse(&raw)?;
    let received_ms = now_ms();
    let queued: Vec<Queued> = webhook
        .events
        .into_iter()
        .map(|event| Queued { event, received_ms })
        .collect();
    if !queued.is_empty() {
        // Each message is sent with the JSON content type, so the queue counts these bytes.
        let sizes: Vec<usize> = queued
            .iter()
            .map(|q| serde_json::to_vec(q).map_or(usize::MAX, |v| v.len()))
            .collect();
        let batches = queue::plan(&sizes, QueueLimits::CLOUDFLARE).inspect_err(|_| {
            hop.decide("line_event_too_large");
        })?;
        let queue = env.queue(QUEUE_BINDING)?;
        for range in batches {
            if let Err(e) = queue.send_batch(queued[range].to_vec()).await {
                // Not acknowledged: LINE redelivers, and de-duplication absorbs what was queued.
                log::warn(&format!("line webhook: queueing failed: {e}"));
                hop.decide("line_queue_failed");
                return Err(CommonError::UpstreamUnavailable.into());
            }
        }
    }
    hop.decide("line_accepted");
    Ok(respond::json(200, &serde_json::json!({}))?)
}
