//! Everything cache-manager's handlers fail with, answered by `edge_glue::serve`.

use edge_core::cache::admin::AdminRouteError;
use edge_core::error::{CommonError, WithHeaders};
use edge_glue::body::BodyError;

use crate::flow::Refusal;
use crate::purge::InvalidPurge;

edge_glue::handler_error! {
    /// The error of cache-manager's handlers: each variant answers as its own `HttpError`.
    pub(crate) enum Error {
        /// Errors any worker answers with.
        Common(CommonError),
        /// An admin path this worker does not serve (404, or 405 with `Allow`).
        Admin(AdminRouteError),
        /// A purge request body that could not be read.
        Body(BodyError),
        /// A refused purge request.
        Purge(InvalidPurge),
        /// A failure of a request through the cache, with its `X-Cache`.
        Cache(WithHeaders<Refusal>),
    }
}
