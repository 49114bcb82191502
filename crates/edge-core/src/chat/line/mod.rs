//! The LINE Messaging API: webhook signatures, webhook events, and message limits.

pub mod signature;
pub mod webhook;

use sha2::{Digest, Sha256};

/// The `X-Line-Retry-Key` for pushing the answer to webhook event `event_id`: a UUID (v4
/// layout) derived from the id, so every retry of the same answer carries the same key and
/// LINE delivers it once (a repeat gets 409).
#[must_use]
pub fn retry_key(event_id: &str) -> String {
    let d = Sha256::digest(format!("line-retry-key\n{event_id}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::hex::encode(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_keys_are_stable_v4_uuids_per_event() {
        let k = retry_key("01FZ74A0TDDPYRVKNK77XKC3ZR");
        assert_eq!(k, retry_key("01FZ74A0TDDPYRVKNK77XKC3ZR"));
        assert_ne!(k, retry_key("01FZ74A0TDDPYRVKNK77XKC3ZS"));
        assert_eq!(k.len(), 36);
        assert_eq!(&k[14..15], "4");
        assert!(matches!(&k[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(k.matches('-').count(), 4);
    }
}
