//! Personal data out of logs, analytics and archives: [`redact`] replaces e-mail
//! addresses, phone numbers (international `+…`/`00…`, Thai `0X-XXX-XXXX` / `0XX-XXX-XXXX`,
//! `66…`, North American `(415) 555-0100`), payment card numbers (13–19 digits passing
//! Luhn) and Thai national ids (13 digits with their checksum, `1-2345-67890-12-1`) by
//! `[email]`, `[phone]`, `[card]`, `[thai_id]`. Hand-written (no regex crate in the
//! workers), linear in the text, and idempotent: a placeholder holds no digit and no `@`.
//!
//! How numbers are found: a *run* is a sequence of digit groups (ASCII or Thai digits)
//! joined by short separators (spaces, dashes, parentheses); a group glued to an ASCII
//! letter or digit (`U4af…`, `abc123`) cannot start or end a match, so ids and hashes
//! are left alone, but Thai text glued to a number (`โทร0812345678`) is not a word
//! boundary problem: Thai letters do not glue. From each group, the longest span of whole
//! groups (≤ 19 digits) that classifies as personal data is replaced.
//!
//! Over-redaction is the accepted error: a 10-digit reference starting with `0`, or a
//! 13–19-digit number that happens to pass Luhn, becomes `[phone]` / `[card]`.

use std::borrow::Cow;

/// What a redacted span was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pii {
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
    /// A payment card number (Luhn).
    Card,
    /// A Thai national id (13 digits, checksum).
    ThaiId,
}

impl Pii {
    /// What replaces it in the text.
    #[must_use]
    pub const fn placeholder(self) -> &'static str {
        match self {
            Self::Email => "[email]",
            Self::Phone => "[phone]",
            Self::Card => "[card]",
            Self::ThaiId => "[thai_id]",
        }
    }
}

/// Longest digit count a match can have (card numbers).
const MAX_DIGITS: usize = 19;
/// Longest separator between two groups of a run (`" - "`, `") "`).
const MAX_SEPARATOR: usize = 3;

/// `text` with its personal data replaced by placeholders (borrowed when there was none).
#[must_use]
pub fn redact(text: &str) -> Cow<'_, str> {
    // Numbers first: a number glued to `@` or a dotted word is left to the e-mail pass.
    match numbers(text) {
        Cow::Borrowed(t) => emails(t),
        Cow::Owned(t) => Cow::Owned(emails(&t).into_owned()),
    }
}

/// Whether `text` holds nothing [`redact`] would replace.
#[must_use]
pub fn is_clean(text: &str) -> bool {
    matches!(redact(text), Cow::Borrowed(_))
}

/// `text` with its personal data replaced, into an owned string.
#[must_use]
pub fn redacted(text: &str) -> String {
    redact(text).into_owned()
}

