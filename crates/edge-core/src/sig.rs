//! Signature verification, split so the core decides everything but the primitive.
//!
//! A caller (the JWT verifier, the Discord check) works out *what* to verify — the
//! algorithm, the candidate keys in order, the signed bytes and the signature bytes — and
//! a [`SignatureVerifier`] answers whether one signature verifies under one key. The core
//! ships the pure-Rust reference, [`RustVerifier`], which native tests and the vector
//! suites run against; the workers verify with WebCrypto (`edge_glue::webcrypto`), using
//! the [`WebCryptoAlg`] parameters defined here, and take the Rust path only where
//! [`SigAlg::backend`] says it is cheaper.
//!
//! Both paths call [`precheck`] first, so the structural rules (tag and signature
//! lengths, canonical Ed25519 scalars, no small-order Ed25519 points) are the core's, not
//! whichever library happens to run: ed25519-dalek's `verify_strict` and BoringSSL
//! disagree on small-order points, and this makes them agree.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// A signature primitive, with its hash (and curve) bound in.
///
/// New rows go at the end: the discriminant is part of a key's [`KeyId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigAlg {
    /// HMAC with SHA-256 over a shared secret; the tag is the full 32 bytes.
    HmacSha256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §8.2).
    RsaPkcs1Sha256,
    /// Ed25519 (RFC 8032), verified strictly (see [`precheck`]).
    Ed25519,
    /// HMAC with SHA-384; the tag is the full 48 bytes.
    HmacSha384,
    /// HMAC with SHA-512; the tag is the full 64 bytes.
    HmacSha512,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, salt of 32 bytes (RFC 7518 §3.5).
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, salt of 48 bytes.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512, salt of 64 bytes.
    RsaPssSha512,
    /// ECDSA on P-256 with SHA-256; the signature is `r || s`, 32 bytes each (IEEE P1363,
    /// RFC 7518 §3.4), never DER.
    EcdsaP256Sha256,
    /// ECDSA on P-384 with SHA-384; `r || s`, 48 bytes each.
    EcdsaP384Sha384,
}

/// The kind of key material a [`SigAlg`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A shared secret.
    Secret,
    /// An RSA public key.
    Rsa,
    /// An uncompressed elliptic-curve point of this many bytes per coordinate.
    Ec(usize),
    /// An Ed25519 public key.
    Ed25519,
}

/// Where a primitive runs on the worker side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// In wasm, with the core's [`RustVerifier`]: cheaper than an async crossing.
    Rust,
    /// In the runtime's WebCrypto (`crypto.subtle.verify`) with a cached `CryptoKey`.
    WebCrypto,
}

/// How key material is handed to WebCrypto's `importKey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// The key bytes as they are (`"raw"`): HMAC secrets, Ed25519 public keys, uncompressed
    /// EC points.
    Raw,
    /// A JSON Web Key (`"jwk"`): RSA public keys, from [`VerifyKey::rsa_jwk`].
    Jwk,
}

impl KeyFormat {
    /// The `format` argument of `importKey`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Jwk => "jwk",
        }
    }
}

/// The WebCrypto parameters of a [`SigAlg`]: what `importKey` and `verify` are given.
///
/// Every optional member is set on the algorithm object only when present, so a new
/// algorithm (RSA-PSS's `saltLength`, ECDSA's `namedCurve` and verify-time `hash`) is a
/// new row in [`SigAlg::webcrypto`], not a new shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebCryptoAlg {
    /// The algorithm's `name` (`HMAC`, `RSASSA-PKCS1-v1_5`, `Ed25519`).
    pub name: &'static str,
    /// The `hash` given to `importKey` (HMAC, RSA), if any.
    pub import_hash: Option<&'static str>,
    /// The `namedCurve` given to `importKey` (ECDSA), if any.
    pub named_curve: Option<&'static str>,
    /// The `hash` given to `verify` (ECDSA), if any.
    pub verify_hash: Option<&'static str>,
    /// The `saltLength` given to `verify` (RSA-PSS), if any.
    pub salt_length: Option<u32>,
    /// The key format `importKey` reads.
    pub format: KeyFormat,
}

