//! Parsing the `Authorization` header into one credential.
//!
//! Accepted, scheme case-insensitive with exactly one space: `Bearer <jwt>` and
//! `API-Key <key>`. Anything else is `malformed_authorization`; a missing header is
//! `missing_credentials`.

use crate::auth::AuthError;
use crate::auth::api_key::ApiKey;

/// Longest accepted `Authorization` value, in bytes.
pub const MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

/// A credential as presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A bearer token, to be verified as a JWT.
    Bearer(&'a str),
    /// A well-formed API key.
    ApiKey(ApiKey),
}

impl<'a> Credential<'a> {
    /// Parses an `Authorization` header value.
    ///
    /// # Errors
    /// [`AuthError::MissingCredentials`] for `None`; [`AuthError::TokenTooLarge`] over
    /// [`MAX_AUTHORIZATION_BYTES`]; [`AuthError::MalformedAuthorization`] for an unknown
    /// scheme or a malformed value; [`AuthError::ApiKeyInvalid`] for a malformed key.
    pub fn parse(authorization: Option<&'a str>) -> Result<Self, AuthError> {
        let raw = authorization.ok_or(AuthError::MissingCredentials)?;
        if raw.len() > MAX_AUTHORIZATION_BYTES {
            return Err(AuthError::TokenTooLarge);
        }
        let (scheme, value) = raw
            .split_once(' ')
            .ok_or(AuthError::MalformedAuthorization)?;
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AuthError::MalformedAuthorization);
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            Ok(Self::Bearer(value))
        } else if scheme.eq_ignore_ascii_case("api-key") {
            ApiKey::parse(value)
                .map(Self::ApiKey)
                .ok_or(AuthError::ApiKeyInvalid)
        } else {
            Err(AuthError::MalformedAuthorization)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ek_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn schemes() {
        assert_eq!(
            Credential::parse(Some("Bearer a.b.c")),
            Ok(Credential::Bearer("a.b.c"))
        );
        assert_eq!(
            Credential::parse(Some("bearer a.b.c")),
            Ok(Credential::Bearer("a.b.c"))
        );
        let header = format!("API-Key {KEY}");
        let key = Credential::parse(Some(&header)).expect("parses");
        assert!(matches!(key, Credential::ApiKey(k) if k.id() == "0123456789abcdef"));
        assert_eq!(Credential::parse(None), Err(AuthError::MissingCredentials));
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer  a.b.c",
            "Basic dXNlcjpwdw==",
            "a.b.c",
            "Bearer a b",
        ] {
            assert_eq!(
                Credential::parse(Some(bad)),
                Err(AuthError::MalformedAuthorization),
                "{bad:?}"
            );
        }
        assert_eq!(
            Credential::parse(Some("API-Key ek_nothex_x")),
            Err(AuthError::ApiKeyInvalid)
        );
        let huge = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_BYTES));
        assert_eq!(
            Credential::parse(Some(&huge)),
            Err(AuthError::TokenTooLarge)
        );
    }
}
