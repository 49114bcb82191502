//! The admin API's decisions about API keys: strict request bodies, issuing, rotating and
//! revoking records. What the API shows of a record is its `KeyInfo`, never a digest.
//!
//! Randomness comes in as bytes (the worker draws them from `crypto.getRandomValues`);
//! the key string exists only in the [`Issued`] value, shown once to the operator.

use serde::Deserialize;

use crate::auth::api_key::{self, ApiKey, ApiKeyRecord, KeyInfo};
use crate::auth::identity::{DEFAULT_ROLE, MAX_PERMISSIONS, valid_permission, valid_role};
use crate::auth::rate_limit::RateLimitPolicy;
use crate::error::HttpError;

/// Largest admin request body, in bytes.
pub const MAX_ADMIN_BODY_BYTES: usize = 8 * 1024;
/// Longest key name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest grace period for the previous secret after a rotation: 7 days.
pub const MAX_GRACE_S: u64 = 7 * 24 * 3600;

/// A refused admin request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// The body is not a JSON object of the expected fields.
    #[error("invalid request body: {reason}")]
    InvalidBody {
        /// What was wrong.
        reason: String,
    },
    /// A field is out of range.
    #[error("invalid value: {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// The key id names no key.
    #[error("no api key with this id")]
    KeyNotFound,
    /// A revoked key cannot be rotated.
    #[error("api key is revoked")]
    KeyRevoked,
}

