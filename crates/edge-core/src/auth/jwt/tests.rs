use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use super::*;

const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-only";
const RSA_PEM: &str = include_str!("../../../tests/keys/rsa-test-private.pem");
const ED_PEM: &str = include_str!("../../../tests/keys/ed25519-test-private.pem");
const JWKS: &str = include_str!("../../../tests/keys/test-jwks.json");
const NOW: u64 = 1_800_000_000;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs any header and claims, so tests can build tokens a normal encoder would refuse.
fn sign(header: &Value, claims: &Value, alg: Algorithm, key: &EncodingKey) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("signs");
    format!("{message}.{sig}")
}

fn hs(claims: &Value) -> String {
    sign(
        &json!({"alg":"HS256","typ":"JWT"}),
        claims,
        Algorithm::HS256,
        &EncodingKey::from_secret(HS_SECRET),
    )
}

fn rs(kid: &str, claims: &Value) -> String {
    sign(
        &json!({"alg":"RS256","kid":kid}),
        claims,
        Algorithm::RS256,
        &EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).expect("rsa pem"),
    )
}

fn ed(kid: &str, claims: &Value) -> String {
    sign(
        &json!({"alg":"EdDSA","kid":kid}),
        claims,
        Algorithm::EdDSA,
        &EncodingKey::from_ed_pem(ED_PEM.as_bytes()).expect("ed pem"),
    )
}

fn keys() -> KeySet {
    let mut k = KeySet::default();
    k.add_hs256_secret(HS_SECRET).expect("secret");
    assert_eq!(k.add_jwks(JWKS.as_bytes()).map(|r| r.added), Ok(2));
    k
}

fn policy() -> JwtPolicy {
    JwtPolicy {
        algorithms: vec![Alg::HS256, Alg::RS256, Alg::EdDSA],
        issuer: None,
        audience: None,
        leeway_s: 30,
        rate_limit: None,
        claims: ClaimsMapping::default(),
    }
}

fn claims() -> Value {
    json!({"sub":"user-1","exp":NOW + 60,"role":"operator","permissions":["calls:read"]})
}

#[test]
fn each_algorithm_verifies_and_yields_the_identity() {
    for token in [
        hs(&claims()),
        rs("rsa-test-1", &claims()),
        ed("ed-test-1", &claims()),
    ] {
        let id = verify(&token, &keys(), &policy(), NOW).expect("valid");
        assert_eq!(id.subject, "user-1");
        assert_eq!(id.role, "operator");
        assert_eq!(id.permissions, ["calls:read"]);
        assert_eq!(id.method, AuthMethod::Jwt);
        assert_eq!(id.authenticated_at_s, NOW);
    }
}

#[test]
fn algorithm_allow_list_and_none() {
    let only_rs = JwtPolicy {
        algorithms: vec![Alg::RS256],
        ..policy()
    };
    assert_eq!(
        verify(&hs(&claims()), &keys(), &only_rs, NOW),
        Err(AuthError::AlgorithmNotAllowed)
    );
    let body = b64(claims().to_string().as_bytes());
    for alg in ["none", "None", "HS512", "ES256", "RS256 "] {
        let header = b64(json!({"alg": alg}).to_string().as_bytes());
        assert_eq!(
            verify(&format!("{header}.{body}."), &keys(), &policy(), NOW),
            Err(AuthError::AlgorithmNotAllowed),
            "{alg}"
        );
    }
    assert_eq!(
        JwtPolicy::parse_algorithms("HS256, EdDSA"),
        Ok(vec![Alg::HS256, Alg::EdDSA])
    );
    assert_eq!(
        JwtPolicy::parse_algorithms("RS256,none"),
        Err("none".to_owned())
    );
}

#[test]
fn rsa_public_key_cannot_be_used_as_an_hmac_secret() {
    // The classic confusion attack: sign HS256 with the RSA public key's bytes.
    let mut rsa_only = KeySet::default();
    rsa_only.add_jwks(JWKS.as_bytes()).expect("jwks");
    let rsa = jsonwebtoken::EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).expect("pem");
    let _ = rsa;
    let public_pem = {
        let jwks: Value = serde_json::from_str(JWKS).expect("json");
        jwks["keys"][0]["n"].as_str().expect("n").to_owned()
    };
    for secret in [public_pem.as_bytes(), JWKS.as_bytes()] {
        let forged = sign(
            &json!({"alg":"HS256","kid":"rsa-test-1"}),
            &claims(),
            Algorithm::HS256,
            &EncodingKey::from_secret(secret),
        );
        assert_eq!(
            verify(&forged, &rsa_only, &policy(), NOW),
            Err(AuthError::UnknownKey)
        );
    }
    // An EdDSA header on an RSA kid finds no EdDSA key of that id either.
    let forged = sign(
        &json!({"alg":"EdDSA","kid":"rsa-test-1"}),
        &claims(),
        Algorithm::EdDSA,
        &EncodingKey::from_ed_pem(ED_PEM.as_bytes()).expect("pem"),
    );
    assert_eq!(
        verify(&forged, &rsa_only, &policy(), NOW),
        Err(AuthError::UnknownKey)
    );
}

