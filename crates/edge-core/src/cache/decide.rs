//! The shared cache's decisions (RFC 9111, RFC 5861), one function per moment:
//!
//! - [`plan`]: before anything, whether a request may use the cache, and under which key;
//! - [`evaluate`]: with a stored entry, whether it is fresh, may be served stale while a
//!   background refresh runs, or must be revalidated — and whether it may stand in for an
//!   origin error;
//! - [`storability`]: with the origin's response, whether to store it and for how long;
//! - [`conditional_headers`], [`origin_request_headers`], [`after_revalidation`] and
//!   [`merge_not_modified`]: revalidation with validators, and what its answer means;
//! - [`store_writes`]: the store records of a response; [`entry_response`]: the response
//!   served from an entry; [`invalidates`] and [`also_invalidated`]: what an unsafe
//!   method's answer invalidates.

use crate::cache::directives::CacheControl;
use crate::cache::entry::{self, EntryMeta};
use crate::cache::key::{self, Owner};
use crate::cache::policy::PathPolicy;

/// Default largest body stored, in bytes (1 MiB).
pub const DEFAULT_MAX_ENTRY_BYTES: u64 = 1024 * 1024;
/// The store expires entries no sooner than this (KV's minimum `expirationTtl`).
pub const MIN_STORE_TTL_S: u64 = 60;
/// Entries are kept at most this long.
pub const MAX_STORE_TTL_S: u64 = 7 * 86_400;
/// Entries with a validator are kept at least this long past freshness, to revalidate.
const REVALIDATION_KEEP_S: u64 = 3_600;

/// Request headers that make a request conditional; replaced by ours when revalidating.
const CONDITIONALS: [&str; 4] = [
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
];

/// Statuses whose caching requirements this cache implements (RFC 9111 §5.2.2.3,
/// `must-understand`): those RFC 9110 §15 defines, and 451 (RFC 7725), except 206 (ranges
/// are served from complete responses) and 304 (an answer to a conditional, merged, never
/// stored as such).
const UNDERSTOOD_STATUSES: [u16; 38] = [
    200, 201, 202, 203, 204, 205, 300, 301, 302, 303, 307, 308, 400, 401, 402, 403, 404, 405, 406,
    407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 426, 451, 500, 501, 502, 503,
];

/// Whether a response that sets a cookie may be stored (var `CACHE_SET_COOKIE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SetCookie {
    /// `refuse` (default): never stored, so no session can reach another user even when
    /// the origin forgot `private`.
    #[default]
    Refuse,
    /// `strip`: stored (if otherwise storable) without its `Set-Cookie`; only the client
    /// whose request fetched it gets the cookie.
    Strip,
}

impl SetCookie {
    /// The var's value.
    ///
    /// # Errors
    /// `Err(())` for anything but `refuse` or `strip`.
    #[allow(clippy::result_unit_err)]
    pub fn parse(raw: &str) -> Result<Self, ()> {
        match raw.trim() {
            "refuse" => Ok(Self::Refuse),
            "strip" => Ok(Self::Strip),
            _ => Err(()),
        }
    }
}

/// The request as the cache sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts<'a> {
    /// Method (raw).
    pub method: &'a str,
    /// Path, percent-encoded.
    pub path: &'a str,
    /// Query without `?`.
    pub query: Option<&'a str>,
    /// Request headers, lowercase names.
    pub headers: &'a [(String, String)],
}

impl RequestFacts<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request's `Cache-Control`.
    #[must_use]
    pub fn cache_control(&self) -> CacheControl {
        self.header("cache-control")
            .map(CacheControl::parse)
            .unwrap_or_default()
    }

    fn owner(&self) -> Owner<'_> {
        match (self.header("authorization"), self.header("x-auth-user-id")) {
            (None, _) => Owner::Shared,
            (Some(_), Some(user)) => Owner::User(user),
            (Some(cred), None) => Owner::Credential(cred),
        }
    }

    fn has_authorization(&self) -> bool {
        self.header("authorization").is_some()
    }
}

/// A request with `only-if-cached` that no stored response may answer (nothing stored,
/// not cacheable, or stored but not fresh enough for it): the cache answers `504` without
/// contacting the origin (RFC 9111 §5.2.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("only-if-cached: no stored response can answer this request")]
pub struct NotCached;

