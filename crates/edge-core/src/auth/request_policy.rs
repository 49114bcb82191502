//! Request validation at the edge: which paths, methods, body types and body sizes the
//! API accepts, decided from the request head before any credential is looked at.
//!
//! [`RequestPolicy::check`] answers with the [`BodyRule`] the worker must enforce while
//! reading the body (its limit, and whether it must be JSON), or a [`RequestError`] whose
//! status is one of 400, 404, 405, 411, 413 and 415 — never a 500.

use crate::error::HttpError;

/// Default body limit: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// Hard ceiling for the configured body limit (the worker buffers the body): 32 MiB.
pub const MAX_BODY_BYTES_CEILING: u64 = 32 * 1024 * 1024;
/// Longest accepted request path, in bytes.
pub const MAX_PATH_BYTES: usize = 2048;
/// Default allowed path prefixes of the API.
pub const DEFAULT_PREFIXES: &str = "/api/v1/agents,/api/v1/calls,/api/v1/phone-numbers,/api/v1/analytics,/voice/,/webhooks/,/health";
/// Default prefixes answered without credentials.
pub const DEFAULT_PUBLIC_PREFIXES: &str = "/health";
/// Default allowed methods.
pub const DEFAULT_METHODS: &str = "GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS";
/// Most prefixes (or methods) a configuration may list.
const MAX_CONFIG_ITEMS: usize = 64;
/// Deepest nesting of arrays and objects a JSON body may have.
pub const MAX_JSON_DEPTH: usize = 64;
/// The health path: public for `GET`/`HEAD` exactly, nothing below it exists.
pub const HEALTH_PATH: &str = "/health";

/// Why a request was refused before authentication.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The path is under no allowed prefix (404 `not_found`).
    #[error("no route for this path")]
    UnknownPath,
    /// The path has dot segments, encoded separators, control bytes or is too long (400).
    #[error("path is not in canonical form")]
    InvalidPath,
    /// The method is not allowed (405, with `Allow`).
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The allowed methods, for the `Allow` header.
        allow: String,
    },
    /// `Content-Length` is not a single decimal number (400).
    #[error("content-length is not a decimal number")]
    InvalidContentLength,
    /// A body-carrying method came with neither a length nor a body (411).
    #[error("content-length required")]
    LengthRequired,
    /// A body came with a method that does not carry one (400).
    #[error("this method does not take a body")]
    UnexpectedBody,
    /// The declared or actual body is over the limit (413).
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The body's content type is missing or not accepted (415).
    #[error("content-type must be application/json, audio/* or application/octet-stream")]
    UnsupportedMediaType,
    /// A JSON body is not valid UTF-8 JSON (400).
    #[error("body is not valid json")]
    MalformedJson,
    /// The body stream broke off before its end (400).
    #[error("request body could not be read to its end")]
    UnreadableBody,
    /// The body did not arrive in full within the configured time (408).
    #[error("request body did not arrive within {timeout_ms} ms")]
    BodyTimeout {
        /// The bound, in milliseconds.
        timeout_ms: u64,
    },
}

impl HttpError for RequestError {
    fn status(&self) -> u16 {
        match self {
            Self::UnknownPath => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::BodyTimeout { .. } => 408,
            Self::LengthRequired => 411,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::InvalidPath
            | Self::InvalidContentLength
            | Self::UnexpectedBody
            | Self::MalformedJson
            | Self::UnreadableBody => 400,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::UnknownPath => "not_found",
            Self::InvalidPath => "invalid_path",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::InvalidContentLength => "invalid_content_length",
            Self::LengthRequired => "length_required",
            Self::UnexpectedBody => "unexpected_body",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MalformedJson => "malformed_json",
            Self::UnreadableBody => "unreadable_body",
            Self::BodyTimeout { .. } => "body_timeout",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidContentLength | Self::LengthRequired => Some("content-length"),
            Self::UnsupportedMediaType => Some("content-type"),
            _ => None,
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::MethodNotAllowed { allow } => vec![("allow", allow.clone())],
            _ => Vec::new(),
        }
    }
}

