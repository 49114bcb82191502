//! Any stored bytes and any Cache-Control: decoding and evaluating never panic, and an
//! entry that decodes re-encodes to the same bytes.
#![no_main]
use edge_core::cache::decide::{self, RequestFacts};
use edge_core::cache::directives::CacheControl;
use edge_core::cache::entry::{self, Stored};
use edge_core::cache::policy::PathPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], &str, u64)| {
    let (bytes, cache_control, now) = input;
    let _ = CacheControl::parse(cache_control);
    let headers = vec![("cache-control".to_owned(), cache_control.to_owned())];
    let req = RequestFacts {
        method: "GET",
        path: "/a",
        query: None,
        headers: &headers,
    };
    if let Some(Stored::Entry(meta, body)) = entry::decode_stored(bytes) {
        assert_eq!(entry::decode(&entry::encode(&meta, body)).map(|(m, _)| m), Some(meta.clone()));
        let eval = decide::evaluate(&meta, &req, PathPolicy::DefaultTtl(300), now);
        assert!(!(eval.fresh && eval.serve_while_revalidating));
        for cookies in [decide::SetCookie::Refuse, decide::SetCookie::Strip] {
            let _ = decide::storability(&req, &meta, PathPolicy::OriginOnly, cookies);
        }
    }
});