/// `text` with its `%XX` escapes decoded (invalid UTF-8 replaced), for redacting what a
/// client percent-encoded (`somchai%40example.com` in a URL path); borrowed when it has none.
#[must_use]
pub fn percent_decoded(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    if !b.contains(&b'%') {
        return Cow::Borrowed(text);
    }
    let hex = |c: u8| char::from(c).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let pair = (b[i] == b'%' && i + 2 < b.len())
            .then(|| Some((hex(b[i + 1])?, hex(b[i + 2])?)))
            .flatten();
        match pair {
            Some((hi, lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn label_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// The end of the e-mail domain starting at `from` in `b`, when there is one: labels of
/// ASCII letters, digits and `-` joined by dots, at least two, the last of ≥ 2 letters.
/// The longest such prefix (`a@b.com.` and `a@b.com.123` end after `com`).
fn domain_end(b: &[u8], from: usize) -> Option<usize> {
    let mut best = None;
    let mut at = from;
    let mut labels = 0;
    loop {
        let mut end = at;
        while end < b.len() && label_char(b[end]) {
            end += 1;
        }
        if end == at {
            return best;
        }
        let word = &b[at..end];
        let trimmed = word.iter().rposition(|&c| c != b'-').map_or(0, |p| p + 1);
        if labels > 0 && trimmed >= 2 && word[..trimmed].iter().all(u8::is_ascii_alphabetic) {
            best = Some(at + trimmed);
        }
        labels += 1;
        if trimmed < word.len() || end >= b.len() || b[end] != b'.' {
            return best;
        }
        at = end + 1;
    }
}

fn emails(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut out = String::new();
    // Bytes of `text` already copied (or replaced) into `out`.
    let mut done = 0;
    let mut at = 0;
    while let Some(off) = b[at..].iter().position(|&c| c == b'@') {
        let i = at + off;
        at = i + 1;
        let mut start = i;
        while start > done && local_char(b[start - 1]) {
            start -= 1;
        }
        // A local part may not start inside a number (`๑4@…`): the number pass left that
        // number alone as glued to the `@`, and must find it so again.
        if text[..start].chars().next_back().and_then(digit).is_some() {
            continue;
        }
        while start < i && b[start] == b'.' {
            start += 1;
        }
        if start == i {
            continue;
        }
        let Some(end) = domain_end(b, i + 1) else {
            continue;
        };
        out.push_str(&text[done..start]);
        out.push_str(Pii::Email.placeholder());
        done = end;
        at = end;
    }
    if done == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[done..]);
    Cow::Owned(out)
}

/// The value of `c` as a digit: ASCII `0`–`9` or Thai `๐`–`๙`.
fn digit(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '\u{0E50}'..='\u{0E59}' => Some((c as u32 - 0x0E50) as u8),
        _ => None,
    }
}

/// Glues a number into a word: `abc123`, `123abc`, `a_1`, `a@123`.
fn glues(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '@')
}

/// Glues a number on its left: `c` right before it, `c2` before that (`mail.0812…`,
/// `[email].0812…`: a label of a domain; `req-1764…`: the last part of an identifier
/// whose words are joined by dashes, like a request id with a timestamp).
fn glues_left(c: Option<char>, c2: Option<char>) -> bool {
    match c {
        Some('.') => c2.is_some_and(|c2| c2.is_ascii_alphanumeric() || c2 == ']'),
        Some('-') => c2.is_some_and(|c2| c2.is_ascii_alphabetic()),
        Some(c) => glues(c),
        None => false,
    }
}

/// Glues a number on its right: `c` right after it, `c2` after that (`0812….com`,
/// `0812….[email]`).
fn glues_right(c: Option<char>, c2: Option<char>) -> bool {
    match c {
        Some('.') => c2.is_some_and(|c2| c2.is_ascii_alphanumeric() || c2 == '['),
        Some(c) => glues(c),
        None => false,
    }
}

fn separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '(' | ')' | '\u{a0}')
}

/// One maximal sequence of digits in the text.
#[derive(Debug, Clone, Copy)]
struct Group {
    /// Byte range in the text.
    start: usize,
    end: usize,
    /// Where its digits sit in the run's digit buffer.
    first_digit: usize,
    len: usize,
    /// A `+` right before it: an international number (`a+66…` too: over-redacting is the
    /// safe side, and it keeps [`redact`] idempotent).
    plus: bool,
    /// Glued to a word on the left / right: cannot start / end a match.
    glued_left: bool,
    glued_right: bool,
}

