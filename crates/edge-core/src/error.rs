//! The error contract: every error that can reach a client knows its HTTP status and
//! its stable JSON error code, in exactly one place (its `HttpError` impl).
//! Workers turn any `HttpError` into a response with one function; nothing else
//! chooses a status for an error.

use serde::Serialize;

/// An error that can be answered over HTTP.
///
/// Contract: `status()` is a 4xx or 5xx code; `code()` is a stable, lowercase,
/// snake_case identifier that clients may match on; `Display` is a human-readable,
/// lowercase message that never contains secrets or raw input beyond short field names.
pub trait HttpError: std::fmt::Display {
    /// HTTP status code for this error (400..=599).
    fn status(&self) -> u16;
    /// Stable machine-readable error code, e.g. `"invalid_metric"`.
    fn code(&self) -> &'static str;
    /// Optional name of the input field that failed validation.
    fn field(&self) -> Option<&str> {
        None
    }
    /// Response headers this error requires by its status's definition: `Allow` on a 405,
    /// `Retry-After` on a 429, `WWW-Authenticate` on a 401. Names are lowercase.
    fn headers(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// What the operator's log should say about this error beyond its code and message
    /// (a runtime exception's text): never part of the response.
    fn log_detail(&self) -> Option<String> {
        None
    }
}

/// The JSON body of every error response: `{"error":{"code":..,"message":..,"field":..}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// The error object.
    pub error: ErrorDetail,
}

/// The inner object of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// The input field that failed, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    /// Builds the body for any [`HttpError`].
    #[must_use]
    pub fn from_error(err: &(impl HttpError + ?Sized)) -> Self {
        Self {
            error: ErrorDetail {
                code: err.code(),
                message: err.to_string(),
                field: err.field().map(str::to_owned),
            },
        }
    }
}

impl<E: HttpError + ?Sized> HttpError for Box<E> {
    fn status(&self) -> u16 {
        (**self).status()
    }

    fn code(&self) -> &'static str {
        (**self).code()
    }

    fn field(&self) -> Option<&str> {
        (**self).field()
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        (**self).headers()
    }

    fn log_detail(&self) -> Option<String> {
        (**self).log_detail()
    }
}

/// `error`, answered with `extra` headers besides its own: the context of the hop that
/// refused (cache-manager's `X-Cache`, voice-router's region and security headers).
#[derive(Clone, PartialEq, Eq)]
pub struct WithHeaders<E> {
    /// The error answered.
    pub error: E,
    /// Headers added after the error's own.
    pub extra: Vec<(&'static str, String)>,
}

/// By the error's code (a boxed `dyn HttpError` has no `Debug`).
impl<E: HttpError> std::fmt::Debug for WithHeaders<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WithHeaders({}, {:?})", self.error.code(), self.extra)
    }
}

impl<E: std::fmt::Display> std::fmt::Display for WithHeaders<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl<E: HttpError> HttpError for WithHeaders<E> {
    fn status(&self) -> u16 {
        self.error.status()
    }

    fn code(&self) -> &'static str {
        self.error.code()
    }

    fn field(&self) -> Option<&str> {
        self.error.field()
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut all = self.error.headers();
        all.extend(self.extra.iter().cloned());
        all
    }

    fn log_detail(&self) -> Option<String> {
        self.error.log_detail()
    }
}

/// Seconds a client is told to wait after a 503 or 504.
pub const RETRY_AFTER_S: u32 = 5;

