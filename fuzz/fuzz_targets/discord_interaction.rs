//! Any body, headers and custom id: the signature check, interaction, command and component
//! parsers never panic, and a component id that parses prints back to itself.
#![no_main]
use edge_core::chat::discord::command::{Command, focused};
use edge_core::chat::discord::component::Component;
use edge_core::chat::discord::interaction::Interaction;
use edge_core::chat::discord::signature;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], &str, &str, &str)| {
    let (body, sig, ts, custom_id) = input;
    let key = signature::public_key("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        .expect("RFC 8032 test key");
    let _ = signature::verify(&key, Some(sig), Some(ts), body, 1_795_435_200, 300);
    if let Ok(i) = Interaction::parse(body) {
        let _ = Command::parse(&i.data);
        let _ = focused(&i.data);
    }
    if let Some(c) = Component::parse(custom_id) {
        assert_eq!(c.custom_id(), custom_id);
    }
});
