//! Benchmarks of the core's per-request work: `cargo bench -p edge-core --bench core`.
//!
//! Each is something a worker does on every request (or every metric the collector
//! receives), so their cost is paid per request at the edge.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edge_core::health::{HealthReport, HopOutcome, NextHop};
use edge_core::{MetricEvent, Observation, RequestId, ServiceName, admin};

fn metric_event(c: &mut Criterion) {
    let body = br#"{"worker":"cache-manager","request_id":"0b7e4a2c-5f1d-4c3e-9a8b-1234567890ab","ts_ms":1763000000000,"method":"GET","path":"/api/v1/agents/a1","status":200,"latency_ms":12.5,"country":"DE","colo":"FRA"}"#;
    c.bench_function("metric_event/from_json (collector ingest)", |b| {
        b.iter(|| MetricEvent::from_json(black_box(body)))
    });
    let id = RequestId::parse("0b7e4a2c-5f1d-4c3e-9a8b-1234567890ab").expect("valid id");
    c.bench_function("metric_event/from_observation (every hop)", |b| {
        b.iter(|| {
            MetricEvent::from_observation(black_box(Observation {
                worker: ServiceName::AuthValidator,
                request_id: &id,
                method: "GET",
                path: "/api/v1/agents/a1",
                status: 200,
                started_ms: 1_763_000_000_000,
                finished_ms: 1_763_000_000_012,
                country: Some("DE"),
                colo: Some("FRA"),
                decision: None,
                route: None,
            }))
        })
    });
}

fn health(c: &mut Criterion) {
    let leaf = serde_json::to_vec(&HealthReport::leaf(ServiceName::VoiceRouter, "0.1.0"))
        .expect("serializes");
    c.bench_function("health/fold next hop", |b| {
        b.iter(|| {
            NextHop::from_outcome(
                ServiceName::VoiceRouter,
                HopOutcome::Answered {
                    status: 200,
                    body: black_box(&leaf),
                },
            )
        })
    });
}

fn admin_check(c: &mut Criterion) {
    let secret = "correct-horse-battery-staple-0123456789";
    let header = format!("Bearer {secret}");
    c.bench_function("admin/authorize (match)", |b| {
        b.iter(|| admin::authorize(black_box(Some(header.as_str())), secret))
    });
    c.bench_function("admin/authorize (mismatch)", |b| {
        b.iter(|| admin::authorize(black_box(Some("Bearer nope-nope-nope-nope")), secret))
    });
}

fn request_id(c: &mut Criterion) {
    c.bench_function("request_id/parse uuid", |b| {
        b.iter(|| RequestId::parse(black_box("0b7e4a2c-5f1d-4c3e-9a8b-1234567890ab")))
    });
}