#[test]
fn kid_selects_the_key_and_unknown_kids_are_reported() {
    let k = keys();
    assert!(k.has_kid("rsa-test-1"));
    assert_eq!(
        verify(&rs("rsa-test-2", &claims()), &k, &policy(), NOW),
        Err(AuthError::UnknownKey)
    );
    assert_eq!(
        peek_header(&rs("rsa-test-2", &claims()), &policy()).map(|h| h.kid),
        Ok(Some("rsa-test-2".to_owned()))
    );
}

#[test]
fn tampering_breaks_the_signature() {
    let token = rs("rsa-test-1", &claims());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut forged_claims = claims();
    forged_claims["role"] = json!("admin");
    parts[1] = b64(forged_claims.to_string().as_bytes());
    assert_eq!(
        verify(&parts.join("."), &keys(), &policy(), NOW),
        Err(AuthError::SignatureInvalid)
    );
    let hs_token = hs(&claims());
    let truncated = &hs_token[..hs_token.len() - 2];
    assert_eq!(
        verify(truncated, &keys(), &policy(), NOW),
        Err(AuthError::SignatureInvalid)
    );
    let mut other = KeySet::default();
    other
        .add_hs256_secret(b"another-secret-that-is-32-bytes-long!!")
        .expect("secret");
    assert_eq!(
        verify(&hs_token, &other, &policy(), NOW),
        Err(AuthError::SignatureInvalid)
    );
}

#[test]
fn time_claims_with_leeway() {
    let at = |exp: i64, nbf: Option<i64>| {
        let mut c = json!({"sub":"u","exp":exp});
        if let Some(n) = nbf {
            c["nbf"] = json!(n);
        }
        verify(&hs(&c), &keys(), &policy(), NOW)
    };
    let now = NOW as i64;
    assert!(at(now - 29, None).is_ok(), "inside the 30 s leeway");
    assert_eq!(at(now - 30, None), Err(AuthError::TokenExpired));
    assert!(at(now + 60, Some(now + 30)).is_ok(), "nbf inside leeway");
    assert_eq!(
        at(now + 60, Some(now + 31)),
        Err(AuthError::TokenNotYetValid)
    );
    let no_exp = hs(&json!({"sub":"u"}));
    assert_eq!(
        verify(&no_exp, &keys(), &policy(), NOW),
        Err(AuthError::InvalidClaim { field: "exp" })
    );
    let string_exp = hs(&json!({"sub":"u","exp":"9999999999"}));
    assert_eq!(
        verify(&string_exp, &keys(), &policy(), NOW),
        Err(AuthError::InvalidClaim { field: "exp" })
    );
    let future_iat = hs(&json!({"sub":"u","exp":now + 600,"iat":now + 300}));
    assert_eq!(
        verify(&future_iat, &keys(), &policy(), NOW),
        Err(AuthError::InvalidClaim { field: "iat" })
    );
}

#[test]
fn issuer_and_audience() {
    let strict = JwtPolicy {
        issuer: Some("https://id.example".into()),
        audience: Some("edge-api".into()),
        ..policy()
    };
    let with = |iss: Value, aud: Value| {
        let mut c = claims();
        c["iss"] = iss;
        c["aud"] = aud;
        verify(&hs(&c), &keys(), &strict, NOW)
    };
    assert!(with(json!("https://id.example"), json!("edge-api")).is_ok());
    assert!(with(json!("https://id.example"), json!(["other", "edge-api"])).is_ok());
    assert_eq!(
        with(json!("https://evil.example"), json!("edge-api")),
        Err(AuthError::IssuerMismatch)
    );
    assert_eq!(
        with(json!("https://id.example"), json!(["other"])),
        Err(AuthError::AudienceMismatch)
    );
    assert_eq!(
        with(json!("https://id.example"), Value::Null),
        Err(AuthError::AudienceMismatch)
    );
    // Without a configured audience, a token addressed to someone is not for us.
    let mut c = claims();
    c["aud"] = json!("someone-else");
    assert_eq!(
        verify(&hs(&c), &keys(), &policy(), NOW),
        Err(AuthError::AudienceMismatch)
    );
}