impl SigAlg {
    /// The WebCrypto parameters of this primitive.
    #[must_use]
    pub fn webcrypto(self) -> WebCryptoAlg {
        let base = WebCryptoAlg {
            name: "",
            import_hash: None,
            named_curve: None,
            verify_hash: None,
            salt_length: None,
            format: KeyFormat::Raw,
        };
        let hmac = |hash| WebCryptoAlg {
            name: "HMAC",
            import_hash: Some(hash),
            ..base
        };
        let pkcs1 = |hash| WebCryptoAlg {
            name: "RSASSA-PKCS1-v1_5",
            import_hash: Some(hash),
            format: KeyFormat::Jwk,
            ..base
        };
        let pss = |hash, salt| WebCryptoAlg {
            name: "RSA-PSS",
            import_hash: Some(hash),
            salt_length: Some(salt),
            format: KeyFormat::Jwk,
            ..base
        };
        let ecdsa = |curve, hash| WebCryptoAlg {
            name: "ECDSA",
            named_curve: Some(curve),
            verify_hash: Some(hash),
            ..base
        };
        match self {
            Self::HmacSha256 => hmac("SHA-256"),
            Self::HmacSha384 => hmac("SHA-384"),
            Self::HmacSha512 => hmac("SHA-512"),
            Self::RsaPkcs1Sha256 => pkcs1("SHA-256"),
            Self::RsaPkcs1Sha384 => pkcs1("SHA-384"),
            Self::RsaPkcs1Sha512 => pkcs1("SHA-512"),
            Self::RsaPssSha256 => pss("SHA-256", 32),
            Self::RsaPssSha384 => pss("SHA-384", 48),
            Self::RsaPssSha512 => pss("SHA-512", 64),
            Self::EcdsaP256Sha256 => ecdsa("P-256", "SHA-256"),
            Self::EcdsaP384Sha384 => ecdsa("P-384", "SHA-384"),
            Self::Ed25519 => WebCryptoAlg {
                name: "Ed25519",
                ..base
            },
        }
    }

    /// Every primitive, in [`KeyId`] order.
    pub const ALL: [Self; 12] = [
        Self::HmacSha256,
        Self::RsaPkcs1Sha256,
        Self::Ed25519,
        Self::HmacSha384,
        Self::HmacSha512,
        Self::RsaPkcs1Sha384,
        Self::RsaPkcs1Sha512,
        Self::RsaPssSha256,
        Self::RsaPssSha384,
        Self::RsaPssSha512,
        Self::EcdsaP256Sha256,
        Self::EcdsaP384Sha384,
    ];

    /// The kind of key material this primitive takes.
    #[must_use]
    pub const fn kind(self) -> KeyKind {
        match self {
            Self::HmacSha256 | Self::HmacSha384 | Self::HmacSha512 => KeyKind::Secret,
            Self::RsaPkcs1Sha256
            | Self::RsaPkcs1Sha384
            | Self::RsaPkcs1Sha512
            | Self::RsaPssSha256
            | Self::RsaPssSha384
            | Self::RsaPssSha512 => KeyKind::Rsa,
            Self::EcdsaP256Sha256 => KeyKind::Ec(32),
            Self::EcdsaP384Sha384 => KeyKind::Ec(48),
            Self::Ed25519 => KeyKind::Ed25519,
        }
    }

    /// Length of a full HMAC tag (the hash's output), bytes; `None` but for HMAC.
    #[must_use]
    pub const fn hmac_tag_bytes(self) -> Option<usize> {
        match self {
            Self::HmacSha256 => Some(32),
            Self::HmacSha384 => Some(48),
            Self::HmacSha512 => Some(64),
            _ => None,
        }
    }

    /// Where the worker verifies this primitive over a message of `message_len` bytes,
    /// chosen by measurement (DESIGN.md, "Native crypto"): RSA and Ed25519 cost
    /// milliseconds / hundreds of microseconds in wasm and tens in WebCrypto; HMAC-SHA256
    /// costs ~7–15 µs in wasm up to [`HMAC_IN_WASM_MAX_BYTES`] (less than the async crossing
    /// to WebCrypto, ~20–30 µs), but wasm hashes at ~50 MB/s, so larger messages (LINE
    /// bodies) go to WebCrypto (64 KB: ~1.4 ms in wasm, ~0.1 ms in WebCrypto).
    #[must_use]
    pub const fn backend(self, message_len: usize) -> Backend {
        match self.kind() {
            KeyKind::Secret if message_len <= HMAC_IN_WASM_MAX_BYTES => Backend::Rust,
            _ => Backend::WebCrypto,
        }
    }
}

/// Longest message whose HMAC the worker computes in wasm rather than in WebCrypto.
pub const HMAC_IN_WASM_MAX_BYTES: usize = 1024;

