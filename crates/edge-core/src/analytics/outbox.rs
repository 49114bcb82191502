//! The reporting side's per-isolate outbox, as a sans-IO state machine: every decision about
//! sending metric events to analytics-collector, with time passed in and ids minted by the
//! caller. The glue (`edge_glue::metrics`) only sleeps, fetches and mints UUIDs.
//!
//! - [`Outbox::push`] queues a finished event. The first event into an idle outbox starts a
//!   flusher (after [`OutboxConfig::flush_delay_ms`]); a full batch is sent at once.
//! - [`Outbox::next_batch`] cuts the next body to send: a batch waiting for its retry first,
//!   else a new batch of pending events, within [`MAX_BATCH_ITEMS`] and [`MAX_BODY_BYTES`],
//!   under a fresh [`BatchId`].
//! - [`Outbox::complete`] takes the collector's answer ([`Outcome::of_response`]): stored
//!   items leave, items refused as invalid are dropped (counted, never retried), and the
//!   rest stays in the same batch (same id) for a retry after an exponential backoff.
//! - [`Outbox::after_pass`] tells a sending task whether to sleep and go again or stop,
//!   bounded by [`OutboxConfig::retry_budget_ms`] from that task's start; what is left then
//!   waits for the next flusher, which the next pushed event starts.
//! - At most [`OutboxConfig::cap`] events are held; beyond it the oldest not in flight is
//!   dropped and counted ([`Outbox::take_dropped`]).
//!
//! Exactness: a batch keeps its id across retries and the collector applies an id at most
//! once per store, so a retry of a batch that was in fact stored is not counted twice.
//! Events are lost only when an isolate dies holding them (at most one flush window's
//! worth, or up to the cap while the collector is down) or when the cap overflows.

use std::collections::VecDeque;

use serde::Deserialize;

use super::ingest::{BatchId, ENVELOPE_OVERHEAD_BYTES, Envelope, MAX_BATCH_ITEMS, MAX_BODY_BYTES};
use crate::error::{CommonError, HttpError};
use crate::metric::MetricEvent;

/// The outbox's tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Delay from the first event into an idle outbox to its flush, ms.
    pub flush_delay_ms: u64,
    /// Most events in one batch.
    pub max_items: usize,
    /// Largest body of one batch, bytes.
    pub max_bytes: usize,
    /// Most events held (pending and in batches); beyond it the oldest are dropped.
    pub cap: usize,
    /// First retry delay, ms; doubled per attempt.
    pub backoff_base_ms: u64,
    /// Longest retry delay, ms.
    pub backoff_max_ms: u64,
    /// How long one sending task keeps retrying before leaving the rest to the next flush.
    pub retry_budget_ms: u64,
}

/// Default flush delay, ms (`METRICS_FLUSH_MS`): see DESIGN.md "Metrics" for the numbers.
pub const DEFAULT_FLUSH_DELAY_MS: u64 = 500;
/// Default cap on held events.
pub const DEFAULT_CAP: usize = 10_000;

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            flush_delay_ms: DEFAULT_FLUSH_DELAY_MS,
            max_items: MAX_BATCH_ITEMS,
            max_bytes: MAX_BODY_BYTES,
            cap: DEFAULT_CAP,
            backoff_base_ms: 250,
            backoff_max_ms: 4_000,
            // Inside the 30 s a `wait_until` may run after the response.
            retry_budget_ms: 20_000,
        }
    }
}

/// What the caller must do after [`Outbox::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Push {
    /// Nothing: a running flusher will send it.
    Queued,
    /// Start a flusher (in this request's `wait_until`) that first sleeps `delay_ms`.
    StartFlusher {
        /// Sleep before the first pass, ms.
        delay_ms: u64,
    },
    /// A batch is full: run a sending pass now (in this request's `wait_until`).
    SendNow,
}

/// What a sending task does after a pass ([`Outbox::after_pass`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Next {
    /// Sleep `ms`, then run another pass.
    Sleep {
        /// Sleep, ms.
        ms: u64,
    },
    /// Stop: nothing to do, another task is the flusher, or the budget is spent.
    Done,
}

