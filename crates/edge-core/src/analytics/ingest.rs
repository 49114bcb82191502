//! Ingest bodies: one event (a JSON object), a plain batch (a JSON array of them), or an
//! [`Envelope`] (a batch with a stable [`BatchId`], which the collector applies at most once
//! per store), validated item by item so one bad item never costs the valid ones, with a
//! per-item report.
//!
//! Contract: a single event keeps the event contract (202, or the event's own 400 naming
//! its field). A batch answers 202 when every item was accepted, 207 when some were, and
//! 400 `invalid_batch` (naming the first failing field) when none was; its body always
//! lists every item's result by index.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::window::{Untimely, windows_for};
use crate::error::{ErrorBody, ErrorDetail, HttpError};
use crate::metric::{MetricError, MetricEvent};

/// Largest accepted ingest body, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most events in one batch.
pub const MAX_BATCH_ITEMS: usize = 1000;

/// Longest batch id, in bytes.
pub const MAX_BATCH_ID_BYTES: usize = 64;

/// The id of one batch of events: minted once by the sender (a UUID), kept across every
/// retry of that batch, and remembered by the store that applied it so a retry whose first
/// attempt was in fact stored is not counted twice. 1..=64 ASCII letters, digits or `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BatchId(String);

impl BatchId {
    /// `s` as a batch id, when it is one.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= MAX_BATCH_ID_BYTES
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        ok.then(|| Self(s.to_owned()))
    }

    /// An id from the clock (`t-<ms>`), for a runtime without `crypto.randomUUID()`.
    #[must_use]
    pub fn from_clock(now_ms: u64) -> Self {
        Self(format!("t-{now_ms}"))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BatchId {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or("not a batch id")
    }
}

impl From<BatchId> for String {
    fn from(id: BatchId) -> Self {
        id.0
    }
}

impl std::fmt::Display for BatchId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The body a reporting worker's outbox sends: `{"batch_id": …, "events": [ … ]}`. The
/// collector validates `events` item by item exactly like a plain batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope<'a> {
    /// The batch's stable id.
    pub batch_id: &'a BatchId,
    /// Its events (at most [`MAX_BATCH_ITEMS`], the whole body at most [`MAX_BODY_BYTES`]).
    pub events: &'a [MetricEvent],
}

/// Bytes an envelope adds around its events (key names, braces, the longest id).
pub const ENVELOPE_OVERHEAD_BYTES: usize = 32 + MAX_BATCH_ID_BYTES;

/// Why a whole ingest body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("ingest body exceeds {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// The body is neither a JSON object nor a JSON array.
    #[error("ingest body is not a json object or array")]
    Malformed,
    /// The batch has no items.
    #[error("the batch is empty")]
    Empty,
    /// The batch has more than [`MAX_BATCH_ITEMS`] items.
    #[error("the batch has more than {MAX_BATCH_ITEMS} items")]
    TooManyItems,
    /// A single event (not a batch) was invalid.
    #[error(transparent)]
    Event(#[from] MetricError),
}

impl HttpError for IngestError {
    fn status(&self) -> u16 {
        match self {
            Self::TooLarge | Self::TooManyItems => 413,
            Self::Event(e) => e.status(),
            Self::Malformed | Self::Empty => 400,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => "payload_too_large",
            Self::Malformed => "malformed_json",
            Self::Empty => "empty_batch",
            Self::TooManyItems => "too_many_items",
            Self::Event(e) => e.code(),
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::Event(e) => e.field(),
            _ => None,
        }
    }
}

/// The `ts_ms` error of an event outside every kept window.
fn untimely(u: Untimely) -> MetricError {
    MetricError::Invalid {
        field: "ts_ms",
        reason: match u {
            Untimely::Future => "more than 5 minutes in the future",
            Untimely::Expired => "older than the 7-day retention",
        },
    }
}

/// Validates one event as an item of an ingest at `now_ms`: its schema, then its time.
///
/// # Errors
/// The [`MetricError`] naming the first field that failed.
pub fn validate_item(item: &Value, now_ms: u64) -> Result<MetricEvent, MetricError> {
    let Value::Object(map) = item else {
        return Err(MetricError::Malformed);
    };
    let event = MetricEvent::from_object(map)?;
    windows_for(event.ts_ms, now_ms).map_err(untimely)?;
    Ok(event)
}

