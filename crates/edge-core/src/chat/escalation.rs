//! Escalation to a human, sans-IO: whether a customer's message asks for a person
//! ([`asks_for_human`], English and Thai), what the notification webhooks receive
//! ([`webhook_body`], [`discord_body`], [`signature`]), how long a failed delivery waits
//! ([`retry_delay_s`]), which queue a batch came from ([`QueueRole`]) and what the customer
//! is told ([`notice`]).
//!
//! The worker (`chat-webhook`'s `escalation*` modules) does the IO: the ledger in D1, the
//! queue, the webhook calls and the clock.

use serde_json::json;

use crate::chat::intent::Language;
use crate::chat::support::{Escalation, EscalationReason, Ticket};

// ---------------------------------------------------------------------------------------
// "Asks for a human"
// ---------------------------------------------------------------------------------------

/// English phrases that ask for something (tokens, after lowercasing and splitting on
/// anything not a letter or digit: `I'd like` is `i d like`).
const EN_ASKS: &[&[&str]] = &[
    &["talk", "to"],
    &["talk", "with"],
    &["speak", "to"],
    &["speak", "with"],
    &["chat", "with"],
    &["connect", "me"],
    &["transfer", "me"],
    &["put", "me", "through"],
    &["get", "me"],
    &["i", "want"],
    &["i", "need"],
    &["i", "d", "like"],
    &["i", "would", "like"],
    &["can", "i", "have"],
    &["can", "i", "get"],
    &["give", "me"],
    &["escalate"],
];

/// English words for a person on the team.
const EN_PEOPLE: &[&str] = &[
    "human",
    "humans",
    "person",
    "agent",
    "representative",
    "rep",
    "operator",
    "someone",
    "somebody",
    "staff",
    "manager",
    "supervisor",
    "people",
];

/// Words for a person that mean one only when alone-ish (`agent`, `human please`).
const EN_ALONE: &[&str] = &[
    "human",
    "person",
    "agent",
    "representative",
    "operator",
    "staff",
    "manager",
    "supervisor",
];

/// Words a one-word request may carry (`a real person please`).
const EN_ALONE_FILLERS: &[&str] = &[
    "please", "pls", "plz", "a", "an", "the", "real", "live", "now", "hi", "hello", "hey",
];

/// Words after a person-word that make it something else (`human resources`, `human
/// rights`, `person's`, `people management`…).
const EN_NOT_AFTER: &[&str] = &["resources", "rights", "being", "beings", "error", "nature"];

/// Words before an ask that turn it around (`don't`, `do not`, `never`, `no need`).
const EN_NEGATIONS: &[&str] = &["not", "don", "dont", "never", "no", "doesn", "didn", "won"];

/// Filler words allowed between an ask and its person (`to a real human`).
const EN_MAX_GAP: usize = 5;

/// Thai asks, as substrings (Thai has no spaces): talk with, ask to talk, contact, put
/// through, transfer the call, ask for, speak with.
const TH_ASKS: &[&str] = &[
    "คุยกับ",
    "ขอคุย",
    "ติดต่อ",
    "ต่อสาย",
    "โอนสาย",
    "ขอสาย",
    "พูดกับ",
    "ขอ",
    "เรียก",
];

/// Thai words for a person on the team: person, officer, staff, admin (what Thai chat users
/// call the shop's people), human, customer service, call center.
const TH_PEOPLE: &[&str] = &[
    "เจ้าหน้าที่",
    "พนักงาน",
    "แอดมิน",
    "มนุษย์",
    "ฝ่ายบริการลูกค้า",
    "คอลเซ็นเตอร์",
    "คนจริง",
    "คน",
];

/// After `คน` (person), these make it another word: `คนละ` (each), `คนไทย` (Thai people)….
const TH_NOT_AFTER_KHON: &[&str] = &["ละ", "ไทย", "อื่น", "เดียว", "ทั่วไป"];

