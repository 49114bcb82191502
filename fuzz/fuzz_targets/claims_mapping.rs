//! Any `JWT_CLAIMS` document and any claims object: parsing and mapping never panic, and a
//! mapped identity holds a valid role, at most 64 valid permissions and a header-safe user id.
#![no_main]
use edge_core::auth::claims::ClaimsMapping;
use edge_core::auth::identity::{MAX_PERMISSIONS, valid_permission, valid_role};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(|input: (&str, &[u8])| {
    let (document, claims) = input;
    let mapping = ClaimsMapping::parse(document).unwrap_or_default();
    let Ok(claims) = serde_json::from_slice::<Map<String, Value>>(claims) else {
        return;
    };
    let grants = mapping.grants(&claims);
    assert!(valid_role(&grants.role));
    assert!(grants.permissions.len() <= MAX_PERMISSIONS);
    assert!(grants.permissions.iter().all(|p| valid_permission(p)));
    if let Ok(subject) = mapping.subject(&claims) {
        assert!(subject.bytes().all(|b| b.is_ascii_graphic()));
    }
});
