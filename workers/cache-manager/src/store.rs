//! The entry store: KV namespace `HTTP_CACHE`, bound to [`flow::Store`].
//!
//! KV rather than the Cache API because purging by prefix needs to list keys, and because
//! a purge must reach every location, not only the one that received it. Failures are
//! logged here and reported as [`StoreFault`]: the cache must never take a request down.
//! KV is eventually consistent: another location may serve an entry for up to about a
//! minute after it was purged there.

use edge_core::cache::decide::MIN_STORE_TTL_S;
use edge_core::error::CommonError;
use futures::future::join_all;
use worker::kv::KvStore;
use worker::{Env, console_warn};

use crate::flow::{self, Purged, StoreFault};

/// KV binding of the cache.
const BINDING: &str = "HTTP_CACHE";
/// Most keys one purge or invalidation deletes (the rest stays until it expires).
const MAX_DELETES: usize = 10_000;
/// Keys listed per page.
const PAGE: u64 = 1000;

/// The store of this worker.
#[derive(Clone)]
pub(crate) struct Kv(KvStore);

/// The store, or `misconfigured` naming its binding.
pub(crate) fn open(env: &Env) -> Result<Kv, CommonError> {
    env.kv(BINDING)
        .map(Kv)
        .map_err(|_| CommonError::Misconfigured(BINDING))
}

impl flow::Store for Kv {
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
}
