//! What an upstream's answer may become: the statuses a worker can relay, and how a
//! body that ended badly changes what was answered.
//!
//! A worker rebuilds every response it passes on (`new Response(body, { status })`), and
//! the Fetch standard refuses a status outside 200–599 with a `RangeError` (workers-rs
//! then panics and workerd restarts the isolate, hanging every request in flight on it).
//! So an upstream answering 999, or a 1xx that the runtime hands over as final, is not
//! relayed: it is a 502 `bad_upstream_response`, and a failure of that upstream.

use crate::auth::request_policy::RequestError;
use crate::error::CommonError;

/// The statuses a response a worker sends may carry (Fetch: 200..=599; 1xx are
/// informational and never final).
pub const RELAYABLE: std::ops::RangeInclusive<u16> = 200..=599;

/// Accepts `status` when a response can carry it ([`RELAYABLE`]).
///
/// # Errors
/// [`CommonError::BadUpstreamResponse`] for any other status.
pub fn check_status(status: u16) -> Result<(), CommonError> {
    if RELAYABLE.contains(&status) {
        Ok(())
    } else {
        Err(CommonError::BadUpstreamResponse { status })
    }
}

/// Whether a response with `status` has no body (Fetch's "null body status": 101, 103,
/// 204, 205, 304); building one with a body throws.
#[must_use]
pub fn is_null_body(status: u16) -> bool {
    matches!(status, 101 | 103 | 204 | 205 | 304)
}

/// What a response needs before the runtime can send it ([`delivery`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Sendable as it is.
    AsIs,
    /// A null-body status carrying a body: sent with the same status and headers, no body.
    WithoutBody,
    /// A status no response can carry: answered with this error instead.
    Refused(CommonError),
}

/// What a response with `status` needs before the runtime sends it (`has_body` is asked
/// only for a null-body status: reading a runtime response's body is a crossing): the JS `Response` constructor throws on a status outside [`RELAYABLE`] and on a
/// body with a null-body status, and workers-rs turns that throw into a panic that
/// restarts the isolate. `own_upgrade`: a worker's own `101` WebSocket upgrade (it carries
/// a socket, not a body), sent as it is. The one decision behind every response a worker
/// sends, built or relayed.
#[must_use]
pub fn delivery(status: u16, has_body: impl FnOnce() -> bool, own_upgrade: bool) -> Delivery {
    if own_upgrade && status == 101 {
        return Delivery::AsIs;
    }
    if let Err(e) = check_status(status) {
        return Delivery::Refused(e);
    }
    if is_null_body(status) && has_body() {
        Delivery::WithoutBody
    } else {
        Delivery::AsIs
    }
}

/// Accepts forwarding a request with `method` (raw, uppercase) that has a body or not:
/// the Fetch API cannot build a GET or HEAD request with a body, so one is refused as the
/// edge refuses it (400 `unexpected_body`) instead of failing inside the worker.
///
/// # Errors
/// [`RequestError::UnexpectedBody`] for a GET or HEAD with a body.
pub fn check_forwardable(method: &str, has_body: bool) -> Result<(), RequestError> {
    if has_body && matches!(method, "GET" | "HEAD") {
        Err(RequestError::UnexpectedBody)
    } else {
        Ok(())
    }
}

/// How a relayed body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// Every byte arrived and was passed on.
    Complete,
    /// The upstream's stream failed before its end (connection lost, short body): the
    /// client received a broken body.
    Broken,
    /// The reader went away before the end (the client disconnected or stopped reading):
    /// nothing is known about the upstream.
    Abandoned,
}

impl BodyEnd {
    /// The status to record for an answer sent with `answered` whose body ended so: a
    /// broken body is the 502 the client would have got had it broken before the headers
    /// ([`CommonError::UpstreamBodyIncomplete`]); otherwise `answered`.
    #[must_use]
    pub fn recorded_status(self, answered: u16) -> u16 {
        use crate::HttpError;
        match self {
            Self::Broken => CommonError::UpstreamBodyIncomplete.status(),
            Self::Complete | Self::Abandoned => answered,
        }
    }

    /// The decision code to record for a broken body, if it broke.
    #[must_use]
    pub fn decision(self) -> Option<&'static str> {
        use crate::HttpError;
        (self == Self::Broken).then(|| CommonError::UpstreamBodyIncomplete.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpError;

    #[test]
    fn item_13_8_only_200_to_599_is_relayed() {
        for ok in [200, 204, 304, 404, 500, 599] {
            assert!(check_status(ok).is_ok(), "{ok}");
        }
        for bad in [0, 1, 99, 100, 101, 103, 199, 600, 999, u16::MAX] {
            let err = check_status(bad).expect_err("refused");
            assert_eq!(err, CommonError::BadUpstreamResponse { status: bad });
            assert_eq!((err.status(), err.code()), (502, "bad_upstream_response"));
        }
    }

    #[test]
    fn item_13_a_get_or_head_with_a_body_is_refused_not_an_internal_error() {
        for m in ["GET", "HEAD"] {
            let e = check_forwardable(m, true).expect_err(m);
            assert_eq!((e.status(), e.code()), (400, "unexpected_body"));
            assert!(check_forwardable(m, false).is_ok());
        }
        for m in ["POST", "PUT", "DELETE", "PROPFIND"] {
            assert!(check_forwardable(m, true).is_ok(), "{m}");
        }
    }

    #[test]
    fn item_13_8_null_body_statuses() {
        for s in [101, 103, 204, 205, 304] {
            assert!(is_null_body(s), "{s}");
        }
        for s in [200, 206, 404, 500] {
            assert!(!is_null_body(s), "{s}");
        }
    }

    #[test]
    fn item_13_8_what_a_response_needs_before_it_is_sent() {
        assert_eq!(delivery(200, || true, false), Delivery::AsIs);
        assert_eq!(delivery(204, || false, false), Delivery::AsIs);
        // The body is asked about only where the status decides nothing without it.
        let unasked = || -> bool { panic!("has_body asked for a status with a body") };
        assert_eq!(delivery(200, unasked, false), Delivery::AsIs);
        assert!(matches!(
            delivery(999, unasked, false),
            Delivery::Refused(_)
        ));
        for s in [204, 205, 304] {
            assert_eq!(delivery(s, || true, false), Delivery::WithoutBody, "{s}");
            assert_eq!(delivery(s, || true, true), Delivery::WithoutBody, "{s}");
        }
        // A worker's own upgrade is sent as it is; an upstream's 101 is not a final answer.
        assert_eq!(delivery(101, || false, true), Delivery::AsIs);
        for (s, body) in [
            (101, false),
            (0, false),
            (103, true),
            (600, true),
            (999, false),
        ] {
            assert_eq!(
                delivery(s, || body, false),
                Delivery::Refused(CommonError::BadUpstreamResponse { status: s }),
                "{s}"
            );
        }
        assert_eq!(
            delivery(600, || false, true),
            Delivery::Refused(CommonError::BadUpstreamResponse { status: 600 })
        );
    }

    #[test]
    fn item_13_9_a_broken_body_is_recorded_as_502_upstream_body_incomplete() {
        assert_eq!(BodyEnd::Broken.recorded_status(200), 502);
        assert_eq!(BodyEnd::Broken.decision(), Some("upstream_body_incomplete"));
        assert_eq!(BodyEnd::Complete.recorded_status(200), 200);
        assert_eq!(BodyEnd::Abandoned.recorded_status(206), 206);
        assert_eq!(BodyEnd::Abandoned.decision(), None);
    }
}
