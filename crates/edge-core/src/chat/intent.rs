//! What a message is about, and which language it is in, from its text alone: keyword
//! matching in English (whole words) and Thai (substrings: Thai has no spaces).

use serde::{Deserialize, Serialize};

/// A message's intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Products, prices, orders.
    Product,
    /// Health questions.
    Health,
    /// Hello.
    Greeting,
    /// Asking for help.
    Help,
    /// Anything else.
    General,
}

impl Intent {
    /// The stored spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Product => "product",
            Self::Health => "health",
            Self::Greeting => "greeting",
            Self::Help => "help",
            Self::General => "general",
        }
    }
}

/// A chat language this bot writes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English (the default).
    En,
    /// Thai.
    Th,
}

impl Language {
    /// The stored spelling (`en`, `th`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Th => "th",
        }
    }

    /// From a LINE profile's `language` (BCP 47): `th…` is Thai, anything else English.
    #[must_use]
    pub fn from_tag(tag: Option<&str>) -> Self {
        match tag {
            Some(t) if t == "th" || t.starts_with("th-") => Self::Th,
            _ => Self::En,
        }
    }

    /// Thai when the text has any Thai letter (U+0E00–U+0E7F), else `fallback`.
    #[must_use]
    pub fn of_text(text: &str, fallback: Self) -> Self {
        if text.chars().any(|c| ('\u{0E00}'..='\u{0E7F}').contains(&c)) {
            Self::Th
        } else if text.chars().any(char::is_alphabetic) {
            Self::En
        } else {
            fallback
        }
    }
}

/// Keywords per intent, in priority order for ties: English words, Thai fragments.
const KEYWORDS: [(Intent, &[&str], &[&str]); 4] = [
    (
        Intent::Product,
        &[
            "product", "products", "price", "prices", "buy", "purchase", "order", "cost", "stock",
            "catalog",
        ],
        &["สินค้า", "ราคา", "ซื้อ", "สั่ง", "เท่าไหร่", "เท่าไร", "โปรโมชั่น"],
    ),
    (
        Intent::Health,
        &[
            "health", "medical", "doctor", "symptom", "symptoms", "medicine", "sick", "pain",
            "fever",
        ],
        &["สุขภาพ", "หมอ", "ยา", "อาการ", "ป่วย", "เจ็บ", "ปวด", "ไข้"],
    ),
    (
        Intent::Help,
        &["help", "support", "problem", "issue", "how"],
        &["ช่วย", "ปัญหา", "สอบถาม", "วิธี"],
    ),
    (
        Intent::Greeting,
        &["hello", "hi", "hey", "morning", "evening", "greetings"],
        &["สวัสดี", "หวัดดี", "ดีครับ", "ดีค่ะ"],
    ),
];

/// The intent of `text` and a confidence in `0..=1`: the intent with the most keyword hits
/// (ties in the order product, health, help, greeting); 0.7 for one hit, 0.9 for more,
/// and `General` at 0.5 for none.
#[must_use]
pub fn detect(text: &str) -> (Intent, f64) {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() || ('\u{0E00}'..='\u{0E7F}').contains(&c))
        .filter(|w| !w.is_empty())
        .collect();
    let mut best = (Intent::General, 0usize);
    for (intent, english, thai) in KEYWORDS {
        let hits = words.iter().filter(|w| english.contains(w)).count()
            + thai.iter().filter(|t| lower.contains(*t)).count();
        if hits > best.1 {
            best = (intent, hits);
        }
    }
    match best {
        (intent, 0) => (intent, 0.5),
        (intent, 1) => (intent, 0.7),
        (intent, _) => (intent, 0.9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_and_thai_intents() {
        let cases = [
            ("What is the price of this product?", Intent::Product),
            ("ราคาเท่าไหร่ครับ", Intent::Product),
            ("I have a fever and pain", Intent::Health),
            ("ปวดหัวมาก ควรกินยาอะไร", Intent::Health),
            ("Hi there!", Intent::Greeting),
            ("สวัสดีครับ", Intent::Greeting),
            ("Can you help me?", Intent::Help),
            ("ช่วยด้วย", Intent::Help),
            ("The weather is nice", Intent::General),
            ("this thing", Intent::General), // "hi" inside "this" is not a greeting
        ];
        for (text, want) in cases {
            assert_eq!(detect(text).0, want, "{text}");
        }
        assert_eq!(detect("nothing").1, 0.5);
        assert_eq!(detect("hello").1, 0.7);
        assert_eq!(detect("buy this product at a good price").1, 0.9);
    }

    #[test]
    fn languages() {
        assert_eq!(Language::of_text("สวัสดี hello", Language::En), Language::Th);
        assert_eq!(Language::of_text("hello", Language::Th), Language::En);
        assert_eq!(Language::of_text("👍 123", Language::Th), Language::Th);
        assert_eq!(Language::from_tag(Some("th")), Language::Th);
        assert_eq!(Language::from_tag(Some("th-TH")), Language::Th);
        assert_eq!(Language::from_tag(Some("ja")), Language::En);
        assert_eq!(Language::from_tag(None), Language::En);
    }
}