/// Thai negations before an ask: not, no need, don't want.
const TH_NEGATIONS: &[&str] = &["ไม่"];

/// Characters before a Thai ask searched for a negation (`ไม่ต้อง`, `ไม่อยาก` and a space).
const TH_NEGATION_WINDOW: usize = 8;

/// Thai words skipped between an ask and its person: with, to, a, please.
const TH_FILLERS: &[&str] = &["กับ", "ทาง", "หา", "ให้", " "];

/// Thai particles a one-word request may carry (please, polite endings).
const TH_PARTICLES: &[&str] = &["ครับ", "ค่ะ", "คะ", "ค่า", "นะ", "หน่อย", "ด้วย", "ขอ", " "];

/// Longest message read for a request, characters (a request for a human is short; a long
/// text that mentions one is read only at its start).
pub const MAX_SCAN_CHARS: usize = 500;

/// Whether `text` asks to talk to a person: an ask (`talk to`, `speak with`, `I want`,
/// `connect me`; Thai `คุยกับ`, `ขอ`, `ติดต่อ`…) followed closely by a person
/// (`human`, `agent`, `someone`, `manager`; Thai `เจ้าหน้าที่`, `พนักงาน`, `แอดมิน`, `คน`…),
/// not negated (`I don't need a human`, `ไม่ต้อง…`); or a message that is just a person
/// word (`agent`, `human please`, `เจ้าหน้าที่ครับ`). Not a request: a mention
/// (`human resources policy`, `are you a human?`, `ทรัพยากรมนุษย์`).
///
/// Decided on the first [`MAX_SCAN_CHARS`] characters; never panics.
#[must_use]
pub fn asks_for_human(text: &str) -> bool {
    let text: String = text.chars().take(MAX_SCAN_CHARS).collect();
    english_asks(&text) || thai_asks(&text)
}

fn english_asks(text: &str) -> bool {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() || is_thai(c))
        .filter(|w| !w.is_empty())
        .collect();
    let person_at = |i: usize| {
        EN_PEOPLE.contains(&words[i])
            && !words
                .get(i + 1)
                .is_some_and(|next| EN_NOT_AFTER.contains(next))
    };
    for start in 0..words.len() {
        for ask in EN_ASKS {
            if !words[start..].starts_with(ask) {
                continue;
            }
            let negated = words[start.saturating_sub(4)..start]
                .iter()
                .any(|w| EN_NEGATIONS.contains(w));
            if negated {
                continue;
            }
            let from = start + ask.len();
            let to = (from + EN_MAX_GAP + 1).min(words.len());
            if (from..to).any(person_at) {
                return true;
            }
        }
    }
    // `agent`, `human please`, `real person`, `operator!` (but not `are you human`)
    words.len() <= 3
        && words
            .iter()
            .enumerate()
            .any(|(i, w)| EN_ALONE.contains(w) && person_at(i))
        && words
            .iter()
            .all(|w| EN_ALONE.contains(w) || EN_ALONE_FILLERS.contains(w))
}

const fn is_thai(c: char) -> bool {
    matches!(c, '\u{0E00}'..='\u{0E7F}')
}

fn thai_asks(text: &str) -> bool {
    if !text.chars().any(is_thai) {
        return false;
    }
    for (at, _) in text.char_indices() {
        let rest = &text[at..];
        for ask in TH_ASKS.iter().filter(|a| rest.starts_with(**a)) {
            let before: String = text[..at]
                .chars()
                .rev()
                .take(TH_NEGATION_WINDOW)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if TH_NEGATIONS.iter().any(|n| before.contains(n)) {
                continue;
            }
            let mut after = &rest[ask.len()..];
            while let Some(f) = TH_FILLERS.iter().find(|f| after.starts_with(**f)) {
                after = &after[f.len()..];
            }
            if thai_person_at(after) {
                return true;
            }
        }
    }
    // `เจ้าหน้าที่ครับ`, `แอดมินค่ะ`: the message is a person word and particles only.
    let mut rest = text.trim();
    loop {
        let before = rest;
        for p in TH_PARTICLES {
            rest = rest.trim_start_matches(p).trim_end_matches(p);
        }
        if rest == before {
            break;
        }
    }
    TH_PEOPLE.iter().any(|p| *p != "คน" && rest == *p)
}

