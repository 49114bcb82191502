//! JWT bearer tokens: compact JWS with HS256/384/512, RS256/384/512, PS256/384/512,
//! ES256, ES384 and Ed25519 (named `EdDSA` or, RFC 9864, `Ed25519`).
//!
//! Verification order, each step with its own reason code:
//! 1. shape: three base64url parts, at most [`MAX_TOKEN_BYTES`] (`token_malformed`);
//! 2. header: a JSON object whose `alg` is on the allow-list (`none` never is), with no
//!    `crit` (no extension is understood, so RFC 7515 §4.1.11 requires refusal);
//! 3. key: only keys bound to that exact algorithm are candidates, chosen by `kid` — an
//!    RSA public key can never be used as an HMAC secret (`token_unknown_key`). A key is
//!    bound to one algorithm: its JWK `alg`; without one, its curve (P-256: ES256, P-384:
//!    ES384, Ed25519: Ed25519); an RSA key or secret without `alg` is bound to the only
//!    algorithm of its family on the allow-list, else to RS256 / HS256 (see
//!    [`KeySet::candidates`]). A token without `kid` is tried against the keys without
//!    `kid`, or else against the one key bound to its algorithm if there is exactly one;
//! 4. signature, by a [`SignatureVerifier`] (`token_signature_invalid`): [`prepare`] does
//!    steps 1–3 and yields what to verify ([`Pending`]), the caller verifies (the worker
//!    with WebCrypto, [`verify`] with the core's [`RustVerifier`]) and [`Pending::finish`]
//!    takes the outcome;
//! 5. claims, against the caller's `now_s`: `exp` required, `nbf` and `iat` when present,
//!    all with the policy's leeway; `iss` and `aud` per policy; the user id required; role
//!    and permissions read per the policy's [`ClaimsMapping`] (unusable values skipped).
//!
//! The crate's own claim validation is not used: it reads the system clock, and the core
//! takes time as an input.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::auth::AuthError;
use crate::auth::claims::ClaimsMapping;
use crate::auth::identity::{AuthMethod, Identity};
use crate::auth::jwk::{self, Skip};
pub use crate::auth::jwk::{MIN_HMAC_SECRET_BYTES, MIN_RSA_BITS};
use crate::auth::rate_limit::RateLimitPolicy;
use crate::sig::{KeyKind, KeyMaterial, RustVerifier, SigAlg, SignatureVerifier, VerifyKey};

/// Longest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Largest JWKS document accepted, in bytes.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Most keys a key set may hold.
pub const MAX_KEYS: usize = 32;
/// Largest leeway a policy may set, in seconds.
pub const MAX_LEEWAY_S: u64 = 300;
/// Most candidate keys tried for one token without a `kid`.
const MAX_CANDIDATES: usize = 8;

/// The signature algorithms this verifier supports (JOSE names, RFC 7518 §3.1, RFC 9864).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// HMAC with SHA-256, shared secret.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 (salt 32 bytes).
    PS256,
    /// RSASSA-PSS with SHA-384 (salt 48 bytes).
    PS384,
    /// RSASSA-PSS with SHA-512 (salt 64 bytes).
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519 under its original, polymorphic name (RFC 8037).
    EdDSA,
    /// Ed25519 under its fully specified name (RFC 9864); the same primitive as `EdDSA`.
    Ed25519,
}

impl Alg {
    /// Every algorithm.
    pub const ALL: [Self; 13] = [
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
        Self::Ed25519,
    ];

    /// Parses the JOSE name (`HS256`, `RS256`, `ES256`, `EdDSA`, `Ed25519`, ...); anything
    /// else (`none`, `ES512`, `ES256K`, ...) is `None`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }

