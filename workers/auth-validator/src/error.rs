//! Everything auth-validator's handlers fail with, answered by `edge_glue::serve`.

use edge_core::auth::AuthError;
use edge_core::auth::client_headers::ReservedHeader;
use edge_core::auth::cors::CorsError;
use edge_core::auth::key_admin::AdminError;
use edge_core::auth::rate_limit::RateLimited;
use edge_core::auth::request_policy::RequestError;
use edge_core::error::CommonError;
use edge_glue::admin::AttemptError;
use edge_glue::body::BodyError;

use crate::rejection::Rejection;

edge_glue::handler_error! {
    /// The error of auth-validator's handlers: each variant answers as its own `HttpError`.
    pub(crate) enum Error {
        /// Errors any worker answers with.
        Common(CommonError),
        /// A refusal by the gate, the CORS policy or the key admin API.
        Rejection(Rejection),
        /// A request body that could not be read (413, 408, 400, 500).
        Body(BodyError),
    }
}

/// `?` from each refusal straight into [`Error`], through [`Rejection`].
macro_rules! via_rejection {
    ($($ty:ty),* $(,)?) => {
        $(
            impl From<$ty> for Error {
                fn from(e: $ty) -> Self {
                    Self::Rejection(e.into())
                }
            }
        )*
    };
}

via_rejection!(
    RequestError,
    AuthError,
    RateLimited,
    CorsError,
    AdminError,
    ReservedHeader
);

impl From<AttemptError> for Error {
    fn from(e: AttemptError) -> Self {
        match e {
            AttemptError::Throttled(e) => e.into(),
            AttemptError::Refused(e) => e.into(),
        }
    }
}

impl Error {
    /// Whether this is a refused CORS preflight, which must carry no CORS headers.
    pub(crate) fn is_cors_refusal(&self) -> bool {
        matches!(self, Self::Rejection(Rejection::Cors(_)))
    }
}