#[test]
fn identity_claims_are_validated() {
    let mut c = claims();
    c["sub"] = json!("a\r\nx-auth-role: admin");
    assert_eq!(
        verify(&hs(&c), &keys(), &policy(), NOW),
        Err(AuthError::InvalidClaim { field: "sub" })
    );
    // Unusable role and permission values are skipped and counted, never a refusal
    // (issue 16); `role` may be an array and in any case.
    let mut c = claims();
    c["role"] = json!([7, "Admin"]);
    let id = verify(&hs(&c), &keys(), &policy(), NOW).expect("valid");
    assert_eq!((id.role.as_str(), id.ignored_values), ("admin", 1));
    let mut c = claims();
    c["permissions"] = json!(["calls:read", 7]);
    let id = verify(&hs(&c), &keys(), &policy(), NOW).expect("valid");
    assert_eq!(id.permissions, ["calls:read"]);
    assert_eq!(id.ignored_values, 1);
    let scoped = hs(&json!({"sub":"u","exp":NOW + 60,"scope":"calls:read agents:write"}));
    let id = verify(&scoped, &keys(), &policy(), NOW).expect("valid");
    assert_eq!(id.permissions, ["calls:read", "agents:write"]);
    assert_eq!(id.role, "user");
}

#[test]
fn malformed_tokens() {
    let good = hs(&claims());
    let header_with_crit = sign(
        &json!({"alg":"HS256","crit":["exp"],"exp":1}),
        &claims(),
        Algorithm::HS256,
        &EncodingKey::from_secret(HS_SECRET),
    );
    for bad in [
        String::new(),
        "a.b".to_owned(),
        format!("{good}.x"),
        good.replace('.', ".="),
        format!("e30.{}", good.split('.').nth(1).unwrap_or_default()),
        header_with_crit,
    ] {
        let err = verify(&bad, &keys(), &policy(), NOW).expect_err("refused");
        assert!(
            matches!(err, AuthError::TokenMalformed | AuthError::SignatureInvalid),
            "{bad}: {err:?}"
        );
    }
    let not_object = sign(
        &json!({"alg":"HS256"}),
        &json!([1, 2]),
        Algorithm::HS256,
        &EncodingKey::from_secret(HS_SECRET),
    );
    assert_eq!(
        verify(&not_object, &keys(), &policy(), NOW),
        Err(AuthError::TokenMalformed)
    );
    let huge = format!("{}.{}.x", "a".repeat(MAX_TOKEN_BYTES), "b");
    assert_eq!(
        verify(&huge, &keys(), &policy(), NOW),
        Err(AuthError::TokenTooLarge)
    );
}

#[test]
fn jwks_documents_are_checked() {
    let mut k = KeySet::default();
    let skipped = json!({"keys":[
        {"kty":"RSA","use":"enc","kid":"e","n":"AQAB","e":"AQAB"},
        {"kty":"EC","crv":"P-521","kid":"ec","x":"AA","y":"AA"},
        {"kty":"RSA","alg":"RSA-OAEP","kid":"r5","n":"AQAB","e":"AQAB"}
    ]});
    assert_eq!(
        k.add_jwks(skipped.to_string().as_bytes()).map(|r| r.added),
        Ok(0)
    );
    // Supported kinds with broken material are the operator's mistake: refused.
    let bad_ec = json!({"keys":[{"kty":"EC","crv":"P-256","kid":"ec","x":"AA","y":"AA"}]});
    assert_eq!(
        k.add_jwks(bad_ec.to_string().as_bytes()),
        Err(KeyError::InvalidKey("ec".into()))
    );
    let short_rsa = json!({"keys":[{"kty":"RSA","kid":"s","n":b64(&[0xff; 128]),"e":"AQAB"}]});
    assert_eq!(
        k.add_jwks(short_rsa.to_string().as_bytes()),
        Err(KeyError::InvalidKey("s".into()))
    );
    let short_oct = json!({"keys":[{"kty":"oct","kid":"o","k":b64(b"short")}]});
    assert_eq!(
        k.add_jwks(short_oct.to_string().as_bytes()),
        Err(KeyError::InvalidKey("o".into()))
    );
    assert_eq!(k.add_jwks(b"{\"keys\":"), Err(KeyError::MalformedJwks));
    assert_eq!(k.add_jwks(b"[]"), Err(KeyError::MalformedJwks));
    assert_eq!(k.add_hs256_secret(b"too-short"), Err(KeyError::WeakSecret));
    let mut full = KeySet::default();
    for _ in 0..MAX_KEYS {
        full.add_hs256_secret(HS_SECRET).expect("room");
    }
    assert_eq!(full.add_hs256_secret(HS_SECRET), Err(KeyError::TooManyKeys));
}

