//! The two tiers and the purge generations against in-memory fakes, with faults: a local
//! tier that fails, a shared tier that fails, a generation list that fails.

use std::cell::Cell;
use std::collections::BTreeMap;

use edge_core::cache::entry::{EntryMeta, encode, encode_vary};
use edge_core::cache::key::{self, Owner};
use futures::executor::block_on;

use super::*;
use crate::flow::Store;

/// Either tier in memory, counting its operations, with injected faults.
#[derive(Clone, Default)]
pub(crate) struct FakeTier(Rc<TierState>);

#[derive(Default)]
pub(crate) struct TierState {
    map: RefCell<BTreeMap<String, (Vec<u8>, u64)>>,
    generations: RefCell<BTreeMap<String, u64>>,
    fail: Cell<bool>,
    fail_list: Cell<bool>,
    reads: Cell<usize>,
    writes: Cell<usize>,
    lists: Cell<usize>,
    deletes: Cell<usize>,
}

impl FakeTier {
    fn keys(&self) -> Vec<String> {
        self.0.map.borrow().keys().cloned().collect()
    }
    /// Reads, writes (generations included), lists.
    pub(crate) fn ops(&self) -> (usize, usize, usize) {
        (self.0.reads.get(), self.0.writes.get(), self.0.lists.get())
    }
    /// Keys deleted.
    pub(crate) fn deletes(&self) -> usize {
        self.0.deletes.get()
    }
    /// Stores `n` entries directly (a filled cache).
    pub(crate) fn fill(&self, keys: impl Iterator<Item = String>) {
        let mut map = self.0.map.borrow_mut();
        for k in keys {
            map.insert(k, (Vec::new(), 600));
        }
    }
    fn check(&self) -> Result<(), StoreFault> {
        if self.0.fail.get() {
            return Err(StoreFault);
        }
        Ok(())
    }
    fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StoreFault> {
        self.0.reads.set(self.0.reads.get() + 1);
        self.check()?;
        Ok(self.0.map.borrow().get(key).map(|(v, _)| v.clone()))
    }
    fn write(&self, key: &str, value: &[u8], keep_s: u64) -> Result<(), StoreFault> {
        self.0.writes.set(self.0.writes.get() + 1);
        self.check()?;
        let entry = (value.to_vec(), keep_s);
        self.0.map.borrow_mut().insert(key.to_owned(), entry);
        Ok(())
    }
}

impl Local for FakeTier {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreFault> {
        self.read(key)
    }
    async fn put(&self, key: &str, value: &[u8], keep_s: u64) -> Result<(), StoreFault> {
        self.write(key, value, keep_s)
    }
    async fn delete(&self, key: &str) -> Result<(), StoreFault> {
        self.check()?;
        self.0.map.borrow_mut().remove(key);
        Ok(())
    }
}

impl Shared for FakeTier {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreFault> {
        self.read(key)
    }
    async fn put(&self, key: &str, value: &[u8], keep_s: u64) -> Result<(), StoreFault> {
        self.write(key, value, keep_s)
    }
    async fn delete_prefix(&self, prefix: &str) -> Purged {
        let mut map = self.0.map.borrow_mut();
        let before = map.len();
        map.retain(|k, _| !k.starts_with(prefix));
        let deleted = before - map.len();
        self.0
            .lists
            .set(self.0.lists.get() + deleted.div_ceil(1000).max(1));
        self.0.deletes.set(self.0.deletes.get() + deleted);
        Purged {
            deleted,
            complete: true,
        }
    }
    async fn generations(&self) -> Result<Vec<Generation>, StoreFault> {
        self.0.lists.set(self.0.lists.get() + 1);
        if self.0.fail_list.get() {
            return Err(StoreFault);
        }
        Ok(self.0.generations.borrow().clone().into_iter().collect())
    }
    async fn set_generation(&self, prefix: &str, generation: u64) -> Result<(), StoreFault> {
        self.0.writes.set(self.0.writes.get() + 1);
        self.check()?;
        let mut table = self.0.generations.borrow_mut();
        table.insert(prefix.to_owned(), generation);
        Ok(())
    }
}

#[derive(Clone)]
struct FakeClock(Rc<Cell<u64>>);

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
    async fn sleep(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
    }
}

struct World {
    local: FakeTier,
    shared: FakeTier,
    clock: FakeClock,
    store: Tiered<FakeTier, FakeTier, FakeClock>,
}

impl World {
    fn new() -> Self {
        let (local, shared) = (FakeTier::default(), FakeTier::default());
        let clock = FakeClock(Rc::new(Cell::new(1_700_000_000_000)));
        let store = Tiered {
            local: local.clone(),
            shared: shared.clone(),
            clock: clock.clone(),
            generations: Generations::default(),
        };
        Self {
            local,
            shared,
            clock,
            store,
        }
    }

    /// Another isolate: its own generation table, the same tiers.
    fn other_isolate(&self) -> Tiered<FakeTier, FakeTier, FakeClock> {
        Tiered {
            generations: Generations::default(),
            ..self.store.clone()
        }
    }