    /// The JOSE name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
            Self::Ed25519 => "Ed25519",
        }
    }

    /// The signature primitive behind this JOSE algorithm.
    #[must_use]
    pub const fn sig_alg(self) -> SigAlg {
        match self {
            Self::HS256 => SigAlg::HmacSha256,
            Self::HS384 => SigAlg::HmacSha384,
            Self::HS512 => SigAlg::HmacSha512,
            Self::RS256 => SigAlg::RsaPkcs1Sha256,
            Self::RS384 => SigAlg::RsaPkcs1Sha384,
            Self::RS512 => SigAlg::RsaPkcs1Sha512,
            Self::PS256 => SigAlg::RsaPssSha256,
            Self::PS384 => SigAlg::RsaPssSha384,
            Self::PS512 => SigAlg::RsaPssSha512,
            Self::ES256 => SigAlg::EcdsaP256Sha256,
            Self::ES384 => SigAlg::EcdsaP384Sha384,
            Self::EdDSA | Self::Ed25519 => SigAlg::Ed25519,
        }
    }
}

/// A key set or key that cannot be used; the worker reports it as misconfigured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The HMAC secret is shorter than [`MIN_HMAC_SECRET_BYTES`].
    #[error("hmac secret shorter than 32 bytes")]
    WeakSecret,
    /// The JWKS document is not JSON of the JWK Set form, or too large.
    #[error("jwks document is malformed or too large")]
    MalformedJwks,
    /// More than [`MAX_KEYS`] keys.
    #[error("too many keys")]
    TooManyKeys,
    /// A signing key of a supported type has unusable material.
    #[error("key {0} is invalid")]
    InvalidKey(String),
}

/// One verification key: its declared algorithm if any, and its material as a
/// [`VerifyKey`] per primitive it could be bound to (one, but for an RSA key or a secret
/// without `alg`: see [`KeySet::candidates`]).
#[derive(Clone)]
struct VerifyingKey {
    kid: Option<String>,
    declared: Option<Alg>,
    variants: Vec<VerifyKey>,
}

impl VerifyingKey {
    /// The primitive this key is bound to under the allow-list `allowed`.
    fn bound(&self, allowed: &[Alg]) -> Option<SigAlg> {
        if let Some(alg) = self.declared {
            return Some(alg.sig_alg());
        }
        let first = self.variants.first()?;
        let (family, default) = match first.alg().kind() {
            KeyKind::Rsa => (KeyKind::Rsa, SigAlg::RsaPkcs1Sha256),
            KeyKind::Secret => (KeyKind::Secret, SigAlg::HmacSha256),
            KeyKind::Ec(_) | KeyKind::Ed25519 => return Some(first.alg()),
        };
        let mut of_family = allowed
            .iter()
            .map(|a| a.sig_alg())
            .filter(|s| s.kind() == family);
        let only = of_family.next();
        match (only, of_family.all(|s| Some(s) == only)) {
            (Some(alg), true) => Some(alg),
            _ => Some(default),
        }
    }

    /// The key to verify `alg` with, when this key is bound to it.
    fn for_alg(&self, alg: SigAlg, allowed: &[Alg]) -> Option<&VerifyKey> {
        (self.bound(allowed) == Some(alg))
            .then(|| self.variants.iter().find(|k| k.alg() == alg))
            .flatten()
    }
}

/// What reading a JWK Set did: how many keys it added, and which it skipped and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwksReport {
    /// Keys added.
    pub added: usize,
    /// Keys skipped: `kid` (or `"without kid"`) and the reason.
    pub skipped: Vec<(String, Skip)>,
}

/// The keys tokens may be signed with.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self
            .keys
            .iter()
            .map(|k| (k.declared.map(Alg::name), k.kid.as_deref()))
            .collect();
        f.debug_struct("KeySet").field("keys", &kids).finish()
    }
}

impl KeySet {
    /// Number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds an HS256 secret (no `kid`: it matches tokens with any or no `kid`).
    ///
    /// # Errors
    /// [`KeyError::WeakSecret`] under 32 bytes; [`KeyError::TooManyKeys`].
    pub fn add_hs256_secret(&mut self, secret: &[u8]) -> Result<(), KeyError> {
        if secret.len() < MIN_HMAC_SECRET_BYTES {
            return Err(KeyError::WeakSecret);
        }
        self.push(VerifyingKey {
            kid: None,
            declared: Some(Alg::HS256),
            variants: vec![VerifyKey::hmac_sha256(secret)],
        })
    }

