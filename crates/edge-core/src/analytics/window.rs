//! Time windows: which minute and hour an event counts in, which UTC day's store owns them,
//! how long each window is kept, and when a store's next expiry is due.
//!
//! Contract: a window `[start, start + width)` is kept until `width + retention` after its
//! start (24 hours after a minute window closes, 7 days after an hour window closes), and a
//! window never crosses a UTC day, so each belongs to exactly one day's store.

use serde::{Deserialize, Serialize};

/// One minute, in milliseconds.
pub const MINUTE_MS: u64 = 60_000;
/// One hour, in milliseconds.
pub const HOUR_MS: u64 = 3_600_000;
/// One day, in milliseconds.
pub const DAY_MS: u64 = 86_400_000;
/// How far ahead of the collector's clock an event's `ts_ms` may be (reporters' clock skew).
pub const MAX_FUTURE_SKEW_MS: u64 = 5 * MINUTE_MS;

/// The two aggregation resolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// Per-minute windows, kept 24 hours.
    Minute,
    /// Per-hour windows, kept 7 days.
    Hour,
}

impl Resolution {
    /// Both resolutions, finest first.
    pub const ALL: [Self; 2] = [Self::Minute, Self::Hour];

    /// Window width in milliseconds (also the value stored in the `res` column).
    #[must_use]
    pub const fn width_ms(self) -> u64 {
        match self {
            Self::Minute => MINUTE_MS,
            Self::Hour => HOUR_MS,
        }
    }

    /// How long after a window closes it is kept.
    #[must_use]
    pub const fn retention_ms(self) -> u64 {
        match self {
            Self::Minute => DAY_MS,
            Self::Hour => 7 * DAY_MS,
        }
    }

    /// The lowercase name used in queries and responses.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
        }
    }

    /// Parses `minute` or `hour`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "minute" => Some(Self::Minute),
            "hour" => Some(Self::Hour),
            _ => None,
        }
    }

    /// The start of the window that contains `ts_ms`.
    #[must_use]
    pub const fn window_start(self, ts_ms: u64) -> u64 {
        ts_ms - ts_ms % self.width_ms()
    }

    /// When the window starting at `start` is due for deletion.
    #[must_use]
    pub const fn expires_at(self, start: u64) -> u64 {
        start
            .saturating_add(self.width_ms())
            .saturating_add(self.retention_ms())
    }

    /// The start of the oldest window still kept at `now_ms`: windows (and the events in
    /// them) before it have expired.
    #[must_use]
    pub const fn oldest_kept_start(self, now_ms: u64) -> u64 {
        self.window_start(self.expired_before(now_ms) + self.width_ms() - 1)
    }

    /// Windows starting before this instant have expired at `now_ms`.
    #[must_use]
    pub const fn expired_before(self, now_ms: u64) -> u64 {
        // expires_at(start) <= now  <=>  start <= now - width - retention
        now_ms
            .saturating_sub(self.width_ms() + self.retention_ms())
            .saturating_add(1)
    }
}

/// Why an event's timestamp cannot be counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untimely {
    /// More than [`MAX_FUTURE_SKEW_MS`] ahead of the collector's clock.
    Future,
    /// Even its hour window has already expired.
    Expired,
}

/// The windows an event at `ts_ms` is counted in at `now_ms`: the hour window, and the
/// minute window unless that one has already expired (a late event still counts hourly).
///
/// # Errors
/// [`Untimely`] when the event is too far in the future or older than hourly retention.
pub fn windows_for(ts_ms: u64, now_ms: u64) -> Result<Vec<(Resolution, u64)>, Untimely> {
    if ts_ms > now_ms.saturating_add(MAX_FUTURE_SKEW_MS) {
        return Err(Untimely::Future);
    }
    let live = |res: Resolution| {
        let start = res.window_start(ts_ms);
        (res.expires_at(start) > now_ms).then_some((res, start))
    };
    let windows: Vec<_> = Resolution::ALL.into_iter().filter_map(live).collect();
    if windows.is_empty() {
        Err(Untimely::Expired)
    } else {
        Ok(windows)
    }
}

/// The UTC day (days since 1970-01-01) whose store owns the windows of `ts_ms`.
#[must_use]
pub const fn day_of(ts_ms: u64) -> u64 {
    ts_ms / DAY_MS
}

