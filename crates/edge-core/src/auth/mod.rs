//! Edge authentication: request validation, credentials, identities, rate limits, CORS.
//!
//! Each submodule decides one thing from inputs and an explicit time; the
//! auth-validator worker does the IO (KV, Durable Objects, JWKS fetches) around them.
//!
//! - [`request_policy`]: paths, methods, body types and sizes (400/404/405/411/413/415).
//! - [`credentials`]: parsing `Authorization` into a bearer token or an API key.
//! - [`jwt`]: JWT verification (HS256, RS256, EdDSA; JWKS with `kid`).
//! - [`api_key`]: API key format, hashing and verification; [`key_admin`] issues them.
//! - [`claims`]: which claims give a token's user id, role and permissions (`JWT_CLAIMS`).
//! - [`identity`]: the authenticated caller, its permissions and forwarded headers.
//! - [`rate_limit`]: exact sliding-window limits and their headers.
//! - [`cors`]: preflight answers and response headers for configured origins.
//!
//! Feature `auth` (auth-validator) gates `client_headers`, `cors`, `jwks` and `key_admin`;
//! the rest is always built: the admin check, the body reader and the rate-limit glue every
//! worker links use `credentials` (and so `api_key`), `request_policy`, `rate_limit` and
//! `jwt`'s limits (and so `identity`).

pub mod api_key;
pub mod claims;
#[cfg(feature = "auth")]
pub mod client_headers;
#[cfg(feature = "auth")]
pub mod cors;
pub mod credentials;
pub mod identity;
pub mod jwk;
#[cfg(feature = "auth")]
pub mod jwks;
pub mod jwt;
#[cfg(feature = "auth")]
pub mod key_admin;
pub mod rate_limit;
pub mod request_policy;

use crate::error::HttpError;

pub use identity::{AuthMethod, Identity};

/// The realm named in `WWW-Authenticate`.
pub const REALM: &str = "edge-workers";

/// Why a request was not authenticated (401) or not authorized (403).
///
/// API key failures say `api_key_invalid` for an unknown id and for a wrong secret alike,
/// so the answer does not reveal which key ids exist; revoked and expired are only told
/// to a caller who presented the right secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("credentials required")]
    MissingCredentials,
    /// The header is not `Bearer <token>` or `API-Key <key>`.
    #[error("authorization header must be 'Bearer <token>' or 'API-Key <key>'")]
    MalformedAuthorization,
    /// The token is not a compact JWS of base64url parts with a JSON header and claims.
    #[error("token is malformed")]
    TokenMalformed,
    /// The token is longer than the limit.
    #[error("token is too large")]
    TokenTooLarge,
    /// The header's `alg` is not on the allow-list (`none` never is).
    #[error("token algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// No configured key matches the token's `kid` and algorithm.
    #[error("no key matches the token's key id and algorithm")]
    UnknownKey,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    SignatureInvalid,
    /// `exp` is in the past (beyond the leeway).
    #[error("token has expired")]
    TokenExpired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token is not valid yet")]
    TokenNotYetValid,
    /// `iss` is not the configured issuer.
    #[error("token issuer is not accepted")]
    IssuerMismatch,
    /// `aud` does not contain the configured audience.
    #[error("token audience is not accepted")]
    AudienceMismatch,
    /// A claim is missing or has the wrong type or form.
    #[error("token claim is missing or invalid")]
    InvalidClaim {
        /// The claim.
        field: &'static str,
    },
    /// The API key is malformed, unknown, or its secret is wrong.
    #[error("api key is invalid")]
    ApiKeyInvalid,
    /// The API key was revoked.
    #[error("api key has been revoked")]
    ApiKeyRevoked,
    /// The API key has expired.
    #[error("api key has expired")]
    ApiKeyExpired,
    /// Authenticated, but without the permission the route needs (403).
    #[error("missing permission {permission}")]
    Forbidden {
        /// The permission the route needs.
        permission: String,
    },
}

impl HttpError for AuthError {
    fn status(&self) -> u16 {
        match self {
            Self::Forbidden { .. } => 403,
            _ => 401,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing_credentials",
            Self::MalformedAuthorization => "malformed_authorization",
            Self::TokenMalformed => "token_malformed",
            Self::TokenTooLarge => "token_too_large",
            Self::AlgorithmNotAllowed => "token_algorithm_not_allowed",
            Self::UnknownKey => "token_unknown_key",
            Self::SignatureInvalid => "token_signature_invalid",
            Self::TokenExpired => "token_expired",
            Self::TokenNotYetValid => "token_not_yet_valid",
            Self::IssuerMismatch => "token_issuer_invalid",
            Self::AudienceMismatch => "token_audience_invalid",
            Self::InvalidClaim { .. } => "token_claim_invalid",
            Self::ApiKeyInvalid => "api_key_invalid",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::ApiKeyExpired => "api_key_expired",
            Self::Forbidden { .. } => "insufficient_permission",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidClaim { field } => Some(field),
            Self::Forbidden { permission } => Some(permission),
            _ => None,
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let challenge = match self {
            Self::Forbidden { .. } => return Vec::new(),
            Self::MissingCredentials | Self::MalformedAuthorization => {
                format!("Bearer realm=\"{REALM}\", API-Key realm=\"{REALM}\"")
            }
            Self::ApiKeyInvalid | Self::ApiKeyRevoked | Self::ApiKeyExpired => {
                format!("API-Key realm=\"{REALM}\"")
            }
            _ => format!("Bearer realm=\"{REALM}\", error=\"invalid_token\""),
        };
        vec![("www-authenticate", challenge)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthenticated_is_401_with_a_challenge_and_forbidden_is_403_without() {
        let e = AuthError::TokenExpired;
        assert_eq!((e.status(), e.code()), (401, "token_expired"));
        assert!(e.headers()[0].1.contains("invalid_token"));
        let f = AuthError::Forbidden {
            permission: "calls:write".into(),
        };
        assert_eq!((f.status(), f.field()), (403, Some("calls:write")));
        assert!(f.headers().is_empty());
    }
}
