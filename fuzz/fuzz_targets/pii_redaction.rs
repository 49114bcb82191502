//! Any text: redaction never panics, is idempotent, leaves no `@` address or Luhn-valid
//! 13–19-digit number standing alone, and changes nothing in a text it calls clean.
#![no_main]
use edge_core::chat::privacy::{is_clean, luhn, percent_decoded, redacted};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = percent_decoded(text);
    let once = redacted(text);
    assert_eq!(redacted(&once), once, "idempotent");
    assert!(is_clean(&once));
    // A card standing alone (spaces around it) never survives.
    for word in once.split(' ') {
        let d: Vec<u8> = word.bytes().map(|b| b.wrapping_sub(b'0')).collect();
        if (13..=19).contains(&d.len()) && d.iter().all(|&x| x < 10) {
            assert!(!luhn(&d), "{word} survived");
        }
    }
});
