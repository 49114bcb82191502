//! The store in two tiers, and the purge generations: what [`flow::Store`] is in the
//! worker (bound in `store.rs`), tested natively with fakes of both tiers (`tiers/tests.rs`).
//!
//! - **Local** (the runtime's Cache API, `caches.default`): per location, free to read,
//!   no write limit. It holds only what anyone may be answered from without another read:
//!   the shared, non-varying base entries (`key::is_shared_base`, a decoded entry, never a
//!   `Vary` marker), for at most [`LOCAL_MAX_KEEP_S`].
//! - **Shared** (KV): global, one write per second per key, billed per operation.
//!
//! Lookup order local → shared → origin: a shared hit fills the local tier (no KV write);
//! a store writes both (KV is written only when the origin answered: a miss stored, a
//! revalidation merged). A failing local tier is skipped (the shared tier answers); a
//! failing shared tier is a miss, as before.
//!
//! **Purge generations.** A prefix purge writes one KV key (`g:<prefix>`, its generation
//! in the metadata): the generation token of every path below it changes, and with it
//! every key (`key::generation_token`), in both tiers and every location. Each isolate
//! keeps the table (one KV `list`) for [`REFRESH_MS`], merged by the highest generation
//! per prefix so it never goes back; when the list fails it keeps using the last table
//! for up to [`MAX_STALE_MS`], then the cache is bypassed (never a purged entry served).
//! A purge is seen at once by the isolate that took it, and elsewhere within `REFRESH_MS`
//! plus KV's propagation (up to about 60 s).

#![allow(async_fn_in_trait)]

use std::cell::RefCell;
use std::rc::Rc;

use edge_core::cache::entry::{self, Stored};
use edge_core::cache::key::{self, Generation};

use crate::flow::{self, Clock, Purged, StoreFault};

/// Longest the local tier keeps an entry: KV's own propagation bound, so an unsafe
/// method's invalidation or a URL purge reaches another location's local tier no later
/// than it reaches KV there.
pub(crate) const LOCAL_MAX_KEEP_S: u64 = 60;
/// How long an isolate uses its generation table before listing it again.
pub(crate) const REFRESH_MS: u64 = 10_000;
/// How long an isolate may use its last table while listing fails.
pub(crate) const MAX_STALE_MS: u64 = 60_000;
/// Most purged prefixes with their own generation; past it a new prefix purges `/`.
pub(crate) const MAX_GENERATIONS: usize = 1000;

/// The per-location tier (the Cache API). Failures are the binding's to log.
pub(crate) trait Local {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreFault>;
    async fn put(&self, key: &str, value: &[u8], keep_s: u64) -> Result<(), StoreFault>;
    async fn delete(&self, key: &str) -> Result<(), StoreFault>;
}

/// The shared tier (KV).
pub(crate) trait Shared {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreFault>;
    async fn put(&self, key: &str, value: &[u8], keep_s: u64) -> Result<(), StoreFault>;
    /// Deletes every key starting with `prefix` (up to the binding's limit).
    async fn delete_prefix(&self, prefix: &str) -> Purged;
    /// Every purged prefix and its generation.
    async fn generations(&self) -> Result<Vec<Generation>, StoreFault>;
    /// Sets the generation of `prefix`.
    async fn set_generation(&self, prefix: &str, generation: u64) -> Result<(), StoreFault>;
}

/// An isolate's copy of the generation table.
#[derive(Clone, Default)]
pub(crate) struct Generations(Rc<RefCell<Option<Table>>>);

#[derive(Clone)]
struct Table {
    read_ms: u64,
    rows: Rc<Vec<Generation>>,
}

thread_local! {
    static ISOLATE: Generations = Generations::default();
}

impl Generations {
    /// This isolate's table.
    pub(crate) fn isolate() -> Self {
        ISOLATE.with(Clone::clone)
    }

    /// `rows` merged into the copy (the highest generation of each prefix wins), read at
    /// `now_ms` when `read` (else only merged: the copy's age is kept).
    fn merge(&self, rows: Vec<Generation>, now_ms: u64, read: bool) -> Rc<Vec<Generation>> {
        let mut slot = self.0.borrow_mut();
        let mut merged = slot.as_ref().map(|t| (*t.rows).clone()).unwrap_or_default();
        for (prefix, generation) in rows {
            match merged.iter_mut().find(|(p, _)| *p == prefix) {
                Some(row) => row.1 = row.1.max(generation),
                None => merged.push((prefix, generation)),
            }
        }
        let rows = Rc::new(merged);
        let read_ms = match (&*slot, read) {
            (Some(t), false) => t.read_ms,
            _ => now_ms,
        };
        *slot = Some(Table {
            read_ms,
            rows: Rc::clone(&rows),
        });
        rows
    }
}