    /// Adds the signature keys of an operator-written JWKS document (`JWT_JWKS`).
    ///
    /// Keys of a kind this verifier does not implement, keys marked `"use":"enc"` or whose
    /// `key_ops` lack `verify` are skipped and reported (a set may list them); a key of a
    /// supported kind with broken material is an error, because it is the operator's
    /// mistake. A key's algorithm is its `alg`, or derived as [`KeySet::candidates`] says.
    ///
    /// # Errors
    /// [`KeyError`] for a malformed or oversized document, too many keys, or a supported
    /// key whose material is unusable (short secret, RSA under 2048 bits, bad encoding).
    pub fn add_jwks(&mut self, document: &[u8]) -> Result<JwksReport, KeyError> {
        self.add_jwks_keys(document, true)
    }

    /// Adds the *asymmetric* signature keys of a JWKS document fetched from an identity
    /// provider. Every key that cannot be used — an `oct` (HMAC) key (a secret published at
    /// a URL is no secret, and accepting one would let anyone who can read or spoof the
    /// document mint tokens), an encryption key, an unsupported curve or type, a weak or
    /// malformed key — is skipped and reported, and never spoils the others.
    ///
    /// # Errors
    /// [`KeyError::MalformedJwks`] for a document that is not a JWK Set or is oversized;
    /// [`KeyError::TooManyKeys`].
    pub fn add_remote_jwks(&mut self, document: &[u8]) -> Result<JwksReport, KeyError> {
        self.add_jwks_keys(document, false)
    }

    fn add_jwks_keys(&mut self, document: &[u8], local: bool) -> Result<JwksReport, KeyError> {
        if document.len() > MAX_JWKS_BYTES {
            return Err(KeyError::MalformedJwks);
        }
        let Ok(Value::Object(mut set)) = serde_json::from_slice::<Value>(document) else {
            return Err(KeyError::MalformedJwks);
        };
        let Some(Value::Array(entries)) = set.remove("keys") else {
            return Err(KeyError::MalformedJwks);
        };
        let mut report = JwksReport::default();
        for entry in &entries {
            let jwk = match jwk::read(entry, local) {
                Ok(jwk) => jwk,
                Err(skip) => {
                    let kid = entry.get("kid").and_then(Value::as_str);
                    let name = kid.unwrap_or("without kid").to_owned();
                    if local && skip.is_invalid() {
                        return Err(KeyError::InvalidKey(name));
                    }
                    report.skipped.push((name, skip));
                    continue;
                }
            };
            let variants = match (jwk.alg, jwk.curve_alg) {
                (Some(alg), _) => vec![alg.sig_alg()],
                (None, Some(curve)) => vec![curve],
                (None, None) => SigAlg::ALL.to_vec(),
            };
            let variants: Vec<VerifyKey> = variants
                .into_iter()
                .filter(|alg| {
                    // An undeclared secret serves only the hashes it is long enough for.
                    alg.hmac_tag_bytes()
                        .is_none_or(|least| match &jwk.material {
                            KeyMaterial::Secret(k) => k.len() >= least.max(MIN_HMAC_SECRET_BYTES),
                            _ => true,
                        })
                })
                .filter_map(|alg| VerifyKey::from_parts(alg, jwk.material.clone()))
                .collect();
            self.push(VerifyingKey {
                kid: jwk.kid,
                declared: jwk.alg,
                variants,
            })?;
            report.added += 1;
        }
        Ok(report)
    }

    /// Adds every key of `other` (e.g. remote JWKS keys to the configured ones).
    ///
    /// # Errors
    /// [`KeyError::TooManyKeys`] when the union would exceed [`MAX_KEYS`].
    pub fn extend_from(&mut self, other: &KeySet) -> Result<(), KeyError> {
        for key in &other.keys {
            self.push(key.clone())?;
        }
        Ok(())
    }