impl crate::error::HttpError for NotCached {
    fn status(&self) -> u16 {
        504
    }

    fn code(&self) -> &'static str {
        "not_cached"
    }
}

impl RequestFacts<'_> {
    /// Whether the request asks never to reach the origin (`only-if-cached`).
    #[must_use]
    pub fn only_if_cached(&self) -> bool {
        self.cache_control().only_if_cached
    }
}

/// What to do with a request before looking anything up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Pass through to the origin, store nothing; the reason is a stable code.
    Bypass(&'static str),
    /// An unsafe method: pass through, then invalidate every entry of this URI prefix if
    /// the answer is not an error (RFC 9111 §4.4).
    Invalidate(String),
    /// Use the cache for this resource key (without its `Vary` part).
    Lookup(String),
}

/// Decides how `req` uses the cache under the path's `policy`.
#[must_use]
pub fn plan(req: &RequestFacts<'_>, policy: PathPolicy) -> Plan {
    match req.method {
        "GET" | "HEAD" => {}
        "POST" | "PUT" | "PATCH" | "DELETE" => {
            return Plan::Invalidate(key::uri_prefix(req.path, req.query));
        }
        _ => return Plan::Bypass("method"),
    }
    if policy == PathPolicy::Never {
        return Plan::Bypass("policy");
    }
    if req.header("range").is_some() {
        return Plan::Bypass("range");
    }
    if req.cache_control().no_store {
        return Plan::Bypass("request_no_store");
    }
    match key::resource(req.path, req.query, req.owner()) {
        Some(k) => Plan::Lookup(k),
        None => Plan::Bypass("unkeyable"),
    }
}

/// What a stored entry is good for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// Its current age, seconds (the `Age` to send).
    pub age_s: u64,
    /// Fresh, and the request accepts it: serve it (`HIT`).
    pub fresh: bool,
    /// Stale but inside `stale-while-revalidate`: serve it (`STALE`) and refresh in the
    /// background.
    pub serve_while_revalidating: bool,
    /// May be served (`STALE`) if the origin fails, per `stale-if-error`.
    pub serve_on_error: bool,
}

/// Evaluates `entry` for `req` at `now_s` (RFC 9111 §4.2, §4.2.4; RFC 5861).
#[must_use]
pub fn evaluate(
    entry: &EntryMeta,
    req: &RequestFacts<'_>,
    policy: PathPolicy,
    now_s: u64,
) -> Evaluation {
    let age_s = entry.current_age(now_s);
    let lifetime = entry.freshness_lifetime(policy);
    let resp_cc = entry.cache_control();
    let req_cc = req.cache_control();
    let request_wants_origin = req_cc.no_cache
        || req_cc.max_age.is_some_and(|m| age_s > m)
        || req_cc
            .min_fresh
            .is_some_and(|m| lifetime < age_s.saturating_add(m));
    let fresh = lifetime > age_s && !resp_cc.no_cache && !request_wants_origin;
    let staleness = age_s.saturating_sub(lifetime);
    let stale_ok = resp_cc.allows_stale() && !fresh;
    let serve_while_revalidating = stale_ok
        && !request_wants_origin
        && resp_cc
            .stale_while_revalidate
            .is_some_and(|w| staleness < w);
    let error_window = resp_cc.stale_if_error.max(req_cc.stale_if_error);
    let serve_on_error = resp_cc.allows_stale() && error_window.is_some_and(|w| staleness < w);
    Evaluation {
        age_s,
        fresh,
        serve_while_revalidating,
        serve_on_error,
    }
}

/// Whether `status` may be stored at all: a final status other than 206 and 304, and for
/// `must-understand` one this cache understands.
fn storable_status(status: u16, must_understand: bool) -> bool {
    if must_understand {
        return UNDERSTOOD_STATUSES.contains(&status);
    }
    (200..600).contains(&status) && !matches!(status, 206 | 304)
}

/// How to store a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorePlan {
    /// How long the store keeps it, seconds: freshness plus the stale windows, plus time
    /// to revalidate when it has a validator; within [`MIN_STORE_TTL_S`, `MAX_STORE_TTL_S`].
    pub keep_s: u64,
}

