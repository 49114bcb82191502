//! Everything analytics-collector's handlers fail with, answered by `edge_glue::serve`.

use edge_core::error::CommonError;

edge_glue::handler_error! {
    /// The error of analytics-collector's handlers: each variant answers as its own `HttpError`.
    pub(crate) enum Error {
        /// Errors any worker answers with.
        Common(CommonError),
    }
}
