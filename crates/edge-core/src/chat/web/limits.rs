//! The web chat's limits and timers, decided from what a session stored: a message's
//! length, the session's messages per minute, its tokens per hour ([`admit`]); when the
//! idle end and the storage deletion are due and which one the single alarm is for
//! ([`next_alarm`], [`on_alarm`]).

use super::frame::Status;

/// One minute, ms.
pub const MINUTE_MS: u64 = 60_000;
/// One hour, ms.
pub const HOUR_MS: u64 = 3_600_000;

/// A session's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest message, characters.
    pub max_chars: usize,
    /// User messages per rolling minute.
    pub per_minute: u32,
    /// Provider tokens per rolling hour.
    pub tokens_per_hour: u64,
}

/// Why a message is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Empty after trimming.
    #[error("the message is empty")]
    Empty,
    /// Longer than the limit.
    #[error("the message is longer than {max} characters")]
    TooLong {
        /// The limit, characters.
        max: usize,
    },
    /// Too many messages (this session's, or this address's).
    #[error("too many messages; try again in {retry_after_s} s")]
    RateLimited {
        /// When one is allowed again, seconds.
        retry_after_s: u64,
    },
    /// The session's tokens for the hour are spent.
    #[error("this chat's answer budget is used up; try again in {retry_after_s} s")]
    TokenBudget {
        /// When the budget allows an answer again, seconds.
        retry_after_s: u64,
    },
    /// The session ended (idle, or ended).
    #[error("this chat session has ended")]
    Ended,
    /// The client address has as many live sessions as it may.
    #[error("too many open chats from this address; try again in {retry_after_s} s")]
    TooManySessions {
        /// When the earliest live session of the address can end, seconds.
        retry_after_s: u64,
    },
}

impl Refusal {
    /// The stable code (error frames and JSON errors).
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Empty => "empty_message",
            Self::TooLong { .. } => "message_too_long",
            Self::RateLimited { .. } => "rate_limited",
            Self::TokenBudget { .. } => "token_budget_exhausted",
            Self::Ended => "session_ended",
            Self::TooManySessions { .. } => "too_many_sessions",
        }
    }

    /// The HTTP status of the refusal.
    #[must_use]
    pub const fn status(self) -> u16 {
        match self {
            Self::Empty => 400,
            Self::TooLong { .. } => 413,
            Self::RateLimited { .. } | Self::TokenBudget { .. } | Self::TooManySessions { .. } => {
                429
            }
            Self::Ended => 409,
        }
    }

    /// Seconds until a retry can succeed, for `Retry-After` / `retry_after`.
    #[must_use]
    pub const fn retry_after_s(self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_s }
            | Self::TokenBudget { retry_after_s }
            | Self::TooManySessions { retry_after_s } => Some(retry_after_s),
            _ => None,
        }
    }
}

/// Whole seconds from `now_ms` to `at_ms`, at least 1.
fn seconds_until(at_ms: u64, now_ms: u64) -> u64 {
    at_ms.saturating_sub(now_ms).div_ceil(1_000).max(1)
}

/// Whether a session with `status` takes `content` at `now_ms`, given the times of its user
/// messages (`user_ms`) and the `(time, tokens)` of its answers (`spent`), any order.
///
/// # Errors
/// The first [`Refusal`] that applies: ended, empty, too long, rate, tokens.
pub fn admit(
    status: Status,
    content: &str,
    user_ms: &[u64],
    spent: &[(u64, u64)],
    now_ms: u64,
    limits: Limits,
) -> Result<(), Refusal> {
    if !status.is_open() {
        return Err(Refusal::Ended);
    }
    if content.trim().is_empty() {
        return Err(Refusal::Empty);
    }
    if content.chars().count() > limits.max_chars {
        return Err(Refusal::TooLong {
            max: limits.max_chars,
        });
    }
    let since = now_ms.saturating_sub(MINUTE_MS);
    let mut recent: Vec<u64> = user_ms.iter().copied().filter(|&t| t > since).collect();
    if recent.len() >= limits.per_minute as usize {
        recent.sort_unstable();
        // Free again when enough of the oldest leave the window.
        let k = recent.len() + 1 - limits.per_minute as usize;
        let at = recent[k - 1] + MINUTE_MS;
        return Err(Refusal::RateLimited {
            retry_after_s: seconds_until(at, now_ms),
        });
    }
    let since = now_ms.saturating_sub(HOUR_MS);
    let mut hour: Vec<(u64, u64)> = spent.iter().copied().filter(|&(t, _)| t > since).collect();
    let mut total: u64 = hour.iter().map(|&(_, n)| n).sum();
    if total >= limits.tokens_per_hour {
        hour.sort_unstable();
        let mut at = now_ms + HOUR_MS;
        for (t, n) in hour {
            total -= n;
            if total < limits.tokens_per_hour {
                at = t + HOUR_MS;
                break;
            }
        }
        return Err(Refusal::TokenBudget {
            retry_after_s: seconds_until(at, now_ms),
        });
    }
    Ok(())
}