/// Token verification end to end (shape, header, key choice, signature, claims), per
/// algorithm: the cost auth-validator pays on every bearer request.
fn jwt_verify(c: &mut Criterion) {
    use edge_core::auth::jwt::{self, Alg, JwtPolicy, KeySet};
    use jsonwebtoken::{EncodingKey, Header};

    const NOW: u64 = 1_800_000_000;
    let secret = b"0123456789abcdef0123456789abcdef-bench-only";
    let mut keys = KeySet::default();
    keys.add_hs256_secret(secret).expect("secret");
    keys.add_jwks(include_bytes!("../tests/keys/test-jwks.json"))
        .expect("jwks");
    let policy = JwtPolicy {
        algorithms: vec![Alg::HS256, Alg::RS256, Alg::EdDSA],
        issuer: Some("https://id.example".into()),
        audience: Some("edge-api".into()),
        leeway_s: 30,
        rate_limit: None,
        claims: edge_core::auth::claims::ClaimsMapping::default(),
    };
    let claims = serde_json::json!({
        "sub": "user-1", "iss": "https://id.example", "aud": "edge-api",
        "exp": NOW + 600, "iat": NOW, "role": "operator", "permissions": ["calls:read", "agents:*"]
    });
    let sign = |alg, kid: Option<&str>, key: &EncodingKey| {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, key).expect("signs")
    };
    let tokens = [
        (
            "HS256",
            sign(
                jsonwebtoken::Algorithm::HS256,
                None,
                &EncodingKey::from_secret(secret),
            ),
        ),
        (
            "RS256",
            sign(
                jsonwebtoken::Algorithm::RS256,
                Some("rsa-test-1"),
                &EncodingKey::from_rsa_pem(include_bytes!("../tests/keys/rsa-test-private.pem"))
                    .expect("pem"),
            ),
        ),
        (
            "EdDSA",
            sign(
                jsonwebtoken::Algorithm::EdDSA,
                Some("ed-test-1"),
                &EncodingKey::from_ed_pem(include_bytes!("../tests/keys/ed25519-test-private.pem"))
                    .expect("pem"),
            ),
        ),
    ];
    for (name, token) in &tokens {
        assert!(
            jwt::verify(token, &keys, &policy, NOW).is_ok(),
            "{name} verifies"
        );
        c.bench_function(&format!("jwt/verify {name}"), |b| {
            b.iter(|| jwt::verify(black_box(token), &keys, &policy, NOW))
        });
    }
    let (_, hs) = &tokens[0];
    let tampered = format!("{}A", &hs[..hs.len() - 1]);
    c.bench_function("jwt/verify HS256 (bad signature)", |b| {
        b.iter(|| jwt::verify(black_box(&tampered), &keys, &policy, NOW))
    });
}

/// API key check (parse + hash + constant-time compare) and one rate-limit decision.
fn api_key_and_rate_limit(c: &mut Criterion) {
    use edge_core::auth::api_key::ApiKey;
    use edge_core::auth::key_admin::NewKey;
    use edge_core::auth::rate_limit::{RateLimitPolicy, SlidingWindowLog};

    let limit = RateLimitPolicy::new(100, 60).expect("valid");
    let issued = NewKey::from_json(br#"{"name":"bench"}"#, 1)
        .expect("valid")
        .issue([7; 8], [9; 32], limit, 1);
    c.bench_function("api_key/parse+verify", |b| {
        b.iter(|| {
            let key = ApiKey::parse(black_box(&issued.key)).expect("parses");
            issued.record.verify(&key, 2)
        })
    });
    let big = RateLimitPolicy::new(10_000, 60).expect("valid");
    let mut log = SlidingWindowLog::default();
    let mut now = 0u64;
    c.bench_function("rate_limit/check (log of up to 10,000)", |b| {
        b.iter(|| {
            now += 3;
            log.check(big, black_box(now))
        })
    });
}

/// The cache's per-request decisions: plan, decode a stored entry, evaluate it.
fn cache_decisions(c: &mut Criterion) {
    use edge_core::cache::decide::{self, RequestFacts};
    use edge_core::cache::entry::{self, EntryMeta, format_http_date};
    use edge_core::cache::policy::{DEFAULT_POLICIES, PolicyTable};

    const T: u64 = 1_800_000_000;
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    };
    let req_headers = pairs(&[
        ("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"),
        ("x-auth-user-id", "user-42"),
        ("accept-language", "en"),
        ("accept", "application/json"),
    ]);
    let req = RequestFacts {
        method: "GET",
        path: "/api/v1/agents/a1",
        query: Some("view=full"),
        headers: &req_headers,
    };
    let table = PolicyTable::parse(DEFAULT_POLICIES).expect("valid");
    let policy = table.for_path(req.path);
    c.bench_function("cache/plan (policy + identity-hashed key)", |b| {
        b.iter(|| decide::plan(black_box(&req), table.for_path(black_box(req.path))))
    });
    let date = format_http_date(T);
    let meta = EntryMeta::from_response(
        200,
        &pairs(&[
            ("content-type", "application/json"),
            (
                "cache-control",
                "public, max-age=300, stale-while-revalidate=60",
            ),
            ("etag", "\"v42\""),
            ("date", &date),
            ("vary", "Accept-Language"),
        ]),
        &req_headers,
        T,
        T,
    );
    let stored = entry::encode(&meta, &[b'x'; 2048]);
    c.bench_function("cache/decode 2 KiB entry + evaluate", |b| {
        b.iter(|| {
            let (m, _) = entry::decode(black_box(&stored)).expect("decodes");
            decide::evaluate(&m, &req, policy, T + 10)
        })
    });
}

