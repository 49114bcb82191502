//! The web chat's session tokens: `v1.<expiry unix s>.<tag>`, the tag an HMAC-SHA256 over
//! the session id and the expiry under a key derived from `CHAT_TOKEN_SECRET` for this
//! purpose only ([`crate::signed::derive_key`]). A token opens one session until its
//! expiry and nothing else; tags are compared in constant time. Only the characters
//! `[A-Za-z0-9._-]` appear, so a token fits a WebSocket subprotocol (`bearer.<token>`).

use crate::signed::{derive_key, tag, tag_matches};

/// The purpose the signing key is derived for.
const PURPOSE: &str = "edge-workers/web-chat-session/v1";
/// Longest token accepted, bytes (a real one is about 60).
pub const MAX_TOKEN_BYTES: usize = 128;
/// Length of a session id: 32 lowercase hex digits.
pub const SESSION_ID_LEN: usize = 32;
/// Length of a tag: 32 bytes in unpadded URL-safe base64.
const TAG_LEN: usize = 43;

/// Why a presented token does not open a session (all answer the same 401 to the client;
/// the distinction is for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `v1.<digits>.<43 base64url chars>`, or too long.
    #[error("malformed session token")]
    Malformed,
    /// The tag does not match this session id and expiry (another session's token, a
    /// forged or altered one).
    #[error("session token does not match")]
    BadTag,
    /// Past its expiry.
    #[error("session token expired")]
    Expired,
}

/// Whether `id` is a session id: exactly 32 lowercase hex digits.
#[must_use]
pub fn valid_session_id(id: &str) -> bool {
    id.len() == SESSION_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What is signed: the version, the session id and the expiry.
fn message(session_id: &str, expires_s: u64) -> String {
    format!("v1\n{session_id}\n{expires_s}")
}

/// The token opening `session_id` until `expires_s` (unix seconds).
#[must_use]
pub fn issue(secret: &str, session_id: &str, expires_s: u64) -> String {
    let t = tag(
        &derive_key(secret, PURPOSE),
        &message(session_id, expires_s),
    );
    format!("v1.{expires_s}.{t}")
}

/// The expiry of `token` if it opens `session_id` at `now_s`.
///
/// # Errors
/// [`TokenError`]: malformed, not this session's (or not this secret's), or expired.
pub fn verify(secret: &str, session_id: &str, token: &str, now_s: u64) -> Result<u64, TokenError> {
    if token.len() > MAX_TOKEN_BYTES || !valid_session_id(session_id) {
        return Err(TokenError::Malformed);
    }
    let rest = token.strip_prefix("v1.").ok_or(TokenError::Malformed)?;
    let (exp, t) = rest.split_once('.').ok_or(TokenError::Malformed)?;
    if exp.is_empty()
        || exp.len() > 12
        || (exp.len() > 1 && exp.starts_with('0'))
        || !exp.bytes().all(|b| b.is_ascii_digit())
        || t.len() != TAG_LEN
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(TokenError::Malformed);
    }
    let expires_s: u64 = exp.parse().map_err(|_| TokenError::Malformed)?;
    if !tag_matches(
        &derive_key(secret, PURPOSE),
        &message(session_id, expires_s),
        t,
    ) {
        return Err(TokenError::BadTag);
    }
    if expires_s <= now_s {
        return Err(TokenError::Expired);
    }
    Ok(expires_s)
}

/// The token in a WebSocket `Sec-WebSocket-Protocol` offer (`chat.v1, bearer.<token>`):
/// the offer must name [`SUBPROTOCOL`] and carry exactly one `bearer.` entry.
#[must_use]
pub fn from_subprotocols(offer: &str) -> Option<&str> {
    let mut has_chat = false;
    let mut token = None;
    for p in offer.split(',').map(str::trim) {
        if p == SUBPROTOCOL {
            has_chat = true;
        } else if let Some(t) = p.strip_prefix("bearer.")
            && token.replace(t).is_some()
        {
            return None;
        }
    }
    if has_chat { token } else { None }
}

