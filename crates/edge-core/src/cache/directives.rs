//! `Cache-Control` (RFC 9111 §5.2, RFC 5861), parsed for a shared cache.
//!
//! Parsing is tolerant as the RFC asks (unknown directives are ignored) but errs towards
//! not serving stale or private data: a malformed `max-age` or `s-maxage` value counts as
//! 0 (stale, §4.2.1), a qualified `no-cache="…"` is treated as its unqualified form (the
//! RFC allows either: the response is always revalidated), a qualified `private="…"` lets a
//! shared cache store the response minus the named fields (§5.2.2.7, see
//! [`qualified_fields`]), and for a repeated directive the first occurrence wins.
//!
//! The directives this cache obeys come from the first valid of `Cloudflare-CDN-Cache-Control`,
//! `CDN-Cache-Control` (RFC 9213: Structured Field dictionaries, targeted at CDNs) and
//! `Cache-Control` ([`for_this_cache`]). A targeted field replaces `Cache-Control` whole for
//! this cache; one that is not a valid dictionary is ignored (RFC 9213 §2.1).

/// Largest delta-seconds value kept (RFC 9111 §1.2.2: 2^31).
pub const MAX_DELTA: u64 = 1 << 31;

/// The directives a shared cache acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `max-age=N`.
    pub max_age: Option<u64>,
    /// `s-maxage=N` (shared caches only; implies proxy-revalidate).
    pub s_maxage: Option<u64>,
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache` (response: always revalidate; request: do not serve without revalidating).
    pub no_cache: bool,
    /// Unqualified `private` (a shared cache must not store it).
    pub private: bool,
    /// `private="…"`: stored minus the named fields (see [`qualified_fields`]).
    pub private_fields: bool,
    /// `must-understand` (§5.2.2.3): stored only if the status is understood, and then
    /// `no-store` is ignored.
    pub must_understand: bool,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate`.
    pub proxy_revalidate: bool,
    /// `stale-while-revalidate=N` (RFC 5861).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error=N` (RFC 5861).
    pub stale_if_error: Option<u64>,
    /// Request `only-if-cached`.
    pub only_if_cached: bool,
    /// Request `min-fresh=N`.
    pub min_fresh: Option<u64>,
}

impl CacheControl {
    /// Parses every `Cache-Control` value of a message, joined with commas.
    #[must_use]
    pub fn parse(value: &str) -> Self {
        let mut cc = Self::default();
        for item in split_outside_quotes(value) {
            let (name, arg) = match item.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (item.trim(), None),
            };
            let name = name.to_ascii_lowercase();
            let delta = || Some(arg.map_or(0, parse_delta));
            match name.as_str() {
                "max-age" if cc.max_age.is_none() => cc.max_age = delta(),
                "s-maxage" if cc.s_maxage.is_none() => cc.s_maxage = delta(),
                "stale-while-revalidate" if cc.stale_while_revalidate.is_none() => {
                    cc.stale_while_revalidate = arg.map(parse_delta);
                }
                "stale-if-error" if cc.stale_if_error.is_none() => {
                    cc.stale_if_error = arg.map(parse_delta);
                }
                "min-fresh" if cc.min_fresh.is_none() => cc.min_fresh = arg.map(parse_delta),
                "no-store" => cc.no_store = true,
                "no-cache" => cc.no_cache = true,
                "private" if arg.is_some_and(|a| !a.trim().is_empty()) => {
                    cc.private_fields = true;
                }
                "private" => cc.private = true,
                "must-understand" => cc.must_understand = true,
                "public" => cc.public = true,
                "must-revalidate" => cc.must_revalidate = true,
                "proxy-revalidate" => cc.proxy_revalidate = true,
                "only-if-cached" => cc.only_if_cached = true,
                _ => {}
            }
        }
        cc
    }

    /// Whether this response may be served stale at all (RFC 9111 §4.2.4): not when
    /// `no-cache`, `must-revalidate`, `proxy-revalidate` or `s-maxage` forbid it.
    #[must_use]
    pub fn allows_stale(&self) -> bool {
        !(self.no_cache || self.must_revalidate || self.proxy_revalidate || self.s_maxage.is_some())
    }
}

/// The lowercase field names a qualified `directive="a, b"` lists in `value` (all its
/// occurrences): `private="set-cookie"` names the fields a shared cache must not store.
#[must_use]
pub fn qualified_fields(value: &str, directive: &str) -> Vec<String> {
    let mut out = Vec::new();
    for item in split_outside_quotes(value) {
        if let Some((name, arg)) = item.split_once('=')
            && name.trim().eq_ignore_ascii_case(directive)
        {
            out.extend(
                arg.trim()
                    .trim_matches('"')
                    .split(',')
                    .map(|f| f.trim().to_ascii_lowercase())
                    .filter(|f| !f.is_empty()),
            );
        }
    }
    out
}