/// Whether one more session fits beside an address's live ones, given each live one's
/// expected end (`ends_ms`, unix ms, any order) at `now_ms`: entries whose end has passed
/// do not count (a release that was lost costs a slot until then, never longer).
///
/// # Errors
/// [`Refusal::TooManySessions`] with the time until the earliest counted one can end.
pub fn admit_live(ends_ms: &[u64], now_ms: u64, limit: u32) -> Result<(), Refusal> {
    let live: Vec<u64> = ends_ms.iter().copied().filter(|&e| e > now_ms).collect();
    if live.len() < limit as usize {
        return Ok(());
    }
    let earliest = live.iter().copied().min().unwrap_or(now_ms);
    Err(Refusal::TooManySessions {
        retry_after_s: seconds_until(earliest, now_ms),
    })
}

/// The key an address's live-session set is kept under: 128 bits of SHA-256 of the
/// address, hex, so the set's name and every session's record hold no raw address.
#[must_use]
pub fn address_key(address: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("web-chat-address\0{address}").as_bytes());
    crate::hex::encode(&digest[..16])
}

/// When a live session should renew its entry in the address's set: once less than half
/// an idle period is left of what the set holds (`recorded_end_ms`), so a busy session
/// renews about once per half idle period, never per message.
#[must_use]
pub fn renew_due(recorded_end_ms: u64, now_ms: u64, idle_ms: u64) -> bool {
    now_ms.saturating_add(idle_ms / 2) >= recorded_end_ms
}

/// A session's timers, ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Without activity this long, an active session ends (as `idle`).
    pub idle_ms: u64,
    /// This long after it ended, a session's storage is deleted.
    pub retention_ms: u64,
}

/// What a session's times say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clocks {
    /// The status now.
    pub status: Status,
    /// The last message (or creation), unix ms.
    pub last_activity_ms: u64,
    /// When it ended, unix ms, if it did.
    pub ended_at_ms: Option<u64>,
}

/// When the session's one alarm is due: the idle end of an active session, else the
/// deletion of an ended one.
#[must_use]
pub fn next_alarm(c: Clocks, t: Timers) -> u64 {
    match (c.status, c.ended_at_ms) {
        (Status::Active, _) => c.last_activity_ms.saturating_add(t.idle_ms),
        (_, Some(ended)) => ended.saturating_add(t.retention_ms),
        (_, None) => c.last_activity_ms.saturating_add(t.retention_ms),
    }
}

/// What an alarm firing at `now_ms` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmAction {
    /// End the session as idle (then schedule the deletion).
    EndIdle,
    /// Delete the session's storage.
    Delete,
    /// Not yet due (activity moved it): schedule it again at this time.
    Reschedule(u64),
}

