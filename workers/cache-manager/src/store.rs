//! The entry store's two tiers (see [`tiers`]): the runtime's Cache API
//! (`caches.default`) as the per-location [`tiers::Local`], KV namespace `HTTP_CACHE` as
//! the shared [`tiers::Shared`], with the purge generations under `g:<prefix>`.
//!
//! Failures are logged here and reported as [`StoreFault`]: the cache must never take a
//! request down. KV is eventually consistent: another location may serve an entry for up
//! to about a minute after it was purged there. The Cache API does nothing on a
//! `workers.dev` hostname: there every local lookup misses and KV answers, as before.

use edge_core::cache::decide::MIN_STORE_TTL_S;
use edge_core::error::CommonError;
use futures::future::join_all;
use worker::kv::KvStore;
use worker::{Env, console_warn};

use crate::flow::{Purged, StoreFault};
use crate::runtime::RuntimeClock;
use crate::tiers::{self, Generations, Tiered};
use edge_core::cache::decide::MAX_STORE_TTL_S;
use edge_core::cache::key::Generation;
use worker::{Cache, Headers, Response};

/// KV binding of the cache.
const BINDING: &str = "HTTP_CACHE";
/// Most keys one purge or invalidation deletes (the rest stays until it expires).
const MAX_DELETES: usize = 10_000;
/// Keys listed per page.
const PAGE: u64 = 1000;
/// Prefix of the generation keys (`g:<purged prefix>`).
const GENERATION_PREFIX: &str = "g:";
/// A generation outlives every entry stored under it (then it is no longer needed: the
/// keys it made unreachable have expired).
const GENERATION_KEEP_S: u64 = MAX_STORE_TTL_S + 86_400;
/// Host of the local tier's keys (never fetched).
const LOCAL_HOST: &str = "https://cache-manager.tier/";

/// The store of this worker.
#[derive(Clone)]
pub(crate) struct Kv(KvStore);

/// The store, or `misconfigured` naming its binding.
pub(crate) fn open(env: &Env) -> Result<Kv, CommonError> {
    env.kv(BINDING)
        .map(Kv)
        .map_err(|_| CommonError::Misconfigured(BINDING))
}

/// The two tiers, with this isolate's generations.
pub(crate) fn tiered(env: &Env) -> Result<Tiered<Edge, Kv, RuntimeClock>, CommonError> {
    Ok(Tiered {
        local: Edge,
        shared: open(env)?,
        clock: RuntimeClock,
        generations: Generations::isolate(),
    })
}

/// The per-location tier: `caches.default`.
#[derive(Clone, Copy)]
pub(crate) struct Edge;

