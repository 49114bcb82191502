//! The dashboard: one server-rendered page with its data embedded, drawn by an inline
//! script into SVG (no external assets, no follow-up requests, so it works for every kind
//! of reader: admin header, sealed identity or sign-in cookie), and the sign-in form that
//! sets the cookie.
//!
//! The page's Content-Security-Policy allows exactly its own script and style (by hash)
//! and nothing else.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use edge_core::ServiceName;
use edge_core::admin;
use edge_core::analytics::query::{Dimension, Query, QueryError};
use edge_core::analytics::window::{HOUR_MS, Resolution};
use edge_core::error::CommonError;
use edge_core::signed::session;
use edge_glue::body::{self, BodyError};
use edge_glue::now_ms;
use sha2::{Digest, Sha256};
use worker::{Env, Request, Response};

use crate::error::Error;
use crate::settings::Settings;
use crate::{read, store_client};

/// Where the dashboard and its sign-in live.
pub(crate) const DASHBOARD_PATH: &str = "/api/v1/analytics/edge/dashboard";
/// Where the sign-in form posts.
pub(crate) const SESSION_PATH: &str = "/api/v1/analytics/edge/session";
/// The cookie's scope: the read API.
const COOKIE_PATH: &str = "/api/v1/analytics/edge/";
/// Largest sign-in form body, bytes.
const MAX_FORM_BYTES: usize = 4096;

const HEAD: &str = include_str!("../assets/head.html");
const HTML: &str = include_str!("../assets/dashboard.html");
const SIGNIN: &str = include_str!("../assets/signin.html");
const CSS: &str = include_str!("../assets/dashboard.css");
const JS: &str = include_str!("../assets/dashboard.js");

/// A range the page offers: name, span, resolution.
type Range = (&'static str, u64, Resolution);

/// The ranges the page offers; the first is the default.
const RANGES: [Range; 4] = [
    ("1h", HOUR_MS, Resolution::Minute),
    ("6h", 6 * HOUR_MS, Resolution::Minute),
    ("24h", 24 * HOUR_MS, Resolution::Minute),
    ("7d", 7 * 24 * HOUR_MS, Resolution::Hour),
];

/// The workers that report metrics (the collector does not report its own).
const REPORTERS: [ServiceName; 4] = [
    ServiceName::AuthValidator,
    ServiceName::CacheManager,
    ServiceName::VoiceRouter,
    ServiceName::ChatWebhook,
];

fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = |s: &str| STANDARD.encode(Sha256::digest(s.as_bytes()));
        format!(
            "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            hash(JS),
            hash(CSS)
        )
    })
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The shared `<head>`: charset, viewport, no referrer, `title`, the stylesheet.
fn head(title: &str) -> String {
    HEAD.replace("__TITLE__", title).replace("__CSS__", CSS)
}

fn html_response(status: u16, body: String) -> worker::Result<Response> {
    let resp = Response::from_html(body)?.with_status(status);
    let h = resp.headers();
    h.set("content-security-policy", csp())?;
    h.set("cache-control", "no-store")?;
    h.set("x-content-type-options", "nosniff")?;
    h.set("referrer-policy", "no-referrer")?;
    Ok(resp)
}

/// The sign-in page, with `error` shown (empty for none).
pub(crate) fn signin(status: u16, error: &str) -> worker::Result<Response> {
    let body = SIGNIN
        .replace("__HEAD__", &head("Sign in · edge-workers analytics"))
        .replace("__ACTION__", SESSION_PATH)
        .replace("__ERROR__", &escape_html(error));
    html_response(status, body)
}

/// Whether the client wants a page rather than JSON.
pub(crate) fn wants_html(req: &Request) -> bool {
    req.headers()
        .get("accept")
        .ok()
        .flatten()
        .is_some_and(|a| a.contains("text/html"))
}