    /// Whether a key with this `kid` exists (the worker refreshes a JWKS when it does not).
    #[must_use]
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    fn push(&mut self, key: VerifyingKey) -> Result<(), KeyError> {
        if self.keys.len() >= MAX_KEYS {
            return Err(KeyError::TooManyKeys);
        }
        self.keys.push(key);
        Ok(())
    }

    /// The keys to try for a token of `alg` (on the allow-list `allowed`) and `kid`.
    ///
    /// A key is a candidate only for the one primitive it is bound to: its JWK `alg`; else
    /// its curve (P-256: ES256, P-384: ES384, Ed25519: `EdDSA`/`Ed25519`, one primitive
    /// under two names); else, for an RSA key or a secret, which could serve several, the
    /// only algorithm of that family on the allow-list if there is exactly one, otherwise
    /// RS256 / HS256 (what such keys have always meant). So an RSA key without `alg` never
    /// verifies both RS256 and PS256: with both allowed it is an RS256 key, and a PS256
    /// key needs `"alg":"PS256"` (or an allow-list whose only RSA algorithm is PS256).
    ///
    /// Among the bound keys: those with the token's `kid` and those without any `kid`; a
    /// token without `kid` when none is `kid`-less gets the one bound key if there is
    /// exactly one (a provider that publishes a single key and leaves `kid` out of its
    /// tokens).
    fn candidates(&self, alg: Alg, kid: Option<&str>, allowed: &[Alg]) -> Vec<&VerifyKey> {
        let sig = alg.sig_alg();
        let bound = || {
            self.keys
                .iter()
                .filter_map(move |k| k.for_alg(sig, allowed).map(|v| (k.kid.as_deref(), v)))
        };
        let chosen: Vec<&VerifyKey> = bound()
            .filter(|(k, _)| k.is_none() || *k == kid)
            .map(|(_, v)| v)
            .take(MAX_CANDIDATES)
            .collect();
        if chosen.is_empty() && kid.is_none() {
            let mut all = bound();
            if let (Some((_, only)), None) = (all.next(), all.next()) {
                return vec![only];
            }
        }
        chosen
    }
}

/// What a token must satisfy beyond its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtPolicy {
    /// Allowed algorithms.
    pub algorithms: Vec<Alg>,
    /// Required `iss`, if any.
    pub issuer: Option<String>,
    /// Required member of `aud`, if any. When unset, a token that has an `aud` is refused
    /// (RFC 7519 §4.1.3: the recipient must find itself in it).
    pub audience: Option<String>,
    /// Clock leeway for `exp`, `nbf` and `iat`, seconds (at most [`MAX_LEEWAY_S`]).
    pub leeway_s: u64,
    /// Rate limit of each token subject, if any.
    pub rate_limit: Option<RateLimitPolicy>,
    /// Which claims hold the user id, role, permissions and audience.
    pub claims: ClaimsMapping,
}

impl JwtPolicy {
    /// Parses the comma-separated allow-list (`HS256,RS256,ES256,EdDSA`, any of
    /// [`Alg::ALL`]).
    ///
    /// # Errors
    /// `Err(name)` with the first unsupported name (`none` included).
    pub fn parse_algorithms(list: &str) -> Result<Vec<Alg>, String> {
        crate::list::items(list)
            .map(|s| Alg::parse(s).ok_or_else(|| s.to_owned()))
            .collect()
    }
}

/// The verified parts of a token the worker needs besides the identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The algorithm.
    pub alg: Alg,
    /// The key id, if any.
    pub kid: Option<String>,
}

/// Reads a token's header without verifying anything, to learn its `kid` (e.g. to decide
/// whether a JWKS refresh could help).
///
/// # Errors
/// As the shape and header steps of [`verify`].
pub fn peek_header(token: &str, policy: &JwtPolicy) -> Result<Header, AuthError> {
    let parts = split(token)?;
    parse_header(parts[0], policy)
}

