//! Signature verification with the runtime's WebCrypto (`crypto.subtle.verify`).
//!
//! The core decides what to verify (`edge_core::sig`, `jwt::prepare`,
//! `discord::signature::prepare`); this module runs the primitive. Keys are imported once
//! per isolate and kept as `CryptoKey`s, keyed by [`KeyId`] (a digest of algorithm and
//! material): a JWKS refresh that keeps a key reuses its `CryptoKey`, a rotated-in key is
//! imported on its first use. The cache holds at most [`MAX_CACHED_KEYS`] entries and is
//! emptied when full (keys come only from configuration and JWKS documents, so it refills
//! with the few in use). A key WebCrypto refuses to import is remembered as unusable:
//! signatures under it are simply invalid, never an error.
//!
//! [`verify`] follows [`SigAlg::backend`]: HMAC (SHA-256/384/512) over short messages
//! (tokens, seals) stays in wasm (cheaper than the async crossing; `subtle`'s constant-time
//! compare), longer ones (LINE bodies), RSA (PKCS#1 v1.5 and PSS), ECDSA (P-256, P-384;
//! the key imported `raw` as its uncompressed point) and Ed25519 go to WebCrypto (whose HMAC
//! verify compares in constant time too).
//! Every path runs [`sig::precheck`] first, so both backends refuse the same inputs.

use std::cell::RefCell;
use std::collections::HashMap;

use edge_core::sig::{self, Backend, KeyFormat, KeyId, KeyMaterial, SigAlg, VerifyKey};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};
use worker::console_warn;

/// Most imported keys kept per isolate (twice the key set's own limit).
pub const MAX_CACHED_KEYS: usize = 2 * edge_core::auth::jwt::MAX_KEYS;

thread_local! {
    /// `Some(key)`: imported; `None`: WebCrypto refused the material.
    static KEYS: RefCell<HashMap<KeyId, Option<CryptoKey>>> = RefCell::new(HashMap::new());
    static SUBTLE: RefCell<Option<SubtleCrypto>> = const { RefCell::new(None) };
}

/// Whether any of `candidates`, in order, verifies `signature` over `message`.
pub async fn verify_any(candidates: &[&VerifyKey], message: &[u8], signature: &[u8]) -> bool {
    for key in candidates {
        if verify(key, message, signature).await {
            return true;
        }
    }
    false
}

/// Whether `signature` verifies over `message` under `key`, on the key's
/// [`SigAlg::backend`].
pub async fn verify(key: &VerifyKey, message: &[u8], signature: &[u8]) -> bool {
    match (key.alg().backend(message.len()), key.material()) {
        (Backend::Rust, KeyMaterial::Secret(secret)) => {
            sig::hmac_matches(key.alg(), secret, message, signature)
        }
        _ => verify_native(key, message, signature).await,
    }
}

/// Whether `signature` verifies under `key`, always in WebCrypto (after [`sig::precheck`]).
pub async fn verify_native(key: &VerifyKey, message: &[u8], signature: &[u8]) -> bool {
    sig::precheck(key, signature) && webcrypto_only(key, message, signature).await
}

/// WebCrypto's own answer, without the core's precheck (for the agreement tests, which
/// show where the precheck matters). A key or call WebCrypto refuses is `false`.
pub async fn webcrypto_only(key: &VerifyKey, message: &[u8], signature: &[u8]) -> bool {
    let Some(subtle) = subtle() else {
        return false;
    };
    let Some(crypto_key) = imported(&subtle, key).await else {
        return false;
    };
    let params = key.alg().webcrypto();
    let promise = if params.verify_hash.is_none() && params.salt_length.is_none() {
        subtle.verify_with_str_and_u8_array_and_u8_array(
            params.name,
            &crypto_key,
            signature,
            message,
        )
    } else {
        subtle.verify_with_object_and_u8_array_and_u8_array(
            &verify_algorithm(key.alg()),
            &crypto_key,
            signature,
            message,
        )
    };
    let Ok(promise) = promise else {
        return false;
    };
    JsFuture::from(promise)
        .await
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

fn subtle() -> Option<SubtleCrypto> {
    SUBTLE.with_borrow_mut(|slot| {
        if slot.is_none() {
            *slot = js_sys::global()
                .unchecked_into::<web_sys::WorkerGlobalScope>()
                .crypto()
                .ok()
                .map(|c| c.subtle());
        }
        slot.clone()
    })
}

/// The `CryptoKey` of `key`, imported on first use in this isolate.
async fn imported(subtle: &SubtleCrypto, key: &VerifyKey) -> Option<CryptoKey> {
    let id = key.id();
    if let Some(cached) = KEYS.with_borrow(|keys| keys.get(&id).cloned()) {
        return cached;
    }
    let result = import(subtle, key).await;
    if let Err(e) = &result {
        console_warn!(
            "webcrypto: {:?} key {id:?} not importable: {e:?}",
            key.alg()
        );
    }
    let entry = result.ok();
    KEYS.with_borrow_mut(|keys| {
        if keys.len() >= MAX_CACHED_KEYS {
            keys.clear();
        }
        keys.insert(id, entry.clone());
    });
    entry
}

async fn import(subtle: &SubtleCrypto, key: &VerifyKey) -> Result<CryptoKey, JsValue> {
    let params = key.alg().webcrypto();
    let algorithm = Object::new();
    set(&algorithm, "name", params.name)?;
    if let Some(hash) = params.import_hash {
        set(&algorithm, "hash", hash)?;
    }
    if let Some(curve) = params.named_curve {
        set(&algorithm, "namedCurve", curve)?;
    }
    let data: Object = match params.format {
        KeyFormat::Raw => Uint8Array::from(key.raw().ok_or("no raw key material")?).into(),
        KeyFormat::Jwk => {
            let members = key.rsa_jwk().ok_or("no JWK key material")?;
            let jwk = Object::new();
            set(&jwk, "kty", "RSA")?;
            set(&jwk, "n", &members.n)?;
            set(&jwk, "e", &members.e)?;
            jwk
        }
    };
    let usages = Array::of1(&JsValue::from_str("verify"));
    let promise =
        subtle.import_key_with_object(params.format.name(), &data, &algorithm, false, &usages)?;
    JsFuture::from(promise).await?.dyn_into::<CryptoKey>()
}

/// The algorithm object `verify` takes when it needs more than a name.
fn verify_algorithm(alg: SigAlg) -> Object {
    let params = alg.webcrypto();
    let o = Object::new();
    // Setting plain data properties on a fresh object cannot throw.
    let _ = set(&o, "name", params.name);
    if let Some(hash) = params.verify_hash {
        let _ = set(&o, "hash", hash);
    }
    if let Some(salt) = params.salt_length {
        let _ = Reflect::set(&o, &"saltLength".into(), &JsValue::from(salt));
    }
    o
}

fn set(o: &Object, name: &str, value: &str) -> Result<(), JsValue> {
    Reflect::set(o, &JsValue::from_str(name), &JsValue::from_str(value)).map(|_| ())
}
