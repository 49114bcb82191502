//! The one error of a webhook signature check, shared by LINE (`x-line-signature`,
//! HMAC-SHA256: [`super::line::signature`]) and Discord (`x-signature-ed25519` with its
//! timestamp, Ed25519: [`super::discord::signature`]). Every refusal is a 401; the code
//! says which check failed. LINE uses `Missing` and `Invalid` (a header that is not base64
//! carries no valid tag, so it is `Invalid`); Discord uses all four.

use crate::error::HttpError;

/// Why a webhook's signature was refused (all 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A signature header (or Discord's timestamp header) is absent.
    #[error("missing signature headers")]
    Missing,
    /// A header is not in the form the platform sends (Discord: hex signature, decimal
    /// timestamp).
    #[error("malformed signature headers")]
    Malformed,
    /// The signed timestamp is outside the replay window.
    #[error("signature timestamp outside the accepted window")]
    Stale,
    /// The signature does not verify over the exact bytes received.
    #[error("invalid request signature")]
    Invalid,
}

impl SignatureError {
    /// The result of a signature a verifier did or did not accept.
    ///
    /// # Errors
    /// [`SignatureError::Invalid`] when it did not.
    pub fn unless_verified(verified: bool) -> Result<(), Self> {
        if verified { Ok(()) } else { Err(Self::Invalid) }
    }
}

impl HttpError for SignatureError {
    fn status(&self) -> u16 {
        401
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Missing => "missing_signature",
            Self::Malformed => "malformed_signature",
            Self::Stale => "stale_signature",
            Self::Invalid => "invalid_signature",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_a_401_with_its_own_code() {
        let all = [
            (SignatureError::Missing, "missing_signature"),
            (SignatureError::Malformed, "malformed_signature"),
            (SignatureError::Stale, "stale_signature"),
            (SignatureError::Invalid, "invalid_signature"),
        ];
        for (e, code) in all {
            assert_eq!((e.status(), e.code()), (401, code));
        }
        assert_eq!(SignatureError::unless_verified(true), Ok(()));
        assert_eq!(
            SignatureError::unless_verified(false),
            Err(SignatureError::Invalid)
        );
    }
}