/// A body to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The batch's id (pass it back to [`Outbox::complete`]).
    pub id: BatchId,
    /// The JSON [`Envelope`].
    pub body: Vec<u8>,
    /// Events in it.
    pub items: usize,
    /// Attempts before this one.
    pub attempt: u32,
}

/// The collector's answer to one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every item stored (202).
    Stored,
    /// Nothing known to be stored: transport error, timeout, 5xx, 408, 429. Retry it all.
    Failed,
    /// Every item refused as invalid (another 4xx): drop it all.
    Refused,
    /// Per item (207): indices to retry (refused as unavailable) and to drop (invalid).
    Partial {
        /// Items refused as `upstream_unavailable`: kept for a retry.
        retry: Vec<usize>,
        /// Items refused as invalid: dropped.
        invalid: Vec<usize>,
    },
}

#[derive(Deserialize)]
struct ReportItem {
    index: usize,
    accepted: bool,
    error: Option<ReportError>,
}

#[derive(Deserialize)]
struct ReportError {
    code: String,
}

#[derive(Deserialize)]
struct Report {
    results: Vec<ReportItem>,
}

impl Outcome {
    /// The outcome of an answer with `status` and `body` to a batch of `items` events.
    #[must_use]
    pub fn of_response(status: u16, body: &[u8], items: usize) -> Self {
        match status {
            202 => Self::Stored,
            207 => {
                let Ok(report) = serde_json::from_slice::<Report>(body) else {
                    return Self::Failed;
                };
                let unavailable = CommonError::UpstreamUnavailable.code();
                let (mut retry, mut invalid) = (Vec::new(), Vec::new());
                for r in report
                    .results
                    .iter()
                    .filter(|r| !r.accepted && r.index < items)
                {
                    match &r.error {
                        Some(e) if e.code != unavailable => invalid.push(r.index),
                        _ => retry.push(r.index),
                    }
                }
                Self::Partial { retry, invalid }
            }
            200..=299 => Self::Stored,
            408 | 429 | 500.. => Self::Failed,
            _ => Self::Refused,
        }
    }
}

/// What [`Outbox::complete`] did, for the caller's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Completed {
    /// Events now stored.
    pub stored: usize,
    /// Events dropped as invalid.
    pub invalid: usize,
    /// Events kept for a retry.
    pub retrying: usize,
    /// When the retry is due, unix ms.
    pub retry_at_ms: Option<u64>,
}

#[derive(Debug, Clone)]
struct Queued {
    event: MetricEvent,
    bytes: usize,
}

#[derive(Debug)]
struct Batch {
    id: BatchId,
    events: Vec<Queued>,
    attempts: u32,
    due_ms: u64,
    in_flight: bool,
}

/// The per-isolate outbox (see the module docs).
#[derive(Debug)]
pub struct Outbox {
    config: OutboxConfig,
    pending: VecDeque<Queued>,
    pending_bytes: usize,
    batches: VecDeque<Batch>,
    flusher: bool,
    dropped: u64,
}

