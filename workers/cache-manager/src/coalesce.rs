//! Request coalescing: a burst of misses for one key sends one request to the origin.
//!
//! The first miss for a key becomes the leader and fetches; the others wait for its
//! result. A result is shared only when it is a storable response (buffered, at most the
//! entry limit); otherwise — or if the leader fails, is cancelled or takes longer than the
//! upstream timeout — each waiter fetches for itself, so coalescing can delay a request
//! but never change its answer. It works within one isolate, which is where a burst to
//! one hot key lands: the worker uses one [`Flights`] per isolate ([`Flights::isolate`]).
//!
//! Followers poll a shared slot on their own short timers instead of being woken by the
//! leader: in Workers, a continuation woken from another request runs in that request's
//! context, and its I/O would then fail ("I/O on behalf of a different request").

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::flow::{Clock, Entry};

type Outcome = Option<Rc<Entry>>;

/// How often a follower looks at the slot.
const POLL_MS: u64 = 5;

enum Slot {
    Pending,
    Done(Outcome),
}

type SharedSlot = Rc<RefCell<Slot>>;

/// The keys being fetched, each with the slot its leader fills.
#[derive(Clone, Default)]
pub(crate) struct Flights(Rc<RefCell<HashMap<String, SharedSlot>>>);

thread_local! {
    static IN_FLIGHT: Flights = Flights::default();
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
    flights: Flights,
}

/// A request waiting for a leader.
pub(crate) struct Follower {
    slot: SharedSlot,
}

impl Flights {
    /// This isolate's flights.
    pub(crate) fn isolate() -> Self {
        IN_FLIGHT.with(Self::clone)
    }

    /// Joins the flight of `key`.
    pub(crate) fn join(&self, key: &str) -> Flight {
        let mut map = self.0.borrow_mut();
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
            flights: self.clone(),
        })
    }
}

/// The leader's result, or `None` when the follower must fetch for itself (nothing
/// shareable, or no result within `max_wait_ms` on `clock`).
pub(crate) async fn wait(follower: Follower, max_wait_ms: u64, clock: &impl Clock) -> Outcome {
    let deadline = clock.now_ms().saturating_add(max_wait_ms);
    loop {
        if let Slot::Done(outcome) = &*follower.slot.borrow() {
            return outcome.clone();
        }
        if clock.now_ms() >= deadline {
            return None;
        }
        clock.sleep(POLL_MS).await;
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
        self.flights.0.borrow_mut().remove(&self.key);
    }
}
