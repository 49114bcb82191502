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

use edge_core::chat::completion::{self, Channel, Prompt};
use edge_core::chat::intent::{self, Language};
use edge_core::chat::line::webhook::{Chat, Event, EventKind, Source};
use edge_core::chat::text;
use edge_glue::now_ms;
use serde::{Deserialize, Serialize};
use worker::{D1Database, Env, console_log, console_warn};

use crate::ai;
use crate::db::{self, Claim, Customer, Exchange, NewCustomer};
use crate::line_api::{self, Delivery};
use crate::settings::Settings;

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

/// Handles one event.
pub(crate) async fn handle(env: &Env, s: &Settings, q: &Queued) -> Outcome {
    let e = &q.event;
    let Ok(db) = db::db(env) else {
        console_warn!("line event {}: no DB binding", e.id);
        return Outcome::Retry;
    };
    let now = now_ms();
    let bound = s.handling_bound_ms();
    match db::claim(&db, &e.id, event_type(&e.kind), now, bound).await {
        Ok(Claim::Taken) => {}
        Ok(Claim::Done) => {
            console_log!(
                "line event {} already answered (redelivery: {})",
                e.id,
                e.redelivery
            );
            return Outcome::Done;
        }
        Ok(Claim::InProgress) => {
            console_log!(
                "line event {} is being handled elsewhere; looking again later",
                e.id
            );
            return Outcome::RetryAfter(u32::try_from(bound.div_ceil(1000)).unwrap_or(u32::MAX));
        }
        Err(err) => {
            console_warn!("line event {}: claim failed: {err}", e.id);
            return Outcome::Retry;
        }
    }
    let answer = match prepare(env, s, &db, e, now).await {
        Ok(a) => a,
        Err(err) => {
            console_warn!("line event {}: {err}", e.id);
            return give_back(&db, &e.id).await;
        }
    };
    if !answer.texts.is_empty() && !e.standby {
        match line_api::send(s, e, &answer.texts).await {
            Ok(Delivery::Reply) => {}
            Ok(Delivery::Push) => console_log!("line event {}: reply token expired, pushed", e.id),
            Err(err) => {
                console_warn!("line event {}: send failed: {err}", e.id);
                return give_back(&db, &e.id).await;
            }
        }
    }
    // The answer is out: mark it so at once (a takeover must never answer twice), then
    // store the exchange; from here a failure is logged, never retried.
    if let Err(err) = db::mark_done(&db, &e.id, now_ms()).await {
        console_warn!("line event {}: answered but not marked done: {err}", e.id);
    }
    let stored = match &answer.exchange {
        Some(x) => {
            db::store_exchange(
                &db,
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
                now_ms(),
            )
            .await
        }
        None => Ok(()),
    };
    if let Err(err) = stored {
        console_warn!("line event {}: answered but not stored: {err}", e.id);
    }
    Outcome::Done
}

async fn give_back(db: &D1Database, event_id: &str) -> Outcome {
    if let Err(err) = db::release(db, event_id).await {
        console_warn!("line event {event_id}: release failed: {err}");
    }
    Outcome::Retry
}

/// The customer keyed `key` (a chat's key, or a speaker's user id), created on first
/// contact from the LINE profile at `profile_path` when there is one (a group or room has
/// none: it is created without a name).
async fn customer(
    s: &Settings,
    db: &D1Database,
    key: &str,
    profile_path: Option<&str>,
    hint: Language,
    now: u64,
) -> worker::Result<Customer> {
    if let Some(c) = db::customer(db, key).await? {
        return Ok(c);
    }
    let profile = match profile_path {
        Some(path) => line_api::profile(s, path).await,
        None => line_api::Profile::default(),
    };
    let language = match profile.language.as_deref() {
        Some(tag) => Language::from_tag(Some(tag)),
        None => hint,
    };
    db::create_customer(
        db,
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
async fn prepare(
    env: &Env,
    s: &Settings,
    db: &D1Database,
    e: &Event,
    now: u64,
) -> worker::Result<Answer> {
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
                        customer(s, db, &key, path.as_deref(), hint, now).await?,
                        None,
                    )
                }
                (Chat::Group(_) | Chat::Room(_), speaker) => {
                    // The group's own record owns the conversation; a speaker LINE names
                    // gets theirs from the group/room member profile.
                    if let (Some(u), Some(path)) = (speaker, src.profile_path()) {
                        customer(s, db, u, Some(&path), hint, now).await?;
                    }
                    (
                        customer(s, db, &key, None, hint, now).await?,
                        speaker.clone(),
                    )
                }
            };
            let asker = speaker.clone().unwrap_or_else(|| key.clone());
            let lang = Language::of_text(message, c.language());
            let (intent, confidence) = intent::detect(message);
            let conversation_id = db::active_conversation(db, &c, &key, lang, now).await?;
            let history = if completion::uses_history(intent) {
                db::history(db, &conversation_id, s.ai.history).await?
            } else {
                Vec::new()
            };
            let mut prompt = Prompt::new(lang, &c.preferences(), history, message);
            if intent == intent::Intent::Product {
                prompt.system.push_str(&catalog(db).await?);
            }
            let who = ai::Asker {
                channel: Channel::Line,
                user_id: &asker,
                lang,
            };
            let r = ai::reply(env, &s.ai, who, intent, &prompt).await;
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
                Some(chat) => db::customer(db, &chat.storage_key())
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
            let c = customer(s, db, &user_id, path.as_deref(), Language::En, now).await?;
            db::set_following(db, &user_id, true, now).await?;
            Answer {
                texts: vec![text::welcome(c.language(), c.display_name.as_deref())],
                exchange: None,
            }
        }
        EventKind::Unfollow => {
            if let Some(user_id) = user_id {
                db::set_following(db, &user_id, false, now).await?;
            }
            nothing
        }
        EventKind::Join => Answer {
            texts: vec![text::joined(Language::En).to_owned()],
            exchange: None,
        },
        EventKind::Postback { data } => match product_id(data) {
            Some(id) => match db::product(db, id).await? {
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
                console_log!("line event {}: postback without a known action", e.id);
                nothing
            }
        },
        EventKind::Leave => nothing,
        EventKind::Unsend { message_id } => {
            if let Some(chat) = &chat {
                let n = db::unsend(db, &chat.storage_key(), message_id, now).await?;
                console_log!("line event {}: unsend blanked {n} stored message(s)", e.id);
            }
            nothing
        }
        EventKind::Unknown { event_type } => {
            console_log!("line event {}: unknown type {event_type}, accepted", e.id);
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
async fn catalog(db: &D1Database) -> worker::Result<String> {
    let products = db::products(db, false, 20).await?;
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
