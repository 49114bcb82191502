//! Region health where every isolate sees it: one stored value (KV `REGION_HEALTH`, key
//! `regions`) holding each region's breaker, plus a per-isolate copy kept for
//! `HEALTH_CACHE_MS` (default 1 s) so the request path reads the store at most once a
//! second. Generic over the [`Store`], the isolate's [`Memo`] and the [`Clock`], so `cargo
//! test` drives it natively (the worker binds them to KV and isolate memory in
//! [`crate::runtime`]).
//!
//! Observations update this isolate's copy at once and the store in the background. The
//! store update is a read-modify-write: two isolates observing at the same moment can lose
//! one observation (a breaker then opens one failure later). The scheduled probe rewrites
//! the whole map every minute, which bounds how long such a loss matters. A store that
//! cannot be read counts as "every region healthy"; one that cannot be written loses the
//! update (logged), never the request.

use std::future::Future;

use edge_core::routing::breaker::{BreakerConfig, BreakerState, Observation};
use edge_core::routing::decide::HealthMap;

use crate::failover::Clock;

/// Where the shared health map is kept, as JSON text.
#[allow(async_fn_in_trait)] // wasm is single-threaded: no `Send` bound wanted
pub(crate) trait Store {
    /// The stored text, `None` when nothing is stored.
    async fn read(&self) -> Result<Option<String>, String>;
    /// Replaces the stored text.
    async fn write(&self, text: String) -> Result<(), String>;
    /// Reports a failure that was absorbed (the request goes on).
    fn warn(&self, what: &str);
}

/// This isolate's copy of the map and when it was loaded (unix ms).
pub(crate) type IsolateCopy = Option<(HealthMap, u64)>;

/// The slot holding this isolate's copy.
pub(crate) trait Memo {
    /// Runs `f` on the slot (no `await` can happen inside).
    fn with<R>(&self, f: impl FnOnce(&mut IsolateCopy) -> R) -> R;
}

/// The health map over its backends.
pub(crate) struct RegionHealth<S, M, C> {
    pub(crate) store: S,
    pub(crate) memo: M,
    pub(crate) clock: C,
}

impl<S: Store, M: Memo, C: Clock> RegionHealth<S, M, C> {
    /// The health map, from this isolate's copy if younger than `max_age_ms`, else the
    /// store merged with the copy (per region, the more recently updated breaker wins:
    /// the store may not yet hold this isolate's latest observations).
    pub(crate) async fn load(&self, max_age_ms: u64) -> HealthMap {
        let now = self.clock.now_ms();
        let fresh = self.memo.with(|m| {
            m.as_ref()
                .filter(|(_, at)| now.saturating_sub(*at) < max_age_ms)
                .map(|(map, _)| map.clone())
        });
        if let Some(map) = fresh {
            return map;
        }
        let mut merged = self.read().await;
        self.memo.with(|m| {
            if let Some((mine, _)) = m.as_ref() {
                for (region, breaker) in mine {
                    if merged
                        .get(region)
                        .is_none_or(|b| b.updated_ms < breaker.updated_ms)
                    {
                        merged.insert(region.clone(), *breaker);
                    }
                }
            }
            *m = Some((merged.clone(), now));
            merged
        })
    }

    /// Folds `observations` (region id, what happened) into this isolate's copy now, and
    /// returns the work that writes them to the store (to run after the response) —
    /// `None` when no breaker changed state: a healthy region's successes (the common
    /// case) never write.
    pub(crate) fn record(
        self,
        observations: Vec<(String, Observation)>,
        config: BreakerConfig,
    ) -> Option<impl Future<Output = ()>> {
        let now = self.clock.now_ms();
        let changed = self.memo.with(|m| {
            let (map, _) = m.get_or_insert_with(|| (HealthMap::new(), now));
            let before: Vec<_> = observations
                .iter()
                .map(|(r, _)| map.get(r).map(|b| b.state_at(now)))
                .collect();
            apply(map, &observations, &config, now);
            observations.iter().zip(before).any(|((r, _), was)| {
                map.get(r).map(|b| b.state) != was.or(Some(BreakerState::Closed { failures: 0 }))
            })
        });
        changed.then_some(async move {
            self.write_through(&observations, &config, now).await;
        })
    }

    /// Writes every observation to the store unconditionally (the scheduled probe: its map
    /// is the fresh picture of every region).
    pub(crate) async fn record_all(
        &self,
        observations: Vec<(String, Observation)>,
        config: BreakerConfig,
    ) {
        let now = self.clock.now_ms();
        self.memo.with(|m| {
            let (map, _) = m.get_or_insert_with(|| (HealthMap::new(), now));
            apply(map, &observations, &config, now);
        });
        self.write_through(&observations, &config, now).await;
    }

    /// Read-modify-write of the stored map.
    async fn write_through(
        &self,
        observations: &[(String, Observation)],
        config: &BreakerConfig,
        now: u64,
    ) {
        let mut map = self.read().await;
        apply(&mut map, observations, config, now);
        let outcome = match serde_json::to_string(&map) {
            Ok(text) => self.store.write(text).await,
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = outcome {
            self.store.warn(&format!("region health write failed: {e}"));
        }
    }

    /// The stored map; empty (every region healthy) when absent, unreadable or malformed.
    async fn read(&self) -> HealthMap {
        match self.store.read().await {
            Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_else(|e| {
                self.store
                    .warn(&format!("region health is malformed ({e}); ignoring it"));
                HealthMap::new()
            }),
            Ok(None) => HealthMap::new(),
            Err(e) => {
                self.store.warn(&format!("region health read failed: {e}"));
                HealthMap::new()
            }
        }
    }
}

fn apply(
    map: &mut HealthMap,
    observations: &[(String, Observation)],
    config: &BreakerConfig,
    now: u64,
) {
    for (region, observation) in observations {
        map.entry(region.clone())
            .or_default()
            .observe(*observation, config, now);
    }
}

#[cfg(test)]
mod tests;
