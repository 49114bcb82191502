//! Handling one queued LINE event, exactly once as far as the user can tell:
//!
//! 1. take the event by its `webhookEventId`: a redelivery of an answered event stops
//!    here; one that another consumer is handling is looked at again later (by then it is
//!    answered, or its claim is stale — older than any handling can take — and is taken
//!    over, so a consumer dying before its answer does not lose the event);
//! 2. work out the answer (customer and conversation from D1, intent, AI chain);
//! 3. send it (reply, or push with a retry key once the token has expired);
//! 4. mark the event done at once, then store the exchange in one D1 transaction.
//!
//! A failure before the answer is sent gives the event back and asks the queue to retry;
//! a failure after it is sent is logged and not retried, so nobody gets a second answer.
//!
//! The sequence is generic over its backends ([`crate::backends`]): the worker binds them
//! to D1, KV, the quota object and `fetch` ([`crate::bindings`]); the tests below drive it
//! natively with in-memory fakes, faults included.

use edge_core::chat::completion::{self, Channel, Prompt};
use edge_core::chat::intent::{self, Language};
use edge_core::chat::line::webhook::{Chat, Event, EventKind, Source};
use edge_core::chat::text;
use serde::{Deserialize, Serialize};

use crate::ai;
use crate::backends::{
    BackendError, ChatIo, ChatStore, Claim, Clock, Customer, Exchange, NewCustomer, Outbound,
};
use crate::line_api::{self, Delivery};
use crate::log;
use crate::settings::LineSettings;

/// A queued webhook event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Queued {
    pub(crate) event: Event,
    /// When the webhook received it, unix ms.
    pub(crate) received_ms: u64,
}

/// How handling an event ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Done (answered, stored, or nothing to do): acknowledge.
    Done,
    /// Failed before anything was sent: retry.
    Retry,
    /// Another consumer holds it: look again after this many seconds (by then it is done,
    /// or its claim is stale and can be taken over).
    RetryAfter(u32),
}

/// What to answer and how to store it.
struct Answer {
    texts: Vec<String>,
    exchange: Option<StoredExchange>,
}

/// An exchange to store once the answer is out.
struct StoredExchange {
    conversation_id: String,
    /// Who asked: the speaker when known, else the chat's key.
    asker: String,
    speaker_user_id: Option<String>,
    line_message_id: Option<String>,
    user_text: String,
    intent: &'static str,
    confidence: f64,
    answer: String,
    provider: String,
    model: Option<String>,
    tokens: Option<u64>,
    latency_ms: u64,
    attempts: Option<String>,
}

fn event_type(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Text { .. } => "message.text",
        EventKind::OtherMessage { .. } => "message.other",
        EventKind::Follow => "follow",
        EventKind::Unfollow => "unfollow",
        EventKind::Postback { .. } => "postback",
        EventKind::Join => "join",
        EventKind::Leave => "leave",
        EventKind::Unsend { .. } => "unsend",
        EventKind::Unknown { .. } => "unknown",
    }
}

