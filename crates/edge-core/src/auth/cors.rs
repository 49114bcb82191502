//! CORS for browser clients of the API, answered at the edge.
//!
//! Origins are matched exactly (scheme, host and port) against a configured list; there
//! is no wildcard, because requests carry credentials. A preflight from an allowed origin
//! for an allowed method gets 204 with the `Access-Control-*` headers; any other
//! preflight gets 403 `cors_rejected` and no CORS headers, so the browser blocks the call.

use crate::error::HttpError;
use crate::origin::is_http_origin;

/// How long browsers may cache a preflight answer, in seconds.
pub const MAX_AGE_S: u32 = 600;
/// Request headers a browser may send (lowercase).
pub const ALLOWED_HEADERS: [&str; 4] = ["authorization", "content-type", "x-request-id", "accept"];
/// Response headers scripts may read.
pub const EXPOSED_HEADERS: &str = "x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, ratelimit-policy";
/// Most configured origins.
const MAX_ORIGINS: usize = 64;

/// A refused preflight: 403 `cors_rejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CorsError {
    /// The `Origin` is not configured.
    #[error("origin is not allowed")]
    OriginNotAllowed,
    /// The requested method is not allowed.
    #[error("method is not allowed for cross-origin requests")]
    MethodNotAllowed,
    /// A requested header is not allowed.
    #[error("a requested header is not allowed for cross-origin requests")]
    HeaderNotAllowed,
}

impl HttpError for CorsError {
    fn status(&self) -> u16 {
        403
    }
    fn code(&self) -> &'static str {
        "cors_rejected"
    }
    fn field(&self) -> Option<&str> {
        Some(match self {
            Self::OriginNotAllowed => "origin",
            Self::MethodNotAllowed => "access-control-request-method",
            Self::HeaderNotAllowed => "access-control-request-headers",
        })
    }
}

/// The configured origins and the methods the API allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: Vec<String>,
    methods: Vec<String>,
}

impl CorsPolicy {
    /// Builds a policy from a comma-separated origin list (each `http(s)://host[:port]`,
    /// no path; empty allows none) and the allowed methods.
    ///
    /// # Errors
    /// `Err(())` when an origin is malformed or there are more than 64.
    #[allow(clippy::result_unit_err)]
    pub fn from_config(origins: &str, methods: &[String]) -> Result<Self, ()> {
        let origins = crate::list::owned_items(origins);
        if origins.len() > MAX_ORIGINS || !origins.iter().all(|o| is_http_origin(o)) {
            return Err(());
        }
        Ok(Self {
            origins,
            methods: methods.to_vec(),
        })
    }

    /// Whether `origin` is configured.
    #[must_use]
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }

    /// Answers a preflight: the headers of the 204.
    ///
    /// # Errors
    /// [`CorsError`] for an origin, method or header that is not allowed.
    pub fn preflight(
        &self,
        origin: &str,
        method: &str,
        request_headers: Option<&str>,
    ) -> Result<Vec<(&'static str, String)>, CorsError> {
        if !self.allows_origin(origin) {
            return Err(CorsError::OriginNotAllowed);
        }
        if !self.methods.iter().any(|m| m == method) {
            return Err(CorsError::MethodNotAllowed);
        }
        let requested: Vec<String> = crate::list::items(request_headers.unwrap_or(""))
            .map(str::to_ascii_lowercase)
            .collect();
        if !requested
            .iter()
            .all(|h| ALLOWED_HEADERS.contains(&h.as_str()))
        {
            return Err(CorsError::HeaderNotAllowed);
        }
        Ok(vec![
            ("access-control-allow-origin", origin.to_owned()),
            ("access-control-allow-methods", self.methods.join(", ")),
            ("access-control-allow-headers", ALLOWED_HEADERS.join(", ")),
            ("access-control-allow-credentials", "true".to_owned()),
            ("access-control-max-age", MAX_AGE_S.to_string()),
            (
                "vary",
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers".to_owned(),
            ),
        ])
    }

    /// Headers to add to an actual (non-preflight) response for a request with `origin`:
    /// none unless the origin is allowed. `Vary: Origin` is added either way by the caller.
    #[must_use]
    pub fn response_headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        match origin {
            Some(o) if self.allows_origin(o) => vec![
                ("access-control-allow-origin", o.to_owned()),
                ("access-control-allow-credentials", "true".to_owned()),
                ("access-control-expose-headers", EXPOSED_HEADERS.to_owned()),
            ],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CorsPolicy {
        CorsPolicy::from_config(
            "https://app.example.com, http://localhost:3000",
            &["GET".to_owned(), "POST".to_owned()],
        )
        .expect("valid")
    }

    #[test]
    fn allowed_preflight_echoes_the_origin() {
        let h = policy()
            .preflight(
                "https://app.example.com",
                "POST",
                Some("Content-Type, Authorization"),
            )
            .expect("allowed");
        assert!(h.contains(&(
            "access-control-allow-origin",
            "https://app.example.com".to_owned()
        )));
        assert!(
            h.iter()
                .any(|(n, v)| *n == "access-control-allow-methods" && v == "GET, POST")
        );
    }

    #[test]
    fn refusals() {
        let p = policy();
        assert_eq!(
            p.preflight("https://evil.example", "GET", None),
            Err(CorsError::OriginNotAllowed)
        );
        assert_eq!(
            p.preflight("https://app.example.com.evil.example", "GET", None),
            Err(CorsError::OriginNotAllowed)
        );
        assert_eq!(
            p.preflight("https://app.example.com", "DELETE", None),
            Err(CorsError::MethodNotAllowed)
        );
        assert_eq!(
            p.preflight("https://app.example.com", "GET", Some("x-auth-role")),
            Err(CorsError::HeaderNotAllowed)
        );
        assert!(p.response_headers(Some("https://evil.example")).is_empty());
        assert_eq!(p.response_headers(Some("http://localhost:3000")).len(), 3);
    }

    #[test]
    fn config_is_validated() {
        let m = ["GET".to_owned()];
        assert!(CorsPolicy::from_config("", &m).is_ok());
        assert!(CorsPolicy::from_config("*", &m).is_err());
        assert!(CorsPolicy::from_config("https://a.example/path", &m).is_err());
        assert!(CorsPolicy::from_config("ftp://a.example", &m).is_err());
    }
}
