// The support chat page's voice: the mic button records a message (MediaRecorder) and
// sends it to the session API of the same worker:
//   POST /chat/v1/sessions/:id/voice?client_id=…     the recording; an SSE answer: the
//        `transcript` event, then the same events as a typed message
//   GET  /chat/v1/sessions/:id/messages/:mid/speech  an answer, spoken (played from a blob)
// The transcript and the streamed answer are shown by chat.js (window.edgeChat), as text.
// Without MediaRecorder or a microphone (refused, missing), or when the server says voice
// is unavailable (503 voice_unavailable), the page stays in text mode and says why.
(() => {
  "use strict";

  const chat = window.edgeChat;
  const API = "/chat/v1/sessions";
  /** The server's VOICE_MAX_SECONDS default: recording stops (and sends) there. */
  const MAX_RECORDING_MS = 60000;
  const SPEAK_KEY = "edge-chat.speak.v1";
  /** Preferred recording types, in order (Chromium/Firefox: WebM or Ogg Opus; Safari: MP4). */
  const TYPES = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/ogg", "audio/mp4"];

  const $ = (id) => document.getElementById(id);
  const ui = { body: document.body, mic: $("mic"), speak: $("speak"), rec: $("recording"), recText: $("recording-text") };
  if (!chat || !ui.mic) return;

  const canRecord =
    typeof MediaRecorder === "function" && !!navigator.mediaDevices && typeof navigator.mediaDevices.getUserMedia === "function";
  const state = {
    recorder: null,
    stream: null,
    chunks: [],
    started: 0,
    tick: 0,
    limit: 0,
    busy: false,
    /** Whether the server takes voice (undefined: not asked yet). */
    available: undefined,
    /** The user's choice for reading answers aloud (null: the server's VOICE_SPEAK). */
    speak: null,
    audio: null,
    url: "",
  };

  try {
    const saved = localStorage.getItem(SPEAK_KEY);
    if (saved === "on" || saved === "off") state.speak = saved === "on";
  } catch (_) {
    /* storage blocked: the server's default */
  }

  /** Voice offered or not; the "Answers aloud" switch only once it matters (a voice
   * message was sent here, or the user chose before). */
  function setVoice(on) {
    ui.body.dataset.voice = on ? "on" : "off";
    ui.mic.hidden = !on;
    ui.speak.hidden = !on || state.speak === null;
  }

  /** Back to typing, saying why. */
  function textMode(message) {
    stopTracks();
    setRecording(false);
    setVoice(false);
    if (message) chat.notice(message);
  }

  function showSpeak(on) {
    ui.speak.setAttribute("aria-pressed", on ? "true" : "false");
    ui.speak.textContent = on ? "Answers aloud: on" : "Answers aloud: off";
  }

  function stopTracks() {
    if (state.stream) for (const t of state.stream.getTracks()) t.stop();
    state.stream = null;
  }

  function seconds(ms) {
    const s = Math.floor(ms / 1000);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function setRecording(on) {
    clearInterval(state.tick);
    clearTimeout(state.limit);
    ui.mic.setAttribute("aria-pressed", on ? "true" : "false");
    ui.mic.setAttribute("aria-label", on ? "Stop and send the voice message" : "Record a voice message");
    ui.mic.title = ui.mic.getAttribute("aria-label");
    ui.body.dataset.recording = on ? "true" : "false";
    ui.rec.hidden = !on;
    if (!on) return;
    const show = () => {
      ui.recText.textContent = "Recording… " + seconds(Date.now() - state.started) + " (press the mic again to send)";
    };
    show();
    state.tick = setInterval(show, 500);
    state.limit = setTimeout(stop, MAX_RECORDING_MS);
  }

  function setBusy(text) {
    state.busy = !!text;
    ui.mic.disabled = state.busy;
    ui.rec.hidden = !text;
    if (text) ui.recText.textContent = text;
    ui.body.dataset.voiceBusy = state.busy ? "true" : "false";
  }

  /**
   * Whether this deployment takes voice, asked once before the first recording: an empty
   * recording is refused as `empty_audio` when voice is configured (nothing is paid or
   * counted for it), `voice_unavailable` when it is not.
   */
  async function available(s) {
    if (state.available !== undefined) return state.available;
    try {
      const r = await fetch(API + "/" + s.id + "/voice", {
        method: "POST",
        headers: { authorization: "Bearer " + s.token, "content-type": "audio/webm" },
        cache: "no-store",
        credentials: "omit",
      });
      const err = r.ok ? null : await chat.httpError(r);
      state.available = !err || err.code !== "voice_unavailable";
    } catch (_) {
      return true; // the network: the recording's own send will say
    }
    return state.available;
  }

  async function start() {
    if (state.busy || state.recorder) return;
    if (!canRecord) return textMode("This browser cannot record voice messages; please type your message.");
    const s = chat.session();
    if (!s) return chat.notice("The chat is not connected yet; try again in a moment.");
    if (!(await available(s))) return textMode("Voice is unavailable right now; please type your message.");
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      const refused = err && (err.name === "NotAllowedError" || err.name === "SecurityError");
      return textMode(refused ? "Microphone access was refused; please type your message." : "No microphone is available; please type your message.");
    }
    const type = TYPES.find((t) => typeof MediaRecorder.isTypeSupported === "function" && MediaRecorder.isTypeSupported(t)) || "";
    let recorder;
    try {
      recorder = new MediaRecorder(stream, type ? { mimeType: type, audioBitsPerSecond: 32000 } : undefined);
    } catch (_) {
      for (const t of stream.getTracks()) t.stop();
      return textMode("This browser cannot record voice messages; please type your message.");
    }
    state.stream = stream;
    state.recorder = recorder;
    state.chunks = [];
    recorder.ondataavailable = (e) => {
      if (e.data && e.data.size) state.chunks.push(e.data);
    };
    recorder.onstop = () => finish(recorder);
    chat.notice("");
    recorder.start(1000);
    state.started = Date.now();
    setRecording(true);
  }

  function stop() {
    if (state.recorder && state.recorder.state !== "inactive") state.recorder.stop();
  }

  function finish(recorder) {
    // "audio/webm;codecs=opus"; an audio-only recording Chromium may label video/webm.
    const type = (recorder.mimeType || (state.chunks[0] && state.chunks[0].type) || "audio/webm").replace(/^video\//, "audio/");
    const blob = new Blob(state.chunks, { type });
    state.recorder = null;
    state.chunks = [];
    stopTracks();
    setRecording(false);
    if (!blob.size) return chat.notice("Nothing was recorded; try again.");
    send(blob, type);
  }

  const REFUSED = {
    audio_too_long: "That recording is too long; keep voice messages under a minute.",
    audio_too_large: "That recording is too long; keep voice messages under a minute.",
    no_speech: "No words were recognised; try again, or type your message.",
    empty_audio: "Nothing was recorded; try again.",
    bad_audio: "That recording could not be read; try again, or type your message.",
  };

  /** Sends a recording; the answer's frames go to chat.js, then the answer is spoken. */
  async function send(blob, type) {
    const s = chat.session();
    if (!s) return;
    setBusy("Sending your voice message…");
    let r;
    try {
      r = await fetch(API + "/" + s.id + "/voice?client_id=" + encodeURIComponent(chat.clientId()), {
        method: "POST",
        headers: { authorization: "Bearer " + s.token, "content-type": type, accept: "text/event-stream" },
        body: blob,
        cache: "no-store",
        credentials: "omit",
      });
    } catch (_) {
      setBusy("");
      return chat.notice("The voice message could not be sent; check your connection.");
    }
    if (!r.ok) {
      const err = await chat.httpError(r);
      setBusy("");
      if (err.code === "voice_unavailable") {
        state.available = false;
        return textMode("Voice is unavailable right now; please type your message.");
      }
      if (err.code === "unsupported_audio_type") return textMode("This browser records audio the chat cannot take; please type your message.");
      if (REFUSED[err.code]) return chat.notice(REFUSED[err.code]);
      // Session refusals (limits, an ended session, a refused token): as for typed messages.
      return chat.onFrame({ type: "error", code: err.code, message: err.message, retry_after: err.retryAfter });
    }
    // With an open socket the session sends the same frames there: show them once.
    const viaSocket = chat.socketOpen();
    let speak = state.speak;
    let answerId = 0;
    try {
      await chat.readEvents(r.body, (event, data) => {
        let v;
        try {
          v = JSON.parse(data);
        } catch (_) {
          return;
        }
        if (!v || typeof v !== "object") return;
        if (event === "transcript") {
          setBusy("");
          if (speak === null) speak = v.speak === true;
          return;
        }
        if (event === "done" && v.message && v.message.role === "assistant") answerId = v.message.id;
        if (!viaSocket || event === "error") chat.onFrame(v.type === event ? v : Object.assign({}, v, { type: event }));
      });
    } catch (_) {
      /* the stream broke: what was stored comes with the history */
    }
    setBusy("");
    if (state.speak === null && speak !== null) showSpeak(speak);
    if (speak !== null) ui.speak.hidden = false;
    if (answerId && speak) play(s, answerId);
  }

  /** Fetches answer `id` spoken and plays it. */
  async function play(s, id) {
    let r;
    try {
      r = await fetch(API + "/" + s.id + "/messages/" + id + "/speech", {
        headers: { authorization: "Bearer " + s.token },
        credentials: "omit",
      });
    } catch (_) {
      return;
    }
    if (!r.ok) {
      const err = await chat.httpError(r);
      if (err.code === "voice_unavailable") chat.notice("The answer cannot be read aloud right now.");
      return;
    }
    const blob = await r.blob();
    if (state.url) URL.revokeObjectURL(state.url);
    state.url = URL.createObjectURL(blob);
    const audio = state.audio || (state.audio = new Audio());
    audio.onended = () => (ui.body.dataset.speaking = "false");
    audio.src = state.url;
    ui.body.dataset.spoken = String(id);
    try {
      await audio.play();
      ui.body.dataset.speaking = "true";
    } catch (_) {
      /* playback refused (autoplay policy) or undecodable: the text is there */
    }
  }

  // ---- wiring ----
  ui.mic.addEventListener("click", () => {
    if (state.recorder) stop();
    else start();
  });
  ui.speak.addEventListener("click", () => {
    const on = ui.speak.getAttribute("aria-pressed") !== "true";
    state.speak = on;
    showSpeak(on);
    if (!on && state.audio) state.audio.pause();
    try {
      localStorage.setItem(SPEAK_KEY, on ? "on" : "off");
    } catch (_) {
      /* kept for this page only */
    }
  });
  document.addEventListener("keydown", (e) => {
    // Escape while recording: stop without sending.
    if (e.key === "Escape" && state.recorder) {
      const recorder = state.recorder;
      recorder.onstop = () => {
        state.recorder = null;
        state.chunks = [];
        stopTracks();
        setRecording(false);
      };
      recorder.stop();
    }
  });

  showSpeak(state.speak !== false);
  setVoice(true);
})();
