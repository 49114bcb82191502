//! `POST /v1/metrics`: one event, a batch or an enveloped batch, validated item by item
//! (`edge_core::analytics::ingest`), written to Analytics Engine, and added to the stores of
//! the UTC days they fall in, one store write per day, all to the shard chosen from the
//! batch id (or, without an envelope, the first event's request id). An envelope's writes
//! carry its batch id, which each store applies at most once.
//!
//! Nothing is acknowledged before it is stored: the response is sent after every day's
//! store has answered. A day's write is all-or-nothing, so when a store fails only the
//! items of that day are reported as not stored (503 `upstream_unavailable` per item, or
//! for a single event), and resending exactly those cannot double count.

use std::collections::BTreeMap;

use edge_core::analytics::cell::Cells;
use edge_core::analytics::engine::DataPoint;
use edge_core::analytics::ingest::{BatchId, BatchReport, Ingest, MAX_BODY_BYTES};
use edge_core::analytics::shard::shard_of;
use edge_core::analytics::window::{Resolution, day_of};
use edge_core::error::CommonError;
use edge_core::{MetricError, MetricEvent};
use edge_glue::body::{self, BodyError};
use edge_glue::{Incoming, now_ms, respond};
use worker::wasm_bindgen::JsCast;
use worker::{AnalyticsEngineDataset, Env, Response, console_warn, js_sys};

use crate::error::Error;
use crate::metrics_store::{Write, cell_rows};
use crate::settings::Settings;
use crate::store_client;

/// The Analytics Engine binding.
const AE_BINDING: &str = "METRICS_AE";

/// Handles an ingest request.
pub(crate) async fn ingest(
    req: &Incoming,
    env: &Env,
    settings: &Settings,
) -> Result<Response, Error> {
    let timeout_ms = settings.body_timeout_ms()?;
    let bytes = body::read_limited(req.inner(), MAX_BODY_BYTES, timeout_ms)
        .await
        .map_err(|e| match e {
            // A body that breaks off is a malformed report, not an unreadable request.
            BodyError::Read(_) => Error::Metric(MetricError::Malformed),
            e => Error::Body(e),
        })?;
    let now = now_ms();
    let parsed = Ingest::parse(&bytes, now)?;
    let mut accepted = parsed.accepted();
    let shard = parsed.shard_key().map_or(0, shard_of);
    let failed_days = store(env, &accepted, now, shard, parsed.batch_id()).await;
    let stored = |e: &MetricEvent| !failed_days.contains(&day_of(e.ts_ms));
    accepted.retain(|e| stored(e));
    write_engine(env, &accepted);
    match &parsed {
        Ingest::Single(event) if stored(event) => Ok(respond::json(
            202,
            &serde_json::json!({ "accepted": 1, "request_id": event.request_id }),
        )?),
        Ingest::Single(_) => Err(CommonError::UpstreamUnavailable.into()),
        Ingest::Batch(items) | Ingest::Enveloped(_, items) => {
            let mut report = BatchReport::new(items);
            for (index, item) in items.iter().enumerate() {
                if item.as_ref().is_ok_and(|e| !stored(e)) {
                    report.refuse(index, &CommonError::UpstreamUnavailable);
                }
            }
            Ok(respond::json(report.status(), &report)?)
        }
    }
}

/// Adds `events` to their days' stores (shard `shard`, marked with `batch` when enveloped),
/// concurrently, one write per day; returns the days whose store failed (nothing of those
/// was stored).
async fn store(
    env: &Env,
    events: &[&MetricEvent],
    now: u64,
    shard: u32,
    batch: Option<&BatchId>,
) -> Vec<u64> {
    let mut days: BTreeMap<u64, (Cells, Vec<&MetricEvent>)> = BTreeMap::new();
    for event in events {
        let (cells, rows) = days.entry(day_of(event.ts_ms)).or_default();
        // Already validated against `now`, so it counts in at least one window.
        if cells.add(event, now).is_err() {
            continue;
        }
        let minute = Resolution::Minute;
        if minute.expires_at(minute.window_start(event.ts_ms)) > now {
            rows.push(event);
        }
    }
    let writes = days.into_iter().map(|(day, (cells, events))| {
        let write = Write {
            batch,
            cells: cell_rows(cells),
            events,
        };
        async move {
            let result = store_client::add(env, day, shard, &write).await;
            if let Err(e) = &result {
                console_warn!("metrics store write for day {day}/{shard} failed: {e}");
            }
            result.err().map(|_| day)
        }
    });
    futures::future::join_all(writes)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Writes one Analytics Engine data point per event. Analytics Engine is the sampled,
/// long-term view; the stores are the exact one, so a failed write is logged and skipped.
///
/// The points cross into JS as one JSON text (one `JSON.parse`), then each is one
/// `writeDataPoint` call: two crossings per event instead of a builder's ~20 (an array and
/// a string conversion per blob).
fn write_engine(env: &Env, events: &[&MetricEvent]) {
    if events.is_empty() {
        return;
    }
    let Ok(dataset) = env.get_binding::<AnalyticsEngineDataset>(AE_BINDING) else {
        return;
    };
    let points: Vec<DataPoint> = events.iter().map(|e| DataPoint::of(e)).collect();
    let written = serde_json::to_string(&points)
        .map_err(|e| e.to_string())
        .and_then(|json| js_sys::JSON::parse(&json).map_err(|e| format!("{e:?}")))
        .and_then(|parsed| {
            let write = js_sys::Reflect::get(dataset.as_ref(), &"writeDataPoint".into())
                .map_err(|e| format!("{e:?}"))?
                .dyn_into::<js_sys::Function>()
                .map_err(|_| "writeDataPoint is not a function".to_owned())?;
            let points = js_sys::Array::from(&parsed);
            for i in 0..points.length() {
                write
                    .call1(dataset.as_ref(), &points.get(i))
                    .map_err(|e| format!("{e:?}"))?;
            }
            Ok(())
        });
    if let Err(e) = written {
        console_warn!("analytics engine write failed: {e}");
    }
}