#[test]
fn jwt_subjects_cannot_enter_the_api_key_namespace() {
    let mut c = claims();
    c["sub"] = json!("key:0101010101010101");
    assert_eq!(
        verify(&hs(&c), &keys(), &policy(), NOW),
        Err(AuthError::InvalidClaim { field: "sub" }),
        "an API key's user id is key:<id>; a token may not claim it"
    );
    c["sub"] = json!("keys:alice");
    assert!(verify(&hs(&c), &keys(), &policy(), NOW).is_ok());
}

#[test]
fn item_13_6_remote_jwks_documents_give_no_hmac_keys() {
    let doc = json!({"keys": [
        {"kty": "oct", "kid": "shared", "alg": "HS256", "k": b64(HS_SECRET)},
        {"kty": "oct", "kid": "no-alg", "k": b64(HS_SECRET)},
    ]});
    let mut remote = KeySet::default();
    assert_eq!(
        remote
            .add_remote_jwks(doc.to_string().as_bytes())
            .map(|r| r.added),
        Ok(0)
    );
    let mut local = KeySet::default();
    assert_eq!(
        local.add_jwks(doc.to_string().as_bytes()).map(|r| r.added),
        Ok(2)
    );
    let mut both = KeySet::default();
    assert_eq!(
        both.add_remote_jwks(JWKS.as_bytes()).map(|r| r.added),
        Ok(2),
        "RSA and Ed25519 stay"
    );
}

const EC_JWKS: &str = include_str!("../../../tests/keys/test-jwks-ec.json");
const P256_PEM: &str = include_str!("../../../tests/keys/ec-p256-test-private.pem");
const P384_PEM: &str = include_str!("../../../tests/keys/ec-p384-test-private.pem");

/// A token of `alg` (the header's name `name`) signed with the committed test key of its
/// family.
fn token_for(name: &str, alg: Algorithm, kid: Option<&str>, c: &Value) -> String {
    let key = match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => EncodingKey::from_secret(HS64),
        Algorithm::ES256 => EncodingKey::from_ec_pem(P256_PEM.as_bytes()).expect("p256"),
        Algorithm::ES384 => EncodingKey::from_ec_pem(P384_PEM.as_bytes()).expect("p384"),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(ED_PEM.as_bytes()).expect("ed"),
        _ => EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).expect("rsa"),
    };
    let mut header = json!({ "alg": name });
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    sign(&header, c, alg, &key)
}

const HS64: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn rsa_jwk(alg: Option<&str>, kid: &str) -> Value {
    let set: Value = serde_json::from_str(JWKS).expect("jwks");
    let mut k = set["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kty"] == "RSA")
        .expect("rsa")
        .clone();
    let o = k.as_object_mut().expect("object");
    o.remove("alg");
    o.insert("kid".into(), json!(kid));
    if let Some(a) = alg {
        o.insert("alg".into(), json!(a));
    }
    k
}

fn set_of(keys: &[Value]) -> KeySet {
    let mut k = KeySet::default();
    let doc = json!({ "keys": keys }).to_string();
    let report = k.add_jwks(doc.as_bytes()).expect("jwks");
    assert!(report.skipped.is_empty(), "{report:?}");
    k
}

fn allow(algs: &[Alg]) -> JwtPolicy {
    JwtPolicy {
        algorithms: algs.to_vec(),
        ..policy()
    }
}