/// A key's identity: SHA-256 over its algorithm and material. Equal material under the
/// same algorithm is the same key, so caches of parsed keys are keyed by it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 32]);

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A digest of a secret is still not printed whole.
        write!(f, "KeyId({})", crate::hex::encode(&self.0[..4]))
    }
}

/// The material of a verification key.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// An HMAC secret.
    Secret(Vec<u8>),
    /// An RSA public key: modulus and public exponent, big-endian, no leading zeros.
    Rsa {
        /// The modulus.
        n: Vec<u8>,
        /// The public exponent.
        e: Vec<u8>,
    },
    /// An Ed25519 public key.
    Ed25519([u8; 32]),
    /// An elliptic-curve public key as its uncompressed point, `0x04 || x || y` (SEC 1
    /// §2.3.3), each coordinate the curve's field size.
    Ec(Vec<u8>),
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret(..)"),
            Self::Rsa { n, .. } => write!(f, "Rsa({} bits)", rsa_bits(n)),
            Self::Ed25519(k) => write!(f, "Ed25519({})", crate::hex::encode(k)),
            Self::Ec(p) => write!(f, "Ec({})", crate::hex::encode(p)),
        }
    }
}

/// One verification key, bound to one primitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyKey {
    alg: SigAlg,
    material: KeyMaterial,
    id: KeyId,
}

/// An RSA public key as the members of a JWK (base64url, no padding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaJwk {
    /// `n`.
    pub n: String,
    /// `e`.
    pub e: String,
}

fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b[first..].to_vec()
}

/// Bit length of a big-endian unsigned integer.
#[must_use]
pub fn rsa_bits(n: &[u8]) -> usize {
    let n = &n[n.iter().position(|&x| x != 0).unwrap_or(n.len())..];
    n.len() * 8 - n.first().map_or(0, |b| b.leading_zeros() as usize)
}

impl VerifyKey {
    fn new(alg: SigAlg, material: KeyMaterial) -> Self {
        let mut h = Sha256::new();
        h.update(b"edge-workers/verify-key/v1\0");
        h.update([alg as u8]);
        match &material {
            KeyMaterial::Secret(s) => h.update(s),
            KeyMaterial::Rsa { n, e } => {
                h.update((n.len() as u64).to_be_bytes());
                h.update(n);
                h.update(e);
            }
            KeyMaterial::Ed25519(k) => h.update(k),
            KeyMaterial::Ec(p) => h.update(p),
        }
        Self {
            alg,
            material,
            id: KeyId(h.finalize().into()),
        }
    }

    /// An HMAC-SHA256 key (the caller enforces any minimum length).
    #[must_use]
    pub fn hmac_sha256(secret: &[u8]) -> Self {
        Self::new(SigAlg::HmacSha256, KeyMaterial::Secret(secret.to_vec()))
    }

    /// An RSASSA-PKCS1-v1_5 SHA-256 key from its modulus and exponent (big-endian; leading
    /// zeros are dropped). The caller enforces any minimum size.
    #[must_use]
    pub fn rsa_pkcs1_sha256(n: &[u8], e: &[u8]) -> Self {
        Self::new(
            SigAlg::RsaPkcs1Sha256,
            KeyMaterial::Rsa {
                n: strip_zeros(n),
                e: strip_zeros(e),
            },
        )
    }

    /// An Ed25519 public key.
    #[must_use]
    pub fn ed25519(public: [u8; 32]) -> Self {
        Self::new(SigAlg::Ed25519, KeyMaterial::Ed25519(public))
    }

    /// A key for `alg` from material of the kind it takes (RSA: leading zeros dropped; EC:
    /// the uncompressed point of the curve's size), or `None` when they do not fit. Whether
    /// an EC point is on its curve is the primitive's check (an off-curve key verifies
    /// nothing); minimum sizes are the caller's.
    #[must_use]
    pub fn from_parts(alg: SigAlg, material: KeyMaterial) -> Option<Self> {
        let material = match (alg.kind(), material) {
            (KeyKind::Secret, m @ KeyMaterial::Secret(_))
            | (KeyKind::Ed25519, m @ KeyMaterial::Ed25519(_)) => m,
            (KeyKind::Rsa, KeyMaterial::Rsa { n, e }) => KeyMaterial::Rsa {
                n: strip_zeros(&n),
                e: strip_zeros(&e),
            },
            (KeyKind::Ec(size), KeyMaterial::Ec(p))
                if p.len() == 1 + 2 * size && p.first() == Some(&4) =>
            {
                KeyMaterial::Ec(p)
            }
            _ => return None,
        };
        Some(Self::new(alg, material))
    }