/// The subprotocol the server answers with.
pub const SUBPROTOCOL: &str = "chat.v1";

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SECRET: &str = "a-chat-token-secret-for-tests";
    const ID: &str = "0123456789abcdef0123456789abcdef";
    const OTHER: &str = "fedcba9876543210fedcba9876543210";
    const NOW: u64 = 1_795_435_200;

    #[test]
    fn a_token_opens_its_session_until_it_expires() {
        let t = issue(SECRET, ID, NOW + 60);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "{t}"
        );
        assert_eq!(verify(SECRET, ID, &t, NOW), Ok(NOW + 60));
        assert_eq!(verify(SECRET, ID, &t, NOW + 59), Ok(NOW + 60));
        assert_eq!(verify(SECRET, ID, &t, NOW + 60), Err(TokenError::Expired));
    }

    #[test]
    fn another_sessions_or_secrets_token_is_refused() {
        let t = issue(SECRET, OTHER, NOW + 60);
        assert_eq!(verify(SECRET, ID, &t, NOW), Err(TokenError::BadTag));
        let t = issue("another-secret", ID, NOW + 60);
        assert_eq!(verify(SECRET, ID, &t, NOW), Err(TokenError::BadTag));
        // Stretching the expiry breaks the tag.
        let t = issue(SECRET, ID, NOW + 60);
        let tag = t.rsplit_once('.').expect("tag").1;
        assert_eq!(
            verify(SECRET, ID, &format!("v1.{}.{tag}", NOW + 6000), NOW),
            Err(TokenError::BadTag)
        );
    }

    #[test]
    fn malformed_tokens_and_ids_are_refused() {
        let good = issue(SECRET, ID, NOW + 60);
        let tag = good.rsplit_once('.').expect("tag").1.to_owned();
        for bad in [
            String::new(),
            "v1".to_owned(),
            "v1..".to_owned(),
            format!("v2.{}.{tag}", NOW + 60),
            format!("v1.0{}.{tag}", NOW + 60),
            format!("v1.-{}.{tag}", NOW + 60),
            format!("v1.{}.{tag}=", NOW + 60),
            format!("v1.{}.{}", NOW + 60, &tag[1..]),
            format!("v1.{}.{tag}.x", NOW + 60),
            format!("{good}{}", "A".repeat(200)),
        ] {
            assert_eq!(
                verify(SECRET, ID, &bad, NOW),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
        for id in [
            "",
            "0123",
            &ID.to_uppercase(),
            &format!("{ID}0"),
            "g123456789abcdef0123456789abcdef",
        ] {
            assert!(!valid_session_id(id), "{id}");
            assert_eq!(verify(SECRET, id, &good, NOW), Err(TokenError::Malformed));
        }
    }

    #[test]
    fn the_token_rides_in_the_websocket_subprotocol_offer() {
        assert_eq!(
            from_subprotocols("chat.v1, bearer.v1.1.abc"),
            Some("v1.1.abc")
        );
        assert_eq!(from_subprotocols("bearer.x,chat.v1"), Some("x"));
        assert_eq!(
            from_subprotocols("bearer.x"),
            None,
            "chat.v1 must be offered"
        );
        assert_eq!(from_subprotocols("chat.v1"), None);
        assert_eq!(from_subprotocols("chat.v1, bearer.a, bearer.b"), None);
    }

    proptest! {
        #[test]
        fn no_string_panics_or_opens_a_session(s in ".{0,160}") {
            prop_assert!(verify(SECRET, ID, &s, NOW).is_err());
        }

        #[test]
        fn every_issued_token_verifies_only_for_its_id(exp in (NOW + 1)..(NOW + 1_000_000)) {
            let t = issue(SECRET, ID, exp);
            prop_assert_eq!(verify(SECRET, ID, &t, NOW), Ok(exp));
            prop_assert_eq!(verify(SECRET, OTHER, &t, NOW), Err(TokenError::BadTag));
        }
    }
}
