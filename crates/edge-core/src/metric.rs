//! The metric event every worker reports to analytics-collector, and its strict parser.
//!
//! The collector trusts nothing it receives: [`MetricEvent::from_json`] bounds the body
//! size, rejects unknown fields, and checks every field's type and range, naming the
//! first field that failed.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::HttpError;
use crate::request_id::RequestId;
use crate::service::ServiceName;

/// Largest accepted body for one metric event, in bytes.
pub const MAX_EVENT_BYTES: usize = 4 * 1024;
/// Longest accepted `path`, in bytes.
pub const MAX_PATH_LEN: usize = 512;
/// Longest accepted `method`, in bytes.
pub const MAX_METHOD_LEN: usize = 16;
/// Largest accepted `latency_ms` (ten minutes).
pub const MAX_LATENCY_MS: f64 = 600_000.0;
/// Largest accepted `tokens` of one event (an AI answer's usage). A single answer is a few
/// thousand tokens; ten million bounds what one event can add to a sum.
pub const MAX_TOKENS: u64 = 10_000_000;

/// One observation of one request at one hop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricEvent {
    /// The worker that observed the request.
    pub worker: ServiceName,
    /// Ties together the events of one request across hops.
    pub request_id: RequestId,
    /// When the hop finished, unix milliseconds (from the reporting worker's clock).
    pub ts_ms: u64,
    /// HTTP method token, e.g. `GET`.
    pub method: String,
    /// Request path without query string; starts with `/`.
    pub path: String,
    /// HTTP status the hop answered with (100..=599).
    pub status: u16,
    /// Time spent in the hop, milliseconds, finite and in `0..=600000`.
    pub latency_ms: f64,
    /// ISO 3166-1 alpha-2 country of the client, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Cloudflare colo (IATA code) that ran the hop, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colo: Option<String>,
    /// The hop's decision as a stable code (`allow_jwt`, `token_expired`, `rate_limited`…),
    /// when the hop makes one; `[a-z0-9_]{1,48}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// The region a routing hop sent the request to; `[a-z0-9-]{1,32}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The request's priority class at a routing hop; `[a-z0-9-]{1,32}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Whether the routing decision was degraded (no healthy region).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded: Option<bool>,
    /// AI tokens the hop spent (the provider's `usage.total_tokens`), when it asked an AI
    /// provider and the provider counted them; `0..=MAX_TOKENS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
}

/// Why a metric event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    /// The body is larger than [`MAX_EVENT_BYTES`].
    #[error("metric body exceeds {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    /// The body is not a JSON object.
    #[error("metric body is not a json object")]
    Malformed,
    /// A field the event does not define was present.
    #[error("unknown field")]
    UnknownField {
        /// The offending key (cut to 64 bytes).
        field: String,
    },
    /// A required field was absent.
    #[error("missing required field")]
    Missing {
        /// The missing field.
        field: &'static str,
    },
    /// A field had the wrong type or an out-of-range value.
    #[error("invalid value: {reason}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What was wrong, lowercase.
        reason: &'static str,
    },
}

impl HttpError for MetricError {
    fn status(&self) -> u16 {
        match self {
            Self::TooLarge => 413,
            _ => 400,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => "payload_too_large",
            Self::Malformed => "malformed_json",
            Self::UnknownField { .. } => "unknown_field",
            Self::Missing { .. } => "missing_field",
            Self::Invalid { .. } => "invalid_field",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::UnknownField { field } => Some(field),
            Self::Missing { field } | Self::Invalid { field, .. } => Some(field),
            Self::TooLarge | Self::Malformed => None,
        }
    }
}

/// What a worker saw of one request at one hop, before it is made into a valid event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation<'a> {
    /// The worker that observed the request.
    pub worker: ServiceName,
    /// The request's id.
    pub request_id: &'a RequestId,
    /// Method as received.
    pub method: &'a str,
    /// Path as received (no query string).
    pub path: &'a str,
    /// Status answered.
    pub status: u16,
    /// When the hop started, unix ms.
    pub started_ms: u64,
    /// When the hop finished, unix ms.
    pub finished_ms: u64,
    /// Client country from `request.cf`, if any.
    pub country: Option<&'a str>,
    /// Colo from `request.cf`, if any.
    pub colo: Option<&'a str>,
    /// The hop's decision code, if it made one.
    pub decision: Option<&'a str>,
    /// The routing decision, at a routing hop.
    pub route: Option<RouteNote<'a>>,
}

