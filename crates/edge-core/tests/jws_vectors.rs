//! Published JWS test vectors (see `tests/vectors/README.md`), run through the verifier:
//! every valid vector verifies and yields its payload, every tampered or invalid one is
//! refused.
#![allow(missing_docs)]

use edge_core::auth::AuthError;
use edge_core::auth::jwt::{self, Alg, JwtPolicy, KeySet};
use serde_json::Value;

fn policy(alg: Alg) -> JwtPolicy {
    JwtPolicy {
        algorithms: vec![alg],
        issuer: None,
        audience: None,
        leeway_s: 0,
        rate_limit: None,
        claims: edge_core::auth::claims::ClaimsMapping::default(),
    }
}

fn keys_for(jwk: &Value) -> KeySet {
    let mut keys = KeySet::default();
    let doc = serde_json::json!({ "keys": [jwk] }).to_string();
    assert_eq!(
        keys.add_jwks(doc.as_bytes()).map(|r| r.added),
        Ok(1),
        "{jwk}"
    );
    keys
}

#[test]
fn rfc_vectors() {
    let vectors: Vec<Value> =
        serde_json::from_str(include_str!("vectors/rfc.json")).expect("vectors parse");
    assert!(vectors.len() >= 6);
    for v in &vectors {
        let source = v["source"].as_str().expect("source");
        let alg = Alg::parse(v["alg"].as_str().expect("alg")).expect("supported alg");
        let token = v["token"].as_str().expect("token");
        let outcome = jwt::verify_signature(token, &keys_for(&v["jwk"]), &policy(alg));
        if v["valid"].as_bool() == Some(true) {
            let payload = outcome.unwrap_or_else(|e| panic!("{source}: {e:?}"));
            match (&v["payload_json"], v["payload_text"].as_str()) {
                (Value::Null, Some(text)) => assert_eq!(payload, text.as_bytes(), "{source}"),
                (json, _) => assert_eq!(
                    serde_json::from_slice::<Value>(&payload).expect("json payload"),
                    *json,
                    "{source}"
                ),
            }
        } else {
            assert_eq!(outcome, Err(AuthError::SignatureInvalid), "{source}");
        }
    }
}

#[test]
fn rfc_7515_a1_claims_are_then_checked_against_time_and_policy() {
    let vectors: Vec<Value> =
        serde_json::from_str(include_str!("vectors/rfc.json")).expect("vectors parse");
    let a1 = vectors
        .iter()
        .find(|v| v["source"] == "RFC 7515 A.1")
        .expect("A.1 present");
    let keys = keys_for(&a1["jwk"]);
    let token = a1["token"].as_str().expect("token");
    // exp is 1300819380; A.1 has no `sub`, which this gateway requires.
    assert_eq!(
        jwt::verify(token, &keys, &policy(Alg::HS256), 1_300_819_000),
        Err(AuthError::InvalidClaim { field: "sub" })
    );
    assert_eq!(
        jwt::verify(token, &keys, &policy(Alg::HS256), 1_300_819_380),
        Err(AuthError::TokenExpired)
    );
    // Not on the allow-list: refused before any key is tried.
    assert_eq!(
        jwt::verify(token, &keys, &policy(Alg::RS256), 1_300_819_000),
        Err(AuthError::AlgorithmNotAllowed)
    );
}

/// Upstream cases that contradict themselves (see `vectors/README.md`).
const WYCHEPROOF_SKIP: [u64; 4] = [367, 370, 372, 373];

#[test]
fn wycheproof_json_web_signature_vectors() {
    let cases: Vec<Value> =
        serde_json::from_str(include_str!("vectors/wycheproof_jws.json")).expect("vectors parse");
    let mut checked = (0, 0);
    for case in &cases {
        let id = case["tcId"].as_u64().expect("tcId");
        if WYCHEPROOF_SKIP.contains(&id) {
            continue;
        }
        let comment = case["comment"].as_str().unwrap_or_default();
        let token = case["jws"].as_str().expect("jws");
        let mut keys = KeySet::default();
        let doc = serde_json::json!({ "keys": [case["jwk"]] }).to_string();
        // A key we refuse to load (wrong use, other algorithm) verifies nothing.
        let _ = keys.add_jwks(doc.as_bytes());
        let all = JwtPolicy {
            algorithms: vec![Alg::HS256, Alg::RS256, Alg::EdDSA],
            ..policy(Alg::HS256)
        };
        let outcome = jwt::verify_signature(token, &keys, &all);
        match case["result"].as_str() {
            Some("valid") => {
                assert!(outcome.is_ok(), "tcId {id} ({comment}): {outcome:?}");
                checked.0 += 1;
            }
            _ => {
                assert!(outcome.is_err(), "tcId {id} ({comment}) was accepted");
                checked.1 += 1;
            }
        }
    }
    assert!(checked.0 >= 16 && checked.1 >= 250, "{checked:?}");
}

/// RFC 7520 §4.3: ES512 (P-521) is not supported. Its token is refused at the header,
/// before any key, and its key is skipped, not an error.
#[test]
fn rfc_7520_4_3_es512_is_refused() {
    let token = "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9.\
        SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.\
        AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvbu9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kvAD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2";
    let jwk = serde_json::json!({
        "kty": "EC", "crv": "P-521", "kid": "bilbo.baggins@hobbiton.example", "use": "sig",
        "x": "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt",
        "y": "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1"
    });
    let mut keys = KeySet::default();
    let report = keys
        .add_remote_jwks(serde_json::json!({ "keys": [jwk] }).to_string().as_bytes())
        .expect("a set");
    assert_eq!(report.added, 0);
    assert_eq!(
        report.skipped[0].1.to_string(),
        "unsupported curve \"P-521\""
    );
    assert_eq!(Alg::parse("ES512"), None);
    let all = JwtPolicy {
        algorithms: Alg::ALL.to_vec(),
        ..policy(Alg::HS256)
    };
    assert_eq!(
        jwt::verify_signature(token, &keys, &all),
        Err(AuthError::AlgorithmNotAllowed)
    );
}
