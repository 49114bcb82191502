//! One request's attempts at its regions: the first candidate, then (once, when
//! `edge_core::retry::may_fail_over` allows) the next; with no next region, a transport
//! failure is retried on the same one (an idle keep-alive connection closed by the origin
//! never reached it). Generic over the [`Origin`] call and the [`Clock`], so `cargo test`
//! drives it natively (the worker binds them in [`crate::runtime`]).

use edge_core::error::CommonError;
use edge_core::retry::{self, AttemptOutcome};
use edge_core::routing::breaker::Observation;
use edge_core::routing::decide::{Basis, Route};
use edge_core::routing::table::Region;
use edge_core::upstream::BodyEnd;

/// The regional origins.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait Origin {
    /// An origin's answer (its headers; the body may still be arriving).
    type Answer;
    /// Sends the request to `region` (with the latency estimate for it), within the
    /// origin timeout: 504 `upstream_timeout`, 502 `bad_upstream_response` for an
    /// unusable status, anything else a transport failure.
    async fn send(
        &self,
        region: &Region,
        estimate_ms: Option<f64>,
    ) -> Result<Self::Answer, CommonError>;
    /// The answer's status.
    fn status(answer: &Self::Answer) -> u16;
}

/// The time.
pub(crate) trait Clock {
    /// Now, unix ms.
    fn now_ms(&self) -> u64;
}

/// One attempt at a region, as its breaker will see it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attempt {
    pub(crate) region: String,
    pub(crate) outcome: AttemptOutcome,
    pub(crate) latency_ms: f64,
}

impl Attempt {
    /// The attempt once its answer's body ended: broken is a region failure.
    pub(crate) fn after_body(self, end: BodyEnd) -> Self {
        match end {
            BodyEnd::Broken => Self {
                outcome: AttemptOutcome::BodyBroken,
                ..self
            },
            BodyEnd::Complete | BodyEnd::Abandoned => self,
        }
    }
}

/// What the breakers are told (the core's rule: `Observation::of_attempt`).
pub(crate) fn observations(attempts: Vec<Attempt>) -> Vec<(String, Observation)> {
    attempts
        .into_iter()
        .map(|a| (a.region, Observation::of_attempt(a.outcome, a.latency_ms)))
        .collect()
}

/// How a request's attempts ended.
#[derive(Debug)]
pub(crate) struct Routed<A> {
    /// The answer relayed, or the error answered (503 `no_healthy_region` when every
    /// breaker was open and the primary was unreachable).
    pub(crate) answer: Result<A, CommonError>,
    /// Every attempt, in order.
    pub(crate) attempts: Vec<Attempt>,
    /// The region that answered (or failed last).
    pub(crate) region: Option<String>,
    /// The hop's decision for analytics (`route_country`, `route_failover`, …).
    pub(crate) decision: &'static str,
}

impl<A> Routed<A> {
    /// Whether the answer came from a region that did not fail: its body is still to be
    /// watched before the last attempt is judged.
    pub(crate) fn answered(&self) -> bool {
        self.answer.is_ok()
            && self
                .attempts
                .last()
                .is_some_and(|a| !a.outcome.is_region_failure())
    }
}

/// Tries `route`'s candidates for a `method` request (with a body or not); see the module
/// docs.
pub(crate) async fn attempt<O: Origin>(
    origin: &O,
    clock: &impl Clock,
    route: &Route<'_>,
    method: &str,
    has_body: bool,
) -> Routed<O::Answer> {
    let mut attempts = Vec::new();
    let mut index = 0;
    let mut made = 0;
    loop {
        let Some(candidate) = route.candidates.get(index) else {
            // A routing table always yields a candidate; an empty route has nowhere to go.
            return Routed {
                answer: Err(CommonError::NoHealthyRegion),
                attempts,
                region: None,
                decision: "route_degraded",
            };
        };
        made += 1;
        let started = clock.now_ms();
        let answer = origin.send(candidate.region, candidate.estimate_ms).await;
        let latency_ms = clock.now_ms().saturating_sub(started) as f64;
        let outcome = match &answer {
            Ok(a) => AttemptOutcome::Answered(O::status(a)),
            Err(CommonError::UpstreamTimeout { .. }) => AttemptOutcome::TimedOut,
            Err(CommonError::BadUpstreamResponse { .. }) => AttemptOutcome::BadAnswer,
            Err(_) => AttemptOutcome::TransportFailure,
        };
        attempts.push(Attempt {
            region: candidate.region.id.clone(),
            outcome,
            latency_ms,
        });
        let next = index + 1 < route.candidates.len();
        let again = if next {
            retry::may_fail_over(method, has_body, outcome, made)
        } else {
            retry::may_retry(method, has_body, outcome, made)
        };
        if again {
            index += usize::from(next);
            continue;
        }
        let decision = match (route.degraded, index, route.basis) {
            (true, _, _) => "route_degraded",
            (false, 1.., _) => "route_failover",
            (false, 0, Basis::Country) => "route_country",
            (false, 0, Basis::Nearest) => "route_nearest",
            (false, 0, Basis::Default) => "route_default",
        };
        let answer = match answer {
            Err(CommonError::UpstreamUnavailable) if route.degraded => {
                Err(CommonError::NoHealthyRegion)
            }
            other => other,
        };
        return Routed {
            answer,
            attempts,
            region: Some(candidate.region.id.clone()),
            decision,
        };
    }
}

#[cfg(test)]
mod tests;
