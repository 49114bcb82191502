//! Every vector the WebCrypto agreement test exports (`examples/crypto_vectors.rs`:
//! Wycheproof HMAC, Ed25519, RSASSA-PKCS1-v1_5, ECDSA P-256/P-384 in P1363 encoding,
//! RSASSA-PSS SHA-256/384/512; the RFC 4231, 8032, 7515, 7520 and 8037 examples) through
//! the core's reference verifier natively: `valid` verifies, `invalid` does not.
#![allow(missing_docs)]

#[path = "../examples/crypto_vectors.rs"]
mod export;

use edge_core::sig::{RustVerifier, SignatureVerifier, precheck};
use std::collections::BTreeMap;

#[test]
fn the_reference_verifier_gives_every_vector_its_expected_answer() {
    let vectors = export::vectors();
    let mut wrong = Vec::new();
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for v in &vectors {
        let id = v["id"].as_str().expect("id");
        let key = export::key_of(v).unwrap_or_else(|| panic!("{id}: key"));
        let hex = |f: &str| edge_core::hex::decode(v[f].as_str().expect(f)).expect("hex");
        let verified = RustVerifier.verify(&key, &hex("msg"), &hex("sig"));
        let expected = v["expected"].as_str().expect("expected");
        *counts
            .entry((
                v["alg"].as_str().unwrap_or("").to_owned(),
                expected.to_owned(),
            ))
            .or_default() += 1;
        let ok = match expected {
            "valid" => verified,
            "invalid" => !verified,
            _ => true,
        };
        if !ok {
            wrong.push(format!("{id} ({}): {verified}", v["comment"]));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    for (alg, valid, invalid) in [
        ("EcdsaP256Sha256", 100, 50),
        ("EcdsaP384Sha384", 100, 50),
        ("RsaPssSha256", 100, 100),
        ("RsaPssSha384", 100, 50),
        ("RsaPssSha512", 100, 30),
    ] {
        let n = |e: &str| {
            counts
                .get(&(alg.to_owned(), e.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        assert!(
            n("valid") >= valid && n("invalid") >= invalid,
            "{alg}: {counts:?}"
        );
    }
    for id in [
        "rfc-7515-a-3",
        "rfc-7520-4-1",
        "rfc-7520-4-2",
        "rfc-7520-4-4",
    ] {
        assert!(vectors.iter().any(|v| v["id"] == id), "{id}");
    }
}

#[test]
fn ecdsa_signatures_are_p1363_only() {
    let vectors = export::vectors();
    let v = vectors
        .iter()
        .find(|v| v["id"] == "rfc-7515-a-3")
        .expect("A.3");
    let key = export::key_of(v).expect("key");
    let sig = edge_core::hex::decode(v["sig"].as_str().expect("sig")).expect("hex");
    assert!(precheck(&key, &sig));
    // The same signature as DER: SEQUENCE { INTEGER r, INTEGER s }.
    let int = |x: &[u8]| {
        let mut i = vec![0x02];
        let pad = x[0] & 0x80 != 0;
        i.push(u8::try_from(x.len() + usize::from(pad)).expect("short"));
        if pad {
            i.push(0);
        }
        i.extend_from_slice(x);
        i
    };
    let body = [int(&sig[..32]), int(&sig[32..])].concat();
    let der = [vec![0x30, u8::try_from(body.len()).expect("short")], body].concat();
    let msg = edge_core::hex::decode(v["msg"].as_str().expect("msg")).expect("hex");
    assert!(RustVerifier.verify(&key, &msg, &sig));
    assert!(!precheck(&key, &der) && !RustVerifier.verify(&key, &msg, &der));
    assert!(!precheck(&key, &sig[..63]));
    assert!(!precheck(&key, &[sig.as_slice(), &[0]].concat()));
    let zero_r = [vec![0; 32], sig[32..].to_vec()].concat();
    assert!(!precheck(&key, &zero_r), "r = 0");
}
