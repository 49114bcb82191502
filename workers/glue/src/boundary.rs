//! The hop's runtime calls made in one crossing each (`js/boundary.js`).
//!
//! Forwarding a request through `web_sys` one call at a time cost about twenty crossings
//! and four awaited promises per hop (a Headers copy and a `set` per header, a
//! `RequestInit` built field by field, an `AbortController`, a timer raced by
//! `Promise.race`, the answer's headers copied), each await a pair of wasm closures and a
//! microtask (profile in DESIGN.md, "Where the rest goes"). The functions bound here make
//! the same runtime calls from JS, once per step: Rust still decides every value (URL,
//! headers, deadline); the JS only calls the runtime with them.
//!
//! Header lists cross as one string ([`HeaderLines`]), built here and checked so a list
//! cannot be read back other than as it was built.

use worker::js_sys::{self, Promise};
use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::web_sys;

#[wasm_bindgen(module = "/js/boundary.js")]
extern "C" {
    /// `new Request(url, …)` from `incoming` (see the JS).
    #[wasm_bindgen(js_name = forwardRequest, catch)]
    pub(crate) fn forward_request(
        incoming: &web_sys::Request,
        url: &str,
        copy_incoming: bool,
        lines: &str,
        body: &JsValue,
        cf: &JsValue,
        abortable: bool,
    ) -> Result<web_sys::Request, JsValue>;

    /// Sends a request with a deadline on its answer's headers; never rejects.
    #[wasm_bindgen(js_name = send)]
    pub(crate) fn send(
        request: &web_sys::Request,
        fetcher: &JsValue,
        timeout_ms: f64,
        copy: bool,
    ) -> Promise;

    /// An answer with headers of its own, its body piped natively through an identity
    /// stream: `[response, end or null]`.
    #[wasm_bindgen(js_name = relay, catch)]
    pub(crate) fn relay(answer: &web_sys::Response) -> Result<js_sys::Array, JsValue>;

    /// The answer with headers of its own (everything else kept, `webSocket` included).
    #[wasm_bindgen(js_name = withOwnHeaders, catch)]
    pub(crate) fn with_own_headers(
        answer: &web_sys::Response,
    ) -> Result<web_sys::Response, JsValue>;

    /// `request.cf` read once: `null`, or `[facts, kept]` (see the JS).
    #[wasm_bindgen(js_name = cfRead)]
    fn cf_read(request: &web_sys::Request) -> JsValue;

    /// `ctx.waitUntil(end.then(settle))`.
    #[wasm_bindgen(js_name = afterEnd)]
    pub(crate) fn after_end(ctx: &JsValue, end: &Promise, settle: &JsValue);

    /// Every header as one list.
    #[wasm_bindgen(js_name = headerLines)]
    fn header_lines(headers: &web_sys::Headers) -> String;

    /// Sets, sets-if-absent and appends header lists in one call.
    #[wasm_bindgen(js_name = editHeaders, catch)]
    pub(crate) fn edit_headers(
        headers: &web_sys::Headers,
        remove: &str,
        set: &str,
        defaults: &str,
        append: &str,
    ) -> Result<(), JsValue>;
}

/// The client facts of `request.cf` the hops use, read in one crossing, and the `cf` to
/// carry onto a service hop: an object of just those fields (the hops below read no
/// other, and the client's TLS and bot details need not travel).
#[derive(Debug, Clone)]
pub struct ClientCf {
    /// Country code (`cf.country`).
    pub country: Option<String>,
    /// The Cloudflare data center (`cf.colo`).
    pub colo: Option<String>,
    /// Latitude, as the runtime gave it (text or a number), unparsed.
    pub latitude: Option<String>,
    /// Longitude, likewise.
    pub longitude: Option<String>,
    /// The object to carry onto a service hop.
    pub forward: JsValue,
}