/// The Cache API's URL for `key`: every byte but ASCII letters and digits escaped.
fn local_url(key: &str) -> String {
    let mut url = String::with_capacity(LOCAL_HOST.len() + key.len() * 3);
    url.push_str(LOCAL_HOST);
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

fn local_fault(what: &str, e: &worker::Error) -> StoreFault {
    console_warn!("local cache {what} failed: {e}");
    StoreFault
}

impl tiers::Local for Edge {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreFault> {
        let found = Cache::default()
            .get(local_url(key), true)
            .await
            .map_err(|e| local_fault("read", &e))?;
        match found {
            Some(mut resp) => resp
                .bytes()
                .await
                .map(Some)
                .map_err(|e| local_fault("read", &e)),
            None => Ok(None),
        }
    }

    async fn put(&self, key: &str, value: &[u8], keep_s: u64) -> Result<(), StoreFault> {
        let headers = Headers::new();
        let cache_control = format!("public, max-age={keep_s}");
        let built = headers
            .set("cache-control", &cache_control)
            .and_then(|()| Response::from_bytes(value.to_vec()))
            .map(|r| r.with_headers(headers));
        let resp = built.map_err(|e| local_fault("write", &e))?;
        Cache::default()
            .put(local_url(key), resp)
            .await
            .map_err(|e| local_fault("write", &e))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreFault> {
        Cache::default()
            .delete(local_url(key), true)
            .await
            .map(|_| ())
            .map_err(|e| local_fault("delete", &e))
    }
}

impl tiers::Shared for Kv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreFault> {
        self.0.get(key).bytes().await.map_err(|e| {
            console_warn!("cache read failed: {e}");
            StoreFault
        })
    }

    async fn put(&self, key: &str, value: &[u8], keep_s: u64) -> Result<(), StoreFault> {
        let outcome = match self.0.put_bytes(key, value) {
            Ok(builder) => {
                builder
                    .expiration_ttl(keep_s.max(MIN_STORE_TTL_S))
                    .execute()
                    .await
            }
            Err(e) => Err(e),
        };
        outcome.map_err(|e| {
            console_warn!("cache write failed: {e}");
            StoreFault
        })
    }

    /// At most [`MAX_DELETES`] keys.
    async fn delete_prefix(&self, prefix: &str) -> Purged {
        let kv = &self.0;
        let mut deleted = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut list = kv.list().prefix(prefix.to_owned()).limit(PAGE);
            if let Some(c) = cursor.take() {
                list = list.cursor(c);
            }
            let page = match list.execute().await {
                Ok(p) => p,
                Err(e) => {
                    console_warn!("cache purge list failed: {e}");
                    return Purged {
                        deleted,
                        complete: false,
                    };
                }
            };
            let names: Vec<String> = page
                .keys
                .into_iter()
                .map(|k| k.name)
                .take(MAX_DELETES - deleted)
                .collect();
            let results = join_all(names.iter().map(|n| kv.delete(n))).await;
            deleted += results.iter().filter(|r| r.is_ok()).count();
            if results.iter().any(Result::is_err) {
                console_warn!("cache purge: some deletes failed");
                return Purged {
                    deleted,
                    complete: false,
                };
            }
            match (page.list_complete, page.cursor) {
                (false, Some(c)) if deleted < MAX_DELETES => cursor = Some(c),
                (complete, _) => return Purged { deleted, complete },
            }
        }
    }

    /// Up to `tiers::MAX_GENERATIONS` (plus a page), one `list` per page.
    async fn generations(&self) -> Result<Vec<Generation>, StoreFault> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut list = self
                .0
                .list()
                .prefix(GENERATION_PREFIX.to_owned())
                .limit(PAGE);
            if let Some(c) = cursor.take() {
                list = list.cursor(c);
            }
            let page = list.execute().await.map_err(|e| {
                console_warn!("cache generations list failed: {e}");
                StoreFault
            })?;
            for k in page.keys {
                let generation = k
                    .metadata
                    .as_ref()
                    .and_then(|m| m.get("g"))
                    .and_then(serde_json::Value::as_u64);
                if let (Some(prefix), Some(g)) =
                    (k.name.strip_prefix(GENERATION_PREFIX), generation)
                {
                    rows.push((prefix.to_owned(), g));
                }
            }
            match (page.list_complete, page.cursor) {
                (false, Some(c)) if rows.len() <= tiers::MAX_GENERATIONS => cursor = Some(c),
                _ => return Ok(rows),
            }
        }
    }

    async fn set_generation(&self, prefix: &str, generation: u64) -> Result<(), StoreFault> {
        let key = format!("{GENERATION_PREFIX}{prefix}");
        let outcome = match self.0.put(&key, generation) {
            Ok(builder) => match builder.metadata(serde_json::json!({ "g": generation })) {
                Ok(b) => b.expiration_ttl(GENERATION_KEEP_S).execute().await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        outcome.map_err(|e| {
            console_warn!("cache generation write failed: {e}");
            StoreFault
        })
    }
}

#[cfg(test)]
mod tests {
    use super::local_url;

    #[test]
    fn local_urls_escape_every_byte_but_letters_and_digits() {
        let a = local_url("c:/a b|shared|g0|e:1f");
        assert_eq!(
            a,
            "https://cache-manager.tier/c%3A%2Fa%20b%7Cshared%7Cg0%7Ce%3A1f"
        );
        assert_ne!(local_url("c:/a/../b"), local_url("c:/b"));
        assert!(local_url("c:/é?#").is_ascii());
        assert!(!local_url("c:/x?y#z")[LOCAL_HOST_LEN..].contains(['?', '#', '/']));
    }

    const LOCAL_HOST_LEN: usize = super::LOCAL_HOST.len();
}
