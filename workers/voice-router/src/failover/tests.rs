//! The attempt loop against scripted origins: a first region that times out, refuses or
//! answers 502, then the next; what is never retried.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use edge_core::routing::breaker::BreakerConfig;
use edge_core::routing::decide::{self, Client, HealthMap};
use edge_core::routing::geo::LatencyModel;
use edge_core::routing::table::RoutingTable;
use futures::executor::block_on;

use super::*;

const NOW: u64 = 1_800_000_000_000;

const TABLE: &str = r#"{"regions":[
  {"id":"us-east-1","lat":39.0,"lon":-77.5,"endpoint":"http://127.0.0.1:1"},
  {"id":"us-west-2","lat":45.8,"lon":-119.7,"endpoint":"http://127.0.0.1:2"},
  {"id":"eu-west-1","lat":53.3,"lon":-6.3,"endpoint":"http://127.0.0.1:3"}],
 "countries":{"US":["us-east-1","us-west-2"]},
 "default":["us-east-1","eu-west-1","us-west-2"]}"#;

/// A clock that only the origin moves (by the time each attempt takes).
struct FakeClock(Cell<u64>);

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

/// Regional origins answering from a script, one entry per attempt: `Ok(status)` or the
/// error, after `ms`.
struct FakeOrigins<'c> {
    script: RefCell<VecDeque<(u64, Result<u16, CommonError>)>>,
    clock: &'c FakeClock,
    asked: RefCell<Vec<String>>,
}

impl Origin for FakeOrigins<'_> {
    type Answer = u16;

    async fn send(&self, region: &Region, _estimate_ms: Option<f64>) -> Result<u16, CommonError> {
        self.asked.borrow_mut().push(region.id.clone());
        let (ms, answer) = self
            .script
            .borrow_mut()
            .pop_front()
            .unwrap_or((0, Err(CommonError::UpstreamUnavailable)));
        self.clock.0.set(self.clock.0.get() + ms);
        answer
    }

    fn status(answer: &u16) -> u16 {
        *answer
    }
}

fn table() -> RoutingTable {
    RoutingTable::parse(TABLE).unwrap_or_else(|e| panic!("test table: {e}"))
}

fn run(
    table: &RoutingTable,
    health: &HealthMap,
    method: &str,
    script: Vec<(u64, Result<u16, CommonError>)>,
) -> (Routed<u16>, Vec<String>) {
    let clock = FakeClock(Cell::new(NOW));
    let origins = FakeOrigins {
        script: RefCell::new(script.into()),
        clock: &clock,
        asked: RefCell::default(),
    };
    let client = Client {
        country: Some("US"),
        location: None,
    };
    let route = decide::route(table, health, client, &LatencyModel::default(), NOW);
    let routed = block_on(attempt(&origins, &clock, &route, method, false));
    (routed, origins.asked.into_inner())
}

/// [`run`] with every region healthy.
fn run_healthy(
    method: &str,
    script: Vec<(u64, Result<u16, CommonError>)>,
) -> (Routed<u16>, Vec<String>) {
    run(&table(), &HealthMap::new(), method, script)
}

fn timeout() -> Result<u16, CommonError> {
    Err(CommonError::UpstreamTimeout { timeout_ms: 800 })
}

#[test]
fn the_first_region_answering_is_the_only_attempt() {
    let (routed, asked) = run_healthy("GET", vec![(40, Ok(200))]);
    assert!(matches!(routed.answer, Ok(200)));
    assert_eq!(asked, ["us-east-1"]);
    assert_eq!(routed.decision, "route_country");
    assert!(routed.answered());
    assert_eq!(routed.attempts[0].latency_ms, 40.0);
}

