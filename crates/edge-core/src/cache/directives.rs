//! `Cache-Control` (RFC 9111 §5.2, RFC 5861), parsed for a shared cache.
//!
//! Parsing is tolerant as the RFC asks (unknown directives are ignored) but errs towards
//! not serving stale or private data: a malformed `max-age` or `s-maxage` value counts as
//! 0 (stale, §4.2.1), a qualified `no-cache="…"` or `private="…"` is treated as its
//! unqualified form, and for a repeated directive the first occurrence wins.

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
    /// `private` (a shared cache must not store it).
    pub private: bool,
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
                "private" => cc.private = true,
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
        assert!(q.private && q.no_cache);
        assert!(!q.public, "a quoted comma does not split directives");
        assert_eq!(CacheControl::parse(""), CacheControl::default());
        assert_eq!(CacheControl::parse(" , ,foo=bar"), CacheControl::default());
    }
}
