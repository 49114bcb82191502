//! Any bytes, cut anywhere: the SSE parser never panics, gives the same events however the
//! stream is cut, and never returns an event over its cap.
#![no_main]
use edge_core::chat::sse::{SseEvent, SseParser};
use libfuzzer_sys::fuzz_target;

const CAP: usize = 256;

fn parse(parts: &[&[u8]]) -> (Vec<SseEvent>, bool) {
    let mut p = SseParser::new(CAP);
    let mut events = Vec::new();
    for part in parts {
        match p.push(part) {
            Ok(mut e) => events.append(&mut e),
            Err(_) => return (events, true),
        }
    }
    (events, p.finish().is_err())
}

fuzz_target!(|input: (&[u8], u16)| {
    let (bytes, cut) = input;
    let at = usize::from(cut) % (bytes.len() + 1);
    let whole = parse(&[bytes]);
    assert_eq!(parse(&[&bytes[..at], &bytes[at..]]), whole);
    for e in &whole.0 {
        assert!(e.data.len() <= CAP);
    }
});