#[test]
fn a_refused_first_region_fails_over_to_the_second() {
    let script = vec![(5, Err(CommonError::UpstreamUnavailable)), (30, Ok(200))];
    let (routed, asked) = run_healthy("GET", script);
    assert!(matches!(routed.answer, Ok(200)));
    assert_eq!(asked, ["us-east-1", "us-west-2"]);
    assert_eq!(routed.region.as_deref(), Some("us-west-2"));
    assert_eq!(routed.decision, "route_failover");
    let outcomes: Vec<_> = routed.attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        [
            AttemptOutcome::TransportFailure,
            AttemptOutcome::Answered(200)
        ]
    );
    // The failed region's breaker hears a failure, the answering one a success.
    let seen = observations(routed.attempts);
    assert_eq!(seen[0], ("us-east-1".to_owned(), Observation::Failed));
    assert_eq!(
        seen[1],
        (
            "us-west-2".to_owned(),
            Observation::Answered { latency_ms: 30.0 }
        )
    );
}

#[test]
fn a_502_from_the_first_region_fails_over() {
    let (routed, asked) = run_healthy("PUT", vec![(5, Ok(502)), (5, Ok(201))]);
    assert!(matches!(routed.answer, Ok(201)));
    assert_eq!(asked.len(), 2);
}

#[test]
fn a_first_region_timing_out_is_not_retried_elsewhere() {
    // The origin may still be working on it: a timeout is answered, not repeated.
    let (routed, asked) = run_healthy("GET", vec![(800, timeout()), (5, Ok(200))]);
    assert!(matches!(
        routed.answer,
        Err(CommonError::UpstreamTimeout { .. })
    ));
    assert_eq!(asked, ["us-east-1"]);
    assert_eq!(routed.attempts[0].outcome, AttemptOutcome::TimedOut);
    assert!(!routed.answered());
}

#[test]
fn a_first_region_timing_out_opens_its_breaker_and_the_second_serves_next() {
    // The timed-out attempts reach the breaker; once open, requests start at the second.
    let table = table();
    let config = BreakerConfig::default();
    let mut health = HealthMap::new();
    for _ in 0..config.failure_threshold {
        let (routed, _) = run(&table, &health, "GET", vec![(800, timeout())]);
        for (region, observation) in observations(routed.attempts) {
            health
                .entry(region)
                .or_default()
                .observe(observation, &config, NOW);
        }
    }
    let (routed, asked) = run(&table, &health, "GET", vec![(20, Ok(200))]);
    assert_eq!(asked, ["us-west-2"]);
    assert!(matches!(routed.answer, Ok(200)));
}

#[test]
fn a_post_is_never_sent_twice() {
    let script = vec![(5, Err(CommonError::UpstreamUnavailable)), (5, Ok(200))];
    let (routed, asked) = run_healthy("POST", script);
    assert_eq!(asked, ["us-east-1"]);
    assert!(matches!(
        routed.answer,
        Err(CommonError::UpstreamUnavailable)
    ));
}

#[test]
fn every_breaker_open_and_the_primary_unreachable_is_no_healthy_region() {
    let table = table();
    let config = BreakerConfig::default();
    let mut health = HealthMap::new();
    for region in ["us-east-1", "us-west-2", "eu-west-1"] {
        let breaker = health.entry(region.to_owned()).or_default();
        for _ in 0..config.failure_threshold {
            breaker.observe(Observation::Failed, &config, NOW);
        }
    }
    let script = vec![
        (5, Err(CommonError::UpstreamUnavailable)),
        (5, Err(CommonError::UpstreamUnavailable)),
    ];
    let (routed, asked) = run(&table, &health, "GET", script);
    assert_eq!(asked.len(), 2, "the primary, then one failover");
    assert!(matches!(routed.answer, Err(CommonError::NoHealthyRegion)));
    assert_eq!(routed.decision, "route_degraded");
}

#[test]
fn a_broken_body_turns_an_answer_into_a_region_failure() {
    let attempt = Attempt {
        region: "us-east-1".to_owned(),
        outcome: AttemptOutcome::Answered(200),
        latency_ms: 10.0,
    };
    assert_eq!(
        attempt.clone().after_body(BodyEnd::Broken).outcome,
        AttemptOutcome::BodyBroken
    );
    assert_eq!(
        attempt.after_body(BodyEnd::Abandoned).outcome,
        AttemptOutcome::Answered(200),
        "a client that left says nothing about the region"
    );
}