/// Handles one event with `store` and `io`.
pub(crate) async fn handle<S: ChatStore>(
    store: &S,
    io: &impl ChatIo,
    s: &LineSettings,
    q: &Queued,
) -> Outcome {
    let e = &q.event;
    let now = io.clock().now_ms();
    let bound = s.handling_bound_ms();
    match store.claim(&e.id, event_type(&e.kind), now, bound).await {
        Ok(Claim::Taken) => {}
        Ok(Claim::Done) => {
            log::info(&format!(
                "line event {} already answered (redelivery: {})",
                e.id, e.redelivery
            ));
            return Outcome::Done;
        }
        Ok(Claim::InProgress) => {
            log::info(&format!(
                "line event {} is being handled elsewhere; looking again later",
                e.id
            ));
            return Outcome::RetryAfter(u32::try_from(bound.div_ceil(1000)).unwrap_or(u32::MAX));
        }
        Err(err) => {
            log::warn(&format!("line event {}: claim failed: {err}", e.id));
            return Outcome::Retry;
        }
    }
    let answer = match prepare(store, io, s, e, now).await {
        Ok(a) => a,
        Err(err) => {
            log::warn(&format!("line event {}: {err}", e.id));
            return give_back(store, &e.id).await;
        }
    };
    if !answer.texts.is_empty() && !e.standby {
        match line_api::send(io.net(), s, e, &answer.texts).await {
            Ok(Delivery::Reply) => {}
            Ok(Delivery::Push) => {
                log::info(&format!("line event {}: reply token expired, pushed", e.id));
            }
            Err(err) => {
                log::warn(&format!("line event {}: send failed: {err}", e.id));
                return give_back(store, &e.id).await;
            }
        }
    }
    // The answer is out: mark it so at once (a takeover must never answer twice), then
    // store the exchange; from here a failure is logged, never retried.
    if let Err(err) = store.mark_done(&e.id, io.clock().now_ms()).await {
        log::warn(&format!(
            "line event {}: answered but not marked done: {err}",
            e.id
        ));
    }
    let stored = match &answer.exchange {
        Some(x) => {
            store
                .store_exchange(
                    &Exchange {
                        event_id: &e.id,
                        conversation_id: &x.conversation_id,
                        line_user_id: &x.asker,
                        speaker_user_id: x.speaker_user_id.as_deref(),
                        line_message_id: x.line_message_id.as_deref(),
                        user_text: &x.user_text,
                        intent: x.intent,
                        confidence: x.confidence,
                        answer: &x.answer,
                        provider: &x.provider,
                        model: x.model.as_deref(),
                        tokens: x.tokens,
                        latency_ms: x.latency_ms,
                        attempts: x.attempts.clone(),
                    },
                    io.clock().now_ms(),
                )
                .await
        }
        None => Ok(()),
    };
    if let Err(err) = stored {
        log::warn(&format!(
            "line event {}: answered but not stored: {err}",
            e.id
        ));
    }
    Outcome::Done
}

async fn give_back(store: &impl ChatStore, event_id: &str) -> Outcome {
    if let Err(err) = store.release(event_id).await {
        log::warn(&format!("line event {event_id}: release failed: {err}"));
    }
    Outcome::Retry
}

/// The customer keyed `key` (a chat's key, or a speaker's user id), created on first
/// contact from the LINE profile at `profile_path` when there is one (a group or room has
/// none: it is created without a name).
async fn customer(
    store: &impl ChatStore,
    net: &impl Outbound,
    s: &LineSettings,
    key: &str,
    profile_path: Option<&str>,
    hint: Language,
    now: u64,
) -> Result<Customer, BackendError> {
    if let Some(c) = store.customer(key).await? {
        return Ok(c);
    }
    let profile = match profile_path {
        Some(path) => line_api::profile(net, s, path).await,
        None => line_api::Profile::default(),
    };
    let language = match profile.language.as_deref() {
        Some(tag) => Language::from_tag(Some(tag)),
        None => hint,
    };
    store
        .create_customer(
            &NewCustomer {
                line_user_id: key,
                display_name: profile.display_name.as_deref(),
                picture_url: profile.picture_url.as_deref(),
                language,
            },
            now,
        )
        .await
}

