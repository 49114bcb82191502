//! Everything chat-webhook's handlers fail with, answered by `edge_glue::serve`.

use edge_core::chat::archive::CustomerError;
use edge_core::chat::line::webhook::WebhookError;
use edge_core::chat::product::ProductError;
use edge_core::chat::signature::SignatureError;
use edge_core::chat::support::SupportError;
use edge_core::chat::voice::VoiceError;
use edge_core::chat::web::frame::FrameError;
use edge_core::chat::web::limits::Refusal;
use edge_core::chat::web::token::TokenError;
use edge_core::chat::web::{SessionNotFound, UpgradeRequired};
use edge_core::error::CommonError;
use edge_core::queue::BatchError;
use edge_core::route::RouteError;
use edge_glue::admin::AttemptError;
use edge_glue::body::BodyError;

edge_glue::handler_error! {
    /// The error of chat-webhook's handlers: each variant answers as its own `HttpError`.
    pub(crate) enum Error {
        /// Errors any worker answers with.
        Common(CommonError),
        /// No route for the path (404), or not for this method (405 with `Allow`).
        Route(RouteError),
        /// A request body too large, too slow or unreadable.
        Body(BodyError),
        /// The admin secret refused or throttled.
        Admin(AttemptError),
        /// A LINE or Discord webhook whose signature is refused (401).
        Signature(SignatureError),
        /// A LINE webhook body that is not one.
        Webhook(WebhookError),
        /// A LINE event too large to queue (413).
        Queue(BatchError),
        /// An admin body (product, preferences) that is not valid.
        Product(ProductError),
        /// A web chat session token refused (401 `invalid_session_token`).
        SessionToken(TokenError),
        /// A web chat session that does not exist (404).
        SessionNotFound(SessionNotFound),
        /// A web chat body that is not a message.
        ChatFrame(FrameError),
        /// A web chat limit (429 with `Retry-After`, 413, 409).
        ChatRefusal(Refusal),
        /// The WebSocket endpoint asked without an upgrade (426).
        Upgrade(UpgradeRequired),
        /// A web chat customer id refused (400 `invalid_customer`).
        Customer(CustomerError),
        /// A support desk input (article, search, ticket change) that is not valid.
        Support(SupportError),
        /// A voice message refused (415, 413, 400, 422), voice unavailable (503), or no
        /// answer to speak (404).
        Voice(VoiceError),
    }
}