/// What a routing hop decided, for its metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteNote<'a> {
    /// Target region id.
    pub region: &'a str,
    /// Priority class name.
    pub priority: &'a str,
    /// No region was healthy.
    pub degraded: bool,
}

impl MetricEvent {
    /// Makes a valid event from what a worker observed, so that one odd request never loses
    /// its metric: control characters are dropped from the path and it is cut to
    /// [`MAX_PATH_LEN`] bytes, a method that is not an uppercase token becomes `OTHER`,
    /// latency is clamped to `0..=MAX_LATENCY_MS`, a status outside 100..=599 becomes 500,
    /// and a malformed country, colo or decision is dropped.
    ///
    /// Contract: the result always passes [`MetricEvent::from_object`].
    #[must_use]
    pub fn from_observation(o: Observation<'_>) -> Self {
        let mut path: String = o.path.chars().filter(|c| !c.is_control()).collect();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        if let Some(q) = path.find('?') {
            path.truncate(q);
        }
        // chat-webhook (feature `chat`): the path is text the client chose; personal data
        // typed into a URL (an e-mail, a phone, a card) never reaches analytics.
        // Percent-escapes are decoded to be seen (`%40`); a redacted path is kept decoded.
        #[cfg(feature = "chat")]
        {
            use crate::chat::privacy;
            let decoded = privacy::percent_decoded(&path);
            if let std::borrow::Cow::Owned(clean) = privacy::redact(&decoded) {
                path = clean
                    .chars()
                    .filter(|c| !c.is_control() && *c != '?')
                    .collect();
            }
        }
        while path.len() > MAX_PATH_LEN {
            path.pop();
        }
        let method = if valid_method(o.method) {
            o.method
        } else {
            "OTHER"
        };
        let latency = o.finished_ms.saturating_sub(o.started_ms) as f64;
        Self {
            worker: o.worker,
            request_id: o.request_id.clone(),
            ts_ms: o.finished_ms,
            method: method.to_owned(),
            path,
            status: if (100..=599).contains(&o.status) {
                o.status
            } else {
                500
            },
            latency_ms: latency.min(MAX_LATENCY_MS),
            country: o.country.filter(|c| valid_code(c, 2)).map(str::to_owned),
            colo: o.colo.filter(|c| valid_code(c, 3)).map(str::to_owned),
            decision: o.decision.filter(|d| valid_decision(d)).map(str::to_owned),
            region: o
                .route
                .map(|r| r.region)
                .filter(|r| valid_label(r))
                .map(str::to_owned),
            priority: o
                .route
                .map(|r| r.priority)
                .filter(|p| valid_label(p))
                .map(str::to_owned),
            degraded: o.route.map(|r| r.degraded),
            tokens: None,
        }
    }

    /// The same event with the AI tokens the hop spent, clamped to [`MAX_TOKENS`] (so the
    /// result still passes [`MetricEvent::from_object`]); `None` leaves it without.
    #[must_use]
    pub fn with_tokens(self, tokens: Option<u64>) -> Self {
        Self {
            tokens: tokens.map(|t| t.min(MAX_TOKENS)),
            ..self
        }
    }
}

fn valid_method(m: &str) -> bool {
    !m.is_empty() && m.len() <= MAX_METHOD_LEN && m.bytes().all(|b| b.is_ascii_uppercase())
}

fn valid_path(p: &str) -> bool {
    p.starts_with('/')
        && p.len() <= MAX_PATH_LEN
        && !p.contains('?')
        && !p.chars().any(char::is_control)
}

/// Longest decision code, in bytes.
pub const MAX_DECISION_LEN: usize = 48;