    fn jump_ms(&self, ms: u64) {
        self.clock.0.set(self.clock.0.get() + ms);
    }
}

fn entry_bytes(body: &str) -> Vec<u8> {
    let meta = EntryMeta::from_response(200, &[], &[], 0, 0);
    encode(&meta, body.as_bytes())
}

/// The shared base key of `path` under `store`'s current generation.
fn base(store: &Tiered<FakeTier, FakeTier, FakeClock>, path: &str) -> String {
    let generation = block_on(store.generation(path)).expect("generation");
    let resource = key::resource(path, None, Owner::Shared).expect("keyed");
    key::entry_key(&key::with_generation(&resource, &generation), &[])
}

#[test]
fn a_store_writes_both_tiers_and_a_hit_reads_only_the_local_one() {
    let w = World::new();
    let k = base(&w.store, "/a");
    block_on(w.store.put(&k, &entry_bytes("one"), 600)).expect("stored");
    assert_eq!(
        w.local.0.map.borrow()[&k].1,
        LOCAL_MAX_KEEP_S,
        "local keep capped"
    );
    assert_eq!(w.shared.0.map.borrow()[&k].1, 600);
    let before = w.shared.ops();
    let got = block_on(w.store.get(&k)).expect("read");
    assert_eq!(got, Some(entry_bytes("one")));
    assert_eq!(w.shared.ops(), before, "no KV operation for a local hit");
}

#[test]
fn a_shared_hit_fills_the_local_tier_without_writing_kv() {
    let w = World::new();
    let k = base(&w.store, "/a");
    block_on(Shared::put(&w.shared, &k, &entry_bytes("one"), 600)).expect("stored");
    let writes = w.shared.ops().1;
    assert_eq!(
        block_on(w.store.get(&k)).expect("read"),
        Some(entry_bytes("one"))
    );
    assert_eq!(w.local.keys(), vec![k.clone()]);
    assert_eq!(w.shared.ops().1, writes, "no KV write");
    let reads = w.shared.ops().0;
    block_on(w.store.get(&k)).expect("read");
    assert_eq!(w.shared.ops().0, reads, "the next hit is local");
}

#[test]
fn only_shared_base_entries_go_to_the_local_tier() {
    let w = World::new();
    let k = base(&w.store, "/a");
    block_on(w.store.put(&k, &entry_bytes("one"), 600)).expect("stored");
    // The resource starts varying: the marker replaces the local entry.
    block_on(w.store.put(&k, &encode_vary(&["accept".to_owned()]), 600)).expect("stored");
    assert!(
        w.local.keys().is_empty(),
        "a marker is never local, and removes the entry"
    );
    let resource = key::resource("/a", None, Owner::User("u")).expect("keyed");
    let user = key::entry_key(&key::with_generation(&resource, "0"), &[]);
    block_on(w.store.put(&user, &entry_bytes("mine"), 600)).expect("stored");
    let variant = key::entry_key(&k, &[("accept".to_owned(), "x".to_owned())]);
    block_on(w.store.put(&variant, &entry_bytes("v"), 600)).expect("stored");
    assert!(w.local.keys().is_empty());
    assert_eq!(w.shared.keys().len(), 3);
}

#[test]
fn a_failing_local_tier_falls_back_to_kv_and_a_failing_kv_is_a_miss() {
    let w = World::new();
    let k = base(&w.store, "/a");
    w.local.0.fail.set(true);
    block_on(w.store.put(&k, &entry_bytes("one"), 600)).expect("KV still written");
    assert_eq!(
        block_on(w.store.get(&k)).expect("read"),
        Some(entry_bytes("one"))
    );
    w.local.0.fail.set(false);
    w.shared.0.fail.set(true);
    assert_eq!(
        block_on(w.store.get(&k)),
        Err(StoreFault),
        "nothing local yet: a miss"
    );
    assert_eq!(
        block_on(w.store.put(&k, &entry_bytes("two"), 600)),
        Err(StoreFault)
    );
    assert_eq!(
        block_on(w.store.get(&k)).expect("local"),
        Some(entry_bytes("two")),
        "the local tier still serves this location"
    );
}

#[test]
fn a_prefix_purge_is_one_write_and_changes_every_key_below_it_only() {
    let w = World::new();
    let (a, b, other) = (
        base(&w.store, "/api/a"),
        base(&w.store, "/api/b"),
        base(&w.store, "/web/c"),
    );
    for k in [&a, &b, &other] {
        block_on(w.store.put(k, &entry_bytes("x"), 600)).expect("stored");
    }
    let before = w.shared.ops();
    let done = block_on(w.store.purge(&[], &["/api/".to_owned()]));
    assert_eq!(done.invalidated_prefixes, 1);
    assert!(done.purged.complete);
    let after = w.shared.ops();
    assert_eq!(
        (after.1 - before.1, after.2 - before.2),
        (1, 0),
        "one write, no list"
    );
    assert_ne!(base(&w.store, "/api/a"), a);
    assert_ne!(base(&w.store, "/api/b"), b);
    assert_eq!(base(&w.store, "/web/c"), other);
    assert_eq!(block_on(w.store.get(&base(&w.store, "/api/a"))), Ok(None));
    // Another isolate sees it on its next listing.
    assert_ne!(base(&w.other_isolate(), "/api/a"), a);
}

