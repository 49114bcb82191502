//! When a remote JWKS is fetched, and where it may come from.
//!
//! The worker keeps one remote key set per isolate. [`decide`] tells it, for one request,
//! whether to use the cached keys, wait for a fetch already in flight, or start one — so
//! a burst of tokens (valid, or forged with random `kid`s) costs the identity provider at
//! most one fetch: the first request marks the refresh in flight *before* it awaits, and
//! every request behind it waits for that fetch to land. (Workers cannot await another
//! request's I/O, so a waiter watches the shared state rather than the fetch itself; a
//! fetch whose request died is given up after its timeout and started again.) A refresh for an unknown `kid` also waits
//! [`MIN_REFRESH_INTERVAL_FLOOR_S`] at least since the previous attempt, whatever the
//! configuration says.
//!
//! A remote JWKS is trusted only over `https` (plain `http` only to a loopback host, for
//! local development and tests), only with a configured issuer, and only for asymmetric
//! keys: a shared HMAC secret published in a JWKS document is not a secret.

/// Smallest interval between two refreshes caused by unknown `kid`s, seconds.
pub const MIN_REFRESH_INTERVAL_FLOOR_S: u64 = 1;
/// Smallest interval between two attempts to refresh a stale set, milliseconds.
const STALE_RETRY_MS: u64 = 1_000;

/// What is known about the cached remote key set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoteState {
    /// When the keys were last fetched successfully, unix ms.
    pub fetched_ms: Option<u64>,
    /// When a fetch was last started, unix ms.
    pub attempted_ms: Option<u64>,
    /// When the fetch in flight started, unix ms (`None`: none is).
    pub in_flight_since: Option<u64>,
}

/// Why the keys are wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Any token: refresh when nothing is cached or the keys are older than `ttl_ms`.
    IfStale {
        /// How long fetched keys are used, ms.
        ttl_ms: u64,
    },
    /// A token names a `kid` the cached set lacks: refresh unless the last attempt was
    /// less than `min_gap_ms` ago (never less than the floor).
    UnknownKid {
        /// The configured minimum interval, ms.
        min_gap_ms: u64,
    },
}

/// What the worker does for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Action {
    /// Use the cached keys.
    UseCached,
    /// Wait for the fetch in flight and use its keys.
    Join,
    /// Mark a fetch in flight (now, before awaiting) and start it.
    Fetch,
}

/// Decides one request's [`Action`] at `now_ms`; a fetch in flight for longer than
/// `fetch_timeout_ms` is taken as lost (its request ended) and replaced.
pub fn decide(state: RemoteState, reason: Reason, now_ms: u64, fetch_timeout_ms: u64) -> Action {
    if let Some(since) = state.in_flight_since {
        return if now_ms.saturating_sub(since) <= fetch_timeout_ms {
            Action::Join
        } else {
            Action::Fetch
        };
    }
    let since_attempt = state
        .attempted_ms
        .map_or(u64::MAX, |t| now_ms.saturating_sub(t));
    let due = match reason {
        Reason::IfStale { ttl_ms } => {
            state
                .fetched_ms
                .is_none_or(|t| now_ms.saturating_sub(t) >= ttl_ms)
                && since_attempt >= STALE_RETRY_MS
        }
        Reason::UnknownKid { min_gap_ms } => {
            since_attempt >= min_gap_ms.max(MIN_REFRESH_INTERVAL_FLOOR_S * 1000)
        }
    };
    if due {
        Action::Fetch
    } else {
        Action::UseCached
    }
}

