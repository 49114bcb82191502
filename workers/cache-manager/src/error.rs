//! Everything cache-manager's handlers fail with, answered by `edge_glue::serve`.

use edge_core::error::CommonError;

edge_glue::handler_error! {
    /// The error of cache-manager's handlers: each variant answers as its own `HttpError`.
    pub(crate) enum Error {
        /// Errors any worker answers with.
        Common(CommonError),
    }
}