fn valid_decision(d: &str) -> bool {
    (1..=MAX_DECISION_LEN).contains(&d.len())
        && d.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A region or priority label: `[a-z0-9-]{1,32}`.
fn valid_label(l: &str) -> bool {
    (1..=32).contains(&l.len())
        && l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_code(c: &str, len: usize) -> bool {
    c.len() == len && c.bytes().all(|b| b.is_ascii_uppercase())
}

/// The type of a metric event field's JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A string.
    Text,
    /// A non-negative integer.
    Integer,
    /// A finite number.
    Number,
    /// `true` or `false`.
    Bool,
}

/// One field of [`MetricEvent`] on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The JSON key (and the collector's column name).
    pub name: &'static str,
    /// The value's type.
    pub ty: FieldType,
    /// Whether every event carries it (optional fields are omitted when absent).
    pub required: bool,
}

const fn field(name: &'static str, ty: FieldType, required: bool) -> Field {
    Field { name, ty, required }
}

/// The metric event's fields, declared once, in declaration order: the validator accepts
/// exactly these keys, the collector's raw-hop table is built from them, and tests check
/// that [`MetricEvent`] serialises to exactly these keys and that the Analytics Engine
/// layout (`analytics::engine`) places every one of them.
pub const FIELDS: [Field; 14] = [
    field("worker", FieldType::Text, true),
    field("request_id", FieldType::Text, true),
    field("ts_ms", FieldType::Integer, true),
    field("method", FieldType::Text, true),
    field("path", FieldType::Text, true),
    field("status", FieldType::Integer, true),
    field("latency_ms", FieldType::Number, true),
    field("country", FieldType::Text, false),
    field("colo", FieldType::Text, false),
    field("decision", FieldType::Text, false),
    field("region", FieldType::Text, false),
    field("priority", FieldType::Text, false),
    field("degraded", FieldType::Bool, false),
    field("tokens", FieldType::Integer, false),
];

impl MetricEvent {
    /// Parses and validates one event from raw JSON bytes.
    ///
    /// # Errors
    /// [`MetricError`] naming the first field (in declaration order) that failed.
    pub fn from_json(body: &[u8]) -> Result<Self, MetricError> {
        if body.len() > MAX_EVENT_BYTES {
            return Err(MetricError::TooLarge);
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Self::from_object(&map),
            _ => Err(MetricError::Malformed),
        }
    }

    /// Validates one event from an already-parsed JSON object (the unit a batch is made of).
    ///
    /// # Errors
    /// As [`MetricEvent::from_json`], minus the size check.
    pub fn from_object(map: &Map<String, Value>) -> Result<Self, MetricError> {
        if let Some(k) = map
            .keys()
            .find(|k| !FIELDS.iter().any(|f| f.name == k.as_str()))
        {
            let field = k.chars().take(64).collect();
            return Err(MetricError::UnknownField { field });
        }
        let worker =
            ServiceName::parse(required_str(map, "worker")?).ok_or(MetricError::Invalid {
                field: "worker",
                reason: "not a known worker",
            })?;
        let request_id =
            RequestId::parse(required_str(map, "request_id")?).ok_or(MetricError::Invalid {
                field: "request_id",
                reason: "expected 1..=64 of [a-za-z0-9._-]",
            })?;
        let ts_ms = required(map, "ts_ms")?
            .as_u64()
            .ok_or(MetricError::Invalid {
                field: "ts_ms",
                reason: "expected a non-negative integer",
            })?;
        let method = required_str(map, "method")?;
        if !valid_method(method) {
            return Err(MetricError::Invalid {
                field: "method",
                reason: "expected an uppercase method token",
            });
        }
        let path = required_str(map, "path")?;
        if !valid_path(path) {
            return Err(MetricError::Invalid {
                field: "path",
                reason: "expected an absolute path without query, at most 512 bytes",
            });
        }
        let status = required(map, "status")?
            .as_u64()
            .filter(|s| (100..=599).contains(s))
            .and_then(|s| u16::try_from(s).ok())
            .ok_or(MetricError::Invalid {
                field: "status",
                reason: "expected an integer in 100..=599",
            })?;
        let latency_ms = required(map, "latency_ms")?
            .as_f64()
            .filter(|l| l.is_finite() && (0.0..=MAX_LATENCY_MS).contains(l))
            .ok_or(MetricError::Invalid {
                field: "latency_ms",
                reason: "expected a number in 0..=600000",
            })?;
        let country = optional_code(map, "country", 2)?;
        let colo = optional_code(map, "colo", 3)?;
        let decision = match map.get("decision") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) if valid_decision(d) => Some(d.clone()),
            Some(_) => {
                return Err(MetricError::Invalid {
                    field: "decision",
                    reason: "expected [a-z0-9_]{1,48}",
                });
            }
        };
        let label = |field: &'static str| match map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(l)) if valid_label(l) => Ok(Some(l.clone())),
            Some(_) => Err(MetricError::Invalid {
                field,
                reason: "expected [a-z0-9-]{1,32}",
            }),
        };
        let region = label("region")?;
        let priority = label("priority")?;
        let degraded = match map.get("degraded") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(MetricError::Invalid {
                    field: "degraded",
                    reason: "expected a boolean",
                });
            }
        };
        let tokens = match map.get("tokens") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().filter(|t| *t <= MAX_TOKENS).ok_or(
                MetricError::Invalid {
                    field: "tokens",
                    reason: "expected an integer in 0..=10000000",
                },
            )?),
        };
        Ok(Self {
            worker,
            request_id,
            ts_ms,
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            latency_ms,
            country,
            colo,
            decision,
            region,
            priority,
            degraded,
            tokens,
        })
    }
}