/// Whether a JWKS may be fetched from `url`: `https://`, or `http://` to `localhost`,
/// `127.0.0.1` or `[::1]` (local development and tests).
#[must_use]
pub fn url_allowed(url: &str) -> bool {
    if let Some(rest) = url.strip_prefix("https://") {
        return !rest.is_empty() && !rest.starts_with('/');
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")),
        None => authority.split(':').next().map(str::to_owned),
    };
    !authority.contains('@') && matches!(host.as_deref(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// Shortest time a provider's `Cache-Control` may keep its JWKS, ms: a `max-age=0` (or
/// `no-cache`, `no-store`) must not turn every token into a fetch.
pub const MIN_CACHE_TTL_MS: u64 = 60_000;
/// Longest time a provider's `Cache-Control` may keep its JWKS, ms: a rotated-out key stops
/// verifying within a day whatever the header says.
pub const MAX_CACHE_TTL_MS: u64 = 86_400_000;

/// How long a fetched JWKS is used: the response's `Cache-Control` `max-age`, within
/// [`MIN_CACHE_TTL_MS`]..=[`MAX_CACHE_TTL_MS`]; `no-cache`/`no-store` mean the floor; no
/// header, or none of these directives (or a malformed `max-age`), means `default_ms` (the
/// configured `JWKS_CACHE_TTL_S`).
#[must_use]
pub fn cache_ttl_ms(cache_control: Option<&str>, default_ms: u64) -> u64 {
    let mut ttl = None;
    for directive in cache_control.unwrap_or_default().split(',') {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().trim_matches('"');
        match name.as_str() {
            "no-store" | "no-cache" => return MIN_CACHE_TTL_MS,
            "max-age" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // Digits beyond u64 are "a very long time".
                let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
                ttl = Some(seconds.saturating_mul(1000));
            }
            _ => {}
        }
    }
    ttl.map_or(default_ms, |t| t.clamp(MIN_CACHE_TTL_MS, MAX_CACHE_TTL_MS))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cache_control_max_age_is_honoured_within_bounds() {
        use super::{MAX_CACHE_TTL_MS as MAX, MIN_CACHE_TTL_MS as MIN, cache_ttl_ms};
        let d = 600_000;
        assert_eq!(cache_ttl_ms(None, d), d);
        assert_eq!(cache_ttl_ms(Some("public, max-age=3600"), d), 3_600_000);
        assert_eq!(cache_ttl_ms(Some("Max-Age=\"120\""), d), 120_000);
        assert_eq!(cache_ttl_ms(Some("max-age=0"), d), MIN);
        assert_eq!(cache_ttl_ms(Some("max-age=5"), d), MIN);
        assert_eq!(cache_ttl_ms(Some("max-age=31536000"), d), MAX);
        assert_eq!(
            cache_ttl_ms(Some("max-age=99999999999999999999999"), d),
            MAX
        );
        assert_eq!(cache_ttl_ms(Some("no-store"), d), MIN);
        assert_eq!(cache_ttl_ms(Some("max-age=3600, no-cache"), d), MIN);
        assert_eq!(cache_ttl_ms(Some("public"), d), d);
        assert_eq!(cache_ttl_ms(Some("max-age=-1"), d), d);
        assert_eq!(cache_ttl_ms(Some("max-age=1e3"), d), d);
        assert_eq!(cache_ttl_ms(Some(""), d), d);
    }

    use super::*;

    const NOW: u64 = 1_800_000_000_000;
    const TIMEOUT: u64 = 5_000;

    fn decide(state: RemoteState, reason: Reason, now_ms: u64) -> Action {
        super::decide(state, reason, now_ms, TIMEOUT)
    }

    #[test]
    fn item_13_6_a_burst_starts_one_fetch_and_joins_it() {
        // Nothing cached: the first request fetches, marking it in flight; the other 199
        // join the same fetch instead of starting their own.
        let mut state = RemoteState::default();
        let mut fetches = 0;
        for i in 0..200 {
            match decide(state, Reason::IfStale { ttl_ms: 600_000 }, NOW + i) {
                Action::Fetch => {
                    fetches += 1;
                    state.in_flight_since = Some(NOW + i);
                    state.attempted_ms = Some(NOW + i);
                }
                Action::Join => {}
                Action::UseCached => panic!("nothing is cached yet"),
            }
        }
        assert_eq!(fetches, 1);
        // The fetch lands; unknown kids right after it do not fetch again.
        state = RemoteState {
            fetched_ms: Some(NOW + 300),
            attempted_ms: Some(NOW),
            in_flight_since: None,
        };
        let unknown = Reason::UnknownKid { min_gap_ms: 0 };
        assert_eq!(decide(state, unknown, NOW + 500), Action::UseCached);
        assert_eq!(decide(state, unknown, NOW + 999), Action::UseCached);
        assert_eq!(
            decide(state, unknown, NOW + 1_000),
            Action::Fetch,
            "the floor is 1 s even when 0 is configured"
        );
        let thirty = Reason::UnknownKid { min_gap_ms: 30_000 };
        assert_eq!(decide(state, thirty, NOW + 29_999), Action::UseCached);
        assert_eq!(decide(state, thirty, NOW + 30_000), Action::Fetch);
    }

    #[test]
    fn a_fetch_whose_request_died_is_replaced_after_its_timeout() {
        let lost = RemoteState {
            fetched_ms: None,
            attempted_ms: Some(NOW),
            in_flight_since: Some(NOW),
        };
        let any = Reason::IfStale { ttl_ms: 600_000 };
        assert_eq!(decide(lost, any, NOW + TIMEOUT), Action::Join);
        assert_eq!(decide(lost, any, NOW + TIMEOUT + 1), Action::Fetch);
    }

    #[test]
    fn stale_keys_refresh_after_the_ttl_and_failed_fetches_retry_slowly() {
        let fresh = RemoteState {
            fetched_ms: Some(NOW),
            attempted_ms: Some(NOW),
            in_flight_since: None,
        };
        let stale = Reason::IfStale { ttl_ms: 600_000 };
        assert_eq!(decide(fresh, stale, NOW + 599_999), Action::UseCached);
        assert_eq!(decide(fresh, stale, NOW + 600_000), Action::Fetch);
        let failed = RemoteState {
            fetched_ms: None,
            attempted_ms: Some(NOW),
            in_flight_since: None,
        };
        assert_eq!(decide(failed, stale, NOW + 999), Action::UseCached);
        assert_eq!(decide(failed, stale, NOW + 1_000), Action::Fetch);
    }

    #[test]
    fn item_13_6_jwks_only_over_https_or_loopback() {
        for ok in [
            "https://idp.example.com/.well-known/jwks.json",
            "http://127.0.0.1:8787/jwks",
            "http://localhost/jwks",
            "http://[::1]:9/jwks",
        ] {
            assert!(url_allowed(ok), "{ok}");
        }
        for bad in [
            "http://idp.example.com/jwks",
            "http://127.0.0.1.evil.example/jwks",
            "http://localhost@evil.example/jwks",
            "http://evil.example#@localhost/",
            "ftp://idp.example.com/jwks",
            "https:///jwks",
            "jwks.json",
        ] {
            assert!(!url_allowed(bad), "{bad}");
        }
    }
}