/// A parsed ingest body.
#[derive(Debug, Clone, PartialEq)]
pub enum Ingest {
    /// One valid event, sent as a JSON object.
    Single(MetricEvent),
    /// A batch: each item's event or error, in order.
    Batch(Vec<Result<MetricEvent, MetricError>>),
    /// An [`Envelope`]: a batch with its id.
    Enveloped(BatchId, Vec<Result<MetricEvent, MetricError>>),
}

/// Validates the items of a batch (plain or enveloped).
fn batch_items(
    items: &[Value],
    now_ms: u64,
) -> Result<Vec<Result<MetricEvent, MetricError>>, IngestError> {
    match items.len() {
        0 => Err(IngestError::Empty),
        n if n > MAX_BATCH_ITEMS => Err(IngestError::TooManyItems),
        _ => Ok(items.iter().map(|i| validate_item(i, now_ms)).collect()),
    }
}

/// An envelope's id and items; any other key, a bad id or `events` not an array is a 400
/// naming the field.
fn envelope(map: &Map<String, Value>, now_ms: u64) -> Result<Ingest, IngestError> {
    if let Some(key) = map.keys().find(|k| *k != "batch_id" && *k != "events") {
        return Err(MetricError::UnknownField {
            field: key.chars().take(64).collect(),
        }
        .into());
    }
    let id = map
        .get("batch_id")
        .and_then(Value::as_str)
        .and_then(BatchId::parse)
        .ok_or(MetricError::Invalid {
            field: "batch_id",
            reason: "expected 1 to 64 ascii letters, digits or '-'",
        })?;
    let events = match map.get("events") {
        None => return Err(MetricError::Missing { field: "events" }.into()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(MetricError::Invalid {
                field: "events",
                reason: "expected an array",
            }
            .into());
        }
    };
    Ok(Ingest::Enveloped(id, batch_items(events, now_ms)?))
}

impl Ingest {
    /// Parses an ingest body received at `now_ms`.
    ///
    /// # Errors
    /// [`IngestError`] when the body as a whole is refused (including a single invalid event).
    pub fn parse(body: &[u8], now_ms: u64) -> Result<Self, IngestError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(IngestError::TooLarge);
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) if map.contains_key("batch_id") => envelope(&map, now_ms),
            Ok(obj @ Value::Object(_)) => Ok(Self::Single(validate_item(&obj, now_ms)?)),
            Ok(Value::Array(items)) => Ok(Self::Batch(batch_items(&items, now_ms)?)),
            _ => Err(IngestError::Malformed),
        }
    }

    /// The valid events, in order.
    #[must_use]
    pub fn accepted(&self) -> Vec<&MetricEvent> {
        match self {
            Self::Single(e) => vec![e],
            Self::Batch(items) | Self::Enveloped(_, items) => {
                items.iter().filter_map(|r| r.as_ref().ok()).collect()
            }
        }
    }

    /// The batch id, for an envelope.
    #[must_use]
    pub fn batch_id(&self) -> Option<&BatchId> {
        match self {
            Self::Enveloped(id, _) => Some(id),
            _ => None,
        }
    }

    /// The key its store shard is chosen by (`shard::shard_of`): the batch id of an
    /// envelope, else the first valid event's request id (`None`: nothing to store).
    #[must_use]
    pub fn shard_key(&self) -> Option<&str> {
        match self {
            Self::Enveloped(id, _) => Some(id.as_str()),
            _ => self.accepted().first().map(|e| e.request_id.as_str()),
        }
    }
}

/// One item's result in a batch report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemResult {
    /// Position in the batch, from 0.
    pub index: usize,
    /// Whether it was stored.
    pub accepted: bool,
    /// Why not, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
    /// The HTTP status of that error (0 when accepted).
    #[serde(skip)]
    pub status: u16,
}

/// The response to a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    /// Set only when no item was accepted: `invalid_batch` naming the first failing field,
    /// or the storage error when that is why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
    /// Items stored.
    pub accepted: usize,
    /// Items refused.
    pub rejected: usize,
    /// Every item's result, by index.
    pub results: Vec<ItemResult>,
}

impl BatchReport {
    /// The report of a validated batch (before it is stored).
    #[must_use]
    pub fn new(items: &[Result<MetricEvent, MetricError>]) -> Self {
        let results = items
            .iter()
            .enumerate()
            .map(|(index, r)| ItemResult {
                index,
                accepted: r.is_ok(),
                error: r.as_ref().err().map(|e| ErrorBody::from_error(e).error),
                status: r.as_ref().err().map_or(0, HttpError::status),
            })
            .collect();
        let mut report = Self {
            error: None,
            accepted: 0,
            rejected: 0,
            results,
        };
        report.tally();
        report
    }