/// Whether `d` passes the Luhn check.
#[must_use]
pub fn luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether 13 digits `d` are a Thai national id (its last digit the checksum of the first
/// twelve).
#[must_use]
pub fn thai_id(d: &[u8]) -> bool {
    if d.len() != 13 {
        return false;
    }
    let sum: u32 = d[..12]
        .iter()
        .enumerate()
        .map(|(i, &x)| u32::from(x) * (13 - i as u32))
        .sum();
    (11 - sum % 11) % 10 == u32::from(d[12])
}

/// What the digits `d` of a span of whole groups (their sizes `sizes`) are, if personal.
fn classify(d: &[u8], plus: bool, sizes: &[usize]) -> Option<Pii> {
    let n = d.len();
    if plus {
        return (8..=15).contains(&n).then_some(Pii::Phone);
    }
    let thai = thai_id(d);
    if thai && sizes == [1, 4, 5, 2, 1] {
        return Some(Pii::ThaiId);
    }
    if (13..=MAX_DIGITS).contains(&n) && luhn(d) {
        return Some(Pii::Card);
    }
    if thai {
        return Some(Pii::ThaiId);
    }
    let phone = match d {
        // International prefix: 00 44 20 7946 0958.
        [0, 0, ..] => (10..=17).contains(&n),
        // Thai (and most) national numbers: 02-123-4567, 081-234-5678.
        [0, ..] => (9..=10).contains(&n),
        // Thailand's country code without the plus: 66 81 234 5678.
        [6, 6, x, ..] => n == 11 && *x != 0,
        // North American: (415) 555-0100, 415-555-0100.
        _ => n == 10 && sizes == [3, 3, 4],
    };
    phone.then_some(Pii::Phone)
}

/// Redacts the groups of one run; appends `text[done..]` up to the run's end to `out`,
/// returns whether it replaced anything.
fn redact_run(text: &str, groups: &[Group], digits: &[u8], out: &mut String, done: &mut usize) {
    let mut i = 0;
    let mut sizes: Vec<usize> = Vec::new();
    while i < groups.len() {
        let g = groups[i];
        let mut best: Option<(usize, Pii)> = None;
        if !g.glued_left {
            sizes.clear();
            let mut n = 0;
            for (j, h) in groups.iter().enumerate().skip(i) {
                n += h.len;
                if n > MAX_DIGITS {
                    break;
                }
                sizes.push(h.len);
                if h.glued_right {
                    break;
                }
                let d = &digits[g.first_digit..g.first_digit + n];
                if let Some(kind) = classify(d, g.plus, &sizes) {
                    best = Some((j, kind));
                }
            }
        }
        match best {
            Some((j, kind)) => {
                // `(415) 555-0100`: the area code's parenthesis goes with it.
                let paren = text[..g.start].ends_with('(') && text[g.end..].starts_with(')');
                let start = if g.plus || (paren && j > i) {
                    g.start - 1
                } else {
                    g.start
                };
                out.push_str(&text[*done..start]);
                out.push_str(kind.placeholder());
                *done = groups[j].end;
                i = j + 1;
            }
            None => i += 1,
        }
    }
}

fn numbers(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut done = 0;
    let mut groups: Vec<Group> = Vec::new();
    let mut digits: Vec<u8> = Vec::new();
    let mut chars = text.char_indices().peekable();
    // The character before the current position; where the last group ended.
    let mut prev: Option<char> = None;
    let mut prev2: Option<char> = None;
    let mut last_end: Option<usize> = None;
    let flush =
        |groups: &mut Vec<Group>, digits: &mut Vec<u8>, out: &mut String, done: &mut usize| {
            if !groups.is_empty() {
                redact_run(text, groups, digits, out, done);
            }
            groups.clear();
            digits.clear();
        };
    while let Some((at, c)) = chars.next() {
        if digit(c).is_none() {
            prev2 = prev;
            prev = Some(c);
            continue;
        }
        // A group starts here: does it continue the current run?
        let joined = last_end.is_some_and(|end| {
            let between = &text[end..at];
            !between.is_empty() && between.len() <= MAX_SEPARATOR && between.chars().all(separator)
        });
        if !joined {
            flush(&mut groups, &mut digits, &mut out, &mut done);
        }
        let plus = prev == Some('+');
        let glued_left = !plus && glues_left(prev, prev2);
        let first_digit = digits.len();
        let mut end = at + c.len_utf8();
        digits.extend(digit(c));
        let mut last = c;
        while let Some(&(k, d)) = chars.peek() {
            match digit(d) {
                Some(v) => {
                    digits.push(v);
                    end = k + d.len_utf8();
                    last = d;
                    chars.next();
                }
                None => break,
            }
        }
        let mut ahead = text[end..].chars();
        let glued_right = glues_right(ahead.next(), ahead.next());
        groups.push(Group {
            start: at,
            end,
            first_digit,
            len: digits.len() - first_digit,
            plus,
            glued_left,
            glued_right,
        });
        last_end = Some(end);
        prev2 = None;
        prev = Some(last);
    }
    flush(&mut groups, &mut digits, &mut out, &mut done);
    if done == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[done..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(s: &str) -> String {
        redacted(s)
    }

    #[test]
    fn emails_are_replaced_whole() {
        assert_eq!(
            r("write to somchai.j+support@example.co.th."),
            "write to [email]."
        );
        assert_eq!(r("อีเมลsomchai@mail.example.com ครับ"), "อีเมล[email] ครับ");
        assert_eq!(r("<a@b.io>, c_d@e-f.org"), "<[email]>, [email]");
        // Not addresses: no domain, a one-letter or numeric top level, a handle.
        for s in [
            "@everyone",
            "user@localhost",
            "a@b.c",
            "x@1.23",
            "me@",
            "@@",
            "a@.com",
        ] {
            assert_eq!(r(s), s, "{s}");
        }
        assert_eq!(r("a@b.co@x.com"), "[email]@x.com");
        // Digits in an address are the address's.
        assert_eq!(r("0812345678@gmail.com"), "[email]");
        assert_eq!(r("somchai.0812345678@x.com"), "[email]");
        assert_eq!(r("a@mail.0812345678.com"), "[email]");
        assert_eq!(r("a@b.com.0812345678"), "[email].0812345678");
    }

    #[test]
    fn thai_phones_with_and_without_separators() {
        for s in [
            "081-234-5678",
            "0812345678",
            "081 234 5678",
            "02-123-4567",
            "021234567",
            "+66 81 234 5678",
            "+66812345678",
            "+66-2-123-4567",
            "66812345678",
            "๐๘๑-๒๓๔-๕๖๗๘",
        ] {
            assert_eq!(r(&format!("call {s} now")), "call [phone] now", "{s}");
        }
        assert_eq!(r("โทร0812345678ค่ะ"), "โทร[phone]ค่ะ");
        assert_eq!(r("เบอร์ 081-234-5678, ok"), "เบอร์ [phone], ok");
    }

    #[test]
    fn international_phones() {
        for s in [
            "+1 (415) 555-0100",
            "(415) 555-0100",
            "415-555-0100",
            "+44 20 7946 0958",
            "00 44 20 7946 0958",
            "+4930123456",
        ] {
            assert_eq!(r(&format!("tel: {s}.")), "tel: [phone].", "{s}");
        }
    }

    #[test]
    fn cards_passing_luhn_with_spaces_or_dashes() {
        for s in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5500 0000 0000 0004",
            "3400 000000 00009",
            "6011000990139424",
            "4222222222222",
            "6304000000000000000",
        ] {
            assert_eq!(r(&format!("card {s}!")), "card [card]!", "{s}");
        }
        // Failing Luhn: not a card (and 16 digits are no phone).
        assert_eq!(r("card 4111 1111 1111 1112"), "card 4111 1111 1111 1112");
    }

    #[test]
    fn thai_ids_with_their_checksum() {
        // 1-1037-02071-81-1: checksum 1.
        assert!(thai_id(&[1, 1, 0, 3, 7, 0, 2, 0, 7, 1, 8, 1, 1]));
        assert_eq!(r("id 1-1037-02071-81-1"), "id [thai_id]");
        assert_eq!(r("id 1103702071811"), "id [thai_id]");
        assert_eq!(r("บัตร 1 1037 02071 81 1 ค่ะ"), "บัตร [thai_id] ค่ะ");
        // A wrong checksum (and not Luhn): left alone.
        assert!(!thai_id(&[1, 1, 0, 3, 7, 0, 2, 0, 7, 1, 8, 1, 2]));
        assert!(!luhn(&[1, 1, 0, 3, 7, 0, 2, 0, 7, 1, 8, 1, 2]));
        assert_eq!(r("id 1-1037-02071-81-2"), "id 1-1037-02071-81-2");
    }

    #[test]
    fn ordinary_numbers_ids_and_hashes_are_left_alone() {
        for s in [
            "order 123456789 is late",
            "10 20 30 40 50 60",
            "on 2026-12-02 at 12:30",
            "pay 1,250.00 THB",
            "session 0123456789abcdef0123456789abcdef",
            "user U4111111111111111",
            "v1.1700000000.abc",
            "192.168.100.200",
            "3.14159265358979",
            "ticket t_0812345678abcdef",
            // 1764659312340 passes the Thai id checksum: glued to its word by a dash, it is
            // a request id's timestamp, not an id (was redacted: a log line's request id then
            // named nothing).
            "request ai-refused-ayaka-1764659312340",
            "req-0812345678 done",
            "",
        ] {
            assert_eq!(r(s), s, "{s}");
        }
    }

    #[test]
    fn the_longest_match_from_each_group_wins() {
        // A count then a phone: the count stays.
        assert_eq!(r("2 0812345678"), "2 [phone]");
        assert_eq!(r("100 081 234 5678"), "100 [phone]");
        // Two phones in one run.
        assert_eq!(r("081-234-5678 02-123-4568"), "[phone] [phone]");
        // Unless together they pass Luhn: still redacted, under another name.
        assert_eq!(r("081-234-5678 02-123-4567"), "[card]");
        assert_eq!(
            r("a@b.com, 4111111111111111 and 081-234-5678"),
            "[email], [card] and [phone]"
        );
    }

    #[test]
    fn percent_escapes_are_decoded_for_redaction() {
        assert_eq!(
            percent_decoded("/u/somchai%40example.com"),
            "/u/somchai@example.com"
        );
        assert_eq!(r(&percent_decoded("/t/%2B66%20812345678")), "/t/[phone]");
        assert_eq!(percent_decoded("%e0%b8%81%4"), "ก%4");
        assert_eq!(percent_decoded("%zz%"), "%zz%");
        assert!(matches!(percent_decoded("/plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn borrowed_when_clean() {
        assert!(matches!(redact("nothing here 123"), Cow::Borrowed(_)));
        assert!(is_clean("nothing here 123"));
        assert!(!is_clean("0812345678"));
    }

    /// A card number of `n` digits passing Luhn, from `body` (n - 1 digits).
    fn luhn_complete(body: &[u8]) -> Vec<u8> {
        (0..10)
            .map(|c| {
                let mut d = body.to_vec();
                d.push(c);
                d
            })
            .find(|d| luhn(d))
            .unwrap_or_default()
    }

    fn digits_text(d: &[u8]) -> String {
        d.iter().map(|x| char::from(b'0' + x)).collect()
    }

    proptest! {
        #[test]
        fn never_panics_and_is_idempotent(s in "\\PC{0,200}") {
            let _ = percent_decoded(&s);
            let once = redacted(&s);
            prop_assert_eq!(redacted(&once), once);
        }

        #[test]
        fn idempotent_on_digit_heavy_text(s in "[0-9 +()@a-z.๐-๙-]{0,120}") {
            let once = redacted(&s);
            prop_assert_eq!(redacted(&once), once);
        }

        #[test]
        fn no_luhn_run_survives(
            body in proptest::collection::vec(0u8..10, 12..19),
            before in "[ a-zA-Zก-ฮ,:;(]{0,8}",
            after in "[ a-zA-Zก-ฮ.,;)]{0,8}",
            sep in prop_oneof![Just(""), Just(" "), Just("-")],
        ) {
            let d = luhn_complete(&body);
            let grouped: Vec<String> = d.chunks(4).map(digits_text).collect();
            // Glued to an ASCII letter it is part of a word: keep a boundary.
            let text = format!("{before} {} {after}", grouped.join(sep));
            let out = redacted(&text);
            prop_assert!(!out.contains(&digits_text(&d[..12])), "{text} -> {out}");
            let run: String = out.chars().filter(char::is_ascii_digit).collect();
            prop_assert!(run.len() < 13 || !luhn(&run.bytes().map(|b| b - b'0').collect::<Vec<_>>()));
        }

        #[test]
        fn emails_never_survive(
            local in "[a-z0-9][a-z0-9._+-]{0,15}",
            domain in "[a-z0-9]{1,10}(\\.[a-z0-9]{1,8}){0,2}\\.[a-z]{2,6}",
            before in "[ ,:;<(ก-ฮ]{0,4}",
        ) {
            let address = format!("{local}@{domain}");
            let out = redacted(&format!("{before}{address} x"));
            prop_assert!(!out.contains('@'), "{address} -> {out}");
        }

        #[test]
        fn thai_phones_never_survive(
            mobile in proptest::bool::ANY,
            rest in proptest::collection::vec(0u8..10, 9),
            sep in prop_oneof![Just(""), Just(" "), Just("-")],
            plus in proptest::bool::ANY,
        ) {
            let (head, tail) = if mobile {
                (format!("0{}{}", rest[0] % 9 + 1, rest[1]), digits_text(&rest[2..]))
            } else {
                (format!("0{}", rest[0] % 9 + 1), digits_text(&rest[1..8]))
            };
            let number = format!("{head}{sep}{}{sep}{}", &tail[..3], &tail[3..]);
            let number = if plus { format!("+66{sep}{}", &number[1..]) } else { number };
            let out = redacted(&format!("โทร {number} ครับ"));
            prop_assert_eq!(out, "โทร [phone] ครับ".to_owned(), "{}", number);
        }
    }
}
