//! The HTTP `Accept` header (RFC 9110 §12.5.1), parsed strictly: media ranges with their
//! parameters and q-values, and the choice among a server's offers.
//!
//! Grammar: `#( media-range [ weight ] )`, where `media-range = ( "*/*" / type "/*" /
//! type "/" subtype ) *( OWS ";" OWS parameter )`, a parameter is `token "=" ( token /
//! quoted-string )`, and `weight` is the parameter `q` with a qvalue: `0`, `0.` and up to
//! three digits, `1`, or `1.` and up to three zeros. Types, subtypes and parameter names are
//! case-insensitive; parameter values are compared as sent (quoted strings unquoted).

use crate::error::HttpError;

/// Longest `Accept` header parsed, bytes (a real one is a few hundred).
pub const MAX_ACCEPT_BYTES: usize = 4096;
/// Most media ranges in one header.
pub const MAX_RANGES: usize = 64;

/// Why an `Accept` header does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcceptError {
    /// Longer than [`MAX_ACCEPT_BYTES`] or more than [`MAX_RANGES`] ranges.
    #[error("accept header is too long")]
    TooLong,
    /// A media range is not `type/subtype`, `type/*` or `*/*` made of tokens.
    #[error("accept header has a malformed media range")]
    MediaRange,
    /// A parameter is not `token=token` or `token="quoted string"`.
    #[error("accept header has a malformed parameter")]
    Parameter,
    /// A `q` is not a qvalue (0 to 1, at most three decimals), or is given twice.
    #[error("accept header has a malformed q-value")]
    QValue,
}

impl HttpError for AcceptError {
    fn status(&self) -> u16 {
        400
    }

    fn code(&self) -> &'static str {
        "invalid_accept"
    }

    fn field(&self) -> Option<&str> {
        Some("accept")
    }
}

/// One media range of an `Accept` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRange {
    /// The type, lowercase (`*` for any).
    pub kind: String,
    /// The subtype, lowercase (`*` for any).
    pub subtype: String,
    /// Parameters other than `q`: lowercase name, value as sent (unquoted).
    pub params: Vec<(String, String)>,
    /// The weight in thousandths, 0..=1000 (1000 when no `q` is given).
    pub q: u16,
}

/// What a server can answer with: a media type and the parameter values it satisfies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer<'a> {
    /// The type, lowercase.
    pub kind: &'a str,
    /// The subtype, lowercase.
    pub subtype: &'a str,
    /// For each parameter name (lowercase) the offer honours, the values it accepts
    /// (compared ASCII case-insensitively). A range naming any other parameter, or another
    /// value, does not match the offer.
    pub params: &'a [(&'a str, &'a [&'a str])],
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn token(s: &str) -> Option<&str> {
    (!s.is_empty() && s.bytes().all(is_tchar)).then_some(s)
}

/// A qvalue in thousandths.
fn qvalue(s: &str) -> Option<u16> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for (i, b) in frac.bytes().enumerate() {
        let digit = u16::from(b - b'0');
        thousandths += digit * [100, 10, 1].get(i).copied().unwrap_or(0);
    }
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Splits `s` at `sep` outside quoted strings; `None` when a quote is left open.
fn split_unquoted(s: &str, sep: u8) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in s.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if b == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    if quoted || escaped {
        return None;
    }
    parts.push(&s[start..]);
    Some(parts)
}

/// A parameter value: a token, or a quoted string (unescaped).
fn param_value(v: &str) -> Option<String> {
    if let Some(inner) = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => return None,
                c if c == '\t' || (' '..='~').contains(&c) => out.push(c),
                _ => return None,
            }
        }
        return Some(out);
    }
    token(v).map(str::to_owned)
}