/// Works out what to answer `e` with (and what to store), without sending anything.
async fn prepare<S: ChatStore>(
    store: &S,
    io: &impl ChatIo,
    s: &LineSettings,
    e: &Event,
    now: u64,
) -> Result<Answer, BackendError> {
    let user_id = e
        .source
        .as_ref()
        .and_then(|src| src.user_id())
        .map(str::to_owned);
    let chat = e.source.as_ref().map(Source::chat);
    let nothing = Answer {
        texts: Vec::new(),
        exchange: None,
    };
    Ok(match &e.kind {
        EventKind::Text {
            message_id,
            text: message,
        } => {
            let (Some(src), Some(chat)) = (&e.source, chat) else {
                return Ok(nothing);
            };
            let key = chat.storage_key();
            let hint = Language::of_text(message, Language::En);
            let (c, speaker) = match (&chat, &user_id) {
                (Chat::User(_), _) => {
                    let path = src.profile_path();
                    (
                        customer(store, io.net(), s, &key, path.as_deref(), hint, now).await?,
                        None,
                    )
                }
                (Chat::Group(_) | Chat::Room(_), speaker) => {
                    // The group's own record owns the conversation; a speaker LINE names
                    // gets theirs from the group/room member profile.
                    if let (Some(u), Some(path)) = (speaker, src.profile_path()) {
                        customer(store, io.net(), s, u, Some(&path), hint, now).await?;
                    }
                    (
                        customer(store, io.net(), s, &key, None, hint, now).await?,
                        speaker.clone(),
                    )
                }
            };
            let asker = speaker.clone().unwrap_or_else(|| key.clone());
            let lang = Language::of_text(message, c.language());
            let (intent, confidence) = intent::detect(message);
            let conversation_id = store.active_conversation(&c, &key, lang, now).await?;
            let history = if completion::uses_history(intent) {
                store.history(&conversation_id, s.ai.history).await?
            } else {
                Vec::new()
            };
            let mut prompt = Prompt::new(lang, &c.preferences(), history, message);
            if intent == intent::Intent::Product {
                prompt.system.push_str(&catalog(store).await?);
            }
            let who = ai::Asker {
                channel: Channel::Line,
                user_id: &asker,
                lang,
            };
            let r = ai::reply(io, &s.ai, who, intent, &prompt).await;
            let attempts = serde_json::to_string(&r.attempts).ok();
            Answer {
                texts: text::split(&r.text),
                exchange: Some(StoredExchange {
                    conversation_id,
                    asker,
                    speaker_user_id: speaker,
                    line_message_id: Some(message_id.clone()),
                    user_text: message.clone(),
                    intent: intent.as_str(),
                    confidence,
                    answer: r.text,
                    provider: r.provider,
                    model: r.model,
                    tokens: r.tokens,
                    latency_ms: r.latency_ms,
                    attempts,
                }),
            }
        }
        EventKind::OtherMessage { .. } => {
            let lang = match &chat {
                Some(chat) => store
                    .customer(&chat.storage_key())
                    .await?
                    .map_or(Language::En, |c| c.language()),
                None => Language::En,
            };
            Answer {
                texts: vec![text::not_text(lang).to_owned()],
                exchange: None,
            }
        }
        EventKind::Follow => {
            let Some(user_id) = user_id else {
                return Ok(nothing);
            };
            let path = e.source.as_ref().and_then(Source::profile_path);
            let c = customer(
                store,
                io.net(),
                s,
                &user_id,
                path.as_deref(),
                Language::En,
                now,
            )
            .await?;
            store.set_following(&user_id, true, now).await?;
            Answer {
                texts: vec![text::welcome(c.language(), c.display_name.as_deref())],
                exchange: None,
            }
        }
        EventKind::Unfollow => {
            if let Some(user_id) = user_id {
                store.set_following(&user_id, false, now).await?;
            }
            nothing
        }
        EventKind::Join => Answer {
            texts: vec![text::joined(Language::En).to_owned()],
            exchange: None,
        },
        EventKind::Postback { data } => match product_id(data) {
            Some(id) => match store.product(id).await? {
                Some(p) if p.status == "active" => {
                    let price = p
                        .price
                        .map(|v| format!(" — {v:.2} {}", p.currency))
                        .unwrap_or_default();
                    Answer {
                        texts: vec![
                            format!("{}{price}\n{}", p.name, p.description)
                                .trim()
                                .to_owned(),
                        ],
                        exchange: None,
                    }
                }
                _ => nothing,
            },
            None => {
                log::info(&format!(
                    "line event {}: postback without a known action",
                    e.id
                ));
                nothing
            }
        },
        EventKind::Leave => nothing,
        EventKind::Unsend { message_id } => {
            if let Some(chat) = &chat {
                let n = store.unsend(&chat.storage_key(), message_id, now).await?;
                log::info(&format!(
                    "line event {}: unsend blanked {n} stored message(s)",
                    e.id
                ));
            }
            nothing
        }
        EventKind::Unknown { event_type } => {
            log::info(&format!(
                "line event {}: unknown type {event_type}, accepted",
                e.id
            ));
            nothing
        }
    })
}

/// The product id of a postback `action=product&id=<id>`.
fn product_id(data: &str) -> Option<&str> {
    let mut action = None;
    let mut id = None;
    for pair in data.split('&') {
        match pair.split_once('=') {
            Some(("action", v)) => action = Some(v),
            Some(("id", v)) if !v.is_empty() && v.len() <= 64 => id = Some(v),
            _ => {}
        }
    }
    (action == Some("product")).then_some(id).flatten()
}

