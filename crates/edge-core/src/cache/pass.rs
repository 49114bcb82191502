//! Hit-for-pass: a key whose last answer no cache may store is not looked up for a while.
//!
//! An answer marked `no-store` or `private` by its origin (or that sets a cookie this cache
//! refuses, or varies on `*`) will not be in either tier next time either, so reading both
//! tiers for it again is wasted work (two storage reads per request), and so is making
//! concurrent requests for it wait behind one another (request coalescing only helps
//! answers that can be shared). Varnish calls this *hit-for-pass*. A marked key is
//! forwarded without a lookup and without coalescing for [`HIT_FOR_PASS_S`]; whatever the
//! origin then answers is judged as on any miss, so a storable answer is stored and ends the
//! pass at once. Nothing stale can be served by a marker: it only skips reads, the answer
//! always comes from the origin. What a marker can cost is a hit: an entry another isolate
//! stored for the key within the pass is not read here until it ends.
//!
//! Markers live in one isolate's memory, keyed by a SHA-256 prefix of the entry key (fixed
//! size, no collision an outsider can aim for), at most [`MAX_MARKERS`]: when full, expired
//! markers go first, then the one closest to expiring.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::decide::SetCookie;
use super::entry::EntryMeta;

/// How long a key stays marked after an answer no cache may store, seconds.
pub const HIT_FOR_PASS_S: u64 = 60;
/// Most keys marked at once in one isolate.
pub const MAX_MARKERS: usize = 4096;

/// Whether `entry`, as its origin answered it, may be stored by no shared cache for any
/// request: `no-store` (without `must-understand`), `private`, a `Set-Cookie` this cache
/// refuses, or `Vary: *`. Reasons that come from the request (its own `no-store`, its
/// `Authorization`, a method other than `GET`) or from a status that may change (an error)
/// do not mark the key: the next request may be answered differently.
#[must_use]
pub fn passes_for_everyone(entry: &EntryMeta, cookies: SetCookie) -> bool {
    let cc = entry.cache_control();
    (cc.no_store && !cc.must_understand)
        || cc.private
        || (cookies == SetCookie::Refuse && entry.header("set-cookie").is_some())
        || entry.vary_names().iter().any(|n| n == "*")
}

/// The marked keys of one isolate.
#[derive(Debug, Clone, Default)]
pub struct PassMarkers {
    until_s: HashMap<[u8; 16], u64>,
}

fn id(key: &str) -> [u8; 16] {
    let digest = Sha256::digest(key.as_bytes());
    let mut out = [0; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

impl PassMarkers {
    /// Whether `key` is marked at `now_s` (an expired marker is not).
    #[must_use]
    pub fn holds(&self, key: &str, now_s: u64) -> bool {
        self.until_s
            .get(&id(key))
            .is_some_and(|&until| now_s < until)
    }

    /// Marks `key` from `now_s` for [`HIT_FOR_PASS_S`].
    pub fn mark(&mut self, key: &str, now_s: u64) {
        let id = id(key);
        if self.until_s.len() >= MAX_MARKERS && !self.until_s.contains_key(&id) {
            self.until_s.retain(|_, until| now_s < *until);
            if self.until_s.len() >= MAX_MARKERS
                && let Some(first) = self
                    .until_s
                    .iter()
                    .min_by_key(|(_, until)| **until)
                    .map(|(k, _)| *k)
            {
                self.until_s.remove(&first);
            }
        }
        self.until_s
            .insert(id, now_s.saturating_add(HIT_FOR_PASS_S));
    }

    /// Ends `key`'s pass (its answer was stored).
    pub fn clear(&mut self, key: &str) {
        self.until_s.remove(&id(key));
    }

    /// How many keys are marked (expired ones included until they are evicted).
    #[must_use]
    pub fn len(&self) -> usize {
        self.until_s.len()
    }

    /// Whether no key is marked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.until_s.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(headers: &[(&str, &str)]) -> EntryMeta {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        EntryMeta::from_response(200, &headers, &[], 0, 0)
    }

    #[test]
    fn only_the_answers_own_refusals_mark_the_key() {
        let refuse = SetCookie::Refuse;
        for refused in [
            &[("cache-control", "no-store")][..],
            &[("cache-control", "private, max-age=60")],
            &[("cache-control", "max-age=60"), ("set-cookie", "s=1")],
            &[("cache-control", "max-age=60"), ("vary", "*")],
        ] {
            assert!(passes_for_everyone(&meta(refused), refuse), "{refused:?}");
        }
        for storable_or_transient in [
            &[("cache-control", "max-age=60")][..],
            &[],
            &[("cache-control", "no-store, must-understand")],
            &[("cache-control", "no-cache")],
            &[("vary", "accept-encoding")],
        ] {
            let m = meta(storable_or_transient);
            assert!(
                !passes_for_everyone(&m, refuse),
                "{storable_or_transient:?}"
            );
        }
        let cookie = meta(&[("cache-control", "max-age=60"), ("set-cookie", "s=1")]);
        assert!(!passes_for_everyone(&cookie, SetCookie::Strip));
    }

    #[test]
    fn a_marker_holds_for_its_time_and_is_cleared_by_a_store() {
        let mut m = PassMarkers::default();
        assert!(!m.holds("k", 100));
        m.mark("k", 100);
        assert!(m.holds("k", 100));
        assert!(m.holds("k", 100 + HIT_FOR_PASS_S - 1));
        assert!(!m.holds("k", 100 + HIT_FOR_PASS_S));
        assert!(!m.holds("other", 100));
        m.mark("k", 200);
        m.clear("k");
        assert!(!m.holds("k", 200));
        assert!(m.is_empty());
    }

    #[test]
    fn markers_are_bounded_expired_and_soonest_first() {
        let mut m = PassMarkers::default();
        for i in 0..MAX_MARKERS {
            m.mark(&format!("k{i}"), i as u64);
        }
        assert_eq!(m.len(), MAX_MARKERS);
        // Full, none expired: the one closest to expiring (k0) goes.
        m.mark("new", 10);
        assert_eq!(m.len(), MAX_MARKERS);
        assert!(!m.holds("k0", 10));
        assert!(m.holds("k1", 10) && m.holds("new", 10));
        // Later, every early one has expired: they all go at once.
        let late = MAX_MARKERS as u64 + HIT_FOR_PASS_S;
        m.mark("late", late);
        assert_eq!(m.len(), 1);
        assert!(m.holds("late", late));
        // Marking a marked key again never evicts another.
        let before = m.len();
        m.mark("late", late + 1);
        assert_eq!(m.len(), before);
    }
}
