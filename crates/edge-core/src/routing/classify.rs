//! Request classes, from the path: what the request is, how urgent, how it may be cached.

/// The kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    /// Live audio (`/voice/…`, `/api/v1/calls/<id>/stream`).
    AudioStream,
    /// Agent configuration (`/api/v1/agents…`).
    AgentConfig,
    /// Calls and phone numbers (`/api/v1/calls…`, `/api/v1/phone-numbers…`).
    CallManagement,
    /// Provider callbacks (`/webhooks/…`).
    Webhook,
    /// Anything else.
    ApiCall,
}

/// How urgent a class is for the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Real-time media.
    Realtime,
    /// Interactive.
    High,
    /// Default.
    Normal,
    /// Background.
    Low,
}

/// How a class's responses may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStrategy {
    /// Never (media, per-call state).
    NoStore,
    /// Per the origin's headers, with a short default lifetime.
    Cacheable,
    /// Per the origin's headers only.
    OriginDirected,
}

impl RequestClass {
    /// Classifies a path.
    #[must_use]
    pub fn of(path: &str) -> Self {
        let under = |p: &str| path == p || path.starts_with(&format!("{p}/"));
        if path.starts_with("/voice/")
            || (under("/api/v1/calls") && path.trim_end_matches('/').ends_with("/stream"))
        {
            Self::AudioStream
        } else if under("/api/v1/agents") {
            Self::AgentConfig
        } else if under("/api/v1/calls") || under("/api/v1/phone-numbers") {
            Self::CallManagement
        } else if path.starts_with("/webhooks/") {
            Self::Webhook
        } else {
            Self::ApiCall
        }
    }

    /// Stable name (`audio-stream`, `agent-config`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AudioStream => "audio-stream",
            Self::AgentConfig => "agent-config",
            Self::CallManagement => "call-management",
            Self::Webhook => "webhook",
            Self::ApiCall => "api-call",
        }
    }

    /// Its priority.
    #[must_use]
    pub fn priority(self) -> Priority {
        match self {
            Self::AudioStream => Priority::Realtime,
            Self::CallManagement | Self::Webhook => Priority::High,
            Self::AgentConfig | Self::ApiCall => Priority::Normal,
        }
    }

    /// Its cache strategy.
    #[must_use]
    pub fn cache_strategy(self) -> CacheStrategy {
        match self {
            Self::AudioStream | Self::CallManagement | Self::Webhook => CacheStrategy::NoStore,
            Self::AgentConfig => CacheStrategy::Cacheable,
            Self::ApiCall => CacheStrategy::OriginDirected,
        }
    }

    /// The latency the origin should aim for, ms.
    #[must_use]
    pub fn latency_target_ms(self) -> u32 {
        match self {
            Self::AudioStream => 150,
            Self::CallManagement => 300,
            Self::AgentConfig => 500,
            Self::ApiCall => 800,
            Self::Webhook => 1_000,
        }
    }
}

impl CacheStrategy {
    /// Stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoStore => "no-store",
            Self::Cacheable => "cacheable",
            Self::OriginDirected => "origin-directed",
        }
    }

    /// The `Cache-Control` to add to a response whose origin gave no freshness at all
    /// (neither `Cache-Control` nor `Expires`): `no-store` for classes that must not be
    /// cached by default, nothing otherwise.
    #[must_use]
    pub fn default_cache_control(self) -> Option<&'static str> {
        match self {
            Self::NoStore => Some("no-store"),
            Self::Cacheable | Self::OriginDirected => None,
        }
    }
}

impl Priority {
    /// Stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Realtime => "realtime",
            Self::High => "high",
            Self::Normal => "normal",
            Self::Low => "low",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let cases = [
            ("/voice/stream/1", RequestClass::AudioStream),
            ("/api/v1/calls/c1/stream", RequestClass::AudioStream),
            ("/api/v1/agents/a1", RequestClass::AgentConfig),
            ("/api/v1/calls", RequestClass::CallManagement),
            ("/api/v1/phone-numbers/p", RequestClass::CallManagement),
            ("/webhooks/twilio", RequestClass::Webhook),
            ("/api/v1/analytics", RequestClass::ApiCall),
            ("/api/v1/agentsx", RequestClass::ApiCall),
        ];
        for (path, class) in cases {
            assert_eq!(RequestClass::of(path), class, "{path}");
        }
        assert_eq!(RequestClass::AudioStream.priority(), Priority::Realtime);
        assert_eq!(
            RequestClass::AudioStream.cache_strategy(),
            CacheStrategy::NoStore
        );
        assert_eq!(
            RequestClass::AgentConfig.cache_strategy(),
            CacheStrategy::Cacheable
        );
        assert!(
            RequestClass::AudioStream.latency_target_ms()
                < RequestClass::Webhook.latency_target_ms()
        );
    }
}
