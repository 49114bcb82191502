//! Test-only worker (never deployed): runs signature vectors through both verifiers, the
//! core's pure-Rust reference (`edge_core::sig::RustVerifier`, here compiled to wasm) and
//! the worker side's WebCrypto path (`edge_glue::webcrypto`), in real workerd.
//!
//! - `POST /vectors`: a JSON array of vectors as `cargo run -p edge-core --example
//!   crypto_vectors` prints them; answers one `{id, rust, webcrypto, raw}` per vector, where
//!   `webcrypto` is the worker's path (the core's precheck, then `crypto.subtle.verify`) and
//!   `raw` is WebCrypto alone (to show what the precheck decides).
//! - `POST /bench`: `{alg, backend: "rust"|"webcrypto", n, key, msg, sig}` verifies the same
//!   signature `n` times in one request and answers how many verified; the caller times
//!   requests with different `n` to get the cost of one verification.

use edge_core::hex::decode as unhex;
use edge_core::sig::{KeyKind, KeyMaterial, RustVerifier, SigAlg, SignatureVerifier, VerifyKey};
use edge_glue::webcrypto;
use serde::Deserialize;
use serde_json::json;
use worker::{Context, Env, Request, Response, Result, event};

/// Key material in hex, as the exporter writes it.
#[derive(Deserialize)]
struct KeyHex {
    secret: Option<String>,
    public: Option<String>,
    point: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// One vector.
#[derive(Deserialize)]
struct Vector {
    id: String,
    alg: String,
    key: KeyHex,
    msg: String,
    sig: String,
}

/// One benchmark request.
#[derive(Deserialize)]
struct Bench {
    alg: String,
    backend: String,
    n: u32,
    key: KeyHex,
    msg: String,
    sig: String,
}

fn key(alg: &str, k: &KeyHex) -> Option<VerifyKey> {
    let alg = SigAlg::ALL.into_iter().find(|a| format!("{a:?}") == alg)?;
    let field = |f: &Option<String>| f.as_deref().and_then(unhex);
    let material = match alg.kind() {
        KeyKind::Secret => KeyMaterial::Secret(field(&k.secret)?),
        KeyKind::Rsa => KeyMaterial::Rsa {
            n: field(&k.n)?,
            e: field(&k.e)?,
        },
        KeyKind::Ec(_) => KeyMaterial::Ec(field(&k.point)?),
        KeyKind::Ed25519 => KeyMaterial::Ed25519(field(&k.public)?.try_into().ok()?),
    };
    VerifyKey::from_parts(alg, material)
}

fn bad(what: &str) -> Result<Response> {
    Ok(Response::from_json(&json!({ "error": what }))?.with_status(400))
}

#[event(fetch)]
async fn fetch(mut req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    match path.as_str() {
        "/vectors" => {
            let Ok(vectors) = req.json::<Vec<Vector>>().await else {
                return bad("vectors");
            };
            let mut out = Vec::with_capacity(vectors.len());
            for v in &vectors {
                let (Some(key), Some(msg), Some(sig)) =
                    (key(&v.alg, &v.key), unhex(&v.msg), unhex(&v.sig))
                else {
                    return bad(&v.id);
                };
                out.push(json!({
                    "id": v.id,
                    "rust": RustVerifier.verify(&key, &msg, &sig),
                    "webcrypto": webcrypto::verify_native(&key, &msg, &sig).await,
                    "raw": webcrypto::webcrypto_only(&key, &msg, &sig).await,
                }));
            }
            Response::from_json(&out)
        }
        "/bench" => {
            let Ok(b) = req.json::<Bench>().await else {
                return bad("bench");
            };
            let (Some(key), Some(msg), Some(sig)) =
                (key(&b.alg, &b.key), unhex(&b.msg), unhex(&b.sig))
            else {
                return bad("bench key");
            };
            let mut verified = 0u32;
            for _ in 0..b.n {
                let ok = match b.backend.as_str() {
                    "rust" => RustVerifier.verify(&key, &msg, &sig),
                    _ => webcrypto::verify_native(&key, &msg, &sig).await,
                };
                verified += u32::from(ok);
            }
            Response::from_json(
                &json!({ "verified": verified, "alg": format!("{:?}", key.alg()), "native": key.alg() != SigAlg::HmacSha256 }),
            )
        }
        _ => Ok(Response::from_json(&json!({ "error": "not_found" }))?.with_status(404)),
    }
}
