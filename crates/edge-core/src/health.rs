//! `/health` reports and how the health of the next hop folds into a worker's own.
//!
//! Each worker in the chain asks its next hop for `/health` through its service binding,
//! bounded in time and size, and hands the outcome to [`NextHop::from_outcome`]. The
//! chain is `ok` only when every hop down to the end is `ok`.

use serde::{Deserialize, Serialize};

use crate::service::ServiceName;

/// Largest next-hop health body that is parsed, in bytes. A longer body marks the hop
/// unhealthy instead of being read without bound.
pub const MAX_HEALTH_BODY: usize = 16 * 1024;

/// Health of one worker, or of the chain below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// This worker and everything below it answer.
    Ok,
    /// This worker answers, but a hop below it does not, or reports itself degraded.
    Degraded,
}

/// The JSON answer of `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthReport {
    /// Which worker answered.
    pub worker: ServiceName,
    /// The worker's crate version.
    pub version: String,
    /// `ok` when this worker and its whole chain are healthy.
    pub status: HealthStatus,
    /// The next hop's health, for workers that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<NextHop>,
    /// This worker's own problems (a malformed var that refuses part of its requests);
    /// any makes the report `degraded`. Absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// One of a worker's own problems, as its errors spell it: a stable code and what it
/// concerns (`{"code":"misconfigured","field":"JWT_CLAIMS"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// The error code the affected requests get.
    pub code: String,
    /// What it concerns (e.g. the var), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    /// The problem an error stands for: its code, and the var for `misconfigured`.
    #[must_use]
    pub fn of(error: &crate::error::CommonError) -> Self {
        use crate::error::{CommonError, HttpError as _};
        let field = match error {
            CommonError::Misconfigured(var) => Some((*var).to_owned()),
            other => other.field().map(str::to_owned),
        };
        Self {
            code: error.code().to_owned(),
            field,
        }
    }
}

impl HealthReport {
    /// The report of a worker with no next hop: always `ok` when it can answer.
    #[must_use]
    pub fn leaf(worker: ServiceName, version: &str) -> Self {
        Self {
            worker,
            version: version.to_owned(),
            status: HealthStatus::Ok,
            next_hop: None,
            problems: Vec::new(),
        }
    }

    /// The report of a worker whose health depends on `next`.
    #[must_use]
    pub fn chained(worker: ServiceName, version: &str, next: NextHop) -> Self {
        let status = if next.status == HopStatus::Ok {
            HealthStatus::Ok
        } else {
            HealthStatus::Degraded
        };
        Self {
            worker,
            version: version.to_owned(),
            status,
            next_hop: Some(next),
            problems: Vec::new(),
        }
    }

    /// This report with the worker's own `problems` added: `degraded` when there are any.
    #[must_use]
    pub fn with_problems(mut self, problems: Vec<Problem>) -> Self {
        if !problems.is_empty() {
            self.status = HealthStatus::Degraded;
        }
        self.problems.extend(problems);
        self
    }

    /// HTTP status for this report: 200 when `ok`, 503 when `degraded`.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self.status {
            HealthStatus::Ok => 200,
            HealthStatus::Degraded => 503,
        }
    }
}

/// What a worker observed when it asked its next hop for `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopOutcome<'a> {
    /// The hop answered with this status and body (already cut at [`MAX_HEALTH_BODY`]+1).
    Answered {
        /// HTTP status of the answer.
        status: u16,
        /// Raw body bytes.
        body: &'a [u8],
    },
    /// The hop did not answer before the timeout.
    TimedOut,
    /// The call failed at the transport level (binding missing, exception, reset).
    Failed,
}

/// State of the next hop as seen from the worker above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HopStatus {
    /// Answered 200 with a well-formed report whose status is `ok`.
    Ok,
    /// Answered with a well-formed report whose status is `degraded`.
    Degraded,
    /// Answered, but not with a well-formed report of the expected worker.
    Invalid,
    /// Did not answer in time.
    Timeout,
    /// Could not be reached.
    Unreachable,
}

/// The next hop's health, as embedded in the report of the worker above it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextHop {
    /// The worker expected at the other end of the binding.
    pub worker: ServiceName,
    /// What was observed.
    pub status: HopStatus,
    /// The hop's own report, when it sent a well-formed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Box<HealthReport>>,
}