/// The routing decision per request: country list, or nearest by haversine over every
/// region, with breakers consulted.
fn routing_decision(c: &mut Criterion) {
    use edge_core::routing::breaker::{Breaker, BreakerConfig, Observation};
    use edge_core::routing::decide::{self, Client, HealthMap};
    use edge_core::routing::geo::{LatLon, LatencyModel, haversine_km};
    use edge_core::routing::table::RoutingTable;

    let table = RoutingTable::default_table();
    let model = LatencyModel::default();
    let mut health = HealthMap::new();
    let mut down = Breaker::default();
    for t in 0..3 {
        down.observe(Observation::Failed, &BreakerConfig::default(), t);
    }
    health.insert("eu-west-1".to_owned(), down);
    let berlin = LatLon::new(52.52, 13.40);
    let seoul = LatLon::new(37.57, 126.98);
    c.bench_function(
        "routing/decide by country (primary down → failover)",
        |b| {
            b.iter(|| {
                decide::route(
                    &table,
                    &health,
                    black_box(Client {
                        country: Some("DE"),
                        location: berlin,
                    }),
                    &model,
                    10,
                )
            })
        },
    );
    c.bench_function("routing/decide nearest (country not in table)", |b| {
        b.iter(|| {
            decide::route(
                &table,
                &health,
                black_box(Client {
                    country: Some("KR"),
                    location: seoul,
                }),
                &model,
                10,
            )
        })
    });
    let (a, z) = (
        LatLon::new(40.64, -73.78).expect("valid"),
        LatLon::new(33.94, -118.41).expect("valid"),
    );
    c.bench_function("routing/haversine", |b| {
        b.iter(|| haversine_km(black_box(a), black_box(z)))
    });
    c.bench_function("routing/table parse + validate (default)", |b| {
        b.iter(|| RoutingTable::parse(black_box(edge_core::routing::table::DEFAULT_TABLE)))
    });
}

/// What the collector does per ingest and per query: parse a batch, fold it into cells,
/// and turn a window's buckets into percentiles.
fn analytics(c: &mut Criterion) {
    use edge_core::analytics::cell::Cells;
    use edge_core::analytics::histogram::{bucket_of, percentiles};
    use edge_core::analytics::ingest::Ingest;
    use edge_core::analytics::query::{Dimension, Query};
    use edge_core::analytics::summary::{BucketRow, QueryResult, StoreAnswer};
    use edge_core::analytics::window::Resolution;

    let now = 1_795_435_200_000u64;
    let event = |i: u64| {
        format!(
            r#"{{"worker":"voice-router","request_id":"req-{i}","ts_ms":{now},"method":"GET","path":"/api/v1/agents","status":200,"latency_ms":{},"country":"DE","colo":"FRA","region":"eu-west-1","priority":"realtime","degraded":false}}"#,
            i % 700
        )
    };
    let one = event(1);
    let batch = format!("[{}]", (0..100).map(event).collect::<Vec<_>>().join(","));
    c.bench_function("analytics/ingest parse (1 event)", |b| {
        b.iter(|| Ingest::parse(black_box(one.as_bytes()), now))
    });
    c.bench_function("analytics/ingest parse (batch of 100)", |b| {
        b.iter(|| Ingest::parse(black_box(batch.as_bytes()), now))
    });
    let parsed = Ingest::parse(batch.as_bytes(), now).expect("valid batch");
    c.bench_function("analytics/fold 100 events into cells", |b| {
        b.iter(|| {
            let mut cells = Cells::default();
            for e in parsed.accepted() {
                let _ = cells.add(black_box(e), now);
            }
            cells
        })
    });
    let counts: Vec<_> = (0..10_000u64)
        .map(|i| (bucket_of((i % 3000) as f64), 1))
        .collect();
    c.bench_function("analytics/percentiles of 10k observations", |b| {
        b.iter(|| percentiles(black_box(&counts)))
    });
    let query = Query {
        resolution: Resolution::Minute,
        from_ms: now - 3_600_000,
        to_ms: now,
        group_by: vec![Dimension::Worker],
        worker: None,
        series: true,
    };
    // An hour of minute windows, 4 workers, 50 latency buckets each.
    let rows: Vec<BucketRow> = (0..60u64)
        .flat_map(|w| {
            (0..4u64).flat_map(move |g| {
                (0..50u16).map(move |bucket| BucketRow {
                    window_start: now - 3_600_000 + w * 60_000,
                    group: vec![format!("worker-{g}")],
                    bucket: bucket * 7,
                    n: 3,
                    latency_sum: f64::from(bucket) * 21.0,
                    errors: 0,
                    cache_hits: 0,
                    cache_lookups: 0,
                    tokens: 0,
                })
            })
        })
        .collect();
    c.bench_function(
        "analytics/summarize 12k rows (1 h × 4 workers × 50 buckets)",
        |b| {
            b.iter(|| {
                QueryResult::merge(
                    &query,
                    vec![StoreAnswer::from_rows(black_box(&rows), &query)],
                )
            })
        },
    );
}

