//! What a handler fails with: each worker's error enum, declared with [`handler_error!`].
//!
//! Handlers return `Result<Response, E>` where `E` is their worker's enum: every domain
//! error converts into it with `?`, and so does a runtime failure (`worker::Error`, a
//! `serde_json::Error`), which becomes [`Internal`]: 500 `internal_error` to the client,
//! its text only in the log. `serve` turns the `Err` into the response in one place
//! (`respond::error_response`); no handler builds an error response itself.

use std::fmt;

use edge_core::HttpError;

/// A runtime failure inside the worker (a JS exception, a binding that refused, a value
/// that did not serialize): answered 500 `internal_error`; the cause goes to the log only.
#[derive(Debug)]
pub struct Internal(pub worker::Error);

impl fmt::Display for Internal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("internal error")
    }
}

impl HttpError for Internal {
    fn status(&self) -> u16 {
        500
    }

    fn code(&self) -> &'static str {
        "internal_error"
    }

    fn log_detail(&self) -> Option<String> {
        Some(self.0.to_string())
    }
}

impl From<worker::Error> for Internal {
    fn from(e: worker::Error) -> Self {
        Self(e)
    }
}

impl From<serde_json::Error> for Internal {
    fn from(e: serde_json::Error) -> Self {
        Self(e.into())
    }
}

#[doc(hidden)]
pub mod __private {
    pub use crate::boundary::InvalidHeader;
    pub use edge_core::HttpError;
    pub use serde_json::Error as SerdeJsonError;
    pub use worker::Error as WorkerError;
}

/// Declares a worker's handler error: an enum with one variant per error type listed
/// (each `From`, so `?` converts), plus `Runtime(Internal)` for `worker::Error`,
/// `serde_json::Error` and a header that cannot cross (`boundary::InvalidHeader`); its `Display` and `HttpError` are the wrapped error's.
///
/// ```ignore
/// edge_glue::handler_error! {
///     /// Everything cache-manager's handlers fail with.
///     pub(crate) enum Error {
///         Common(edge_core::error::CommonError),
///         Purge(crate::purge::InvalidPurge),
///     }
/// }
/// ```
#[macro_export]
macro_rules! handler_error {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident($ty:ty) ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant($ty), )*
            /// A runtime failure: 500 `internal_error`, the cause in the log only.
            Runtime($crate::failure::Internal),
        }

        $(
            impl ::core::convert::From<$ty> for $name {
                fn from(e: $ty) -> Self {
                    Self::$variant(e)
                }
            }
        )*

        impl ::core::convert::From<$crate::failure::__private::WorkerError> for $name {
            fn from(e: $crate::failure::__private::WorkerError) -> Self {
                Self::Runtime(e.into())
            }
        }

        impl ::core::convert::From<$crate::failure::__private::InvalidHeader> for $name {
            fn from(e: $crate::failure::__private::InvalidHeader) -> Self {
                Self::Runtime($crate::failure::__private::WorkerError::from(e).into())
            }
        }

        impl ::core::convert::From<$crate::failure::__private::SerdeJsonError> for $name {
            fn from(e: $crate::failure::__private::SerdeJsonError) -> Self {
                Self::Runtime(e.into())
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self {
                    $( Self::$variant(e) => ::core::fmt::Display::fmt(e, f), )*
                    Self::Runtime(e) => ::core::fmt::Display::fmt(e, f),
                }
            }
        }

        impl $crate::failure::__private::HttpError for $name {
            fn status(&self) -> u16 {
                use $crate::failure::__private::HttpError as _;
                match self {
                    $( Self::$variant(e) => e.status(), )*
                    Self::Runtime(e) => e.status(),
                }
            }
            fn code(&self) -> &'static str {
                use $crate::failure::__private::HttpError as _;
                match self {
                    $( Self::$variant(e) => e.code(), )*
                    Self::Runtime(e) => e.code(),
                }
            }
            fn field(&self) -> Option<&str> {
                use $crate::failure::__private::HttpError as _;
                match self {
                    $( Self::$variant(e) => e.field(), )*
                    Self::Runtime(e) => e.field(),
                }
            }
            fn headers(&self) -> Vec<(&'static str, String)> {
                use $crate::failure::__private::HttpError as _;
                match self {
                    $( Self::$variant(e) => e.headers(), )*
                    Self::Runtime(e) => e.headers(),
                }
            }
            fn log_detail(&self) -> Option<String> {
                use $crate::failure::__private::HttpError as _;
                match self {
                    $( Self::$variant(e) => e.log_detail(), )*
                    Self::Runtime(e) => e.log_detail(),
                }
            }
        }
    };
}
