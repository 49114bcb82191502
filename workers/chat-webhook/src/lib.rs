//! chat-webhook: the LINE Messaging API bot and the Discord interactions bot.
//!
//! - `POST /webhooks/line` ([`line_webhook`]): signature verified on the raw bytes, events
//!   queued, LINE answered at once.
//! - The `chat-events` queue consumer ([`line_consumer`]): the event claim, customers and
//!   conversations, intent, the AI chain ([`ai`]), the reply or push ([`line_api`]); generic
//!   over the small backends of [`backends`], which [`bindings`] binds to D1 ([`db`]), KV,
//!   the quota objects and `fetch` ([`outbound`]), and the tests to in-memory fakes.
//! - `POST /webhooks/discord` ([`discord`]): Ed25519-verified interactions, slash
//!   commands, components, deferred answers edited in from `wait_until`.
//! - The per-user quota on paid AI calls ([`quota`]): one Durable Object per user.
//! - The admin API ([`admin`]): products and conversations; the support desk's articles,
//!   search and tickets ([`admin_desk`]); web chat customers' export and erase
//!   ([`web_customers`]).
//! - Privacy: every log line redacted ([`log`]); ended web chat sessions archived to R2,
//!   redacted, and expired by the scheduled sweep ([`archive`]).
//! - The web support chat's page ([`chat_page`]): `GET /chat` and its script and style.
//! - The web support chat: `/chat/v1/sessions…` ([`chat_api`]) in front of one
//!   `ChatSession` Durable Object per session ([`chat_session`]), its flows in [`web_chat`];
//!   voice messages and spoken answers ([`voice`]).
//! - [`settings`]: every var, parsed once per isolate; [`error`]: what handlers fail with,
//!   answered by `edge_glue::serve` (routing errors included: [`ROUTES`]).

mod admin;
mod admin_desk;
mod ai;
mod ai_stream;
mod archive;
mod backends;
mod bindings;
mod chat_api;
mod chat_page;
#[allow(missing_docs)] // the #[durable_object] macro generates undocumented items
mod chat_session;
mod db;
mod discord;
mod discord_api;
mod error;
mod escalation;
mod escalation_queue;
mod handoff;
mod line_api;
mod line_consumer;
mod line_webhook;
mod live;
mod log;
mod outbound;
#[allow(missing_docs)] // the #[durable_object] macro generates undocumented items
mod quota;
mod settings;
#[allow(dead_code)] // SEED: wired by the tools (issue 19)
mod support_desk;
#[cfg(test)]
mod testkit;
mod tools;
mod voice;
mod web_chat;
mod web_customers;

pub use chat_session::ChatSession;
pub use quota::AiQuota;

use edge_core::ServiceName;
use edge_core::chat::escalation::QueueRole;
use edge_core::route::{self, RouteRow};
use edge_glue::{Incoming, Role, health};
use worker::{
    Context, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, Result, ScheduleContext,
    ScheduledEvent, console_error, event, web_sys,
};

use crate::admin::AdminRoute as A;
use crate::admin_desk::DeskRoute as D;
use crate::chat_api::ChatRoute as C;
use crate::line_consumer::{Outcome, Queued};
use crate::voice::VoiceRoute as V;

const ME: ServiceName = ServiceName::ChatWebhook;

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Health,
    LineWebhook,
    DiscordWebhook,
    Admin(A),
    ChatPage,
    ChatAsset,
    ChatCreate,
    Chat(C),
    Voice(V),
}