/// Whether the origin's response to `req` may be stored (RFC 9111 §3, §3.5), and for how
/// long. A final status (not 206 or 304) that is heuristically cacheable (RFC 9110 §15.1)
/// or comes with explicit freshness (`max-age`, `s-maxage`, `Expires`) or `public`; with
/// `must-understand`, only an understood status, and then `no-store` is ignored
/// (§5.2.2.3). Shared-cache rules: never unqualified `private` or `no-store` (a qualified
/// `private="…"` is stored minus those fields, [`EntryMeta::shared_copy`]); a response
/// that sets a cookie only as `cookies` allows; with `Authorization`, only when the
/// response says `public`, `s-maxage` or `must-revalidate` (and then under the
/// requester's own key, see [`plan`]); never one with an invalid `Age`.
///
/// # Errors
/// A stable code saying why not (`status`, `must_understand`, `no_store`, `private`,
/// `set_cookie`, `authorization`, `vary_star`, `age`, `not_fresh`).
pub fn storability(
    req: &RequestFacts<'_>,
    entry: &EntryMeta,
    policy: PathPolicy,
    cookies: SetCookie,
) -> Result<StorePlan, &'static str> {
    let cc = entry.cache_control();
    if req.method != "GET" || !storable_status(entry.status, false) {
        return Err("status");
    }
    if cc.must_understand && !storable_status(entry.status, true) {
        return Err("must_understand");
    }
    let req_cc = req.cache_control();
    if (cc.no_store && !cc.must_understand) || req_cc.no_store {
        return Err("no_store");
    }
    if cc.private {
        return Err("private");
    }
    if cookies == SetCookie::Refuse && entry.header("set-cookie").is_some() {
        return Err("set_cookie");
    }
    let explicit =
        cc.max_age.is_some() || cc.s_maxage.is_some() || entry.header("expires").is_some();
    if !(explicit || cc.public || entry::HEURISTIC_STATUSES.contains(&entry.status)) {
        return Err("status");
    }
    if entry.age_value().is_err() {
        return Err("age");
    }
    if req.has_authorization() && !(cc.public || cc.s_maxage.is_some() || cc.must_revalidate) {
        return Err("authorization");
    }
    if entry.vary_names().iter().any(|n| n == "*") {
        return Err("vary_star");
    }
    let lifetime = entry.freshness_lifetime(policy);
    let revalidatable = entry.has_validator();
    if lifetime == 0 && !revalidatable {
        return Err("not_fresh");
    }
    let stale = if cc.allows_stale() {
        cc.stale_while_revalidate
            .unwrap_or(0)
            .max(cc.stale_if_error.unwrap_or(0))
    } else {
        0
    };
    let revalidate = if revalidatable {
        lifetime.max(REVALIDATION_KEEP_S)
    } else {
        0
    };
    let keep_s = lifetime
        .saturating_add(stale)
        .saturating_add(revalidate)
        .clamp(MIN_STORE_TTL_S, MAX_STORE_TTL_S);
    Ok(StorePlan { keep_s })
}

/// The validators to revalidate `entry` with: `If-None-Match` from its `ETag`,
/// `If-Modified-Since` from its `Last-Modified`.
#[must_use]
pub fn conditional_headers(entry: &EntryMeta) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(etag) = entry.header("etag") {
        out.push(("if-none-match", etag.to_owned()));
    }
    if let Some(lm) = entry.header("last-modified") {
        out.push(("if-modified-since", lm.to_owned()));
    }
    out
}

/// Merges a `304 Not Modified` into `entry` (RFC 9111 §3.2, §4.3.4): every header of the
/// 304 replaces the stored one of that name, except `Content-Length` and the fields
/// never stored; the times become the revalidation's.
#[must_use]
pub fn merge_not_modified(
    entry: &EntryMeta,
    not_modified_headers: &[(String, String)],
    request_time_s: u64,
    response_time_s: u64,
) -> EntryMeta {
    let fresh = EntryMeta::from_response(
        304,
        not_modified_headers,
        &[],
        request_time_s,
        response_time_s,
    );
    let replaced: Vec<&str> = fresh
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| *n != "content-length")
        .collect();
    let mut headers: Vec<(String, String)> = entry
        .headers
        .iter()
        .filter(|(n, _)| !replaced.contains(&n.as_str()) && n != "age")
        .cloned()
        .collect();
    headers.extend(
        fresh
            .headers
            .into_iter()
            .filter(|(n, _)| n != "content-length"),
    );
    EntryMeta {
        status: entry.status,
        headers,
        request_time_s,
        response_time_s,
        vary: entry.vary.clone(),
    }
}

