//! Any provider stream (bytes, cut anywhere): the reader never panics
//! and gives the same texts and end however it is cut; the splice over any two providers'
//! outputs shows exactly what it returned, within its limit.
#![no_main]
use edge_core::chat::stream::{Splice, StreamReader};
use libfuzzer_sys::fuzz_target;

fn read(parts: &[&[u8]]) -> (Vec<String>, String) {
    let mut r = StreamReader::new();
    let mut texts = Vec::new();
    for part in parts {
        match r.push(part) {
            Ok(mut t) => texts.append(&mut t),
            Err(e) => return (texts, format!("{e:?}")),
        }
        if r.is_done() {
            break;
        }
    }
    (texts, format!("{:?}", r.finish()))
}

fuzz_target!(|input: (&[u8], u16, &str, &str)| {
    let (bytes, cut, first, second) = input;
    let at = usize::from(cut) % (bytes.len() + 1);
    let whole = read(&[bytes]);
    let cut_read = read(&[&bytes[..at], &bytes[at..]]);
    if !whole.1.starts_with("Err(TooLarge") {
        assert_eq!(cut_read, whole);
    }
    let mut s = Splice::new(64);
    let mut shown = s.push(first);
    s.restart();
    for piece in second.split_inclusive(' ') {
        shown.push_str(&s.push(piece));
    }
    assert_eq!(shown, s.shown());
    assert!(s.shown().chars().count() <= 64);
});
