//! Any body and signature header: verification and parsing never panic, only the exact
//! signature verifies, and every parsed event survives the queue's JSON round trip.
#![no_main]
use edge_core::chat::line::signature;
use edge_core::chat::line::webhook::{Event, Webhook};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &[u8], &str)| {
    let (secret, body, header) = input;
    let good = signature::sign(secret, body);
    assert!(signature::verify(secret, body, Some(&good)).is_ok());
    if header != good {
        assert!(signature::verify(secret, body, Some(header)).is_err());
    }
    if let Ok(webhook) = Webhook::parse(body) {
        for event in &webhook.events {
            let json = serde_json::to_string(event).expect("serializes");
            let back: Event = serde_json::from_str(&json).expect("deserializes");
            assert_eq!(&back, event);
        }
    }
});