/// Verifies `token` at `now_s` with the core's [`RustVerifier`] and returns the identity
/// it proves.
///
/// # Errors
/// The [`AuthError`] of the first step that failed; see the module docs.
pub fn verify(
    token: &str,
    keys: &KeySet,
    policy: &JwtPolicy,
    now_s: u64,
) -> Result<Identity, AuthError> {
    let pending = prepare(token, keys, policy)?;
    let verified = pending.verify_with(&RustVerifier);
    pending.finish_claims(verified, policy, now_s)
}

/// Steps 1–4 of [`verify`] with the [`RustVerifier`]: returns the verified payload bytes,
/// whatever they hold.
///
/// # Errors
/// As those steps of [`verify`].
pub fn verify_signature(
    token: &str,
    keys: &KeySet,
    policy: &JwtPolicy,
) -> Result<Vec<u8>, AuthError> {
    let pending = prepare(token, keys, policy)?;
    let verified = pending.verify_with(&RustVerifier);
    pending.finish(verified)
}

/// Steps 1–3 of [`verify`]: the token's shape, header and candidate keys, and what a
/// verifier must check. No signature is verified yet.
///
/// # Errors
/// As those steps of [`verify`]; [`AuthError::UnknownKey`] when no key is a candidate.
pub fn prepare<'k>(
    token: &str,
    keys: &'k KeySet,
    policy: &JwtPolicy,
) -> Result<Pending<'k>, AuthError> {
    let parts = split(token)?;
    let header = parse_header(parts[0], policy)?;
    let payload = URL_SAFE_NO_PAD
        .decode(parts[1])
        .map_err(|_| AuthError::TokenMalformed)?;
    let candidates = keys.candidates(header.alg, header.kid.as_deref(), &policy.algorithms);
    if candidates.is_empty() {
        return Err(AuthError::UnknownKey);
    }
    // A signature that is not base64url decodes to nothing any key verifies.
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).ok();
    Ok(Pending {
        message: token.as_bytes()[..parts[0].len() + 1 + parts[1].len()].to_vec(),
        signature,
        payload,
        candidates,
        header,
    })
}

/// A token whose shape, header and candidate keys passed, waiting for its signature check.
#[derive(Debug)]
#[must_use]
pub struct Pending<'k> {
    message: Vec<u8>,
    signature: Option<Vec<u8>>,
    payload: Vec<u8>,
    candidates: Vec<&'k VerifyKey>,
    header: Header,
}

impl<'k> Pending<'k> {
    /// The keys to try, in order (at least one); the token is valid if any verifies.
    #[must_use]
    pub fn candidates(&self) -> &[&'k VerifyKey] {
        &self.candidates
    }

    /// The signing input: `base64url(header) "." base64url(payload)`.
    #[must_use]
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The signature bytes, or `None` when they are not base64url (nothing verifies).
    #[must_use]
    pub fn signature(&self) -> Option<&[u8]> {
        self.signature.as_deref()
    }

    /// The verified header.
    #[must_use]
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Runs `verifier` over the candidates in order; whether any verified.
    #[must_use]
    pub fn verify_with(&self, verifier: &impl SignatureVerifier) -> bool {
        self.signature.as_deref().is_some_and(|sig| {
            self.candidates
                .iter()
                .any(|key| verifier.verify(key, &self.message, sig))
        })
    }

    /// Step 4's outcome: the payload bytes when a candidate verified the signature.
    ///
    /// # Errors
    /// [`AuthError::SignatureInvalid`] when none did.
    pub fn finish(self, verified: bool) -> Result<Vec<u8>, AuthError> {
        if verified {
            Ok(self.payload)
        } else {
            Err(AuthError::SignatureInvalid)
        }
    }

