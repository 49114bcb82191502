//! What the entry does to outside input before anything else: percent-escape
//! normalisation (idempotent, never panics, and an accepted path has one spelling and no
//! `;`), the reserved-header filter (a dropped name is reserved in every spelling), and the
//! JSON body check (UTF-8, depth) never panicking.
#![no_main]
use edge_core::auth::client_headers::{self, Disposition};
use edge_core::auth::request_policy::{RequestPolicy, check_json_body, normalize_escapes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str, &[u8])| {
    let (path, header, body) = input;
    if let Ok(normal) = normalize_escapes(path) {
        let again = normalize_escapes(&normal).expect("a normal spelling stays valid");
        assert_eq!(again, normal, "normalisation is idempotent");
        if RequestPolicy::defaults().check_path(&normal).is_ok() {
            assert!(!normal.contains(';'));
            assert!(!normal.split('/').any(|s| s == ".." || s == "."));
        }
    }
    match client_headers::disposition(header) {
        Disposition::Keep => assert!(!client_headers::is_reserved(header)),
        Disposition::Drop => assert!(!header.contains('_')),
        Disposition::Refuse => assert!(header.contains('_')),
    }
    let _ = check_json_body(body);
});