/// What chat-webhook does per webhook before answering: check the signature, parse, and
/// (LINE) detect the intent.
fn chat(c: &mut Criterion) {
    use edge_core::chat::discord::signature as discord;
    use edge_core::chat::intent;
    use edge_core::chat::line::signature as line;
    use edge_core::chat::line::webhook::Webhook;

    let body = format!(
        r#"{{"destination":"U0000000000000000000000000000bot","events":[{{"type":"message","message":{{"type":"text","id":"1","text":"{}"}},"webhookEventId":"01FZ74A0TDDPYRVKNK77XKC3ZR","deliveryContext":{{"isRedelivery":false}},"timestamp":1795435200000,"source":{{"type":"user","userId":"U4af4980629"}},"replyToken":"757913772c4646b784d4b7ce46d12671","mode":"active"}}]}}"#,
        "How much is the vitamin C 1000? ".repeat(8)
    );
    let sig = line::sign("channel-secret", body.as_bytes());
    c.bench_function("chat/line signature verify (~0.6 KB body)", |b| {
        b.iter(|| line::verify("channel-secret", black_box(body.as_bytes()), Some(&sig)))
    });
    c.bench_function("chat/line webhook parse (1 text event)", |b| {
        b.iter(|| Webhook::parse(black_box(body.as_bytes())))
    });
    c.bench_function("chat/intent detect (English)", |b| {
        b.iter(|| {
            intent::detect(black_box(
                "Can you tell me the price of this product please?",
            ))
        })
    });
    c.bench_function("chat/intent detect (Thai)", |b| {
        b.iter(|| intent::detect(black_box("สินค้านี้ราคาเท่าไหร่ครับ ส่งฟรีไหม")))
    });
    // RFC 8032 test 1 key and signature over the empty message: Discord's framing puts the
    // timestamp first, so verify the raw check.
    let key =
        discord::public_key("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
            .expect("key");
    let rfc_sig = edge_core::hex::decode("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        .expect("hex");
    c.bench_function("chat/discord ed25519 verify_strict", |b| {
        b.iter(|| discord::verify_bytes(&key, black_box(b""), &rfc_sig))
    });
}

criterion_group!(
    benches,
    chat,
    analytics,
    routing_decision,
    cache_decisions,
    metric_event,
    health,
    admin_check,
    request_id,
    jwt_verify,
    api_key_and_rate_limit
);
criterion_main!(benches);
