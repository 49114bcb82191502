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
    fn item_13_9_a_broken_body_is_recorded_as_502_upstream_body_incomplete() {
        assert_eq!(BodyEnd::Broken.recorded_status(200), 502);
        assert_eq!(BodyEnd::Broken.decision(), Some("upstream_body_incomplete"));
        assert_eq!(BodyEnd::Complete.recorded_status(200), 200);
        assert_eq!(BodyEnd::Abandoned.recorded_status(206), 206);
        assert_eq!(BodyEnd::Abandoned.decision(), None);
    }
}