/// The alarm's action at `now_ms`.
#[must_use]
pub fn on_alarm(c: Clocks, t: Timers, now_ms: u64) -> AlarmAction {
    let due = next_alarm(c, t);
    if now_ms < due {
        return AlarmAction::Reschedule(due);
    }
    if c.status == Status::Active {
        AlarmAction::EndIdle
    } else {
        AlarmAction::Delete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_chars: 10,
        per_minute: 3,
        tokens_per_hour: 100,
    };
    const NOW: u64 = 10_000_000;

    #[test]
    fn length_status_and_emptiness_come_first() {
        assert_eq!(
            admit(Status::Ended, "hi", &[], &[], NOW, L),
            Err(Refusal::Ended)
        );
        assert_eq!(
            admit(Status::Idle, "hi", &[], &[], NOW, L),
            Err(Refusal::Ended)
        );
        assert_eq!(
            admit(Status::Active, "  ", &[], &[], NOW, L),
            Err(Refusal::Empty)
        );
        assert_eq!(
            admit(Status::Active, "ééééééééé", &[], &[], NOW, L),
            Ok(()),
            "characters, not bytes"
        );
        assert_eq!(
            admit(Status::Active, "12345678901", &[], &[], NOW, L),
            Err(Refusal::TooLong { max: 10 })
        );
        assert_eq!(Refusal::TooLong { max: 10 }.status(), 413);
        assert_eq!(Refusal::Ended.code(), "session_ended");
    }

    #[test]
    fn the_fourth_message_in_a_minute_waits_for_the_oldest_to_leave() {
        let times = [NOW - 50_000, NOW - 20_000, NOW - 1_000, NOW - 70_000];
        let r = admit(Status::Active, "hi", &times, &[], NOW, L);
        assert_eq!(r, Err(Refusal::RateLimited { retry_after_s: 10 }));
        assert_eq!(r.expect_err("refused").retry_after_s(), Some(10));
        assert_eq!(
            admit(Status::Active, "hi", &times, &[], NOW + 10_000, L),
            Ok(())
        );
    }

    #[test]
    fn spent_tokens_refuse_until_enough_leave_the_hour() {
        let spent = [(NOW - 3_000_000, 60), (NOW - 1_000_000, 50)];
        let r = admit(Status::Active, "hi", &[], &spent, NOW, L);
        assert_eq!(r, Err(Refusal::TokenBudget { retry_after_s: 600 }));
        assert_eq!(
            admit(Status::Active, "hi", &[], &spent, NOW + 600_000, L),
            Ok(())
        );
        assert_eq!(
            admit(Status::Active, "hi", &[], &[(NOW, 99)], NOW, L),
            Ok(())
        );
    }

    #[test]
    fn live_sessions_count_until_their_expected_end() {
        assert_eq!(admit_live(&[], NOW, 2), Ok(()));
        assert_eq!(admit_live(&[NOW + 5_000], NOW, 2), Ok(()));
        let full = [NOW + 90_500, NOW + 5_000];
        let r = admit_live(&full, NOW, 2);
        assert_eq!(r, Err(Refusal::TooManySessions { retry_after_s: 5 }));
        let r = r.expect_err("refused");
        assert_eq!((r.status(), r.code()), (429, "too_many_sessions"));
        assert_eq!(r.retry_after_s(), Some(5));
        // Past its expected end an entry no longer counts (a lost release).
        assert_eq!(admit_live(&full, NOW + 5_000, 2), Ok(()));
        assert_eq!(
            admit_live(&[NOW + 1, NOW + 2], NOW, 2),
            Err(Refusal::TooManySessions { retry_after_s: 1 }),
            "never zero"
        );
        assert_eq!(
            admit_live(&[NOW + 1], NOW, 0),
            Err(Refusal::TooManySessions { retry_after_s: 1 })
        );
    }

    #[test]
    fn address_keys_are_fixed_length_hex_and_differ_per_address() {
        let a = address_key("198.51.100.7");
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!a.contains("198"));
        assert_eq!(a, address_key("198.51.100.7"));
        assert_ne!(a, address_key("198.51.100.8"));
    }

    #[test]
    fn a_session_renews_its_entry_once_half_an_idle_period_is_left() {
        assert!(!renew_due(NOW + 1_000, NOW, 1_000));
        assert!(!renew_due(NOW + 501, NOW, 1_000));
        assert!(renew_due(NOW + 500, NOW, 1_000));
        assert!(renew_due(NOW, NOW + 10, 1_000));
        assert!(renew_due(0, u64::MAX, u64::MAX), "no overflow");
    }

    #[test]
    fn one_alarm_ends_an_idle_session_then_deletes_it() {
        let t = Timers {
            idle_ms: 1_000,
            retention_ms: 5_000,
        };
        let active = Clocks {
            status: Status::Active,
            last_activity_ms: NOW,
            ended_at_ms: None,
        };
        assert_eq!(next_alarm(active, t), NOW + 1_000);
        assert_eq!(
            on_alarm(active, t, NOW + 999),
            AlarmAction::Reschedule(NOW + 1_000)
        );
        assert_eq!(on_alarm(active, t, NOW + 1_000), AlarmAction::EndIdle);
        let idle = Clocks {
            status: Status::Idle,
            ended_at_ms: Some(NOW + 1_000),
            ..active
        };
        assert_eq!(next_alarm(idle, t), NOW + 6_000);
        assert_eq!(
            on_alarm(idle, t, NOW + 5_999),
            AlarmAction::Reschedule(NOW + 6_000)
        );
        assert_eq!(on_alarm(idle, t, NOW + 6_000), AlarmAction::Delete);
    }
}
