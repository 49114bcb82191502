//! The web chat's voice messages, through an OpenAI-compatible audio API
//! (`VOICE_BASE_URL`; [`crate::settings::VoiceSettings`]):
//!
//! - `POST /chat/v1/sessions/:id/voice` (session token): a recording (`audio/webm`,
//!   `audio/ogg`, `audio/wav`, `audio/mpeg`, `audio/mp4`; at most `VOICE_MAX_BYTES` and
//!   `VOICE_MAX_SECONDS`) is transcribed (`<base>/audio/transcriptions`, multipart,
//!   `verbose_json` for its duration) and the transcript is posted to the session exactly
//!   as a typed message (`?client_id=` as the message's): same limits, same answer. The
//!   SSE answer starts with a `transcript` event, then the session's own events.
//! - `GET /chat/v1/sessions/:id/messages/:mid/speech` (session token): assistant message
//!   `mid` spoken (`<base>/audio/speech`, MP3), relayed only when it is audio.
//!
//! Both are bounded per client address (`VOICE_IP_REQUESTS_PER_MINUTE`) before anything
//! is paid for; voice not configured, or its provider failing, is 503 `voice_unavailable`
//! and the page goes back to typing. The provider calls ([`transcribe`], [`speak`]) are
//! generic over [`Outbound`] and tested natively.

use edge_core::chat::completion::Role;
use edge_core::chat::voice::{self, AudioType, Transcript, VoiceError};
use edge_core::chat::web::frame;
use edge_core::chat::web::limits::Refusal;
use edge_core::chat::web::{SessionNotFound, token};
use edge_core::route::Params;
use edge_glue::body::BodyError;
use edge_glue::{Hop, REQUEST_ID_HEADER, body, random_uuid, window_log};
use futures::StreamExt;
use worker::{Env, Headers, Method, Request, RequestInit, Response};

use crate::backends::{self, Call, Outbound};
use crate::chat_api::{self, ChatRoute};
use crate::chat_session::CLIENT_HEADER;
use crate::error::Error;
use crate::log;
use crate::outbound::Fetch;
use crate::quota::QUOTA_BINDING;
use crate::settings::{VoiceSettings, WebChatSettings};

/// What a voice route is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VoiceRoute {
    /// `POST …/:id/voice`: a recording, answered as a message.
    Message,
    /// `GET …/:id/messages/:mid/speech`: an answer, spoken.
    Speech,
}

/// Answers a voice route of session `:id`, after its token.
pub(crate) async fn handle(
    route: VoiceRoute,
    params: &Params<'_>,
    req: Request,
    env: &Env,
    hop: &Hop,
) -> Result<Response, Error> {
    let chat = WebChatSettings::load(env)?;
    let id = params
        .get("id")
        .filter(|id| token::valid_session_id(id))
        .ok_or(SessionNotFound)?;
    chat_api::authorize(&req, id, &chat, ChatRoute::Post)?;
    let s = VoiceSettings::load(env)?;
    if s.base_url.is_none() {
        return Err(VoiceError::Unavailable.into());
    }
    match route {
        VoiceRoute::Message => message(req, env, hop, &s, id).await,
        VoiceRoute::Speech => speech(params, &req, env, hop, &s, id).await,
    }
}

/// One more voice call from the client's address, or 429.
async fn admit(env: &Env, s: &VoiceSettings, client: &str) -> Result<(), Error> {
    let bucket = format!("web-chat:voice:{client}");
    let d = window_log::check(env, QUOTA_BINDING, &bucket, s.ip_per_minute).await?;
    if d.allowed {
        Ok(())
    } else {
        Err(Refusal::RateLimited {
            retry_after_s: d.reset_s.max(1),
        }
        .into())
    }
}