/// `POST …/session`: checks the form's admin secret and sets the sign-in cookie. A form
/// that is too large or the wrong secret gets the sign-in page again (HTML, for the
/// browser that posted it); other failures are JSON errors.
pub(crate) async fn sign_in(req: &Request, settings: &Settings) -> Result<Response, Error> {
    let secret = settings.admin_secret()?;
    let timeout_ms = settings.body_timeout_ms()?;
    let form = match body::read_limited(req.inner(), MAX_FORM_BYTES, timeout_ms).await {
        Ok(form) => form,
        Err(BodyError::TooLarge(_)) => return Ok(signin(413, "The form is too large.")?),
        Err(e) => return Err(e.into()),
    };
    let presented = form_urlencoded::parse(&form)
        .find(|(k, _)| k == "secret")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    match admin::matches(&presented, secret) {
        Ok(()) => {
            let cookie = format!(
                "{}={}; Path={COOKIE_PATH}; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
                session::COOKIE,
                session::issue(secret, now_ms() / 1000),
                session::LIFETIME_S
            );
            let resp = Response::empty()?.with_status(303);
            resp.headers().set("location", DASHBOARD_PATH)?;
            resp.headers().set("set-cookie", &cookie)?;
            resp.headers().set("cache-control", "no-store")?;
            Ok(resp)
        }
        Err(CommonError::Unauthorized) => Ok(signin(401, "That is not the admin secret.")?),
        Err(e) => Err(e.into()),
    }
}

/// The page's parameters: `range` (1h, 6h, 24h, 7d) and `worker` (whose requests, error
/// rate and latency the cards show).
fn params(pairs: &[(String, String)]) -> Result<(Range, ServiceName), QueryError> {
    let mut range = RANGES[0];
    let mut worker = ServiceName::AuthValidator;
    for (k, v) in pairs {
        match k.as_str() {
            "range" => {
                range = RANGES
                    .into_iter()
                    .find(|r| r.0 == v)
                    .ok_or(QueryError::Invalid {
                        field: "range",
                        reason: "expected 1h, 6h, 24h or 7d",
                    })?;
            }
            "worker" => {
                worker =
                    REPORTERS
                        .into_iter()
                        .find(|w| w.as_str() == v)
                        .ok_or(QueryError::Invalid {
                            field: "worker",
                            reason: "not a reporting worker",
                        })?;
            }
            other => {
                return Err(QueryError::Unknown {
                    field: other.chars().take(64).collect(),
                });
            }
        }
    }
    Ok((range, worker))
}

fn links(items: impl Iterator<Item = (String, String, bool)>) -> String {
    items
        .map(|(href, label, current)| {
            let aria = if current {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!(
                "<a href=\"{}\"{aria}>{}</a>",
                escape_html(&href),
                escape_html(&label)
            )
        })
        .collect()
}

/// `GET …/dashboard`: the page, with its data embedded.
pub(crate) async fn page(req: &Request, env: &Env) -> Result<Response, Error> {
    let ((name, span, res), worker) = params(&read::pairs(req)?)?;
    let now = now_ms();
    let to_ms = res.window_start(now) + res.width_ms();
    let query = |group_by: Vec<Dimension>, only: Option<ServiceName>| Query {
        resolution: res,
        from_ms: to_ms - span,
        to_ms,
        group_by,
        worker: only,
        series: true,
    };
    let queries = [
        query(vec![Dimension::Worker], None),
        query(Vec::new(), Some(ServiceName::CacheManager)),
        query(vec![Dimension::Region], Some(ServiceName::VoiceRouter)),
    ];
    // One call per store (every shard of every day) for all three.
    let [by_worker, cache, regions] = store_client::query_all(env, queries).await?;
    let data = serde_json::json!({
        "range": name,
        "worker": worker.as_str(),
        "generated_ms": now,
        "workers": by_worker,
        "cache": cache,
        "regions": regions,
    });
    // Inside <script>, "<" could close the element: JSON allows it escaped.
    let data = serde_json::to_string(&data)?
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    let ranges = links(RANGES.iter().map(|r| {
        (
            format!("?range={}&worker={}", r.0, worker.as_str()),
            r.0.to_owned(),
            r.0 == name,
        )
    }));
    let workers = links(REPORTERS.into_iter().map(|w| {
        (
            format!("?range={name}&worker={}", w.as_str()),
            w.as_str().to_owned(),
            w == worker,
        )
    }));
    let meta = format!(
        "{} windows, UTC, generated {}",
        res.as_str(),
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(now))
    );
    let body = HTML
        .replace("__HEAD__", &head("edge-workers analytics"))
        .replace("__JS__", JS)
        .replace("__RANGES__", &ranges)
        .replace("__WORKERS__", &workers)
        .replace("__META__", &escape_html(&meta))
        .replace("__WORKER__", worker.as_str())
        .replace("__RES__", res.as_str())
        .replace("__DATA__", &data);
    Ok(html_response(200, body)?)
}