impl ClientCf {
    /// `request.cf`'s facts; `None` when the request has no `cf` object.
    #[must_use]
    pub fn read(request: &web_sys::Request) -> Option<Self> {
        let pair = cf_read(request);
        if pair.is_null() || pair.is_undefined() {
            return None;
        }
        let pair = js_sys::Array::from(&pair);
        let facts = pair.get(0).as_string()?;
        let [country, colo, latitude, longitude] = parse_facts(&facts);
        Some(Self {
            country,
            colo,
            latitude,
            longitude,
            forward: pair.get(1),
        })
    }
}

/// The four facts of the list `cfRead` builds ("" is absent); a list of another shape is
/// read as none (it cannot happen: the JS always writes four).
fn parse_facts(facts: &str) -> [Option<String>; 4] {
    let parts: Vec<&str> = facts.split('\n').collect();
    let [country, colo, latitude, longitude] = parts.as_slice() else {
        return [None, None, None, None];
    };
    [country, colo, latitude, longitude].map(|p| (!p.is_empty()).then(|| (*p).to_owned()))
}

/// What [`send`] resolves with when the deadline passed first.
pub(crate) const TIMED_OUT: f64 = 0.0;

/// How a body [`relay`]ed ended, by the number its promise resolves with.
pub(crate) fn body_end(code: Option<f64>) -> edge_core::upstream::BodyEnd {
    use edge_core::upstream::BodyEnd;
    match code {
        Some(0.0) => BodyEnd::Complete,
        Some(2.0) => BodyEnd::Abandoned,
        _ => BodyEnd::Broken,
    }
}

/// A name or value that no HTTP header can hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("header {0:?} holds a line break or NUL")]
pub struct InvalidHeader(pub String);

/// A header that cannot cross is this worker's own fault (every value pushed is a runtime
/// header or a constant of ours): a runtime failure, 500 `internal_error`, the header's name
/// in the log.
impl From<InvalidHeader> for worker::Error {
    fn from(e: InvalidHeader) -> Self {
        Self::RustError(e.to_string())
    }
}

/// As for `worker::Error`, where the error is a [`CommonError`](edge_core::error::CommonError).
impl From<InvalidHeader> for edge_core::error::CommonError {
    fn from(_: InvalidHeader) -> Self {
        Self::Internal
    }
}

/// `part` (of header `name`) as it may cross: no `\n`, `\r` or `\0`, which would split a
/// list other than as it was built.
fn checked(part: &str, name: &str) -> Result<(), InvalidHeader> {
    if part.contains(['\n', '\r', '\0']) {
        return Err(InvalidHeader(name.to_owned()));
    }
    Ok(())
}

/// Header pairs, as one string for the JS side: `name\nvalue\nname\nvalue`.
///
/// No valid header name or value holds `\n`, `\r` or `\0`, so [`HeaderLines::push`]
/// refuses them: a value cannot smuggle a pair of its own into the list (a claim
/// `"x\nx-auth-role\nadmin"` would otherwise set a role).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderLines(String);

impl HeaderLines {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `name: value`.
    ///
    /// # Errors
    /// [`InvalidHeader`] when either holds `\n`, `\r` or `\0`.
    pub fn push(&mut self, name: &str, value: &str) -> Result<&mut Self, InvalidHeader> {
        checked(name, name)?;
        checked(value, name)?;
        if !self.0.is_empty() {
            self.0.push('\n');
        }
        self.0.push_str(name);
        self.0.push('\n');
        self.0.push_str(value);
        Ok(self)
    }

    /// The list as it crosses.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it holds no pair.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs, as the JS side reads them (for tests and logs).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut parts = self.0.split('\n').filter(|_| !self.0.is_empty());
        std::iter::from_fn(move || Some((parts.next()?, parts.next()?)))
    }
}

