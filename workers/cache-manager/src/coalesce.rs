//! Request coalescing: a burst of misses for one key sends one request to the origin.
//!
//! The first miss for a key becomes the leader and fetches; the others wait for its
//! result. A result is shared only when it is a storable response (buffered, at most the
//! entry limit); otherwise — or if the leader fails, is cancelled or takes longer than the
//! upstream timeout — each waiter fetches for itself, so coalescing can delay a request
//! but never change its answer. It works within one isolate, which is where a burst to
//! one hot key lands.
//!
//! Followers poll a shared slot on their own short timers instead of being woken by the
//! leader: in Workers, a continuation woken from another request runs in that request's
//! context, and its I/O would then fail ("I/O on behalf of a different request").

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use edge_core::cache::entry::EntryMeta;
use edge_glue::now_ms;
use worker::Delay;

/// A response a leader fetched and stored, as its followers may reuse it.
pub(crate) struct Shareable {
    pub(crate) meta: EntryMeta,
    pub(crate) body: Vec<u8>,
}

type Outcome = Option<Rc<Shareable>>;

/// How often a follower looks at the slot.
const POLL_MS: u64 = 5;

enum Slot {
    Pending,
    Done(Outcome),
}

type SharedSlot = Rc<RefCell<Slot>>;

thread_local! {
    static IN_FLIGHT: RefCell<HashMap<String, SharedSlot>> = RefCell::new(HashMap::new());
}

/// Joining a key's flight.
pub(crate) enum Flight {
    /// Nobody is fetching this key: fetch it, then [`Leader::finish`].
    Leader(Leader),
    /// Someone is: wait for their result with [`wait`].
    Follower(Follower),
}

/// The request that fetches for everyone waiting on its key.
pub(crate) struct Leader {
    key: String,
    slot: SharedSlot,
}

/// A request waiting for a leader.
pub(crate) struct Follower {
    slot: SharedSlot,
}

/// Joins the flight of `key`.
pub(crate) fn join(key: &str) -> Flight {
    IN_FLIGHT.with_borrow_mut(|map| {
        if let Some(slot) = map.get(key) {
            return Flight::Follower(Follower {
                slot: Rc::clone(slot),
            });
        }
        let slot = Rc::new(RefCell::new(Slot::Pending));
        map.insert(key.to_owned(), Rc::clone(&slot));
        Flight::Leader(Leader {
            key: key.to_owned(),
            slot,
        })
    })
}

/// The leader's result, or `None` when the follower must fetch for itself (nothing
/// shareable, or no result within `max_wait_ms`).
pub(crate) async fn wait(follower: Follower, max_wait_ms: u64) -> Outcome {
    let deadline = now_ms().saturating_add(max_wait_ms);
    loop {
        if let Slot::Done(outcome) = &*follower.slot.borrow() {
            return outcome.clone();
        }
        if now_ms() >= deadline {
            return None;
        }
        Delay::from(Duration::from_millis(POLL_MS)).await;
    }
}

impl Leader {
    /// Hands `outcome` to every follower and closes the flight.
    pub(crate) fn finish(self, outcome: Outcome) {
        *self.slot.borrow_mut() = Slot::Done(outcome);
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let mut slot = self.slot.borrow_mut();
        if matches!(*slot, Slot::Pending) {
            *slot = Slot::Done(None);
        }
        IN_FLIGHT.with_borrow_mut(|map| map.remove(&self.key));
    }
}
