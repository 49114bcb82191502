//! Any voice input: a recording's bytes (its WAV header), a transcription provider's answer
//! and a speech provider's audio never panic; a WAV never claims more than its bytes hold;
//! the text spoken is always a bounded prefix.
#![no_main]
use edge_core::chat::voice::{self, AudioLimits, AudioType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(ms) = voice::wav_duration_ms(data) {
        // A byte rate of at least 1 B/s: never longer than the bytes can hold.
        assert!(ms <= (data.len() as u64).saturating_mul(1_000));
    }
    let _ = voice::check_audio(AudioType::Wav, data, AudioLimits::default());
    let _ = voice::parse_transcription(data);
    let _ = voice::sniff_audio(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = AudioType::from_content_type(text);
        let spoken = voice::speech_input(text, 64);
        assert!(spoken.chars().count() <= 64 && text.trim().starts_with(spoken));
    }
});
