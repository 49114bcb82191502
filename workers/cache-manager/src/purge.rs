//! The purge API (admin secret): `POST /admin/v1/cache/purge` with
//! `{"urls": ["/api/v1/agents/a1?x=1", "https://host/path"], "prefixes": ["/api/v1/agents/"]}`.
//!
//! A URL purges every stored variant and owner of that path and query (its KV keys are
//! listed and deleted, and this location's local copy); a prefix purges every entry whose
//! path starts with it by bumping its generation (one KV write, nothing listed: the
//! entries become unreachable everywhere and expire; see `tiers`). Answers
//! `{"deleted": n, "complete": bool}` (`deleted`: the URLs' keys deleted), with
//! `"invalidated_prefixes": n` when prefixes were given; `complete` is false when more
//! than 10,000 keys matched a URL (call again) or a generation could not be written.

use edge_core::cache::key;
use edge_glue::body::{self, BodyError};
use edge_glue::{Hop, admin, respond};
use serde::Deserialize;
use worker::{Env, Request, Response, Url};

use crate::error::Error;
use crate::settings::Settings;
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
pub(crate) async fn handle(req: Request, env: &Env, hop: &Hop) -> Result<Response, Error> {
    admin::require_sealed_admin(req.inner(), env, hop)?;
    let settings = Settings::load(env)?;
    let bytes = body::read_limited(req.inner(), MAX_BODY, settings.body_timeout_ms)
        .await
        .map_err(|e| match e {
            BodyError::Read(_) => Error::from(InvalidPurge("unreadable body")),
            e => Error::from(e),
        })?;
    let purge = serde_json::from_slice::<PurgeRequest>(&bytes)
        .map_err(|_| InvalidPurge("expected {\"urls\": [..], \"prefixes\": [..]}"))?;
    let (uris, prefixes) = targets(&purge)?;
    let tiers = store::tiered(env)?;
    let done = tiers.purge(&uris, &prefixes).await;
    let mut answer = serde_json::json!({
        "deleted": done.purged.deleted,
        "complete": done.purged.complete,
    });
    if !prefixes.is_empty() {
        answer["invalidated_prefixes"] = done.invalidated_prefixes.into();
    }
    Ok(respond::json(200, &answer)?)
}

/// The URIs' key prefixes and the path prefixes `purge` names.
fn targets(purge: &PurgeRequest) -> Result<(Vec<String>, Vec<String>), InvalidPurge> {
    if purge.urls.len() + purge.prefixes.len() > MAX_TARGETS {
        return Err(InvalidPurge("at most 100 urls and prefixes"));
    }
    if purge.urls.is_empty() && purge.prefixes.is_empty() {
        return Err(InvalidPurge("nothing to purge"));
    }
    let mut uris = Vec::new();
    for url in &purge.urls {
        let (path, query) = path_and_query(url).ok_or(InvalidPurge(
            "a url is neither a path nor an absolute http(s) URL with an ASCII (punycode) host",
        ))?;
        uris.push(key::uri_prefix(&path, query.as_deref()));
    }
    for prefix in &purge.prefixes {
        if !prefix.starts_with('/') || prefix.contains(char::is_whitespace) {
            return Err(InvalidPurge("a prefix must be a path starting with /"));
        }
        if prefix.len() > key::MAX_PATH_BYTES {
            return Err(InvalidPurge("a prefix is longer than any cached path"));
        }
    }
    Ok((uris, purge.prefixes.clone()))
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
