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

use crate::error::Error;
use crate::settings::Settings;
use crate::{flow, store};

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
pub(crate) struct InvalidPurge(&'static str);

impl edge_core::HttpError for InvalidPurge {
    fn status(&self) -> u16 {
        400
    }
    fn code(&self) -> &'static str {
        "invalid_purge"
    }
}

/// Answers a purge request.
pub(crate) async fn handle(mut req: Request, env: &Env, hop: &Hop) -> Result<Response, Error> {
    admin::require_sealed_admin(&req, env, hop)?;
    let settings = Settings::load(env)?;
    let bytes = body::read_limited(&mut req, MAX_BODY, settings.body_timeout_ms)
        .await
        .map_err(|e| match e {
            BodyError::Read(_) => Error::from(InvalidPurge("unreadable body")),
            e => Error::from(e),
        })?;
    let purge = serde_json::from_slice::<PurgeRequest>(&bytes)
        .map_err(|_| InvalidPurge("expected {\"urls\": [..], \"prefixes\": [..]}"))?;
    let targets = targets(&purge)?;
    let kv = store::open(env)?;
    let purged = flow::purge(&kv, &targets).await;
    Ok(respond::json(
        200,
        &serde_json::json!({ "deleted": purged.deleted, "complete": purged.complete }),
    )?)
}

/// The key prefixes `purge` names.
fn targets(purge: &PurgeRequest) -> Result<Vec<String>, InvalidPurge> {
    if purge.urls.len() + purge.prefixes.len() > MAX_TARGETS {
        return Err(InvalidPurge("at most 100 urls and prefixes"));
    }
    if purge.urls.is_empty() && purge.prefixes.is_empty() {
        return Err(InvalidPurge("nothing to purge"));
    }
    let mut targets = Vec::new();
    for url in &purge.urls {
        let (path, query) =
            path_and_query(url).ok_or(InvalidPurge("a url is neither absolute nor a path"))?;
        targets.push(key::uri_prefix(&path, query.as_deref()));
    }
    for prefix in &purge.prefixes {
        if !prefix.starts_with('/') || prefix.contains(char::is_whitespace) {
            return Err(InvalidPurge("a prefix must be a path starting with /"));
        }
        targets.push(key::path_prefix(prefix));
    }
    Ok(targets)
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