    /// Steps 4 and 5: the identity the token proves at `now_s`.
    ///
    /// # Errors
    /// As [`Pending::finish`], then the claim checks of [`verify`].
    pub fn finish_claims(
        self,
        verified: bool,
        policy: &JwtPolicy,
        now_s: u64,
    ) -> Result<Identity, AuthError> {
        let payload = self.finish(verified)?;
        let claims = match serde_json::from_slice::<Value>(&payload) {
            Ok(Value::Object(map)) => map,
            _ => return Err(AuthError::TokenMalformed),
        };
        check_claims(&claims, policy, now_s)
    }
}

fn split(token: &str) -> Result<[&str; 3], AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TokenTooLarge);
    }
    let mut it = token.split('.');
    let parts = [it.next(), it.next(), it.next()];
    let [Some(h), Some(p), Some(s)] = parts else {
        return Err(AuthError::TokenMalformed);
    };
    let b64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if it.next().is_some() || h.is_empty() || !b64url(h) || !b64url(p) || !b64url(s) {
        return Err(AuthError::TokenMalformed);
    }
    Ok([h, p, s])
}

fn parse_header(encoded: &str, policy: &JwtPolicy) -> Result<Header, AuthError> {
    let raw = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| AuthError::TokenMalformed)?;
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&raw) else {
        return Err(AuthError::TokenMalformed);
    };
    let alg = map
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(AuthError::TokenMalformed)?;
    let alg = Alg::parse(alg)
        .filter(|a| policy.algorithms.contains(a))
        .ok_or(AuthError::AlgorithmNotAllowed)?;
    if map.contains_key("crit") {
        return Err(AuthError::TokenMalformed);
    }
    let kid = match map.get("kid") {
        None => None,
        Some(Value::String(k)) if !k.is_empty() && k.len() <= 256 => Some(k.clone()),
        Some(_) => return Err(AuthError::TokenMalformed),
    };
    Ok(Header { alg, kid })
}

fn check_claims(
    claims: &Map<String, Value>,
    policy: &JwtPolicy,
    now_s: u64,
) -> Result<Identity, AuthError> {
    let now = now_s as f64;
    let leeway = policy.leeway_s.min(MAX_LEEWAY_S) as f64;
    let exp = numeric_date(claims, "exp")?.ok_or(AuthError::InvalidClaim { field: "exp" })?;
    if now >= exp + leeway {
        return Err(AuthError::TokenExpired);
    }
    if numeric_date(claims, "nbf")?.is_some_and(|nbf| now + leeway < nbf) {
        return Err(AuthError::TokenNotYetValid);
    }
    if numeric_date(claims, "iat")?.is_some_and(|iat| iat > now + leeway) {
        return Err(AuthError::InvalidClaim { field: "iat" });
    }
    if let Some(issuer) = &policy.issuer
        && claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str())
    {
        return Err(AuthError::IssuerMismatch);
    }
    check_audience(claims, &policy.claims, policy.audience.as_deref())?;
    let subject = policy.claims.subject(claims)?;
    let grants = policy.claims.grants(claims);
    Ok(Identity {
        subject,
        method: AuthMethod::Jwt,
        role: grants.role,
        permissions: grants.permissions,
        key_id: None,
        authenticated_at_s: now_s,
        rate_limit: policy.rate_limit,
        ignored_values: grants.ignored,
    })
}

/// A NumericDate claim: absent, or a finite non-negative JSON number.
fn numeric_date(
    claims: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<f64>, AuthError> {
    match claims.get(field) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(Some)
            .ok_or(AuthError::InvalidClaim { field }),
    }
}

/// With an expected audience, one of the mapping's audience claims must list it; without
/// one, a token that names an `aud` is refused (RFC 7519 §4.1.3).
fn check_audience(
    claims: &Map<String, Value>,
    mapping: &ClaimsMapping,
    expected: Option<&str>,
) -> Result<(), AuthError> {
    match expected {
        None if !claims.contains_key("aud") => Ok(()),
        Some(want) if mapping.audience_lists(claims, want) => Ok(()),
        _ => Err(AuthError::AudienceMismatch),
    }
}

#[cfg(test)]
mod tests;
