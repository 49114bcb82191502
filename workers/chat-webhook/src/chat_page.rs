//! The web support chat's page: `GET /chat` and its assets under `GET /chat/assets/`
//! (`chat.js`, `voice.js`, `chat.css`, the icon `chat.svg`), embedded in the worker (`include_str!`),
//! so the page loads nothing from anywhere else.
//!
//! - Content-Security-Policy: only the worker's own script, style, images and connections
//!   (`connect-src 'self'` covers the same-origin WebSocket); no inline script or style, no
//!   `<base>`, no form posts; `frame-ancestors` from `CHAT_FRAME_ANCESTORS` (default
//!   `'self'`), which is how a site is allowed to embed the page in an iframe.
//! - Caching: every answer carries a strong `ETag` (FNV-1a of the bytes served) and a
//!   matching `If-None-Match` gets `304`. The page links its assets with `?v=<their tag>`:
//!   such a versioned asset is `immutable` for a year (a new deployment changes the link),
//!   the page itself and an unversioned asset are revalidated on every use (`no-cache`).
//!
//! Who can reach it: anyone (it is a public page and holds no data; the conversation goes
//! through the session API with its token). Its cheapest abuse is fetching it in a loop,
//! which costs one table lookup and a copy of at most ~30 KB per request, or a `304`.

use std::sync::OnceLock;

use edge_core::error::CommonError;
use edge_core::route::RouteError;
use edge_core::{list, origin};
use edge_glue::config;
use worker::{Env, Headers, Request, Response};

use crate::error::Error;

const HTML: &str = include_str!("chat_page/index.html");
const JS: &str = include_str!("chat_page/chat.js");
/// The mic: voice messages and spoken answers (`crate::voice`), beside `chat.js`.
const VOICE_JS: &str = include_str!("chat_page/voice.js");
const CSS: &str = include_str!("chat_page/chat.css");
const ICON: &str = include_str!("chat_page/chat.svg");

/// Where the page lives; its assets are under `<PAGE_PATH>/assets/`.
pub(crate) const PAGE_PATH: &str = "/chat";
/// The var listing who may embed the page (CSP `frame-ancestors` sources, comma-separated).
const FRAME_ANCESTORS_VAR: &str = "CHAT_FRAME_ANCESTORS";
/// Sources in `CHAT_FRAME_ANCESTORS`, at most.
const MAX_FRAME_ANCESTORS: usize = 32;

/// A versioned asset (its link carries `?v=<tag>`): cached for a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The page and unversioned assets: stored, but revalidated (`304`) on every use.
const REVALIDATE: &str = "no-cache";

/// One thing the page serves: its body, type and strong validator.
#[derive(Debug)]
pub(crate) struct Served {
    body: String,
    content_type: &'static str,
    /// `"<16 hex digits>"`: FNV-1a 64 of `body`.
    etag: String,
}

impl Served {
    fn new(body: String, content_type: &'static str) -> Self {
        let etag = format!("\"{:016x}\"", fnv1a64(body.as_bytes()));
        Self {
            body,
            content_type,
            etag,
        }
    }

    /// The tag without its quotes: the `v` of a versioned link.
    fn version(&self) -> &str {
        self.etag.trim_matches('"')
    }
}

/// The page and its assets, built once per isolate: the page's links carry its assets'
/// versions, so its own tag changes whenever theirs do.
struct Site {
    page: Served,
    js: Served,
    voice_js: Served,
    css: Served,
    icon: Served,
}

fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        let js = Served::new(JS.to_owned(), "text/javascript; charset=utf-8");
        let voice_js = Served::new(VOICE_JS.to_owned(), "text/javascript; charset=utf-8");
        let css = Served::new(CSS.to_owned(), "text/css; charset=utf-8");
        let icon = Served::new(ICON.to_owned(), "image/svg+xml");
        let link = |file: &str, s: &Served| format!("{PAGE_PATH}/assets/{file}?v={}", s.version());
        let html = HTML
            .replace("__CHAT_JS__", &link("chat.js", &js))
            .replace("__VOICE_JS__", &link("voice.js", &voice_js))
            .replace("__CHAT_CSS__", &link("chat.css", &css))
            .replace("__CHAT_ICON__", &link("chat.svg", &icon));
        Site {
            page: Served::new(html, "text/html; charset=utf-8"),
            js,
            voice_js,
            css,
            icon,
        }
    })
}

/// FNV-1a, 64 bits: a cache validator for bytes the deployment fixes (not a security
/// hash: nobody chooses what is hashed).
const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The page's settings: its Content-Security-Policy, `frame-ancestors` included.
pub(crate) struct PageSettings {
    csp: String,
}

edge_glue::settings_per_isolate!(PageSettings);

impl PageSettings {
    fn parse(env: &Env) -> Result<Self, CommonError> {
        let raw = config::optional_var(env, FRAME_ANCESTORS_VAR);
        let ancestors = frame_ancestors(raw.as_deref())
            .ok_or(CommonError::Misconfigured(FRAME_ANCESTORS_VAR))?;
        Ok(Self {
            csp: csp(&ancestors),
        })
    }
}

