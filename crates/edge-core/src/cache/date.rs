//! HTTP-date (RFC 9110 §5.6.7), parsed strictly: IMF-fixdate, the obsolete RFC 850 form
//! and asctime, with day and month names and `GMT` in any case. Anything else is `None`
//! (an invalid date), never a guess.
//!
//! RFC 850's two-digit year is read as the RFC asks: a year that would be more than 50
//! years after `received_s` (the moment the message arrived) is the most recent past year
//! with those last two digits.

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const LONG_DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Parses an HTTP-date received at `received_s` (unix seconds) to unix seconds.
#[must_use]
pub fn parse(value: &str, received_s: u64) -> Option<u64> {
    let v = value.trim();
    if !v.is_ascii() {
        return None;
    }
    let lower = v.to_ascii_lowercase();
    if let Some((day, rest)) = lower.split_once(", ") {
        if DAYS.contains(&day) {
            return imf_fixdate(rest);
        }
        if LONG_DAYS.contains(&day) {
            return rfc850(rest, received_s);
        }
        return None;
    }
    asctime(&lower)
}

/// `06 nov 1994 08:49:37 gmt`
fn imf_fixdate(rest: &str) -> Option<u64> {
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "gmt"] = parts.as_slice() else {
        return None;
    };
    let day = digits(day, 2)?;
    let year = digits(year, 4)?;
    to_unix(year, month_of(month)?, day, time)
}

/// `06-nov-94 08:49:37 gmt`
fn rfc850(rest: &str, received_s: u64) -> Option<u64> {
    let parts: Vec<&str> = rest.split(' ').collect();
    let [date, time, "gmt"] = parts.as_slice() else {
        return None;
    };
    let dm: Vec<&str> = date.split('-').collect();
    let [day, month, yy] = dm.as_slice() else {
        return None;
    };
    let yy = digits(yy, 2)?;
    let now_year = year_of(received_s);
    let mut year = now_year - now_year % 100 + yy;
    if year > now_year + 50 {
        year -= 100;
    }
    to_unix(year, month_of(month)?, digits(day, 2)?, time)
}

/// `sun nov  6 08:49:37 1994` (the day padded with a space)
fn asctime(v: &str) -> Option<u64> {
    let (wday, rest) = v.split_at_checked(4)?;
    let wday = wday.strip_suffix(' ')?;
    if !DAYS.contains(&wday) {
        return None;
    }
    let (month, rest) = rest.split_at_checked(4)?;
    let month = month_of(month.strip_suffix(' ')?)?;
    let (day, rest) = rest.split_at_checked(3)?;
    let day = day.strip_suffix(' ')?;
    let day = match day.strip_prefix(' ') {
        Some(d) => digits(d, 1)?,
        None => digits(day, 2)?,
    };
    let (time, year) = rest.split_once(' ')?;
    to_unix(digits(year, 4)?, month, day, time)
}

fn month_of(name: &str) -> Option<u64> {
    MONTHS.iter().position(|m| *m == name).map(|i| i as u64 + 1)
}

