//! API keys: their format, their stored (hashed) record, and verification.
//!
//! A key is `ek_<id>_<secret>`: `id` is 16 lowercase hex digits (public: it names the
//! record and appears in logs and headers), `secret` is 32 random bytes in unpadded
//! base64url (43 characters). The record stores only the SHA-256 of the whole key, so a
//! leaked store does not leak keys. Verification hashes the presented key and compares
//! digests with `subtle`, so its time does not depend on the secret; the record is found
//! by id, which is not secret.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::auth::AuthError;
use crate::auth::identity::{AuthMethod, Identity};
use crate::auth::rate_limit::RateLimitPolicy;
use crate::hex;

/// Key prefix; marks the string as one of ours (and lets secret scanners find leaks).
pub const KEY_PREFIX: &str = "ek_";
/// Length of the id in hex digits.
pub const ID_HEX_LEN: usize = 16;
/// Length of the secret in base64url characters (32 bytes, unpadded).
pub const SECRET_LEN: usize = 43;

/// The id of a new key: `id_bytes` (from a CSPRNG) as 16 lowercase hex digits.
#[must_use]
pub fn new_id(id_bytes: [u8; 8]) -> String {
    hex::encode(&id_bytes)
}

/// Whether `id` has the form of a key id (16 lowercase hex digits).
#[must_use]
pub fn valid_id(id: &str) -> bool {
    id.len() == ID_HEX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A syntactically valid API key as presented by a client.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    id: String,
    digest: [u8; 32],
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// Parses `ek_<16 hex>_<43 base64url>`; the secret is hashed at once and not kept.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix(KEY_PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let hex_ok = valid_id(id);
        let secret_ok = secret.len() == SECRET_LEN
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (hex_ok && secret_ok).then(|| Self {
            id: id.to_owned(),
            digest: Sha256::digest(raw.as_bytes()).into(),
        })
    }

    /// The public id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Builds the key string `ek_<id>_<secret>` for a key id and `secret_bytes` (from a
    /// CSPRNG).
    #[must_use]
    pub fn format(id: &str, secret_bytes: [u8; 32]) -> String {
        use base64::Engine as _;
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_bytes);
        format!("{KEY_PREFIX}{id}_{secret}")
    }

    /// Lowercase hex SHA-256 of a whole key string, as stored in a record.
    #[must_use]
    pub fn digest_hex(key: &str) -> String {
        hex::encode(&Sha256::digest(key.as_bytes()))
    }

    fn matches(&self, stored_hex: &str) -> Choice {
        match hex::decode_array::<32>(stored_hex) {
            Some(stored) => self.digest.ct_eq(&stored),
            None => Choice::from(0),
        }
    }
}

/// What is known about a key besides its digests; the admin API shows exactly this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyInfo {
    /// The key id.
    pub id: String,
    /// Operator-chosen label.
    pub name: String,
    /// Role given to requests made with the key.
    pub role: String,
    /// Permissions given to requests made with the key.
    pub permissions: Vec<String>,
    /// The key's own rate limit.
    pub rate_limit: RateLimitPolicy,
    /// False once revoked.
    pub active: bool,
    /// Creation time, unix seconds.
    pub created_at_s: u64,
    /// Expiry, unix seconds; `None` never expires.
    pub expires_at_s: Option<u64>,
    /// When it was revoked.
    pub revoked_at_s: Option<u64>,
    /// When its secret was last rotated.
    pub rotated_at_s: Option<u64>,
    /// End of the grace period in which the key before the last rotation still works.
    pub previous_valid_until_s: Option<u64>,
}

/// The stored record of one key (KV value): its info and digests, never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRecord {
    /// Everything but the digests.
    pub info: KeyInfo,
    /// Hex SHA-256 of the current key.
    pub secret_sha256: String,
    /// Hex SHA-256 of the key before the last rotation, accepted until
    /// `info.previous_valid_until_s`.
    pub previous_secret_sha256: Option<String>,
}

impl ApiKeyRecord {
    /// Checks `key` against this record at `now_s` and gives the identity it proves.
    ///
    /// Both digests (current and previous) are always compared, so the time taken does
    /// not say which one matched, or whether either did.
    ///
    /// # Errors
    /// [`AuthError::ApiKeyInvalid`] when the id differs or no digest matches;
    /// `ApiKeyRevoked` / `ApiKeyExpired` for a right key that no longer works.
    pub fn verify(&self, key: &ApiKey, now_s: u64) -> Result<Identity, AuthError> {
        let current = key.matches(&self.secret_sha256);
        let previous = match &self.previous_secret_sha256 {
            Some(hex) => key.matches(hex),
            None => key.matches(""),
        };
        let info = &self.info;
        let previous_live = info.previous_valid_until_s.is_some_and(|t| now_s < t);
        let matched = bool::from(current | (previous & Choice::from(u8::from(previous_live))));
        if !matched || key.id != info.id {
            return Err(AuthError::ApiKeyInvalid);
        }
        if !info.active {
            return Err(AuthError::ApiKeyRevoked);
        }
        if info.expires_at_s.is_some_and(|t| now_s >= t) {
            return Err(AuthError::ApiKeyExpired);
        }
        Ok(Identity {
            subject: format!("{}{}", super::identity::API_KEY_SUBJECT_PREFIX, info.id),
            method: AuthMethod::ApiKey,
            role: info.role.clone(),
            permissions: info.permissions.clone(),
            key_id: Some(info.id.clone()),
            authenticated_at_s: now_s,
            rate_limit: Some(info.rate_limit),
            ignored_values: 0,
        })
    }
}