/// The response fields with cache directives, in precedence order for this cache: Cloudflare's
/// own targeted field, the CDN one (RFC 9213), then `Cache-Control`.
pub const DIRECTIVE_FIELDS: [&str; 3] = [
    "cloudflare-cdn-cache-control",
    "cdn-cache-control",
    "cache-control",
];

/// Targeted fields this cache consumes and does not pass on (Cloudflare's behaviour:
/// `Cloudflare-CDN-Cache-Control` is for Cloudflare only; `CDN-Cache-Control` is passed on
/// for CDNs further downstream, as RFC 9213 §2.1 allows).
pub const NOT_FORWARDED: [&str; 1] = ["cloudflare-cdn-cache-control"];

/// The directives this cache obeys, from `field(name)` (every value of that field joined
/// with `, `, `None` when absent): the first of [`DIRECTIVE_FIELDS`] that is present and
/// valid (a targeted field must be a Structured Field dictionary, RFC 8941 §3.2), its
/// name, and the text of its directives in `Cache-Control` form.
#[must_use]
pub fn for_this_cache(field: impl Fn(&str) -> Option<String>) -> (CacheControl, String) {
    for name in &DIRECTIVE_FIELDS[..2] {
        if let Some(value) = field(name)
            && let Some(text) = sf_dictionary_as_directives(&value)
        {
            return (CacheControl::parse(&text), text);
        }
    }
    let text = field("cache-control").unwrap_or_default();
    (CacheControl::parse(&text), text)
}

/// A Structured Field dictionary (RFC 8941 §4.2.2) rewritten as `Cache-Control` text:
/// parameters dropped, `name=?0` (false) dropped, `name=?1` as the bare name. `None` when
/// it is not a valid dictionary.
fn sf_dictionary_as_directives(value: &str) -> Option<String> {
    let mut out = Vec::new();
    let v = value.trim_matches(|c| c == ' ' || c == '\t');
    if v.is_empty() {
        return None;
    }
    let mut rest = v;
    loop {
        let (key, after) = sf_key(rest)?;
        let (item, after) = match after.strip_prefix('=') {
            Some(a) => {
                let (item, a) = sf_bare_item(a)?;
                (Some(item), a)
            }
            None => (None, after),
        };
        let after = sf_params(after)?;
        match item {
            Some("?0") => {}
            None | Some("?1") => out.push(key.to_owned()),
            Some(item) => out.push(format!("{key}={item}")),
        }
        let after = after.trim_start_matches([' ', '\t']);
        if after.is_empty() {
            break;
        }
        rest = after.strip_prefix(',')?.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            return None; // a trailing comma
        }
    }
    Some(out.join(", "))
}

/// `key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`
fn sf_key(s: &str) -> Option<(&str, &str)> {
    let first = s.bytes().next()?;
    if !(first.is_ascii_lowercase() || first == b'*') {
        return None;
    }
    let end = s
        .bytes()
        .position(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b)))
        .unwrap_or(s.len());
    Some(s.split_at(end))
}

/// An integer, decimal, string, token, byte sequence or boolean; returned as written.
fn sf_bare_item(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let end = match *b.first()? {
        b'"' => {
            let mut i = 1;
            loop {
                match *b.get(i)? {
                    b'\\' if matches!(b.get(i + 1), Some(b'"' | b'\\')) => i += 2,
                    b'"' => break i + 1,
                    c if (0x20..0x7f).contains(&c) && c != b'\\' => i += 1,
                    _ => return None,
                }
            }
        }
        b'?' => match b.get(1) {
            Some(b'0' | b'1') => 2,
            _ => return None,
        },
        b':' => {
            let close = s[1..].find(':')? + 1;
            let ok = s[1..close]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c));
            if !ok {
                return None;
            }
            close + 1
        }
        b'-' | b'0'..=b'9' => {
            let digits = s[1..]
                .bytes()
                .position(|c| !(c.is_ascii_digit() || c == b'.'))
                .map_or(s.len(), |p| p + 1);
            let num = &s[..digits];
            let unsigned = num.strip_prefix('-').unwrap_or(num);
            let valid = match unsigned.split_once('.') {
                None => (1..=15).contains(&unsigned.len()),
                Some((i, f)) => (1..=12).contains(&i.len()) && (1..=3).contains(&f.len()),
            };
            if !valid || !unsigned.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
                return None;
            }
            digits
        }
        c if c.is_ascii_alphabetic() || c == b'*' => s
            .bytes()
            .position(|c| !(c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c)))
            .unwrap_or(s.len()),
        _ => return None,
    };
    Some(s.split_at(end))
}

