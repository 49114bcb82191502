//! Voice messages for the web chat, sans-IO: which audio is taken ([`AudioType`]), its
//! size and length ([`check_audio`], [`wav_duration_ms`], [`check_duration`]), the
//! OpenAI-compatible `/audio/transcriptions` request ([`Multipart`]) and answer
//! ([`parse_transcription`]), the `/audio/speech` request ([`speech_body`],
//! [`speech_input`]) and what may be relayed of its answer ([`sniff_audio`]), and the
//! `transcript` event that opens a voice message's SSE answer ([`transcript_event`]).
//!
//! The length of a recording is known before paying for its transcription only for WAV
//! (its header says it exactly); for the compressed types the transcription's
//! `duration` (`response_format=verbose_json`) is checked afterwards, and the byte limit
//! bounds what a provider that reports none can be sent.

use serde::{Deserialize, Serialize};

use crate::chat::sse;
use crate::error::HttpError;

/// Default largest recording, bytes (`VOICE_MAX_BYTES`).
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;
/// Default longest recording, seconds (`VOICE_MAX_SECONDS`).
pub const DEFAULT_MAX_SECONDS: u64 = 60;
/// Largest transcription answer read, bytes (a minute of speech is ~1 KB of text; the
/// verbose answer's segments add a few KB).
pub const MAX_TRANSCRIPTION_ANSWER_BYTES: usize = 256 * 1024;
/// Default longest text sent to be spoken, characters (OpenAI's `/audio/speech` limit).
pub const DEFAULT_SPEECH_MAX_CHARS: usize = 4_096;
/// Longest model, voice or language name accepted from settings, characters.
pub const MAX_NAME_CHARS: usize = 128;

/// An audio type the voice endpoint takes (its `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioType {
    /// `audio/webm` (Chromium's and Firefox's MediaRecorder).
    Webm,
    /// `audio/ogg` (Firefox's MediaRecorder, Opus or Vorbis).
    Ogg,
    /// `audio/wav` (also `audio/x-wav`, `audio/wave`, `audio/vnd.wave`).
    Wav,
    /// `audio/mpeg` (also `audio/mp3`).
    Mpeg,
    /// `audio/mp4` (Safari's MediaRecorder; also `audio/x-m4a`, `audio/m4a`, `audio/aac`).
    Mp4,
}

impl AudioType {
    /// The type named by a `Content-Type` value (parameters such as `codecs` ignored,
    /// case-insensitive); `None` for anything else.
    #[must_use]
    pub fn from_content_type(value: &str) -> Option<Self> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        let lower = essence.to_ascii_lowercase();
        Some(match lower.as_str() {
            "audio/webm" => Self::Webm,
            "audio/ogg" => Self::Ogg,
            "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => Self::Wav,
            "audio/mpeg" | "audio/mp3" => Self::Mpeg,
            "audio/mp4" | "audio/x-m4a" | "audio/m4a" | "audio/aac" => Self::Mp4,
            _ => return None,
        })
    }

    /// The canonical media type, as sent to the transcription provider.
    #[must_use]
    pub const fn mime(self) -> &'static str {
        match self {
            Self::Webm => "audio/webm",
            Self::Ogg => "audio/ogg",
            Self::Wav => "audio/wav",
            Self::Mpeg => "audio/mpeg",
            Self::Mp4 => "audio/mp4",
        }
    }

    /// The file name sent with it (providers pick the decoder by its extension).
    #[must_use]
    pub const fn file_name(self) -> &'static str {
        match self {
            Self::Webm => "voice.webm",
            Self::Ogg => "voice.ogg",
            Self::Wav => "voice.wav",
            Self::Mpeg => "voice.mp3",
            Self::Mp4 => "voice.m4a",
        }
    }
}

