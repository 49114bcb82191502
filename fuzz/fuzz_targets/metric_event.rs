//! Any bytes: the collector's parser never panics, what it accepts is within its bounds
//! (`tokens` at most `MAX_TOKENS`), and it re-serializes to an event it accepts again,
//! unchanged.
#![no_main]
use edge_core::MetricEvent;
use edge_core::metric::MAX_TOKENS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = MetricEvent::from_json(data) {
        assert!(ev.tokens.is_none_or(|t| t <= MAX_TOKENS));
        let again = serde_json::to_vec(&ev).expect("an accepted event serializes");
        assert_eq!(MetricEvent::from_json(&again), Ok(ev));
    }
});
