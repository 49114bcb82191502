//! Byte ranges served from a stored complete response (RFC 9110 §14).
//!
//! Only a `GET` whose stored entry is a complete `200` is answered with a part: [`select`]
//! reads `Range` and `If-Range` against the entry and says whether to send the whole
//! representation, one part (`206` with `Content-Range` and `Content-Length`, see
//! [`partial_headers`]), or `416` with `Content-Range: bytes */<length>`
//! ([`unsatisfiable_headers`]).
//!
//! Decisions, all allowed by RFC 9110 §14.2 ("a server MAY ignore the Range header"):
//! - **One range only.** A `Range` naming several ranges is answered with the whole `200`
//!   (no `multipart/byteranges`): a client asking for several parts gets them all, and
//!   the cache never builds a body larger than the entry.
//! - **Bounded parsing.** A `Range` longer than [`MAX_RANGE_HEADER`] bytes is ignored
//!   unread, and a shorter one is split only until its second range: a header with 1000
//!   ranges costs one length check, never a list of 1000 parts.
//! - **Unknown units or malformed values** are ignored (whole `200`), as §14.2 requires.
//! - **`If-Range`** (§13.1.5) applies the range only when it matches the entry's strong
//!   `ETag` exactly, or is an HTTP-date equal to the entry's `Last-Modified`, itself a
//!   strong validator (at least one second older than the entry's `Date`). Anything else
//!   (a weak tag, another tag, another date, an entry without that validator): the whole
//!   `200`.

use crate::cache::date;

/// Longest `Range` value read (longer: ignored).
pub const MAX_RANGE_HEADER: usize = 256;

/// One `byte-range-spec` (RFC 9110 §14.1.1), not yet resolved against a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// `first-last` (inclusive) or `first-` (`last` is `None`).
    From {
        /// First byte position.
        first: u64,
        /// Last byte position, inclusive.
        last: Option<u64>,
    },
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

/// What a `Range` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// Nothing the cache answers with a part: no header, another unit, malformed,
    /// too long, or several ranges. The whole representation is sent.
    Ignore,
    /// One byte range.
    One(Spec),
}

/// What to send for a stored complete response of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The whole representation (`200`).
    Whole,
    /// Bytes `first..=last` (`206`).
    Bytes {
        /// First byte sent.
        first: u64,
        /// Last byte sent, inclusive.
        last: u64,
        /// The whole representation's length.
        len: u64,
    },
    /// No byte of the range exists (`416`).
    Unsatisfiable {
        /// The whole representation's length.
        len: u64,
    },
}

/// Parses a `Range` header value.
#[must_use]
pub fn parse(value: &str) -> Requested {
    if value.len() > MAX_RANGE_HEADER {
        return Requested::Ignore;
    }
    let value = value.trim();
    let Some((unit, set)) = value.split_once('=') else {
        return Requested::Ignore;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Requested::Ignore;
    }
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let (Some(only), None) = (specs.next(), specs.next()) else {
        return Requested::Ignore;
    };
    spec(only).map_or(Requested::Ignore, Requested::One)
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn spec(s: &str) -> Option<Spec> {
    let (first, last) = s.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return digits(last).map(Spec::Suffix);
    }
    let first = digits(first)?;
    if last.is_empty() {
        return Some(Spec::From { first, last: None });
    }
    let last = digits(last)?;
    // first > last is an invalid range-spec: the header is ignored (§14.1.1).
    (first <= last).then_some(Spec::From {
        first,
        last: Some(last),
    })
}

/// Resolves `requested` against a representation of `len` bytes (§14.1.2).
#[must_use]
pub fn resolve(requested: &Requested, len: u64) -> Part {
    let Requested::One(spec) = requested else {
        return Part::Whole;
    };
    match *spec {
        Spec::From { first, last } => {
            if first >= len {
                return Part::Unsatisfiable { len };
            }
            let last = last.map_or(len - 1, |l| l.min(len - 1));
            Part::Bytes { first, last, len }
        }
        // A suffix of zero bytes is unsatisfiable; of an empty representation too.
        Spec::Suffix(0) => Part::Unsatisfiable { len },
        Spec::Suffix(_) if len == 0 => Part::Unsatisfiable { len },
        Spec::Suffix(n) => Part::Bytes {
            first: len.saturating_sub(n),
            last: len - 1,
            len,
        },
    }
}

/// The stored response's validators, for `If-Range`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Validators<'a> {
    /// `ETag`.
    pub etag: Option<&'a str>,
    /// `Last-Modified`.
    pub last_modified: Option<&'a str>,
    /// `Date`.
    pub date: Option<&'a str>,
    /// When the entry was received, unix seconds: the two-digit years of RFC 850 dates
    /// are read relative to it (RFC 9110 §5.6.7).
    pub received_s: u64,
}

