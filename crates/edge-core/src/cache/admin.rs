//! Which requests are cache-manager's own operator endpoints, decided before anything is
//! read or forwarded.
//!
//! Every path whose first segment is `admin` (any letter case) belongs to the operators:
//! cache-manager answers it itself and never forwards it to voice-router or an origin, so
//! neither an admin request nor its `Authorization: Bearer <ADMIN_SECRET>` can leave it.
//! The only endpoint is `POST /admin/v1/cache/purge`; another method there is a 405 with
//! `Allow: POST`, any other admin path a 404.

use crate::HttpError;

/// Path of the purge endpoint.
pub const PURGE_PATH: &str = "/admin/v1/cache/purge";

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum AdminRoute {
    /// Not an admin path: through the cache.
    NotAdmin,
    /// `POST` [`PURGE_PATH`]: the purge endpoint.
    Purge,
}

/// An admin path this worker does not serve for this method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdminRouteError {
    /// No admin endpoint at this path (404 `not_found`).
    #[error("no route for this path")]
    NotFound,
    /// The purge endpoint takes only `POST` (405 `method_not_allowed`, `Allow: POST`).
    #[error("method not allowed")]
    MethodNotAllowed,
}

impl HttpError for AdminRouteError {
    fn status(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
        }
    }
    fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::NotFound => Vec::new(),
            Self::MethodNotAllowed => vec![("allow", "POST".to_owned())],
        }
    }
}

/// Routes `method` `path` (the raw method; the path without query).
///
/// # Errors
/// [`AdminRouteError`] for an admin path that is not `POST` [`PURGE_PATH`].
pub fn route(method: &str, path: &str) -> Result<AdminRoute, AdminRouteError> {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if !first.eq_ignore_ascii_case("admin") {
        return Ok(AdminRoute::NotAdmin);
    }
    match (path == PURGE_PATH, method) {
        (true, "POST") => Ok(AdminRoute::Purge),
        (true, _) => Err(AdminRouteError::MethodNotAllowed),
        (false, _) => Err(AdminRouteError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_13_cache_admin_only_post_purge_is_served_and_no_admin_path_goes_through() {
        assert_eq!(route("POST", PURGE_PATH), Ok(AdminRoute::Purge));
        for m in [
            "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PROPFIND", "post",
        ] {
            let e = route(m, PURGE_PATH).expect_err(m);
            assert_eq!((e.status(), e.code()), (405, "method_not_allowed"));
            assert_eq!(e.headers(), vec![("allow", "POST".to_owned())]);
        }
        for p in [
            "/admin",
            "/admin/",
            "/admin/v1/cache",
            "/admin/v1/cache/",
            "/admin/v1/cache/purge/",
            "/admin/v1/cache/entries",
            "/admin/v1/keys",
            "/ADMIN/v1/cache/purge",
            "//admin/v1/cache/purge",
        ] {
            for m in ["GET", "POST"] {
                assert_eq!(route(m, p), Err(AdminRouteError::NotFound), "{m} {p}");
            }
        }
        for p in [
            "/",
            "/api/v1/agents",
            "/administrator",
            "/api/admin/x",
            "/health",
        ] {
            assert_eq!(route("GET", p), Ok(AdminRoute::NotAdmin), "{p}");
        }
    }
}
