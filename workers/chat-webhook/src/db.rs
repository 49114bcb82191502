//! chat-webhook's D1 data (schema in `migrations/`): customers, conversations, messages,
//! products, AI sessions, and the webhook events already taken.

use edge_core::chat::completion::Role;
use edge_core::chat::intent::Language;
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env, Result};

use crate::backends::{Claim, Customer, Exchange, NewCustomer, Product};

/// The D1 binding.
const BINDING: &str = "DB";

pub(crate) fn db(env: &Env) -> Result<D1Database> {
    env.d1(BINDING)
}

pub(crate) fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

pub(crate) fn n(v: u64) -> JsValue {
    JsValue::from_f64(v as f64)
}

pub(crate) fn opt(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

fn id() -> String {
    edge_glue::random_uuid().unwrap_or_else(|| format!("id-{}", edge_glue::now_ms()))
}

/// Takes webhook event `event_id` for processing. A first delivery inserts the claim; a
/// claim still `processing` after `stale_ms` (longer than handling can take, so its consumer
/// died before answering) is taken over; an answered one is `Done`; a fresh one is
/// `InProgress`.
pub(crate) async fn claim(
    db: &D1Database,
    event_id: &str,
    event_type: &str,
    now: u64,
    stale_ms: u64,
) -> Result<Claim> {
    let result = db
        .prepare(
            "INSERT INTO webhook_events (id, event_type, status, received_at) VALUES (?1, ?2, 'processing', ?3)
             ON CONFLICT (id) DO UPDATE SET received_at = excluded.received_at
             WHERE webhook_events.status = 'processing' AND webhook_events.received_at < ?4",
        )
        .bind(&[
            s(event_id),
            s(event_type),
            n(now),
            n(now.saturating_sub(stale_ms)),
        ])?
        .run()
        .await?;
    if result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1 {
        return Ok(Claim::Taken);
    }
    #[derive(Deserialize)]
    struct Status {
        status: String,
    }
    let status: Option<Status> = db
        .prepare("SELECT status FROM webhook_events WHERE id = ?1")
        .bind(&[s(event_id)])?
        .first(None)
        .await?;
    Ok(match status {
        Some(st) if st.status == "done" => Claim::Done,
        _ => Claim::InProgress,
    })
}

/// Records `key` (a Discord interaction) as handled, once: `true` the first time, `false`
/// for a replay. The same table as LINE's event claims, so one atomic insert decides.
pub(crate) async fn claim_once(
    db: &D1Database,
    key: &str,
    event_type: &str,
    now: u64,
) -> Result<bool> {
    let result = db
        .prepare(
            "INSERT INTO webhook_events (id, event_type, status, received_at, done_at) VALUES (?1, ?2, 'done', ?3, ?3)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&[s(key), s(event_type), n(now)])?
        .run()
        .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1)
}

/// Gives a claimed event back (its answer was not delivered), so a retry processes it again.
pub(crate) async fn release(db: &D1Database, event_id: &str) -> Result<()> {
    db.prepare("DELETE FROM webhook_events WHERE id = ?1 AND status = 'processing'")
        .bind(&[s(event_id)])?
        .run()
        .await?;
    Ok(())
}

fn finish(db: &D1Database, event_id: &str, now: u64) -> Result<D1PreparedStatement> {
    db.prepare("UPDATE webhook_events SET status = 'done', done_at = ?2 WHERE id = ?1")
        .bind(&[s(event_id), n(now)])
}

/// Marks an event done (events that store nothing else).
pub(crate) async fn mark_done(db: &D1Database, event_id: &str, now: u64) -> Result<()> {
    finish(db, event_id, now)?.run().await?;
    Ok(())
}

/// The customer of `line_user_id`, if known.
pub(crate) async fn customer(db: &D1Database, line_user_id: &str) -> Result<Option<Customer>> {
    db.prepare(
        "SELECT id, display_name, language, preferences FROM customers WHERE line_user_id = ?1",
    )
    .bind(&[s(line_user_id)])?
    .first(None)
    .await
}

/// Creates the customer (no-op when a concurrent event already did) and returns it.
pub(crate) async fn create_customer(
    db: &D1Database,
    c: &NewCustomer<'_>,
    now: u64,
) -> Result<Customer> {
    db.prepare(
        "INSERT INTO customers (id, line_user_id, display_name, picture_url, language, followed_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6) ON CONFLICT (line_user_id) DO NOTHING",
    )
    .bind(&[
        s(&id()),
        s(c.line_user_id),
        opt(c.display_name),
        opt(c.picture_url),
        s(c.language.as_str()),
        n(now),
    ])?
    .run()
    .await?;
    customer(db, c.line_user_id)
        .await?
        .ok_or_else(|| "customer vanished after insert".into())
}

/// Marks a customer as following again (after a block) or unfollowed; data is kept.
pub(crate) async fn set_following(
    db: &D1Database,
    line_user_id: &str,
    following: bool,
    now: u64,
) -> Result<()> {
    let sql = if following {
        "UPDATE customers SET status = 'active', followed_at = ?2, updated_at = ?2 WHERE line_user_id = ?1"
    } else {
        "UPDATE customers SET status = 'unfollowed', unfollowed_at = ?2, updated_at = ?2 WHERE line_user_id = ?1"
    };
    db.prepare(sql)
        .bind(&[s(line_user_id), n(now)])?
        .run()
        .await?;
    Ok(())
}

/// Replaces a customer's preferences; whether the customer exists.
pub(crate) async fn set_preferences(
    db: &D1Database,
    line_user_id: &str,
    preferences: &[String],
    now: u64,
) -> Result<bool> {
    let json = serde_json::to_string(preferences)?;
    let r = db
        .prepare("UPDATE customers SET preferences = ?2, updated_at = ?3 WHERE line_user_id = ?1")
        .bind(&[s(line_user_id), s(&json), n(now)])?
        .run()
        .await?;
    Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

/// The user's active conversation, created when there is none.
pub(crate) async fn active_conversation(
    db: &D1Database,
    customer: &Customer,
    line_user_id: &str,
    lang: Language,
    now: u64,
) -> Result<String> {
    let find = || async {
        db.prepare("SELECT id FROM conversations WHERE line_user_id = ?1 AND status = 'active'")
            .bind(&[s(line_user_id)])?
            .first::<IdRow>(None)
            .await
    };
    if let Some(row) = find().await? {
        return Ok(row.id);
    }
    // At most one active conversation per user (partial unique index): a concurrent
    // insert loses quietly and both read the winner.
    db.prepare(
        "INSERT INTO conversations (id, customer_id, line_user_id, language, started_at, last_activity_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT DO NOTHING",
    )
    .bind(&[s(&id()), s(&customer.id), s(line_user_id), s(lang.as_str()), n(now)])?
    .run()
    .await?;
    Ok(find()
        .await?
        .ok_or("conversation vanished after insert")?
        .id)
}

#[derive(Deserialize)]
struct HistoryRow {
    role: String,
    content: String,
}

/// The last `limit` messages of a conversation, oldest first.
pub(crate) async fn history(
    db: &D1Database,
    conversation_id: &str,
    limit: usize,
) -> Result<Vec<(Role, String)>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<HistoryRow> = db
        .prepare(
            "SELECT role, content FROM messages WHERE conversation_id = ?1 AND unsent_at IS NULL
             ORDER BY created_at DESC, rowid DESC LIMIT ?2",
        )
        .bind(&[s(conversation_id), n(limit as u64)])?
        .all()
        .await?
        .results()?;
    Ok(rows
        .into_iter()
        .rev()
        .map(|r| {
            let role = if r.role == "assistant" {
                Role::Assistant
            } else {
                Role::User
            };
            (role, r.content)
        })
        .collect())
}

/// Stores an exchange and marks its event done, in one transaction.
pub(crate) async fn store_exchange(db: &D1Database, x: &Exchange<'_>, now: u64) -> Result<()> {
    let tokens = x.tokens.map_or(JsValue::NULL, n);
    let mut statements = vec![
        db.prepare(
            "INSERT INTO messages (id, conversation_id, role, content, webhook_event_id, line_message_id, intent, confidence, created_at, speaker_user_id)
             VALUES (?1, ?2, 'user', ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(&[
            s(&id()),
            s(x.conversation_id),
            s(x.user_text),
            s(x.event_id),
            opt(x.line_message_id),
            s(x.intent),
            JsValue::from_f64(x.confidence),
            n(now),
            opt(x.speaker_user_id),
        ])?,
        db.prepare(
            "INSERT INTO messages (id, conversation_id, role, content, webhook_event_id, intent, provider, tokens, created_at)
             VALUES (?1, ?2, 'assistant', ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&[
            s(&id()),
            s(x.conversation_id),
            s(x.answer),
            s(x.event_id),
            s(x.intent),
            s(x.provider),
            tokens.clone(),
            // One ms later, so history orders the answer after the question.
            n(now + 1),
        ])?,
        db.prepare(
            "UPDATE conversations SET message_count = message_count + 2, last_activity_at = ?2 WHERE id = ?1",
        )
        .bind(&[s(x.conversation_id), n(now + 1)])?,
        finish(db, x.event_id, now)?,
    ];
    if let Some(attempts) = &x.attempts {
        statements.push(
            db.prepare(
                "INSERT INTO ai_sessions (id, conversation_id, line_user_id, provider, model, tokens, latency_ms, attempts, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .bind(&[
                s(&id()),
                s(x.conversation_id),
                s(x.line_user_id),
                s(x.provider),
                opt(x.model),
                tokens,
                n(x.latency_ms),
                s(attempts),
                n(now),
            ])?,
        );
    }
    db.batch(statements).await?;
    Ok(())
}

/// Blanks the text of message `line_message_id` in chat `chat_key`'s conversations, keeping
/// the row as a tombstone (`unsent_at`); how many rows it changed (0 when the message was
/// never stored, or was already unsent).
pub(crate) async fn unsend(
    db: &D1Database,
    chat_key: &str,
    line_message_id: &str,
    now: u64,
) -> Result<u64> {
    let r = db
        .prepare(
            "UPDATE messages SET content = '', unsent_at = ?3
             WHERE line_message_id = ?2 AND role = 'user' AND unsent_at IS NULL
               AND conversation_id IN (SELECT id FROM conversations WHERE line_user_id = ?1)",
        )
        .bind(&[s(chat_key), s(line_message_id), n(now)])?
        .run()
        .await?;
    Ok(r.meta()?.and_then(|m| m.changes).map_or(0, |c| c as u64))
}

const PRODUCT_COLUMNS: &str =
    "id, name, description, price, currency, category, status, created_at, updated_at";

/// Products, active ones only unless `all`, by name, at most `limit`.
pub(crate) async fn products(db: &D1Database, all: bool, limit: usize) -> Result<Vec<Product>> {
    let filter = if all { "" } else { "WHERE status = 'active'" };
    db.prepare(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products {filter} ORDER BY name, id LIMIT ?1"
    ))
    .bind(&[n(limit as u64)])?
    .all()
    .await?
    .results()
}

/// One product.
pub(crate) async fn product(db: &D1Database, id: &str) -> Result<Option<Product>> {
    db.prepare(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?1"
    ))
    .bind(&[s(id)])?
    .first(None)
    .await
}

/// Inserts or replaces a product's fields (keeping `created_at`).
pub(crate) async fn put_product(db: &D1Database, p: &Product) -> Result<()> {
    db.prepare(
        "INSERT INTO products (id, name, description, price, currency, category, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
           price = excluded.price, currency = excluded.currency, category = excluded.category,
           status = excluded.status, updated_at = excluded.updated_at",
    )
    .bind(&[
        s(&p.id),
        s(&p.name),
        s(&p.description),
        p.price.map_or(JsValue::NULL, JsValue::from_f64),
        s(&p.currency),
        opt(p.category.as_deref()),
        s(&p.status),
        JsValue::from_f64(p.created_at),
        JsValue::from_f64(p.updated_at),
    ])?
    .run()
    .await?;
    Ok(())
}

/// Deletes a product; whether it existed.
pub(crate) async fn delete_product(db: &D1Database, id: &str) -> Result<bool> {
    let r = db
        .prepare("DELETE FROM products WHERE id = ?1")
        .bind(&[s(id)])?
        .run()
        .await?;
    Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
}

/// A customer and their latest conversation with its messages, for the admin API.
pub(crate) async fn conversation_of(
    db: &D1Database,
    line_user_id: &str,
    limit: usize,
) -> Result<Option<serde_json::Value>> {
    let Some(customer) = db
        .prepare(
            "SELECT id, line_user_id, display_name, language, preferences, status, followed_at, unfollowed_at, created_at
             FROM customers WHERE line_user_id = ?1",
        )
        .bind(&[s(line_user_id)])?
        .first::<serde_json::Value>(None)
        .await?
    else {
        return Ok(None);
    };
    let conversation = db
        .prepare(
            "SELECT id, status, language, message_count, started_at, last_activity_at FROM conversations
             WHERE line_user_id = ?1 ORDER BY (status = 'active') DESC, last_activity_at DESC LIMIT 1",
        )
        .bind(&[s(line_user_id)])?
        .first::<serde_json::Value>(None)
        .await?;
    let messages: Vec<serde_json::Value> = match conversation.as_ref().and_then(|c| c["id"].as_str()) {
        Some(conversation_id) => db
            .prepare(
                "SELECT role, content, intent, confidence, provider, tokens, created_at, line_message_id, speaker_user_id, unsent_at FROM messages
                 WHERE conversation_id = ?1 ORDER BY created_at, rowid LIMIT ?2",
            )
            .bind(&[s(conversation_id), n(limit as u64)])?
            .all()
            .await?
            .results()?,
        None => Vec::new(),
    };
    Ok(Some(serde_json::json!({
        "customer": customer,
        "conversation": conversation,
        "messages": messages,
    })))
}