async fn message(
    req: Request,
    env: &Env,
    hop: &Hop,
    s: &VoiceSettings,
    id: &str,
) -> Result<Response, Error> {
    let kind = req
        .headers()
        .get("content-type")?
        .as_deref()
        .and_then(AudioType::from_content_type)
        .ok_or(VoiceError::UnsupportedType)?;
    let client_id = req
        .url()?
        .query_pairs()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned());
    // The client id must be one a posted message may carry: checked before paying.
    frame::parse_posted(
        serde_json::json!({"content": "", "client_id": client_id})
            .to_string()
            .as_bytes(),
    )?;
    let audio = match body::read(req.inner(), env, s.limits.max_bytes).await {
        Ok(b) => b,
        Err(BodyError::TooLarge(_)) => {
            return Err(VoiceError::TooLarge {
                max_bytes: s.limits.max_bytes,
            }
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    voice::check_audio(kind, &audio, s.limits)?;
    let client = chat_api::client(&req);
    admit(env, s, &client).await?;
    let boundary = random_uuid()
        .map(|u| format!("edge-voice-{}", u.replace('-', "")))
        .unwrap_or_default();
    let t = transcribe(&Fetch, s, kind, &audio, &boundary).await?;
    drop(audio);
    // The transcript goes to the session as a typed message would.
    let posted = serde_json::json!({"content": t.text, "client_id": client_id}).to_string();
    let headers = Headers::new();
    headers.set(CLIENT_HEADER, &client)?;
    headers.set(REQUEST_ID_HEADER, hop.request_id.as_str())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(posted.into()));
    let forwarded = Request::new_with_init("https://chat-session/messages", &init)?;
    hop.decide("chat_voice");
    let mut answer = chat_api::stub(env, id)?
        .fetch_with_request(forwarded)
        .await?;
    let streamed = answer
        .headers()
        .get("content-type")?
        .is_some_and(|c| c.starts_with("text/event-stream"));
    if !streamed {
        // A refusal (limits, ended session): the session's own JSON error.
        return Ok(answer);
    }
    let first = voice::transcript_event(&t, s.speak).into_bytes();
    let rest = answer.stream()?;
    let events = futures::stream::once(async move { Ok::<_, worker::Error>(first) }).chain(rest);
    let resp = Response::from_stream(events)?;
    let h = resp.headers();
    h.set("content-type", "text/event-stream; charset=utf-8")?;
    h.set("cache-control", "no-store")?;
    h.set("x-content-type-options", "nosniff")?;
    Ok(resp)
}

async fn speech(
    params: &Params<'_>,
    req: &Request,
    env: &Env,
    hop: &Hop,
    s: &VoiceSettings,
    id: &str,
) -> Result<Response, Error> {
    let mid = params
        .get("mid")
        .and_then(|m| m.parse::<u64>().ok())
        .filter(|m| *m > 0)
        .ok_or(VoiceError::NoSuchAnswer)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get);
    let url = format!("https://chat-session/messages?after={}", mid - 1);
    let mut history = chat_api::stub(env, id)?
        .fetch_with_request(Request::new_with_init(&url, &init)?)
        .await?;
    if history.status_code() == 404 {
        return Err(SessionNotFound.into());
    }
    /// Only what is needed of each message (the rest of the history is skipped).
    #[derive(serde::Deserialize)]
    struct Said {
        id: u64,
        role: Role,
        content: String,
    }
    #[derive(serde::Deserialize)]
    struct History {
        messages: Vec<Said>,
    }
    let text = history
        .json::<History>()
        .await
        .ok()
        .and_then(|h| h.messages.into_iter().find(|m| m.id == mid))
        .filter(|m| m.role == Role::Assistant)
        .map(|m| m.content)
        .ok_or(VoiceError::NoSuchAnswer)?;
    // Counted only when something is to be paid for.
    admit(env, s, &chat_api::client(req)).await?;
    let (content_type, audio) = speak(&Fetch, s, &text).await?;
    hop.decide("chat_speech");
    let resp = Response::from_bytes(audio)?;
    let h = resp.headers();
    h.set("content-type", content_type)?;
    // A stored answer never changes: the browser may keep its audio.
    h.set("cache-control", "private, max-age=86400")?;
    h.set("x-content-type-options", "nosniff")?;
    Ok(resp)
}

/// One call to the audio API: a 2xx answer's body within `cap`, or `Unavailable` (logged
/// by what failed, never with the audio, the text or the key).
async fn call(
    net: &impl Outbound,
    s: &VoiceSettings,
    path: &str,
    body: (&str, Vec<u8>),
    cap: usize,
) -> Result<Vec<u8>, VoiceError> {
    let base = s.base_url.as_deref().ok_or(VoiceError::Unavailable)?;
    let url = format!("{base}{path}");
    let auth = s.api_key.as_deref().map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    let answer = net
        .call(Call {
            method: backends::Method::Post,
            url: &url,
            headers: &headers,
            body: Some(body),
            timeout_ms: s.timeout_ms,
            cap,
        })
        .await;
    match answer {
        Ok(a) if (200..300).contains(&a.status) && a.body.len() <= cap => Ok(a.body),
        Ok(a) if (200..300).contains(&a.status) => {
            log::warn(&format!("voice {path}: answer over {cap} bytes"));
            Err(VoiceError::Unavailable)
        }
        Ok(a) => {
            log::warn(&format!("voice {path}: status {}", a.status));
            Err(VoiceError::Unavailable)
        }
        Err(e) => {
            log::warn(&format!("voice {path}: {e}"));
            Err(VoiceError::Unavailable)
        }
    }
}