#[test]
fn every_algorithm_verifies_with_a_key_declared_for_it() {
    let ec: Value = serde_json::from_str(EC_JWKS).expect("ec jwks");
    let ed: Value = serde_json::from_str(JWKS).expect("jwks");
    let ed = ed["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kty"] == "OKP")
        .expect("okp")
        .clone();
    for (alg, name, jwk) in [
        (
            Algorithm::HS384,
            "HS384",
            json!({"kty":"oct","alg":"HS384","kid":"k","k":b64(HS64)}),
        ),
        (
            Algorithm::HS512,
            "HS512",
            json!({"kty":"oct","alg":"HS512","kid":"k","k":b64(HS64)}),
        ),
        (Algorithm::RS384, "RS384", rsa_jwk(Some("RS384"), "k")),
        (Algorithm::RS512, "RS512", rsa_jwk(Some("RS512"), "k")),
        (Algorithm::PS256, "PS256", rsa_jwk(Some("PS256"), "k")),
        (Algorithm::PS384, "PS384", rsa_jwk(Some("PS384"), "k")),
        (Algorithm::PS512, "PS512", rsa_jwk(Some("PS512"), "k")),
        (Algorithm::ES256, "ES256", ec["keys"][0].clone()),
        (Algorithm::ES384, "ES384", ec["keys"][1].clone()),
        (Algorithm::EdDSA, "EdDSA", ed.clone()),
        (Algorithm::EdDSA, "Ed25519", ed.clone()),
    ] {
        let a = Alg::parse(name).expect(name);
        let kid = jwk["kid"].as_str().map(str::to_owned);
        let keys = set_of(&[jwk]);
        let token = token_for(name, alg, kid.as_deref(), &claims());
        let id = verify(&token, &keys, &allow(&[a]), NOW);
        assert_eq!(id.map(|i| i.subject), Ok("user-1".to_owned()), "{name}");
        // Not on the allow-list: refused before any key is tried.
        assert_eq!(
            verify(&token, &keys, &allow(&[Alg::HS256]), NOW),
            Err(AuthError::AlgorithmNotAllowed),
            "{name}"
        );
        // Tampered payload.
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = b64(json!({"sub":"user-2","exp":NOW + 60})
            .to_string()
            .as_bytes());
        parts[1] = &other;
        assert_eq!(
            verify(&parts.join("."), &keys, &allow(&[a]), NOW),
            Err(AuthError::SignatureInvalid),
            "{name}"
        );
    }
    for unsupported in ["ES512", "ES256K", "none", "RSA-OAEP", "Ed448", "eddsa"] {
        assert_eq!(Alg::parse(unsupported), None, "{unsupported}");
    }
    assert_eq!(
        JwtPolicy::parse_algorithms("RS256,ES256"),
        Ok(vec![Alg::RS256, Alg::ES256])
    );
}

#[test]
fn a_key_is_bound_to_one_algorithm() {
    // The same RSA key signs RS256 and PS256 tokens.
    let rs = token_for("RS256", Algorithm::RS256, Some("r"), &claims());
    let ps = token_for("PS256", Algorithm::PS256, Some("r"), &claims());
    let both = allow(&[Alg::RS256, Alg::PS256]);
    // Without `alg`, with both allowed: an RS256 key, never a PS256 one.
    let bare = set_of(&[rsa_jwk(None, "r")]);
    assert!(verify(&rs, &bare, &both, NOW).is_ok());
    assert_eq!(verify(&ps, &bare, &both, NOW), Err(AuthError::UnknownKey));
    // The allow-list's only RSA algorithm binds it.
    let only_ps = allow(&[Alg::PS256, Alg::ES256]);
    assert!(verify(&ps, &bare, &only_ps, NOW).is_ok());
    // Declared: exactly that algorithm.
    let declared = set_of(&[rsa_jwk(Some("PS256"), "r")]);
    assert!(verify(&ps, &declared, &both, NOW).is_ok());
    assert_eq!(
        verify(&rs, &declared, &both, NOW),
        Err(AuthError::UnknownKey)
    );
    // An `alg` that does not fit the key is not a key.
    let mut k = KeySet::default();
    let doc = json!({"keys":[rsa_jwk(Some("ES256"), "r")]}).to_string();
    let report = k.add_jwks(doc.as_bytes()).expect("jwks");
    assert_eq!(report.added, 0);
    assert_eq!(
        report.skipped,
        vec![("r".to_owned(), Skip::AlgorithmMismatch("ES256".into()))]
    );
    // A secret without `alg` serves HS256 unless the allow-list's only HMAC is another.
    let secret = set_of(&[json!({"kty":"oct","kid":"s","k":b64(HS64)})]);
    let hs512 = token_for("HS512", Algorithm::HS512, Some("s"), &claims());
    let hs256 = token_for("HS256", Algorithm::HS256, Some("s"), &claims());
    let hmacs = allow(&[Alg::HS256, Alg::HS512]);
    assert!(verify(&hs256, &secret, &hmacs, NOW).is_ok());
    assert_eq!(
        verify(&hs512, &secret, &hmacs, NOW),
        Err(AuthError::UnknownKey)
    );
    assert!(verify(&hs512, &secret, &allow(&[Alg::HS512]), NOW).is_ok());
    // `EdDSA` and `Ed25519` name one primitive: an EdDSA key verifies both spellings,
    // each only when its name is allowed.
    let ed = token_for("Ed25519", Algorithm::EdDSA, Some("ed-test-1"), &claims());
    assert!(verify(&ed, &keys(), &allow(&[Alg::Ed25519]), NOW).is_ok());
    assert_eq!(
        verify(&ed, &keys(), &allow(&[Alg::EdDSA]), NOW),
        Err(AuthError::AlgorithmNotAllowed)
    );
}