/// A configuration value that cannot be used; the worker reports it as misconfigured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {0}")]
pub struct ConfigError(pub &'static str);

/// What the worker must enforce on the body it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRule {
    /// The request has no body; nothing to read.
    None,
    /// Read at most `limit` bytes; if `json`, the bytes must parse as JSON.
    Read {
        /// Largest body accepted, in bytes.
        limit: u64,
        /// The content type is `application/json`.
        json: bool,
    },
}

/// The parts of a request head the policy looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// The method, as received (case-sensitive, like HTTP).
    pub method: &'a str,
    /// The URL path, still percent-encoded, without the query.
    pub path: &'a str,
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The `Content-Length` header, if any.
    pub content_length: Option<&'a str>,
    /// Whether the runtime sees a body stream (a chunked body has one without a length).
    pub has_body_stream: bool,
}

/// Allowed paths, methods and body size, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPolicy {
    prefixes: Vec<String>,
    public_prefixes: Vec<String>,
    methods: Vec<String>,
    max_body_bytes: u64,
}

impl RequestPolicy {
    /// Builds a policy from comma-separated lists: path prefixes (each starts with `/`),
    /// public prefixes (answered without credentials; each must also be allowed), methods
    /// (uppercase tokens), and the body limit in bytes (1..=32 MiB).
    ///
    /// # Errors
    /// [`ConfigError`] naming the var that is empty, malformed, or has more than 64 items.
    pub fn from_config(
        prefixes: &str,
        public_prefixes: &str,
        methods: &str,
        max_body_bytes: u64,
    ) -> Result<Self, ConfigError> {
        let prefixes = list(prefixes, "ALLOWED_PATH_PREFIXES", valid_prefix)?;
        let public_prefixes = if public_prefixes.trim().is_empty() {
            Vec::new()
        } else {
            list(public_prefixes, "PUBLIC_PATH_PREFIXES", valid_prefix)?
        };
        if public_prefixes.iter().any(|p| !prefixes.contains(p)) {
            return Err(ConfigError("PUBLIC_PATH_PREFIXES"));
        }
        let methods = list(methods, "ALLOWED_METHODS", |m| {
            !m.is_empty() && m.len() <= 16 && m.bytes().all(|b| b.is_ascii_uppercase())
        })?;
        if !(1..=MAX_BODY_BYTES_CEILING).contains(&max_body_bytes) {
            return Err(ConfigError("MAX_BODY_BYTES"));
        }
        Ok(Self {
            prefixes,
            public_prefixes,
            methods,
            max_body_bytes,
        })
    }

    /// The policy with every default.
    #[must_use]
    pub fn defaults() -> Self {
        Self::from_config(
            DEFAULT_PREFIXES,
            DEFAULT_PUBLIC_PREFIXES,
            DEFAULT_METHODS,
            DEFAULT_MAX_BODY_BYTES,
        )
        .unwrap_or_else(|_| unreachable!("the defaults are valid"))
    }

    /// The body limit in bytes.
    #[must_use]
    pub fn max_body_bytes(&self) -> u64 {
        self.max_body_bytes
    }

    /// The allowed methods.
    #[must_use]
    pub fn methods(&self) -> &[String] {
        &self.methods
    }

    /// Whether `path` is answered without credentials: a public entry ending in `/` is a
    /// prefix (everything below it is public); any other names exactly one path, so
    /// `/health` does not make `/health/anything` public.
    #[must_use]
    pub fn is_public(&self, path: &str) -> bool {
        self.public_prefixes.iter().any(|p| {
            if p.ends_with('/') {
                path.starts_with(p.as_str())
            } else {
                path == p
            }
        })
    }

    /// Checks the path, then the method, then the body framing and type, in that order.
    ///
    /// # Errors
    /// The first rule the request breaks, as a [`RequestError`].
    pub fn check(&self, head: &RequestHead<'_>) -> Result<BodyRule, RequestError> {
        self.check_path(head.path)?;
        self.check_method(head.method)?;
        self.check_body(head)
    }

    /// The path rules alone: canonical form, then an allowed prefix. Nothing exists below
    /// [`HEALTH_PATH`].
    ///
    /// # Errors
    /// [`RequestError::InvalidPath`] or [`RequestError::UnknownPath`].
    pub fn check_path(&self, path: &str) -> Result<(), RequestError> {
        if !canonical_path(path) {
            return Err(RequestError::InvalidPath);
        }
        if path.starts_with(HEALTH_PATH) && path.len() > HEALTH_PATH.len() {
            return Err(RequestError::UnknownPath);
        }
        if self.prefixes.iter().any(|p| under_prefix(path, p)) {
            Ok(())
        } else {
            Err(RequestError::UnknownPath)
        }
    }