/// Transcribes a recording that passed [`voice::check_audio`], and checks the length the
/// provider reports.
///
/// # Errors
/// [`VoiceError::Unavailable`] (not configured, or the provider failed),
/// [`VoiceError::NoSpeech`], [`VoiceError::TooLong`].
pub(crate) async fn transcribe(
    net: &impl Outbound,
    s: &VoiceSettings,
    kind: AudioType,
    audio: &[u8],
    boundary: &str,
) -> Result<Transcript, VoiceError> {
    let (content_type, body) = voice::transcription_body(
        boundary,
        &s.transcribe_model,
        s.language.as_deref(),
        kind,
        audio,
    );
    let answer = call(
        net,
        s,
        "/audio/transcriptions",
        (&content_type, body),
        voice::MAX_TRANSCRIPTION_ANSWER_BYTES,
    )
    .await?;
    let t = voice::parse_transcription(&answer).inspect_err(|e| {
        if *e == VoiceError::Unavailable {
            log::warn("voice /audio/transcriptions: not a transcription");
        }
    })?;
    voice::check_duration(t.duration_ms, s.limits.max_seconds)?;
    Ok(t)
}

/// `text` spoken: the audio's media type and bytes (at most `VOICE_SPEECH_MAX_BYTES`).
///
/// # Errors
/// [`VoiceError::Unavailable`] (not configured, the provider failed, or answered
/// something that is not audio).
pub(crate) async fn speak(
    net: &impl Outbound,
    s: &VoiceSettings,
    text: &str,
) -> Result<(&'static str, Vec<u8>), VoiceError> {
    let input = voice::speech_input(text, s.speech_max_chars);
    if input.is_empty() {
        return Err(VoiceError::NoSuchAnswer);
    }
    let body = voice::speech_body(&s.speech_model, &s.speech_voice, input);
    let audio = call(
        net,
        s,
        "/audio/speech",
        ("application/json", body),
        s.speech_max_bytes,
    )
    .await?;
    match voice::sniff_audio(&audio) {
        Some(kind) => Ok((kind, audio)),
        None => {
            log::warn("voice /audio/speech: the answer is not audio");
            Err(VoiceError::Unavailable)
        }
    }
}

#[cfg(test)]
mod tests {
    use edge_core::auth::rate_limit::RateLimitPolicy;
    use edge_core::chat::voice::AudioLimits;

    use super::*;
    use crate::backends::CallError;
    use crate::testkit::{FakeNet, answer, run};

    fn settings() -> VoiceSettings {
        VoiceSettings {
            base_url: Some("https://voice.test/v1".to_owned()),
            api_key: Some("sk-voice".to_owned()),
            transcribe_model: "whisper-1".to_owned(),
            language: None,
            speech_model: "tts-1".to_owned(),
            speech_voice: "alloy".to_owned(),
            speak: true,
            limits: AudioLimits {
                max_bytes: 1_000,
                max_seconds: 60,
            },
            timeout_ms: 15_000,
            speech_max_chars: 20,
            speech_max_bytes: 64,
            ip_per_minute: RateLimitPolicy::new(10, 60).expect("a valid policy"),
        }
    }

    fn heard(text: &str, duration: f64) -> Result<crate::backends::Answer, CallError> {
        answer(
            200,
            &serde_json::json!({"text": text, "duration": duration, "language": "english"})
                .to_string(),
        )
    }

