//! Who a request is, once authenticated, and how that travels to the next hop.
//!
//! The hops behind auth-validator trust the `x-auth-*` headers, so auth-validator first
//! removes every header in that namespace the client sent ([`is_identity_header`]) and then
//! sets exactly the ones [`Identity::headers`] lists. Every value is checked to be
//! header-safe when the identity is built, so forwarding it cannot fail or inject; a user id
//! from a token may hold any Unicode, so it travels percent-encoded ([`encode_subject`]).

use crate::auth::rate_limit::RateLimitPolicy;

/// Prefix of every identity header; client-sent headers with it are stripped.
pub const IDENTITY_HEADER_PREFIX: &str = "x-auth-";
/// Longest subject (user id), in bytes, before encoding.
pub const MAX_SUBJECT_BYTES: usize = 256;
/// Most permissions one identity may carry.
pub const MAX_PERMISSIONS: usize = 64;
/// Longest permission name, in bytes.
pub const MAX_PERMISSION_BYTES: usize = 64;
/// The subject namespace of API keys (`key:<id>`): reserved, so a JWT `sub` can never
/// name the same user id as an API key.
pub const API_KEY_SUBJECT_PREFIX: &str = "key:";
/// Role given when a token names none.
pub const DEFAULT_ROLE: &str = "user";
/// The role that holds every permission.
pub const ADMIN_ROLE: &str = "admin";

/// How the request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A signed JWT bearer token.
    Jwt,
    /// An API key (`Authorization: API-Key …`).
    ApiKey,
}

impl AuthMethod {
    /// The header and analytics spelling: `jwt` or `api_key`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::ApiKey => "api_key",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user id: the token's (`sub` unless the claims mapping names another claim)
    /// as [`encode_subject`] spells it, or `key:<id>` for an API key.
    pub subject: String,
    /// How it authenticated.
    pub method: AuthMethod,
    /// Role name (`[a-z0-9_-]{1,32}`).
    pub role: String,
    /// Permission names, each `[A-Za-z0-9:._*-]{1,64}`.
    pub permissions: Vec<String>,
    /// The API key id, for keys.
    pub key_id: Option<String>,
    /// When the credential was checked, unix seconds.
    pub authenticated_at_s: u64,
    /// The rate limit that applies, if any.
    pub rate_limit: Option<RateLimitPolicy>,
    /// Claim values the claims mapping could not use and skipped (0 for API keys).
    pub ignored_values: u32,
}

impl Identity {
    /// The headers to forward, lowercase names, values already header-safe.
    #[must_use]
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("x-auth-user-id", self.subject.clone()),
            ("x-auth-method", self.method.as_str().to_owned()),
            ("x-auth-role", self.role.clone()),
            ("x-auth-permissions", self.permissions.join(" ")),
            (
                "x-auth-authenticated-at",
                self.authenticated_at_s.to_string(),
            ),
        ];
        if let Some(id) = &self.key_id {
            out.push(("x-auth-key-id", id.clone()));
        }
        if self.ignored_values > 0 {
            out.push(("x-auth-ignored-claims", self.ignored_values.to_string()));
        }
        out
    }

    /// The rate-limit bucket of this caller: one per key, one per JWT subject.
    #[must_use]
    pub fn rate_limit_bucket(&self) -> String {
        match &self.key_id {
            Some(id) => format!("key:{id}"),
            None => format!("sub:{}", self.subject),
        }
    }

    /// Whether the identity holds `permission`: the admin role holds all; otherwise an
    /// exact match, `*`, or `<resource>:*` for `<resource>:<action>`.
    #[must_use]
    pub fn has_permission(&self, permission: &str) -> bool {
        if self.role == ADMIN_ROLE {
            return true;
        }
        let resource = permission.split_once(':').map(|(r, _)| r);
        self.permissions.iter().any(|p| {
            p == "*" || p == permission || resource.is_some_and(|r| p.strip_suffix(":*") == Some(r))
        })
    }
}

/// Whether a request header (any case) is in the identity namespace and must be stripped.
#[must_use]
pub fn is_identity_header(name: &str) -> bool {
    name.len() >= IDENTITY_HEADER_PREFIX.len()
        && name[..IDENTITY_HEADER_PREFIX.len()].eq_ignore_ascii_case(IDENTITY_HEADER_PREFIX)
}

/// The permission a request needs: `<resource>:read` for GET and HEAD, `<resource>:write`
/// otherwise, where the resource is the segment after `/api/v1/` (`calls`, `agents`, …),
/// or `voice` / `webhooks` for those trees. `None` for paths outside them.
#[must_use]
pub fn required_permission(method: &str, path: &str) -> Option<String> {
    let resource = if let Some(rest) = path.strip_prefix("/api/v1/") {
        rest.split('/').next().filter(|r| !r.is_empty())?
    } else {
        path.strip_prefix('/')?
            .split('/')
            .next()
            .filter(|r| matches!(*r, "voice" | "webhooks"))?
    };
    let action = if matches!(method, "GET" | "HEAD") {
        "read"
    } else {
        "write"
    };
    Some(format!("{resource}:{action}"))
}