    /// The primitive this key is for.
    #[must_use]
    pub fn alg(&self) -> SigAlg {
        self.alg
    }

    /// The key material.
    #[must_use]
    pub fn material(&self) -> &KeyMaterial {
        &self.material
    }

    /// The key's identity (what caches of imported keys are keyed by).
    #[must_use]
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The bytes `importKey` takes in [`KeyFormat::Raw`] (`None` for RSA).
    #[must_use]
    pub fn raw(&self) -> Option<&[u8]> {
        match &self.material {
            KeyMaterial::Secret(s) => Some(s),
            KeyMaterial::Ed25519(k) => Some(k),
            KeyMaterial::Ec(p) => Some(p),
            KeyMaterial::Rsa { .. } => None,
        }
    }

    /// The JWK members `importKey` takes in [`KeyFormat::Jwk`] (`None` but for RSA).
    #[must_use]
    pub fn rsa_jwk(&self) -> Option<RsaJwk> {
        match &self.material {
            KeyMaterial::Rsa { n, e } => Some(RsaJwk {
                n: URL_SAFE_NO_PAD.encode(n),
                e: URL_SAFE_NO_PAD.encode(e),
            }),
            _ => None,
        }
    }
}

/// Answers whether `signature` is a valid signature of `message` under `key`.
///
/// Implementations call [`precheck`] first; a key or signature the primitive cannot use
/// is a `false`, never a panic or an error.
pub trait SignatureVerifier {
    /// Whether the signature verifies.
    fn verify(&self, key: &VerifyKey, message: &[u8], signature: &[u8]) -> bool;
}

/// The pure-Rust reference: `hmac` (constant-time compare), jsonwebtoken's rust_crypto RSA
/// (PKCS#1 v1.5 and PSS) and ECDSA (p256, p384), ed25519-dalek's `verify_strict`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustVerifier;

impl SignatureVerifier for RustVerifier {
    fn verify(&self, key: &VerifyKey, message: &[u8], signature: &[u8]) -> bool {
        if !precheck(key, signature) {
            return false;
        }
        match &key.material {
            KeyMaterial::Secret(secret) => hmac_matches(key.alg, secret, message, signature),
            KeyMaterial::Rsa { n, e } => jsonwebtoken_verify(
                key.alg,
                &jsonwebtoken::DecodingKey::from_rsa_raw_components(n, e),
                message,
                signature,
            ),
            KeyMaterial::Ec(point) => {
                let size = (point.len() - 1) / 2;
                let (x, y) = point[1..].split_at(size);
                jsonwebtoken::DecodingKey::from_ec_components(
                    &URL_SAFE_NO_PAD.encode(x),
                    &URL_SAFE_NO_PAD.encode(y),
                )
                .is_ok_and(|decoding| jsonwebtoken_verify(key.alg, &decoding, message, signature))
            }
            KeyMaterial::Ed25519(public) => {
                let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public) else {
                    return false;
                };
                let Ok(sig) = <[u8; 64]>::try_from(signature) else {
                    return false;
                };
                key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
                    .is_ok()
            }
        }
    }
}

/// jsonwebtoken's rust_crypto verification of an RSA or ECDSA signature.
fn jsonwebtoken_verify(
    alg: SigAlg,
    key: &jsonwebtoken::DecodingKey,
    message: &[u8],
    signature: &[u8],
) -> bool {
    use jsonwebtoken::Algorithm as A;
    let alg = match alg {
        SigAlg::RsaPkcs1Sha256 => A::RS256,
        SigAlg::RsaPkcs1Sha384 => A::RS384,
        SigAlg::RsaPkcs1Sha512 => A::RS512,
        SigAlg::RsaPssSha256 => A::PS256,
        SigAlg::RsaPssSha384 => A::PS384,
        SigAlg::RsaPssSha512 => A::PS512,
        SigAlg::EcdsaP256Sha256 => A::ES256,
        SigAlg::EcdsaP384Sha384 => A::ES384,
        SigAlg::HmacSha256 | SigAlg::HmacSha384 | SigAlg::HmacSha512 | SigAlg::Ed25519 => {
            return false;
        }
    };
    jsonwebtoken::crypto::verify(&URL_SAFE_NO_PAD.encode(signature), message, key, alg)
        .unwrap_or(false)
}