/// Whether `If-Range` (if any) lets the range apply to an entry with `validators`
/// (RFC 9110 §13.1.5): absent, a strong `ETag` equal to the entry's strong `ETag`, or an
/// HTTP-date equal to the entry's strong `Last-Modified`.
#[must_use]
pub fn if_range_holds(if_range: Option<&str>, validators: Validators<'_>) -> bool {
    let Some(condition) = if_range.map(str::trim) else {
        return true;
    };
    if condition.starts_with('"') {
        return validators
            .etag
            .map(str::trim)
            .is_some_and(|tag| tag.starts_with('"') && tag == condition);
    }
    if condition.starts_with("W/") {
        return false;
    }
    let (Some(asked), Some(modified)) = (
        date::parse(condition, validators.received_s),
        validators
            .last_modified
            .and_then(|d| date::parse(d, validators.received_s)),
    ) else {
        return false;
    };
    // Last-Modified is strong only when it is at least a second older than Date.
    let strong = validators
        .date
        .and_then(|d| date::parse(d, validators.received_s))
        .is_some_and(|date| modified < date);
    strong && asked == modified
}

/// Everything at once: what to send for a `GET` with these `Range` / `If-Range` headers
/// of a stored `status` response of `len` bytes. Not a complete `200`: the whole.
#[must_use]
pub fn select(
    range: Option<&str>,
    if_range: Option<&str>,
    status: u16,
    validators: Validators<'_>,
    len: u64,
) -> Part {
    let Some(range) = range else {
        return Part::Whole;
    };
    if status != 200 || !if_range_holds(if_range, validators) {
        return Part::Whole;
    }
    resolve(&parse(range), len)
}

/// The headers of a `206` for `first..=last` of `len` bytes: the whole response's
/// headers (`served`) with `Content-Range` and `Content-Length` set.
#[must_use]
pub fn partial_headers(
    served: &[(String, String)],
    first: u64,
    last: u64,
    len: u64,
) -> Vec<(String, String)> {
    let mut headers = without_length(served);
    headers.push((
        "content-range".to_owned(),
        format!("bytes {first}-{last}/{len}"),
    ));
    headers.push(("content-length".to_owned(), (last - first + 1).to_string()));
    headers
}

/// The headers of a `416` for a representation of `len` bytes: `served` without its
/// body's `Content-Type`/`Content-Length`, with `Content-Range: bytes */len`.
#[must_use]
pub fn unsatisfiable_headers(served: &[(String, String)], len: u64) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = without_length(served)
        .into_iter()
        .filter(|(n, _)| n != "content-type" && n != "content-encoding")
        .collect();
    headers.push(("content-range".to_owned(), format!("bytes */{len}")));
    headers
}

