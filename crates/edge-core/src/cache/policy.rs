//! Per-path cache policies from configuration: how long a response may be kept when the
//! origin says nothing about its freshness, or that a path is never cached.
//!
//! Config form (var `CACHE_TTL_POLICIES`): comma-separated `<prefix>=<seconds>` or
//! `<prefix>=never`; the longest matching prefix wins, on segment boundaries like the
//! request policy (`/api/v1/calls` does not match `/api/v1/callsign`).

/// Default policies: agent configs 5 min, health 1 min, analytics 2 min, audio and
/// streams never.
pub const DEFAULT_POLICIES: &str =
    "/api/v1/agents=300,/health=60,/api/v1/analytics=120,/voice/=never,/api/v1/calls/stream=never";
/// Most policies a configuration may list.
const MAX_POLICIES: usize = 64;
/// Longest configurable TTL: one day.
pub const MAX_POLICY_TTL_S: u64 = 86_400;

/// What a path's policy says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathPolicy {
    /// Never cached: requests pass straight through (`X-Cache: BYPASS`).
    Never,
    /// Cached per the origin's headers, with this lifetime when they give none.
    DefaultTtl(u64),
    /// No policy: cached only per the origin's headers (and RFC heuristics).
    OriginOnly,
}

/// The configured policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTable {
    rules: Vec<(String, PathPolicy)>,
}

impl PolicyTable {
    /// Parses the config form.
    ///
    /// # Errors
    /// `Err(())` for a malformed entry, a TTL over a day, or more than 64 entries.
    #[allow(clippy::result_unit_err)]
    pub fn parse(raw: &str) -> Result<Self, ()> {
        let mut rules = Vec::new();
        for item in crate::list::items(raw) {
            let (prefix, value) = item.split_once('=').ok_or(())?;
            let prefix = prefix.trim();
            if !prefix.starts_with('/') || prefix.contains(char::is_whitespace) {
                return Err(());
            }
            let policy = match value.trim() {
                "never" => PathPolicy::Never,
                n => {
                    let ttl: u64 = n.parse().map_err(|_| ())?;
                    if ttl > MAX_POLICY_TTL_S {
                        return Err(());
                    }
                    PathPolicy::DefaultTtl(ttl)
                }
            };
            rules.push((prefix.to_owned(), policy));
        }
        if rules.len() > MAX_POLICIES {
            return Err(());
        }
        rules.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Ok(Self { rules })
    }

    /// The policy of `path`: the longest matching prefix's.
    #[must_use]
    pub fn for_path(&self, path: &str) -> PathPolicy {
        self.rules
            .iter()
            .find(|(prefix, _)| match path.strip_prefix(prefix.as_str()) {
                Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
                None => false,
            })
            .map_or(PathPolicy::OriginOnly, |(_, p)| *p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_longest_prefix() {
        let t = PolicyTable::parse(DEFAULT_POLICIES).expect("valid");
        assert_eq!(t.for_path("/api/v1/agents/a1"), PathPolicy::DefaultTtl(300));
        assert_eq!(t.for_path("/health"), PathPolicy::DefaultTtl(60));
        assert_eq!(
            t.for_path("/api/v1/analytics/daily"),
            PathPolicy::DefaultTtl(120)
        );
        assert_eq!(t.for_path("/voice/stream/1"), PathPolicy::Never);
        assert_eq!(t.for_path("/api/v1/calls/stream/9"), PathPolicy::Never);
        assert_eq!(t.for_path("/api/v1/calls/9"), PathPolicy::OriginOnly);
        assert_eq!(t.for_path("/api/v1/agentsx"), PathPolicy::OriginOnly);
        let nested = PolicyTable::parse("/a=10,/a/b=never").expect("valid");
        assert_eq!(nested.for_path("/a/b/c"), PathPolicy::Never);
        assert_eq!(nested.for_path("/a/c"), PathPolicy::DefaultTtl(10));
    }

    #[test]
    fn malformed_config() {
        for bad in ["/a", "a=1", "/a=x", "/a=-1", "/a=86401", "/a b=1"] {
            assert!(PolicyTable::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            PolicyTable::parse("").map(|t| t.for_path("/x")),
            Ok(PathPolicy::OriginOnly)
        );
    }
}