/// Whether `tag` is the full HMAC of `message` under `key` with `alg`'s hash, compared in
/// constant time. A truncated tag, or an `alg` that is not HMAC, never matches.
#[must_use]
pub fn hmac_matches(alg: SigAlg, key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    fn check<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
        let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
            return false;
        };
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }
    if alg.hmac_tag_bytes() != Some(tag.len()) {
        return false;
    }
    match alg {
        SigAlg::HmacSha256 => check::<Hmac<Sha256>>(key, message, tag),
        SigAlg::HmacSha384 => check::<Hmac<sha2::Sha384>>(key, message, tag),
        SigAlg::HmacSha512 => check::<Hmac<sha2::Sha512>>(key, message, tag),
        _ => false,
    }
}

/// Whether `tag` is the full HMAC-SHA256 of `message` under `key`, compared in constant
/// time (`hmac`'s `verify_slice`, built on `subtle`). A truncated tag never matches.
#[must_use]
pub fn hmac_sha256_matches(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    hmac_matches(SigAlg::HmacSha256, key, message, tag)
}

/// The HMAC-SHA256 tag of the concatenation of `parts` under `key` (any key length).
#[must_use]
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; HMAC_SHA256_TAG_BYTES] {
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(key)
        .expect("hmac takes any key length");
    for part in parts {
        hmac::Mac::update(&mut mac, part);
    }
    hmac::Mac::finalize(mac).into_bytes().into()
}

/// Length of an HMAC-SHA256 tag, bytes.
pub const HMAC_SHA256_TAG_BYTES: usize = 32;
/// Length of an Ed25519 signature, bytes.
pub const ED25519_SIGNATURE_BYTES: usize = 64;

/// The group order L of Ed25519, little-endian (RFC 8032 §5.1).
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// Encodings (sign bit ignored) of the points of small order, canonical or not: libsodium's
/// `ge25519_has_small_order` list (0, 1, the two of order 8, p − 1, p, p + 1).
const SMALL_ORDER: [[u8; 32]; 7] = [
    [0; 32],
    {
        let mut one = [0; 32];
        one[0] = 1;
        one
    },
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    p_plus(0xec),
    p_plus(0xed),
    p_plus(0xee),
];

/// p − 1, p or p + 1 (little-endian) from its lowest byte.
const fn p_plus(low: u8) -> [u8; 32] {
    let mut v = [0xff; 32];
    v[0] = low;
    v[31] = 0x7f;
    v
}

/// Whether a point encoding is that of a small-order point (the sign bit is ignored).
#[must_use]
pub fn ed25519_small_order(encoding: &[u8; 32]) -> bool {
    SMALL_ORDER
        .iter()
        .any(|bad| bad[..31] == encoding[..31] && bad[31] == encoding[31] & 0x7f)
}

/// Whether the little-endian scalar `s` is below the group order (canonical).
fn ed25519_canonical_scalar(s: &[u8]) -> bool {
    for i in (0..32).rev() {
        if s[i] != ED25519_L[i] {
            return s[i] < ED25519_L[i];
        }
    }
    false
}

