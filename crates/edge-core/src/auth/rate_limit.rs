//! Exact rate limiting: at most `limit` admitted requests in any rolling `window_s`.
//!
//! [`SlidingWindowLog`] keeps the admission times of the last window. It is exact, not an
//! estimate: a limit of 100 admits exactly 100 out of 1,000 simultaneous requests, and the
//! 101st is refused with the precise time until a slot frees. It must have a single
//! writer (a Durable Object per bucket); a read-modify-write in KV would lose updates.
//!
//! Headers follow draft-ietf-httpapi-ratelimit-headers (the widely deployed
//! `RateLimit-Limit` / `-Remaining` / `-Reset` / `-Policy` form) plus `Retry-After` on 429.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::HttpError;

/// Largest `limit` a policy may have (bounds the log's memory: 8 bytes per admission).
pub const MAX_LIMIT: u32 = 10_000;
/// Longest window, in seconds (one day).
pub const MAX_WINDOW_S: u32 = 86_400;

/// `limit` requests per rolling `window_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitPolicy {
    /// Requests admitted per window, 1..=[`MAX_LIMIT`].
    pub limit: u32,
    /// Window length in seconds, 1..=[`MAX_WINDOW_S`].
    pub window_s: u32,
}

impl RateLimitPolicy {
    /// A policy, if both numbers are in range.
    #[must_use]
    pub fn new(limit: u32, window_s: u32) -> Option<Self> {
        ((1..=MAX_LIMIT).contains(&limit) && (1..=MAX_WINDOW_S).contains(&window_s))
            .then_some(Self { limit, window_s })
    }

    /// Parses the config form `<limit>/<window seconds>`, e.g. `600/60`.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let (limit, window) = raw.trim().split_once('/')?;
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(limit) || !digits(window) {
            return None;
        }
        Self::new(limit.parse().ok()?, window.parse().ok()?)
    }

    fn window_ms(self) -> u64 {
        u64::from(self.window_s) * 1000
    }
}

/// The outcome of one check: admitted or not, and what the headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateDecision {
    /// Whether the request was admitted (and counted).
    pub allowed: bool,
    /// The policy applied.
    pub policy: RateLimitPolicy,
    /// Admissions left in the current window after this one.
    pub remaining: u32,
    /// Seconds until the oldest admission leaves the window (a slot frees), rounded up.
    pub reset_s: u64,
}

impl RateDecision {
    /// `RateLimit-*` headers (lowercase names) for any response, plus `retry-after` when
    /// the request was refused.
    #[must_use]
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("ratelimit-limit", self.policy.limit.to_string()),
            ("ratelimit-remaining", self.remaining.to_string()),
            ("ratelimit-reset", self.reset_s.to_string()),
            (
                "ratelimit-policy",
                format!("{};w={}", self.policy.limit, self.policy.window_s),
            ),
        ];
        if !self.allowed {
            h.push(("retry-after", self.reset_s.max(1).to_string()));
        }
        h
    }
}

/// A refused request: 429 `rate_limited` with `Retry-After` and `RateLimit-*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit of {} requests per {} s exceeded", .0.policy.limit, .0.policy.window_s)]
pub struct RateLimited(pub RateDecision);

impl HttpError for RateLimited {
    fn status(&self) -> u16 {
        429
    }
    fn code(&self) -> &'static str {
        "rate_limited"
    }
    fn headers(&self) -> Vec<(&'static str, String)> {
        self.0.headers()
    }
}

/// Admission times (unix ms) of one bucket, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlidingWindowLog {
    hits: VecDeque<u64>,
}

impl SlidingWindowLog {
    /// A log restored from stored admission times (any order; at most [`MAX_LIMIT`] kept).
    #[must_use]
    pub fn from_hits(mut hits: Vec<u64>) -> Self {
        hits.sort_unstable();
        let skip = hits.len().saturating_sub(MAX_LIMIT as usize);
        Self {
            hits: hits.into_iter().skip(skip).collect(),
        }
    }

    /// Admissions still in the log.
    #[must_use]
    pub fn len(&self) -> usize {
        self.hits.len()
    }

    /// Whether the log is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }

    /// Whether an admission at `t_ms` has left the window at `now_ms` (a store drops it).
    #[must_use]
    pub fn is_expired(policy: RateLimitPolicy, t_ms: u64, now_ms: u64) -> bool {
        t_ms.saturating_add(policy.window_ms()) <= now_ms
    }

    /// Gives back the newest admission (an attempt that turned out not to count, such as
    /// an operator's successful sign-in against a failed-attempts limit), returning its
    /// time so a store can delete the same entry.
    pub fn release(&mut self) -> Option<u64> {
        self.hits.pop_back()
    }

