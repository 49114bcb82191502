//! Region health where every isolate sees it: one KV value (`REGION_HEALTH`, key
//! `regions`) holding each region's breaker, plus a per-isolate copy kept for
//! `HEALTH_CACHE_MS` (default 1 s) so the request path reads KV at most once a second.
//!
//! Observations update this isolate's copy at once and KV in the background. The KV
//! update is a read-modify-write: two isolates observing at the same moment can lose one
//! observation (a breaker then opens one failure later). The scheduled probe rewrites the
//! whole map every minute, which bounds how long such a loss matters.

use std::cell::RefCell;

use edge_core::routing::breaker::{BreakerConfig, BreakerState, Observation};
use edge_core::routing::decide::HealthMap;
use edge_glue::now_ms;
use worker::{Env, console_warn};

const BINDING: &str = "REGION_HEALTH";
const KEY: &str = "regions";
/// Health older than this is forgotten (the region counts as healthy again).
const KEEP_S: u64 = 86_400;

thread_local! {
    static MEMO: RefCell<Option<(HealthMap, u64)>> = const { RefCell::new(None) };
}

/// The health map, from this isolate's copy if younger than `max_age_ms`, else KV.
pub(crate) async fn load(env: &Env, max_age_ms: u64) -> HealthMap {
    let now = now_ms();
    if let Some(map) = MEMO.with_borrow(|m| {
        m.as_ref()
            .filter(|(_, at)| now.saturating_sub(*at) < max_age_ms)
            .map(|(map, _)| map.clone())
    }) {
        return map;
    }
    let stored = read(env).await;
    MEMO.with_borrow_mut(|m| {
        // KV may not yet hold this isolate's latest observations (written in the
        // background): per region, the more recently updated breaker wins.
        let mut merged = stored;
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

async fn read(env: &Env) -> HealthMap {
    let Ok(kv) = env.kv(BINDING) else {
        return HealthMap::new();
    };
    match kv.get(KEY).text().await {
        Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_default(),
        Ok(None) => HealthMap::new(),
        Err(e) => {
            console_warn!("region health read failed: {e}");
            HealthMap::new()
        }
    }
}

/// Folds `observations` (region id, what happened) into this isolate's copy now, and
/// returns the work that writes them to KV (to run in `wait_until`) — `None` when no
/// breaker changed state: a healthy region's successes (the common case) never write, so
/// KV sees a write only on failures and transitions, far below its per-key write limit,
/// and the request schedules no background task for them.
pub(crate) fn record(
    env: &Env,
    observations: Vec<(String, Observation)>,
    config: BreakerConfig,
) -> Option<impl std::future::Future<Output = ()> + 'static> {
    let now = now_ms();
    let changed = MEMO.with_borrow_mut(|m| {
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
    let env = env.clone();
    changed.then_some(async move {
        let mut map = read(&env).await;
        apply(&mut map, &observations, &config, now);
        write(&env, &map).await;
    })
}

/// Writes every observation to KV unconditionally (the scheduled probe: its map is the
/// fresh picture of every region).
pub(crate) async fn record_all(
    env: &Env,
    observations: Vec<(String, Observation)>,
    config: BreakerConfig,
) {
    let now = now_ms();
    MEMO.with_borrow_mut(|m| {
        let (map, _) = m.get_or_insert_with(|| (HealthMap::new(), now));
        apply(map, &observations, &config, now);
    });
    let mut map = read(env).await;
    apply(&mut map, &observations, &config, now);
    write(env, &map).await;
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

async fn write(env: &Env, map: &HealthMap) {
    let Ok(kv) = env.kv(BINDING) else { return };
    let Ok(text) = serde_json::to_string(map) else {
        return;
    };
    let outcome = match kv.put(KEY, text) {
        Ok(b) => b.expiration_ttl(KEEP_S).execute().await,
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        console_warn!("region health write failed: {e}");
    }
}