fn media_range(element: &str) -> Result<MediaRange, AcceptError> {
    let parts = split_unquoted(element, b';').ok_or(AcceptError::Parameter)?;
    let mut parts = parts.into_iter();
    let range = parts.next().unwrap_or("").trim_matches([' ', '\t']);
    let (kind, subtype) = range.split_once('/').ok_or(AcceptError::MediaRange)?;
    let (kind, subtype) = (
        token(kind).ok_or(AcceptError::MediaRange)?,
        token(subtype).ok_or(AcceptError::MediaRange)?,
    );
    if kind == "*" && subtype != "*" {
        return Err(AcceptError::MediaRange);
    }
    let mut out = MediaRange {
        kind: kind.to_ascii_lowercase(),
        subtype: subtype.to_ascii_lowercase(),
        params: Vec::new(),
        q: 1000,
    };
    let mut seen_q = false;
    for p in parts {
        let p = p.trim_matches([' ', '\t']);
        if p.is_empty() {
            continue;
        }
        let (name, value) = p.split_once('=').ok_or(AcceptError::Parameter)?;
        let name = token(name)
            .ok_or(AcceptError::Parameter)?
            .to_ascii_lowercase();
        if name == "q" {
            if seen_q {
                return Err(AcceptError::QValue);
            }
            seen_q = true;
            out.q = qvalue(value).ok_or(AcceptError::QValue)?;
        } else {
            out.params
                .push((name, param_value(value).ok_or(AcceptError::Parameter)?));
        }
    }
    Ok(out)
}

/// A parsed `Accept` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accept {
    /// The media ranges, in the order sent.
    pub ranges: Vec<MediaRange>,
}

impl Accept {
    /// Parses a header value (empty list elements are allowed, as the grammar's `#` rule
    /// says).
    ///
    /// # Errors
    /// [`AcceptError`] naming the first part that does not follow the grammar.
    pub fn parse(header: &str) -> Result<Self, AcceptError> {
        if header.len() > MAX_ACCEPT_BYTES {
            return Err(AcceptError::TooLong);
        }
        let mut ranges = Vec::new();
        for element in split_unquoted(header, b',').ok_or(AcceptError::Parameter)? {
            if element.trim_matches([' ', '\t']).is_empty() {
                continue;
            }
            if ranges.len() == MAX_RANGES {
                return Err(AcceptError::TooLong);
            }
            ranges.push(media_range(element)?);
        }
        Ok(Self { ranges })
    }

    /// The weight (thousandths) the client gives `offer`: that of the most specific range
    /// matching it (type and subtype with parameters, then without, then `type/*`, then
    /// `*/*`), 0 when none does.
    #[must_use]
    pub fn weight(&self, offer: &Offer<'_>) -> u16 {
        self.ranges
            .iter()
            .filter_map(|r| specificity(r, offer).map(|s| (s, r.q)))
            // Most specific first; among equally specific ranges, the first sent.
            .fold(None::<(u8, u16)>, |best, (s, q)| match best {
                Some((bs, _)) if bs >= s => best,
                _ => Some((s, q)),
            })
            .map_or(0, |(_, q)| q)
    }