/// The active catalog for a product question, so the AI quotes real prices.
async fn catalog(store: &impl ChatStore) -> Result<String, BackendError> {
    let products = store.products(false, 20).await?;
    if products.is_empty() {
        return Ok(String::new());
    }
    let lines: Vec<String> = products
        .iter()
        .map(|p| {
            let price = p
                .price
                .map(|v| format!(", {v:.2} {}", p.currency))
                .unwrap_or_default();
            format!("- {}{price}: {}", p.name, p.description)
        })
        .collect();
    Ok(format!(" Current products:\n{}", lines.join("\n")))
}

#[cfg(test)]
mod tests {
    use edge_core::chat::line::retry_key;
    use edge_core::chat::line::webhook::Webhook;
    use serde_json::{Value, json};

    use super::*;
    use crate::backends::{Answer, CallError};
    use crate::testkit::{
        self, FakeNet, FakeStore, QuotaMode, Sent, TestIo, answer, except, happy, run,
    };

    const T0: u64 = 1_790_000_000_000;
    const ID: &str = "01FZ74A0TDDPYRVKNK77XKC3ZR";
    const USER: &str = "U4af4980629";

    /// One LINE event from a user, with `fields` set over the defaults.
    fn event(fields: &Value) -> Queued {
        let mut e = json!({
            "webhookEventId": ID,
            "deliveryContext": {"isRedelivery": false},
            "timestamp": 1_625_665_242_211u64,
            "source": {"type": "user", "userId": USER},
            "replyToken": "reply-token-1",
            "mode": "active"
        });
        if let (Some(e), Some(fields)) = (e.as_object_mut(), fields.as_object()) {
            e.extend(fields.clone());
        }
        let body = json!({"events": [e]}).to_string();
        let mut w = Webhook::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        Queued {
            event: w.events.remove(0),
            received_ms: T0,
        }
    }

    fn text(t: &str) -> Queued {
        event(&json!({"type": "message", "message": {"type": "text", "id": "m1", "text": t}}))
    }

