//! When a failed attempt at an upstream may be repeated.
//!
//! A pooled connection that the upstream closed while idle fails the next request on it
//! before any byte is answered (the keep-alive race). Such a request never reached the
//! upstream, so repeating it is safe when the request is safe to repeat at all: a safe
//! method (RFC 9110 section 9.2.1) with no body, since a streamed body cannot be replayed.
//! Timeouts are not retried: the upstream may still be working on the first attempt.
//!
//! [`AttemptOutcome::is_region_failure`] is the one rule of what a region's breaker counts
//! as a failure: transport errors, timeouts, 502/503/504, an unusable answer and a body
//! that broke off. A 500 or 501 is the origin's application answering (often to a request
//! a client got wrong): counting it would let any client open a healthy region's breaker.

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Failed at the transport level: refused, reset, closed before answering.
    TransportFailure,
    /// No answer before the timeout.
    TimedOut,
    /// The upstream answered with this status.
    Answered(u16),
    /// The upstream answered with something no response can carry (a status outside
    /// 200–599): a 502 `bad_upstream_response`.
    BadAnswer,
    /// The upstream answered, but its body broke off before its end (known only after the
    /// response was passed on, so never retried).
    BodyBroken,
}

impl AttemptOutcome {
    /// Whether this outcome counts against the region that produced it: transport
    /// failures, timeouts, gateway statuses (502, 503, 504), unusable answers and broken
    /// bodies. Every other answer, 500 and 501 included, is the origin's application
    /// speaking and proves the region up.
    #[must_use]
    pub fn is_region_failure(self) -> bool {
        match self {
            Self::TransportFailure | Self::TimedOut | Self::BadAnswer | Self::BodyBroken => true,
            Self::Answered(status) => matches!(status, 502..=504),
        }
    }
}

/// Most attempts made for one request (the first plus one retry).
pub const MAX_ATTEMPTS: u32 = 2;

/// Whether to make another attempt after `attempts_made` attempts, the last of which ended
/// with `outcome`.
#[must_use]
pub fn may_retry(
    method: &str,
    has_body: bool,
    outcome: AttemptOutcome,
    attempts_made: u32,
) -> bool {
    let safe = matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE");
    safe && !has_body && outcome == AttemptOutcome::TransportFailure && attempts_made < MAX_ATTEMPTS
}

/// Whether to send the request again to the *next* region after `attempts_made`
/// attempts, the last of which ended with `outcome`: for an idempotent method (RFC 9110
/// §9.2.2) without a body (a streamed body cannot be replayed), after a region failure
/// ([`AttemptOutcome::is_region_failure`]) other than a timeout (the origin may still be
/// working) or a broken body (already passed on). A 500 or 501 is the application's
/// answer, which another region would give too.
#[must_use]
pub fn may_fail_over(
    method: &str,
    has_body: bool,
    outcome: AttemptOutcome,
    attempts_made: u32,
) -> bool {
    let idempotent = matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
    );
    let failed = outcome.is_region_failure()
        && !matches!(
            outcome,
            AttemptOutcome::TimedOut | AttemptOutcome::BodyBroken
        );
    idempotent && !has_body && failed && attempts_made < MAX_ATTEMPTS
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptOutcome::*;

    #[test]
    fn a_bodyless_safe_request_is_retried_once_after_a_transport_failure() {
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert!(may_retry(m, false, TransportFailure, 1), "{m}");
            assert!(!may_retry(m, false, TransportFailure, 2), "{m}: only once");
        }
    }

    #[test]
    fn bodies_unsafe_methods_timeouts_and_answers_are_never_retried() {
        assert!(!may_retry("GET", true, TransportFailure, 1));
        for m in ["POST", "PUT", "PATCH", "DELETE", "get"] {
            assert!(!may_retry(m, false, TransportFailure, 1), "{m}");
        }
        assert!(!may_retry("GET", false, TimedOut, 1));
        assert!(!may_retry("GET", false, Answered(502), 1));
        assert!(!may_retry("GET", false, Answered(200), 1));
    }

    #[test]
    fn failover_covers_5xx_for_idempotent_bodyless_requests_once() {
        assert!(may_fail_over("GET", false, Answered(503), 1));
        assert!(may_fail_over("DELETE", false, TransportFailure, 1));
        assert!(!may_fail_over("GET", false, Answered(404), 1));
        assert!(!may_fail_over("GET", false, TimedOut, 1));
        assert!(
            !may_fail_over("POST", false, Answered(502), 1),
            "not idempotent"
        );
        assert!(
            !may_fail_over("PUT", true, Answered(502), 1),
            "a body is never replayed"
        );
        assert!(!may_fail_over("GET", false, Answered(503), MAX_ATTEMPTS));
        assert!(may_fail_over("GET", false, BadAnswer, 1));
        assert!(!may_fail_over("GET", false, BodyBroken, 1));
    }

    #[test]
    fn item_13_breakers_500_501_are_application_answers_not_region_failures() {
        // Issue 13, review: a client provoking 500/501 must not open a region's breaker.
        for s in [200, 204, 304, 400, 404, 429, 500, 501, 505, 599] {
            assert!(!Answered(s).is_region_failure(), "{s}");
        }
        for s in [502, 503, 504] {
            assert!(Answered(s).is_region_failure(), "{s}");
        }
        for o in [TransportFailure, TimedOut, BadAnswer, BodyBroken] {
            assert!(o.is_region_failure(), "{o:?}");
        }
        assert!(
            !may_fail_over("GET", false, Answered(500), 1),
            "the same 500 elsewhere"
        );
        assert!(!may_fail_over("GET", false, Answered(501), 1));
    }
}
