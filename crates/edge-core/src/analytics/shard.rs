//! Sharding a day's store: each UTC day's windows are split over [`SHARDS`] stores named
//! `<day>/<shard>`, so no single Durable Object takes all traffic. The shard of a write is a
//! pure function of a key ([`shard_of`]): the batch id for an enveloped batch (a retried
//! batch reaches the same store, which de-duplicates it), the first event's request id
//! otherwise. Reads fan out over every shard of the days they ask (cells and histograms
//! merge exactly, see `summary::QueryResult::merge`).

use super::window::day_name;

/// Shards per UTC day. Fixed: a read asks every shard of a day, so the fan-out of the
/// widest query (8 days) is `8 × SHARDS` store calls, and the Prometheus scrape
/// (5 queries of today) `5 × SHARDS`; both stay under Workers' 50-subrequest free limit.
pub const SHARDS: u32 = 4;

/// The shard of `key`: FNV-1a (stable across builds and platforms) modulo [`SHARDS`].
#[must_use]
pub fn shard_of(key: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % SHARDS
}

/// The store name of `shard` of `day` (days since the epoch), e.g. `2026-12-01/3`.
#[must_use]
pub fn store_name(day: u64, shard: u32) -> String {
    format!("{}/{shard}", day_name(day))
}

/// Every `(day, shard)` store of `days`.
#[must_use]
pub fn stores_of(days: &[u64]) -> Vec<(u64, u32)> {
    days.iter()
        .flat_map(|&d| (0..SHARDS).map(move |s| (d, s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_of("batch-1"), shard_of("batch-1"));
        let mut seen = [0u32; SHARDS as usize];
        for i in 0..4000 {
            seen[shard_of(&format!("00000000-0000-4000-8000-{i:012}")) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 700), "{seen:?}");
        // Known answer, so a change of hash (which would split a retry from its first
        // attempt across a deploy) is caught.
        assert_eq!(shard_of(""), 0x811c_9dc5 % SHARDS);
        assert_eq!(store_name(20_788, 3), "2026-12-01/3");
        assert_eq!(stores_of(&[1, 2]).len(), 2 * SHARDS as usize);
    }
}