    #[test]
    fn a_recording_is_sent_as_multipart_with_the_key_and_its_words_come_back() {
        let net = FakeNet::new(|_| heard(" Where is my order? ", 2.5));
        let t = run(transcribe(
            &net,
            &settings(),
            AudioType::Ogg,
            b"OggS-audio",
            "bnd",
        ))
        .expect("heard");
        assert_eq!(t.text, "Where is my order?");
        assert_eq!(t.duration_ms, Some(2_500));
        let sent = net.to("/audio/transcriptions");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].url, "https://voice.test/v1/audio/transcriptions");
        assert_eq!(sent[0].header("authorization"), Some("Bearer sk-voice"));
        assert_eq!(
            sent[0].header("content-type"),
            Some("multipart/form-data; boundary=bnd")
        );
        assert_eq!(sent[0].timeout_ms, 15_000);
        assert!(sent[0].body.contains(
            "name=\"file\"; filename=\"voice.ogg\"\r\nContent-Type: audio/ogg\r\n\r\nOggS-audio\r\n"
        ));
        assert!(
            sent[0]
                .body
                .contains("name=\"response_format\"\r\n\r\nverbose_json")
        );
        assert!(!sent[0].body.contains("name=\"language\""));
    }

    #[test]
    fn a_keyless_provider_gets_no_authorization_and_a_fixed_language_is_sent() {
        let net = FakeNet::new(|_| heard("สวัสดี", 1.0));
        let s = VoiceSettings {
            api_key: None,
            language: Some("th".to_owned()),
            ..settings()
        };
        let t = run(transcribe(&net, &s, AudioType::Webm, b"x", "b")).expect("heard");
        assert_eq!(t.text, "สวัสดี");
        let sent = &net.to("/audio/transcriptions")[0];
        assert_eq!(sent.header("authorization"), None);
        assert!(sent.body.contains("name=\"language\"\r\n\r\nth\r\n"));
    }

    #[test]
    fn the_reported_length_is_checked_after_the_transcription() {
        let net = FakeNet::new(|_| heard("a long story", 61.2));
        assert_eq!(
            run(transcribe(&net, &settings(), AudioType::Webm, b"x", "b")),
            Err(VoiceError::TooLong { max_s: 60 })
        );
        let net = FakeNet::new(|_| heard("   ", 1.0));
        assert_eq!(
            run(transcribe(&net, &settings(), AudioType::Webm, b"x", "b")),
            Err(VoiceError::NoSpeech)
        );
    }

    #[test]
    fn every_provider_failure_is_voice_unavailable() {
        let failures: Vec<Result<crate::backends::Answer, CallError>> = vec![
            answer(500, r#"{"error":"down"}"#),
            answer(401, r#"{"error":"bad key"}"#),
            answer(302, ""),
            answer(200, "<html>"),
            Err(CallError::Timeout),
            Err(CallError::Transport("refused".to_owned())),
        ];
        for f in failures {
            let net = FakeNet::new(move |_| f.clone());
            assert_eq!(
                run(transcribe(&net, &settings(), AudioType::Webm, b"x", "b")),
                Err(VoiceError::Unavailable)
            );
            assert_eq!(
                run(speak(&net, &settings(), "Hello.")),
                Err(VoiceError::Unavailable)
            );
        }
        let off = VoiceSettings {
            base_url: None,
            ..settings()
        };
        let net = FakeNet::new(|_| heard("x", 1.0));
        assert_eq!(
            run(transcribe(&net, &off, AudioType::Webm, b"x", "b")),
            Err(VoiceError::Unavailable)
        );
        assert!(net.sent.borrow().is_empty(), "nothing is sent unconfigured");
    }

    #[test]
    fn an_answer_is_spoken_cut_at_a_sentence_and_only_audio_is_relayed() {
        let net = FakeNet::new(|_| answer(200, "ID3-mp3-bytes"));
        let (kind, audio) = run(speak(
            &net,
            &settings(),
            "We open at 9. We close at six in the evening.",
        ))
        .expect("spoken");
        assert_eq!(
            (kind, audio.as_slice()),
            ("audio/mpeg", &b"ID3-mp3-bytes"[..])
        );
        let sent = &net.to("/audio/speech")[0];
        assert_eq!(sent.url, "https://voice.test/v1/audio/speech");
        assert_eq!(
            sent.json(),
            serde_json::json!({"model": "tts-1", "voice": "alloy", "input": "We open at 9.", "response_format": "mp3"})
        );
        assert_eq!(sent.header("content-type"), Some("application/json"));
        // Over VOICE_SPEECH_MAX_BYTES (64): not relayed.
        let big = format!("ID3{}", "x".repeat(62));
        let net = FakeNet::new(move |_| answer(200, &big));
        assert_eq!(
            run(speak(&net, &settings(), "Hi.")),
            Err(VoiceError::Unavailable)
        );
        // Nothing to say: nothing is asked.
        let net = FakeNet::new(|_| answer(200, "ID3"));
        assert_eq!(
            run(speak(&net, &settings(), "   ")),
            Err(VoiceError::NoSuchAnswer)
        );
        assert!(net.sent.borrow().is_empty());
    }
}
