//! Everything voice-router's handlers fail with, answered by `edge_glue::serve`.

use edge_core::auth::request_policy::RequestError;
use edge_core::error::CommonError;

use crate::proxy::RoutedError;

edge_glue::handler_error! {
    /// The error of voice-router's handlers: each variant answers as its own `HttpError`.
    pub(crate) enum Error {
        /// Errors any worker answers with.
        Common(CommonError),
        /// A request that cannot be forwarded (a `GET` or `HEAD` with a body).
        Request(RequestError),
        /// A routed request's last attempt failed: answered with the routed headers.
        Routed(RoutedError),
    }
}
