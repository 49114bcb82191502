//! The entry store: KV namespace `HTTP_CACHE`.
//!
//! KV rather than the Cache API because purging by prefix needs to list keys, and because
//! a purge must reach every location, not only the one that received it. Reads that fail
//! are misses and writes that fail are logged: the cache must never take a request down.
//! KV is eventually consistent: another location may serve an entry for up to about a
//! minute after it was purged there.

use edge_core::cache::decide::MIN_STORE_TTL_S;
use edge_core::error::CommonError;
use futures::future::join_all;
use worker::kv::KvStore;
use worker::{Env, console_warn};

/// KV binding of the cache.
const BINDING: &str = "HTTP_CACHE";
/// Most keys one purge or invalidation deletes (the rest stays until it expires).
pub(crate) const MAX_DELETES: usize = 10_000;

/// The store.
pub(crate) fn open(env: &Env) -> Result<KvStore, CommonError> {
    env.kv(BINDING)
        .map_err(|_| CommonError::Misconfigured(BINDING))
}

/// The bytes under `key`, or `None` (absent or unreadable).
pub(crate) async fn get(kv: &KvStore, key: &str) -> Option<Vec<u8>> {
    match kv.get(key).bytes().await {
        Ok(v) => v,
        Err(e) => {
            console_warn!("cache read failed: {e}");
            None
        }
    }
}

/// Stores `value` under `key` for `keep_s` seconds (at least KV's minimum).
pub(crate) async fn put(kv: &KvStore, key: &str, value: &[u8], keep_s: u64) {
    let outcome = match kv.put_bytes(key, value) {
        Ok(builder) => {
            builder
                .expiration_ttl(keep_s.max(MIN_STORE_TTL_S))
                .execute()
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        console_warn!("cache write failed: {e}");
    }
}

/// Deletes every key starting with `prefix` (at most [`MAX_DELETES`]); returns how many
/// were deleted and whether that was all of them.
pub(crate) async fn delete_prefix(kv: &KvStore, prefix: &str) -> (usize, bool) {
    let mut deleted = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut list = kv.list().prefix(prefix.to_owned()).limit(1000);
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = match list.execute().await {
            Ok(p) => p,
            Err(e) => {
                console_warn!("cache purge list failed: {e}");
                return (deleted, false);
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
            return (deleted, false);
        }
        match (page.list_complete, page.cursor) {
            (false, Some(c)) if deleted < MAX_DELETES => cursor = Some(c),
            (complete, _) => return (deleted, complete),
        }
    }
}
