//! Request ids tie the metrics of one request's hops together.
//!
//! Entry workers mint the id (minting needs randomness, so it is the worker's job) and
//! ignore any id a client sends. Workers behind them accept their caller's
//! `x-request-id` only when it is a short token of safe characters; this module is that
//! check.

use serde::{Deserialize, Serialize};

/// Longest request id accepted, in bytes.
pub const MAX_LEN: usize = 64;

/// A validated request id: 1..=64 bytes of `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

impl RequestId {
    /// Validates `raw`; `None` when it is empty, too long, or has any other character.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        ok.then(|| Self(raw.to_owned()))
    }

    /// An id made from a clock reading, `t<unix ms>`: always valid, for a runtime without
    /// `crypto.randomUUID()` (which no Workers runtime lacks; it keeps the minting total).
    #[must_use]
    pub fn from_clock(now_ms: u64) -> Self {
        Self(format!("t{now_ms}"))
    }

    /// The id as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RequestId {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or("invalid request id")
    }
}

impl From<RequestId> for String {
    fn from(value: RequestId) -> Self {
        value.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn clock_ids_are_valid_ids() {
        let id = RequestId::from_clock(1_800_000_000_123);
        assert_eq!(RequestId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(id.as_str(), "t1800000000123");
    }

    #[test]
    fn accepts_uuids_and_rejects_injection() {
        assert!(RequestId::parse("0b7e4a2c-5f1d-4c3e-9a8b-1234567890ab").is_some());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse("a\r\nx-user-id: admin").is_none());
        assert!(RequestId::parse("a b").is_none());
        assert!(RequestId::parse(&"a".repeat(MAX_LEN)).is_some());
        assert!(RequestId::parse(&"a".repeat(MAX_LEN + 1)).is_none());
    }

    proptest! {
        #[test]
        fn parsed_ids_only_contain_safe_bytes(s in ".{0,80}") {
            if let Some(id) = RequestId::parse(&s) {
                prop_assert!(id.as_str().len() <= MAX_LEN);
                prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_graphic() && b != b'"'));
            }
        }
    }
}
