//! A stored response: its metadata, its freshness and age (RFC 9111 §4.2), and its
//! byte encoding in the store.
//!
//! Encoding: `[u32 big-endian meta length][meta JSON][body]`, one value per entry, so a
//! read returns headers and body together and a torn write cannot pair one with another.
//! A resource that varies keeps `V` + the JSON list of its `Vary` names at its base key
//! instead (an entry's first byte is a length byte, never `V`: entries are far below
//! 1.4 GB).

use serde::{Deserialize, Serialize};

use crate::cache::date;
use crate::cache::directives::{self, CacheControl, MAX_DELTA};
use crate::cache::policy::PathPolicy;

/// Header fields never stored (hop-by-hop, or set per response by this cache), besides
/// those the response's `Connection` lists (RFC 9111 §3.1). `Age` is stored as received,
/// for the age calculation, and replaced when served.
const NOT_STORED: [&str; 11] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "x-cache",
    "x-request-id",
];
/// Statuses cacheable by default (RFC 9110 §15.1), so heuristic freshness may apply.
/// 206 is on that list but is not stored here: ranges are served from complete responses.
pub const HEURISTIC_STATUSES: [u16; 11] = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];
/// Heuristic lifetime from `Last-Modified`: this fraction of its age (RFC 9111 §4.2.2) …
const HEURISTIC_FRACTION: u64 = 10;
/// … capped at one day.
const HEURISTIC_CAP_S: u64 = 86_400;

/// What is stored besides the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryMeta {
    /// Response status.
    pub status: u16,
    /// Response headers, lowercase names, in order, minus those never stored.
    pub headers: Vec<(String, String)>,
    /// When the request that fetched it was sent, unix seconds.
    pub request_time_s: u64,
    /// When its response arrived, unix seconds.
    pub response_time_s: u64,
    /// The request header values (lowercase names) its `Vary` names, as sent.
    pub vary: Vec<(String, String)>,
}

