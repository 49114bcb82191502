// A fake OpenAI-compatible audio API on 127.0.0.1 for the web chat's voice messages
// (issue 19): `POST /v1/audio/transcriptions` (multipart: file, model, response_format,
// language) answers `verbose_json`, and `POST /v1/audio/speech` (JSON) answers a short WAV.
// What a recording "says" is scripted in its bytes: `SAY:<text>` (up to `|` or the end)
// and `DUR:<seconds>`; anything else (a WAV, a real recording) says DEFAULT_TRANSCRIPT
// for 2 s. `state.mode`: ok | fail (500) | hang (no answer) | garbage (200 text/html).
import { parseMultipart } from "./discord.mjs";
import { CHAT } from "./line.mjs";
import { startUpstream } from "./upstream.mjs";
import { parseSse } from "./webchat.mjs";

export const VOICE_KEY = "sk-voice-test";
export const DEFAULT_TRANSCRIPT = "Where is my order?";

/** A PCM WAV of `ms` of silence: `rate` Hz, mono, `bits` (8 or 16) per sample. */
export function wav(ms, { rate = 8000, bits = 8 } = {}) {
  const byteRate = (rate * bits) / 8;
  const len = Math.round((byteRate * ms) / 1000);
  const b = Buffer.alloc(44 + len, bits === 8 ? 0x80 : 0);
  b.write("RIFF", 0, "ascii");
  b.writeUInt32LE(36 + len, 4);
  b.write("WAVEfmt ", 8, "ascii");
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(byteRate, 28);
  b.writeUInt16LE(bits / 8, 32);
  b.writeUInt16LE(bits, 34);
  b.write("data", 36, "ascii");
  b.writeUInt32LE(len, 40);
  return b;
}

/** A scripted "recording": bytes that make the fake hear `text` lasting `seconds`. */
export const saying = (text, seconds = 2) => Buffer.from(`SAY:${text}|DUR:${seconds}`, "utf8");

function heard(data) {
  const s = data.toString("utf8");
  const say = /SAY:([^|]*)/.exec(s);
  const dur = /DUR:([0-9.]+)/.exec(s);
  return { text: say ? say[1] : DEFAULT_TRANSCRIPT, duration: dur ? Number(dur[1]) : 2 };
}

/**
 * Starts the fake (on `port`, default a free one). `transcriptions` records `{ model, responseFormat, language, file:
 * { filename, contentType, data } }`, `speeches` the JSON bodies; `speech` is the WAV it
 * answers. `base` is what VOICE_BASE_URL points at.
 */
export async function startFakeVoice(port = 0) {
  const state = { mode: "ok", transcriptions: [], speeches: [], speech: wav(300, { rate: 8000, bits: 16 }) };
  const json = (res, status, body) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  const up = await startUpstream((req, res) => {
    if (req.headers.authorization !== `Bearer ${VOICE_KEY}`) return json(res, 401, { error: { message: "bad key" } });
    if (req.method !== "POST") return res.writeHead(405).end();
    const transcribe = req.path === "/v1/audio/transcriptions";
    const speak = req.path === "/v1/audio/speech";
    if (!transcribe && !speak) return res.writeHead(404).end();
    if (transcribe) {
      const { parts } = parseMultipart(req.headers["content-type"], req.raw);
      const field = (name) => parts.find((p) => p.name === name);
      const file = field("file");
      state.transcriptions.push({
        model: field("model")?.data.toString(),
        responseFormat: field("response_format")?.data.toString(),
        language: field("language")?.data.toString() ?? null,
        file: file && { filename: file.filename, contentType: file.contentType, data: file.data },
      });
    } else {
      state.speeches.push(JSON.parse(req.body));
    }
    if (state.mode === "fail") return json(res, 500, { error: { message: "down" } });
    if (state.mode === "hang") return; // the worker's timeout ends it
    if (state.mode === "garbage") return res.writeHead(200, { "content-type": "text/html" }).end("<html>oops</html>");
    if (speak) return res.writeHead(200, { "content-type": "audio/wav" }).end(state.speech);
    const { text, duration } = heard(state.transcriptions.at(-1).file?.data ?? Buffer.alloc(0));
    return json(res, 200, { task: "transcribe", language: "english", duration, text, segments: [] });
  }, port);
  return { ...up, base: `${up.url}/v1`, state };
}

/**
 * POSTs `audio` as a voice message of session `s`: `{ status, headers, events }` for an SSE
 * answer, `{ status, headers, body }` for a JSON refusal.
 */
export async function postVoice(p, s, audio, { type = "audio/webm;codecs=opus", clientId, token = s.token, ip = s.ip } = {}) {
  const q = clientId ? `?client_id=${encodeURIComponent(clientId)}` : "";
  const headers = { authorization: `Bearer ${token}`, "cf-connecting-ip": ip };
  if (type) headers["content-type"] = type;
  const r = await p.fetch(`/chat/v1/sessions/${s.id}/voice${q}`, { method: "POST", headers, body: audio }, CHAT);
  const ct = r.headers.get("content-type") ?? "";
  if (ct.startsWith("text/event-stream")) return { status: r.status, headers: r.headers, events: parseSse(await r.text()) };
  return { status: r.status, headers: r.headers, body: await r.json() };
}

/** GET the speech of message `mid`: `{ status, headers, bytes }` (bytes a Buffer). */
export async function getSpeech(p, s, mid, { token = s.token, ip = s.ip } = {}) {
  const r = await p.fetch(`/chat/v1/sessions/${s.id}/messages/${mid}/speech`, { headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": ip } }, CHAT);
  return { status: r.status, headers: r.headers, bytes: Buffer.from(await r.arrayBuffer()) };
}