/// `*( ";" *SP key [ "=" bare-item ] )`
fn sf_params(mut s: &str) -> Option<&str> {
    while let Some(after) = s.strip_prefix(';') {
        let (_, after) = sf_key(after.trim_start_matches(' '))?;
        s = match after.strip_prefix('=') {
            Some(a) => sf_bare_item(a)?.1,
            None => after,
        };
    }
    Some(s)
}

/// delta-seconds: digits only; too large clamps to [`MAX_DELTA`]; malformed is 0.
fn parse_delta(arg: &str) -> u64 {
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    arg.parse::<u64>().map_or(MAX_DELTA, |n| n.min(MAX_DELTA))
}

fn split_outside_quotes(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_directives() {
        let cc = CacheControl::parse(
            "public, max-age=60, S-MaxAge=\"120\", stale-while-revalidate=30, stale-if-error=600",
        );
        assert!(cc.public);
        assert_eq!(cc.max_age, Some(60));
        assert_eq!(cc.s_maxage, Some(120));
        assert_eq!(cc.stale_while_revalidate, Some(30));
        assert_eq!(cc.stale_if_error, Some(600));
        assert!(!cc.allows_stale(), "s-maxage implies proxy-revalidate");
        assert!(CacheControl::parse("max-age=5, stale-while-revalidate=5").allows_stale());
    }

    #[test]
    fn conservative_on_odd_input() {
        assert_eq!(CacheControl::parse("max-age=abc").max_age, Some(0));
        assert_eq!(CacheControl::parse("max-age").max_age, Some(0));
        assert_eq!(
            CacheControl::parse("max-age=10, max-age=99").max_age,
            Some(10)
        );
        assert_eq!(
            CacheControl::parse("max-age=99999999999999999999").max_age,
            Some(MAX_DELTA)
        );
        let q = CacheControl::parse("private=\"set-cookie, x\", no-cache=\"a,b\"");
        assert!(q.private_fields && !q.private && q.no_cache);
        assert_eq!(
            qualified_fields("private=\"Set-Cookie, X\", no-cache=\"a\"", "private"),
            ["set-cookie", "x"]
        );
        assert!(
            CacheControl::parse("private=\"\"").private,
            "no names: unqualified"
        );
        assert!(CacheControl::parse("max-age=5, must-understand").must_understand);
        assert!(!q.public, "a quoted comma does not split directives");
        assert_eq!(CacheControl::parse(""), CacheControl::default());
        assert_eq!(CacheControl::parse(" , ,foo=bar"), CacheControl::default());
    }

    fn fields(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let pairs = pairs.to_vec();
        move |name: &str| {
            let all: Vec<&str> = pairs
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .collect();
            (!all.is_empty()).then(|| all.join(", "))
        }
    }

    #[test]
    fn targeted_fields_take_precedence_in_rfc_9213_order() {
        let cc = ("cache-control", "private, max-age=5");
        let cdn = ("cdn-cache-control", "max-age=60");
        let cf = (
            "cloudflare-cdn-cache-control",
            "max-age=600, stale-if-error=30",
        );
        assert_eq!(for_this_cache(fields(&[cc])).0.max_age, Some(5));
        let (d, _) = for_this_cache(fields(&[cc, cdn]));
        assert_eq!(d.max_age, Some(60));
        assert!(
            !d.private,
            "Cache-Control is ignored whole when a targeted field is used"
        );
        let (d, text) = for_this_cache(fields(&[cc, cdn, cf]));
        assert_eq!((d.max_age, d.stale_if_error), (Some(600), Some(30)));
        assert_eq!(text, "max-age=600, stale-if-error=30");
        assert_eq!(for_this_cache(fields(&[])).0, CacheControl::default());
    }

    #[test]
    fn an_invalid_targeted_field_is_ignored() {
        let cc = ("cache-control", "max-age=5");
        for bad in [
            "Max-Age=60",
            "max-age=60,",
            "max-age=",
            "max-age=60 60",
            "max-age=\"6",
            ",max-age=60",
            "max-age=1234567890123456",
            "",
        ] {
            let (d, _) = for_this_cache(fields(&[cc, ("cdn-cache-control", bad)]));
            assert_eq!(d.max_age, Some(5), "{bad:?}");
        }
    }

    #[test]
    fn structured_values_map_to_directives() {
        let t = |v| sf_dictionary_as_directives(v);
        assert_eq!(
            t("max-age=60;x=1, no-store=?0, must-revalidate=?1, public").as_deref(),
            Some("max-age=60, must-revalidate, public")
        );
        assert_eq!(
            t("private=\"set-cookie\", x=:aGk=:, y=1.5, z=tok/en").as_deref(),
            Some("private=\"set-cookie\", x=:aGk=:, y=1.5, z=tok/en")
        );
        let d = CacheControl::parse(&t("no-store=?0, max-age=9").unwrap_or_default());
        assert!(!d.no_store && d.max_age == Some(9));
    }
}