fn thai_person_at(s: &str) -> bool {
    TH_PEOPLE.iter().any(|p| {
        s.starts_with(p)
            && (*p != "คน"
                || !TH_NOT_AFTER_KHON
                    .iter()
                    .any(|x| s[p.len()..].starts_with(x)))
    })
}

// ---------------------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------------------

/// Longest subject a notification carries, characters (the ticket's may be longer).
pub const MAX_NOTIFIED_SUBJECT_CHARS: usize = 200;
/// Discord's limit on a message's `content`, characters.
pub const DISCORD_CONTENT_CHARS: usize = 2000;

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

const fn reason_str(r: EscalationReason) -> &'static str {
    match r {
        EscalationReason::TicketCreated => "ticket_created",
        EscalationReason::HumanRequested => "human_requested",
    }
}

/// The escalation of ticket `t`: its key `ticket:<id>` (one notification per ticket).
#[must_use]
pub fn of_ticket(t: &Ticket, reason: EscalationReason) -> Escalation {
    Escalation {
        key: format!("ticket:{}", t.id),
        reason,
        ticket_id: t.id.clone(),
        session_id: t.session_id.clone(),
        subject: t.subject.clone(),
        priority: t.priority,
        contact: t.contact.clone(),
        created_at: t.created_at,
    }
}

/// The generic webhook's JSON body: `{"type": "escalation", "version": 1, ...}` with
/// every field of `e` (the subject clipped to [`MAX_NOTIFIED_SUBJECT_CHARS`]).
#[must_use]
pub fn webhook_body(e: &Escalation) -> String {
    json!({
        "type": "escalation",
        "version": 1,
        "key": e.key,
        "reason": reason_str(e.reason),
        "ticket_id": e.ticket_id,
        "session_id": e.session_id,
        "subject": clip(&e.subject, MAX_NOTIFIED_SUBJECT_CHARS),
        "priority": e.priority.as_str(),
        "contact": e.contact,
        "created_at": e.created_at,
    })
    .to_string()
}

/// Text for Discord: no markdown effects, no mentions (`@everyone` is also refused by
/// `allowed_mentions`), on one line.
fn discord_plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']' | '(' | ')' | '\\' | '<' | '@' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Text inside a Discord code span (where backslashes are literal): no backticks, one
/// line, at most 100 characters.
fn code_span(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '`' && !c.is_control())
        .take(100)
        .collect()
}

/// A Discord channel webhook's body: one plain message, mentions off
/// (`allowed_mentions: {"parse": []}`), within Discord's 2000 characters.
#[must_use]
pub fn discord_body(e: &Escalation) -> String {
    let title = match e.reason {
        EscalationReason::HumanRequested => "A customer asked for a person",
        EscalationReason::TicketCreated => "New support ticket",
    };
    let mut content = format!(
        "**{title}** ({})\nTicket: `{}`\nSubject: {}\nSession: `{}`",
        e.priority.as_str(),
        code_span(&e.ticket_id),
        discord_plain(&clip(&e.subject, MAX_NOTIFIED_SUBJECT_CHARS)),
        code_span(&e.session_id),
    );
    if let Some(c) = &e.contact {
        content.push_str("\nContact: ");
        content.push_str(&discord_plain(&clip(c, 200)));
    }
    json!({
        "content": clip(&content, DISCORD_CONTENT_CHARS),
        "allowed_mentions": { "parse": [] },
    })
    .to_string()
}