    /// The texts of the LINE messages sent to `path`.
    fn texts(net: &FakeNet, path: &str) -> Vec<String> {
        net.to(path)
            .iter()
            .flat_map(|s| {
                s.json()["messages"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
            })
            .collect()
    }

    const TOKEN_EXPIRED: &str = r#"{"message":"Invalid reply token"}"#;

    /// LINE refuses the reply token; everything else as usual.
    fn reply_token_expired(sent: &Sent) -> Result<Answer, CallError> {
        except(&[("/v2/bot/message/reply", answer(400, TOKEN_EXPIRED))])(sent)
    }

    /// A consumer's world: D1, the network (answered by a responder), settings.
    struct World {
        store: FakeStore,
        io: TestIo,
        s: LineSettings,
    }

    impl World {
        fn new(responder: impl Fn(&Sent) -> Result<Answer, CallError> + 'static) -> Self {
            Self {
                store: FakeStore::default(),
                io: testkit::io(FakeNet::new(responder), T0),
                s: testkit::settings(),
            }
        }

        fn handle(&self, q: &Queued) -> Outcome {
            run(handle(&self.store, &self.io, &self.s, q))
        }

        /// D1 recovers: a redelivery ends with exactly one reply sent in all.
        fn heal_and_answer_once(&self) {
            self.store.heal();
            assert_eq!(self.handle(&text("hello")), Outcome::Done);
            assert_eq!(self.replies(), 1);
        }

        /// How many replies LINE was sent.
        fn replies(&self) -> usize {
            self.io.net.to("/v2/bot/message/reply").len()
        }

        /// Whether event `ID`'s claim is marked answered (`None`: no claim).
        fn answered(&self) -> Option<bool> {
            self.store.claim_of(ID).map(|c| c.done)
        }
    }

    #[test]
    fn a_text_is_claimed_answered_by_reply_then_marked_and_stored() {
        let w = World::new(happy);
        assert_eq!(w.handle(&text("Tell me about the weather")), Outcome::Done);
        let replies = w.io.net.to("/v2/bot/message/reply");
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].json()["replyToken"], "reply-token-1");
        assert_eq!(
            replies[0].header("authorization"),
            Some("Bearer line-token")
        );
        assert_eq!(texts(&w.io.net, "/v2/bot/message/reply"), ["from primary"]);
        assert!(w.io.net.to("/v2/bot/message/push").is_empty());
        // The new customer came from the profile; the exchange is stored, the claim done.
        assert_eq!(w.io.net.to(&format!("/v2/bot/profile/{USER}")).len(), 1);
        assert_eq!(
            w.store.customers.borrow()[USER].display_name.as_deref(),
            Some("Ann")
        );
        let stored = w.store.stored.borrow();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (stored[0].provider.as_str(), stored[0].answer.as_str()),
            ("primary", "from primary")
        );
        assert_eq!(
            stored[0].attempts.as_deref(),
            Some(r#"[{"provider":"primary","outcome":"answered"}]"#)
        );
        assert_eq!(w.answered(), Some(true));
        assert_eq!(
            *w.io.quota.checked.borrow(),
            [format!("ai-quota:line:{USER}")]
        );
    }

    #[test]
    fn a_redelivery_of_an_answered_event_is_acknowledged_without_a_second_answer() {
        let w = World::new(happy);
        assert_eq!(w.handle(&text("Tell me about the weather")), Outcome::Done);
        let calls = w.io.net.sent.borrow().len();
        w.io.clock.advance(10 * 60_000);
        assert_eq!(w.handle(&text("Tell me about the weather")), Outcome::Done);
        assert_eq!(
            w.io.net.sent.borrow().len(),
            calls,
            "no LINE or AI call for a redelivery"
        );
        assert_eq!(w.store.stored.borrow().len(), 1);
    }

    #[test]
    fn an_event_a_live_consumer_holds_is_looked_at_again_after_the_handling_bound() {
        let w = World::new(happy);
        w.store.held(ID, T0 - 1_000);
        // 8 s + 8 s of providers, 3 × 5 s of LINE, 30 s of D1: 61 s.
        assert_eq!(w.s.handling_bound_ms(), 61_000);
        assert_eq!(w.handle(&text("hello")), Outcome::RetryAfter(61));
        assert!(w.io.net.sent.borrow().is_empty());
        assert_eq!(
            w.store.claim_of(ID).map(|c| (c.done, c.received_at)),
            Some((false, T0 - 1_000)),
            "the live claim is untouched"
        );
    }

    #[test]
    fn a_stale_claim_is_taken_over_once_its_lease_has_passed() {
        let w = World::new(happy);
        // A consumer claimed the event and died before answering.
        w.store.held(ID, T0);
        w.io.clock.advance(60_000);
        assert_eq!(
            w.handle(&text("hello")),
            Outcome::RetryAfter(61),
            "not stale yet"
        );
        w.io.clock.advance(1_001);
        assert_eq!(w.handle(&text("hello")), Outcome::Done);
        assert_eq!(w.replies(), 1);
        assert_eq!(w.answered(), Some(true));
    }

    #[test]
    fn a_claim_store_that_fails_retries_the_event_without_doing_anything() {
        let w = World::new(happy);
        w.store.failing("claim");
        assert_eq!(w.handle(&text("hello")), Outcome::Retry);
        assert!(w.io.net.sent.borrow().is_empty());
        assert!(w.io.quota.checked.borrow().is_empty());
        // The retry, with D1 back, answers.
        w.heal_and_answer_once();
    }

    #[test]
    fn an_expired_reply_token_falls_back_to_a_push_with_the_events_retry_key() {
        let w = World::new(reply_token_expired);
        assert_eq!(w.handle(&text("Tell me about the weather")), Outcome::Done);
        let pushes = w.io.net.to("/v2/bot/message/push");
        assert_eq!(pushes.len(), 1);
        assert_eq!(pushes[0].json()["to"], USER);
        assert_eq!(
            pushes[0].header("x-line-retry-key"),
            Some(retry_key(ID).as_str())
        );
        assert_eq!(texts(&w.io.net, "/v2/bot/message/push"), ["from primary"]);
        assert_eq!(w.store.stored.borrow().len(), 1);
    }

    #[test]
    fn a_push_line_already_delivered_under_its_retry_key_counts_as_sent() {
        let w = World::new(except(&[
            ("/v2/bot/message/push", answer(409, "{}")),
            ("/v2/bot/message/reply", answer(400, TOKEN_EXPIRED)),
        ]));
        assert_eq!(w.handle(&text("hello")), Outcome::Done);
        assert_eq!(w.answered(), Some(true));
    }

    #[test]
    fn a_line_api_5xx_gives_the_event_back_for_a_retry_and_stores_nothing() {
        let w = World::new(except(&[("/v2/bot/message/reply", answer(503, "busy"))]));
        assert_eq!(w.handle(&text("Tell me about the weather")), Outcome::Retry);
        assert_eq!(
            w.store.claim_of(ID),
            None,
            "released, so the retry takes it at once"
        );
        assert!(w.store.stored.borrow().is_empty());
        assert!(
            w.io.net.to("/v2/bot/message/push").is_empty(),
            "a 5xx is not an expired token"
        );
        // LINE recovers: the retry answers once.
        w.io.net.answer_with(happy);
        assert_eq!(w.handle(&text("Tell me about the weather")), Outcome::Done);
        assert_eq!(w.store.stored.borrow().len(), 1);
    }

    #[test]
    fn any_other_failure_before_the_answer_is_out_gives_the_event_back() {
        let line_times_out = World::new(except(&[("/v2/bot/message/", Err(CallError::Timeout))]));
        let d1_fails_mid_way = World::new(happy);
        d1_fails_mid_way.store.failing("active_conversation");
        for (why, w, replies_tried) in [
            ("LINE timing out", line_times_out, 1),
            ("D1 failing before the send", d1_fails_mid_way, 0),
        ] {
            assert_eq!(w.handle(&text("hello")), Outcome::Retry, "{why}");
            assert_eq!(w.replies(), replies_tried, "{why}");
            assert_eq!(w.answered(), None, "{why}: the claim is given back");
            assert!(w.store.stored.borrow().is_empty(), "{why}");
        }
    }

    #[test]
    fn a_store_failure_after_the_answer_is_sent_is_not_retried() {
        let w = World::new(happy);
        w.store.failing("store_exchange");
        assert_eq!(w.handle(&text("hello")), Outcome::Done);
        assert_eq!(w.replies(), 1);
        // Marked done before the store was tried: a redelivery does not answer twice.
        assert_eq!(w.answered(), Some(true));
        w.heal_and_answer_once();
    }

    #[test]
    fn a_standby_event_is_worked_out_and_marked_but_never_answered() {
        let w = World::new(happy);
        let mut q = text("hello");
        q.event.standby = true;
        assert_eq!(w.handle(&q), Outcome::Done);
        assert!(w.io.net.to("/v2/bot/message/reply").is_empty());
        assert!(w.io.net.to("/v2/bot/message/push").is_empty());
        assert_eq!(w.answered(), Some(true));
    }

    #[test]
    fn a_group_message_without_a_speaker_is_the_groups_and_fetches_no_profile() {
        let w = World::new(reply_token_expired);
        let q = event(&json!({
            "type": "message",
            "source": {"type": "group", "groupId": "Cgroup1"},
            "message": {"type": "text", "id": "m1", "text": "Tell me about the weather"}
        }));
        assert_eq!(w.handle(&q), Outcome::Done);
        assert!(w.io.net.to("/member/").is_empty() && w.io.net.to("/profile/").is_empty());
        assert_eq!(
            w.io.net.to("/v2/bot/message/push")[0].json()["to"],
            "Cgroup1"
        );
        let stored = w.store.stored.borrow();
        assert_eq!(
            (stored[0].asker.as_str(), stored[0].speaker.as_deref()),
            ("group:Cgroup1", None)
        );
        assert!(w.store.customers.borrow().contains_key("group:Cgroup1"));
    }

    #[test]
    fn a_named_speaker_in_a_group_gets_a_customer_from_the_member_profile() {
        let w = World::new(happy);
        let q = event(&json!({
            "type": "message",
            "source": {"type": "group", "groupId": "Cgroup1", "userId": "Uspeaker"},
            "message": {"type": "text", "id": "m1", "text": "Tell me about the weather"}
        }));
        assert_eq!(w.handle(&q), Outcome::Done);
        assert_eq!(
            w.io.net.to("/v2/bot/group/Cgroup1/member/Uspeaker").len(),
            1
        );
        assert_eq!(
            w.store.customers.borrow()["Uspeaker"]
                .display_name
                .as_deref(),
            Some("Ann")
        );
        let stored = w.store.stored.borrow();
        assert_eq!(
            (stored[0].asker.as_str(), stored[0].speaker.as_deref()),
            ("Uspeaker", Some("Uspeaker"))
        );
        assert_eq!(
            *w.io.quota.checked.borrow(),
            ["ai-quota:line:Uspeaker".to_owned()]
        );
    }

    #[test]
    fn a_follow_welcomes_by_name_and_a_profile_failure_still_creates_the_customer() {
        let w = World::new(happy);
        assert_eq!(w.handle(&event(&json!({"type": "follow"}))), Outcome::Done);
        assert!(texts(&w.io.net, "/v2/bot/message/reply")[0].contains("Ann"));
        assert_eq!(w.store.following.borrow().get(USER), Some(&true));
        // Another user whose profile LINE will not give: welcomed without a name.
        let w = World::new(except(&[("/profile/", answer(500, ""))]));
        assert_eq!(w.handle(&event(&json!({"type": "follow"}))), Outcome::Done);
        assert_eq!(w.store.customers.borrow()[USER].display_name, None);
        assert_eq!(
            texts(&w.io.net, "/v2/bot/message/reply"),
            [text::welcome(Language::En, None)]
        );
    }

    #[test]
    fn a_product_postback_answers_active_products_only() {
        let w = World::new(happy);
        w.store.add_product("p1", "Vitamin C", Some(120.0), true);
        w.store.add_product("p2", "Old tonic", Some(80.0), false);
        let postback = |id: &str, data: &str| {
            let mut q = event(&json!({"type": "postback", "postback": {"data": data}}));
            q.event.id = id.to_owned();
            q
        };
        assert_eq!(
            w.handle(&postback("e1", "action=product&id=p1")),
            Outcome::Done
        );
        assert_eq!(
            texts(&w.io.net, "/v2/bot/message/reply"),
            ["Vitamin C — 120.00 THB\nVitamin C description"]
        );
        assert_eq!(
            w.handle(&postback("e2", "action=product&id=p2")),
            Outcome::Done
        );
        assert_eq!(
            w.handle(&postback("e3", "action=other&id=p1")),
            Outcome::Done
        );
        assert_eq!(w.replies(), 1, "nothing to say for e2 and e3");
        assert!(
            w.io.quota.checked.borrow().is_empty(),
            "no AI for a postback"
        );
    }

    #[test]
    fn a_product_question_carries_the_active_catalog_to_the_provider() {
        let w = World::new(happy);
        w.store.add_product("p1", "Vitamin C", Some(120.0), true);
        w.store.add_product("p2", "Old tonic", None, false);
        assert_eq!(
            w.handle(&text("What is the price of this product?")),
            Outcome::Done
        );
        let asked = w.io.net.to("/chat/completions")[0].body.clone();
        assert!(asked.contains("Vitamin C, 120.00 THB"), "{asked}");
        assert!(!asked.contains("Old tonic"), "{asked}");
    }

    #[test]
    fn the_conversation_history_reaches_the_provider_on_the_next_message() {
        let w = World::new(happy);
        assert_eq!(w.handle(&text("Tell me about the weather")), Outcome::Done);
        let mut second = text("And tomorrow?");
        second.event.id = "second".to_owned();
        assert_eq!(w.handle(&second), Outcome::Done);
        let asked = w.io.net.to("/chat/completions")[1].json();
        let roles: Vec<&str> = asked["messages"]
            .as_array()
            .map(|m| m.iter().filter_map(|x| x["role"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
    }

    #[test]
    fn over_quota_the_user_is_told_when_to_come_back_and_no_provider_is_asked() {
        let w = World::new(happy);
        w.io.quota.mode.set(QuotaMode::Over(600));
        assert_eq!(w.handle(&text("Tell me about the weather")), Outcome::Done);
        assert!(w.io.net.to("/chat/completions").is_empty());
        assert_eq!(
            texts(&w.io.net, "/v2/bot/message/reply"),
            [text::over_quota(Language::En, 600)]
        );
        assert_eq!(w.store.stored.borrow()[0].provider, "quota");
    }

    #[test]
    fn an_unsend_blanks_the_message_in_the_chats_conversation() {
        let w = World::new(happy);
        let q = event(&json!({"type": "unsend", "unsend": {"messageId": "m9"}}));
        assert_eq!(w.handle(&q), Outcome::Done);
        assert_eq!(
            *w.store.unsent.borrow(),
            [(USER.to_owned(), "m9".to_owned())]
        );
        assert!(w.io.net.sent.borrow().is_empty());
    }
}