/// Exactly `len` ASCII digits.
fn digits(s: &str, len: usize) -> Option<u64> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn is_leap(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `hh:mm:ss` on that day, to unix seconds; dates before 1970 are `None`. A leap second
/// (`:60`) counts as the next second, as most clocks show it.
fn to_unix(year: u64, month: u64, day: u64, time: &str) -> Option<u64> {
    let hms: Vec<&str> = time.split(':').collect();
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    let (h, m, s) = (digits(h, 2)?, digits(m, 2)?, digits(s, 2)?);
    if year < 1970 || day == 0 || day > days_in(year, month) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days_before_year: u64 = (1970..year)
        .map(|y| if is_leap(y) { 366 } else { 365 })
        .sum();
    let days_before_month: u64 = (1..month).map(|mo| days_in(year, mo)).sum();
    let days = days_before_year + days_before_month + day - 1;
    Some(days * 86_400 + h * 3_600 + m * 60 + s)
}

/// The calendar year of unix seconds `t`.
fn year_of(t: u64) -> u64 {
    let mut days = t / 86_400;
    let mut year = 1970;
    loop {
        let len = if is_leap(year) { 366 } else { 365 };
        if days < len {
            return year;
        }
        days -= len;
        year += 1;
    }
}

/// Formats unix seconds as an IMF-fixdate.
#[must_use]
pub fn format(unix_s: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix_s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
    const NOW: u64 = 1_700_000_000; // 2023

    #[test]
    fn the_three_forms_of_rfc_9110() {
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT", NOW), Some(T));
        assert_eq!(parse("Sunday, 06-Nov-94 08:49:37 GMT", NOW), Some(T));
        assert_eq!(parse("Sun Nov  6 08:49:37 1994", NOW), Some(T));
        assert_eq!(parse("sun, 06 NOV 1994 08:49:37 gmt", NOW), Some(T));
        assert_eq!(parse("SUNDAY, 06-nov-94 08:49:37 Gmt", NOW), Some(T));
        assert_eq!(parse("SUN NOV  6 08:49:37 1994", NOW), Some(T));
        assert_eq!(parse("  Sun, 06 Nov 1994 08:49:37 GMT ", NOW), Some(T));
        assert_eq!(parse("Thu, 01 Jan 1970 00:00:00 GMT", NOW), Some(0));
        assert_eq!(
            parse("Thu Dec 11 12:00:00 2025", NOW),
            parse("Thu, 11 Dec 2025 12:00:00 GMT", NOW)
        );
    }

    #[test]
    fn rfc_850_years_more_than_50_years_ahead_are_in_the_past() {
        // Received in 2023: 73 is 2073 (50 years ahead), 74 is 1974.
        assert_eq!(
            parse("Monday, 01-Jan-73 00:00:00 GMT", NOW),
            parse("Sun, 01 Jan 2073 00:00:00 GMT", NOW)
        );
        assert_eq!(
            parse("Tuesday, 01-Jan-74 00:00:00 GMT", NOW),
            parse("Tue, 01 Jan 1974 00:00:00 GMT", NOW)
        );
    }

    #[test]
    fn anything_else_is_invalid() {
        for bad in [
            "",
            "0",
            "-1",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 29 Feb 1995 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            "Sun,  06 Nov 1994 08:49:37 GMT",
            "Sün, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse(bad, NOW), None, "{bad:?}");
        }
        assert_eq!(
            parse("Sat, 29 Feb 2020 23:59:60 GMT", NOW),
            parse("Sun, 01 Mar 2020 00:00:00 GMT", NOW),
            "a leap second is the next second"
        );
    }

    proptest! {
        #[test]
        fn agrees_with_httpdate_for_every_imf_fixdate(t in 0u64..8_000_000_000) {
            let imf = format(t);
            prop_assert_eq!(parse(&imf, NOW), Some(t));
            prop_assert_eq!(parse(&imf.to_ascii_lowercase(), NOW), Some(t));
            prop_assert_eq!(parse(&imf.to_ascii_uppercase(), NOW), Some(t));
        }

        #[test]
        fn the_three_forms_agree(t in 0u64..8_000_000_000) {
            let imf = format(t);
            // "Sun, 06 Nov 1994 08:49:37 GMT" → the other two forms.
            let (wd, rest) = imf.split_once(", ").unwrap_or_default();
            let p: Vec<&str> = rest.split(' ').collect();
            let (d, m, y, time) = (p[0], p[1], p[2], p[3]);
            let asc = format!("{wd} {m} {:>2} {time} {y}", d.trim_start_matches('0'));
            prop_assert_eq!(parse(&asc, NOW), Some(t));
            let long = LONG_DAYS[DAYS.iter().position(|x| x.eq_ignore_ascii_case(wd)).unwrap_or(0)];
            let year: u64 = y.parse().unwrap_or(0);
            let rfc850 = format!("{long}, {d}-{m}-{:02} {time} GMT", year % 100);
            let now_year = year_of(NOW);
            if year <= now_year + 50 && year + 50 > now_year {
                prop_assert_eq!(parse(&rfc850, NOW), Some(t));
            }
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse(&s, NOW);
        }
    }
}
