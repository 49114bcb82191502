//! Hexadecimal, for digests, ids, Discord's signature headers and test vectors.

/// `bytes` as lowercase hex, two digits per byte.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of an even number of hex digits (either case); `None` for anything else
/// (no sign, no prefix, no whitespace).
#[must_use]
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let digits = s.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits.chunks_exact(2).map(byte).collect()
}

/// [`decode`] of exactly `N` bytes (`2 * N` digits), without allocating; `None` for any
/// other length.
#[must_use]
pub fn decode_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        *o = byte(pair)?;
    }
    Some(out)
}

/// One byte from two hex digits.
fn byte(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    match pair {
        [hi, lo] => Some(digit(*hi)? << 4 | digit(*lo)?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_and_strictness() {
        assert_eq!(
            super::decode(&super::encode(&[0, 0xab, 0xff])),
            Some(vec![0, 0xab, 0xff])
        );
        assert_eq!(super::decode("ABcd"), Some(vec![0xab, 0xcd]));
        for bad in ["a", "+f", " f", "0x", "zz"] {
            assert_eq!(super::decode(bad), None, "{bad}");
        }
        assert_eq!(super::decode_array::<2>("abCD"), Some([0xab, 0xcd]));
        for bad in ["abc", "ab", "abcdef", "+bcd"] {
            assert_eq!(super::decode_array::<2>(bad), None, "{bad}");
        }
    }
}