fn required<'a>(
    map: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a Value, MetricError> {
    map.get(field)
        .filter(|v| !v.is_null())
        .ok_or(MetricError::Missing { field })
}

fn required_str<'a>(
    map: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, MetricError> {
    required(map, field)?.as_str().ok_or(MetricError::Invalid {
        field,
        reason: "expected a string",
    })
}

/// An optional fixed-length uppercase code (country, colo).
fn optional_code(
    map: &Map<String, Value>,
    field: &'static str,
    len: usize,
) -> Result<Option<String>, MetricError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if valid_code(s, len) => Ok(Some(s.clone())),
        Some(_) => Err(MetricError::Invalid {
            field,
            reason: "expected an uppercase code of fixed length",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "worker": "cache-manager",
            "request_id": "req-1",
            "ts_ms": 1_763_000_000_000u64,
            "method": "GET",
            "path": "/api/v1/agents",
            "status": 200,
            "latency_ms": 12.5,
            "country": "DE",
            "colo": "FRA",
            "decision": "allow_api_key",
            "region": "us-east-1",
            "priority": "high",
            "degraded": false,
            "tokens": 1234
        })
    }

    fn parse(v: &Value) -> Result<MetricEvent, MetricError> {
        MetricEvent::from_json(&serde_json::to_vec(v).expect("serializes"))
    }

    #[test]
    fn valid_event_round_trips() {
        let ev = parse(&valid()).expect("valid");
        assert_eq!(ev.worker, ServiceName::CacheManager);
        assert_eq!(ev.status, 200);
        assert_eq!(ev.country.as_deref(), Some("DE"));
        assert_eq!(ev.tokens, Some(1234));
        let again = parse(&serde_json::to_value(&ev).expect("serializes")).expect("valid");
        assert_eq!(again, ev);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: [(&str, Value, &str); 18] = [
            ("worker", json!("billing"), "invalid_field"),
            ("request_id", json!("a b"), "invalid_field"),
            ("ts_ms", json!(-1), "invalid_field"),
            ("method", json!("get"), "invalid_field"),
            ("path", json!("/a?token=secret"), "invalid_field"),
            ("status", json!(600), "invalid_field"),
            ("latency_ms", json!(-0.5), "invalid_field"),
            ("country", json!("Germany"), "invalid_field"),
            ("colo", json!(7), "invalid_field"),
            ("decision", json!("Token-Expired"), "invalid_field"),
            ("region", json!("EU West"), "invalid_field"),
            ("degraded", json!("yes"), "invalid_field"),
            ("tokens", json!(-1), "invalid_field"),
            ("tokens", json!(MAX_TOKENS + 1), "invalid_field"),
            ("tokens", json!(1.5), "invalid_field"),
            ("tokens", json!("12"), "invalid_field"),
            ("tokens", json!(true), "invalid_field"),
            ("status", Value::Null, "missing_field"),
        ];
        for (field, value, code) in cases {
            let mut v = valid();
            v[field] = value;
            let err = parse(&v).expect_err(field);
            assert_eq!(err.field(), Some(field), "{err:?}");
            assert_eq!(err.code(), code);
            assert_eq!(err.status(), 400);
        }
    }

    #[test]
    fn tokens_accept_the_whole_range_and_null_means_absent() {
        for (tokens, want) in [
            (json!(0), Some(0)),
            (json!(1), Some(1)),
            (json!(MAX_TOKENS), Some(MAX_TOKENS)),
            (Value::Null, None),
        ] {
            let mut v = valid();
            v["tokens"] = tokens;
            assert_eq!(parse(&v).expect("valid").tokens, want);
        }
        for big in [json!(u64::MAX), json!(1e300), json!(-0.0)] {
            let mut v = valid();
            v["tokens"] = big;
            assert_eq!(parse(&v).expect_err("out of range").field(), Some("tokens"));
        }
    }

    #[test]
    fn with_tokens_clamps_into_the_accepted_range() {
        let ev = parse(&valid()).expect("valid");
        assert_eq!(ev.clone().with_tokens(None).tokens, None);
        assert_eq!(ev.clone().with_tokens(Some(7)).tokens, Some(7));
        let huge = ev.with_tokens(Some(u64::MAX));
        assert_eq!(huge.tokens, Some(MAX_TOKENS));
        assert_eq!(
            parse(&serde_json::to_value(&huge).expect("serializes")),
            Ok(huge)
        );
    }

    #[test]
    fn unknown_fields_oversize_and_non_objects_are_refused() {
        let mut v = valid();
        v["password"] = json!("hunter2");
        assert_eq!(parse(&v).expect_err("unknown").code(), "unknown_field");
        let big = vec![b' '; MAX_EVENT_BYTES + 1];
        assert_eq!(MetricEvent::from_json(&big), Err(MetricError::TooLarge));
        assert_eq!(
            MetricEvent::from_json(b"[1,2]"),
            Err(MetricError::Malformed)
        );
        assert_eq!(MetricEvent::from_json(b"{"), Err(MetricError::Malformed));
    }

    #[test]
    fn observations_are_clipped_into_valid_events() {
        let id = RequestId::parse("obs-1").expect("valid id");
        let long = format!("/a\u{7}b{}", "é".repeat(400));
        let ev = MetricEvent::from_observation(Observation {
            worker: ServiceName::AuthValidator,
            request_id: &id,
            method: "PROPFIND-EXTENDED-X",
            path: &long,
            status: 42,
            started_ms: 10,
            finished_ms: 2_000_000,
            country: Some("XX1"),
            colo: Some("FRA"),
            decision: Some("allow_jwt"),
            route: Some(RouteNote {
                region: "eu-west-1",
                priority: "realtime",
                degraded: false,
            }),
        });
        assert!(ev.path.len() <= MAX_PATH_LEN && ev.path.starts_with("/ab"));
        assert_eq!(ev.method, "OTHER");
        assert_eq!(ev.status, 500);
        assert_eq!(ev.latency_ms, MAX_LATENCY_MS);
        assert_eq!(ev.country, None);
        assert_eq!(ev.colo.as_deref(), Some("FRA"));
        assert_eq!(
            parse(&serde_json::to_value(&ev).expect("serializes")),
            Ok(ev)
        );
    }

    #[cfg(feature = "chat")]
    #[test]
    fn personal_data_in_a_path_is_redacted_ids_are_not() {
        let id = RequestId::parse("obs-2").expect("valid id");
        let path = |p: &str| {
            MetricEvent::from_observation(Observation {
                worker: ServiceName::ChatWebhook,
                request_id: &id,
                method: "GET",
                path: p,
                status: 404,
                started_ms: 1,
                finished_ms: 2,
                country: None,
                colo: None,
                decision: None,
                route: None,
            })
            .path
        };
        assert_eq!(
            path("/chat/v1/sessions/0812345678/messages?x=somchai@example.com"),
            "/chat/v1/sessions/[phone]/messages"
        );
        assert_eq!(path("/u/somchai@example.com"), "/u/[email]");
        assert_eq!(path("/u/somchai%40example.com%3F%0A"), "/u/[email]");
        for kept in [
            "/chat/v1/sessions/0123456789abcdef0123456789abcdef/messages",
            "/admin/v1/customers/U4af4980629a1b2c3d4e5f60718293a4b/conversation",
            "/admin/v1/web-customers/cus_42:shop-a/export",
        ] {
            assert_eq!(path(kept), kept);
        }
    }

    proptest::proptest! {
        #[test]
        fn every_observation_becomes_an_event_the_collector_accepts(
            method in ".{0,20}",
            path in ".{0,700}",
            status in 0u16..1000,
            started in 0u64..u64::MAX / 2,
            took in 0u64..10_000_000,
            country in proptest::option::of(".{0,4}"),
            colo in proptest::option::of(".{0,4}"),
            decision in proptest::option::of(".{0,60}"),
            region in proptest::option::of(".{0,40}"),
            tokens in proptest::option::of(proptest::num::u64::ANY),
        ) {
            let id = RequestId::parse("prop").expect("valid id");
            let ev = MetricEvent::from_observation(Observation {
                worker: ServiceName::VoiceRouter,
                request_id: &id,
                method: &method,
                path: &path,
                status,
                started_ms: started,
                finished_ms: started + took,
                country: country.as_deref(),
                colo: colo.as_deref(),
                decision: decision.as_deref(),
                route: region.as_deref().map(|region| RouteNote { region, priority: "high", degraded: true }),
            })
            .with_tokens(tokens);
            let bytes = serde_json::to_vec(&ev).expect("serializes");
            proptest::prop_assert!(bytes.len() <= MAX_EVENT_BYTES);
            proptest::prop_assert_eq!(MetricEvent::from_json(&bytes), Ok(ev));
        }
    }

    #[test]
    fn missing_required_fields_are_named_and_optional_ones_may_be_absent() {
        for f in FIELDS {
            let mut v = valid();
            v.as_object_mut().expect("object").remove(f.name);
            if f.required {
                assert_eq!(parse(&v), Err(MetricError::Missing { field: f.name }));
            } else {
                assert!(parse(&v).is_ok(), "{} is optional", f.name);
            }
        }
    }

    fn keys(v: &Value) -> Vec<String> {
        let mut keys: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        keys
    }

    fn names(filter: impl Fn(&Field) -> bool) -> Vec<String> {
        let mut names: Vec<String> = FIELDS
            .iter()
            .filter(|f| filter(f))
            .map(|f| f.name.to_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_event_serialises_to_exactly_the_declared_fields_with_their_types() {
        let full = serde_json::to_value(parse(&valid()).expect("valid")).expect("serializes");
        assert_eq!(keys(&full), names(|_| true));
        for f in FIELDS {
            let v = &full[f.name];
            let typed = match f.ty {
                FieldType::Text => v.is_string(),
                FieldType::Integer => v.is_u64(),
                FieldType::Number => v.is_number(),
                FieldType::Bool => v.is_boolean(),
            };
            assert!(typed, "{} is {:?}: {v}", f.name, f.ty);
        }
        let mut bare = valid();
        let obj = bare.as_object_mut().expect("object");
        obj.retain(|k, _| FIELDS.iter().any(|f| f.name == k && f.required));
        let bare = serde_json::to_value(parse(&bare).expect("valid")).expect("serializes");
        assert_eq!(keys(&bare), names(|f| f.required));
    }
}