/// A subject is 1..=256 printable ASCII bytes.
#[must_use]
pub fn valid_subject(s: &str) -> bool {
    (1..=MAX_SUBJECT_BYTES).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
}

/// A token's user id as it travels in `x-auth-user-id` (and names its rate-limit bucket):
/// every byte of its UTF-8 outside printable ASCII, and `%` itself, written `%XX` (RFC 3986
/// percent-encoding, uppercase), so the header is always printable ASCII and an origin
/// gets the exact id back with any percent-decoder (`decodeURIComponent`). An id of
/// printable ASCII without `%` is unchanged.
///
/// `None` (the token is refused) for an empty id, one over [`MAX_SUBJECT_BYTES`], one with
/// a control character, or one in the API keys' namespace ([`API_KEY_SUBJECT_PREFIX`]).
#[must_use]
pub fn encode_subject(raw: &str) -> Option<String> {
    if raw.is_empty()
        || raw.len() > MAX_SUBJECT_BYTES
        || raw.chars().any(char::is_control)
        || raw.starts_with(API_KEY_SUBJECT_PREFIX)
    {
        return None;
    }
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push_str(&crate::hex::encode(&[b]).to_ascii_uppercase());
        }
    }
    Some(out)
}

/// A role is `[a-z0-9_-]{1,32}`.
#[must_use]
pub fn valid_role(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A permission is `[A-Za-z0-9:._*-]{1,64}`.
#[must_use]
pub fn valid_permission(s: &str) -> bool {
    (1..=MAX_PERMISSION_BYTES).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":._*-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(role: &str, permissions: &[&str]) -> Identity {
        Identity {
            subject: "u1".into(),
            method: AuthMethod::Jwt,
            role: role.into(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            key_id: None,
            authenticated_at_s: 1_700_000_000,
            rate_limit: None,
            ignored_values: 0,
        }
    }

    #[test]
    fn identity_namespace_is_matched_case_insensitively() {
        for h in [
            "x-auth-user-id",
            "X-Auth-Role",
            "X-AUTH-anything",
            "x-auth-",
        ] {
            assert!(is_identity_header(h), "{h}");
        }
        for h in ["x-authorization", "authorization", "x-aut", "x-request-id"] {
            assert!(!is_identity_header(h), "{h}");
        }
    }

    #[test]
    fn permissions_follow_method_and_resource() {
        assert_eq!(
            required_permission("GET", "/api/v1/calls/c1").as_deref(),
            Some("calls:read")
        );
        assert_eq!(
            required_permission("POST", "/api/v1/phone-numbers").as_deref(),
            Some("phone-numbers:write")
        );
        assert_eq!(
            required_permission("PUT", "/voice/stream").as_deref(),
            Some("voice:write")
        );
        assert_eq!(required_permission("GET", "/health"), None);
        let reader = identity("user", &["calls:read"]);
        assert!(reader.has_permission("calls:read"));
        assert!(!reader.has_permission("calls:write"));
        assert!(!reader.has_permission("agents:read"));
        assert!(identity("user", &["calls:*"]).has_permission("calls:write"));
        assert!(!identity("user", &["calls:*"]).has_permission("callsx:write"));
        assert!(identity("user", &["*"]).has_permission("agents:write"));
        assert!(identity("admin", &[]).has_permission("agents:write"));
    }

    #[test]
    fn headers_carry_the_identity() {
        let mut id = identity("operator", &["calls:read", "agents:*"]);
        id.key_id = Some("0123456789abcdef".into());
        let h = id.headers();
        assert!(h.contains(&("x-auth-user-id", "u1".to_owned())));
        assert!(h.contains(&("x-auth-role", "operator".to_owned())));
        assert!(h.contains(&("x-auth-permissions", "calls:read agents:*".to_owned())));
        assert!(h.contains(&("x-auth-authenticated-at", "1700000000".to_owned())));
        assert!(h.contains(&("x-auth-key-id", "0123456789abcdef".to_owned())));
        assert!(h.iter().all(|(n, _)| is_identity_header(n)));
        assert_eq!(id.rate_limit_bucket(), "key:0123456789abcdef");
    }

    #[test]
    fn value_validators() {
        assert!(valid_subject("user-1@example.com"));
        assert!(!valid_subject(""));
        assert!(!valid_subject("a b"));
        assert!(!valid_subject("a\r\nx-auth-role: admin"));
        assert!(valid_role("support-agent"));
        assert!(!valid_role("Admin"));
        assert!(valid_permission("calls:read"));
        assert!(!valid_permission("calls read"));
    }
}