    /// The index in `offers` of the offer the client weighs highest (above 0); a tie goes
    /// to the earlier offer. `None` when the client accepts none of them.
    #[must_use]
    pub fn choose(&self, offers: &[Offer<'_>]) -> Option<usize> {
        offers
            .iter()
            .enumerate()
            .map(|(i, o)| (i, self.weight(o)))
            .filter(|&(_, w)| w > 0)
            .fold(None::<(usize, u16)>, |best, (i, w)| match best {
                Some((_, bw)) if bw >= w => best,
                _ => Some((i, w)),
            })
            .map(|(i, _)| i)
    }
}

/// How specifically `r` matches `offer`: 3 type/subtype with parameters, 2 type/subtype,
/// 1 `type/*`, 0 `*/*`; `None` when it does not match.
fn specificity(r: &MediaRange, offer: &Offer<'_>) -> Option<u8> {
    if r.kind == "*" {
        return Some(0);
    }
    if r.kind != offer.kind {
        return None;
    }
    if r.subtype == "*" {
        return Some(1);
    }
    if r.subtype != offer.subtype {
        return None;
    }
    let all_honoured = r.params.iter().all(|(name, value)| {
        offer
            .params
            .iter()
            .find(|(n, _)| n == name)
            .is_some_and(|(_, values)| values.iter().any(|v| v.eq_ignore_ascii_case(value)))
    });
    match (all_honoured, r.params.is_empty()) {
        (false, _) => None,
        (true, true) => Some(2),
        (true, false) => Some(3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: Offer<'static> = Offer {
        kind: "text",
        subtype: "plain",
        params: &[("version", &["0.0.4"]), ("charset", &["utf-8"])],
    };
    const OM: Offer<'static> = Offer {
        kind: "application",
        subtype: "openmetrics-text",
        params: &[("version", &["1.0.0"]), ("charset", &["utf-8"])],
    };

    fn choose(h: &str) -> Option<usize> {
        Accept::parse(h).expect("valid").choose(&[TEXT, OM])
    }

    #[test]
    fn q_values_and_specificity_decide() {
        // Prometheus 2.x's scrape header.
        assert_eq!(
            choose(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            ),
            Some(1)
        );
        assert_eq!(choose("application/openmetrics-text"), Some(1));
        assert_eq!(choose("text/plain"), Some(0));
        assert_eq!(choose("*/*"), Some(0), "a tie goes to the first offer");
        assert_eq!(choose("application/*;q=0.5, text/*;q=0.4"), Some(1));
        assert_eq!(choose("application/openmetrics-text; q=0, */*"), Some(0));
        assert_eq!(
            choose("*/*;q=0.9, application/openmetrics-text;q=0"),
            Some(0),
            "the specific range's q=0 beats the wildcard"
        );
        assert_eq!(choose("application/openmetrics-text;version=0.0.1"), None);
        assert_eq!(choose("application/json"), None);
        assert_eq!(choose(""), None);
        assert_eq!(
            choose(
                "APPLICATION/OpenMetrics-Text;Version=\"1.0.0\";charset=UTF-8;q=0.5,text/plain;q=0.499"
            ),
            Some(1)
        );
    }

    #[test]
    fn q_values_parse_exactly() {
        for (q, w) in [
            ("0", 0),
            ("0.", 0),
            ("0.5", 500),
            ("0.125", 125),
            ("1", 1000),
            ("1.000", 1000),
        ] {
            let a = Accept::parse(&format!("text/plain;q={q}")).expect("valid");
            assert_eq!(a.ranges[0].q, w, "{q}");
        }
        for bad in [
            "1.001", "2", "0.1234", "-0", ".5", "", "0,5x", "1e0", " 0.5",
        ] {
            assert!(
                Accept::parse(&format!("text/plain;q={bad}")).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            Accept::parse("text/plain;q=0.5;q=0.5"),
            Err(AcceptError::QValue)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for (h, e) in [
            ("text", AcceptError::MediaRange),
            ("*/plain", AcceptError::MediaRange),
            ("text/pla in", AcceptError::MediaRange),
            ("text/plain;version", AcceptError::Parameter),
            ("text/plain;version=\"1.0", AcceptError::Parameter),
            ("text/plain;=1", AcceptError::Parameter),
        ] {
            assert_eq!(Accept::parse(h), Err(e), "{h}");
        }
        assert_eq!(
            Accept::parse(&"a/b,".repeat(MAX_RANGES + 1)),
            Err(AcceptError::TooLong)
        );
        assert_eq!(
            Accept::parse(&"x".repeat(MAX_ACCEPT_BYTES + 1)),
            Err(AcceptError::TooLong)
        );
        assert!(Accept::parse(" , text/plain ,, ").is_ok());
        assert_eq!(
            Accept::parse("text/plain;a=\"x,y\\\"z\"").map(|a| a.ranges[0].params.clone()),
            Ok(vec![("a".to_owned(), "x,y\"z".to_owned())])
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            if let Ok(a) = Accept::parse(&s) {
                let _ = a.choose(&[TEXT, OM]);
            }
        }
    }
}
