//! The purge API (admin secret): `POST /admin/v1/cache/purge` with
//! `{"urls": ["/api/v1/agents/a1?x=1", "https://host/path"], "prefixes": ["/api/v1/agents/"]}`.
//!
//! A URL purges every stored variant and owner of that path and query; a prefix purges
//! every entry whose path starts with it. Answers `{"deleted": n, "complete": bool}`;
//! `complete` is false when more than 10,000 entries matched (call again).

use edge_core::cache::key;
use edge_glue::body::{self, BodyError};
use edge_glue::{Hop, admin, respond};
use serde::Deserialize;
use worker::{Env, Request, Response, Url};

use crate::store;

/// Largest request body.
const MAX_BODY: usize = 64 * 1024;
/// Most URLs plus prefixes in one request.
const MAX_TARGETS: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeRequest {
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    prefixes: Vec<String>,
}

/// A refused purge request.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct InvalidPurge(&'static str);

impl edge_core::HttpError for InvalidPurge {
    fn status(&self) -> u16 {
        400
    }
    fn code(&self) -> &'static str {
        "invalid_purge"
    }
}

/// Answers a purge request.
pub(crate) async fn handle(mut req: Request, env: &Env, hop: &Hop) -> worker::Result<Response> {
    if let Err(e) = admin::require_sealed_admin(&req, env, hop) {
        return respond::error_response(&e);
    }
    let timeout_ms = match body::timeout_ms(env) {
        Ok(t) => t,
        Err(e) => return respond::error_response(&e),
    };
    let bytes = match body::read_limited(&mut req, MAX_BODY, timeout_ms).await {
        Ok(b) => b,
        Err(BodyError::TooLarge(e)) => return respond::error_response(&e),
        Err(BodyError::Timeout(e)) => return respond::error_response(&e),
        Err(BodyError::Config(e)) => return respond::error_response(&e),
        Err(BodyError::Read(_)) => {
            return respond::error_response(&InvalidPurge("unreadable body"));
        }
    };
    let Ok(purge) = serde_json::from_slice::<PurgeRequest>(&bytes) else {
        return respond::error_response(&InvalidPurge(
            "expected {\"urls\": [..], \"prefixes\": [..]}",
        ));
    };
    if purge.urls.len() + purge.prefixes.len() > MAX_TARGETS {
        return respond::error_response(&InvalidPurge("at most 100 urls and prefixes"));
    }
    if purge.urls.is_empty() && purge.prefixes.is_empty() {
        return respond::error_response(&InvalidPurge("nothing to purge"));
    }
    let mut targets = Vec::new();
    for url in &purge.urls {
        let Some((path, query)) = path_and_query(url) else {
            return respond::error_response(&InvalidPurge("a url is neither absolute nor a path"));
        };
        targets.push(key::uri_prefix(&path, query.as_deref()));
    }
    for prefix in &purge.prefixes {
        if !prefix.starts_with('/') || prefix.contains(char::is_whitespace) {
            return respond::error_response(&InvalidPurge(
                "a prefix must be a path starting with /",
            ));
        }
        targets.push(key::path_prefix(prefix));
    }
    let kv = match store::open(env) {
        Ok(kv) => kv,
        Err(e) => return respond::error_response(&e),
    };
    let (mut deleted, mut complete) = (0, true);
    for target in &targets {
        let (n, all) = store::delete_prefix(&kv, target).await;
        deleted += n;
        complete &= all;
    }
    respond::json(
        200,
        &serde_json::json!({ "deleted": deleted, "complete": complete }),
    )
}

/// `/p?q` or `https://host/p?q` → (`/p`, `Some("q")`), normalized like request URLs.
fn path_and_query(raw: &str) -> Option<(String, Option<String>)> {
    let url = if raw.starts_with('/') {
        Url::parse(&format!("http://purge.invalid{raw}")).ok()?
    } else {
        Url::parse(raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))?
    };
    Some((url.path().to_owned(), url.query().map(str::to_owned)))
}
