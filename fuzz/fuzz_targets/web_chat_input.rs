//! Any web chat input: a session token (in a header or a WebSocket subprotocol offer), a
//! client frame or a posted body never panics, and no string opens a session it was not
//! issued for.
#![no_main]
use edge_core::chat::web::{frame, token};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-chat-token-secret";
const ID: &str = "0123456789abcdef0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let _ = frame::parse_posted(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = frame::parse_client_frame(text);
        let offered = token::from_subprotocols(text).unwrap_or(text);
        assert!(token::verify(SECRET, ID, offered, 1_800_000_000).is_err());
    }
});
