//! What the cache did for a request: the one contract between cache-manager, which
//! reports it (as its hop's decision and its `X-Cache` header), and analytics, which
//! counts it. Every spelling of an outcome is in [`CacheOutcome::spellings`], the one table.

use serde::Serialize;

/// What the cache did for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheOutcome {
    /// Not a cache-manager event, or no cache decision.
    None,
    /// Served fresh from the cache.
    Hit,
    /// Served stale from the cache (while revalidating, or on origin error).
    Stale,
    /// Looked up, not found (or not usable); fetched from the origin.
    Miss,
    /// Found stale and revalidated with the origin (304).
    Revalidated,
    /// Not cacheable; passed through.
    Bypass,
}

/// The spellings of one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spellings {
    /// The hop's decision code in its metric event (`""` for none).
    pub decision: &'static str,
    /// The stored spelling in analytics (`""` for none; also the serde name).
    pub stored: &'static str,
    /// The `X-Cache` response header (`""` for none: not sent).
    pub header: &'static str,
}

impl CacheOutcome {
    /// Every outcome.
    pub const ALL: [Self; 6] = [
        Self::None,
        Self::Hit,
        Self::Stale,
        Self::Miss,
        Self::Revalidated,
        Self::Bypass,
    ];

    /// The table of spellings.
    #[must_use]
    pub const fn spellings(self) -> Spellings {
        let (decision, stored, header) = match self {
            Self::None => ("", "", ""),
            Self::Hit => ("cache_hit", "hit", "HIT"),
            Self::Stale => ("cache_stale", "stale", "STALE"),
            Self::Miss => ("cache_miss", "miss", "MISS"),
            Self::Revalidated => ("cache_revalidated", "revalidated", "REVALIDATED"),
            Self::Bypass => ("cache_bypass", "bypass", "BYPASS"),
        };
        Spellings {
            decision,
            stored,
            header,
        }
    }

    /// The hop decision cache-manager reports for this outcome.
    #[must_use]
    pub const fn decision(self) -> &'static str {
        self.spellings().decision
    }

    /// The `X-Cache` header value.
    #[must_use]
    pub const fn header(self) -> &'static str {
        self.spellings().header
    }

    /// The stored spelling (`''` for none).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        self.spellings().stored
    }

    /// The outcome a hop's decision code reports: [`Self::None`] for any code that is not
    /// a cache outcome's.
    #[must_use]
    pub fn from_decision(decision: Option<&str>) -> Self {
        decision
            .and_then(|d| Self::ALL.into_iter().find(|o| o.decision() == d))
            .unwrap_or(Self::None)
    }

    /// Stored spellings that count as hits: answered from the cache without waiting on the
    /// origin.
    pub const HITS: [&'static str; 2] = [Self::Hit.as_str(), Self::Stale.as_str()];
    /// Stored spellings that count as lookups (the hit ratio's denominator); bypasses are
    /// not lookups.
    pub const LOOKUPS: [&'static str; 4] = [
        Self::Hit.as_str(),
        Self::Stale.as_str(),
        Self::Miss.as_str(),
        Self::Revalidated.as_str(),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_round_trips_through_its_decision() {
        for o in CacheOutcome::ALL {
            assert_eq!(CacheOutcome::from_decision(Some(o.decision())), o, "{o:?}");
        }
        assert_eq!(CacheOutcome::from_decision(None), CacheOutcome::None);
        assert_eq!(
            CacheOutcome::from_decision(Some("allow_jwt")),
            CacheOutcome::None
        );
    }

    #[test]
    fn the_wire_spellings_stay_what_metrics_and_clients_already_see() {
        let table: Vec<_> = CacheOutcome::ALL
            .into_iter()
            .map(|o| (o.decision(), o.as_str(), o.header()))
            .collect();
        assert_eq!(
            table,
            [
                ("", "", ""),
                ("cache_hit", "hit", "HIT"),
                ("cache_stale", "stale", "STALE"),
                ("cache_miss", "miss", "MISS"),
                ("cache_revalidated", "revalidated", "REVALIDATED"),
                ("cache_bypass", "bypass", "BYPASS"),
            ]
        );
    }

    #[test]
    fn the_serde_name_is_the_stored_spelling() {
        for o in CacheOutcome::ALL.into_iter().skip(1) {
            assert_eq!(
                serde_json::to_value(o).ok(),
                Some(serde_json::Value::from(o.as_str()))
            );
        }
    }

    #[test]
    fn hits_are_lookups_and_bypasses_are_neither() {
        assert!(
            CacheOutcome::HITS
                .iter()
                .all(|h| CacheOutcome::LOOKUPS.contains(h))
        );
        assert!(!CacheOutcome::LOOKUPS.contains(&CacheOutcome::Bypass.as_str()));
        assert!(CacheOutcome::LOOKUPS.iter().all(|s| !s.is_empty()));
    }
}
