//! Any LangServe `/invoke` body and any `/stream` event sequence: parsing never panics, an
//! accepted answer is trimmed, non-empty and within the limit, and a stream never delivers
//! more than the limit, an empty delta, or anything after its end.
#![no_main]
use edge_core::chat::completion::MAX_ANSWER_CHARS;
use edge_core::chat::langserve::{StreamReader, StreamStep, parse_invoke};
use libfuzzer_sys::fuzz_target;

const NAMES: [Option<&str>; 5] = [None, Some("metadata"), Some("data"), Some("error"), Some("end")];

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = parse_invoke(data) {
        assert!(!a.text.is_empty() && a.text.trim() == a.text);
        assert!(a.text.chars().count() <= MAX_ANSWER_CHARS);
    }
    // The same bytes as events: a name picked by a byte, data up to a NUL separator.
    let mut reader = StreamReader::new();
    let mut ended = false;
    for part in data.split(|b| *b == 0) {
        let Some((&which, rest)) = part.split_first() else { continue };
        let name = NAMES[usize::from(which) % NAMES.len()];
        let step = reader.event(name, &String::from_utf8_lossy(rest));
        assert!(!ended || step.is_err(), "nothing after the end");
        match step {
            Ok(StreamStep::Delta(d)) => assert!(!d.is_empty()),
            Ok(StreamStep::End) | Err(_) => ended = true,
            Ok(StreamStep::Skip) => {}
        }
        assert!(reader.chars() <= MAX_ANSWER_CHARS);
    }
});
