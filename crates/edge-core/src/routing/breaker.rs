//! A circuit breaker per region: closed → open after consecutive failures → half-open
//! after the recovery time → closed after a successful trial (or open again on failure).
//!
//! It is fed by passive observation of real requests (failure = what
//! [`AttemptOutcome::is_region_failure`] says — transport error, timeout, 502/503/504, an
//! unusable answer, a broken body — or a response slower than the slow threshold) and by
//! the scheduled probe. A 500 or 501 is an answer, not a failure.

use crate::retry::AttemptOutcome;

use serde::{Deserialize, Serialize};

/// Thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long an open circuit stays open before a trial, ms.
    pub recovery_ms: u64,
    /// Responses slower than this count as failures, ms.
    pub slow_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            recovery_ms: 30_000,
            slow_ms: 10_000,
        }
    }
}

/// The state of one region's circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BreakerState {
    /// Traffic flows; `failures` consecutive failures so far.
    Closed {
        /// Consecutive failures.
        failures: u32,
    },
    /// No traffic until `until_ms`.
    Open {
        /// When a trial may be made.
        until_ms: u64,
    },
    /// Recovery time passed: the next request is a trial.
    HalfOpen,
}

/// One region's breaker, with its last observed latency.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Breaker {
    /// The state.
    pub state: BreakerState,
    /// Exponentially weighted latency of successful responses, ms (0 until one is seen).
    pub latency_ms: f64,
    /// When it last changed, ms.
    pub updated_ms: u64,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            state: BreakerState::Closed { failures: 0 },
            latency_ms: 0.0,
            updated_ms: 0,
        }
    }
}

/// What one observation was.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observation {
    /// Answered (not a region failure) in this many ms.
    Answered {
        /// Latency, ms.
        latency_ms: f64,
    },
    /// A region failure: transport failure, timeout, 502/503/504, an unusable answer or a
    /// broken body.
    Failed,
    /// The upstream refused our credentials (401/403: an expired or revoked key or token).
    /// Retrying cannot help until someone replaces them, so it opens the circuit at once,
    /// whatever the failure threshold.
    Refused,
}

impl Observation {
    /// The observation of one attempt that ended with `outcome` after `latency_ms`.
    #[must_use]
    pub fn of_attempt(outcome: AttemptOutcome, latency_ms: f64) -> Self {
        if outcome.is_region_failure() {
            Self::Failed
        } else {
            Self::Answered { latency_ms }
        }
    }
}

impl Breaker {
    /// The state at `now_ms`: an open circuit whose recovery time passed is half-open.
    #[must_use]
    pub fn state_at(&self, now_ms: u64) -> BreakerState {
        match self.state {
            BreakerState::Open { until_ms } if now_ms >= until_ms => BreakerState::HalfOpen,
            s => s,
        }
    }

    /// Whether requests may go to this region at `now_ms` (closed or half-open).
    #[must_use]
    pub fn allows(&self, now_ms: u64) -> bool {
        !matches!(self.state_at(now_ms), BreakerState::Open { .. })
    }