/// Both tiers and the generations.
#[derive(Clone)]
pub(crate) struct Tiered<L, K, C> {
    pub(crate) local: L,
    pub(crate) shared: K,
    pub(crate) clock: C,
    pub(crate) generations: Generations,
}

/// Whether `value` is a stored response (not a `Vary` marker).
fn is_entry(value: &[u8]) -> bool {
    matches!(entry::decode_stored(value), Some(Stored::Entry(..)))
}

impl<L: Local, K: Shared, C: Clock> Tiered<L, K, C> {
    /// The generation table, listed again when this isolate's copy is older than
    /// [`REFRESH_MS`].
    async fn table(&self) -> Result<Rc<Vec<Generation>>, StoreFault> {
        let now = self.clock.now_ms();
        let cached = self.generations.0.borrow().clone();
        if let Some(t) = &cached
            && now.saturating_sub(t.read_ms) < REFRESH_MS
        {
            return Ok(Rc::clone(&t.rows));
        }
        match self.shared.generations().await {
            Ok(rows) => Ok(self.generations.merge(rows, now, true)),
            Err(fault) => match cached {
                Some(t) if now.saturating_sub(t.read_ms) < MAX_STALE_MS => Ok(t.rows),
                _ => Err(fault),
            },
        }
    }

    /// Purges every entry whose path starts with `prefix`: one write. Past
    /// [`MAX_GENERATIONS`] prefixes, a new prefix purges `/` (everything) instead.
    pub(crate) async fn bump(&self, prefix: &str) -> Result<(), StoreFault> {
        let table = self.table().await?;
        let known = |p: &str| table.iter().any(|(q, _)| q == p);
        let target = if table.len() >= MAX_GENERATIONS && !known(prefix) {
            "/"
        } else {
            prefix
        };
        let previous = table
            .iter()
            .filter(|(p, _)| p == target)
            .map(|(_, g)| *g)
            .max()
            .unwrap_or(0);
        let now = self.clock.now_ms();
        let generation = now.max(previous + 1);
        self.shared.set_generation(target, generation).await?;
        // This isolate sees its own purge at once.
        self.generations
            .merge(vec![(target.to_owned(), generation)], now, false);
        Ok(())
    }

    /// A purge: each URI's keys deleted (`uris`, `key::uri_prefix`es: KV listed by that
    /// prefix, this location's local copy deleted), each path prefix's generation bumped
    /// (`prefixes`: one write each, nothing listed).
    pub(crate) async fn purge(&self, uris: &[String], prefixes: &[String]) -> Purge {
        let mut done = flow::purge(self, uris).await;
        let mut invalidated = 0;
        for prefix in prefixes {
            match self.bump(prefix).await {
                Ok(()) => invalidated += 1,
                Err(StoreFault) => done.complete = false,
            }
        }
        Purge {
            purged: done,
            invalidated_prefixes: invalidated,
        }
    }
}

/// What a purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Purge {
    /// Keys deleted for the URLs; `complete` is false when a listing stopped short or a
    /// generation could not be written.
    pub(crate) purged: Purged,
    /// Prefixes whose generation was bumped (every entry below them unreachable).
    pub(crate) invalidated_prefixes: usize,
}

impl<L, K, C> flow::Store for Tiered<L, K, C>
where
    L: Local,
    K: Shared,
    C: Clock,
{
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreFault> {
        let local = key::is_shared_base(key);
        if local && let Ok(Some(value)) = self.local.get(key).await {
            return Ok(Some(value));
        }
        let found = self.shared.get(key).await?;
        if local
            && let Some(value) = &found
            && is_entry(value)
        {
            // A failed fill only costs the next request a KV read.
            let _ = self.local.put(key, value, LOCAL_MAX_KEEP_S).await;
        }
        Ok(found)
    }

    async fn put(&self, key: &str, value: &[u8], keep_s: u64) -> Result<(), StoreFault> {
        if key::is_shared_base(key) {
            // A `Vary` marker replacing an entry must not leave the entry behind locally.
            let _ = if is_entry(value) {
                self.local
                    .put(key, value, keep_s.min(LOCAL_MAX_KEEP_S))
                    .await
            } else {
                self.local.delete(key).await
            };
        }
        self.shared.put(key, value, keep_s).await
    }

    /// `prefix` is a URI's (`key::uri_prefix`): its shared base entry is deleted from this
    /// location's local tier too (the only local key of a URI, see the module notes).
    async fn delete_prefix(&self, prefix: &str) -> Purged {
        if let Some(path) = key::path_of(prefix)
            && let Ok(table) = self.table().await
        {
            let token = key::generation_token(&table, path);
            let _ = self.local.delete(&key::shared_base(prefix, &token)).await;
        }
        self.shared.delete_prefix(prefix).await
    }

    async fn generation(&self, path: &str) -> Result<String, StoreFault> {
        Ok(key::generation_token(&self.table().await?, path))
    }
}

#[cfg(test)]
pub(crate) mod tests;
