//! The admin-secret check guarding operator endpoints (metric queries, purges, key admin).
//!
//! The presented token and the configured secret are both hashed with SHA-256 and the
//! digests compared with `subtle`, so the time taken depends neither on where the first
//! differing byte is nor on the secret's length.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::credentials::Credential;
use crate::error::CommonError;

/// Shortest admin secret accepted from configuration, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// Checks an `Authorization` header value against the configured admin `secret`.
///
/// Accepts exactly `Bearer <secret>` (scheme case-insensitive, one space; parsed like every
/// other credential, by [`Credential::parse`]).
///
/// # Errors
/// [`CommonError::Unauthorized`] when the header is absent, malformed or wrong;
/// [`CommonError::Misconfigured`] when `secret` is shorter than [`MIN_SECRET_LEN`],
/// so a weak or empty secret never opens the endpoint.
pub fn authorize(authorization: Option<&str>, secret: &str) -> Result<(), CommonError> {
    check_configured(secret)?;
    let Ok(Credential::Bearer(token)) = Credential::parse(authorization) else {
        return Err(CommonError::Unauthorized);
    };
    matches(token, secret)
}

/// Checks that the configured `secret` is long enough to guard anything.
///
/// # Errors
/// [`CommonError::Misconfigured`] when it is shorter than [`MIN_SECRET_LEN`].
pub fn check_configured(secret: &str) -> Result<(), CommonError> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(CommonError::Misconfigured("ADMIN_SECRET"));
    }
    Ok(())
}

/// Checks a presented secret (from a sign-in form) against the configured `secret`, in
/// constant time.
///
/// # Errors
/// As [`authorize`].
pub fn matches(token: &str, secret: &str) -> Result<(), CommonError> {
    check_configured(secret)?;
    let presented = Sha256::digest(token.as_bytes());
    let expected = Sha256::digest(secret.as_bytes());
    if bool::from(presented.ct_eq(&expected)) {
        Ok(())
    } else {
        Err(CommonError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "correct-horse-battery-staple";

    #[test]
    fn only_the_exact_bearer_secret_passes() {
        assert_eq!(
            authorize(Some("Bearer correct-horse-battery-staple"), SECRET),
            Ok(())
        );
        assert_eq!(
            authorize(Some("bearer correct-horse-battery-staple"), SECRET),
            Ok(())
        );
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Basic correct-horse-battery-staple"),
            Some("Bearer correct-horse-battery-stapl"),
            Some("Bearer correct-horse-battery-staple "),
            Some("Bearer  correct-horse-battery-staple"),
            Some("correct-horse-battery-staple"),
        ] {
            assert_eq!(
                authorize(bad, SECRET),
                Err(CommonError::Unauthorized),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_short_or_empty_secret_never_authorizes() {
        assert_eq!(
            authorize(Some("Bearer "), ""),
            Err(CommonError::Misconfigured("ADMIN_SECRET"))
        );
        assert_eq!(
            authorize(Some("Bearer short"), "short"),
            Err(CommonError::Misconfigured("ADMIN_SECRET"))
        );
        assert_eq!(
            matches("short", "short"),
            Err(CommonError::Misconfigured("ADMIN_SECRET"))
        );
        assert_eq!(matches(SECRET, SECRET), Ok(()));
        assert_eq!(
            matches("correct-horse-battery-stapl", SECRET),
            Err(CommonError::Unauthorized)
        );
    }
}