    /// Folds in one observation at `now_ms`.
    pub fn observe(&mut self, observation: Observation, config: &BreakerConfig, now_ms: u64) {
        let failed = match observation {
            Observation::Failed | Observation::Refused => true,
            Observation::Answered { latency_ms } => latency_ms > config.slow_ms as f64,
        };
        if let Observation::Answered { latency_ms } = observation {
            self.latency_ms = if self.latency_ms == 0.0 {
                latency_ms
            } else {
                0.8 * self.latency_ms + 0.2 * latency_ms
            };
        }
        let open = BreakerState::Open {
            until_ms: now_ms.saturating_add(config.recovery_ms),
        };
        let refused = observation == Observation::Refused;
        self.state = match (self.state_at(now_ms), failed) {
            (BreakerState::Closed { failures }, true)
                if refused || failures + 1 >= config.failure_threshold =>
            {
                open
            }
            (BreakerState::Closed { failures }, true) => BreakerState::Closed {
                failures: failures + 1,
            },
            (BreakerState::HalfOpen, true) => open,
            // Still open: a late failure does not extend it, a late success does not close it.
            (s @ BreakerState::Open { .. }, _) => s,
            (_, false) => BreakerState::Closed { failures: 0 },
        };
        self.updated_ms = now_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: BreakerConfig = BreakerConfig {
        failure_threshold: 3,
        recovery_ms: 1_000,
        slow_ms: 500,
    };
    const OK: Observation = Observation::Answered { latency_ms: 20.0 };

    #[test]
    fn closed_open_half_open_closed() {
        let mut b = Breaker::default();
        b.observe(Observation::Failed, &CFG, 0);
        b.observe(Observation::Failed, &CFG, 1);
        assert!(b.allows(2), "two failures: still closed");
        b.observe(Observation::Failed, &CFG, 2);
        assert_eq!(b.state, BreakerState::Open { until_ms: 1_002 });
        assert!(!b.allows(1_001));
        assert_eq!(b.state_at(1_002), BreakerState::HalfOpen);
        assert!(b.allows(1_002));
        b.observe(OK, &CFG, 1_003);
        assert_eq!(b.state, BreakerState::Closed { failures: 0 });
    }

    #[test]
    fn a_failed_trial_reopens_and_success_resets_the_count() {
        let mut b = Breaker::default();
        for t in 0..3 {
            b.observe(Observation::Failed, &CFG, t);
        }
        b.observe(Observation::Failed, &CFG, 1_500);
        assert_eq!(b.state, BreakerState::Open { until_ms: 2_500 });
        let mut c = Breaker::default();
        c.observe(Observation::Failed, &CFG, 0);
        c.observe(Observation::Failed, &CFG, 1);
        c.observe(OK, &CFG, 2);
        c.observe(Observation::Failed, &CFG, 3);
        assert_eq!(c.state, BreakerState::Closed { failures: 1 });
    }

    #[test]
    fn slow_answers_count_as_failures_and_latency_is_smoothed() {
        let mut b = Breaker::default();
        for t in 0..3 {
            b.observe(Observation::Answered { latency_ms: 900.0 }, &CFG, t);
        }
        assert!(!b.allows(3));
        let mut l = Breaker::default();
        l.observe(Observation::Answered { latency_ms: 100.0 }, &CFG, 0);
        l.observe(Observation::Answered { latency_ms: 200.0 }, &CFG, 1);
        assert!((l.latency_ms - 120.0).abs() < 1e-9);
    }

    #[test]
    fn item_13_breakers_500_501_never_open_a_breaker_while_503_does() {
        let mut app = Breaker::default();
        for t in 0..10 {
            for s in [500, 501] {
                app.observe(
                    Observation::of_attempt(AttemptOutcome::Answered(s), 5.0),
                    &CFG,
                    t,
                );
            }
        }
        assert_eq!(app.state, BreakerState::Closed { failures: 0 });
        let mut down = Breaker::default();
        for t in 0..3 {
            down.observe(
                Observation::of_attempt(AttemptOutcome::Answered(503), 5.0),
                &CFG,
                t,
            );
        }
        assert!(!down.allows(3));
        let mut broken = Breaker::default();
        for t in 0..3 {
            broken.observe(
                Observation::of_attempt(AttemptOutcome::BodyBroken, 5.0),
                &CFG,
                t,
            );
        }
        assert!(!broken.allows(3), "13.9: broken bodies open the breaker");
    }

    #[test]
    fn a_refusal_opens_at_once_whatever_the_threshold() {
        let patient = BreakerConfig {
            failure_threshold: 100,
            ..CFG
        };
        let mut b = Breaker::default();
        b.observe(Observation::Refused, &patient, 5);
        assert_eq!(b.state, BreakerState::Open { until_ms: 1_005 });
        assert!(!b.allows(1_004));
        // After the recovery time the trial is made; refused again, it reopens at once.
        assert_eq!(b.state_at(1_005), BreakerState::HalfOpen);
        b.observe(Observation::Refused, &patient, 1_006);
        assert_eq!(b.state, BreakerState::Open { until_ms: 2_006 });
        // A refusal after some failures opens it too, and resets nothing of the latency.
        let mut c = Breaker::default();
        c.observe(OK, &patient, 0);
        c.observe(Observation::Failed, &patient, 1);
        c.observe(Observation::Refused, &patient, 2);
        assert_eq!(c.state, BreakerState::Open { until_ms: 1_002 });
        assert!((c.latency_ms - 20.0).abs() < 1e-9);
        // A credential accepted again (the trial answered) closes it.
        c.observe(OK, &patient, 1_002);
        assert_eq!(c.state, BreakerState::Closed { failures: 0 });
    }

    #[test]
    fn open_ignores_late_observations() {
        let mut b = Breaker::default();
        for t in 0..3 {
            b.observe(Observation::Failed, &CFG, t);
        }
        b.observe(OK, &CFG, 10);
        b.observe(Observation::Failed, &CFG, 20);
        assert_eq!(b.state, BreakerState::Open { until_ms: 1_002 });
    }
}
