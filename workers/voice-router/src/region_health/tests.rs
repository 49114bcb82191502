//! The health map's isolate copy and store against in-memory backends: a store that
//! fails to read or write, a malformed stored map, a clock that moves past the copy's age.

use std::cell::{Cell, RefCell};

use edge_core::routing::breaker::Breaker;
use futures::executor::block_on;

use super::*;

const NOW: u64 = 1_800_000_000_000;
const MAX_AGE_MS: u64 = 1_000;

struct FakeClock(Cell<u64>);

impl Clock for &FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

/// KV: its text, whether reads and writes fail, what happened.
#[derive(Default)]
struct FakeStore {
    text: RefCell<Option<String>>,
    reads_fail: Cell<bool>,
    writes_fail: Cell<bool>,
    reads: Cell<u32>,
    writes: Cell<u32>,
    warnings: RefCell<Vec<String>>,
}

impl Store for &FakeStore {
    async fn read(&self) -> Result<Option<String>, String> {
        self.reads.set(self.reads.get() + 1);
        if self.reads_fail.get() {
            return Err("kv unavailable".to_owned());
        }
        Ok(self.text.borrow().clone())
    }

    async fn write(&self, text: String) -> Result<(), String> {
        self.writes.set(self.writes.get() + 1);
        if self.writes_fail.get() {
            return Err("kv write limit".to_owned());
        }
        *self.text.borrow_mut() = Some(text);
        Ok(())
    }

    fn warn(&self, what: &str) {
        self.warnings.borrow_mut().push(what.to_owned());
    }
}

#[derive(Default)]
struct Slot(RefCell<IsolateCopy>);

impl Memo for &Slot {
    fn with<R>(&self, f: impl FnOnce(&mut IsolateCopy) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }
}

fn health<'a>(
    store: &'a FakeStore,
    slot: &'a Slot,
    clock: &'a FakeClock,
) -> RegionHealth<&'a FakeStore, &'a Slot, &'a FakeClock> {
    RegionHealth {
        store,
        memo: slot,
        clock,
    }
}

/// An empty store, an isolate without a copy, the clock at [`NOW`].
fn world() -> (FakeStore, Slot, FakeClock) {
    (
        FakeStore::default(),
        Slot::default(),
        FakeClock(Cell::new(NOW)),
    )
}

fn failures(region: &str, n: u32) -> Vec<(String, Observation)> {
    (0..n)
        .map(|_| (region.to_owned(), Observation::Failed))
        .collect()
}

fn stored(store: &FakeStore) -> HealthMap {
    let text = store.text.borrow().clone().unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

/// Whether `region` is open in the map loaded once this isolate's copy is too old.
fn open_once_reloaded(store: &FakeStore, slot: &Slot, clock: &FakeClock, region: &str) -> bool {
    clock.0.set(NOW + MAX_AGE_MS);
    let merged = block_on(health(store, slot, clock).load(MAX_AGE_MS));
    is_open(&merged, region)
}

fn is_open(map: &HealthMap, region: &str) -> bool {
    map.get(region)
        .is_some_and(|b| matches!(b.state, BreakerState::Open { .. }))
}

#[test]
fn the_store_is_read_at_most_once_per_max_age() {
    let (store, slot, clock) = world();
    for _ in 0..10 {
        let _ = block_on(health(&store, &slot, &clock).load(MAX_AGE_MS));
        clock.0.set(clock.0.get() + 99);
    }
    assert_eq!(store.reads.get(), 1);
    clock.0.set(clock.0.get() + MAX_AGE_MS);
    let _ = block_on(health(&store, &slot, &clock).load(MAX_AGE_MS));
    assert_eq!(store.reads.get(), 2);
}

#[test]
fn healthy_successes_never_write() {
    let (store, slot, clock) = world();
    let answered = vec![(
        "us-east-1".to_owned(),
        Observation::Answered { latency_ms: 20.0 },
    )];
    let write = health(&store, &slot, &clock).record(answered, BreakerConfig::default());
    assert!(write.is_none());
    assert_eq!(store.writes.get(), 0);
}

#[test]
fn a_breaker_that_opens_is_written_through_and_seen_at_once() {
    let (store, slot, clock) = world();
    let config = BreakerConfig::default();
    let write = health(&store, &slot, &clock).record(failures("us-east-1", 3), config);
    // This isolate sees it before the write lands.
    let mine = block_on(health(&store, &slot, &clock).load(MAX_AGE_MS));
    assert!(is_open(&mine, "us-east-1"));
    block_on(write.unwrap_or_else(|| panic!("a state change writes")));
    assert!(is_open(&stored(&store), "us-east-1"));
}

#[test]
fn a_store_that_cannot_be_read_counts_every_region_healthy() {
    let (store, slot, clock) = world();
    store.reads_fail.set(true);
    let map = block_on(health(&store, &slot, &clock).load(MAX_AGE_MS));
    assert!(map.is_empty());
    assert_eq!(
        *store.warnings.borrow(),
        ["region health read failed: kv unavailable"]
    );
}

#[test]
fn a_store_that_cannot_be_written_keeps_the_isolate_copy() {
    let (store, slot, clock) = world();
    store.writes_fail.set(true);
    let config = BreakerConfig::default();
    if let Some(write) = health(&store, &slot, &clock).record(failures("us-east-1", 3), config) {
        block_on(write);
    }
    assert_eq!(store.writes.get(), 1);
    assert_eq!(store.warnings.borrow().len(), 1);
    assert!(store.text.borrow().is_none());
    let mine = block_on(health(&store, &slot, &clock).load(MAX_AGE_MS));
    assert!(
        is_open(&mine, "us-east-1"),
        "the failure is not forgotten here"
    );
    // Past the copy's age the store is read again, and the newer local breaker still wins.
    assert!(open_once_reloaded(&store, &slot, &clock, "us-east-1"));
}

#[test]
fn a_malformed_stored_map_is_ignored() {
    let (store, slot, clock) = world();
    *store.text.borrow_mut() = Some("{\"us-east-1\": 42".to_owned());
    let map = block_on(health(&store, &slot, &clock).load(MAX_AGE_MS));
    assert!(map.is_empty());
    assert_eq!(store.warnings.borrow().len(), 1);
}

#[test]
fn another_isolates_newer_observation_wins_over_an_older_copy() {
    let (store, slot, clock) = world();
    let config = BreakerConfig::default();
    // This isolate saw us-east-1 healthy at NOW.
    let ok = vec![(
        "us-east-1".to_owned(),
        Observation::Answered { latency_ms: 5.0 },
    )];
    let _ = health(&store, &slot, &clock).record(ok, config);
    // Another isolate opened it later.
    let mut theirs = HealthMap::new();
    let mut breaker = Breaker::default();
    for _ in 0..config.failure_threshold {
        breaker.observe(Observation::Failed, &config, NOW + 500);
    }
    theirs.insert("us-east-1".to_owned(), breaker);
    *store.text.borrow_mut() = serde_json::to_string(&theirs).ok();
    assert!(open_once_reloaded(&store, &slot, &clock, "us-east-1"));
}

#[test]
fn the_probe_writes_every_region_even_without_a_change() {
    let (store, slot, clock) = world();
    let answered = vec![
        (
            "us-east-1".to_owned(),
            Observation::Answered { latency_ms: 5.0 },
        ),
        (
            "eu-west-1".to_owned(),
            Observation::Answered { latency_ms: 9.0 },
        ),
    ];
    block_on(health(&store, &slot, &clock).record_all(answered, BreakerConfig::default()));
    assert_eq!(store.writes.get(), 1);
    assert_eq!(stored(&store).len(), 2);
}