/// The page's Content-Security-Policy with `ancestors` as its `frame-ancestors`
/// (`media-src blob:`: a spoken answer is fetched with the session token and played from
/// a blob URL).
fn csp(ancestors: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         img-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'none'; \
         frame-ancestors {ancestors}"
    )
}

/// `CHAT_FRAME_ANCESTORS` as CSP sources: absent or blank is `'self'`; otherwise a comma
/// (or space) separated list of `'self'`, `'none'` (alone), `https:`, or origins
/// `http(s)://host[:port]` whose host may start with `*.`. `None` for anything else (a
/// `;` or quote could otherwise rewrite the policy), or more than [`MAX_FRAME_ANCESTORS`].
fn frame_ancestors(raw: Option<&str>) -> Option<String> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Some("'self'".to_owned());
    };
    let sources: Vec<&str> = list::items(raw)
        .flat_map(str::split_ascii_whitespace)
        .collect();
    let valid = |s: &str| match s {
        "'self'" | "https:" => true,
        _ => {
            let host_wildcard = s
                .split_once("://*.")
                .map(|(scheme, host)| format!("{scheme}://{host}"));
            origin::is_http_origin(host_wildcard.as_deref().unwrap_or(s))
        }
    };
    let none_alone = sources == ["'none'"];
    if sources.is_empty()
        || sources.len() > MAX_FRAME_ANCESTORS
        || !(none_alone || sources.iter().all(|s| valid(s)))
    {
        return None;
    }
    Some(sources.join(" "))
}

/// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110 §13.1.2) or is `*`.
fn none_match(if_none_match: &str, etag: &str) -> bool {
    let opaque = |t: &str| t.strip_prefix("W/").unwrap_or(t).to_owned();
    if_none_match.trim() == "*" || list::items(if_none_match).any(|t| opaque(t) == opaque(etag))
}

/// What one request gets: `304` or `200` with the body, and the cache policy.
#[derive(Debug, PartialEq, Eq)]
struct Answer<'a> {
    status: u16,
    body: Option<&'a str>,
    content_type: &'a str,
    etag: &'a str,
    cache_control: &'static str,
}

/// The answer for `served`, fetched with the query's `v` (`version`) and the request's
/// `If-None-Match`; `versioned_ok` says whether `v` may make it immutable (assets only).
fn answer<'a>(
    served: &'a Served,
    version: Option<&str>,
    if_none_match: Option<&str>,
    versioned_ok: bool,
) -> Answer<'a> {
    let cache_control = if versioned_ok && version == Some(served.version()) {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let fresh = if_none_match.is_some_and(|h| none_match(h, &served.etag));
    Answer {
        status: if fresh { 304 } else { 200 },
        body: (!fresh).then_some(served.body.as_str()),
        content_type: served.content_type,
        etag: &served.etag,
        cache_control,
    }
}

/// The asset named `file` (`chat.js`, `voice.js`, `chat.css`, `chat.svg`).
fn asset_named(file: &str) -> Option<&'static Served> {
    match file {
        "chat.js" => Some(&site().js),
        "voice.js" => Some(&site().voice_js),
        "chat.css" => Some(&site().css),
        "chat.svg" => Some(&site().icon),
        _ => None,
    }
}

/// `GET /chat`: the page.
pub(crate) fn page(req: &Request, env: &Env) -> Result<Response, Error> {
    let settings = PageSettings::load(env)?;
    respond(req, &settings, &site().page, false)
}

/// `GET /chat/assets/:file`: the page's script, stylesheet or icon; any other name is 404.
pub(crate) fn asset(file: Option<&str>, req: &Request, env: &Env) -> Result<Response, Error> {
    let served = file.and_then(asset_named).ok_or(RouteError::NotFound)?;
    let settings = PageSettings::load(env)?;
    respond(req, &settings, served, true)
}

