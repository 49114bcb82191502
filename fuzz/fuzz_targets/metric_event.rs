//! Any bytes: the collector's parser never panics, and what it accepts re-serializes to
//! an event it accepts again, unchanged.
#![no_main]
use edge_core::MetricEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = MetricEvent::from_json(data) {
        let again = serde_json::to_vec(&ev).expect("an accepted event serializes");
        assert_eq!(MetricEvent::from_json(&again), Ok(ev));
    }
});
