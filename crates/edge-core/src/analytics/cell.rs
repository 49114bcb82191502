//! Cells: the unit of exact aggregation. Every event adds one to the cell of each window it
//! counts in, keyed by every dimension the queries group by, so any grouping is a sum of
//! cells and no update depends on reading another.

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::cache::outcome::CacheOutcome;

use super::histogram::{Bucket, bucket_of};
use super::window::{Resolution, Untimely, windows_for};
use crate::metric::MetricEvent;

/// The status class of a status code: `1xx` … `5xx`.
#[must_use]
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The status class counted as an error: server errors. 4xx answers (refused credentials,
/// bad input) are the edge doing its job and are visible by status class instead.
pub const ERROR_CLASS: &str = "5xx";

/// Every dimension of one cell.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CellKey {
    /// Resolution of the window.
    pub res: Resolution,
    /// Window start, unix ms.
    pub window_start: u64,
    /// Reporting worker.
    pub worker: &'static str,
    /// `1xx` … `5xx`.
    pub status_class: &'static str,
    /// Routed region, `''` when none.
    pub region: String,
    /// Client country, `''` when unknown.
    pub country: String,
    /// Cache outcome.
    pub cache: CacheOutcome,
    /// Latency bucket.
    pub bucket: Bucket,
}

/// What a cell accumulates.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct CellCount {
    /// Events.
    pub n: u64,
    /// Sum of their latencies, ms (for the mean).
    pub latency_sum: f64,
    /// Sum of their AI tokens (events without `tokens` add 0).
    pub tokens: u64,
}

/// Events folded into cells: what one store write adds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cells(pub BTreeMap<CellKey, CellCount>);

impl Cells {
    /// Adds `event` to the cells of every window it still counts in at `now_ms`.
    ///
    /// # Errors
    /// [`Untimely`] when the event is outside every kept window; nothing is added.
    pub fn add(&mut self, event: &MetricEvent, now_ms: u64) -> Result<(), Untimely> {
        for (res, window_start) in windows_for(event.ts_ms, now_ms)? {
            let key = CellKey {
                res,
                window_start,
                worker: event.worker.as_str(),
                status_class: status_class(event.status),
                region: event.region.clone().unwrap_or_default(),
                country: event.country.clone().unwrap_or_default(),
                cache: CacheOutcome::from_decision(event.decision.as_deref()),
                bucket: bucket_of(event.latency_ms),
            };
            let cell = self.0.entry(key).or_default();
            cell.n += 1;
            cell.latency_sum += event.latency_ms;
            // At most MAX_TOKENS per event: a cell would need 1.8e12 events to overflow.
            cell.tokens = cell.tokens.saturating_add(event.tokens.unwrap_or(0));
        }
        Ok(())
    }

    /// Number of distinct cells (rows one store write touches).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was added.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::window::{DAY_MS, HOUR_MS};
    use crate::{RequestId, ServiceName};

    const NOW: u64 = 1_795_435_200_000;

    fn event(ts_ms: u64, status: u16, latency_ms: f64, decision: Option<&str>) -> MetricEvent {
        MetricEvent {
            worker: ServiceName::CacheManager,
            request_id: RequestId::parse("r").expect("valid"),
            ts_ms,
            method: "GET".into(),
            path: "/".into(),
            status,
            latency_ms,
            country: Some("DE".into()),
            colo: None,
            decision: decision.map(str::to_owned),
            region: None,
            priority: None,
            degraded: None,
            tokens: None,
        }
    }

    #[test]
    fn identical_events_share_a_cell_per_window() {
        let mut cells = Cells::default();
        for _ in 0..3 {
            cells
                .add(&event(NOW + 5, 200, 12.0, Some("cache_hit")), NOW)
                .expect("timely");
        }
        cells
            .add(&event(NOW + 6, 503, 12.0, None), NOW)
            .expect("timely");
        assert_eq!(cells.len(), 4, "two keys × minute and hour");
        let hits: Vec<_> = cells
            .0
            .iter()
            .filter(|(k, _)| k.cache == CacheOutcome::Hit)
            .collect();
        assert_eq!(hits.len(), 2);
        assert!(
            hits.iter()
                .all(|(k, c)| c.n == 3 && c.latency_sum == 36.0 && k.status_class == "2xx")
        );
        assert!(
            cells
                .0
                .keys()
                .any(|k| k.status_class == ERROR_CLASS && k.cache == CacheOutcome::None)
        );
    }

    #[test]
    fn tokens_are_summed_per_cell_and_absent_tokens_add_nothing() {
        let mut cells = Cells::default();
        for tokens in [Some(40), None, Some(2)] {
            let mut e = event(NOW + 5, 200, 12.0, None);
            e.tokens = tokens;
            cells.add(&e, NOW).expect("timely");
        }
        assert_eq!(cells.len(), 2, "one key × minute and hour");
        assert!(cells.0.values().all(|c| c.n == 3 && c.tokens == 42));
    }

    #[test]
    fn late_events_count_only_where_still_kept_and_expired_ones_nowhere() {
        let mut cells = Cells::default();
        cells
            .add(&event(NOW - DAY_MS - HOUR_MS, 200, 1.0, None), NOW)
            .expect("hourly");
        assert_eq!(cells.len(), 1);
        assert_eq!(cells.0.keys().next().map(|k| k.res), Some(Resolution::Hour));
        assert_eq!(
            cells.add(&event(NOW - 9 * DAY_MS, 200, 1.0, None), NOW),
            Err(Untimely::Expired)
        );
        assert_eq!(cells.len(), 1);
    }

    #[test]
    fn status_classes() {
        assert_eq!(
            [100, 204, 304, 429, 500, 599].map(status_class),
            ["1xx", "2xx", "3xx", "4xx", "5xx", "5xx"]
        );
    }
}
