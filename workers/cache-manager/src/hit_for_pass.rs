//! This isolate's hit-for-pass markers (`edge_core::cache::pass`), shared by its requests
//! as [`crate::coalesce::Flights`] are.

use std::cell::RefCell;
use std::rc::Rc;

use edge_core::cache::pass::PassMarkers;

/// The marked keys, shared by every request of the isolate (or of one test).
#[derive(Clone, Default)]
pub(crate) struct Passes(Rc<RefCell<PassMarkers>>);

thread_local! {
    static PASSES: Passes = Passes::default();
}

impl Passes {
    /// This isolate's markers.
    pub(crate) fn isolate() -> Self {
        PASSES.with(Self::clone)
    }

    /// Whether `key` is marked at `now_s`.
    pub(crate) fn holds(&self, key: &str, now_s: u64) -> bool {
        self.0.borrow().holds(key, now_s)
    }

    /// Marks `key` from `now_s`.
    pub(crate) fn mark(&self, key: &str, now_s: u64) {
        self.0.borrow_mut().mark(key, now_s);
    }

    /// Ends `key`'s pass.
    pub(crate) fn clear(&self, key: &str) {
        self.0.borrow_mut().clear(key);
    }
}