/// The structural rules every backend applies before the primitive: an HMAC tag is the full
/// hash output (32, 48 or 64 bytes); an ECDSA signature is `r || s` of twice the field size
/// with neither half zero; an RSA signature is exactly the modulus's length (RFC 8017 §8.2.2); an Ed25519
/// signature is 64 bytes with a canonical `S`, and neither the key nor `R` is a small-order
/// point (what ed25519-dalek's `verify_strict` refuses and BoringSSL would accept).
#[must_use]
pub fn precheck(key: &VerifyKey, signature: &[u8]) -> bool {
    match &key.material {
        KeyMaterial::Secret(_) => key.alg.hmac_tag_bytes() == Some(signature.len()),
        KeyMaterial::Rsa { n, .. } => signature.len() == n.len() && !n.is_empty(),
        // `r || s`, each exactly the field size (a DER `SEQUENCE` is another length, or not
        // two in-range integers), neither zero.
        KeyMaterial::Ec(point) => {
            let size = (point.len() - 1) / 2;
            signature.len() == 2 * size
                && signature[..size].iter().any(|&b| b != 0)
                && signature[size..].iter().any(|&b| b != 0)
        }
        KeyMaterial::Ed25519(public) => {
            let Ok(sig) = <&[u8; ED25519_SIGNATURE_BYTES]>::try_from(signature) else {
                return false;
            };
            let mut r = [0u8; 32];
            r.copy_from_slice(&sig[..32]);
            !ed25519_small_order(public)
                && !ed25519_small_order(&r)
                && ed25519_canonical_scalar(&sig[32..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webcrypto_parameters_per_algorithm() {
        let h = SigAlg::HmacSha256.webcrypto();
        assert_eq!(
            (h.name, h.import_hash, h.format),
            ("HMAC", Some("SHA-256"), KeyFormat::Raw)
        );
        let r = SigAlg::RsaPkcs1Sha256.webcrypto();
        assert_eq!(
            (r.name, r.import_hash, r.format),
            ("RSASSA-PKCS1-v1_5", Some("SHA-256"), KeyFormat::Jwk)
        );
        let e = SigAlg::Ed25519.webcrypto();
        assert_eq!(
            (e.name, e.import_hash, e.format),
            ("Ed25519", None, KeyFormat::Raw)
        );
        assert_eq!(SigAlg::HmacSha256.backend(300), Backend::Rust);
        assert_eq!(SigAlg::HmacSha256.backend(1025), Backend::WebCrypto);
        assert_eq!(SigAlg::Ed25519.backend(0), Backend::WebCrypto);
        assert_eq!(SigAlg::RsaPkcs1Sha256.backend(0), Backend::WebCrypto);
    }

    #[test]
    fn key_identity_is_algorithm_and_material() {
        let a = VerifyKey::hmac_sha256(&[1; 32]);
        assert_eq!(a.id(), VerifyKey::hmac_sha256(&[1; 32]).id());
        assert_ne!(a.id(), VerifyKey::hmac_sha256(&[2; 32]).id());
        assert_ne!(
            VerifyKey::ed25519([1; 32]).id(),
            VerifyKey::hmac_sha256(&[1; 32]).id()
        );
        // Leading zeros do not make another key.
        assert_eq!(
            VerifyKey::rsa_pkcs1_sha256(&[0, 0, 5, 7], &[1, 0, 1]).id(),
            VerifyKey::rsa_pkcs1_sha256(&[5, 7], &[0, 1, 0, 1]).id()
        );
        assert!(!format!("{a:?}").contains("01, 01"), "no secret in Debug");
        let jwk = VerifyKey::rsa_pkcs1_sha256(&[5, 7], &[1, 0, 1])
            .rsa_jwk()
            .expect("rsa");
        assert_eq!((jwk.n.as_str(), jwk.e.as_str()), ("BQc", "AQAB"));
    }

    #[test]
    fn prechecks_refuse_wrong_lengths_small_order_and_non_canonical_s() {
        let hmac = VerifyKey::hmac_sha256(&[7; 32]);
        assert!(precheck(&hmac, &[0; 32]));
        assert!(!precheck(&hmac, &[0; 16]));
        let rsa = VerifyKey::rsa_pkcs1_sha256(&[0xc5; 256], &[1, 0, 1]);
        assert!(precheck(&rsa, &[0; 256]));
        assert!(!precheck(&rsa, &[0; 255]));
        let good_key = [9u8; 32];
        let ed = VerifyKey::ed25519(good_key);
        let mut sig = [3u8; 64];
        assert!(precheck(&ed, &sig));
        sig[32..].copy_from_slice(&ED25519_L);
        assert!(!precheck(&ed, &sig), "S = L is not canonical");
        sig[32] -= 1;
        assert!(precheck(&ed, &sig), "S = L - 1 is");
        sig[..32].copy_from_slice(&p_plus(0xec));
        assert!(!precheck(&ed, &sig), "R of order 2");
        let mut neg_identity = [0u8; 32];
        neg_identity[0] = 1;
        neg_identity[31] = 0x80;
        assert!(!precheck(&VerifyKey::ed25519(neg_identity), &[3u8; 64]));
        assert!(!precheck(&ed, &[3u8; 63]));
    }

    #[test]
    fn the_reference_never_panics_on_unusable_keys() {
        let v = RustVerifier;
        assert!(!v.verify(&VerifyKey::rsa_pkcs1_sha256(&[], &[]), b"m", &[]));
        assert!(!v.verify(
            &VerifyKey::rsa_pkcs1_sha256(&[1; 256], &[]),
            b"m",
            &[0; 256]
        ));
        // Not a point on the curve (y = 2 has no x).
        let mut y2 = [0u8; 32];
        y2[0] = 2;
        assert!(!v.verify(&VerifyKey::ed25519(y2), b"m", &[3u8; 64]));
        assert!(!v.verify(&VerifyKey::hmac_sha256(&[]), b"m", &[0; 32]));
    }
}
