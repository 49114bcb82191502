//! Any `Authorization` value: parsing and JWT verification never panic, and an accepted
//! identity only yields header-safe values.
#![no_main]
use edge_core::auth::credentials::Credential;
use edge_core::auth::jwt::{self, Alg, JwtPolicy, KeySet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|header: &str| {
    let mut keys = KeySet::default();
    keys.add_hs256_secret(b"fuzz-secret-fuzz-secret-fuzz-secret!")
        .expect("long enough");
    let policy = JwtPolicy {
        algorithms: vec![Alg::HS256, Alg::RS256, Alg::EdDSA],
        issuer: None,
        audience: None,
        leeway_s: 30,
        rate_limit: None,
        claims: edge_core::auth::claims::ClaimsMapping::default(),
    };
    if let Ok(Credential::Bearer(token)) = Credential::parse(Some(header))
        && let Ok(identity) = jwt::verify(token, &keys, &policy, 1_800_000_000)
    {
        for (_, value) in identity.headers() {
            assert!(value.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
        }
    }
});