    fn check_method(&self, method: &str) -> Result<(), RequestError> {
        if self.methods.iter().any(|m| m == method) {
            Ok(())
        } else {
            Err(RequestError::MethodNotAllowed {
                allow: self.methods.join(", "),
            })
        }
    }

    /// The body framing rules alone, for requests the entry passes on without judging
    /// their content type (operator endpoints, the dashboard's sign-in form): a valid
    /// `Content-Length` within the limit, a length for body-carrying methods, and no body
    /// on `GET`, `HEAD` or `OPTIONS`. Returns whether a body follows.
    ///
    /// # Errors
    /// [`RequestError::InvalidContentLength`], [`RequestError::PayloadTooLarge`],
    /// [`RequestError::LengthRequired`] or [`RequestError::UnexpectedBody`].
    pub fn check_framing(&self, head: &RequestHead<'_>) -> Result<bool, RequestError> {
        let declared = match head.content_length {
            None => None,
            Some(raw) => Some(parse_content_length(raw.trim())?),
        };
        if declared.is_some_and(|n| n > self.max_body_bytes) {
            return Err(RequestError::PayloadTooLarge {
                limit: self.max_body_bytes,
            });
        }
        let carries_body = matches!(head.method, "POST" | "PUT" | "PATCH");
        let has_body = declared.map_or(head.has_body_stream, |n| n > 0);
        if !has_body {
            if carries_body && declared.is_none() {
                return Err(RequestError::LengthRequired);
            }
            return Ok(false);
        }
        // GET and HEAD cannot carry a body past Fetch at all (the rule every hop shares);
        // the edge also refuses one on OPTIONS.
        crate::upstream::check_forwardable(head.method, true)?;
        if head.method == "OPTIONS" {
            return Err(RequestError::UnexpectedBody);
        }
        Ok(true)
    }

    fn check_body(&self, head: &RequestHead<'_>) -> Result<BodyRule, RequestError> {
        if !self.check_framing(head)? {
            return Ok(BodyRule::None);
        }
        let json = match head.content_type.map(MediaType::parse) {
            Some(Some(MediaType::Json)) => true,
            Some(Some(MediaType::Binary)) => false,
            _ => return Err(RequestError::UnsupportedMediaType),
        };
        Ok(BodyRule::Read {
            limit: self.max_body_bytes,
            json,
        })
    }
}

/// Checks a body that was read under [`BodyRule::Read`] with `json` set: valid UTF-8
/// throughout (serde_json does not check the inside of strings it skips), one JSON value,
/// nested at most [`MAX_JSON_DEPTH`] deep (serde_json skips values with its own stack,
/// without its recursion limit, so depth is checked here).
///
/// # Errors
/// [`RequestError::MalformedJson`] when `body` is not that.
pub fn check_json_body(body: &[u8]) -> Result<(), RequestError> {
    std::str::from_utf8(body).map_err(|_| RequestError::MalformedJson)?;
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map_err(|_| RequestError::MalformedJson)?;
    if json_depth(body) > MAX_JSON_DEPTH {
        return Err(RequestError::MalformedJson);
    }
    Ok(())
}

