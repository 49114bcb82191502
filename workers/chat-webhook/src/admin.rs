//! The admin API (admin secret, `Authorization: Bearer <ADMIN_SECRET>`, checked by
//! [`handle`] before every endpoint; failed attempts are throttled per client address,
//! `edge_glue::admin::AdminAttempt`, counted in the `AI_QUOTA` window-log namespace under
//! `admin-failures:<address>` buckets):
//!
//! - `GET /admin/v1/products[?all=true]`: active products (all with `all=true`);
//! - `GET|PUT|DELETE /admin/v1/products/:id`: read, create-or-replace, delete;
//! - `GET /admin/v1/customers/:line_user_id/conversation`: the customer, their latest
//!   conversation and its messages (`/admin/v1/groups/:group_id/conversation` and
//!   `/admin/v1/rooms/:room_id/conversation` for a group's or room's);
//! - `PUT /admin/v1/customers/:line_user_id/preferences`: `{"preferences": [...]}`, the
//!   interests the AI prompt mentions;
//! - the support desk's articles, search and tickets ([`crate::admin_desk`]).
//! - `GET /admin/v1/web-customers/:customer/export`, `DELETE /admin/v1/web-customers/:customer`:
//!   a web chat customer's sessions, archives and tickets ([`web_customers`]).

use edge_core::chat::line::webhook::Chat;
use edge_core::chat::preferences;
use edge_core::chat::product::{self, ProductInput};
use edge_core::error::CommonError;
use edge_core::route::Params;
use edge_glue::admin::require_admin_throttled;
use edge_glue::{body, now_ms, respond};
use worker::{Env, Request, Response};

use crate::admin_desk::{self, DeskRoute};
use crate::backends::Product;
use crate::db;
use crate::error::Error;
use crate::quota::QUOTA_BINDING;
use crate::web_customers;

/// Most products listed, and messages shown.
const LIST_LIMIT: usize = 500;

/// The admin endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdminRoute {
    ListProducts,
    GetProduct,
    PutProduct,
    DeleteProduct,
    UserConversation,
    GroupConversation,
    RoomConversation,
    Preferences,
    /// The support desk's articles, search and tickets.
    Desk(DeskRoute),
    /// `GET /admin/v1/web-customers/:customer/export` ([`web_customers`]).
    ExportWebCustomer,
    /// `DELETE /admin/v1/web-customers/:customer` ([`web_customers`]).
    EraseWebCustomer,
}

/// Runs admin endpoint `route` once the admin secret checks out.
pub(crate) async fn handle(
    route: AdminRoute,
    params: &Params<'_>,
    mut req: Request,
    env: &Env,
) -> Result<Response, Error> {
    require_admin_throttled(req.inner(), env, QUOTA_BINDING).await?;
    match route {
        AdminRoute::ListProducts => list(&req, env).await,
        AdminRoute::GetProduct => get(id_param(params, "id")?, env).await,
        AdminRoute::PutProduct => put(id_param(params, "id")?, &mut req, env).await,
        AdminRoute::DeleteProduct => delete(id_param(params, "id")?, env).await,
        AdminRoute::UserConversation => {
            chat_conversation(Chat::User(id_param(params, "user")?), env).await
        }
        AdminRoute::GroupConversation => {
            chat_conversation(Chat::Group(id_param(params, "group")?), env).await
        }
        AdminRoute::RoomConversation => {
            chat_conversation(Chat::Room(id_param(params, "room")?), env).await
        }
        AdminRoute::Preferences => set_preferences(id_param(params, "user")?, &mut req, env).await,
        AdminRoute::Desk(r) => admin_desk::handle(r, params, req, env).await,
        AdminRoute::ExportWebCustomer => {
            web_customers::export(params.get("customer").unwrap_or_default(), env).await
        }
        AdminRoute::EraseWebCustomer => {
            web_customers::erase(params.get("customer").unwrap_or_default(), env).await
        }
    }
}

/// The route's `name` parameter when it is a valid id; 404 otherwise (no such thing).
fn id_param(params: &Params<'_>, name: &str) -> Result<String, Error> {
    params
        .get(name)
        .filter(|id| product::valid_id(id))
        .map(str::to_owned)
        .ok_or(Error::Common(CommonError::NotFound))
}

async fn list(req: &Request, env: &Env) -> Result<Response, Error> {
    let all = req
        .url()?
        .query_pairs()
        .any(|(k, v)| k == "all" && v == "true");
    let products = db::products(&db::db(env)?, all, LIST_LIMIT).await?;
    Ok(respond::json(
        200,
        &serde_json::json!({ "products": products }),
    )?)
}

async fn get(id: String, env: &Env) -> Result<Response, Error> {
    match db::product(&db::db(env)?, &id).await? {
        Some(p) => Ok(respond::json(200, &p)?),
        None => Err(CommonError::NotFound.into()),
    }
}

async fn put(id: String, req: &mut Request, env: &Env) -> Result<Response, Error> {
    let bytes = body::read(req.inner(), env, product::MAX_BODY_BYTES).await?;
    let input = ProductInput::parse(&bytes)?;
    let db = db::db(env)?;
    let now = now_ms() as f64;
    let existing = db::product(&db, &id).await?;
    let p = Product {
        id,
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
    Ok(respond::json(
        if existing.is_some() { 200 } else { 201 },
        &p,
    )?)
}

async fn delete(id: String, env: &Env) -> Result<Response, Error> {
    if db::delete_product(&db::db(env)?, &id).await? {
        Ok(Response::empty()?.with_status(204))
    } else {
        Err(CommonError::NotFound.into())
    }
}

/// The conversation of `chat`.
async fn chat_conversation(chat: Chat, env: &Env) -> Result<Response, Error> {
    match db::conversation_of(&db::db(env)?, &chat.storage_key(), LIST_LIMIT).await? {
        Some(v) => Ok(respond::json(200, &v)?),
        None => Err(CommonError::NotFound.into()),
    }
}

async fn set_preferences(user: String, req: &mut Request, env: &Env) -> Result<Response, Error> {
    let bytes = body::read(req.inner(), env, product::MAX_BODY_BYTES).await?;
    let prefs = preferences::parse(&bytes)?;
    if db::set_preferences(&db::db(env)?, &user, &prefs, now_ms()).await? {
        Ok(respond::json(
            200,
            &serde_json::json!({ "line_user_id": user, "preferences": prefs }),
        )?)
    } else {
        Err(CommonError::NotFound.into())
    }
}