impl EntryMeta {
    /// Builds the metadata of a response received at `response_time_s` for a request sent
    /// at `request_time_s`, keeping the request values its `Vary` names.
    #[must_use]
    pub fn from_response(
        status: u16,
        headers: &[(String, String)],
        request_headers: &[(String, String)],
        request_time_s: u64,
        response_time_s: u64,
    ) -> Self {
        let mut meta = Self {
            status,
            headers: Vec::new(),
            request_time_s,
            response_time_s,
            vary: Vec::new(),
        };
        // Fields the response's Connection names are hop-by-hop too (they do reach this
        // worker in workerd: DESIGN.md, "The shared cache").
        let connection: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(','))
            .map(|f| f.trim().to_ascii_lowercase())
            .collect();
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            if !NOT_STORED.contains(&name.as_str()) && !connection.contains(&name) {
                meta.headers.push((name, value.clone()));
            }
        }
        meta.vary = meta
            .vary_names()
            .into_iter()
            .map(|n| {
                let v = header(request_headers, &n)
                    .map(normalize)
                    .unwrap_or_default();
                (n, v)
            })
            .collect();
        meta
    }

    /// The first value of `name` (lowercase).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Every value of `name` joined with `, `.
    #[must_use]
    pub fn joined(&self, name: &str) -> Option<String> {
        let all: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        (!all.is_empty()).then(|| all.join(", "))
    }

    /// The directives this cache obeys: `Cloudflare-CDN-Cache-Control`, else
    /// `CDN-Cache-Control`, else `Cache-Control` (see [`directives::for_this_cache`]).
    #[must_use]
    pub fn cache_control(&self) -> CacheControl {
        directives::for_this_cache(|n| self.joined(n)).0
    }

    /// The copy of this response a shared cache keeps and shares: without the fields a
    /// qualified `private="…"` names (RFC 9111 §5.2.2.7) and without `Set-Cookie` (a
    /// response with one is stored only when the operator allows it, and then without it).
    /// `None` when that is the response itself.
    #[must_use]
    pub fn shared_copy(&self) -> Option<Self> {
        let (cc, text) = directives::for_this_cache(|n| self.joined(n));
        let mut dropped = if cc.private_fields {
            directives::qualified_fields(&text, "private")
        } else {
            Vec::new()
        };
        dropped.push("set-cookie".to_owned());
        if !self.headers.iter().any(|(n, _)| dropped.contains(n)) {
            return None;
        }
        let mut copy = self.clone();
        copy.headers.retain(|(n, _)| !dropped.contains(n));
        Some(copy)
    }

    /// The lowercase header names `Vary` lists (`*` included as is).
    #[must_use]
    pub fn vary_names(&self) -> Vec<String> {
        self.joined("vary")
            .map(|v| {
                v.split(',')
                    .map(|n| n.trim().to_ascii_lowercase())
                    .filter(|n| !n.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether a request with `request_headers` matches the stored `Vary` values.
    #[must_use]
    pub fn vary_matches(&self, request_headers: &[(String, String)]) -> bool {
        self.vary.iter().all(|(name, stored)| {
            header(request_headers, name)
                .map(normalize)
                .unwrap_or_default()
                == *stored
        })
    }

    /// Whether it has a validator (`ETag` or `Last-Modified`) to revalidate with.
    #[must_use]
    pub fn has_validator(&self) -> bool {
        self.header("etag").is_some() || self.header("last-modified").is_some()
    }

    /// The freshness lifetime (RFC 9111 §4.2.1): `s-maxage`, else `max-age`, else
    /// `Expires` − `Date`, else a heuristic where §4.2.2 allows one — the path policy's
    /// default TTL, or 10% of the time since `Last-Modified` (at most a day).
    #[must_use]
    pub fn freshness_lifetime(&self, policy: PathPolicy) -> u64 {
        let cc = self.cache_control();
        if let Some(s) = cc.s_maxage {
            return s;
        }
        if let Some(m) = cc.max_age {
            return m;
        }
        if let Some(expires) = self.header("expires") {
            // An invalid Expires (e.g. "0") means already expired.
            let date = self.date_s().unwrap_or(self.response_time_s);
            return self
                .http_date(expires)
                .map_or(0, |e| e.saturating_sub(date));
        }
        if !(HEURISTIC_STATUSES.contains(&self.status) || cc.public) {
            return 0;
        }
        match policy {
            PathPolicy::DefaultTtl(ttl) => ttl,
            PathPolicy::Never => 0,
            PathPolicy::OriginOnly => {
                let date = self.date_s().unwrap_or(self.response_time_s);
                self.header("last-modified")
                    .and_then(|v| self.http_date(v))
                    .map_or(0, |lm| {
                        (date.saturating_sub(lm) / HEURISTIC_FRACTION).min(HEURISTIC_CAP_S)
                    })
            }
        }
    }

    /// The `Age` it arrived with (RFC 9111 §5.1): 0 when absent; of a list (`7200, 0`, on
    /// one line or two) the first member, without parameters (`7200;x=1`), at most 2^31.
    ///
    /// # Errors
    /// `InvalidAge` when that member is not delta-seconds (`-1`, `7200a`, empty): such a
    /// response is neither stored nor served from the cache, never taken as younger.
    pub fn age_value(&self) -> Result<u64, InvalidAge> {
        let Some(all) = self.joined("age") else {
            return Ok(0);
        };
        let first = all.split(',').next().unwrap_or_default();
        let value = first.split(';').next().unwrap_or_default().trim();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidAge);
        }
        Ok(value.parse::<u64>().map_or(MAX_DELTA, |n| n.min(MAX_DELTA)))
    }

    /// The age at `now_s` (RFC 9111 §4.2.3); an invalid `Age` counts as the largest age,
    /// never as younger.
    #[must_use]
    pub fn current_age(&self, now_s: u64) -> u64 {
        let age_value = self.age_value().unwrap_or(MAX_DELTA);
        let date = self.date_s().unwrap_or(self.response_time_s);
        let apparent_age = self.response_time_s.saturating_sub(date);
        let response_delay = self.response_time_s.saturating_sub(self.request_time_s);
        let corrected_initial_age = apparent_age.max(age_value.saturating_add(response_delay));
        corrected_initial_age.saturating_add(now_s.saturating_sub(self.response_time_s))
    }

    fn date_s(&self) -> Option<u64> {
        self.header("date").and_then(|v| self.http_date(v))
    }

    /// `Last-Modified`, else `Date`, else when it arrived (RFC 9111 §4.3.2): what a
    /// client's `If-Modified-Since` is compared with.
    #[must_use]
    pub fn last_modified_s(&self) -> u64 {
        self.header("last-modified")
            .and_then(|v| self.http_date(v))
            .or_else(|| self.date_s())
            .unwrap_or(self.response_time_s)
    }

    /// An HTTP-date of this response (RFC 850 years read relative to its arrival).
    #[must_use]
    pub fn http_date(&self, value: &str) -> Option<u64> {
        date::parse(value, self.response_time_s)
    }

    /// Headers to send with the stored body: stored ones minus `Age` (the caller sets a
    /// fresh `Age`) and the targeted fields this cache does not pass on.
    pub fn response_headers(&self) -> impl Iterator<Item = &(String, String)> {
        self.headers
            .iter()
            .filter(|(n, _)| n != "age" && !directives::NOT_FORWARDED.contains(&n.as_str()))
    }
}

/// A response's `Age` is not delta-seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidAge;

/// The values a request has for the `Vary` header `names` (normalized; absent is empty),
/// which select its variant.
#[must_use]
pub fn vary_values(
    names: &[String],
    request_headers: &[(String, String)],
) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| {
            let v = header(request_headers, n)
                .map(normalize)
                .unwrap_or_default();
            (n.clone(), v)
        })
        .collect()
}