/// Whether the answer `status` to an unsafe method invalidates the URI's entries: any
/// non-error answer does (RFC 9111 §4.4).
#[must_use]
pub const fn invalidates(status: u16) -> bool {
    status < 400
}

/// The URI prefixes an unsafe method's non-error answer also invalidates (RFC 9111 §4.4):
/// those of its `Location` and `Content-Location`, when they are on the request's own
/// origin (`request_origin`, `scheme://authority`, compared case-insensitively) — an
/// absolute URI of that origin, an absolute path, or a relative reference resolved against
/// `request_path`. Another origin's URIs are never touched (a response cannot invalidate
/// what it does not own).
#[must_use]
pub fn also_invalidated(
    request_origin: &str,
    request_path: &str,
    response_headers: &[(String, String)],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (name, value) in response_headers {
        if !(name.eq_ignore_ascii_case("location") || name.eq_ignore_ascii_case("content-location"))
        {
            continue;
        }
        let Some(target) = same_origin_path(request_origin, request_path, value.trim()) else {
            continue;
        };
        let target = target.split('#').next().unwrap_or_default();
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let prefix = key::uri_prefix(path, query);
        if !out.contains(&prefix) {
            out.push(prefix);
        }
    }
    out
}

/// The path (and query) of `reference` when it is on `origin`, resolved against `base`.
fn same_origin_path(origin: &str, base: &str, reference: &str) -> Option<String> {
    if reference.is_empty() || reference.contains(char::is_whitespace) {
        return None;
    }
    let origin = origin.trim_end_matches('/');
    let scheme = origin.split_once("://").map(|(s, _)| s)?;
    let absolute = if let Some(rest) = reference.strip_prefix("//") {
        Some(format!("{scheme}://{rest}"))
    } else if reference
        .split_once(':')
        .is_some_and(|(s, _)| !s.is_empty() && !s.contains('/') && !s.contains('?'))
    {
        Some(reference.to_owned())
    } else {
        None
    };
    if let Some(abs) = absolute {
        let (scheme_authority, path) = match abs.split_once("://") {
            Some((s, rest)) => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                (format!("{s}://{}", &rest[..end]), &rest[end..])
            }
            None => return None,
        };
        if !scheme_authority.eq_ignore_ascii_case(origin) {
            return None;
        }
        return Some(if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        });
    }
    if reference.starts_with('/') {
        return Some(remove_dot_segments(reference));
    }
    let dir = &base[..=base.rfind('/').unwrap_or(0)];
    let joined = if reference.starts_with('?') {
        format!("{base}{reference}")
    } else {
        format!("{dir}{reference}")
    };
    Some(remove_dot_segments(&joined))
}

/// RFC 3986 §5.2.4 on the path part (the query and fragment kept as they are).
fn remove_dot_segments(target: &str) -> String {
    let end = target.find(['?', '#']).unwrap_or(target.len());
    let (path, rest) = target.split_at(end);
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." | ".." => {
                if *seg == ".." {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}{rest}", out.join("/"))
}

/// Whether `entry`'s declared `Content-Length` already rules out storing it under `limit`
/// bytes (the body is then passed on without being read).
#[must_use]
pub fn declared_too_large(entry: &EntryMeta, limit: usize) -> bool {
    entry
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > limit)
}

