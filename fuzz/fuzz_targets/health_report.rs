//! Any status and body from a next hop: folding never panics, and a hop is `ok` only with
//! a report attached.
#![no_main]
use edge_core::ServiceName;
use edge_core::health::{HopOutcome, HopStatus, NextHop};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, &[u8])| {
    let (status, body) = input;
    let hop = NextHop::from_outcome(ServiceName::CacheManager, HopOutcome::Answered { status, body });
    if hop.status == HopStatus::Ok {
        assert!(hop.report.is_some());
    }
});
