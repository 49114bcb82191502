//! Any Authorization header: only the exact bearer secret is accepted.
#![no_main]
use edge_core::admin::authorize;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-admin-secret-0123456789";

fuzz_target!(|header: &str| {
    if authorize(Some(header), SECRET).is_ok() {
        let token = header.split_once(' ').map(|(_, t)| t);
        assert_eq!(token, Some(SECRET));
    }
});