/// Encodes an entry for the store.
///
/// # Panics
/// Never: the metadata always serializes.
#[must_use]
pub fn encode(meta: &EntryMeta, body: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(meta).unwrap_or_default();
    let len = u32::try_from(json.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(4 + json.len() + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(body);
    out
}

/// What a key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored<'a> {
    /// A response: metadata and body.
    Entry(EntryMeta, &'a [u8]),
    /// The `Vary` names of a resource whose entries are keyed by their values.
    Vary(Vec<String>),
}

/// Encodes the `Vary` marker of a resource.
#[must_use]
pub fn encode_vary(names: &[String]) -> Vec<u8> {
    let mut out = vec![b'V'];
    out.extend(serde_json::to_vec(names).unwrap_or_default());
    out
}

/// Decodes what a key holds; `None` if it is neither (treated as a miss).
#[must_use]
pub fn decode_stored(bytes: &[u8]) -> Option<Stored<'_>> {
    match bytes.first() {
        Some(b'V') => serde_json::from_slice(&bytes[1..]).ok().map(Stored::Vary),
        _ => decode(bytes).map(|(m, b)| Stored::Entry(m, b)),
    }
}

/// Decodes a stored entry; `None` if the bytes are not one (treated as a miss).
#[must_use]
pub fn decode(bytes: &[u8]) -> Option<(EntryMeta, &[u8])> {
    let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let end = len.checked_add(4)?;
    let meta: EntryMeta = serde_json::from_slice(bytes.get(4..end)?).ok()?;
    // An entry no response can be built from (written by an older version, or damaged)
    // is a miss, never a crash when served.
    crate::upstream::check_status(meta.status).ok()?;
    // Nor is one whose Age is invalid (stored by an older version, which read it as 0).
    meta.age_value().ok()?;
    Some((meta, bytes.get(end..)?))
}

/// Formats unix seconds as an IMF-fixdate.
#[must_use]
pub fn format_http_date(unix_s: u64) -> String {
    date::format(unix_s)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Header values compared for `Vary`: trimmed, inner whitespace runs collapsed.
fn normalize(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    const T: u64 = 1_700_000_000;

    fn meta(headers: &[(&str, &str)]) -> EntryMeta {
        EntryMeta::from_response(200, &h(headers), &[], T, T)
    }

    #[test]
    fn lifetime_precedence() {
        let date = format_http_date(T);
        let expires = format_http_date(T + 500);
        assert_eq!(
            meta(&[("cache-control", "max-age=60, s-maxage=90")])
                .freshness_lifetime(PathPolicy::OriginOnly),
            90
        );
        assert_eq!(
            meta(&[("Cache-Control", "max-age=60")]).freshness_lifetime(PathPolicy::OriginOnly),
            60
        );
        let exp = meta(&[("date", &date), ("expires", &expires)]);
        assert_eq!(
            exp.freshness_lifetime(PathPolicy::DefaultTtl(5)),
            500,
            "explicit beats policy"
        );
        assert_eq!(
            meta(&[("expires", "0")]).freshness_lifetime(PathPolicy::DefaultTtl(5)),
            0
        );
        assert_eq!(
            meta(&[]).freshness_lifetime(PathPolicy::DefaultTtl(300)),
            300
        );
        assert_eq!(meta(&[]).freshness_lifetime(PathPolicy::OriginOnly), 0);
        let lm = format_http_date(T - 10_000);
        assert_eq!(
            meta(&[("date", &date), ("last-modified", &lm)])
                .freshness_lifetime(PathPolicy::OriginOnly),
            1_000
        );
        let created = EntryMeta::from_response(201, &[], &[], T, T);
        assert_eq!(
            created.freshness_lifetime(PathPolicy::DefaultTtl(300)),
            0,
            "no heuristic for 201"
        );
    }

    #[test]
    fn age_calculation() {
        // Origin said Age: 10; the response took 2 s; 5 s resident.
        let m = EntryMeta::from_response(
            200,
            &h(&[("age", "10"), ("date", &format_http_date(T))]),
            &[],
            T - 2,
            T,
        );
        assert_eq!(m.current_age(T + 5), 17);
        // A Date in the past makes the apparent age win.
        let old =
            EntryMeta::from_response(200, &h(&[("date", &format_http_date(T - 100))]), &[], T, T);
        assert_eq!(old.current_age(T), 100);
    }

    #[test]
    fn issue_17_age_lists_parameters_and_invalid_values() {
        let age = |values: &[&str]| {
            let hs: Vec<(&str, &str)> = values.iter().map(|v| ("age", *v)).collect();
            meta(&hs).age_value()
        };
        assert_eq!(age(&[]), Ok(0));
        assert_eq!(age(&["7200"]), Ok(7200));
        assert_eq!(age(&["7200, 0"]), Ok(7200), "a list: the first member");
        assert_eq!(age(&["7200", "0"]), Ok(7200), "two lines: the first");
        assert_eq!(age(&["0, 7200"]), Ok(0));
        assert_eq!(age(&["7200;foo=bar"]), Ok(7200), "parameters ignored");
        assert_eq!(age(&[" 7200 "]), Ok(7200));
        assert_eq!(age(&["99999999999999999999"]), Ok(MAX_DELTA));
        for bad in ["", "-1", "7200a", "abc", "1.5", ", 5"] {
            assert_eq!(age(&[bad]), Err(InvalidAge), "{bad:?}");
        }
        let invalid = meta(&[("age", "soon")]);
        assert!(invalid.current_age(T) >= MAX_DELTA, "never younger");
        assert!(
            decode(&encode(&invalid, b"x")).is_none(),
            "an entry with an invalid Age is never served"
        );
        assert_eq!(meta(&[("age", "7200, 0")]).current_age(T + 5), 7205);
    }

    #[test]
    fn issue_17_targeted_directives_and_what_is_not_passed_on() {
        let m = meta(&[
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=60"),
            ("cloudflare-cdn-cache-control", "max-age=600"),
        ]);
        assert_eq!(m.freshness_lifetime(PathPolicy::OriginOnly), 600);
        let sent: Vec<&str> = m.response_headers().map(|(n, _)| n.as_str()).collect();
        assert_eq!(sent, ["cache-control", "cdn-cache-control"]);
    }

    #[test]
    fn issue_17_connection_fields_and_private_fields_are_not_kept() {
        let m = meta(&[
            ("connection", "X-Hop, close"),
            ("x-hop", "1"),
            ("cache-control", "max-age=60, private=\"x-user\""),
            ("x-user", "alice"),
            ("set-cookie", "a=1"),
            ("etag", "\"1\""),
        ]);
        assert!(m.header("x-hop").is_none() && m.header("connection").is_none());
        let shared = m.shared_copy().expect("differs");
        assert!(shared.header("x-user").is_none() && shared.header("set-cookie").is_none());
        assert!(shared.header("etag").is_some() && m.header("x-user").is_some());
        assert_eq!(meta(&[("etag", "\"1\"")]).shared_copy(), None);
    }

    #[test]
    fn vary_and_stored_headers() {
        let req = h(&[("Accept-Encoding", "gzip,  br"), ("accept-language", "en")]);
        let m = EntryMeta::from_response(
            200,
            &h(&[
                ("Vary", "Accept-Encoding, X-Missing"),
                ("Connection", "close"),
                ("X-Cache", "HIT"),
                ("ETag", "\"v1\""),
            ]),
            &req,
            T,
            T,
        );
        assert_eq!(
            m.vary,
            h(&[("accept-encoding", "gzip, br"), ("x-missing", "")])
        );
        assert!(m.vary_matches(&h(&[("accept-encoding", "gzip, br")])));
        assert!(!m.vary_matches(&h(&[("accept-encoding", "identity")])));
        assert!(m.header("connection").is_none() && m.header("x-cache").is_none());
        assert!(m.has_validator());
    }

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let m = meta(&[("content-type", "application/json")]);
        let bytes = encode(&m, b"{\"a\":1}");
        let (back, body) = decode(&bytes).expect("decodes");
        assert_eq!(back, m);
        assert_eq!(body, b"{\"a\":1}");
        assert!(decode(b"").is_none());
        assert!(decode(&[0, 0, 0, 50, b'{']).is_none());
        assert!(
            decode(&[0, 0, 0, 2, b'{', b'}']).is_none(),
            "missing fields"
        );
    }

    #[test]
    fn item_13_8_an_entry_with_an_unservable_status_is_a_miss() {
        for status in [0, 103, 999] {
            let mut m = meta(&[]);
            m.status = status;
            assert!(decode(&encode(&m, b"x")).is_none(), "{status}");
        }
        assert!(
            decode(&[0xff, 0xff, 0xff, 0xff, b'{']).is_none(),
            "length overflow"
        );
    }
}
