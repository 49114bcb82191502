//! Any 429 answer from Discord (body and `Retry-After` header): the edit is retried at most
//! once, never for longer than the bot waits, and never past the interaction token's life.
#![no_main]
use edge_core::chat::discord::api::{EditDecision, MAX_RETRY_WAIT_MS, TOKEN_LIFE_MS, after_edit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], &str, u16, u32, u64)| {
    let (body, header, status, attempt, elapsed) = input;
    let received = 1_700_000_000_000;
    let now = received + elapsed % (2 * TOKEN_LIFE_MS);
    if let EditDecision::RetryAfter { wait_ms } =
        after_edit(status, body, Some(header), attempt, now, received)
    {
        assert_eq!((status, attempt), (429, 0));
        assert!(wait_ms <= MAX_RETRY_WAIT_MS);
        assert!(now + wait_ms < received + TOKEN_LIFE_MS);
    }
});