/// Errors every worker can answer with regardless of its own domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommonError {
    /// No route matches the request path.
    #[error("no route for this path")]
    NotFound,
    /// The path exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The caller is not authenticated for this endpoint.
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// The request body is larger than this endpoint accepts.
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The next hop (a service binding or an origin) did not answer in time.
    #[error("upstream did not answer within {timeout_ms} ms")]
    UpstreamTimeout {
        /// The timeout that expired.
        timeout_ms: u64,
    },
    /// The next hop could not be reached or failed at the transport level.
    #[error("upstream unavailable")]
    UpstreamUnavailable,
    /// The next hop answered with a status no response can carry (outside 200–599, e.g.
    /// 999 or a 1xx handed over as final); see `edge_core::upstream`.
    #[error("upstream answered with an unusable status {status}")]
    BadUpstreamResponse {
        /// The status it answered with.
        status: u16,
    },
    /// The next hop's response body broke off before its end (connection lost, shorter
    /// than declared).
    #[error("upstream response body ended before it was complete")]
    UpstreamBodyIncomplete,
    /// Every region is marked unhealthy and the primary, tried anyway, failed.
    #[error("no healthy region")]
    NoHealthyRegion,
    /// A required binding or setting is missing or malformed; the deployment is broken.
    #[error("worker misconfigured: {0}")]
    Misconfigured(&'static str),
    /// An unexpected failure inside the worker; details go to the log, not the client.
    #[error("internal error")]
    Internal,
}

impl HttpError for CommonError {
    fn status(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Unauthorized => 401,
            Self::PayloadTooLarge { .. } => 413,
            Self::UpstreamTimeout { .. } => 504,
            Self::BadUpstreamResponse { .. } | Self::UpstreamBodyIncomplete => 502,
            Self::UpstreamUnavailable | Self::NoHealthyRegion => 503,
            Self::Misconfigured(_) | Self::Internal => 500,
        }
    }

    /// 503 and 504 say when to try again (RFC 9110 §10.2.3).
    fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::UpstreamTimeout { .. } | Self::UpstreamUnavailable | Self::NoHealthyRegion => {
                vec![("retry-after", RETRY_AFTER_S.to_string())]
            }
            _ => Vec::new(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Unauthorized => "unauthorized",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UpstreamTimeout { .. } => "upstream_timeout",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::BadUpstreamResponse { .. } => "bad_upstream_response",
            Self::UpstreamBodyIncomplete => "upstream_body_incomplete",
            Self::NoHealthyRegion => "no_healthy_region",
            Self::Misconfigured(_) => "misconfigured",
            Self::Internal => "internal_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_carries_code_message_and_field() {
        let body = ErrorBody::from_error(&CommonError::PayloadTooLarge { limit: 10 });
        let json = serde_json::to_value(&body).expect("serializes");
        assert_eq!(json["error"]["code"], "payload_too_large");
        assert_eq!(json["error"]["message"], "request body exceeds 10 bytes");
        assert!(json["error"].get("field").is_none());
    }

    #[test]
    fn with_headers_answers_as_its_error_plus_the_extra_headers() {
        let e = WithHeaders {
            error: CommonError::UpstreamUnavailable,
            extra: vec![("x-cache", "MISS".to_owned())],
        };
        assert_eq!((e.status(), e.code()), (503, "upstream_unavailable"));
        assert_eq!(e.to_string(), "upstream unavailable");
        assert_eq!(
            e.headers(),
            vec![
                ("retry-after", RETRY_AFTER_S.to_string()),
                ("x-cache", "MISS".to_owned())
            ]
        );
        let boxed: Box<dyn HttpError> = Box::new(CommonError::NotFound);
        assert_eq!((boxed.status(), boxed.code()), (404, "not_found"));
    }

    #[test]
    fn every_common_error_is_4xx_or_5xx_with_snake_case_code() {
        let all = [
            CommonError::NotFound,
            CommonError::MethodNotAllowed,
            CommonError::Unauthorized,
            CommonError::PayloadTooLarge { limit: 1 },
            CommonError::UpstreamTimeout { timeout_ms: 1 },
            CommonError::UpstreamUnavailable,
            CommonError::BadUpstreamResponse { status: 999 },
            CommonError::UpstreamBodyIncomplete,
            CommonError::NoHealthyRegion,
            CommonError::Misconfigured("x"),
            CommonError::Internal,
        ];
        for e in all {
            assert!((400..=599).contains(&e.status()), "{e:?}");
            assert!(
                e.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{e:?}"
            );
        }
    }
}
