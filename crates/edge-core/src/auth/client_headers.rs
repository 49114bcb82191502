//! Which of a client's request headers may travel past the entry.
//!
//! The hops behind the entry trust three header namespaces that only the edge may set:
//! `x-auth-*` (the verified identity), `x-edge-*` (routing and seals) and `x-request-id`.
//! A client header in one of them is dropped before anything is forwarded — in every
//! spelling, because origins behind CGI, WSGI, PHP or Rack read `X_Auth_Role` and
//! `x-auth-role` as the same `HTTP_X_AUTH_ROLE`. A reserved name spelled with `_` is not
//! a typo any client makes by accident, so it refuses the whole request (400
//! `reserved_header`) instead of being silently dropped.

use crate::error::HttpError;

/// The reserved namespaces: prefixes (ending in `-`) and exact names, lowercase, with `-`.
const RESERVED: [&str; 3] = ["x-auth-", "x-edge-", "x-request-id"];

/// What the entry does with one client header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Not reserved: forward it.
    Keep,
    /// Reserved, spelled with `-`: drop it (the edge sets its own value).
    Drop,
    /// Reserved, spelled with `_`: refuse the request.
    Refuse,
}

/// A client sent a header in a reserved namespace spelled with `_` (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("header name is in a namespace reserved for the edge")]
pub struct ReservedHeader {
    /// The header name as sent (lowercase, as the runtime gives it).
    pub name: String,
}

impl HttpError for ReservedHeader {
    fn status(&self) -> u16 {
        400
    }
    fn code(&self) -> &'static str {
        "reserved_header"
    }
    fn field(&self) -> Option<&str> {
        Some(&self.name)
    }
}

/// Whether `name`, in any case and with `_` read as `-`, is in a reserved namespace.
#[must_use]
pub fn is_reserved(name: &str) -> bool {
    let folded: String = name
        .chars()
        .map(|c| match c {
            '_' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    RESERVED.iter().any(|r| {
        if r.ends_with('-') {
            folded.starts_with(r)
        } else {
            folded == *r
        }
    })
}

/// What to do with a client header called `name`.
#[must_use]
pub fn disposition(name: &str) -> Disposition {
    if !is_reserved(name) {
        Disposition::Keep
    } else if name.contains('_') {
        Disposition::Refuse
    } else {
        Disposition::Drop
    }
}

/// The headers of `names_and_values` to forward: reserved ones dropped, in order.
///
/// # Errors
/// [`ReservedHeader`] for the first reserved name spelled with `_`.
pub fn filter<'a, I>(headers: I) -> Result<Vec<(&'a str, &'a str)>, ReservedHeader>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut kept = Vec::new();
    for (name, value) in headers {
        match disposition(name) {
            Disposition::Keep => kept.push((name, value)),
            Disposition::Drop => {}
            Disposition::Refuse => {
                return Err(ReservedHeader {
                    name: name.to_owned(),
                });
            }
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn item_13_2_reserved_names_in_every_spelling() {
        for dropped in [
            "x-auth-role",
            "X-Auth-User-Id",
            "x-auth-",
            "x-edge-region",
            "X-EDGE-SEAL",
            "x-request-id",
            "X-Request-ID",
        ] {
            assert_eq!(disposition(dropped), Disposition::Drop, "{dropped}");
        }
        for refused in [
            "X_Auth_Role",
            "x_auth_user_id",
            "x-auth_role",
            "x_edge_region",
            "X_Request_Id",
            "x-request_id",
        ] {
            assert_eq!(disposition(refused), Disposition::Refuse, "{refused}");
        }
        for kept in [
            "authorization",
            "x-authorization",
            "x-authx",
            "x-edgy",
            "x-request-idx",
            "x-request",
            "content_type",
            "x_custom",
        ] {
            assert_eq!(disposition(kept), Disposition::Keep, "{kept}");
        }
    }

    #[test]
    fn filter_drops_and_refuses() {
        let kept = filter([
            ("accept", "*/*"),
            ("x-auth-role", "admin"),
            ("x-edge-region", "eu"),
            ("x-request-id", "abc"),
            ("x-trace", "1"),
        ])
        .expect("no underscore");
        assert_eq!(kept, [("accept", "*/*"), ("x-trace", "1")]);
        let err = filter([("accept", "*/*"), ("x_auth_role", "admin")]).expect_err("refused");
        assert_eq!(err.status(), 400);
        assert_eq!(err.code(), "reserved_header");
        assert_eq!(err.field(), Some("x_auth_role"));
    }

    proptest! {
        /// The CGI rule: two names that a CGI origin reads as the same variable are
        /// either both forwarded or neither.
        #[test]
        fn cgi_aliases_are_treated_alike(name in "[xX][-_][a-zA-Z]{1,6}[-_][a-zA-Z_-]{0,8}") {
            let cgi = |n: &str| n.to_ascii_uppercase().replace('-', "_");
            let dashed = name.replace('_', "-");
            prop_assert_eq!(cgi(&name), cgi(&dashed));
            let forwarded = |n: &str| disposition(n) == Disposition::Keep;
            prop_assert_eq!(forwarded(&name), forwarded(&dashed));
        }
    }
}
