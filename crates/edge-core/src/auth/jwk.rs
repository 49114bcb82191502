//! One JSON Web Key (RFC 7517) read into verification material, or the reason it cannot be
//! used.
//!
//! Each key of a JWK Set is read on its own, from plain JSON: an identity provider's set may
//! hold encryption keys, curves or key types we do not support, and one such key must not
//! spoil the others (the whole-document parse this replaced failed on an unknown curve).
//! [`read`] answers [`Jwk`] or a [`Skip`] saying why not; the key set decides whether a
//! skip is an error (an inline, operator-written set: see `KeySet::add_jwks`) or a log line
//! (a provider's set: `KeySet::add_remote_jwks`).
//!
//! What is read (RFC 7518 §6): `kty` `RSA` (`n`, `e`; at least [`MIN_RSA_BITS`], at most
//! [`MAX_RSA_BITS`]), `EC` with `crv` `P-256` or `P-384` (`x`, `y`, each exactly the field
//! size), `OKP` with `crv` `Ed25519` (`x`, 32 bytes), `oct` (`k`, at least the hash size).
//! `use` other than `sig`, `key_ops` without `verify`, an `alg` we do not implement or one
//! that does not fit the key are skips.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::auth::jwt::Alg;
use crate::sig::{KeyMaterial, SigAlg, rsa_bits};

/// Smallest RSA modulus, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus, in bits (a bigger one only makes every verification slower).
pub const MAX_RSA_BITS: usize = 8192;
/// Shortest HMAC secret for HS256 (RFC 7518 §3.2: at least the hash size).
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

/// A usable key: its `kid`, the `alg` it declares (if any) and its material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    /// `kid`, if any.
    pub kid: Option<String>,
    /// The declared `alg`, if any (it fits the material).
    pub alg: Option<Alg>,
    /// The material.
    pub material: KeyMaterial,
    /// For EC keys, the one primitive their curve allows (`ES256` for P-256, `ES384` for
    /// P-384); `None` for the others.
    pub curve_alg: Option<SigAlg>,
}

/// Why a key is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// `use` is not `sig` (an encryption key).
    #[error("use is {0:?}, not \"sig\"")]
    NotForSignatures(String),
    /// `key_ops` does not list `verify`.
    #[error("key_ops lacks \"verify\"")]
    NoVerifyOperation,
    /// `kty` we do not implement (or none).
    #[error("unsupported kty {0:?}")]
    UnsupportedKeyType(String),
    /// A curve we do not implement (secp256k1, P-521, Ed448, X25519, ...).
    #[error("unsupported curve {0:?}")]
    UnsupportedCurve(String),
    /// An `alg` we do not implement.
    #[error("unsupported alg {0:?}")]
    UnsupportedAlgorithm(String),
    /// An `alg` that is not for this key type or curve.
    #[error("alg {0:?} does not fit the key")]
    AlgorithmMismatch(String),
    /// An HMAC key in a document published at a URL (no secret there).
    #[error("symmetric key in a published document")]
    Symmetric,
    /// A member is missing or not what its type requires.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// An RSA modulus outside [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`].
    #[error("rsa modulus of {0} bits")]
    RsaSize(usize),
    /// An HMAC secret shorter than its hash.
    #[error("hmac secret of {0} bytes")]
    ShortSecret(usize),
}

impl Skip {
    /// Whether the key is of a supported kind but its material or members are broken (an
    /// operator's inline set refuses these rather than ignore them).
    #[must_use]
    pub fn is_invalid(&self) -> bool {
        matches!(
            self,
            Self::Malformed(_) | Self::RsaSize(_) | Self::ShortSecret(_)
        )
    }
}