    /// Decides one request at `now_ms`, counting it if admitted.
    pub fn check(&mut self, policy: RateLimitPolicy, now_ms: u64) -> RateDecision {
        while self
            .hits
            .front()
            .is_some_and(|&t| Self::is_expired(policy, t, now_ms))
        {
            self.hits.pop_front();
        }
        let limit = policy.limit as usize;
        let allowed = self.hits.len() < limit;
        if allowed {
            // A clock that stepped back must not reorder the log.
            let t = self.hits.back().map_or(now_ms, |&last| last.max(now_ms));
            self.hits.push_back(t);
        }
        // The admission whose expiry frees the next slot.
        let freeing = self.hits.len().saturating_sub(limit);
        let reset_ms = self
            .hits
            .get(freeing)
            .map_or(0, |&t| (t + policy.window_ms()).saturating_sub(now_ms));
        RateDecision {
            allowed,
            policy,
            remaining: u32::try_from(limit.saturating_sub(self.hits.len())).unwrap_or(0),
            reset_s: reset_ms.div_ceil(1000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(limit: u32, window_s: u32) -> RateLimitPolicy {
        RateLimitPolicy::new(limit, window_s).expect("in range")
    }

    #[test]
    fn admits_exactly_the_limit_then_refuses_with_retry_after() {
        let p = policy(3, 60);
        let mut log = SlidingWindowLog::default();
        let t0 = 1_000_000;
        let d: Vec<_> = (0..5).map(|i| log.check(p, t0 + i * 1000)).collect();
        assert_eq!(d.iter().filter(|d| d.allowed).count(), 3);
        assert_eq!(
            d.iter().map(|d| d.remaining).collect::<Vec<_>>(),
            [2, 1, 0, 0, 0]
        );
        // The 4th comes at t0+3s; the first admission (t0) frees at t0+60s.
        assert!(!d[3].allowed);
        assert_eq!(d[3].reset_s, 57);
        assert!(d[3].headers().contains(&("retry-after", "57".to_owned())));
        assert!(d[0].headers().iter().all(|(n, _)| *n != "retry-after"));
    }

    #[test]
    fn the_window_rolls_rather_than_resetting() {
        let p = policy(2, 10);
        let mut log = SlidingWindowLog::default();
        assert!(log.check(p, 0).allowed);
        assert!(log.check(p, 9_000).allowed);
        assert!(!log.check(p, 9_999).allowed);
        // At 10 s the first admission leaves; only one slot frees.
        assert!(log.check(p, 10_000).allowed);
        assert!(!log.check(p, 10_001).allowed);
        assert!(log.check(p, 19_000).allowed);
    }

    #[test]
    fn policy_parsing() {
        assert_eq!(RateLimitPolicy::parse("600/60"), Some(policy(600, 60)));
        for bad in [
            "", "600", "0/60", "600/0", "10001/1", "1/86401", "-1/5", "1 /5x", "1/1/1",
        ] {
            assert_eq!(RateLimitPolicy::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn restored_logs_keep_counting() {
        let p = policy(2, 60);
        let mut log = SlidingWindowLog::from_hits(vec![5_000, 1_000]);
        assert!(!log.check(p, 6_000).allowed);
        assert_eq!(log.check(p, 61_001).remaining, 0);
    }

    proptest! {
        /// However requests arrive, no rolling window ever holds more than `limit`
        /// admissions, and a refusal's reset time is exactly when a slot frees.
        #[test]
        fn never_more_than_limit_in_any_window(
            limit in 1u32..20,
            window_s in 1u32..5,
            gaps in proptest::collection::vec(0u64..1500, 1..200),
        ) {
            let p = policy(limit, window_s);
            let mut log = SlidingWindowLog::default();
            let mut now = 0;
            let mut admitted = Vec::new();
            for g in gaps {
                now += g;
                let d = log.check(p, now);
                if d.allowed {
                    admitted.push(now);
                } else {
                    let mut probe = log.clone();
                    prop_assert!(!probe.check(p, now + d.reset_s * 1000 - 1000).allowed || d.reset_s == 0);
                    prop_assert!(probe.check(p, now + d.reset_s * 1000).allowed);
                }
            }
            let w = u64::from(window_s) * 1000;
            for (i, &t) in admitted.iter().enumerate() {
                let in_window = admitted[i..].iter().take_while(|&&u| u < t + w).count();
                prop_assert!(in_window <= limit as usize);
            }
        }
    }

    #[test]
    fn a_released_admission_frees_its_slot() {
        let p = policy(2, 60);
        let mut log = SlidingWindowLog::default();
        assert!(log.check(p, 1_000).allowed);
        assert!(log.check(p, 2_000).allowed);
        assert!(!log.check(p, 3_000).allowed);
        assert_eq!(log.release(), Some(2_000));
        assert!(
            log.check(p, 4_000).allowed,
            "the released slot is free again"
        );
        let mut empty = SlidingWindowLog::default();
        assert_eq!(empty.release(), None);
    }
}