/// A Discord webhook URL with `wait=true` (Discord then answers 200 with the message once
/// it is posted, rather than 204 at once).
#[must_use]
pub fn discord_wait_url(url: &str) -> String {
    if url.contains("wait=true") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&wait=true")
    } else {
        format!("{url}?wait=true")
    }
}

/// The signature header's value for `body` sent at `timestamp_s`:
/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. A receiver
/// recomputes it over the raw body, compares in constant time and refuses old timestamps.
#[must_use]
pub fn signature(secret: &str, timestamp_s: u64, body: &str) -> String {
    let tag = crate::sig::hmac_sha256(
        secret.as_bytes(),
        &[timestamp_s.to_string().as_bytes(), b".", body.as_bytes()],
    );
    format!("t={timestamp_s},v1={}", crate::hex::encode(&tag))
}

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "x-escalation-signature";

// ---------------------------------------------------------------------------------------
// Retries and queues
// ---------------------------------------------------------------------------------------

/// Longest wait between two delivery attempts, seconds.
pub const MAX_RETRY_DELAY_S: u32 = 300;

/// How long to wait before delivery attempt `attempts + 1` after `attempts` failed:
/// `base_s`, doubling each time, at most [`MAX_RETRY_DELAY_S`] (a `Retry-After` the webhook
/// sent wins when it is longer, up to the same cap). `base_s = 0`: at once.
#[must_use]
pub fn retry_delay_s(base_s: u32, attempts: u32, retry_after_s: Option<u32>) -> u32 {
    let exp = attempts.saturating_sub(1).min(16);
    let backoff = base_s.saturating_mul(1 << exp).min(MAX_RETRY_DELAY_S);
    backoff.max(retry_after_s.unwrap_or(0).min(MAX_RETRY_DELAY_S))
}

/// What a queue batch is, by its queue's name (`chat-escalations`,
/// `chat-escalations-staging`, `…-dlq`; anything else is the LINE events' queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueRole {
    /// `chat-events[-<env>]` (and anything not an escalation queue).
    Events,
    /// `chat-escalations[-<env>]`: deliver.
    Escalations,
    /// `chat-escalations[-<env>]-dlq`: mark dead.
    EscalationsDead,
}

impl QueueRole {
    /// The role of queue `name`.
    #[must_use]
    pub fn of(name: &str) -> Self {
        if !name.starts_with("chat-escalations") {
            Self::Events
        } else if name.ends_with("-dlq") {
            Self::EscalationsDead
        } else {
            Self::Escalations
        }
    }
}

/// What the customer is told when their request for a person opened (or found) ticket
/// `ticket_id`: plain text, shown before the assistant's answer.
#[must_use]
pub fn notice(lang: Language, ticket_id: &str, reused: bool) -> String {
    match (lang, reused) {
        (Language::En, false) => format!(
            "I've passed your request to our support team (ticket {ticket_id}); a person will get back to you.\n\n"
        ),
        (Language::En, true) => format!(
            "Your request is already with our support team (ticket {ticket_id}); a person will get back to you.\n\n"
        ),
        (Language::Th, false) => {
            format!("ส่งเรื่องของคุณให้ทีมงานแล้ว (ตั๋ว {ticket_id}) เจ้าหน้าที่จะติดต่อกลับ\n\n")
        }
        (Language::Th, true) => {
            format!("เรื่องของคุณอยู่กับทีมงานแล้ว (ตั๋ว {ticket_id}) เจ้าหน้าที่จะติดต่อกลับ\n\n")
        }
    }
}

