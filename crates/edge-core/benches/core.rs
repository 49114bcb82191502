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

criterion_group!(benches, metric_event, health, admin_check, request_id);
criterion_main!(benches);