/// The headers of a cache fetch to the origin: the client's own, except that when the
/// cache revalidates (`validators` not empty) the client's conditionals are replaced by
/// the validators (the client's conditional is answered from the entry, see
/// [`client_has_current`]).
#[must_use]
pub fn origin_request_headers(
    request_headers: &[(String, String)],
    validators: &[(&'static str, String)],
) -> Vec<(String, String)> {
    let ours = !validators.is_empty();
    request_headers
        .iter()
        .filter(|(name, _)| !(ours && CONDITIONALS.contains(&name.as_str())))
        .cloned()
        .chain(validators.iter().map(|(n, v)| ((*n).to_owned(), v.clone())))
        .collect()
}

/// What a revalidation's answer means for the stale entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterRevalidation {
    /// `304` to our validators: merge it into the entry ([`merge_not_modified`]), store
    /// and serve that (`REVALIDATED`).
    Merge,
    /// The origin failed (no answer, or a 5xx) and the entry may stand in for it
    /// (`stale-if-error`): serve the entry as it is (`STALE`).
    ServeStale,
    /// The origin failed and the entry may not stand in: answer the failure.
    Fail,
    /// Any other answer replaces the entry, like a miss's (stored if storable).
    Replace,
}

/// What to do with the origin's answer to a revalidation: `origin_status` is `None` when
/// it gave none (timeout, unavailable); `validated` says whether validators were sent
/// (a `304` to a request without them is the client's own, not a revalidation);
/// `serve_on_error` is the entry's [`Evaluation::serve_on_error`].
#[must_use]
pub const fn after_revalidation(
    origin_status: Option<u16>,
    validated: bool,
    serve_on_error: bool,
) -> AfterRevalidation {
    match origin_status {
        None if serve_on_error => AfterRevalidation::ServeStale,
        None => AfterRevalidation::Fail,
        Some(304) if validated => AfterRevalidation::Merge,
        Some(500..) if serve_on_error => AfterRevalidation::ServeStale,
        Some(_) => AfterRevalidation::Replace,
    }
}

/// The store records of `meta` (a response to a request with `request_headers`) for the
/// cache key `resource`: when the response varies, the base key holds its `Vary` names
/// and the entry goes under the request's values of them; otherwise the entry goes under
/// the base key. In write order.
#[must_use]
pub fn store_writes(
    resource: &str,
    meta: &EntryMeta,
    body: &[u8],
    request_headers: &[(String, String)],
) -> Vec<(String, Vec<u8>)> {
    let names = meta.vary_names();
    let base = key::entry_key(resource, &[]);
    let mut writes = Vec::with_capacity(2);
    let entry_key = if names.is_empty() {
        base
    } else {
        let values = entry::vary_values(&names, request_headers);
        writes.push((base, entry::encode_vary(&names)));
        key::entry_key(resource, &values)
    };
    writes.push((entry_key, entry::encode(meta, body)));
    writes
}

/// A response served from an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryResponse {
    /// Its status: the entry's, or `304` when the client already has this version.
    pub status: u16,
    /// Its headers: the entry's, with `Age`.
    pub headers: Vec<(String, String)>,
    /// Whether the entry's body goes with it (not for `HEAD`, a `304` or a null-body
    /// status).
    pub with_body: bool,
}

/// The response to `req` from `entry` at age `age_s`: a `304` without `Content-Length`
/// when the client already has this version ([`client_has_current`]); no body for `HEAD`
/// and null-body statuses.
#[must_use]
pub fn entry_response(req: &RequestFacts<'_>, entry: &EntryMeta, age_s: u64) -> EntryResponse {
    let not_modified = client_has_current(req, entry);
    let status = if not_modified { 304 } else { entry.status };
    let mut headers: Vec<(String, String)> = entry
        .response_headers()
        .filter(|(n, _)| !(not_modified && n == "content-length"))
        .cloned()
        .collect();
    headers.push(("age".to_owned(), age_s.to_string()));
    let with_body = !(req.method == "HEAD" || matches!(status, 204 | 205 | 304));
    EntryResponse {
        status,
        headers,
        with_body,
    }
}

/// Whether the client already has `entry`'s version, so it can be answered `304` from the
/// cache (RFC 9111 §4.3.2, RFC 9110 §13.2.2), for a `200` entry: its `If-None-Match`
/// matches the `ETag` (weak comparison, §13.1.2) or, only when it sent no
/// `If-None-Match`, its `If-Modified-Since` (a valid HTTP-date) is no earlier than the
/// entry's `Last-Modified` (else `Date`, else its arrival).
#[must_use]
pub fn client_has_current(req: &RequestFacts<'_>, entry: &EntryMeta) -> bool {
    if entry.status != 200 || !matches!(req.method, "GET" | "HEAD") {
        return false;
    }
    if let Some(wanted) = req.header("if-none-match") {
        let Some(etag) = entry.header("etag") else {
            return false;
        };
        let weak = |t: &str| t.trim().trim_start_matches("W/").to_owned();
        return wanted.trim() == "*" || wanted.split(',').any(|t| weak(t) == weak(etag));
    }
    req.header("if-modified-since")
        .and_then(|v| entry.http_date(v))
        .is_some_and(|since| entry.last_modified_s() <= since)
}

#[cfg(test)]
mod tests;
