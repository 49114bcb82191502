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
    let digit = |c: u8| (c as char).to_digit(16);
    digits
        .chunks(2)
        .map(|pair| u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok())
        .collect()
}

/// [`decode`] of exactly `N` bytes (`2 * N` digits); `None` for any other length.
#[must_use]
pub fn decode_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    decode(s)?.try_into().ok()
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