impl HttpError for AdminError {
    fn status(&self) -> u16 {
        match self {
            Self::KeyNotFound => 404,
            Self::KeyRevoked => 409,
            Self::InvalidBody { .. } | Self::InvalidField { .. } => 400,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidBody { .. } => "invalid_body",
            Self::InvalidField { .. } => "invalid_field",
            Self::KeyNotFound => "key_not_found",
            Self::KeyRevoked => "key_revoked",
        }
    }
    fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Body of `POST /admin/v1/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// Label, 1..=64 printable characters.
    pub name: String,
    /// Role; defaults to `user`.
    #[serde(default)]
    pub role: Option<String>,
    /// Permissions; default none.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// The key's rate limit; defaults to the worker's configured default.
    #[serde(default)]
    pub rate_limit: Option<RateLimitPolicy>,
    /// Expiry, unix seconds, in the future.
    #[serde(default)]
    pub expires_at_s: Option<u64>,
}

/// Body of `POST /admin/v1/keys/<id>/rotate` (may be empty).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Seconds the previous key keeps working, 0..=7 days; default 0 (stops at once).
    #[serde(default)]
    pub grace_s: u64,
}

/// A freshly issued key: the string to show once, and the record to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The key itself. Never stored, never logged.
    pub key: String,
    /// The record to store under the key's id.
    pub record: ApiKeyRecord,
}

impl NewKey {
    /// Parses and validates a create body at `now_s`.
    ///
    /// # Errors
    /// [`AdminError`] naming what is wrong.
    pub fn from_json(body: &[u8], now_s: u64) -> Result<Self, AdminError> {
        let new: Self = parse_body(body)?;
        if new.name.is_empty()
            || new.name.len() > MAX_NAME_BYTES
            || new.name.chars().any(char::is_control)
        {
            return Err(AdminError::InvalidField {
                field: "name",
                reason: "expected 1..=64 bytes without control characters",
            });
        }
        if new.role.as_deref().is_some_and(|r| !valid_role(r)) {
            return Err(AdminError::InvalidField {
                field: "role",
                reason: "expected [a-z0-9_-]{1,32}",
            });
        }
        if new.permissions.len() > MAX_PERMISSIONS
            || !new.permissions.iter().all(|p| valid_permission(p))
        {
            return Err(AdminError::InvalidField {
                field: "permissions",
                reason: "expected at most 64 of [A-Za-z0-9:._*-]{1,64}",
            });
        }
        if new
            .rate_limit
            .is_some_and(|p| RateLimitPolicy::new(p.limit, p.window_s).is_none())
        {
            return Err(AdminError::InvalidField {
                field: "rate_limit",
                reason: "expected limit 1..=10000 and window_s 1..=86400",
            });
        }
        if new.expires_at_s.is_some_and(|t| t <= now_s) {
            return Err(AdminError::InvalidField {
                field: "expires_at_s",
                reason: "expected a time in the future",
            });
        }
        Ok(new)
    }

    /// Issues the key: `id_bytes` and `secret_bytes` must come from a CSPRNG.
    #[must_use]
    pub fn issue(
        self,
        id_bytes: [u8; 8],
        secret_bytes: [u8; 32],
        default_rate_limit: RateLimitPolicy,
        now_s: u64,
    ) -> Issued {
        let id = api_key::new_id(id_bytes);
        let key = ApiKey::format(&id, secret_bytes);
        let record = ApiKeyRecord {
            info: KeyInfo {
                id,
                name: self.name,
                role: self.role.unwrap_or_else(|| DEFAULT_ROLE.to_owned()),
                permissions: self.permissions,
                rate_limit: self.rate_limit.unwrap_or(default_rate_limit),
                active: true,
                created_at_s: now_s,
                expires_at_s: self.expires_at_s,
                revoked_at_s: None,
                rotated_at_s: None,
                previous_valid_until_s: None,
            },
            secret_sha256: ApiKey::digest_hex(&key),
            previous_secret_sha256: None,
        };
        Issued { key, record }
    }
}

impl Rotation {
    /// Parses a rotate body; an empty body means no grace period.
    ///
    /// # Errors
    /// [`AdminError`] for a malformed body or a grace period over 7 days.
    pub fn from_json(body: &[u8]) -> Result<Self, AdminError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let rotation: Self = parse_body(body)?;
        if rotation.grace_s > MAX_GRACE_S {
            return Err(AdminError::InvalidField {
                field: "grace_s",
                reason: "expected 0..=604800",
            });
        }
        Ok(rotation)
    }

    /// Gives `record` a new secret; the old key works until `now_s + grace_s`.
    ///
    /// # Errors
    /// [`AdminError::KeyRevoked`] for a revoked key.
    pub fn apply(
        self,
        record: &ApiKeyRecord,
        secret_bytes: [u8; 32],
        now_s: u64,
    ) -> Result<Issued, AdminError> {
        if !record.info.active {
            return Err(AdminError::KeyRevoked);
        }
        let key = ApiKey::format(&record.info.id, secret_bytes);
        let grace = (self.grace_s > 0).then_some(now_s + self.grace_s);
        let record = ApiKeyRecord {
            info: KeyInfo {
                rotated_at_s: Some(now_s),
                previous_valid_until_s: grace,
                ..record.info.clone()
            },
            secret_sha256: ApiKey::digest_hex(&key),
            previous_secret_sha256: grace.map(|_| record.secret_sha256.clone()),
        };
        Ok(Issued { key, record })
    }
}

/// Marks `record` revoked at `now_s` (idempotent: a second revoke keeps the first time).
#[must_use]
pub fn revoke(record: &ApiKeyRecord, now_s: u64) -> ApiKeyRecord {
    ApiKeyRecord {
        info: KeyInfo {
            active: false,
            revoked_at_s: record.info.revoked_at_s.or(Some(now_s)),
            previous_valid_until_s: None,
            ..record.info.clone()
        },
        previous_secret_sha256: None,
        ..record.clone()
    }
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    if body.len() > MAX_ADMIN_BODY_BYTES {
        return Err(AdminError::InvalidBody {
            reason: "larger than 8192 bytes".into(),
        });
    }
    serde_json::from_slice(body).map_err(|e| AdminError::InvalidBody {
        // serde_json's message names the field and position, never echoes values.
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthError;

    fn default_limit() -> RateLimitPolicy {
        RateLimitPolicy::new(100, 60).expect("valid")
    }

    #[test]
    fn create_bodies_are_strict() {
        let ok = NewKey::from_json(
            br#"{"name":"billing","role":"service","permissions":["calls:read"],"rate_limit":{"limit":5,"window_s":1}}"#,
            10,
        )
        .expect("valid");
        assert_eq!(ok.role.as_deref(), Some("service"));
        for (body, code) in [
            (&br#"{"name":"x","admin":true}"#[..], "invalid_body"),
            (br#"{"role":"user"}"#, "invalid_body"),
            (br#"{"name":""}"#, "invalid_field"),
            (br#"{"name":"x","role":"Root"}"#, "invalid_field"),
            (br#"{"name":"x","permissions":["a b"]}"#, "invalid_field"),
            (
                br#"{"name":"x","rate_limit":{"limit":0,"window_s":1}}"#,
                "invalid_field",
            ),
            (br#"{"name":"x","expires_at_s":10}"#, "invalid_field"),
            (b"[]", "invalid_body"),
        ] {
            let err = NewKey::from_json(body, 10).expect_err("refused");
            assert_eq!(err.code(), code, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn issue_rotate_revoke() {
        let new = NewKey::from_json(br#"{"name":"n"}"#, 10).expect("valid");
        let issued = new.issue([0xcd; 8], [1; 32], default_limit(), 10);
        assert_eq!(issued.record.info.id, "cdcdcdcdcdcdcdcd");
        assert_eq!(issued.record.info.role, "user");
        assert!(
            !serde_json::to_string(&issued.record)
                .expect("serializes")
                .contains(&issued.key)
        );
        let view = serde_json::to_value(&issued.record.info).expect("serializes");
        assert!(view.get("secret_sha256").is_none());

        let old = ApiKey::parse(&issued.key).expect("parses");
        let rotated = Rotation { grace_s: 60 }
            .apply(&issued.record, [2; 32], 20)
            .expect("rotates");
        assert_eq!(rotated.record.info.id, issued.record.info.id);
        let new_key = ApiKey::parse(&rotated.key).expect("parses");
        assert!(rotated.record.verify(&new_key, 21).is_ok());
        assert!(rotated.record.verify(&old, 79).is_ok());
        assert_eq!(
            rotated.record.verify(&old, 80),
            Err(AuthError::ApiKeyInvalid)
        );

        let immediate = Rotation::from_json(b"").expect("empty is ok");
        let r2 = immediate
            .apply(&issued.record, [3; 32], 20)
            .expect("rotates");
        assert_eq!(r2.record.verify(&old, 20), Err(AuthError::ApiKeyInvalid));

        let revoked = revoke(&rotated.record, 30);
        assert_eq!(revoked.verify(&new_key, 31), Err(AuthError::ApiKeyRevoked));
        assert_eq!(revoke(&revoked, 40).info.revoked_at_s, Some(30));
        assert_eq!(
            Rotation::default().apply(&revoked, [4; 32], 50),
            Err(AdminError::KeyRevoked)
        );
        assert!(Rotation::from_json(br#"{"grace_s":604801}"#).is_err());
    }
}