/// The deepest nesting of `[` and `{` in a syntactically valid JSON text, skipping
/// strings (and the escapes in them).
fn json_depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A request path (or query) with percent-escapes in one spelling (RFC 3986 §6.2.2):
/// escapes of unreserved characters decoded (`%61` is `a`), every other escape in
/// uppercase hex (`%c3%a9` is `%C3%A9`), so one resource has one spelling for the
/// policy, routing and cache keys behind the entry. Borrowed when already normal.
///
/// An escaped `.` is left alone (the path check refuses it: decoding could form a dot
/// segment after the URL parser has resolved them).
///
/// # Errors
/// [`RequestError::InvalidPath`] for a `%` not followed by two hex digits.
pub fn normalize_escapes(raw: &str) -> Result<std::borrow::Cow<'_, str>, RequestError> {
    let bytes = raw.as_bytes();
    let Some(first) = bytes.iter().position(|&b| b == b'%') else {
        return Ok(std::borrow::Cow::Borrowed(raw));
    };
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = String::with_capacity(raw.len());
    out.push_str(&raw[..first]);
    // Every piece after a `%` starts with the escape's two hex digits.
    for piece in raw[first + 1..].split('%') {
        let digits = piece.as_bytes();
        let (Some(hi), Some(lo)) = (
            digits.first().copied().and_then(hex),
            digits.get(1).copied().and_then(hex),
        ) else {
            return Err(RequestError::InvalidPath);
        };
        let decoded = u8::try_from(hi * 16 + lo).unwrap_or(0);
        if decoded.is_ascii_alphanumeric() || b"-_~".contains(&decoded) {
            out.push(char::from(decoded));
        } else {
            out.push_str(&format!("%{decoded:02X}"));
        }
        out.push_str(&piece[2..]);
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// The accepted body media types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    /// `application/json`, optionally with `charset=utf-8`.
    Json,
    /// `audio/<subtype>` or `application/octet-stream`.
    Binary,
}

impl MediaType {
    /// Parses a `Content-Type` value strictly: `type/subtype` tokens, then only the
    /// parameters each type allows.
    fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        let params: Vec<(String, String)> = parts
            .map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((
                    k.trim().to_ascii_lowercase(),
                    v.trim().trim_matches('"').to_ascii_lowercase(),
                ))
            })
            .collect::<Option<_>>()?;
        let (kind, subtype) = essence.split_once('/')?;
        if !token(kind) || !token(subtype) {
            return None;
        }
        match (kind, subtype) {
            ("application", "json") => params
                .iter()
                .all(|(k, v)| k == "charset" && v == "utf-8")
                .then_some(Self::Json),
            ("application", "octet-stream") if params.is_empty() => Some(Self::Binary),
            ("audio", _) if params.iter().all(|(k, v)| token(k) && token(v)) => Some(Self::Binary),
            _ => None,
        }
    }
}

/// An RFC 9110 token (the `tchar` set), non-empty.
fn token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A `Content-Length` value: 1–19 ASCII digits, nothing else (no sign, no spaces).
///
/// # Errors
/// [`RequestError::InvalidContentLength`] for anything else.
pub(crate) fn parse_content_length(raw: &str) -> Result<u64, RequestError> {
    if raw.is_empty() || raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RequestError::InvalidContentLength);
    }
    raw.parse().map_err(|_| RequestError::InvalidContentLength)
}

