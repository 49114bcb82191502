//! What the bot says without the AI (welcome, non-text, apology), and splitting a long
//! answer into messages within LINE's limits.

use super::intent::Language;

/// Longest text message LINE accepts, in UTF-16 code units (LINE counts characters that way).
pub const MAX_MESSAGE_UNITS: usize = 5000;
/// Most messages one reply or push may carry.
pub const MAX_MESSAGES: usize = 5;

/// The welcome for a new or returning follower.
#[must_use]
pub fn welcome(lang: Language, name: Option<&str>) -> String {
    match (lang, name) {
        (Language::Th, Some(n)) => {
            format!("สวัสดีค่ะ คุณ{n} ยินดีต้อนรับ! พิมพ์คำถามได้เลยค่ะ เรายินดีช่วยเหลือเรื่องสินค้าและข้อมูลสุขภาพ")
        }
        (Language::Th, None) => {
            "สวัสดีค่ะ ยินดีต้อนรับ! พิมพ์คำถามได้เลยค่ะ เรายินดีช่วยเหลือเรื่องสินค้าและข้อมูลสุขภาพ".to_owned()
        }
        (Language::En, Some(n)) => format!(
            "Hello {n}, welcome! Ask me anything about our products or your health questions."
        ),
        (Language::En, None) => {
            "Hello, welcome! Ask me anything about our products or your health questions."
                .to_owned()
        }
    }
}

/// The greeting when the bot joins a group or room.
#[must_use]
pub fn joined(lang: Language) -> &'static str {
    match lang {
        Language::Th => "สวัสดีทุกคนค่ะ! มีคำถามพิมพ์ถามได้เลยค่ะ",
        Language::En => "Hello everyone! Ask me anything here.",
    }
}

/// The polite answer to a message that is not text.
#[must_use]
pub fn not_text(lang: Language) -> &'static str {
    match lang {
        Language::Th => "ขอบคุณค่ะ ตอนนี้เราอ่านได้เฉพาะข้อความตัวอักษร รบกวนพิมพ์คำถามเป็นข้อความนะคะ",
        Language::En => {
            "Thank you! For now I can only read text messages. Please type your question."
        }
    }
}

/// The static answer when every AI provider failed.
#[must_use]
pub fn apology(lang: Language) -> &'static str {
    match lang {
        Language::Th => "ขออภัยค่ะ ตอนนี้ระบบไม่สามารถตอบได้ กรุณาลองใหม่อีกครั้งในภายหลังนะคะ",
        Language::En => "Sorry, I can't answer right now. Please try again in a little while.",
    }
}

/// The answer when the user has used up their AI quota: polite, in their language, with
/// when they can ask again (`retry_after_s`, rounded up to whole minutes).
#[must_use]
pub fn over_quota(lang: Language, retry_after_s: u64) -> String {
    let minutes = retry_after_s.div_ceil(60).max(1);
    match lang {
        Language::Th => format!(
            "ขออภัยค่ะ ตอนนี้คุณส่งคำถามถึงผู้ช่วยครบจำนวนที่กำหนดแล้ว กรุณาลองใหม่อีกครั้งในอีกประมาณ {minutes} นาทีนะคะ"
        ),
        Language::En => format!(
            "Sorry, you've reached the limit of questions to the assistant for now. Please try again in about {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        ),
    }
}

/// Splits `text` into at most [`MAX_MESSAGES`] messages of at most [`MAX_MESSAGE_UNITS`]
/// UTF-16 units each, breaking at the last paragraph, line or space break that fits (a hard
/// cut, never inside a character, when there is none). Text beyond five messages is cut and
/// the last message ends with `…`. Empty text gives no message.
#[must_use]
pub fn split(text: &str) -> Vec<String> {
    split_with(text, MAX_MESSAGE_UNITS, MAX_MESSAGES)
}

fn split_with(text: &str, max_units: usize, max_messages: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if parts.len() + 1 == max_messages && units(rest) > max_units {
            // The last allowed message: as much as fits, then the ellipsis.
            let cut = prefix_within(rest, max_units - 1);
            parts.push(format!("{}…", rest[..cut].trim_end()));
            break;
        }
        if units(rest) <= max_units {
            parts.push(rest.to_owned());
            break;
        }
        let fit = prefix_within(rest, max_units);
        let head = &rest[..fit];
        let cut = ["\n\n", "\n", " "]
            .iter()
            .find_map(|sep| head.rfind(sep).filter(|&i| i > 0))
            .unwrap_or(fit);
        parts.push(rest[..cut].trim_end().to_owned());
        rest = rest[cut..].trim_start();
    }
    parts
}

fn units(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// The byte length of the longest prefix of `s` within `max_units` UTF-16 units.
fn prefix_within(s: &str, max_units: usize) -> usize {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        used += c.len_utf16();
        if used > max_units {
            return i;
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_13_ai_quota_text_is_in_the_users_language_with_minutes() {
        assert!(over_quota(Language::En, 61).contains("about 2 minutes"));
        assert!(over_quota(Language::En, 0).contains("about 1 minute."));
        let th = over_quota(Language::Th, 3600);
        assert!(th.contains("60 นาที") && th.starts_with("ขออภัยค่ะ"));
    }

    #[test]
    fn short_texts_stay_whole_and_long_ones_break_at_spaces() {
        assert_eq!(split("hello"), ["hello"]);
        assert!(split("   ").is_empty());
        // 3000 words in 14,999 units: three messages of 1000 words (4999 units) each.
        let words = "word ".repeat(3000);
        let parts = split(&words);
        assert_eq!(parts.len(), 3);
        assert!(
            parts
                .iter()
                .all(|p| units(p) <= MAX_MESSAGE_UNITS && p.ends_with("word"))
        );
        assert_eq!(
            parts.join(" "),
            words.trim(),
            "nothing lost but the break spaces"
        );
        assert_eq!(
            parts
                .iter()
                .map(|p| p.matches("word").count())
                .sum::<usize>(),
            3000
        );
    }

    #[test]
    fn paragraphs_are_preferred_and_characters_never_split() {
        let p = split_with("aaaa bbbb\n\ncccc dddd", 12, 5);
        assert_eq!(p, ["aaaa bbbb", "cccc dddd"]);
        // Emoji are two UTF-16 units; no break inside one.
        let p = split_with(&"😀".repeat(5), 4, 5);
        assert_eq!(p, ["😀😀", "😀😀", "😀"]);
        let thai = "สวัสดี".repeat(2000);
        assert!(split(&thai).iter().all(|m| units(m) <= MAX_MESSAGE_UNITS));
    }

    #[test]
    fn at_most_five_messages_the_last_marked_cut() {
        let huge = "x ".repeat(20_000);
        let parts = split(&huge);
        assert_eq!(parts.len(), MAX_MESSAGES);
        assert!(parts[4].ends_with('…') && units(&parts[4]) <= MAX_MESSAGE_UNITS);
    }

    #[test]
    fn canned_texts_in_both_languages() {
        assert!(welcome(Language::Th, Some("Somchai")).contains("Somchai"));
        assert!(welcome(Language::En, None).starts_with("Hello"));
        assert_ne!(apology(Language::Th), apology(Language::En));
        assert_ne!(not_text(Language::Th), not_text(Language::En));
        assert_ne!(joined(Language::Th), joined(Language::En));
    }
}
