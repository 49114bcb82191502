//! The admin API (admin secret, `Authorization: Bearer <ADMIN_SECRET>`, checked by
//! [`guarded`] around every handler; failed attempts are throttled per client address,
//! `edge_glue::admin::AdminAttempt`, counted in the `AI_QUOTA` window-log namespace under
//! `admin-failures:<address>` buckets):
//!
//! - `GET /admin/v1/products[?all=true]`: active products (all with `all=true`);
//! - `GET|PUT|DELETE /admin/v1/products/:id`: read, create-or-replace, delete;
//! - `GET /admin/v1/customers/:line_user_id/conversation`: the customer, their latest
//!   conversation and its messages (`/admin/v1/groups/:group_id/conversation` and
//!   `/admin/v1/rooms/:room_id/conversation` for a group's or room's);
//! - `PUT /admin/v1/customers/:line_user_id/preferences`: `{"preferences": [...]}`, the
//!   interests the AI prompt mentions.

use edge_core::chat::line::webhook::Chat;
use edge_core::chat::preferences;
use edge_core::chat::product::{self, ProductInput};
use edge_core::error::CommonError;
use edge_glue::admin::require_admin_throttled;
use edge_glue::body;
use edge_glue::{Hop, now_ms, respond};
use worker::{Request, Response, Result, RouteContext};

use crate::backends::Product;
use crate::db;
use crate::quota::QUOTA_BINDING;

/// Most products listed, and messages shown.
const LIST_LIMIT: usize = 500;

/// Runs `handler` once the admin secret checks out.
pub(crate) async fn guarded<F, Fut>(
    req: Request,
    rc: RouteContext<Hop>,
    handler: F,
) -> Result<Response>
where
    F: FnOnce(Request, RouteContext<Hop>) -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    if let Err(e) = require_admin_throttled(&req, &rc.env, QUOTA_BINDING).await {
        return respond::error_response(&e);
    }
    handler(req, rc).await
}

fn id_param(rc: &RouteContext<Hop>, name: &str) -> Option<String> {
    rc.param(name).filter(|id| product::valid_id(id)).cloned()
}

pub(crate) async fn list(req: Request, rc: RouteContext<Hop>) -> Result<Response> {
    let all = req
        .url()?
        .query_pairs()
        .any(|(k, v)| k == "all" && v == "true");
    let products = db::products(&db::db(&rc.env)?, all, LIST_LIMIT).await?;
    respond::json(200, &serde_json::json!({ "products": products }))
}

pub(crate) async fn get(_req: Request, rc: RouteContext<Hop>) -> Result<Response> {
    let Some(id) = id_param(&rc, "id") else {
        return respond::error_response(&CommonError::NotFound);
    };
    match db::product(&db::db(&rc.env)?, &id).await? {
        Some(p) => respond::json(200, &p),
        None => respond::error_response(&CommonError::NotFound),
    }
}

pub(crate) async fn put(mut req: Request, rc: RouteContext<Hop>) -> Result<Response> {
    let Some(id) = id_param(&rc, "id") else {
        return respond::error_response(&CommonError::NotFound);
    };
    let bytes = match body::read_or_refuse(&mut req, &rc.env, product::MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(refusal) => return Ok(refusal),
    };
    let input = match ProductInput::parse(&bytes) {
        Ok(p) => p,
        Err(e) => return respond::error_response(&e),
    };
    let db = db::db(&rc.env)?;
    let now = now_ms() as f64;
    let existing = db::product(&db, &id).await?;
    let p = Product {
        id: id.clone(),
        name: input.name,
        description: input.description,
        price: input.price,
        currency: input.currency,
        category: input.category,
        status: if input.active { "active" } else { "inactive" }.to_owned(),
        created_at: existing.as_ref().map_or(now, |e| e.created_at),
        updated_at: now,
    };
    db::put_product(&db, &p).await?;
    respond::json(if existing.is_some() { 200 } else { 201 }, &p)
}

pub(crate) async fn delete(_req: Request, rc: RouteContext<Hop>) -> Result<Response> {
    let Some(id) = id_param(&rc, "id") else {
        return respond::error_response(&CommonError::NotFound);
    };
    if db::delete_product(&db::db(&rc.env)?, &id).await? {
        Ok(Response::empty()?.with_status(204))
    } else {
        respond::error_response(&CommonError::NotFound)
    }
}

/// The conversation of the chat the route's `param` names, built by `chat`.
async fn chat_conversation(
    rc: &RouteContext<Hop>,
    param: &str,
    chat: fn(String) -> Chat,
) -> Result<Response> {
    let Some(id) = rc.param(param).filter(|u| product::valid_id(u)).cloned() else {
        return respond::error_response(&CommonError::NotFound);
    };
    match db::conversation_of(&db::db(&rc.env)?, &chat(id).storage_key(), LIST_LIMIT).await? {
        Some(v) => respond::json(200, &v),
        None => respond::error_response(&CommonError::NotFound),
    }
}

pub(crate) async fn conversation(_req: Request, rc: RouteContext<Hop>) -> Result<Response> {
    chat_conversation(&rc, "user", Chat::User).await
}

pub(crate) async fn group_conversation(_req: Request, rc: RouteContext<Hop>) -> Result<Response> {
    chat_conversation(&rc, "group", Chat::Group).await
}

pub(crate) async fn room_conversation(_req: Request, rc: RouteContext<Hop>) -> Result<Response> {
    chat_conversation(&rc, "room", Chat::Room).await
}

pub(crate) async fn preferences(mut req: Request, rc: RouteContext<Hop>) -> Result<Response> {
    let Some(user) = rc.param("user").filter(|u| product::valid_id(u)).cloned() else {
        return respond::error_response(&CommonError::NotFound);
    };
    let bytes = match body::read_or_refuse(&mut req, &rc.env, product::MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(refusal) => return Ok(refusal),
    };
    let prefs = match preferences::parse(&bytes) {
        Ok(p) => p,
        Err(e) => return respond::error_response(&e),
    };
    if db::set_preferences(&db::db(&rc.env)?, &user, &prefs, now_ms()).await? {
        respond::json(
            200,
            &serde_json::json!({ "line_user_id": user, "preferences": prefs }),
        )
    } else {
        respond::error_response(&CommonError::NotFound)
    }
}
