//! Lowercase hexadecimal, for digests and ids.

/// `bytes` as lowercase hex, two digits per byte.
pub(crate) fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