    /// Marks the valid item at `index` as not stored because of `err` (its store could not
    /// take the write).
    pub fn refuse(&mut self, index: usize, err: &(impl HttpError + ?Sized)) {
        if let Some(r) = self.results.get_mut(index).filter(|r| r.accepted) {
            r.accepted = false;
            r.error = Some(ErrorBody::from_error(err).error);
            r.status = err.status();
            self.tally();
        }
    }

    fn tally(&mut self) {
        self.accepted = self.results.iter().filter(|r| r.accepted).count();
        self.rejected = self.results.len() - self.accepted;
        self.error = if self.accepted > 0 {
            None
        } else if let Some(server) = self.results.iter().find(|r| r.status >= 500) {
            server.error.clone()
        } else {
            Some(ErrorDetail {
                code: "invalid_batch",
                message: "no item in the batch is valid".to_owned(),
                field: self
                    .results
                    .iter()
                    .find_map(|r| r.error.as_ref().and_then(|e| e.field.clone())),
            })
        };
    }

    /// 202 when all were accepted, 207 when some; when none, the storage error's status
    /// if that is why (so the sender retries), else 400.
    #[must_use]
    pub fn status(&self) -> u16 {
        match (self.accepted, self.rejected) {
            (_, 0) => 202,
            (0, _) => self
                .results
                .iter()
                .map(|r| r.status)
                .find(|&s| s >= 500)
                .unwrap_or(400),
            _ => 207,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::window::DAY_MS;
    use serde_json::json;

    const NOW: u64 = 1_795_435_200_000;

    fn ev(id: &str) -> Value {
        json!({"worker": "auth-validator", "request_id": id, "ts_ms": NOW, "method": "GET",
               "path": "/api", "status": 200, "latency_ms": 3})
    }

    fn bytes(v: &Value) -> Vec<u8> {
        serde_json::to_vec(v).expect("serializes")
    }

    #[test]
    fn a_single_object_keeps_the_event_contract() {
        let Ok(Ingest::Single(e)) = Ingest::parse(&bytes(&ev("a")), NOW) else {
            panic!("single");
        };
        assert_eq!(e.request_id.as_str(), "a");
        let mut bad = ev("b");
        bad["status"] = json!(42);
        let err = Ingest::parse(&bytes(&bad), NOW).expect_err("invalid");
        assert_eq!(
            (err.status(), err.code(), err.field()),
            (400, "invalid_field", Some("status"))
        );
    }

    #[test]
    fn a_batch_reports_every_item_and_keeps_the_valid_ones() {
        let mut old = ev("old");
        old["ts_ms"] = json!(NOW - 8 * DAY_MS);
        let mut future = ev("future");
        future["ts_ms"] = json!(NOW + DAY_MS);
        let body = json!([ev("a"), {"worker": "auth-validator"}, old, future, 7, ev("b")]);
        let ingest = Ingest::parse(&bytes(&body), NOW).expect("batch");
        let ids: Vec<_> = ingest
            .accepted()
            .iter()
            .map(|e| e.request_id.as_str().to_owned())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        let Ingest::Batch(items) = &ingest else {
            panic!("batch")
        };
        let report = BatchReport::new(items);
        assert_eq!(
            (report.accepted, report.rejected, report.status()),
            (2, 4, 207)
        );
        assert_eq!(report.error, None);
        let fields: Vec<_> = report
            .results
            .iter()
            .map(|r| r.error.as_ref().map(|e| (e.code, e.field.clone())))
            .collect();
        assert_eq!(
            fields,
            [
                None,
                Some(("missing_field", Some("request_id".to_owned()))),
                Some(("invalid_field", Some("ts_ms".to_owned()))),
                Some(("invalid_field", Some("ts_ms".to_owned()))),
                Some(("malformed_json", None)),
                None,
            ]
        );
        assert!(report.results.iter().enumerate().all(|(i, r)| r.index == i));
    }

    #[test]
    fn a_batch_with_nothing_valid_is_a_400_naming_the_first_field() {
        let mut bad = ev("x");
        bad["latency_ms"] = json!(-1);
        let Ok(Ingest::Batch(items)) = Ingest::parse(&bytes(&json!([1, bad])), NOW) else {
            panic!("batch");
        };
        let report = BatchReport::new(&items);
        assert_eq!(report.status(), 400);
        let error = report.error.expect("batch error");
        assert_eq!(
            (error.code, error.field.as_deref()),
            ("invalid_batch", Some("latency_ms"))
        );
        let mut all_good = BatchReport::new(&[Ok(MetricEvent::from_object(
            ev("y").as_object().expect("obj"),
        )
        .expect("ok"))]);
        assert_eq!(all_good.status(), 202);
        // Its store failing turns it into the storage error, so the sender retries.
        all_good.refuse(0, &crate::error::CommonError::UpstreamUnavailable);
        assert_eq!((all_good.status(), all_good.accepted), (503, 0));
        assert_eq!(all_good.error.map(|e| e.code), Some("upstream_unavailable"));
    }

    #[test]
    fn an_envelope_is_a_batch_with_an_id() {
        let body = json!({"batch_id": "b-1", "events": [ev("a"), 7, ev("b")]});
        let ingest = Ingest::parse(&bytes(&body), NOW).expect("envelope");
        assert_eq!(ingest.batch_id().map(BatchId::as_str), Some("b-1"));
        assert_eq!(ingest.shard_key(), Some("b-1"));
        assert_eq!(ingest.accepted().len(), 2);
        // What the outbox sends parses back to the same id and events.
        let events: Vec<MetricEvent> = ingest.accepted().into_iter().cloned().collect();
        let id = BatchId::parse("0f0e-AB").expect("id");
        let clock = BatchId::from_clock(u64::MAX);
        assert_eq!(BatchId::parse(clock.as_str()), Some(clock));
        let sent = serde_json::to_vec(&Envelope {
            batch_id: &id,
            events: &events,
        })
        .expect("ser");
        let back = Ingest::parse(&sent, NOW).expect("round trip");
        assert_eq!(back.batch_id(), Some(&id));
        assert_eq!(
            back.accepted().into_iter().cloned().collect::<Vec<_>>(),
            events
        );
        let refused = |v: Value| {
            let e = Ingest::parse(&bytes(&v), NOW).expect_err("refused");
            (e.status(), e.code(), e.field().map(str::to_owned))
        };
        let field = |f: &str| Some(f.to_owned());
        assert_eq!(
            refused(json!({"batch_id": "a b", "events": [ev("a")]})),
            (400, "invalid_field", field("batch_id"))
        );
        assert_eq!(
            refused(json!({"batch_id": "x".repeat(65), "events": [ev("a")]})),
            (400, "invalid_field", field("batch_id"))
        );
        assert_eq!(
            refused(json!({"batch_id": "b"})),
            (400, "missing_field", field("events"))
        );
        assert_eq!(
            refused(json!({"batch_id": "b", "events": {}})),
            (400, "invalid_field", field("events"))
        );
        assert_eq!(
            refused(json!({"batch_id": "b", "events": [], "x": 1})).1,
            "unknown_field"
        );
        assert_eq!(
            refused(json!({"batch_id": "b", "events": []})),
            (400, "empty_batch", None)
        );
        // A plain single event shards by its request id.
        let single = Ingest::parse(&bytes(&ev("r-9")), NOW).expect("single");
        assert_eq!((single.shard_key(), single.batch_id()), (Some("r-9"), None));
    }

    #[test]
    fn batch_shape_and_size_limits() {
        assert_eq!(Ingest::parse(b"[]", NOW), Err(IngestError::Empty));
        assert_eq!(Ingest::parse(b"\"x\"", NOW), Err(IngestError::Malformed));
        assert_eq!(Ingest::parse(b"[{", NOW), Err(IngestError::Malformed));
        let many = Value::Array(vec![json!(1); MAX_BATCH_ITEMS + 1]);
        assert_eq!(
            Ingest::parse(&bytes(&many), NOW),
            Err(IngestError::TooManyItems)
        );
        assert_eq!(IngestError::TooManyItems.status(), 413);
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(Ingest::parse(&huge, NOW), Err(IngestError::TooLarge));
        let full = Value::Array(
            (0..MAX_BATCH_ITEMS)
                .map(|i| ev(&format!("id-{i}")))
                .collect(),
        );
        let ok = Ingest::parse(&bytes(&full), NOW).expect("a full batch fits");
        assert_eq!(ok.accepted().len(), MAX_BATCH_ITEMS);
    }
}
