//! The request as the runtime hands it to the `fetch` event, without the worker crate's
//! conversion.
//!
//! `worker::Request::from` reads the request's method, URL, headers and `cf` on arrival;
//! `request.cf` is one of the costliest getters on the request path (the runtime builds
//! the object on first access: 17 % of a `/health` under load, issue 14). A handler that
//! takes [`Incoming`] reads only what it uses, when it uses it; `cf` is read through the
//! [`Hop`](crate::Hop), once, and only by a hop that routes on it. A handler that needs the
//! worker crate's `Request` (body helpers, its typed API) still takes one:
//! [`serve`](crate::serve) converts to whichever the handler asks for.

use std::cell::OnceCell;

use worker::{Headers, Url, web_sys};

/// The incoming request: a handle on the runtime's object, nothing read yet. Not `Clone`:
/// `worker::Headers::clone` copies the headers, so a clone would hold a snapshot where the
/// original holds a handle (`inner().clone()` is the JS `clone()` of the request).
#[derive(Debug)]
pub struct Incoming(web_sys::Request, OnceCell<Headers>);

impl From<web_sys::Request> for Incoming {
    fn from(raw: web_sys::Request) -> Self {
        Self(raw, OnceCell::new())
    }
}

impl Incoming {
    /// The runtime's request object.
    #[must_use]
    pub fn inner(&self) -> &web_sys::Request {
        &self.0
    }

    /// The raw method (`PROPFIND` stays `PROPFIND`; `worker::Method` turns unknown ones
    /// into `GET`).
    #[must_use]
    pub fn method(&self) -> String {
        self.0.method()
    }

    /// The URL's path, as sent (percent-encoding kept), without query or fragment.
    #[must_use]
    pub fn path(&self) -> String {
        path_of(&self.0.url())
    }

    /// The URL, parsed.
    ///
    /// # Errors
    /// Never for a URL the runtime handed over; kept fallible as `worker::Request::url`.
    pub fn url(&self) -> worker::Result<Url> {
        Ok(Url::parse(&self.0.url())?)
    }

    /// The headers (a handle on the runtime's object, not a copy; fetched on first use).
    #[must_use]
    pub fn headers(&self) -> &Headers {
        self.1.get_or_init(|| Headers(self.0.headers()))
    }

    /// The request as the worker crate's `Request`, for a handler that needs its API (body
    /// helpers, typed reads): converted now, which reads `cf` among the rest.
    #[must_use]
    pub fn into_request(self) -> worker::Request {
        self.0.into()
    }

    /// Whether the request has a body stream.
    #[must_use]
    pub fn has_body(&self) -> bool {
        self.0.body().is_some()
    }
}

/// The path of an already serialized WHATWG URL (what `Request.url` returns): the first
/// `/` after the authority starts it, and `?` or `#` end it (inside the path both are
/// always percent-encoded). The same reading as `worker::Request::path`, without parsing.
#[must_use]
pub fn path_of(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return "/".to_owned();
    };
    let after = &url[scheme_end + 3..];
    let Some(start) = after.find(['/', '?', '#']) else {
        return "/".to_owned();
    };
    let rest = &after[start..];
    if !rest.starts_with('/') {
        return "/".to_owned();
    }
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    rest[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::path_of;

    #[test]
    fn the_path_is_what_follows_the_authority_up_to_query_or_fragment() {
        assert_eq!(path_of("https://a.example/v1/calls?x=1#f"), "/v1/calls");
        assert_eq!(path_of("http://127.0.0.1:8787/health"), "/health");
        assert_eq!(path_of("https://a.example/%3F/x?q"), "/%3F/x");
        assert_eq!(path_of("https://a.example/"), "/");
    }

    #[test]
    fn a_url_without_a_path_has_the_root_path() {
        assert_eq!(path_of("https://a.example"), "/");
        assert_eq!(path_of("https://a.example?q=1"), "/");
        assert_eq!(path_of("https://a.example#f"), "/");
        assert_eq!(path_of("not a url"), "/");
    }

    #[test]
    fn user_info_and_ports_are_part_of_the_authority() {
        assert_eq!(path_of("https://u:p@a.example:8443/x/y"), "/x/y");
    }
}