/// Why a voice request is refused or fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VoiceError {
    /// Not one of the audio types taken.
    #[error(
        "unsupported audio type: send audio/webm, audio/ogg, audio/wav, audio/mpeg or audio/mp4"
    )]
    UnsupportedType,
    /// No audio bytes.
    #[error("the recording is empty")]
    Empty,
    /// More bytes than allowed.
    #[error("the recording is larger than {max_bytes} bytes")]
    TooLarge {
        /// The limit, bytes.
        max_bytes: usize,
    },
    /// Longer than allowed (from the WAV header or the transcription's duration).
    #[error("the recording is longer than {max_s} s")]
    TooLong {
        /// The limit, seconds.
        max_s: u64,
    },
    /// A WAV whose header is not one.
    #[error("the recording is not valid audio of its type")]
    BadAudio,
    /// The transcription found no words.
    #[error("no speech was recognised in the recording")]
    NoSpeech,
    /// Voice is not configured, or its provider failed, timed out or answered nonsense.
    #[error("voice is unavailable right now; please type your message")]
    Unavailable,
    /// The message to speak is not an assistant message of this session.
    #[error("no such answer to speak")]
    NoSuchAnswer,
}

impl HttpError for VoiceError {
    fn status(&self) -> u16 {
        match self {
            Self::UnsupportedType => 415,
            Self::Empty | Self::BadAudio => 400,
            Self::TooLarge { .. } | Self::TooLong { .. } => 413,
            Self::NoSpeech => 422,
            Self::Unavailable => 503,
            Self::NoSuchAnswer => 404,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedType => "unsupported_audio_type",
            Self::Empty => "empty_audio",
            Self::TooLarge { .. } => "audio_too_large",
            Self::TooLong { .. } => "audio_too_long",
            Self::BadAudio => "bad_audio",
            Self::NoSpeech => "no_speech",
            Self::Unavailable => "voice_unavailable",
            Self::NoSuchAnswer => "message_not_found",
        }
    }
}

/// The limits on one recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLimits {
    /// Largest recording, bytes.
    pub max_bytes: usize,
    /// Longest recording, seconds.
    pub max_seconds: u64,
}

impl Default for AudioLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            max_seconds: DEFAULT_MAX_SECONDS,
        }
    }
}