/// Reads one member of a JWK Set's `keys` array. `symmetric`: whether `oct` keys are allowed.
///
/// # Errors
/// The [`Skip`] that makes the key unusable.
pub fn read(value: &Value, symmetric: bool) -> Result<Jwk, Skip> {
    let Value::Object(m) = value else {
        return Err(Skip::Malformed("key (not an object)"));
    };
    let kid = match m.get("kid") {
        None => None,
        Some(Value::String(k)) if !k.is_empty() && k.len() <= 256 => Some(k.clone()),
        Some(_) => return Err(Skip::Malformed("kid")),
    };
    match m.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(Value::String(u)) => return Err(Skip::NotForSignatures(u.clone())),
        Some(_) => return Err(Skip::Malformed("use")),
    }
    match m.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|o| o == "verify") => {}
        Some(Value::Array(_)) => return Err(Skip::NoVerifyOperation),
        Some(_) => return Err(Skip::Malformed("key_ops")),
    }
    let alg = match m.get("alg") {
        None => None,
        Some(Value::String(a)) => {
            Some(Alg::parse(a).ok_or_else(|| Skip::UnsupportedAlgorithm(a.clone()))?)
        }
        Some(_) => return Err(Skip::Malformed("alg")),
    };
    let kty = text(m, "kty")?;
    let (material, curve_alg) = match kty {
        "RSA" => (rsa(m)?, None),
        "EC" => {
            let (alg, size) = match text(m, "crv")? {
                "P-256" => (SigAlg::EcdsaP256Sha256, 32),
                "P-384" => (SigAlg::EcdsaP384Sha384, 48),
                other => return Err(Skip::UnsupportedCurve(other.to_owned())),
            };
            let mut point = vec![4];
            point.extend(sized(m, "x", size)?);
            point.extend(sized(m, "y", size)?);
            (KeyMaterial::Ec(point), Some(alg))
        }
        "OKP" => match text(m, "crv")? {
            "Ed25519" => {
                let x = sized(m, "x", 32)?;
                let mut k = [0; 32];
                k.copy_from_slice(&x);
                (KeyMaterial::Ed25519(k), None)
            }
            other => return Err(Skip::UnsupportedCurve(other.to_owned())),
        },
        "oct" if !symmetric => return Err(Skip::Symmetric),
        "oct" => {
            let k = bytes(m, "k")?;
            let least = alg
                .and_then(|a| a.sig_alg().hmac_tag_bytes())
                .unwrap_or(MIN_HMAC_SECRET_BYTES);
            if k.len() < least {
                return Err(Skip::ShortSecret(k.len()));
            }
            (KeyMaterial::Secret(k), None)
        }
        other => return Err(Skip::UnsupportedKeyType(other.to_owned())),
    };
    if let Some(a) = alg {
        let fits = match (&material, curve_alg) {
            (_, Some(curve)) => a.sig_alg() == curve,
            (m, None) => crate::sig::VerifyKey::from_parts(a.sig_alg(), m.clone()).is_some(),
        };
        if !fits {
            return Err(Skip::AlgorithmMismatch(a.name().to_owned()));
        }
    }
    Ok(Jwk {
        kid,
        alg,
        material,
        curve_alg,
    })
}

fn text<'a>(m: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, Skip> {
    m.get(field)
        .and_then(Value::as_str)
        .ok_or(Skip::Malformed(field))
}

fn bytes(m: &Map<String, Value>, field: &'static str) -> Result<Vec<u8>, Skip> {
    URL_SAFE_NO_PAD
        .decode(text(m, field)?)
        .map_err(|_| Skip::Malformed(field))
}

/// A coordinate of exactly `size` bytes (RFC 7518 §6.2.1.2: the full field size).
fn sized(m: &Map<String, Value>, field: &'static str, size: usize) -> Result<Vec<u8>, Skip> {
    let b = bytes(m, field)?;
    if b.len() == size {
        Ok(b)
    } else {
        Err(Skip::Malformed(field))
    }
}

fn rsa(m: &Map<String, Value>) -> Result<KeyMaterial, Skip> {
    let n = bytes(m, "n")?;
    let e = bytes(m, "e")?;
    if e.iter().all(|&b| b == 0) {
        return Err(Skip::Malformed("e"));
    }
    let bits = rsa_bits(&n);
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(Skip::RsaSize(bits));
    }
    Ok(KeyMaterial::Rsa { n, e })
}
