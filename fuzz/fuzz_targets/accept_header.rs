//! Any Accept header: parsing and negotiation never panic, weights stay in 0..=1000, and the
//! scrape always gets a format.
#![no_main]
use edge_core::accept::Accept;
use edge_core::analytics::prometheus::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|header: &str| {
    if let Ok(a) = Accept::parse(header) {
        assert!(a.ranges.iter().all(|r| r.q <= 1000));
    }
    let _ = Format::negotiate(Some(header)).content_type();
});