/// Does the same hashing and comparing as a real verification, for an id that has no
/// record, so an unknown id costs what a wrong secret costs. Always `ApiKeyInvalid`.
#[must_use]
pub fn verify_missing(key: &ApiKey) -> AuthError {
    let _ = bool::from(key.matches(&"0".repeat(64)) | key.matches(&"0".repeat(64)));
    AuthError::ApiKeyInvalid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_for(key: &str) -> ApiKeyRecord {
        let parsed = ApiKey::parse(key).expect("valid key");
        ApiKeyRecord {
            info: KeyInfo {
                id: parsed.id().to_owned(),
                name: "test".into(),
                role: "user".into(),
                permissions: vec!["calls:read".into()],
                rate_limit: RateLimitPolicy::new(100, 60).expect("valid"),
                active: true,
                created_at_s: 1_000,
                expires_at_s: Some(2_000),
                revoked_at_s: None,
                rotated_at_s: None,
                previous_valid_until_s: None,
            },
            secret_sha256: ApiKey::digest_hex(key),
            previous_secret_sha256: None,
        }
    }

    #[test]
    fn format_and_parse_round_trip() {
        let key = ApiKey::format(&new_id([0xab; 8]), [7; 32]);
        assert_eq!(key.len(), 3 + 16 + 1 + 43);
        let parsed = ApiKey::parse(&key).expect("parses");
        assert_eq!(parsed.id(), "abababababababab");
        assert!(
            !format!("{parsed:?}").contains(&key[20..]),
            "debug hides the secret"
        );
        for bad in [
            "",
            "ek_",
            "xx_abababababababab_BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc",
            "ek_ABABABABABABABAB_BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc",
            "ek_abababababababab_BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBw",
            "ek_abababababababab_BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBw=",
        ] {
            assert!(ApiKey::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn verification_outcomes() {
        let key = ApiKey::format(&new_id([1; 8]), [2; 32]);
        let rec = record_for(&key);
        let parsed = ApiKey::parse(&key).expect("parses");
        let id = rec.verify(&parsed, 1_500).expect("valid");
        assert_eq!(id.subject, "key:0101010101010101");
        assert_eq!(id.key_id.as_deref(), Some("0101010101010101"));
        assert_eq!(id.rate_limit, Some(rec.info.rate_limit));

        let wrong = ApiKey::parse(&ApiKey::format(&new_id([1; 8]), [3; 32])).expect("parses");
        assert_eq!(rec.verify(&wrong, 1_500), Err(AuthError::ApiKeyInvalid));
        assert_eq!(rec.verify(&parsed, 2_000), Err(AuthError::ApiKeyExpired));
        let mut revoked = rec.clone();
        revoked.info.active = false;
        assert_eq!(
            revoked.verify(&parsed, 1_500),
            Err(AuthError::ApiKeyRevoked)
        );
        // A wrong secret on a revoked key is still just invalid: status is not leaked.
        assert_eq!(revoked.verify(&wrong, 1_500), Err(AuthError::ApiKeyInvalid));
        assert_eq!(verify_missing(&parsed), AuthError::ApiKeyInvalid);
    }

    #[test]
    fn previous_secret_works_only_during_grace() {
        let old = ApiKey::format(&new_id([1; 8]), [2; 32]);
        let new = ApiKey::format(&new_id([1; 8]), [9; 32]);
        let mut rec = ApiKeyRecord {
            secret_sha256: ApiKey::digest_hex(&new),
            previous_secret_sha256: Some(ApiKey::digest_hex(&old)),
            ..record_for(&old)
        };
        rec.info.previous_valid_until_s = Some(1_200);
        let old = ApiKey::parse(&old).expect("parses");
        let new = ApiKey::parse(&new).expect("parses");
        assert!(rec.verify(&old, 1_199).is_ok());
        assert_eq!(rec.verify(&old, 1_200), Err(AuthError::ApiKeyInvalid));
        assert!(rec.verify(&new, 1_200).is_ok());
    }
}
