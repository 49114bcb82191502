//! chat-webhook: the LINE Messaging API bot and the Discord interactions bot.
//!
//! - `POST /webhooks/line` ([`line_webhook`]): signature verified on the raw bytes, events
//!   queued, LINE answered at once.
//! - The `chat-events` queue consumer ([`line_consumer`]): de-duplication, customers and
//!   conversations in D1 ([`db`]), intent, the AI chain ([`ai`]), the reply or push
//!   ([`line_api`]).
//! - `POST /webhooks/discord` ([`discord`]): Ed25519-verified interactions, slash
//!   commands, components, deferred answers edited in from `wait_until`.
//! - The per-user quota on paid AI calls ([`quota`]): one Durable Object per user.
//! - The admin API ([`admin`]): products and conversations.

mod admin;
mod ai;
mod backends;
mod bindings;
mod db;
mod discord;
mod error;
mod line_api;
mod line_consumer;
mod line_webhook;
mod log;
mod outbound;
#[allow(missing_docs)] // the #[durable_object] macro generates undocumented items
mod quota;
mod settings;
#[cfg(test)]
mod testkit;

pub use quota::AiQuota;

use edge_core::ServiceName;
use edge_glue::{Role, health};
use worker::{
    Context, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, Request, Response, Result,
    Router, console_error, event,
};

use crate::line_consumer::{Outcome, Queued};

const ME: ServiceName = ServiceName::ChatWebhook;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    edge_glue::serve(ME, Role::Entry, req, env, ctx, |req, env, hop| async move {
        let answer: Result<Response> = async move {
            // Probes skip building the router (DESIGN.md, "Requests between hops"); the
            // route stays in it so other methods on /health are still 405.
            if hop.method() == "GET" && hop.path() == "/health" {
                return health::respond(&env, ME, env!("CARGO_PKG_VERSION"), None).await;
            }
            Router::with_data(hop)
                .get_async("/health", |_, rc| async move {
                    health::respond(&rc.env, ME, env!("CARGO_PKG_VERSION"), None).await
                })
                .post_async("/webhooks/line", |req, rc| async move {
                    line_webhook::line(req, &rc.env, &rc.data).await
                })
                .post_async("/webhooks/discord", |req, rc| async move {
                    discord::interaction(req, &rc.env, &rc.data).await
                })
                .get_async("/admin/v1/products", |req, rc| {
                    admin::guarded(req, rc, admin::list)
                })
                .get_async("/admin/v1/products/:id", |req, rc| {
                    admin::guarded(req, rc, admin::get)
                })
                .put_async("/admin/v1/products/:id", |req, rc| {
                    admin::guarded(req, rc, admin::put)
                })
                .delete_async("/admin/v1/products/:id", |req, rc| {
                    admin::guarded(req, rc, admin::delete)
                })
                .get_async("/admin/v1/customers/:user/conversation", |req, rc| {
                    admin::guarded(req, rc, admin::conversation)
                })
                .get_async("/admin/v1/groups/:group/conversation", |req, rc| {
                    admin::guarded(req, rc, admin::group_conversation)
                })
                .get_async("/admin/v1/rooms/:room/conversation", |req, rc| {
                    admin::guarded(req, rc, admin::room_conversation)
                })
                .put_async("/admin/v1/customers/:user/preferences", |req, rc| {
                    admin::guarded(req, rc, admin::preferences)
                })
                .run(req, env)
                .await
        }
        .await;
        answer.map_err(error::Error::from)
    })
    .await
}

/// The `chat-events` consumer: events one at a time, in order; each acknowledged when done
/// and retried (up to the queue's `max_retries`, then the dead-letter queue) when it failed
/// before its answer went out.
#[event(queue)]
async fn queue(batch: MessageBatch<Queued>, env: Env, _ctx: Context) -> Result<()> {
    let settings = match settings::Settings::load(&env) {
        Ok(s) => s,
        Err(e) => {
            console_error!("chat-events: {e}; retrying the batch");
            batch.retry_all();
            return Ok(());
        }
    };
    let store = match db::db(&env) {
        Ok(d) => Some(bindings::D1Store(d)),
        Err(e) => {
            console_error!("chat-events: no DB binding ({e}); retrying");
            None
        }
    };
    let io = bindings::io(&env);
    for message in batch.messages()? {
        let outcome = match &store {
            Some(store) => line_consumer::handle(store, &io, &settings, message.body()).await,
            None => Outcome::Retry,
        };
        match outcome {
            Outcome::Done => message.ack(),
            Outcome::Retry => message.retry(),
            Outcome::RetryAfter(seconds) => message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(seconds)
                    .build(),
            ),
        }
    }
    Ok(())
}