/// Every route: anything else is 404 `not_found`, a known path with another method 405
/// `method_not_allowed` with `Allow`.
#[rustfmt::skip]
const ROUTES: &[RouteRow<Route>] = &[
    ("GET", "/health", Route::Health),
    ("POST", "/webhooks/line", Route::LineWebhook),
    ("POST", "/webhooks/discord", Route::DiscordWebhook),
    ("GET", "/admin/v1/products", Route::Admin(A::ListProducts)),
    ("GET", "/admin/v1/products/:id", Route::Admin(A::GetProduct)),
    ("PUT", "/admin/v1/products/:id", Route::Admin(A::PutProduct)),
    ("DELETE", "/admin/v1/products/:id", Route::Admin(A::DeleteProduct)),
    ("GET", "/admin/v1/customers/:user/conversation", Route::Admin(A::UserConversation)),
    ("GET", "/admin/v1/groups/:group/conversation", Route::Admin(A::GroupConversation)),
    ("GET", "/admin/v1/rooms/:room/conversation", Route::Admin(A::RoomConversation)),
    ("PUT", "/admin/v1/customers/:user/preferences", Route::Admin(A::Preferences)),
    ("GET", "/admin/v1/articles", Route::Admin(A::Desk(D::ListArticles))),
    ("GET", "/admin/v1/articles/:id", Route::Admin(A::Desk(D::GetArticle))),
    ("PUT", "/admin/v1/articles/:id", Route::Admin(A::Desk(D::PutArticle))),
    ("DELETE", "/admin/v1/articles/:id", Route::Admin(A::Desk(D::DeleteArticle))),
    ("GET", "/admin/v1/search", Route::Admin(A::Desk(D::Search))),
    ("GET", "/admin/v1/tickets", Route::Admin(A::Desk(D::ListTickets))),
    ("GET", "/admin/v1/tickets/:id", Route::Admin(A::Desk(D::GetTicket))),
    ("PATCH", "/admin/v1/tickets/:id", Route::Admin(A::Desk(D::PatchTicket))),
    ("GET", "/admin/v1/web-customers/:customer/export", Route::Admin(A::ExportWebCustomer)),
    ("DELETE", "/admin/v1/web-customers/:customer", Route::Admin(A::EraseWebCustomer)),
    ("GET", "/chat", Route::ChatPage),
    ("GET", "/chat/assets/:file", Route::ChatAsset),
    ("POST", "/chat/v1/sessions", Route::ChatCreate),
    ("GET", "/chat/v1/sessions/:id/messages", Route::Chat(C::History)),
    ("POST", "/chat/v1/sessions/:id/messages", Route::Chat(C::Post)),
    ("GET", "/chat/v1/sessions/:id/ws", Route::Chat(C::Socket)),
    ("DELETE", "/chat/v1/sessions/:id", Route::Chat(C::End)),
    ("POST", "/chat/v1/sessions/:id/voice", Route::Voice(V::Message)),
    ("GET", "/chat/v1/sessions/:id/messages/:mid/speech", Route::Voice(V::Speech)),
];

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    edge_glue::serve(
        ME,
        Role::Entry,
        req,
        env,
        ctx,
        |req: Incoming, env, hop| async move {
            let (route, params) = route::route(ROUTES, hop.method(), hop.path())?;
            // The webhooks read only their body and signature headers; the other routes
            // take the worker crate's Request.
            match route {
                Route::Health => {
                    Ok(health::respond(&env, ME, env!("CARGO_PKG_VERSION"), None).await?)
                }
                Route::LineWebhook => line_webhook::line(req, &env, &hop).await,
                Route::DiscordWebhook => discord::interaction(req, &env, &hop).await,
                Route::Admin(r) => admin::handle(r, &params, req.into_request(), &env).await,
                Route::ChatPage => chat_page::page(&req.into_request(), &env),
                Route::ChatAsset => chat_page::asset(params.get("file"), &req.into_request(), &env),
                Route::ChatCreate => chat_api::create(req.into_request(), &env, &hop).await,
                Route::Chat(r) => {
                    chat_api::handle(r, &params, req.into_request(), &env, &hop).await
                }
                Route::Voice(r) => voice::handle(r, &params, req.into_request(), &env, &hop).await,
            }
        },
    )
    .await
}

/// Every queue this worker consumes, by the batch's queue name: the escalations and their
/// dead letters ([`escalation_queue`]); anything else is `chat-events`.
///
/// The `chat-events` consumer: events one at a time, in order; each acknowledged when done
/// and retried (up to the queue's `max_retries`, then the dead-letter queue) when it failed
/// before its answer went out.
#[event(queue)]
async fn queue(batch: MessageBatch<Queued>, env: Env, _ctx: Context) -> Result<()> {
    match QueueRole::of(&batch.queue()) {
        QueueRole::Escalations => {
            escalation_queue::consume(&batch, &env).await;
            return Ok(());
        }
        QueueRole::EscalationsDead => {
            escalation_queue::consume_dead(&batch, &env).await;
            return Ok(());
        }
        QueueRole::Events => {}
    }
    let settings = match settings::LineSettings::load(&env) {
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
    // A provider that refused our credentials is counted in analytics.
    bindings::report_refusals(&env).await;
    Ok(())
}

/// The cron triggers (wrangler `[triggers]`): every periodic job, one line each; each job
/// is idempotent and cheap when there is nothing to do, so all run on every trigger.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    escalation_queue::sweep_pending(&env).await;
    archive::sweep_now(&env).await;
}