#[test]
fn a_token_without_kid_uses_the_one_key_bound_to_its_algorithm() {
    let ec: Value = serde_json::from_str(EC_JWKS).expect("ec jwks");
    let es = token_for("ES256", Algorithm::ES256, None, &claims());
    let one = set_of(&[ec["keys"][0].clone(), ec["keys"][1].clone()]);
    assert!(verify(&es, &one, &allow(&[Alg::ES256]), NOW).is_ok());
    let mut second = ec["keys"][0].clone();
    second["kid"] = json!("ec-p256-test-2");
    let two = set_of(&[ec["keys"][0].clone(), second]);
    assert_eq!(
        verify(&es, &two, &allow(&[Alg::ES256]), NOW),
        Err(AuthError::UnknownKey),
        "two keys and no kid: which one is not guessed"
    );
}

#[test]
fn unusable_keys_of_a_published_set_are_skipped_and_named() {
    let ec: Value = serde_json::from_str(EC_JWKS).expect("ec jwks");
    let mut short_rsa = rsa_jwk(None, "weak");
    short_rsa["n"] = json!(b64(&[0xc5; 128]));
    let mut bad_point = ec["keys"][0].clone();
    bad_point["kid"] = json!("short-x");
    bad_point["x"] = json!("AAAA");
    let doc = json!({"keys": [
        {"kty":"EC","crv":"secp256k1","kid":"k1","x":b64(&[1; 32]),"y":b64(&[2; 32])},
        {"kty":"EC","crv":"P-521","kid":"p521","x":b64(&[1; 66]),"y":b64(&[2; 66])},
        rsa_jwk(None, "enc").as_object().map(|o| { let mut o = o.clone(); o.insert("use".into(), json!("enc")); Value::Object(o) }),
        {"kty":"RSA","kid":"ops","key_ops":["sign"],"n":b64(&[0xc5; 256]),"e":"AQAB"},
        {"kty":"PQC","kid":"future"},
        short_rsa,
        bad_point,
        {"kty":"oct","kid":"hs","k":b64(HS64)},
        "not an object",
        ec["keys"][0].clone(),
    ]});
    let mut remote = KeySet::default();
    let report = remote
        .add_remote_jwks(doc.to_string().as_bytes())
        .expect("one bad key does not spoil the set");
    assert_eq!(report.added, 1);
    let reasons: Vec<String> = report
        .skipped
        .iter()
        .map(|(kid, why)| format!("{kid}: {why}"))
        .collect();
    assert_eq!(
        reasons,
        [
            "k1: unsupported curve \"secp256k1\"",
            "p521: unsupported curve \"P-521\"",
            "enc: use is \"enc\", not \"sig\"",
            "ops: key_ops lacks \"verify\"",
            "future: unsupported kty \"PQC\"",
            "weak: rsa modulus of 1024 bits",
            "short-x: malformed x",
            "hs: symmetric key in a published document",
            "without kid: malformed key (not an object)",
        ]
    );
    let es = token_for("ES256", Algorithm::ES256, Some("ec-p256-test-1"), &claims());
    assert!(verify(&es, &remote, &allow(&[Alg::ES256]), NOW).is_ok());
    // The operator's own inline set refuses a broken key of a supported kind instead.
    assert_eq!(
        KeySet::default().add_jwks(doc.to_string().as_bytes()),
        Err(KeyError::InvalidKey("weak".into()))
    );
}
