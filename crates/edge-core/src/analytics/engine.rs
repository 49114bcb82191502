//! The Analytics Engine data point of an event: raw, sampled, long-lived, queried with SQL
//! over the dataset (while the Durable Object stores keep exact windows).
//!
//! Layout (stable; SQL over the dataset depends on it), declared in [`BLOBS`] and
//! [`DOUBLES`] and checked by tests against the event's fields (`metric::FIELDS`: each one
//! has a place) and against [`DataPoint::of`]:
//! - `index1`: worker (the sampling key);
//! - `blob1`…`blob11`: worker, request_id, method, path, status class, country, colo,
//!   decision, region, priority, cache outcome (`''` when absent);
//! - `double1`…`double5`: latency ms, status, ts ms, degraded (1, 0, or -1 when not routed),
//!   AI tokens (-1 when the event has none: `SUM(double5) … WHERE double5 >= 0`).

use super::cell::{CacheOutcome, status_class};
use crate::metric::MetricEvent;

/// What one blob or double of the layout holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An event field (`metric::FIELDS`) as it is: text as a blob (`''` when absent), a
    /// number as a double, a boolean as 1 or 0 (an absent number or boolean: -1).
    Field(&'static str),
    /// The status class of `status` (`cell::status_class`).
    StatusClass,
    /// The cache outcome of `decision` (`cell::CacheOutcome`).
    CacheOutcome,
}

/// `blob1`… in order: what each blob holds. Append only: positions are stored.
pub const BLOBS: [Source; 11] = [
    Source::Field("worker"),
    Source::Field("request_id"),
    Source::Field("method"),
    Source::Field("path"),
    Source::StatusClass,
    Source::Field("country"),
    Source::Field("colo"),
    Source::Field("decision"),
    Source::Field("region"),
    Source::Field("priority"),
    Source::CacheOutcome,
];

/// `double1`… in order: what each double holds. Append only: positions are stored.
pub const DOUBLES: [Source; 5] = [
    Source::Field("latency_ms"),
    Source::Field("status"),
    Source::Field("ts_ms"),
    Source::Field("degraded"),
    Source::Field("tokens"),
];

/// Analytics Engine's limits on one data point.
pub const MAX_BLOBS: usize = 20;
/// Total bytes of all blobs.
pub const MAX_BLOB_BYTES: usize = 16 * 1024;
/// Doubles per point.
pub const MAX_DOUBLES: usize = 20;
/// Bytes of the one index.
pub const MAX_INDEX_BYTES: usize = 96;

/// One data point, ready for `writeDataPoint`.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPoint {
    /// Exactly one index.
    pub index: &'static str,
    /// Blobs in layout order.
    pub blobs: Vec<String>,
    /// Doubles in layout order.
    pub doubles: Vec<f64>,
}

impl DataPoint {
    /// The point of a validated event, in the layout of [`BLOBS`] and [`DOUBLES`].
    ///
    /// Contract: always within Analytics Engine's limits ([`DataPoint::within_limits`]),
    /// because every event field is bounded by the event's own validation.
    #[must_use]
    pub fn of(e: &MetricEvent) -> Self {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        Self {
            index: e.worker.as_str(),
            blobs: vec![
                e.worker.as_str().to_owned(),
                e.request_id.as_str().to_owned(),
                e.method.clone(),
                e.path.clone(),
                status_class(e.status).to_owned(),
                opt(&e.country),
                opt(&e.colo),
                opt(&e.decision),
                opt(&e.region),
                opt(&e.priority),
                CacheOutcome::from_decision(e.decision.as_deref())
                    .as_str()
                    .to_owned(),
            ],
            doubles: vec![
                e.latency_ms,
                f64::from(e.status),
                e.ts_ms as f64,
                e.degraded.map_or(-1.0, |d| f64::from(u8::from(d))),
                // At most MAX_TOKENS (1e7): exact as a double.
                e.tokens.map_or(-1.0, |t| t as f64),
            ],
        }
    }

    /// Whether the point respects every Analytics Engine limit.
    #[must_use]
    pub fn within_limits(&self) -> bool {
        self.index.len() <= MAX_INDEX_BYTES
            && self.blobs.len() <= MAX_BLOBS
            && self.blobs.iter().map(String::len).sum::<usize>() <= MAX_BLOB_BYTES
            && self.doubles.len() <= MAX_DOUBLES
    }
}

