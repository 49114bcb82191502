//! Every reason auth-validator refuses a request, as one type: a variant of the handlers'
//! [`Error`](crate::error::Error).
//!
//! Each variant wraps a core error that already knows its status, code and headers; this
//! type only lets them travel as one. The response itself is built in one place,
//! `edge_glue::serve`.

use edge_core::HttpError;
use edge_core::auth::AuthError;
use edge_core::auth::client_headers::ReservedHeader;
use edge_core::auth::cors::CorsError;
use edge_core::auth::key_admin::AdminError;
use edge_core::auth::rate_limit::RateLimited;
use edge_core::auth::request_policy::RequestError;

/// A refusal from any stage of the gate or the admin API.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Rejection {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    #[error(transparent)]
    Cors(#[from] CorsError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Reserved(#[from] ReservedHeader),
}

impl Rejection {
    fn inner(&self) -> &dyn HttpError {
        match self {
            Self::Request(e) => e,
            Self::Auth(e) => e,
            Self::RateLimited(e) => e,
            Self::Cors(e) => e,
            Self::Admin(e) => e,
            Self::Reserved(e) => e,
        }
    }
}

impl HttpError for Rejection {
    fn status(&self) -> u16 {
        self.inner().status()
    }
    fn code(&self) -> &'static str {
        self.inner().code()
    }
    fn field(&self) -> Option<&str> {
        self.inner().field()
    }
    fn headers(&self) -> Vec<(&'static str, String)> {
        self.inner().headers()
    }
}