/// Checks a recording before it is transcribed: not empty, within the byte limit, and
/// for WAV within the length limit. Returns its length in ms when the bytes tell it (WAV).
///
/// # Errors
/// [`VoiceError::Empty`], [`VoiceError::TooLarge`], [`VoiceError::TooLong`],
/// [`VoiceError::BadAudio`] (a WAV without a readable header).
pub fn check_audio(
    kind: AudioType,
    bytes: &[u8],
    limits: AudioLimits,
) -> Result<Option<u64>, VoiceError> {
    if bytes.is_empty() {
        return Err(VoiceError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(VoiceError::TooLarge {
            max_bytes: limits.max_bytes,
        });
    }
    let ms = match kind {
        AudioType::Wav => Some(wav_duration_ms(bytes).ok_or(VoiceError::BadAudio)?),
        _ => None,
    };
    check_duration(ms, limits.max_seconds)?;
    Ok(ms)
}

/// Refuses a known length over `max_seconds` (an unknown one passes: the byte limit
/// bounds it).
///
/// # Errors
/// [`VoiceError::TooLong`].
pub fn check_duration(ms: Option<u64>, max_seconds: u64) -> Result<(), VoiceError> {
    match ms {
        Some(ms) if ms > max_seconds.saturating_mul(1_000) => {
            Err(VoiceError::TooLong { max_s: max_seconds })
        }
        _ => Ok(()),
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Most RIFF chunks looked at before `data` (a real file has a handful).
const MAX_WAV_CHUNKS: usize = 64;

/// The length of a RIFF/WAVE recording in ms, from its `fmt ` chunk's byte rate and its
/// `data` chunk's size (a size past the end of the bytes, as a streaming writer leaves
/// it, counts the bytes there are). `None` when the header is not one.
#[must_use]
pub fn wav_duration_ms(b: &[u8]) -> Option<u64> {
    if b.get(0..4)? != b"RIFF" || b.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut at = 12usize;
    let mut byte_rate = None;
    for _ in 0..MAX_WAV_CHUNKS {
        let id = b.get(at..at + 4)?;
        let size = u32_at(b, at + 4)? as usize;
        let body = at + 8;
        match id {
            b"fmt " => {
                // format, channels, sample rate, then the byte rate.
                if size < 16 || u16_at(b, body + 2)? == 0 {
                    return None;
                }
                let rate = u32_at(b, body + 8)?;
                if rate == 0 {
                    return None;
                }
                byte_rate = Some(rate);
            }
            b"data" => {
                let len = size.min(b.len().saturating_sub(body)) as u64;
                return Some(len.saturating_mul(1_000) / u64::from(byte_rate?));
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        at = body.checked_add(size)?.checked_add(size & 1)?;
    }
    None
}

/// Whether `s` may be sent as a model, voice or language name: 1 to [`MAX_NAME_CHARS`]
/// printable ASCII characters without quotes or backslashes (it goes into a multipart
/// header-free field and a JSON string, and a setting must not be able to break either).
#[must_use]
pub fn valid_name(s: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_graphic() && c != b'"' && c != b'\\')
}

/// A `multipart/form-data` body (RFC 7578) under construction. The boundary is the
/// caller's random string (the worker's: 32 hex digits, unknown to whoever sent the
/// audio, so the audio cannot contain it but by chance: 2^-128).
#[derive(Debug)]
pub struct Multipart {
    boundary: String,
    body: Vec<u8>,
}

impl Multipart {
    /// An empty body with `boundary` (1–70 characters of `[0-9A-Za-z'()+_,-./:=?]`, else
    /// a fixed one).
    #[must_use]
    pub fn new(boundary: &str) -> Self {
        let ok = (1..=70).contains(&boundary.len())
            && boundary
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"'()+_,-./:=?".contains(&c));
        Self {
            boundary: if ok { boundary } else { "edge-voice-boundary" }.to_owned(),
            body: Vec::new(),
        }
    }

    fn open(&mut self, disposition: &str) {
        self.body.extend_from_slice(b"--");
        self.body.extend_from_slice(self.boundary.as_bytes());
        self.body
            .extend_from_slice(b"\r\nContent-Disposition: form-data; ");
        self.body.extend_from_slice(disposition.as_bytes());
        self.body.extend_from_slice(b"\r\n");
    }

    /// Adds a text field. `name` and `value` are the caller's (constants and validated
    /// settings: [`valid_name`]); line breaks are dropped so neither can start a header.
    #[must_use]
    pub fn text(mut self, name: &str, value: &str) -> Self {
        let clean = |s: &str| s.replace(['\r', '\n', '"'], "");
        self.open(&format!("name=\"{}\"", clean(name)));
        self.body.extend_from_slice(b"\r\n");
        self.body.extend_from_slice(clean(value).as_bytes());
        self.body.extend_from_slice(b"\r\n");
        self
    }

    /// Adds a file field of type `kind`.
    #[must_use]
    pub fn file(mut self, name: &str, kind: AudioType, bytes: &[u8]) -> Self {
        self.open(&format!(
            "name=\"{name}\"; filename=\"{}\"",
            kind.file_name()
        ));
        self.body.extend_from_slice(b"Content-Type: ");
        self.body.extend_from_slice(kind.mime().as_bytes());
        self.body.extend_from_slice(b"\r\n\r\n");
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    /// The body's `Content-Type` and bytes.
    #[must_use]
    pub fn finish(mut self) -> (String, Vec<u8>) {
        self.body.extend_from_slice(b"--");
        self.body.extend_from_slice(self.boundary.as_bytes());
        self.body.extend_from_slice(b"--\r\n");
        (
            format!("multipart/form-data; boundary={}", self.boundary),
            self.body,
        )
    }
}

/// The `/audio/transcriptions` request body: the recording, the model, and
/// `response_format=verbose_json` (for `duration` and `language`); `language` (ISO-639-1)
/// when the deployment fixes one.
#[must_use]
pub fn transcription_body(
    boundary: &str,
    model: &str,
    language: Option<&str>,
    kind: AudioType,
    audio: &[u8],
) -> (String, Vec<u8>) {
    let form = Multipart::new(boundary)
        .file("file", kind, audio)
        .text("model", model)
        .text("response_format", "verbose_json");
    match language {
        Some(l) => form.text("language", l),
        None => form,
    }
    .finish()
}

/// What a transcription said.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// The words, trimmed (not empty).
    pub text: String,
    /// The recording's length, ms, when the provider reported it.
    pub duration_ms: Option<u64>,
    /// The language the provider heard, when it said (at most 32 characters).
    pub language: Option<String>,
}

#[derive(Deserialize)]
struct TranscriptionAnswer {
    text: String,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    language: Option<String>,
}

/// Reads a transcription answer (`verbose_json` or plain `json`: an object with `text`,
/// maybe `duration` in seconds and `language`).
///
/// # Errors
/// [`VoiceError::Unavailable`] for an answer that is not one (the provider is broken);
/// [`VoiceError::NoSpeech`] when its text is blank.
pub fn parse_transcription(body: &[u8]) -> Result<Transcript, VoiceError> {
    let a: TranscriptionAnswer =
        serde_json::from_slice(body).map_err(|_| VoiceError::Unavailable)?;
    let text = a.text.trim();
    if text.is_empty() {
        return Err(VoiceError::NoSpeech);
    }
    let duration_ms = a
        .duration
        .filter(|d| d.is_finite() && *d >= 0.0)
        // Saturates at u64::MAX for absurd values (`as` on a float saturates).
        .map(|d| (d * 1_000.0).ceil() as u64);
    let language = a
        .language
        .map(|l| l.trim().chars().take(32).collect::<String>())
        .filter(|l| !l.is_empty());
    Ok(Transcript {
        text: text.to_owned(),
        duration_ms,
        language,
    })
}

/// The `transcript` event that opens a voice message's SSE answer (before the stored
/// message's `message` event): the words heard, the recording's length when known, and
/// whether the page should speak the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranscriptFrame<'a> {
    /// Always `transcript`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The words heard (what is posted as the user's message).
    pub text: &'a str,
    /// The recording's length, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The language heard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<&'a str>,
    /// Whether answers to voice are spoken by default (`VOICE_SPEAK`).
    pub speak: bool,
}

/// The SSE bytes of [`TranscriptFrame`] for `t`.
#[must_use]
pub fn transcript_event(t: &Transcript, speak: bool) -> String {
    let frame = TranscriptFrame {
        kind: "transcript",
        text: &t.text,
        duration_ms: t.duration_ms,
        language: t.language.as_deref(),
        speak,
    };
    let json = serde_json::to_string(&frame).unwrap_or_default();
    sse::encode("transcript", &json)
}

/// The part of `text` to speak: all of it when it has at most `max_chars` characters,
/// else its longest prefix within them that ends a sentence (`.`, `!`, `?`, `。`, or a
/// line break), else that ends a word, else `max_chars` characters.
#[must_use]
pub fn speech_input(text: &str, max_chars: usize) -> &str {
    let text = text.trim();
    let Some((cut, _)) = text.char_indices().nth(max_chars) else {
        return text;
    };
    let head = &text[..cut];
    let sentence = head
        .char_indices()
        .rev()
        .find(|(_, c)| matches!(c, '.' | '!' | '?' | '。' | '\n'))
        .map(|(i, c)| i + c.len_utf8());
    let word = head.rfind(char::is_whitespace);
    match (sentence, word) {
        (Some(end), _) if end > 0 => head[..end].trim_end(),
        (_, Some(end)) if end > 0 => head[..end].trim_end(),
        _ => head,
    }
}

#[derive(Serialize)]
struct SpeechRequest<'a> {
    model: &'a str,
    voice: &'a str,
    input: &'a str,
    response_format: &'static str,
}

/// The `/audio/speech` request body (JSON; MP3 asked for: every browser plays it).
#[must_use]
pub fn speech_body(model: &str, voice: &str, input: &str) -> Vec<u8> {
    serde_json::to_vec(&SpeechRequest {
        model,
        voice,
        input,
        response_format: "mp3",
    })
    .unwrap_or_default()
}

/// The media type of audio bytes, from their first bytes: MP3 (ID3 tag or an MPEG audio
/// frame), Ogg, WAV, FLAC, WebM, MP4, AAC (ADTS). `None` for anything else: a provider's
/// answer that is not audio (an HTML error page with a 200) is never relayed.
#[must_use]
pub fn sniff_audio(b: &[u8]) -> Option<&'static str> {
    match b {
        [b'I', b'D', b'3', ..] => Some("audio/mpeg"),
        // ADTS AAC: sync, then layer bits 00.
        [0xFF, second, ..] if second & 0xF6 == 0xF0 => Some("audio/aac"),
        // MPEG audio frame: 11 sync bits, a version that is not reserved, a layer.
        [0xFF, second, ..]
            if second & 0xE0 == 0xE0 && second & 0x18 != 0x08 && second & 0x06 != 0 =>
        {
            Some("audio/mpeg")
        }
        [b'O', b'g', b'g', b'S', ..] => Some("audio/ogg"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'A',
            b'V',
            b'E',
            ..,
        ] => Some("audio/wav"),
        [b'f', b'L', b'a', b'C', ..] => Some("audio/flac"),
        [0x1A, 0x45, 0xDF, 0xA3, ..] => Some("audio/webm"),
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => Some("audio/mp4"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A PCM WAV: `rate` Hz, `channels`, 16 bits, `ms` long; `declared` overrides the data
    /// size written in the header.
    fn wav(rate: u32, channels: u16, ms: u32, declared: Option<u32>) -> Vec<u8> {
        let byte_rate = rate * u32::from(channels) * 2;
        let len = byte_rate / 1_000 * ms;
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + len).to_le_bytes());
        b.extend_from_slice(b"WAVE");
        // An extra chunk before fmt, odd-sized (padded).
        b.extend_from_slice(b"LIST");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(b"abc\0");
        b.extend_from_slice(b"fmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&byte_rate.to_le_bytes());
        b.extend_from_slice(&(channels * 2).to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&declared.unwrap_or(len).to_le_bytes());
        b.resize(b.len() + len as usize, 0);
        b
    }

    #[test]
    fn content_types_by_essence_case_and_aliases() {
        assert_eq!(
            AudioType::from_content_type("audio/webm;codecs=opus"),
            Some(AudioType::Webm)
        );
        assert_eq!(
            AudioType::from_content_type(" Audio/OGG ; codecs=opus"),
            Some(AudioType::Ogg)
        );
        assert_eq!(
            AudioType::from_content_type("audio/x-wav"),
            Some(AudioType::Wav)
        );
        assert_eq!(
            AudioType::from_content_type("audio/mp3"),
            Some(AudioType::Mpeg)
        );
        assert_eq!(
            AudioType::from_content_type("audio/mp4"),
            Some(AudioType::Mp4)
        );
        for bad in [
            "",
            "video/webm",
            "audio/webmx",
            "text/plain",
            "audio/*",
            "audio",
        ] {
            assert_eq!(AudioType::from_content_type(bad), None, "{bad}");
        }
    }

    #[test]
    fn wav_length_from_the_header() {
        assert_eq!(wav_duration_ms(&wav(16_000, 1, 2_500, None)), Some(2_500));
        assert_eq!(wav_duration_ms(&wav(48_000, 2, 1_000, None)), Some(1_000));
        // A streaming writer's "unknown" size: the bytes that are there count.
        assert_eq!(
            wav_duration_ms(&wav(16_000, 1, 750, Some(u32::MAX))),
            Some(750)
        );
        // A header claiming an hour over a second of bytes is a second.
        assert_eq!(
            wav_duration_ms(&wav(16_000, 1, 1_000, Some(16_000 * 2 * 3_600))),
            Some(1_000)
        );
        assert_eq!(wav_duration_ms(b"RIFF\0\0\0\0WAVE"), None);
        assert_eq!(wav_duration_ms(b"OggS not a wav"), None);
        let mut no_rate = wav(16_000, 1, 100, None);
        // The byte rate of the fmt chunk (after RIFF header 12 + LIST 12 + fmt header 8 + 8).
        no_rate[40..44].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(wav_duration_ms(&no_rate), None);
    }

    #[test]
    fn audio_checks_before_paying() {
        let limits = AudioLimits {
            max_bytes: 200_000,
            max_seconds: 3,
        };
        assert_eq!(
            check_audio(AudioType::Wav, &wav(16_000, 1, 2_000, None), limits),
            Ok(Some(2_000))
        );
        assert_eq!(
            check_audio(AudioType::Wav, &wav(16_000, 1, 4_000, None), limits),
            Err(VoiceError::TooLong { max_s: 3 })
        );
        assert_eq!(
            check_audio(AudioType::Webm, &[1; 200_001], limits),
            Err(VoiceError::TooLarge { max_bytes: 200_000 })
        );
        assert_eq!(
            check_audio(AudioType::Webm, &[], limits),
            Err(VoiceError::Empty)
        );
        assert_eq!(check_audio(AudioType::Webm, &[1; 100], limits), Ok(None));
        assert_eq!(
            check_audio(AudioType::Wav, b"not a wav at all", limits),
            Err(VoiceError::BadAudio)
        );
        assert_eq!(check_duration(Some(3_000), 3), Ok(()));
        assert_eq!(
            check_duration(Some(3_001), 3),
            Err(VoiceError::TooLong { max_s: 3 })
        );
        assert_eq!(check_duration(None, 3), Ok(()));
    }

    #[test]
    fn errors_have_statuses_and_codes() {
        let all = [
            (VoiceError::UnsupportedType, 415, "unsupported_audio_type"),
            (VoiceError::Empty, 400, "empty_audio"),
            (
                VoiceError::TooLarge { max_bytes: 1 },
                413,
                "audio_too_large",
            ),
            (VoiceError::TooLong { max_s: 1 }, 413, "audio_too_long"),
            (VoiceError::BadAudio, 400, "bad_audio"),
            (VoiceError::NoSpeech, 422, "no_speech"),
            (VoiceError::Unavailable, 503, "voice_unavailable"),
            (VoiceError::NoSuchAnswer, 404, "message_not_found"),
        ];
        for (e, status, code) in all {
            assert_eq!((e.status(), e.code()), (status, code), "{e}");
        }
    }

    #[test]
    fn the_multipart_body_is_well_formed() {
        let (ct, body) = transcription_body(
            "b0123456789abcdef",
            "whisper-1",
            Some("th"),
            AudioType::Webm,
            b"audio-bytes",
        );
        assert_eq!(ct, "multipart/form-data; boundary=b0123456789abcdef");
        let text = String::from_utf8_lossy(&body);
        assert_eq!(
            text,
            "--b0123456789abcdef\r\nContent-Disposition: form-data; name=\"file\"; filename=\"voice.webm\"\r\n\
             Content-Type: audio/webm\r\n\r\naudio-bytes\r\n\
             --b0123456789abcdef\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n\
             --b0123456789abcdef\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\nverbose_json\r\n\
             --b0123456789abcdef\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nth\r\n\
             --b0123456789abcdef--\r\n"
        );
        // A value cannot start a header or a part; a bad boundary is replaced.
        let (ct, body) = Multipart::new("bad boundary\r\n")
            .text("model", "m\r\n--x\r\nX: y")
            .finish();
        assert_eq!(ct, "multipart/form-data; boundary=edge-voice-boundary");
        assert!(String::from_utf8_lossy(&body).contains("\r\n\r\nm--xX: y\r\n"));
    }

    #[test]
    fn names_from_settings() {
        assert!(valid_name("whisper-1") && valid_name("gpt-4o-mini-tts") && valid_name("th"));
        for bad in [
            "",
            "a b",
            "a\"b",
            "a\\b",
            "a\nb",
            "m".repeat(129).as_str(),
            "ไทย",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn transcriptions_verbose_and_plain() {
        let t = parse_transcription(
            br#"{"task":"transcribe","language":"english","duration":2.3401,"text":"  Where is my order?  ","segments":[]}"#,
        )
        .expect("a transcription");
        assert_eq!(t.text, "Where is my order?");
        assert_eq!(t.duration_ms, Some(2_341));
        assert_eq!(t.language.as_deref(), Some("english"));
        let plain = parse_transcription(br#"{"text":"hello"}"#).expect("a transcription");
        assert_eq!((plain.duration_ms, plain.language), (None, None));
        assert_eq!(
            parse_transcription(br#"{"text":"  "}"#),
            Err(VoiceError::NoSpeech)
        );
        for bad in [&b"<html>"[..], b"{}", br#"{"text":5}"#, b""] {
            assert_eq!(parse_transcription(bad), Err(VoiceError::Unavailable));
        }
        let weird = parse_transcription(br#"{"text":"x","duration":-1}"#).expect("a transcription");
        assert_eq!(weird.duration_ms, None);
        let huge =
            parse_transcription(br#"{"text":"x","duration":1e300}"#).expect("a transcription");
        assert_eq!(huge.duration_ms, Some(u64::MAX));
        assert!(check_duration(huge.duration_ms, 60).is_err());
    }

    #[test]
    fn the_transcript_event_comes_first_as_sse() {
        let t = Transcript {
            text: "hi\nthere".to_owned(),
            duration_ms: Some(1_200),
            language: None,
        };
        assert_eq!(
            transcript_event(&t, true),
            "event: transcript\ndata: {\"type\":\"transcript\",\"text\":\"hi\\nthere\",\"duration_ms\":1200,\"speak\":true}\n\n"
        );
    }

    #[test]
    fn speech_input_cuts_at_a_sentence_then_a_word() {
        assert_eq!(speech_input("  Short answer.  ", 100), "Short answer.");
        assert_eq!(speech_input("One. Two three four five", 12), "One.");
        assert_eq!(speech_input("one two three four", 10), "one two");
        assert_eq!(speech_input("abcdefghijkl", 5), "abcde");
        assert_eq!(speech_input("ร้านเปิด 9 โมง ปิด 6 โมง", 12), "ร้านเปิด 9");
        assert_eq!(speech_input("", 5), "");
        let body = speech_body("tts-1", "alloy", "He said \"hi\"");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).expect("a transcription"),
            serde_json::json!({"model":"tts-1","voice":"alloy","input":"He said \"hi\"","response_format":"mp3"})
        );
    }

    #[test]
    fn only_audio_is_relayed() {
        assert_eq!(sniff_audio(b"ID3\x04\0\0"), Some("audio/mpeg"));
        assert_eq!(sniff_audio(&[0xFF, 0xFB, 0x90, 0x64]), Some("audio/mpeg"));
        assert_eq!(sniff_audio(&[0xFF, 0xF3, 0x90]), Some("audio/mpeg"));
        assert_eq!(sniff_audio(&[0xFF, 0xF1, 0x50]), Some("audio/aac"));
        assert_eq!(sniff_audio(b"OggS\0\x02"), Some("audio/ogg"));
        assert_eq!(sniff_audio(&wav(8_000, 1, 10, None)), Some("audio/wav"));
        assert_eq!(sniff_audio(b"fLaC\0"), Some("audio/flac"));
        assert_eq!(
            sniff_audio(&[0x1A, 0x45, 0xDF, 0xA3, 1]),
            Some("audio/webm")
        );
        assert_eq!(sniff_audio(b"\0\0\0\x20ftypM4A "), Some("audio/mp4"));
        for bad in [
            &b"<html>"[..],
            b"{\"error\":1}",
            b"",
            &[0xFF, 0x00],
            b"RIFF\0\0\0\0AVI ",
        ] {
            assert_eq!(sniff_audio(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn wav_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = wav_duration_ms(&bytes);
            let mut riff = b"RIFF\0\0\0\0WAVE".to_vec();
            riff.extend_from_slice(&bytes);
            let _ = wav_duration_ms(&riff);
            let _ = sniff_audio(&bytes);
            let _ = parse_transcription(&bytes);
        }

        #[test]
        fn speech_input_is_a_bounded_prefix(text in "\\PC{0,300}", max in 1usize..200) {
            let cut = speech_input(&text, max);
            prop_assert!(cut.chars().count() <= max);
            prop_assert!(text.trim().starts_with(cut));
        }

        #[test]
        fn the_wav_length_is_what_was_written(rate in 8_000u32..48_000, channels in 1u16..3, ms in 0u32..3_000) {
            let rate = rate / 1_000 * 1_000;
            prop_assert_eq!(wav_duration_ms(&wav(rate, channels, ms, None)), Some(u64::from(ms)));
        }
    }
}
