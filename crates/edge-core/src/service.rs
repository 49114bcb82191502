//! The five workers of the system, by name.

use serde::{Deserialize, Serialize};

/// One of the five deployed workers. The string form is the worker's deployed name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceName {
    /// Public entry of the API pipeline: validation and authentication.
    AuthValidator,
    /// RFC 9111 shared cache between auth-validator and voice-router.
    CacheManager,
    /// Latency-aware geo routing to regional origins.
    VoiceRouter,
    /// Receives metrics from every worker and aggregates them.
    AnalyticsCollector,
    /// LINE and Discord webhooks.
    ChatWebhook,
}

impl ServiceName {
    /// Every worker, in pipeline order.
    pub const ALL: [Self; 5] = [
        Self::AuthValidator,
        Self::CacheManager,
        Self::VoiceRouter,
        Self::AnalyticsCollector,
        Self::ChatWebhook,
    ];

    /// The deployed name, e.g. `"auth-validator"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthValidator => "auth-validator",
            Self::CacheManager => "cache-manager",
            Self::VoiceRouter => "voice-router",
            Self::AnalyticsCollector => "analytics-collector",
            Self::ChatWebhook => "chat-webhook",
        }
    }

    /// Parses a deployed name; exact match only.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for ServiceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_str_and_serde() {
        for s in ServiceName::ALL {
            assert_eq!(ServiceName::parse(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).expect("serializes");
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(ServiceName::parse("Auth-Validator"), None);
        assert_eq!(ServiceName::parse(""), None);
    }
}