/// What the customer is told when their request for a person could not be passed on now.
#[must_use]
pub const fn notice_failed(lang: Language) -> &'static str {
    match lang {
        Language::En => {
            "I couldn't reach our support team just now; please try again in a few minutes.\n\n"
        }
        Language::Th => "ขออภัย ตอนนี้ยังส่งเรื่องถึงทีมงานไม่ได้ กรุณาลองใหม่อีกครั้งในไม่กี่นาที\n\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::support::Priority;
    use proptest::prelude::*;

    #[test]
    fn english_requests_for_a_person() {
        for t in [
            "I want to talk to a human",
            "Can I speak to your manager?",
            "please connect me with an agent",
            "I'd like to speak with a real person",
            "let me talk to someone",
            "TRANSFER ME TO A REPRESENTATIVE",
            "I need a human, this bot is useless",
            "agent",
            "Human please!",
            "real person",
            "operator?",
            "live agent now",
            "can I get a human",
            "escalate to a supervisor",
            "i wanna talk to someone. i want a person",
        ] {
            assert!(asks_for_human(t), "{t:?} asks for a person");
        }
    }

    #[test]
    fn english_mentions_are_not_requests() {
        for t in [
            "What is your human resources policy?",
            "Are you a human?",
            "are you human",
            "my agent code?",
            "I need human resources",
            "I don't want to talk to a human",
            "no need to talk to a person, thanks",
            "Is this product safe for human consumption?",
            "I want a refund",
            "How many people can use one account?",
            "my agent code is 123",
            "talk to me about prices",
            "",
            "hello",
            "human rights",
        ] {
            assert!(!asks_for_human(t), "{t:?} is not a request for a person");
        }
    }

    #[test]
    fn thai_requests_for_a_person() {
        for t in [
            "ขอคุยกับเจ้าหน้าที่ครับ",
            "อยากคุยกับคนจริงๆ",
            "ติดต่อพนักงานได้ไหมคะ",
            "ขอสายแอดมินหน่อย",
            "ต่อสายเจ้าหน้าที่ด้วยค่ะ",
            "เจ้าหน้าที่ครับ",
            "แอดมินค่ะ",
            "ขอคนช่วยหน่อย",
            "ขอคุยกับ แอดมิน",
        ] {
            assert!(asks_for_human(t), "{t:?} asks for a person");
        }
    }

    #[test]
    fn thai_mentions_are_not_requests() {
        for t in [
            "นโยบายทรัพยากรมนุษย์คืออะไร",
            "ขอคนละหนึ่งชิ้น",
            "ไม่ต้องคุยกับเจ้าหน้าที่",
            "ราคาเท่าไหร่ครับ",
            "คนไทยใช้ได้ไหม",
            "สวัสดีครับ",
            "คน",
        ] {
            assert!(!asks_for_human(t), "{t:?} is not a request for a person");
        }
    }

    #[test]
    fn only_the_start_of_a_long_text_is_read() {
        let long = format!("{} talk to a human", "word ".repeat(200));
        assert!(!asks_for_human(&long));
        assert!(asks_for_human(&format!(
            "talk to a human {}",
            "word ".repeat(200)
        )));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,600}") {
            let _ = asks_for_human(&s);
        }

        #[test]
        fn thai_and_mixed_text_never_panics(s in "[ก-๛a-z ]{0,80}") {
            let _ = asks_for_human(&s);
        }
    }

    fn escalation() -> Escalation {
        Escalation {
            key: "ticket:t_0123456789abcdef01234567".into(),
            reason: EscalationReason::HumanRequested,
            ticket_id: "t_0123456789abcdef01234567".into(),
            session_id: "s1".into(),
            subject: "@everyone *help* [x](http://evil)\nnow".into(),
            priority: Priority::High,
            contact: Some("a@example.com".into()),
            created_at: 1_700_000_000_000,
        }
    }

    #[test]
    fn webhook_body_has_every_field() {
        let v: serde_json::Value =
            serde_json::from_str(&webhook_body(&escalation())).expect("valid");
        assert_eq!(v["type"], "escalation");
        assert_eq!(v["key"], "ticket:t_0123456789abcdef01234567");
        assert_eq!(v["reason"], "human_requested");
        assert_eq!(v["priority"], "high");
        assert_eq!(v["contact"], "a@example.com");
        assert_eq!(v["created_at"], 1_700_000_000_000_u64);
        let long = Escalation {
            subject: "x".repeat(1_000),
            ..escalation()
        };
        let v: serde_json::Value = serde_json::from_str(&webhook_body(&long)).expect("valid");
        assert_eq!(
            v["subject"].as_str().expect("valid").chars().count(),
            MAX_NOTIFIED_SUBJECT_CHARS
        );
    }

    #[test]
    fn discord_body_mentions_nobody_and_escapes_markdown() {
        let v: serde_json::Value =
            serde_json::from_str(&discord_body(&escalation())).expect("valid");
        assert_eq!(v["allowed_mentions"]["parse"], json!([]));
        let content = v["content"].as_str().expect("valid");
        assert!(content.contains("\\@everyone \\*help\\* \\[x\\]\\(http://evil\\) now"));
        assert!(content.contains("t_0123456789abcdef01234567"));
        assert!(content.contains("Contact: a\\@example.com"));
        let long = Escalation {
            subject: "*".repeat(5_000),
            contact: Some("c".repeat(5_000)),
            ..escalation()
        };
        let v: serde_json::Value = serde_json::from_str(&discord_body(&long)).expect("valid");
        assert!(v["content"].as_str().expect("valid").chars().count() <= DISCORD_CONTENT_CHARS);
    }

    #[test]
    fn discord_url_waits() {
        assert_eq!(
            discord_wait_url("https://d/api/webhooks/1/tok"),
            "https://d/api/webhooks/1/tok?wait=true"
        );
        assert_eq!(
            discord_wait_url("https://d/w?thread_id=2"),
            "https://d/w?thread_id=2&wait=true"
        );
        assert_eq!(
            discord_wait_url("https://d/w?wait=true"),
            "https://d/w?wait=true"
        );
    }

    #[test]
    fn signature_is_hmac_of_timestamp_and_body() {
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signature("secret", 1_700_000_000, r#"{"a":1}"#),
            "t=1700000000,v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }

    #[test]
    fn retry_delays_double_to_a_cap_and_respect_retry_after() {
        assert_eq!(retry_delay_s(30, 1, None), 30);
        assert_eq!(retry_delay_s(30, 2, None), 60);
        assert_eq!(retry_delay_s(30, 4, None), 240);
        assert_eq!(retry_delay_s(30, 100, None), MAX_RETRY_DELAY_S);
        assert_eq!(retry_delay_s(30, 0, None), 30);
        assert_eq!(retry_delay_s(0, 5, None), 0);
        assert_eq!(retry_delay_s(30, 1, Some(120)), 120);
        assert_eq!(retry_delay_s(30, 1, Some(99_999)), MAX_RETRY_DELAY_S);
        assert_eq!(retry_delay_s(u32::MAX, u32::MAX, None), MAX_RETRY_DELAY_S);
    }

    #[test]
    fn queue_roles_by_name() {
        assert_eq!(QueueRole::of("chat-events"), QueueRole::Events);
        assert_eq!(QueueRole::of("chat-events-staging"), QueueRole::Events);
        assert_eq!(QueueRole::of("chat-escalations"), QueueRole::Escalations);
        assert_eq!(
            QueueRole::of("chat-escalations-production"),
            QueueRole::Escalations
        );
        assert_eq!(
            QueueRole::of("chat-escalations-dlq"),
            QueueRole::EscalationsDead
        );
        assert_eq!(
            QueueRole::of("chat-escalations-staging-dlq"),
            QueueRole::EscalationsDead
        );
        assert_eq!(QueueRole::of("chat-events-dlq"), QueueRole::Events);
    }

    #[test]
    fn notices_name_the_ticket() {
        assert!(notice(Language::En, "t_1", false).contains("t_1"));
        assert!(notice(Language::Th, "t_1", true).contains("t_1"));
        assert!(notice(Language::En, "t_1", true).contains("already"));
    }
}