#[test]
fn a_url_purge_deletes_its_keys_in_kv_and_this_locations_copy() {
    let w = World::new();
    let k = base(&w.store, "/a");
    block_on(w.store.put(&k, &entry_bytes("x"), 600)).expect("stored");
    let done = block_on(w.store.purge(&[key::uri_prefix("/a", None)], &[]));
    assert_eq!((done.purged.deleted, done.invalidated_prefixes), (1, 0));
    assert!(w.local.keys().is_empty() && w.shared.keys().is_empty());
}

#[test]
fn the_generation_table_is_listed_once_per_refresh_and_never_goes_back() {
    let w = World::new();
    block_on(w.store.generation("/a")).expect("read");
    block_on(w.store.generation("/b")).expect("read");
    assert_eq!(w.shared.ops().2, 1, "one list per refresh period");
    block_on(w.store.bump("/a")).expect("bumped");
    let bumped = block_on(w.store.generation("/a")).expect("read");
    // A listing that lags behind (KV's eventual consistency) does not undo the purge.
    w.shared.0.generations.borrow_mut().clear();
    w.jump_ms(REFRESH_MS);
    assert_eq!(block_on(w.store.generation("/a")), Ok(bumped));
    assert_eq!(w.shared.ops().2, 2);
}

#[test]
fn a_failing_listing_uses_the_last_table_for_a_while_then_bypasses() {
    let w = World::new();
    block_on(w.store.bump("/a")).expect("bumped");
    let token = block_on(w.store.generation("/a")).expect("read");
    w.shared.0.fail_list.set(true);
    w.jump_ms(REFRESH_MS);
    assert_eq!(block_on(w.store.generation("/a")), Ok(token));
    w.jump_ms(MAX_STALE_MS);
    assert_eq!(block_on(w.store.generation("/a")), Err(StoreFault));
    assert_eq!(
        block_on(w.other_isolate().generation("/a")),
        Err(StoreFault),
        "an isolate without a table never guesses"
    );
    let done = block_on(w.store.purge(&[], &["/b".to_owned()]));
    assert_eq!(
        (done.invalidated_prefixes, done.purged.complete),
        (0, false)
    );
}

#[test]
fn a_failing_generation_write_is_an_incomplete_purge() {
    let w = World::new();
    let token = block_on(w.store.generation("/a")).expect("read");
    w.shared.0.fail.set(true);
    let done = block_on(w.store.purge(&[], &["/a".to_owned()]));
    assert_eq!(
        (done.invalidated_prefixes, done.purged.complete),
        (0, false)
    );
    assert_eq!(
        block_on(w.store.generation("/a")),
        Ok(token),
        "nothing changed"
    );
}

#[test]
fn past_the_limit_a_new_prefix_purges_everything() {
    let w = World::new();
    for i in 0..MAX_GENERATIONS {
        w.shared
            .0
            .generations
            .borrow_mut()
            .insert(format!("/p{i}/"), 1);
    }
    let other = block_on(w.store.generation("/q/x")).expect("read");
    assert_eq!(other, "0");
    block_on(w.store.bump("/q/")).expect("bumped");
    assert!(w.shared.0.generations.borrow().contains_key("/"));
    assert!(!w.shared.0.generations.borrow().contains_key("/q/"));
    assert_ne!(block_on(w.store.generation("/z")).expect("read"), "0");
    let again = block_on(w.store.generation("/p1/x")).expect("read");
    block_on(w.store.bump("/p1/")).expect("a known prefix keeps its own");
    assert_ne!(block_on(w.store.generation("/p1/x")).expect("read"), again);
}

#[test]
fn two_purges_in_the_same_millisecond_both_change_the_generation() {
    let w = World::new();
    let t0 = block_on(w.store.generation("/a")).expect("read");
    block_on(w.store.bump("/a")).expect("bumped");
    let t1 = block_on(w.store.generation("/a")).expect("read");
    block_on(w.store.bump("/a")).expect("bumped");
    let t2 = block_on(w.store.generation("/a")).expect("read");
    assert!(t0 != t1 && t1 != t2 && t0 != t2);
}

/// A local tier that holds nothing: the store as it was before the tiers (KV only).
#[derive(Clone, Copy)]
pub(crate) struct NoLocal;

impl Local for NoLocal {
    async fn get(&self, _key: &str) -> Result<Option<Vec<u8>>, StoreFault> {
        Ok(None)
    }
    async fn put(&self, _key: &str, _value: &[u8], _keep_s: u64) -> Result<(), StoreFault> {
        Ok(())
    }
    async fn delete(&self, _key: &str) -> Result<(), StoreFault> {
        Ok(())
    }
}
