//! Any string: an accepted request id is header-safe and at most 64 bytes.
#![no_main]
use edge_core::RequestId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Some(id) = RequestId::parse(s) {
        assert!(id.as_str().len() <= edge_core::request_id::MAX_LEN);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_graphic()));
    }
});