/// The store name of a UTC day: its date, `YYYY-MM-DD` (Howard Hinnant's `civil_from_days`).
#[must_use]
pub fn day_name(day: u64) -> String {
    let z = day as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The days a query over `[from_ms, to_ms)` touches, oldest first.
#[must_use]
pub fn days_between(from_ms: u64, to_ms: u64) -> Vec<u64> {
    if to_ms <= from_ms {
        return Vec::new();
    }
    (day_of(from_ms)..=day_of(to_ms - 1)).collect()
}

/// When a store holding windows whose oldest starts are `oldest` (per resolution, `None`
/// when it has none) must next wake to delete expired ones; `None` when it holds nothing.
#[must_use]
pub fn next_expiry(oldest: &[(Resolution, Option<u64>)]) -> Option<u64> {
    oldest
        .iter()
        .filter_map(|&(res, start)| start.map(|s| res.expires_at(s)))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_435_200_000; // 2026-11-23T12:00:00Z

    #[test]
    fn windows_align_and_never_cross_a_day() {
        let ts = NOW + 90_123;
        assert_eq!(Resolution::Minute.window_start(ts), NOW + 60_000);
        assert_eq!(Resolution::Hour.window_start(ts), NOW);
        assert_eq!(DAY_MS % HOUR_MS, 0);
        assert_eq!(day_name(day_of(NOW)), "2026-11-23");
        assert_eq!(day_name(0), "1970-01-01");
        assert_eq!(day_name(day_of(951_782_400_000)), "2000-02-29");
        assert_eq!(
            days_between(NOW, NOW + DAY_MS),
            vec![day_of(NOW), day_of(NOW) + 1]
        );
        assert_eq!(
            days_between(NOW - 12 * HOUR_MS, NOW + 12 * HOUR_MS),
            vec![day_of(NOW)]
        );
        assert_eq!(days_between(NOW, NOW), Vec::<u64>::new());
    }

    #[test]
    fn retention_is_a_day_for_minutes_and_a_week_for_hours() {
        let start = Resolution::Minute.window_start(NOW);
        assert_eq!(
            Resolution::Minute.expires_at(start),
            start + MINUTE_MS + DAY_MS
        );
        let hour = Resolution::Hour.window_start(NOW);
        assert_eq!(
            Resolution::Hour.expires_at(hour),
            hour + HOUR_MS + 7 * DAY_MS
        );
        for res in Resolution::ALL {
            let at = res.expires_at(start);
            assert!(
                start < res.expired_before(at),
                "expired exactly at its time"
            );
            assert!(start >= res.expired_before(at - 1), "kept until then");
        }
    }

    #[test]
    fn events_count_in_the_windows_still_kept() {
        assert_eq!(
            windows_for(NOW, NOW),
            Ok(vec![(Resolution::Minute, NOW), (Resolution::Hour, NOW)])
        );
        // A day and a half late: only hourly.
        let late = NOW - DAY_MS - 12 * HOUR_MS;
        assert_eq!(windows_for(late, NOW), Ok(vec![(Resolution::Hour, late)]));
        assert_eq!(windows_for(NOW - 8 * DAY_MS, NOW), Err(Untimely::Expired));
        assert!(windows_for(NOW + MAX_FUTURE_SKEW_MS, NOW).is_ok());
        assert_eq!(
            windows_for(NOW + MAX_FUTURE_SKEW_MS + 1, NOW),
            Err(Untimely::Future)
        );
    }

    #[test]
    fn the_next_expiry_is_the_earliest_due() {
        let m = NOW - HOUR_MS;
        let h = NOW - 2 * HOUR_MS;
        assert_eq!(
            next_expiry(&[(Resolution::Minute, Some(m)), (Resolution::Hour, Some(h))]),
            Some(Resolution::Minute.expires_at(m))
        );
        assert_eq!(
            next_expiry(&[(Resolution::Minute, None), (Resolution::Hour, Some(h))]),
            Some(Resolution::Hour.expires_at(h))
        );
        assert_eq!(
            next_expiry(&[(Resolution::Minute, None), (Resolution::Hour, None)]),
            None
        );
    }
}