/// Serialises as the object `writeDataPoint` takes (`{"indexes": [..], "blobs": [..],
/// "doubles": [..]}`), so a whole batch of points can cross into JS as one JSON text.
impl serde::Serialize for DataPoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("DataPoint", 3)?;
        st.serialize_field("indexes", &[self.index])?;
        st.serialize_field("blobs", &self.blobs)?;
        st.serialize_field("doubles", &self.doubles)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::{FIELDS, FieldType, Observation, RouteNote};
    use crate::{RequestId, ServiceName};

    fn event(route: Option<RouteNote<'_>>, country: Option<&str>) -> MetricEvent {
        let id = RequestId::parse("layout-1").expect("valid");
        MetricEvent::from_observation(Observation {
            worker: ServiceName::CacheManager,
            request_id: &id,
            method: "GET",
            path: "/a/b",
            status: 404,
            started_ms: 1_000,
            finished_ms: 1_250,
            country,
            colo: country.map(|_| "FRA"),
            decision: country.map(|_| "cache_hit"),
            route,
        })
    }

    #[test]
    fn every_event_field_has_exactly_one_place_in_the_layout() {
        let placed: Vec<&str> = BLOBS
            .iter()
            .chain(DOUBLES.iter())
            .filter_map(|s| match s {
                Source::Field(name) => Some(*name),
                _ => None,
            })
            .collect();
        for f in FIELDS {
            let n = placed.iter().filter(|p| **p == f.name).count();
            assert_eq!(n, 1, "{} is placed {n} times", f.name);
        }
        assert_eq!(
            placed.len(),
            FIELDS.len(),
            "the layout names a field the event lacks"
        );
        for s in DOUBLES {
            if let Source::Field(name) = s {
                let f = FIELDS.iter().find(|f| f.name == name).expect("declared");
                assert_ne!(f.ty, FieldType::Text, "{name} is text, not a double");
            }
        }
    }

    #[test]
    fn data_points_follow_the_declared_layout() {
        let full = event(
            Some(RouteNote {
                region: "eu-west-1",
                priority: "high",
                degraded: true,
            }),
            Some("DE"),
        );
        for e in [full.with_tokens(Some(1_234)), event(None, None)] {
            let p = DataPoint::of(&e);
            let json = serde_json::to_value(&e).expect("serialises");
            assert_eq!(
                (p.blobs.len(), p.doubles.len()),
                (BLOBS.len(), DOUBLES.len())
            );
            assert_eq!(p.index, e.worker.as_str());
            for (blob, source) in p.blobs.iter().zip(BLOBS) {
                let want = match source {
                    Source::Field(name) => json[name].as_str().unwrap_or_default().to_owned(),
                    Source::StatusClass => status_class(e.status).to_owned(),
                    Source::CacheOutcome => CacheOutcome::from_decision(e.decision.as_deref())
                        .as_str()
                        .to_owned(),
                };
                assert_eq!(blob, &want, "{source:?}");
            }
            for (double, source) in p.doubles.iter().zip(DOUBLES) {
                let Source::Field(name) = source else {
                    panic!("doubles hold fields only: {source:?}");
                };
                let want = match &json[name] {
                    serde_json::Value::Bool(b) => f64::from(u8::from(*b)),
                    serde_json::Value::Null => -1.0,
                    v => v.as_f64().expect("a number"),
                };
                assert_eq!(*double, want, "{name}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn every_event_fits_analytics_engine(path in ".{0,2000}", decision in "[a-z_]{1,60}") {
            let id = RequestId::parse(&"r".repeat(64)).expect("valid");
            let e = MetricEvent::from_observation(Observation {
                worker: ServiceName::AnalyticsCollector,
                request_id: &id,
                method: "DELETE",
                path: &path,
                status: 503,
                started_ms: 1,
                finished_ms: 9,
                country: Some("JP"),
                colo: Some("NRT"),
                decision: Some(&decision),
                route: Some(RouteNote { region: &"r".repeat(32), priority: &"p".repeat(32), degraded: true }),
            });
            let p = DataPoint::of(&e);
            proptest::prop_assert!(p.within_limits());
            proptest::prop_assert_eq!(p.blobs.len(), 11);
            proptest::prop_assert_eq!(&p.doubles, &vec![8.0, 503.0, 9.0, 1.0, -1.0]);
            proptest::prop_assert_eq!(&p.blobs[4], "5xx");
            let json = serde_json::to_value(&p).expect("serialises");
            proptest::prop_assert_eq!(
                json,
                serde_json::json!({ "indexes": [p.index], "blobs": p.blobs, "doubles": p.doubles })
            );
        }
    }
}