impl NextHop {
    /// Folds the observed `outcome` of asking `expected` for its health into a [`NextHop`].
    ///
    /// A body over [`MAX_HEALTH_BODY`], a body that is not a report, or a report from a
    /// different worker than `expected` is `Invalid`: a miswired binding is a fault.
    #[must_use]
    pub fn from_outcome(expected: ServiceName, outcome: HopOutcome<'_>) -> Self {
        let (status, report) = match outcome {
            HopOutcome::TimedOut => (HopStatus::Timeout, None),
            HopOutcome::Failed => (HopStatus::Unreachable, None),
            HopOutcome::Answered { body, .. } if body.len() > MAX_HEALTH_BODY => {
                (HopStatus::Invalid, None)
            }
            HopOutcome::Answered { status, body } => {
                match serde_json::from_slice::<HealthReport>(body) {
                    Ok(r) if r.worker == expected && r.http_status() == status => {
                        let s = match r.status {
                            HealthStatus::Ok => HopStatus::Ok,
                            HealthStatus::Degraded => HopStatus::Degraded,
                        };
                        (s, Some(Box::new(r)))
                    }
                    _ => (HopStatus::Invalid, None),
                }
            }
        };
        Self {
            worker: expected,
            status,
            report,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &HealthReport) -> Vec<u8> {
        serde_json::to_vec(r).expect("serializes")
    }

    /// The report of `worker` whose next hop answered with `below` (status and body).
    fn above(worker: ServiceName, below: &HealthReport) -> HealthReport {
        let outcome = HopOutcome::Answered {
            status: below.http_status(),
            body: &body(below),
        };
        HealthReport::chained(
            worker,
            "0.1.0",
            NextHop::from_outcome(below.worker, outcome),
        )
    }

    #[test]
    fn healthy_chain_is_ok_end_to_end() {
        let router = HealthReport::leaf(ServiceName::VoiceRouter, "0.1.0");
        let cache = above(ServiceName::CacheManager, &router);
        let auth = above(ServiceName::AuthValidator, &cache);
        assert_eq!(auth.status, HealthStatus::Ok);
        assert_eq!(auth.http_status(), 200);
        let nested = auth.next_hop.and_then(|h| h.report).expect("cache report");
        assert_eq!(nested.next_hop.expect("router hop").status, HopStatus::Ok);
    }

    #[test]
    fn a_failing_hop_degrades_every_worker_above_it() {
        let cache = HealthReport::chained(
            ServiceName::CacheManager,
            "0.1.0",
            NextHop::from_outcome(ServiceName::VoiceRouter, HopOutcome::TimedOut),
        );
        assert_eq!(cache.status, HealthStatus::Degraded);
        assert_eq!(cache.http_status(), 503);
        let auth = above(ServiceName::AuthValidator, &cache);
        assert_eq!(auth.status, HealthStatus::Degraded);
        assert_eq!(auth.next_hop.expect("hop").status, HopStatus::Degraded);
    }

    #[test]
    fn wrong_worker_garbage_and_oversized_bodies_are_invalid() {
        let other = body(&HealthReport::leaf(ServiceName::ChatWebhook, "0.1.0"));
        let cases: [&[u8]; 3] = [&other, b"<html>oops</html>", &[b' '; MAX_HEALTH_BODY + 1]];
        for b in cases {
            let hop = NextHop::from_outcome(
                ServiceName::VoiceRouter,
                HopOutcome::Answered {
                    status: 200,
                    body: b,
                },
            );
            assert_eq!(hop.status, HopStatus::Invalid);
            assert!(hop.report.is_none());
        }
        let unreachable = NextHop::from_outcome(ServiceName::VoiceRouter, HopOutcome::Failed);
        assert_eq!(unreachable.status, HopStatus::Unreachable);
    }

    #[test]
    fn own_problems_degrade_the_report_and_travel_up_the_chain() {
        let plain = HealthReport::leaf(ServiceName::VoiceRouter, "0.1.0");
        let json = serde_json::to_value(&plain).expect("serializes");
        assert!(
            json.get("problems").is_none(),
            "the old shape when there are none"
        );
        let bad = crate::error::CommonError::Misconfigured("JWT_CLAIMS");
        let cache = HealthReport::leaf(ServiceName::CacheManager, "0.1.0")
            .with_problems(vec![Problem::of(&bad)]);
        assert_eq!(
            (cache.status, cache.http_status()),
            (HealthStatus::Degraded, 503)
        );
        assert_eq!(
            serde_json::to_value(&cache).expect("serializes")["problems"],
            serde_json::json!([{"code": "misconfigured", "field": "JWT_CLAIMS"}])
        );
        let auth = above(ServiceName::AuthValidator, &cache);
        let hop = auth.next_hop.expect("hop");
        assert_eq!(hop.status, HopStatus::Degraded);
        assert_eq!(hop.report.expect("report").problems.len(), 1);
        let same = HealthReport::leaf(ServiceName::CacheManager, "0.1.0").with_problems(Vec::new());
        assert_eq!(same.status, HealthStatus::Ok);
    }

    #[test]
    fn status_code_must_agree_with_the_reported_status() {
        let ok = body(&HealthReport::leaf(ServiceName::VoiceRouter, "0.1.0"));
        let hop = NextHop::from_outcome(
            ServiceName::VoiceRouter,
            HopOutcome::Answered {
                status: 500,
                body: &ok,
            },
        );
        assert_eq!(hop.status, HopStatus::Invalid);
    }
}