impl Outbox {
    /// An empty outbox.
    #[must_use]
    pub fn new(config: OutboxConfig) -> Self {
        Self {
            config,
            pending: VecDeque::new(),
            pending_bytes: 0,
            batches: VecDeque::new(),
            flusher: false,
            dropped: 0,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> OutboxConfig {
        self.config
    }

    /// Replaces the configuration (a var read later); held events stay.
    pub fn set_config(&mut self, config: OutboxConfig) {
        self.config = config;
    }

    /// Events held: pending and in batches (in flight included).
    #[must_use]
    pub fn held(&self) -> usize {
        self.pending.len() + self.batches.iter().map(|b| b.events.len()).sum::<usize>()
    }

    /// Events dropped by the cap since the last call (for a log line).
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    /// Whether a flusher task is running.
    #[must_use]
    pub fn has_flusher(&self) -> bool {
        self.flusher
    }

    fn body_budget(&self) -> usize {
        self.config
            .max_bytes
            .saturating_sub(ENVELOPE_OVERHEAD_BYTES)
    }

    fn pending_full(&self) -> bool {
        self.pending.len() >= self.config.max_items || self.pending_bytes >= self.body_budget()
    }

    /// Drops the oldest event not in flight; `false` when every held event is in flight.
    fn drop_oldest(&mut self) -> bool {
        if let Some(i) = self.batches.iter().position(|b| !b.in_flight) {
            let batch = &mut self.batches[i];
            batch.events.remove(0);
            if batch.events.is_empty() {
                self.batches.remove(i);
            }
        } else if let Some(q) = self.pending.pop_front() {
            self.pending_bytes -= q.bytes;
        } else {
            return false;
        }
        self.dropped += 1;
        true
    }

    /// Queues a finished event.
    pub fn push(&mut self, event: MetricEvent) -> Push {
        while self.held() >= self.config.cap {
            if !self.drop_oldest() {
                self.dropped += 1;
                return Push::Queued;
            }
        }
        // Its size in the envelope: the JSON plus a comma.
        let bytes = serde_json::to_vec(&event).map_or(0, |v| v.len()) + 1;
        self.pending.push_back(Queued { event, bytes });
        self.pending_bytes += bytes;
        if !self.flusher {
            self.flusher = true;
            Push::StartFlusher {
                delay_ms: self.config.flush_delay_ms,
            }
        } else if self.pending_full() {
            Push::SendNow
        } else {
            Push::Queued
        }
    }

    /// The next body to send at `now_ms`: the oldest batch due for its retry, else a new
    /// batch cut from the pending events under the id `mint` returns. The batch is in flight
    /// until [`Outbox::complete`].
    pub fn next_batch(&mut self, now_ms: u64, mint: impl FnOnce() -> BatchId) -> Option<Outgoing> {
        let due = self
            .batches
            .iter()
            .position(|b| !b.in_flight && b.due_ms <= now_ms);
        let i = match due {
            Some(i) => i,
            None => {
                let batch = self.cut(mint)?;
                self.batches.push_back(batch);
                self.batches.len() - 1
            }
        };
        let batch = &mut self.batches[i];
        batch.in_flight = true;
        let events: Vec<MetricEvent> = batch.events.iter().map(|q| q.event.clone()).collect();
        let body = serde_json::to_vec(&Envelope {
            batch_id: &batch.id,
            events: &events,
        })
        .ok()?;
        Some(Outgoing {
            id: batch.id.clone(),
            body,
            items: events.len(),
            attempt: batch.attempts,
        })
    }

    /// A new batch of pending events, within the item and byte limits.
    fn cut(&mut self, mint: impl FnOnce() -> BatchId) -> Option<Batch> {
        let budget = self.body_budget();
        let mut events = Vec::new();
        let mut bytes = 0;
        while let Some(q) = self.pending.front() {
            let fits = events.len() < self.config.max_items && bytes + q.bytes <= budget;
            if !fits && !events.is_empty() {
                break;
            }
            let q = self.pending.pop_front()?;
            self.pending_bytes -= q.bytes;
            if !fits {
                // One event larger than a whole body: it can never be sent.
                self.dropped += 1;
                continue;
            }
            bytes += q.bytes;
            events.push(q);
        }
        (!events.is_empty()).then(|| Batch {
            id: mint(),
            events,
            attempts: 0,
            due_ms: 0,
            in_flight: false,
        })
    }

    /// Retry delay after `attempts` failed attempts.
    fn backoff_ms(&self, attempts: u32) -> u64 {
        let exp = attempts.saturating_sub(1).min(20);
        self.config
            .backoff_base_ms
            .saturating_mul(1 << exp)
            .min(self.config.backoff_max_ms)
    }

    /// Records the collector's answer to batch `id` at `now_ms`.
    pub fn complete(&mut self, id: &BatchId, outcome: &Outcome, now_ms: u64) -> Completed {
        let Some(i) = self.batches.iter().position(|b| &b.id == id) else {
            return Completed::default();
        };
        let total = self.batches[i].events.len();
        let (keep, invalid): (Vec<usize>, usize) = match outcome {
            Outcome::Stored => (Vec::new(), 0),
            Outcome::Refused => (Vec::new(), total),
            Outcome::Failed => ((0..total).collect(), 0),
            Outcome::Partial { retry, invalid } => (
                retry.iter().copied().filter(|&r| r < total).collect(),
                invalid.iter().filter(|&&r| r < total).count(),
            ),
        };
        if keep.is_empty() {
            self.batches.remove(i);
            return Completed {
                stored: total - invalid,
                invalid,
                ..Completed::default()
            };
        }
        let attempts = self.batches[i].attempts + 1;
        let due_ms = now_ms + self.backoff_ms(attempts);
        let batch = &mut self.batches[i];
        let mut index = 0;
        batch.events.retain(|_| {
            index += 1;
            keep.contains(&(index - 1))
        });
        batch.attempts = attempts;
        batch.due_ms = due_ms;
        batch.in_flight = false;
        Completed {
            stored: total - invalid - batch.events.len(),
            invalid,
            retrying: batch.events.len(),
            retry_at_ms: Some(due_ms),
        }
    }

    /// After a sending pass of a task started at `started_ms` (`flusher`: whether it is the
    /// flusher): sleep until the next due work when that is within its budget (the task is
    /// then the flusher), else stop (and, if it was the flusher, there is none until the
    /// next push starts one).
    pub fn after_pass(&mut self, now_ms: u64, started_ms: u64, flusher: bool) -> Next {
        if !flusher && self.flusher {
            return Next::Done;
        }
        let retry = self
            .batches
            .iter()
            .filter(|b| !b.in_flight)
            .map(|b| b.due_ms)
            .min();
        let fresh = (!self.pending.is_empty()).then_some(now_ms + self.config.flush_delay_ms);
        let wake = match (retry, fresh) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match wake {
            Some(at) if at <= started_ms + self.config.retry_budget_ms => {
                self.flusher = true;
                Next::Sleep {
                    ms: at.saturating_sub(now_ms),
                }
            }
            _ => {
                self.flusher = false;
                Next::Done
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceName;
    use crate::metric::MetricEvent;
    use crate::request_id::RequestId;

    fn ev(i: usize) -> MetricEvent {
        let id = RequestId::parse(&format!("req-{i}")).expect("id");
        MetricEvent::from_observation(crate::metric::Observation {
            worker: ServiceName::AuthValidator,
            request_id: &id,
            method: "GET",
            path: "/api",
            status: 200,
            started_ms: 1_795_435_200_000,
            finished_ms: 1_795_435_200_003,
            country: None,
            colo: None,
            decision: None,
            route: None,
        })
    }

    fn ids() -> impl FnMut() -> BatchId {
        let mut n = 0;
        move || {
            n += 1;
            BatchId::parse(&format!("b{n}")).expect("id")
        }
    }

    fn config() -> OutboxConfig {
        OutboxConfig {
            flush_delay_ms: 100,
            max_items: 3,
            cap: 10,
            ..OutboxConfig::default()
        }
    }

    fn request_ids(o: &Outgoing) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(&o.body).expect("json");
        v["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["request_id"].as_str().expect("id").to_owned())
            .collect()
    }

    #[test]
    fn the_first_event_starts_one_flusher_and_a_full_batch_sends_at_once() {
        let mut o = Outbox::new(config());
        assert_eq!(o.push(ev(0)), Push::StartFlusher { delay_ms: 100 });
        assert_eq!(o.push(ev(1)), Push::Queued);
        assert_eq!(o.push(ev(2)), Push::SendNow);
        let mut mint = ids();
        let b = o.next_batch(0, &mut mint).expect("batch");
        assert_eq!((b.id.as_str(), b.items, b.attempt), ("b1", 3, 0));
        assert_eq!(request_ids(&b), ["req-0", "req-1", "req-2"]);
        assert_eq!(
            o.next_batch(0, &mut mint),
            None,
            "in flight, nothing pending"
        );
        let done = o.complete(&b.id, &Outcome::Stored, 5);
        assert_eq!(done.stored, 3);
        assert_eq!(o.held(), 0);
        // The flusher finds nothing and stops; the next event starts a new one.
        assert_eq!(o.after_pass(5, 0, true), Next::Done);
        assert!(!o.has_flusher());
        assert!(matches!(o.push(ev(3)), Push::StartFlusher { .. }));
    }

    #[test]
    fn a_failed_batch_is_retried_with_the_same_id_and_backoff_while_new_events_batch_apart() {
        let mut o = Outbox::new(config());
        let _ = o.push(ev(0));
        let _ = o.push(ev(1));
        let mut mint = ids();
        let first = o.next_batch(0, &mut mint).expect("batch");
        let _ = o.push(ev(2));
        let done = o.complete(&first.id, &Outcome::Failed, 1_000);
        assert_eq!((done.retrying, done.retry_at_ms), (2, Some(1_250)));
        // Not due yet: a new batch of the new event, under a new id.
        let fresh = o.next_batch(1_100, &mut mint).expect("new batch");
        assert_eq!(
            (fresh.id.as_str(), request_ids(&fresh)),
            ("b2", vec!["req-2".into()])
        );
        let _ = o.complete(&fresh.id, &Outcome::Stored, 1_100);
        assert_eq!(o.after_pass(1_100, 0, true), Next::Sleep { ms: 150 });
        let retry = o.next_batch(1_250, &mut mint).expect("retry");
        assert_eq!((retry.id.as_str(), retry.attempt), ("b1", 1));
        assert_eq!(retry.body, first.body, "same id, same events");
        let again = o.complete(&retry.id, &Outcome::Failed, 1_250);
        assert_eq!(again.retry_at_ms, Some(1_750));
        // Backoff doubles and is capped.
        let d: Vec<u64> = (0..5)
            .map(|k| {
                let now = 10_000 * (k + 2);
                let b = o.next_batch(now, &mut mint).expect("again");
                assert_eq!(b.id.as_str(), "b1");
                o.complete(&b.id, &Outcome::Failed, now)
                    .retry_at_ms
                    .expect("due")
                    - now
            })
            .collect();
        assert_eq!(d, [1_000, 2_000, 4_000, 4_000, 4_000]);
    }

    #[test]
    fn a_partial_answer_keeps_only_the_unavailable_items_and_drops_the_invalid() {
        let mut o = Outbox::new(config());
        for i in 0..3 {
            let _ = o.push(ev(i));
        }
        let mut mint = ids();
        let b = o.next_batch(0, &mut mint).expect("batch");
        let body = serde_json::json!({"accepted": 1, "rejected": 2, "results": [
            {"index": 0, "accepted": true},
            {"index": 1, "accepted": false, "error": {"code": "invalid_field", "message": "x"}},
            {"index": 2, "accepted": false, "error": {"code": "upstream_unavailable", "message": "y"}},
        ]});
        let outcome = Outcome::of_response(207, &serde_json::to_vec(&body).expect("ser"), 3);
        assert_eq!(
            outcome,
            Outcome::Partial {
                retry: vec![2],
                invalid: vec![1]
            }
        );
        let done = o.complete(&b.id, &outcome, 0);
        assert_eq!((done.stored, done.invalid, done.retrying), (1, 1, 1));
        let retry = o.next_batch(10_000, &mut mint).expect("retry");
        assert_eq!(
            (&retry.id, request_ids(&retry)),
            (&b.id, vec!["req-2".to_owned()])
        );
    }

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(Outcome::of_response(202, b"", 1), Outcome::Stored);
        for s in [500, 503, 504, 429, 408] {
            assert_eq!(Outcome::of_response(s, b"", 1), Outcome::Failed, "{s}");
        }
        for s in [400, 404, 413] {
            assert_eq!(Outcome::of_response(s, b"", 1), Outcome::Refused, "{s}");
        }
        assert_eq!(Outcome::of_response(207, b"not json", 1), Outcome::Failed);
        let mut o = Outbox::new(config());
        let _ = o.push(ev(0));
        let b = o.next_batch(0, ids()).expect("batch");
        assert_eq!(o.complete(&b.id, &Outcome::Refused, 0).invalid, 1);
        assert_eq!(o.held(), 0);
    }

    #[test]
    fn the_cap_drops_the_oldest_not_in_flight_and_counts_it() {
        let mut o = Outbox::new(OutboxConfig {
            cap: 4,
            max_items: 2,
            ..config()
        });
        let mut mint = ids();
        for i in 0..2 {
            let _ = o.push(ev(i));
        }
        let in_flight = o.next_batch(0, &mut mint).expect("batch");
        for i in 2..7 {
            let _ = o.push(ev(i));
        }
        assert_eq!(o.held(), 4);
        assert_eq!(o.take_dropped(), 3);
        assert_eq!(o.take_dropped(), 0);
        // The in-flight batch is untouched; the oldest pending went.
        let _ = o.complete(&in_flight.id, &Outcome::Stored, 0);
        let next = o.next_batch(0, &mut mint).expect("batch");
        assert_eq!(request_ids(&next), ["req-5", "req-6"]);
    }

    #[test]
    fn batches_stay_within_the_byte_limit() {
        let one = serde_json::to_vec(&ev(0)).expect("ser").len() + 1;
        let mut o = Outbox::new(OutboxConfig {
            max_items: 1000,
            max_bytes: ENVELOPE_OVERHEAD_BYTES + 3 * one + 2,
            cap: 100,
            ..config()
        });
        for i in 0..7 {
            let _ = o.push(ev(i));
        }
        let mut mint = ids();
        let mut sizes = Vec::new();
        while let Some(b) = o.next_batch(0, &mut mint) {
            assert!(b.body.len() <= o.config().max_bytes);
            sizes.push(b.items);
        }
        assert_eq!(sizes, [3, 3, 1]);
    }

    #[test]
    fn a_sending_task_stops_at_its_budget_and_only_one_flusher_runs() {
        let mut o = Outbox::new(config());
        let _ = o.push(ev(0));
        let b = o.next_batch(0, ids()).expect("batch");
        let _ = o.complete(&b.id, &Outcome::Failed, 0);
        // A SendNow task does not become a second flusher while one runs.
        assert_eq!(o.after_pass(0, 0, false), Next::Done);
        assert_eq!(o.after_pass(0, 0, true), Next::Sleep { ms: 250 });
        // A retry due after the task's budget: it stops and leaves the batch for the next
        // flusher, which the next event starts.
        let budget = o.config().retry_budget_ms;
        let b = o.next_batch(250, ids()).expect("retry");
        let _ = o.complete(&b.id, &Outcome::Failed, budget - 100);
        assert_eq!(o.after_pass(budget - 100, 0, true), Next::Done);
        assert!(!o.has_flusher());
        assert_eq!(o.held(), 1);
        assert!(matches!(o.push(ev(1)), Push::StartFlusher { .. }));
    }

    proptest::proptest! {
        /// Whatever the answers, every pushed event is stored, dropped as invalid, dropped by
        /// the cap, or still held: nothing vanishes and nothing is stored twice.
        #[test]
        fn every_event_is_accounted_for(steps in proptest::collection::vec(0u8..6, 1..200)) {
            let mut o = Outbox::new(OutboxConfig { cap: 25, max_items: 4, ..config() });
            let mut mint = ids();
            let (mut pushed, mut stored, mut invalid, mut dropped) = (0usize, 0, 0, 0u64);
            let mut flying: Vec<Outgoing> = Vec::new();
            let mut now = 0;
            for s in steps {
                now += 100;
                match s {
                    0 | 1 => { let _ = o.push(ev(pushed)); pushed += 1; }
                    2 => if let Some(b) = o.next_batch(now, &mut mint) { flying.push(b); },
                    _ => if let Some(b) = flying.pop() {
                        let outcome = match s {
                            3 => Outcome::Stored,
                            4 => Outcome::Failed,
                            _ => Outcome::Partial { retry: vec![0], invalid: vec![1] },
                        };
                        let done = o.complete(&b.id, &outcome, now);
                        stored += done.stored;
                        invalid += done.invalid;
                    },
                }
                dropped += o.take_dropped();
                proptest::prop_assert!(o.held() <= 25);
            }
            proptest::prop_assert_eq!(pushed as u64, (stored + invalid + o.held()) as u64 + dropped);
        }
    }
}