fn without_length(served: &[(String, String)]) -> Vec<(String, String)> {
    served
        .iter()
        .filter(|(n, _)| n != "content-length" && n != "content-range")
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LM: &str = "Tue, 01 Dec 2026 08:00:00 GMT";
    const DATE: &str = "Tue, 01 Dec 2026 09:00:00 GMT";
    /// 2026-12-01T09:00:00Z, when the entry was received.
    const RECEIVED_S: u64 = 1_796_115_600;

    fn validators() -> Validators<'static> {
        Validators {
            etag: Some("\"v1\""),
            last_modified: Some(LM),
            date: Some(DATE),
            received_s: RECEIVED_S,
        }
    }

    #[test]
    fn single_ranges_resolve_like_rfc_9110_examples() {
        let part = |h: &str| resolve(&parse(h), 10_000);
        let bytes = |first, last| Part::Bytes {
            first,
            last,
            len: 10_000,
        };
        assert_eq!(part("bytes=0-499"), bytes(0, 499));
        assert_eq!(part("bytes=500-999"), bytes(500, 999));
        assert_eq!(part("bytes=-500"), bytes(9_500, 9_999));
        assert_eq!(part("bytes=9500-"), bytes(9_500, 9_999));
        assert_eq!(part("bytes=0-0"), bytes(0, 0));
        assert_eq!(part("bytes=9999-20000"), bytes(9_999, 9_999));
        assert_eq!(part("bytes=-20000"), bytes(0, 9_999));
        assert_eq!(part("BYTES = 1-2 "), bytes(1, 2));
        assert_eq!(part("bytes=10000-"), Part::Unsatisfiable { len: 10_000 });
        assert_eq!(part("bytes=-0"), Part::Unsatisfiable { len: 10_000 });
        assert_eq!(
            resolve(&parse("bytes=-1"), 0),
            Part::Unsatisfiable { len: 0 }
        );
        assert_eq!(
            resolve(&parse("bytes=0-"), 0),
            Part::Unsatisfiable { len: 0 }
        );
    }

    #[test]
    fn everything_else_is_the_whole_response() {
        for h in [
            "",
            "bytes",
            "bytes=",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=1-2-3",
            "bytes=+1-2",
            "items=0-1",
            "bytes=0-1,2-3",
            "bytes=0-1, -5",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(parse(h), Requested::Ignore, "{h:?}");
            assert_eq!(resolve(&parse(h), 100), Part::Whole, "{h:?}");
        }
        let many = format!("bytes={}", vec!["0-0"; 1000].join(","));
        assert_eq!(parse(&many), Requested::Ignore);
        let long = format!("bytes=0-{}", "0".repeat(MAX_RANGE_HEADER));
        assert_eq!(parse(&long), Requested::Ignore);
    }

    #[test]
    fn if_range_needs_a_strong_match() {
        let v = validators();
        assert!(if_range_holds(None, v));
        assert!(if_range_holds(Some("\"v1\""), v));
        assert!(!if_range_holds(Some("\"v2\""), v));
        assert!(!if_range_holds(Some("W/\"v1\""), v));
        let weak = Validators {
            etag: Some("W/\"v1\""),
            ..v
        };
        assert!(!if_range_holds(Some("W/\"v1\""), weak));
        assert!(!if_range_holds(Some("\"v1\""), weak));
        assert!(if_range_holds(Some(LM), v));
        assert!(!if_range_holds(Some(DATE), v), "another date");
        assert!(!if_range_holds(Some("yesterday"), v));
        // The same instant in RFC 850's two-digit year: 26 is 2026 for an entry received
        // in 2026 (read as 1926, it matched nothing).
        assert!(if_range_holds(Some("Tuesday, 01-Dec-26 08:00:00 GMT"), v));
        let rfc850_entry = Validators {
            last_modified: Some("Tuesday, 01-Dec-26 08:00:00 GMT"),
            ..v
        };
        assert!(if_range_holds(Some(LM), rfc850_entry));
        let weak_date = Validators {
            date: Some(LM),
            ..v
        };
        assert!(
            !if_range_holds(Some(LM), weak_date),
            "Last-Modified == Date is weak"
        );
        assert!(!if_range_holds(Some(LM), Validators::default()));
    }

    #[test]
    fn select_applies_only_to_a_complete_200() {
        let v = validators();
        let some = Some("bytes=0-1");
        assert_eq!(select(None, None, 200, v, 10), Part::Whole);
        assert_eq!(
            select(some, None, 200, v, 10),
            Part::Bytes {
                first: 0,
                last: 1,
                len: 10
            }
        );
        assert_eq!(select(some, None, 404, v, 10), Part::Whole);
        assert_eq!(select(some, Some("\"old\""), 200, v, 10), Part::Whole);
        assert_eq!(
            select(Some("bytes=10-"), None, 200, v, 10),
            Part::Unsatisfiable { len: 10 }
        );
    }

    #[test]
    fn headers_of_206_and_416() {
        let served = vec![
            ("content-type".to_owned(), "text/plain".to_owned()),
            ("content-length".to_owned(), "10".to_owned()),
            ("etag".to_owned(), "\"v1\"".to_owned()),
        ];
        let h = partial_headers(&served, 2, 5, 10);
        let get = |h: &[(String, String)], n: &str| {
            h.iter()
                .filter(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(get(&h, "content-range"), ["bytes 2-5/10"]);
        assert_eq!(get(&h, "content-length"), ["4"]);
        assert_eq!(get(&h, "etag"), ["\"v1\""]);
        let h = unsatisfiable_headers(&served, 10);
        assert_eq!(get(&h, "content-range"), ["bytes */10"]);
        assert!(get(&h, "content-length").is_empty() && get(&h, "content-type").is_empty());
    }

    proptest! {
        #[test]
        fn a_part_is_always_inside_the_representation(
            first in 0u64..2_000, last in 0u64..2_000, suffix in 0u64..2_000,
            len in 0u64..1_500, form in 0u8..3,
        ) {
            let header = match form {
                0 => format!("bytes={first}-{last}"),
                1 => format!("bytes={first}-"),
                _ => format!("bytes=-{suffix}"),
            };
            match resolve(&parse(&header), len) {
                Part::Bytes { first: f, last: l, len: n } => {
                    prop_assert_eq!(n, len);
                    prop_assert!(f <= l && l < len);
                    if form == 2 {
                        prop_assert_eq!(l - f + 1, suffix.min(len));
                    } else {
                        prop_assert_eq!(f, first);
                    }
                }
                Part::Unsatisfiable { len: n } => {
                    prop_assert_eq!(n, len);
                    prop_assert!(len == 0 || (form != 2 && first >= len) || (form == 2 && suffix == 0));
                }
                Part::Whole => prop_assert!(form == 0 && first > last),
            }
        }

        #[test]
        fn any_header_parses_without_panicking(h in ".{0,300}", len in 0u64..100) {
            let _ = resolve(&parse(&h), len);
            let _ = if_range_holds(Some(&h), validators());
        }
    }
}
