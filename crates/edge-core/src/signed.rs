//! Short HMAC-SHA256 tokens that a deployment mints and checks itself, keyed by a key
//! derived from the admin secret per purpose (so a token for one purpose never verifies
//! for another, and rotating the admin secret revokes them all):
//!
//! - [`session`]: the dashboard's sign-in cookie;
//! - [`seal`]: auth-validator's proof, on a forwarded request, that it set the `x-auth-*`
//!   identity headers itself, so a hop that can also be reached directly trusts them only
//!   when sealed.
//!
//! Tags are compared in constant time (`hmac`'s `verify_slice`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// A 32-byte key for one purpose: `HMAC-SHA256(secret, purpose)`.
#[must_use]
pub fn derive_key(secret: &str, purpose: &str) -> [u8; 32] {
    crate::sig::hmac_sha256(secret.as_bytes(), &[purpose.as_bytes()])
}

/// The URL-safe base64 HMAC-SHA256 tag of `msg` under `key`.
pub(crate) fn tag(key: &[u8; 32], msg: &str) -> String {
    URL_SAFE_NO_PAD.encode(crate::sig::hmac_sha256(key, &[msg.as_bytes()]))
}

/// Whether `presented` is the tag of `msg` under `key` (constant-time comparison).
pub(crate) fn tag_matches(key: &[u8; 32], msg: &str, presented: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(presented) else {
        return false;
    };
    crate::sig::hmac_sha256_matches(key, msg.as_bytes(), &bytes)
}

/// `v1.<unix seconds>.<tag>` split into its time and tag, when well formed.
fn split(token: &str) -> Option<(u64, &str)> {
    let rest = token.strip_prefix("v1.")?;
    let (ts, tag) = rest.split_once('.')?;
    if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((ts.parse().ok()?, tag))
}

/// The dashboard's sign-in cookie: `v1.<expiry>.<tag>`.
pub mod session {
    use super::{derive_key, split, tag, tag_matches};

    /// The cookie's name.
    pub const COOKIE: &str = "edge_dashboard";
    /// How long a sign-in lasts, seconds.
    pub const LIFETIME_S: u64 = 12 * 3600;
    const PURPOSE: &str = "edge-workers/dashboard-session/v1";

    /// A cookie value valid until `now_s + LIFETIME_S`.
    #[must_use]
    pub fn issue(admin_secret: &str, now_s: u64) -> String {
        let body = format!("v1.{}", now_s + LIFETIME_S);
        let t = tag(&derive_key(admin_secret, PURPOSE), &body);
        format!("{body}.{t}")
    }

    /// Whether `value` is a cookie this secret issued that has not expired at `now_s`.
    #[must_use]
    pub fn verify(admin_secret: &str, value: &str, now_s: u64) -> bool {
        let Some((exp, t)) = split(value) else {
            return false;
        };
        exp > now_s
            && exp <= now_s + LIFETIME_S
            && tag_matches(&derive_key(admin_secret, PURPOSE), &format!("v1.{exp}"), t)
    }
}

/// auth-validator's seal over the identity it forwards: `v1.<time>.<tag>` in
/// [`seal::HEADER`], binding the identity to the request id, method and path.
pub mod seal {
    use super::{derive_key, split, tag, tag_matches};

    /// The header carrying the seal.
    pub const HEADER: &str = "x-auth-seal";
    /// How far a seal's time may be from the verifier's clock, seconds.
    pub const MAX_SKEW_S: u64 = 60;
    const PURPOSE: &str = "edge-workers/identity-seal/v1";

    /// What a seal covers.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Sealed<'a> {
        /// The request id both hops see.
        pub request_id: &'a str,
        /// The request method.
        pub method: &'a str,
        /// The request path.
        pub path: &'a str,
        /// `x-auth-user-id`.
        pub subject: &'a str,
        /// `x-auth-permissions` (space-separated).
        pub permissions: &'a str,
    }

    impl Sealed<'_> {
        fn message(&self, ts: u64) -> String {
            format!(
                "v1\n{ts}\n{}\n{}\n{}\n{}\n{}",
                self.request_id, self.method, self.path, self.subject, self.permissions
            )
        }
    }

    /// The seal of `what` at `now_s`.
    #[must_use]
    pub fn seal(admin_secret: &str, what: &Sealed<'_>, now_s: u64) -> String {
        let t = tag(&derive_key(admin_secret, PURPOSE), &what.message(now_s));
        format!("v1.{now_s}.{t}")
    }

    /// Whether `value` seals exactly `what` within [`MAX_SKEW_S`] of `now_s`.
    #[must_use]
    pub fn verify(admin_secret: &str, what: &Sealed<'_>, value: &str, now_s: u64) -> bool {
        let Some((ts, t)) = split(value) else {
            return false;
        };
        ts.abs_diff(now_s) <= MAX_SKEW_S
            && tag_matches(&derive_key(admin_secret, PURPOSE), &what.message(ts), t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "an-admin-secret-of-some-length";
    const NOW: u64 = 1_795_435_200;

    #[test]
    fn derived_keys_follow_rfc_4231_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let k = derive_key("Jefe", "what do ya want for nothing?");
        assert_eq!(
            crate::hex::encode(&k),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn sessions_expire_and_bind_to_the_secret() {
        let c = session::issue(SECRET, NOW);
        assert!(session::verify(SECRET, &c, NOW));
        assert!(session::verify(SECRET, &c, NOW + session::LIFETIME_S - 1));
        assert!(!session::verify(SECRET, &c, NOW + session::LIFETIME_S));
        assert!(!session::verify("another-secret-entirely", &c, NOW));
        // Stretching the expiry breaks the tag; garbage is refused.
        let (_, tag) = c.rsplit_once('.').expect("tag");
        assert!(!session::verify(
            SECRET,
            &format!("v1.{}.{tag}", NOW + 100),
            NOW
        ));
        for bad in [
            "",
            "v1",
            "v1..",
            "v2.1.x",
            "v1.-5.x",
            "v1.99999999999999.x",
            "v1.1.!!",
        ] {
            assert!(!session::verify(SECRET, bad, NOW), "{bad}");
        }
    }

    #[test]
    fn seals_cover_identity_request_and_time() {
        let what = seal::Sealed {
            request_id: "req-1",
            method: "GET",
            path: "/api/v1/analytics/edge/query",
            subject: "alice",
            permissions: "analytics:read",
        };
        let s = seal::seal(SECRET, &what, NOW);
        assert!(seal::verify(SECRET, &what, &s, NOW + seal::MAX_SKEW_S));
        assert!(!seal::verify(SECRET, &what, &s, NOW + seal::MAX_SKEW_S + 1));
        for changed in [
            seal::Sealed {
                permissions: "analytics:read admin:write",
                ..what
            },
            seal::Sealed {
                subject: "mallory",
                ..what
            },
            seal::Sealed {
                request_id: "req-2",
                ..what
            },
            seal::Sealed {
                path: "/api/v1/analytics/edge/dashboard",
                ..what
            },
            seal::Sealed {
                method: "POST",
                ..what
            },
        ] {
            assert!(!seal::verify(SECRET, &changed, &s, NOW), "{changed:?}");
        }
        // A session cookie is not a seal, even under the same secret.
        assert!(!seal::verify(
            SECRET,
            &what,
            &session::issue(SECRET, NOW),
            NOW
        ));
    }
}