fn respond(
    req: &Request,
    settings: &PageSettings,
    served: &Served,
    versioned_ok: bool,
) -> Result<Response, Error> {
    let url = req.url()?;
    let version = url
        .query_pairs()
        .find(|(k, _)| k == "v")
        .map(|(_, v)| v.into_owned());
    let if_none_match = req.headers().get("if-none-match")?;
    let a = answer(
        served,
        version.as_deref(),
        if_none_match.as_deref(),
        versioned_ok,
    );
    let headers = Headers::new();
    headers.set("etag", a.etag)?;
    headers.set("cache-control", a.cache_control)?;
    headers.set("content-security-policy", &settings.csp)?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("referrer-policy", "no-referrer")?;
    headers.set(
        "permissions-policy",
        "camera=(), microphone=(self), geolocation=(), payment=()",
    )?;
    let resp = match a.body {
        Some(body) => {
            headers.set("content-type", a.content_type)?;
            Response::ok(body)?
        }
        None => Response::empty()?,
    };
    Ok(resp.with_status(a.status).with_headers(headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_strong_and_follow_the_bytes() {
        let a = Served::new("abc".to_owned(), "text/plain");
        let b = Served::new("abd".to_owned(), "text/plain");
        assert_eq!(a.etag.len(), 18);
        assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
        assert_ne!(a.etag, b.etag);
        assert_eq!(a.etag, Served::new("abc".to_owned(), "x").etag);
        // The published FNV-1a 64 test vector.
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn the_page_links_its_assets_by_version_and_nothing_else() {
        let s = site();
        assert!(
            s.page
                .body
                .contains(&format!("/chat/assets/chat.js?v={}", s.js.version()))
        );
        assert!(
            s.page
                .body
                .contains(&format!("/chat/assets/chat.css?v={}", s.css.version()))
        );
        assert!(
            s.page
                .body
                .contains(&format!("/chat/assets/chat.svg?v={}", s.icon.version()))
        );
        assert!(!s.page.body.contains("__CHAT_"));
        // No inline script or style, nothing from elsewhere.
        assert!(
            s.page
                .body
                .contains(&format!("/chat/assets/voice.js?v={}", s.voice_js.version()))
        );
        assert_eq!(s.page.body.matches("<script").count(), 2);
        assert!(!s.page.body.contains("<style"));
        assert!(!s.page.body.contains(" style="));
        assert!(!s.page.body.contains(" on"), "no inline event handler");
        assert!(
            !s.page.body.contains("//"),
            "no absolute or protocol-relative URL"
        );
        assert!(s.page.body.contains("name=\"viewport\""));
        // Provider and user text only ever become text.
        for js in [JS, VOICE_JS] {
            assert!(!js.contains("innerHTML") && !js.contains("insertAdjacentHTML"));
            assert!(!js.contains("document.write") && !js.contains("eval("));
        }
        assert_eq!(
            asset_named("chat.js").map(|a| a.content_type),
            Some(s.js.content_type)
        );
        assert!(asset_named("../lib.rs").is_none() && asset_named("index.html").is_none());
    }

    #[test]
    fn versioned_assets_are_immutable_others_revalidate() {
        let s = site();
        let v = s.js.version().to_owned();
        assert_eq!(answer(&s.js, Some(&v), None, true).cache_control, IMMUTABLE);
        assert_eq!(
            answer(&s.js, Some("0"), None, true).cache_control,
            REVALIDATE
        );
        assert_eq!(answer(&s.js, None, None, true).cache_control, REVALIDATE);
        // The page never: its links must be re-read after a deployment.
        let pv = s.page.version().to_owned();
        assert_eq!(
            answer(&s.page, Some(&pv), None, false).cache_control,
            REVALIDATE
        );
        let full = answer(&s.css, None, None, true);
        assert_eq!((full.status, full.body), (200, Some(CSS)));
    }

    #[test]
    fn if_none_match_gives_304_without_a_body() {
        let s = site();
        let tag = s.page.etag.clone();
        for header in [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"x\", {tag}"),
            "*".to_owned(),
        ] {
            let a = answer(&s.page, None, Some(&header), false);
            assert_eq!((a.status, a.body), (304, None), "{header}");
            assert_eq!(a.etag, tag);
        }
        for header in ["", "\"other\"", "W/\"other\", ", ",,,"] {
            assert_eq!(
                answer(&s.page, None, Some(header), false).status,
                200,
                "{header}"
            );
        }
    }

    #[test]
    fn frame_ancestors_default_to_self_and_take_only_sources() {
        assert_eq!(frame_ancestors(None).as_deref(), Some("'self'"));
        assert_eq!(frame_ancestors(Some("  ")).as_deref(), Some("'self'"));
        assert_eq!(
            frame_ancestors(Some(
                "'self', https://shop.example.com, https://*.example.org:8443"
            ))
            .as_deref(),
            Some("'self' https://shop.example.com https://*.example.org:8443")
        );
        assert_eq!(
            frame_ancestors(Some("https://a.example https://b.example")).as_deref(),
            Some("https://a.example https://b.example")
        );
        assert_eq!(frame_ancestors(Some("'none'")).as_deref(), Some("'none'"));
        for bad in [
            "'none', 'self'",
            "*",
            "https://a.example; script-src *",
            "'unsafe-inline'",
            "https://a.example/path",
            "javascript:",
            "https://A.example",
            "'self' 'report-sample'",
        ] {
            assert_eq!(frame_ancestors(Some(bad)), None, "{bad}");
        }
        let many = vec!["https://a.example"; MAX_FRAME_ANCESTORS + 1].join(",");
        assert_eq!(frame_ancestors(Some(&many)), None);
    }

    #[test]
    fn the_policy_is_strict() {
        assert_eq!(
            csp("https://shop.example"),
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'none'; \
             frame-ancestors https://shop.example"
        );
    }
}
