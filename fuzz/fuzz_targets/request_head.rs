//! Any request head: the policy decides without panicking, and an accepted path has no
//! dot segments or encoded separators.
#![no_main]
use edge_core::auth::request_policy::{RequestHead, RequestPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str, Option<&str>, Option<&str>, bool)| {
    let (method, path, content_type, content_length, has_body_stream) = input;
    let policy = RequestPolicy::defaults();
    let head = RequestHead {
        method,
        path,
        content_type,
        content_length,
        has_body_stream,
    };
    if policy.check(&head).is_ok() {
        assert!(!path.split('/').any(|s| s == ".." || s == "."));
        assert!(!path.to_ascii_lowercase().contains("%2f"));
    }
});
