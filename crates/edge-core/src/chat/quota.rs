//! The per-user quota on paid AI calls: at most `limit` calls that reach a provider in any
//! rolling window, per user and channel. The decision is the exact sliding-window log of
//! [`crate::auth::rate_limit`] (one writer per bucket: a Durable Object); this module names
//! the buckets and holds the defaults.

use super::completion::Channel;

/// Default calls per window (`AI_USER_QUOTA`).
pub const DEFAULT_LIMIT: u32 = 30;
/// Default window, seconds (`AI_USER_QUOTA_WINDOW_S`: one hour).
pub const DEFAULT_WINDOW_S: u32 = 3_600;

/// The bucket of `user_id` on `channel`: a LINE user and a Discord user never share one.
#[must_use]
pub fn bucket(channel: Channel, user_id: &str) -> String {
    format!("ai-quota:{}:{user_id}", channel.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::rate_limit::{RateLimitPolicy, SlidingWindowLog};

    #[test]
    fn item_13_ai_quota_buckets_are_per_channel_and_user() {
        assert_eq!(bucket(Channel::Line, "U1"), "ai-quota:line:U1");
        assert_ne!(bucket(Channel::Line, "1"), bucket(Channel::Discord, "1"));
        assert_ne!(bucket(Channel::Discord, "1"), bucket(Channel::Discord, "2"));
        assert!(RateLimitPolicy::new(DEFAULT_LIMIT, DEFAULT_WINDOW_S).is_some());
    }

    #[test]
    fn item_13_ai_quota_third_call_in_the_window_is_refused() {
        let p = RateLimitPolicy::new(2, 60).expect("valid");
        let mut log = SlidingWindowLog::default();
        let t0 = 1_700_000_000_000;
        assert!(log.check(p, t0).allowed);
        assert!(log.check(p, t0 + 1_000).allowed);
        let third = log.check(p, t0 + 2_000);
        assert!(!third.allowed);
        assert_eq!(third.reset_s, 58);
        assert!(log.check(p, t0 + 60_000).allowed, "the window rolls");
    }
}