/// Every header of `headers` (a value the runtime joined from several is one pair), read
/// in one crossing.
#[must_use]
pub fn entries(headers: &worker::Headers) -> HeaderLines {
    // The runtime's names and values never hold `\n`, `\r` or `\0`: nothing to check.
    HeaderLines(header_lines(&headers.0))
}

/// [`entries`] as owned pairs (what `Headers::entries().collect()` gave, one crossing
/// instead of one per header and string).
#[must_use]
pub fn entry_pairs(headers: &worker::Headers) -> Vec<(String, String)> {
    entries(headers)
        .pairs()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

/// The headers a forwarded request starts from, before its [`HeaderLines`] are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// A copy of the incoming request's.
    Incoming,
    /// None.
    Empty,
}

/// Header edits applied in one crossing: remove, set, set where absent, append.
#[derive(Debug, Clone, Default)]
pub struct HeaderEdits {
    /// Names whose values are removed (first).
    remove: String,
    /// Replace any value of the name.
    pub set: HeaderLines,
    /// Set only where no value of the name is present.
    pub defaults: HeaderLines,
    /// Appended to the values present.
    pub append: HeaderLines,
}

impl HeaderEdits {
    /// Removes every value of `name` (before the other edits).
    ///
    /// # Errors
    /// [`InvalidHeader`] when it holds `\n`, `\r` or `\0`.
    pub fn remove(&mut self, name: &str) -> Result<&mut Self, InvalidHeader> {
        checked(name, name)?;
        if !self.remove.is_empty() {
            self.remove.push('\n');
        }
        self.remove.push_str(name);
        Ok(self)
    }

    /// Applies the edits to `headers`.
    ///
    /// # Errors
    /// When the runtime refuses a header (immutable headers).
    pub fn apply(&self, headers: &worker::Headers) -> worker::Result<()> {
        if self.remove.is_empty()
            && self.set.is_empty()
            && self.defaults.is_empty()
            && self.append.is_empty()
        {
            return Ok(());
        }
        edit_headers(
            &headers.0,
            &self.remove,
            self.set.as_str(),
            self.defaults.as_str(),
            self.append.as_str(),
        )
        .map_err(worker::Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cf_facts_are_four_fields_and_empty_ones_are_absent() {
        assert_eq!(
            parse_facts("DE\nFRA\n50.1\n8.7"),
            [
                Some("DE".to_owned()),
                Some("FRA".to_owned()),
                Some("50.1".to_owned()),
                Some("8.7".to_owned())
            ]
        );
        assert_eq!(
            parse_facts("\nFRA\n\n"),
            [None, Some("FRA".to_owned()), None, None]
        );
        assert_eq!(parse_facts("DE\nFRA"), [None, None, None, None]);
    }

    #[test]
    fn pairs_read_back_as_pushed() {
        let mut lines = HeaderLines::new();
        assert_eq!(lines.pairs().count(), 0);
        lines
            .push("x-a", "1")
            .expect("valid")
            .push("x-b", "")
            .expect("valid");
        lines.push("x-c", "two words: yes").expect("valid");
        assert_eq!(lines.as_str(), "x-a\n1\nx-b\n\nx-c\ntwo words: yes");
        let pairs: Vec<_> = lines.pairs().collect();
        assert_eq!(
            pairs,
            [("x-a", "1"), ("x-b", ""), ("x-c", "two words: yes")]
        );
    }

    #[test]
    fn a_value_cannot_smuggle_a_pair() {
        let mut lines = HeaderLines::new();
        lines.push("x-auth-user-id", "u1").expect("valid");
        for bad in ["x\nx-auth-role\nadmin", "x\r\nx-auth-role: admin", "x\0"] {
            assert_eq!(
                lines.push("x-auth-user-id", bad),
                Err(InvalidHeader("x-auth-user-id".into()))
            );
            assert!(lines.push(bad, "v").is_err());
        }
        assert_eq!(
            lines.pairs().collect::<Vec<_>>(),
            [("x-auth-user-id", "u1")]
        );
    }
}
