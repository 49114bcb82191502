//! A worker's routes as a table: method and path pattern to a typed route.
//!
//! Each worker declares `&[(method, pattern, R)]` once, and [`route`] answers with the
//! route and its path parameters, or the error the table implies: 404 `not_found` when no
//! pattern matches the path, 405 `method_not_allowed` with `Allow` (every method the path
//! takes, RFC 9110 §15.5.6) when patterns match but none for this method. A pattern is a
//! path whose segments are literals or `:name` (one non-empty segment). `HEAD` is not
//! implied by `GET`: a table lists what it serves.

use crate::HttpError;

/// One row of a route table: method, pattern, route.
pub type RouteRow<R> = (&'static str, &'static str, R);

/// Why a request matches no route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No pattern matches the path.
    #[error("no route for this path")]
    NotFound,
    /// The path is served, but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The methods the path takes, in table order, for `Allow`.
        allow: Vec<&'static str>,
    },
}

impl HttpError for RouteError {
    fn status(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::MethodNotAllowed { .. } => 405,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::NotFound => Vec::new(),
            Self::MethodNotAllowed { allow } => vec![("allow", allow.join(", "))],
        }
    }
}

/// The path parameters of a match, by name, in pattern order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params<'p> {
    pairs: Vec<(&'static str, &'p str)>,
}

impl<'p> Params<'p> {
    /// The segment that matched `:name`, as it stood in the path (not percent-decoded).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&'p str> {
        self.pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// The route of `method` and `path` in `table`, with its parameters.
///
/// # Errors
/// [`RouteError::NotFound`] or [`RouteError::MethodNotAllowed`] (see the module docs).
pub fn route<'p, R: Copy>(
    table: &[RouteRow<R>],
    method: &str,
    path: &'p str,
) -> Result<(R, Params<'p>), RouteError> {
    let mut allow: Vec<&'static str> = Vec::new();
    for &(m, pattern, r) in table {
        let Some(params) = matches(pattern, path) else {
            continue;
        };
        if m == method {
            return Ok((r, params));
        }
        if !allow.contains(&m) {
            allow.push(m);
        }
    }
    if allow.is_empty() {
        Err(RouteError::NotFound)
    } else {
        Err(RouteError::MethodNotAllowed { allow })
    }
}

fn matches<'p>(pattern: &'static str, path: &'p str) -> Option<Params<'p>> {
    let mut want = pattern.split('/');
    let mut have = path.split('/');
    let mut pairs = Vec::new();
    loop {
        match (want.next(), have.next()) {
            (None, None) => return Some(Params { pairs }),
            (Some(w), Some(h)) => {
                if let Some(name) = w.strip_prefix(':') {
                    if h.is_empty() {
                        return None;
                    }
                    pairs.push((name, h));
                } else if w != h {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum R {
        Health,
        List,
        Get,
        Put,
    }

    const TABLE: &[RouteRow<R>] = &[
        ("GET", "/health", R::Health),
        ("GET", "/admin/v1/products", R::List),
        ("GET", "/admin/v1/products/:id", R::Get),
        ("PUT", "/admin/v1/products/:id", R::Put),
    ];

    #[test]
    fn literal_and_parameter_routes_match() {
        assert_eq!(route(TABLE, "GET", "/health").expect("routes").0, R::Health);
        let (r, p) = route(TABLE, "PUT", "/admin/v1/products/p-1").expect("routes");
        assert_eq!((r, p.get("id")), (R::Put, Some("p-1")));
        assert_eq!(p.get("other"), None);
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
        assert_eq!(route(TABLE, "GET", "/nope"), Err(RouteError::NotFound));
        // A parameter never matches an empty segment, nor a pattern a longer path.
        assert_eq!(
            route(TABLE, "GET", "/admin/v1/products/"),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            route(TABLE, "GET", "/admin/v1/products/a/b"),
            Err(RouteError::NotFound)
        );
        assert_eq!(route(TABLE, "GET", "/health/"), Err(RouteError::NotFound));
        let e = route(TABLE, "DELETE", "/admin/v1/products/x").expect_err("405");
        assert_eq!(e.status(), 405);
        assert_eq!(e.headers(), vec![("allow", "GET, PUT".to_owned())]);
        // Methods are case-sensitive (RFC 9110 §9.1).
        assert_eq!(
            route(TABLE, "get", "/health").expect_err("405").status(),
            405
        );
    }
}