/// `path` is `prefix` or below it. A prefix ending in `/` matches what starts with it;
/// any other prefix matches itself and what continues with `/`, so `/api/v1/calls` does
/// not match `/api/v1/callsign`.
fn under_prefix(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// No dot segments, no empty segments, no `;`, no encoded `/`, `\`, `.` or NUL, no control or
/// non-ASCII bytes, at most [`MAX_PATH_BYTES`]: one resource has one spelling, so a prefix
/// rule cannot be walked around.
fn canonical_path(path: &str) -> bool {
    if !path.starts_with('/') || path.len() > MAX_PATH_BYTES {
        return false;
    }
    // `;` starts path parameters, which some origins strip before routing: refused, so
    // `/a;x` cannot be one resource to the origin and another to the cache.
    if !path.bytes().all(|b| b.is_ascii_graphic()) || path.contains(['\\', ';']) {
        return false;
    }
    let lower = path.to_ascii_lowercase();
    if ["%2f", "%5c", "%2e", "%00"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return false;
    }
    let body = &path[1..];
    body.is_empty()
        || body
            .trim_end_matches('/')
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

fn valid_prefix(p: &str) -> bool {
    canonical_path(p) && p.len() > 1
}

fn list(
    raw: &str,
    var: &'static str,
    valid: impl Fn(&str) -> bool,
) -> Result<Vec<String>, ConfigError> {
    let items = crate::list::owned_items(raw);
    if items.is_empty() || items.len() > MAX_CONFIG_ITEMS || !items.iter().all(|s| valid(s)) {
        return Err(ConfigError(var));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head<'a>(method: &'a str, path: &'a str) -> RequestHead<'a> {
        RequestHead {
            method,
            path,
            content_type: None,
            content_length: None,
            has_body_stream: false,
        }
    }

    fn with_body<'a>(
        method: &'a str,
        path: &'a str,
        content_type: Option<&'a str>,
        content_length: Option<&'a str>,
    ) -> RequestHead<'a> {
        RequestHead {
            content_type,
            content_length,
            has_body_stream: true,
            ..head(method, path)
        }
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        let p = RequestPolicy::defaults();
        for ok in [
            "/api/v1/calls",
            "/api/v1/calls/",
            "/api/v1/calls/c1/events",
            "/voice/stream",
            "/webhooks/twilio",
            "/health",
        ] {
            assert_eq!(p.check_path(ok), Ok(()), "{ok}");
        }
        for unknown in [
            "/",
            "/api/v1/callsign",
            "/api/v2/calls",
            "/voice",
            "/admin",
            "/healthz",
        ] {
            assert_eq!(
                p.check_path(unknown),
                Err(RequestError::UnknownPath),
                "{unknown}"
            );
        }
    }

    #[test]
    fn non_canonical_paths_are_refused_before_prefix_matching() {
        let p = RequestPolicy::defaults();
        for bad in [
            "/api/v1/calls/../../admin",
            "/api/v1/calls/./x",
            "/api/v1//calls",
            "/api/v1/calls%2f..%2fadmin",
            "/api/v1/calls/%2E%2E/x",
            "/api/v1/calls\\x",
            "/api/v1/calls/\u{e9}",
            "/api/v1/calls/%00",
            "relative",
        ] {
            assert_eq!(p.check_path(bad), Err(RequestError::InvalidPath), "{bad}");
        }
        let long = format!("/api/v1/calls/{}", "a".repeat(MAX_PATH_BYTES));
        assert_eq!(p.check_path(&long), Err(RequestError::InvalidPath));
    }

    #[test]
    fn methods_outside_the_list_get_405_with_allow() {
        let p = RequestPolicy::from_config("/api/v1/calls", "", "GET,POST", 10).expect("valid");
        let err = p
            .check(&head("TRACE", "/api/v1/calls"))
            .expect_err("refused");
        assert_eq!(err.status(), 405);
        assert_eq!(err.headers(), vec![("allow", "GET, POST".to_owned())]);
        assert_eq!(
            p.check(&head("get", "/api/v1/calls"))
                .map_err(|e| e.status()),
            Err(405)
        );
    }

    #[test]
    fn body_framing_rules() {
        let p = RequestPolicy::defaults();
        let json = Some("application/json");
        assert_eq!(
            p.check(&head("POST", "/api/v1/calls")),
            Err(RequestError::LengthRequired)
        );
        assert_eq!(
            p.check(&with_body("POST", "/api/v1/calls", json, Some("0"))),
            Ok(BodyRule::None),
            "an explicitly empty POST needs no content type"
        );
        assert_eq!(
            p.check(&head("DELETE", "/api/v1/calls/c1")),
            Ok(BodyRule::None)
        );
        assert_eq!(
            p.check(&with_body("POST", "/api/v1/calls", json, Some("12"))),
            Ok(BodyRule::Read {
                limit: DEFAULT_MAX_BODY_BYTES,
                json: true
            })
        );
        assert_eq!(
            p.check(&with_body("POST", "/voice/stream", Some("audio/ogg"), None)),
            Ok(BodyRule::Read {
                limit: DEFAULT_MAX_BODY_BYTES,
                json: false
            }),
            "a chunked body has no length but is read under the limit"
        );
        assert_eq!(
            p.check(&with_body("GET", "/api/v1/calls", json, Some("5"))),
            Err(RequestError::UnexpectedBody)
        );
        for bad in ["", "12a", "-1", "1,1", "99999999999999999999", "+5"] {
            assert_eq!(
                p.check(&with_body("POST", "/api/v1/calls", json, Some(bad))),
                Err(RequestError::InvalidContentLength),
                "{bad:?}"
            );
        }
        let over = (DEFAULT_MAX_BODY_BYTES + 1).to_string();
        assert_eq!(
            p.check(&with_body("POST", "/api/v1/calls", json, Some(&over))),
            Err(RequestError::PayloadTooLarge {
                limit: DEFAULT_MAX_BODY_BYTES
            })
        );
    }

    #[test]
    fn content_types_are_parsed_strictly() {
        let p = RequestPolicy::defaults();
        let check = |ct: Option<&str>| p.check(&with_body("POST", "/api/v1/calls", ct, Some("3")));
        for (ct, json) in [
            ("application/json", true),
            ("Application/JSON; charset=UTF-8", true),
            ("application/json;charset=\"utf-8\"", true),
            ("audio/wav", false),
            ("audio/ogg; codecs=opus", false),
            ("application/octet-stream", false),
        ] {
            assert_eq!(
                check(Some(ct)),
                Ok(BodyRule::Read {
                    limit: DEFAULT_MAX_BODY_BYTES,
                    json
                }),
                "{ct}"
            );
        }
        for bad in [
            None,
            Some(""),
            Some("text/plain"),
            Some("application/json; charset=latin1"),
            Some("application/json; boundary"),
            Some("application/jsonx"),
            Some("application/merge-patch+json"),
            Some("audio/"),
            Some("audio/wav x"),
            Some("multipart/form-data; boundary=x"),
        ] {
            assert_eq!(
                check(bad),
                Err(RequestError::UnsupportedMediaType),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn json_bodies_must_parse() {
        assert_eq!(check_json_body(br#"{"a":[1,2]}"#), Ok(()));
        assert_eq!(
            check_json_body(b"{\"a\":"),
            Err(RequestError::MalformedJson)
        );
        assert_eq!(check_json_body(b"{} {}"), Err(RequestError::MalformedJson));
        assert_eq!(check_json_body(b"\xff"), Err(RequestError::MalformedJson));
    }

    #[test]
    fn config_is_validated() {
        assert!(RequestPolicy::from_config("", "", "GET", 1).is_err());
        assert!(RequestPolicy::from_config("api", "", "GET", 1).is_err());
        assert!(RequestPolicy::from_config("/a/../b", "", "GET", 1).is_err());
        assert_eq!(
            RequestPolicy::from_config("/a", "/b", "GET", 1),
            Err(ConfigError("PUBLIC_PATH_PREFIXES"))
        );
        assert_eq!(
            RequestPolicy::from_config("/a", "", "get", 1),
            Err(ConfigError("ALLOWED_METHODS"))
        );
        assert_eq!(
            RequestPolicy::from_config("/a", "", "GET", 0),
            Err(ConfigError("MAX_BODY_BYTES"))
        );
        let p = RequestPolicy::from_config("/a, /health", "/health", "GET", 5).expect("valid");
        assert!(p.is_public("/health"));
        assert!(!p.is_public("/a"));
    }

    #[test]
    fn item_13_3_only_health_itself_is_public_and_nothing_is_below_it() {
        let p = RequestPolicy::defaults();
        assert!(p.is_public("/health"));
        for path in ["/health/", "/health/x", "/health/a/b"] {
            assert!(!p.is_public(path), "{path}");
            assert_eq!(p.check_path(path), Err(RequestError::UnknownPath), "{path}");
        }
        assert_eq!(
            p.check_path("/healthz"),
            Err(RequestError::UnknownPath),
            "segment boundaries still hold"
        );
        let hooks = RequestPolicy::from_config("/webhooks/,/health", "/webhooks/", "POST", 5)
            .expect("valid");
        assert!(
            hooks.is_public("/webhooks/twilio"),
            "a prefix ending in / stays a prefix"
        );
    }

    #[test]
    fn item_13_7_percent_escapes_have_one_spelling() {
        for (raw, normal) in [
            ("/api/v1/agents/%61%31", "/api/v1/agents/a1"),
            ("/api/v1/calls/%73tream/1", "/api/v1/calls/stream/1"),
            ("/api/v1/agents/a%2D%5f%7E", "/api/v1/agents/a-_~"),
            ("/api/v1/agents/%c3%a9", "/api/v1/agents/%C3%A9"),
            ("/api/v1/agents/%20x", "/api/v1/agents/%20x"),
            ("/api/v1/agents/a1", "/api/v1/agents/a1"),
            ("q=%7b%22a%22%7d&b=%41", "q=%7B%22a%22%7D&b=A"),
        ] {
            assert_eq!(normalize_escapes(raw).as_deref(), Ok(normal), "{raw}");
        }
        // Idempotent: a normal spelling is its own normal form.
        assert!(matches!(
            normalize_escapes("/api/v1/agents/%C3%A9"),
            Ok(std::borrow::Cow::Owned(ref s)) if s == "/api/v1/agents/%C3%A9"
        ));
        for bad in ["/a/%", "/a/%4", "/a/%zz", "/a/%%41"] {
            assert_eq!(
                normalize_escapes(bad),
                Err(RequestError::InvalidPath),
                "{bad}"
            );
        }
        // An escaped dot stays escaped, and the path check refuses it.
        let p = RequestPolicy::defaults();
        let dot = normalize_escapes("/api/v1/calls/%2e%2e/x").expect("escapes are valid");
        assert_eq!(p.check_path(&dot), Err(RequestError::InvalidPath));
        for params in [
            "/api/v1/agents/a1;v=2",
            "/api/v1/agents;x/a1",
            "/api/v1/calls/;",
        ] {
            assert_eq!(
                p.check_path(params),
                Err(RequestError::InvalidPath),
                "{params}"
            );
        }
    }

    #[test]
    fn item_13_10_framing_without_content_type_rules() {
        let p = RequestPolicy::defaults();
        let form = Some("application/x-www-form-urlencoded");
        assert_eq!(
            p.check_framing(&with_body(
                "GET",
                "/api/v1/analytics/edge/x",
                None,
                Some("4")
            )),
            Err(RequestError::UnexpectedBody)
        );
        assert_eq!(
            p.check_framing(&with_body("GET", "/admin/v1/cache/x", None, None)),
            Err(RequestError::UnexpectedBody),
            "a chunked body on a GET"
        );
        assert_eq!(
            p.check_framing(&with_body("POST", "/x", form, Some("12"))),
            Ok(true),
            "any content type: the worker behind judges it"
        );
        assert_eq!(p.check_framing(&head("GET", "/x")), Ok(false));
        assert_eq!(
            p.check_framing(&head("POST", "/x")),
            Err(RequestError::LengthRequired)
        );
    }

    #[test]
    fn item_13_11_json_bodies_are_utf8_and_shallow() {
        assert_eq!(
            check_json_body(b"{\"a\":\"\xff\xfe\"}"),
            Err(RequestError::MalformedJson),
            "invalid UTF-8 inside a string"
        );
        assert_eq!(
            check_json_body("{\"a\":\"\u{e9}\u{e01}\"}".as_bytes()),
            Ok(())
        );
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(check_json_body(nested(MAX_JSON_DEPTH).as_bytes()), Ok(()));
        assert_eq!(
            check_json_body(nested(MAX_JSON_DEPTH + 1).as_bytes()),
            Err(RequestError::MalformedJson)
        );
        assert_eq!(
            check_json_body(nested(10_000).as_bytes()),
            Err(RequestError::MalformedJson)
        );
        // Brackets inside strings (escaped quotes included) are not nesting.
        let in_string = format!("{{\"a\":\"\\\"{}\"}}", "[".repeat(200));
        assert_eq!(check_json_body(in_string.as_bytes()), Ok(()));
    }

    proptest::proptest! {
        /// Normalising twice is normalising once, and a normal spelling only changes where
        /// an escape could be spelled another way.
        #[test]
        fn normalisation_is_idempotent(raw in "[/a-zA-Z0-9%._~;-]{0,40}") {
            if let Ok(normal) = normalize_escapes(&raw) {
                let again = normalize_escapes(&normal).map(std::borrow::Cow::into_owned);
                proptest::prop_assert_eq!(again, Ok(normal.clone().into_owned()));
                let unescaped_unreserved = normal.as_bytes().windows(3).any(|w| {
                    w[0] == b'%'
                        && u8::from_str_radix(std::str::from_utf8(w.get(1..3).unwrap_or_default()).unwrap_or_default(), 16)
                            .is_ok_and(|b| b.is_ascii_alphanumeric() || b"-_~".contains(&b))
                });
                proptest::prop_assert!(!unescaped_unreserved, "{normal}");
            }
        }
    }
}
