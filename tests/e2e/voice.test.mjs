// Issue 19, voice messages of the web chat, end to end in workerd with the fake streaming
// AI and the fake audio API (tests/harness/voice.mjs) on loopback: a recording is
// transcribed and answered as a typed message (the SSE answer opens with its transcript),
// the answer is spoken; limits (size 413, type 415, length 413 from the WAV header before
// paying and from the transcription after), the per-address voice limit, a provider that
// fails or hangs (503 voice_unavailable) while typing still works; and in headless
// Chromium with a fake microphone: the mic records, the transcript and the answer show,
// the answer is played; when voice is unavailable the page goes back to typing.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import puppeteer from "puppeteer-core";
import { withPipeline } from "../harness/fixture.mjs";
import { CHAT } from "../harness/line.mjs";
import { artifact, chromiumPath } from "../harness/browser.mjs";
import { freshIp, history, post, session } from "../harness/webchat.mjs";
import { DEFAULT_TRANSCRIPT, VOICE_KEY, getSpeech, postVoice, saying, startFakeVoice, wav } from "../harness/voice.mjs";

const MAX_BYTES = 65_536;

describe("issue 19: voice messages", { timeout: 300_000 }, () => {
  const p = withPipeline({
    chat: {},
    upstreams: { voice: { start: startFakeVoice } },
    vars: (h) => ({
      [CHAT]: {
        VOICE_BASE_URL: h.voice.base,
        VOICE_API_KEY: VOICE_KEY,
        VOICE_MAX_BYTES: String(MAX_BYTES),
        VOICE_MAX_SECONDS: "5",
        VOICE_TIMEOUT_MS: "1000",
        VOICE_IP_REQUESTS_PER_MINUTE: "4",
      },
    }),
    workerExtras: { [CHAT]: { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } },
  });
  const fake = () => p.voice.state;
  const reset = () => Object.assign(fake(), { mode: "ok", transcriptions: [], speeches: [] });

  test("a recording is transcribed and answered like a typed message; the answer is spoken", async () => {
    reset();
    const s = await session(p);
    const audio = saying("Where is my order 77?", 2.5);
    const r = await postVoice(p, s, audio, { clientId: "voice-1" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const kinds = r.events.map((e) => e.event);
    assert.equal(kinds[0], "transcript", "the transcript comes first");
    assert.deepEqual(r.events[0].data, { type: "transcript", text: "Where is my order 77?", duration_ms: 2500, language: "english", speak: true });
    assert.deepEqual(kinds.slice(1, 3), ["message", "typing"]);
    const user = r.events[1].data.message;
    assert.deepEqual([user.id, user.role, user.content, user.client_id], [1, "user", "Where is my order 77?", "voice-1"]);
    const done = r.events.at(-1).data.message;
    assert.equal(r.events.at(-1).event, "done");
    assert.equal(done.content, "deepseek says: Where is my order 77?");
    const deltas = r.events.filter((e) => e.event === "delta").map((e) => e.data.text).join("");
    assert.equal(deltas, done.content, "the deltas joined are the stored answer");

    // What the audio API got: the recording as multipart, the model, verbose_json.
    assert.equal(fake().transcriptions.length, 1);
    const t = fake().transcriptions[0];
    assert.deepEqual([t.model, t.responseFormat, t.language], ["whisper-1", "verbose_json", null]);
    assert.deepEqual([t.file.filename, t.file.contentType], ["voice.webm", "audio/webm"]);
    assert.ok(t.file.data.equals(audio), "the recording's bytes, unchanged");

    // The session holds the transcript as the user's message.
    const h = await history(p, s);
    assert.deepEqual(h.body.messages.map((m) => [m.id, m.role, m.content]), [
      [1, "user", "Where is my order 77?"],
      [2, "assistant", done.content],
    ]);

    const spoken = await getSpeech(p, s, done.id);
    assert.equal(spoken.status, 200);
    assert.equal(spoken.headers.get("content-type"), "audio/wav");
    assert.equal(spoken.headers.get("cache-control"), "private, max-age=86400");
    assert.ok(spoken.bytes.equals(fake().speech), "the audio relayed as the provider made it");
    assert.deepEqual(fake().speeches, [{ model: "tts-1", voice: "alloy", input: done.content, response_format: "mp3" }]);

    // Only the session's own assistant messages are spoken.
    for (const mid of [1, 3, 999]) {
      const x = await getSpeech(p, s, mid);
      assert.equal(x.status, 404, `message ${mid}`);
      assert.equal(JSON.parse(x.bytes).error.code, "message_not_found");
    }
    const other = await session(p);
    const stranger = await getSpeech(p, s, done.id, { token: other.token });
    assert.equal(stranger.status, 401, "another session's token");
    const refusedVoice = await postVoice(p, s, audio, { token: other.token });
    assert.equal(refusedVoice.status, 401);
    assert.equal(fake().speeches.length, 1, "refused calls cost nothing");
    assert.equal(fake().transcriptions.length, 1);

    // A resend with the same client_id is not answered twice.
    const again = await postVoice(p, s, audio, { clientId: "voice-1" });
    assert.equal(again.status, 200);
    assert.deepEqual(again.events.map((e) => e.event), ["transcript", "message", "done"]);
    assert.equal((await history(p, s)).body.messages.length, 2);
  });

  test("limits: too large 413, not audio 415, too long 413 (before paying for a WAV, after for the rest)", async () => {
    reset();
    const s = await session(p);
    const large = await postVoice(p, s, Buffer.alloc(MAX_BYTES + 1, 1));
    assert.equal(large.status, 413);
    assert.equal(large.body.error.code, "audio_too_large");
    for (const type of ["text/plain", "video/webm", null]) {
      const bad = await postVoice(p, s, saying("hi"), { type });
      assert.equal(bad.status, 415, String(type));
      assert.equal(bad.body.error.code, "unsupported_audio_type");
    }
    const empty = await postVoice(p, s, Buffer.alloc(0));
    assert.equal(empty.status, 400);
    assert.equal(empty.body.error.code, "empty_audio");
    // A 6 s WAV (48 kB) over VOICE_MAX_SECONDS=5: refused from its header.
    const long = await postVoice(p, s, wav(6_000), { type: "audio/wav" });
    assert.equal(long.status, 413);
    assert.equal(long.body.error.code, "audio_too_long");
    const notWav = await postVoice(p, s, Buffer.from("RIFF but not really"), { type: "audio/wav" });
    assert.equal(notWav.body.error.code, "bad_audio");
    assert.equal(fake().transcriptions.length, 0, "none of these reached the audio API");
    // A 4 s WAV passes and is heard.
    const ok = await postVoice(p, s, wav(4_000), { type: "audio/x-wav" });
    assert.equal(ok.status, 200);
    assert.equal(ok.events[0].data.text, DEFAULT_TRANSCRIPT);
    assert.equal(fake().transcriptions[0].file.contentType, "audio/wav");
    // Webm whose transcription reports 6 s: refused after, nothing stored or answered.
    const s2 = await session(p);
    const reported = await postVoice(p, s2, saying("a long story", 6));
    assert.equal(reported.status, 413);
    assert.equal(reported.body.error.code, "audio_too_long");
    const silent = await postVoice(p, s2, saying("   "));
    assert.equal(silent.status, 422);
    assert.equal(silent.body.error.code, "no_speech");
    assert.deepEqual((await history(p, s2)).body.messages, []);
    // A bad client_id is refused before paying.
    const before = fake().transcriptions.length;
    const badId = await postVoice(p, s2, saying("hi"), { clientId: "has space" });
    assert.equal(badId.status, 400);
    assert.equal(fake().transcriptions.length, before);
  });

  test("one address gets VOICE_IP_REQUESTS_PER_MINUTE voice calls a minute, then 429", async () => {
    reset();
    const s = await session(p);
    for (let i = 0; i < 4; i++) {
      const r = await postVoice(p, s, saying(`question ${i}`));
      assert.equal(r.status, 200, `call ${i}`);
    }
    const fifth = await postVoice(p, s, saying("one more"));
    assert.equal(fifth.status, 429);
    assert.equal(fifth.body.error.code, "rate_limited");
    assert.ok(Number(fifth.headers.get("retry-after")) >= 1);
    const speech = await getSpeech(p, s, 2);
    assert.equal(speech.status, 429, "speech counts too");
    assert.equal(fake().transcriptions.length, 4, "the refused call was not transcribed");
    // Another address is not affected.
    const other = await postVoice(p, s, saying("from elsewhere"), { ip: "203.0.113.77" });
    assert.equal(other.status, 200);
  });

  test("the audio API failing, hanging or answering garbage is 503 voice_unavailable; typing still works", async () => {
    const s = await session(p);
    for (const [i, mode] of ["fail", "hang", "garbage"].entries()) {
      reset();
      fake().mode = mode;
      const t0 = Date.now();
      const r = await postVoice(p, s, saying("hello?"), { ip: `203.0.113.${10 + i}` });
      assert.equal(r.status, 503, mode);
      assert.equal(r.body.error.code, "voice_unavailable");
      if (mode === "hang") assert.ok(Date.now() - t0 < 5_000, "VOICE_TIMEOUT_MS bounds the wait");
    }
    const typed = await post(p, s, "Can I still type?");
    assert.equal(typed.status, 200);
    assert.equal(typed.events.at(-1).data.message.content, "deepseek says: Can I still type?");
    // Speech of that answer: the provider is still broken.
    fake().mode = "garbage";
    const speech = await getSpeech(p, s, 2, { ip: "203.0.113.99" });
    assert.equal(speech.status, 503);
    assert.equal(JSON.parse(speech.bytes).error.code, "voice_unavailable");
    reset();
  });

  describe("the page in headless Chromium with a fake microphone", () => {
    let base, browser;

    before(async () => {
      base = new URL(await p.mf.unsafeGetDirectURL(CHAT));
      browser = await puppeteer.launch({
        executablePath: chromiumPath(),
        headless: true,
        args: [
          "--no-sandbox",
          "--disable-gpu",
          "--disable-dev-shm-usage",
          "--no-first-run",
          "--use-fake-device-for-media-stream",
          "--use-fake-ui-for-media-stream",
          "--autoplay-policy=no-user-gesture-required",
        ],
      });
      p.onClose(() => browser.close());
    });

    /** A page in a fresh browser context: its own storage, so its own new session. */
    async function open(path = "/chat") {
      const page = await (await browser.createBrowserContext()).newPage();
      // Its own client address, so the per-address voice budget of one test leaves the next alone.
      await page.setExtraHTTPHeaders({ "cf-connecting-ip": freshIp() });
      await page.setViewport({ width: 1000, height: 800 });
      const problems = [];
      page.on("pageerror", (e) => problems.push(String(e)));
      await page.goto(new URL(path, base).href);
      await page.waitForSelector("body[data-state=online]");
      return { page, problems };
    }

    test("the mic records, the transcript and the streamed answer show, and the answer is played", async () => {
      reset();
      const { page, problems } = await open();
      assert.equal(await page.$eval("#mic", (b) => b.hidden), false, "the mic is offered");
      await page.click("#mic");
      await page.waitForSelector("body[data-recording=true]");
      assert.equal(await page.$eval("#recording", (e) => e.hidden), false, "the recording indicator shows");
      assert.equal(await page.$eval("#mic", (b) => b.getAttribute("aria-pressed")), "true");
      await page.screenshot({ path: artifact("chat-page-voice-recording.png") });
      await new Promise((r) => setTimeout(r, 1_500)); // a recording of about 1.5 s
      await page.click("#mic");
      await page.waitForFunction(() => document.querySelector("#messages .msg.assistant:not([aria-busy])"), { timeout: 30_000 });
      const texts = await page.$$eval("#messages .msg .text", (ps) => ps.map((x) => x.textContent));
      assert.deepEqual(texts, [DEFAULT_TRANSCRIPT, `deepseek says: ${DEFAULT_TRANSCRIPT}`]);
      await page.waitForSelector("body[data-spoken='2']");
      assert.equal(fake().transcriptions.length, 1);
      const sent = fake().transcriptions[0].file;
      assert.match(sent.contentType, /^audio\/(webm|ogg)$/);
      assert.ok(sent.data.length > 100, `a real recording (${sent.data.length} B)`);
      assert.equal(fake().speeches.length, 1);
      await page.screenshot({ path: artifact("chat-page-voice-answered.png") });
      // Answers aloud can be turned off.
      await page.click("#speak");
      assert.equal(await page.$eval("#speak", (b) => b.getAttribute("aria-pressed")), "false");
      assert.deepEqual(problems, []);
      await page.close();
    });

    test("without WebSocket (SSE transport) the voice answer's own events are shown, once", async () => {
      reset();
      const { page, problems } = await open("/chat?transport=sse");
      await page.click("#mic");
      await page.waitForSelector("body[data-recording=true]");
      await new Promise((r) => setTimeout(r, 700));
      await page.click("#mic");
      await page.waitForFunction(() => document.querySelector("#messages .msg.assistant:not([aria-busy])"), { timeout: 30_000 });
      await page.waitForSelector("body[data-spoken='2']");
      const texts = await page.$$eval("#messages .msg .text", (ps) => ps.map((x) => x.textContent));
      assert.deepEqual(texts, [DEFAULT_TRANSCRIPT, `deepseek says: ${DEFAULT_TRANSCRIPT}`]);
      assert.deepEqual(problems, []);
      await page.close();
    });

    test("voice not configured: both endpoints are 503 voice_unavailable; the page asks before recording and stays in text mode", async () => {
      const off = await p.launch({ chat: {}, workerExtras: { [CHAT]: { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } } });
      const s = await session(off);
      const r = await postVoice(off, s, saying("hello"));
      assert.equal(r.status, 503);
      assert.equal(r.body.error.code, "voice_unavailable");
      const speech = await getSpeech(off, s, 2);
      assert.equal(speech.status, 503);
      const offBase = new URL(await off.mf.unsafeGetDirectURL(CHAT));
      const page = await browser.newPage();
      await page.goto(new URL("/chat", offBase).href);
      await page.waitForSelector("body[data-state=online]");
      await page.evaluate(() => {
        window.__recorded = false;
        const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
        navigator.mediaDevices.getUserMedia = (c) => ((window.__recorded = true), real(c));
      });
      await page.click("#mic");
      await page.waitForSelector("body[data-voice=off]");
      assert.equal(await page.evaluate(() => window.__recorded), false, "the microphone was never opened");
      assert.match(await page.$eval("#notice", (n) => n.textContent), /Voice is unavailable/);
      await page.close();
      await off.close();
    });

    test("voice unavailable: the page goes back to typing and says so", async () => {
      reset();
      fake().mode = "fail";
      const { page } = await open();
      await page.click("#mic");
      await page.waitForSelector("body[data-recording=true]");
      await new Promise((r) => setTimeout(r, 500));
      await page.click("#mic");
      await page.waitForSelector("body[data-voice=off]");
      assert.equal(await page.$eval("#mic", (b) => b.hidden), true);
      assert.match(await page.$eval("#notice", (n) => n.textContent), /Voice is unavailable.*type your message/);
      reset();
      await page.type("#input", "Typing works");
      await page.click("#send");
      await page.waitForFunction(() => document.querySelector("#messages .msg.assistant:not([aria-busy])"), { timeout: 30_000 });
      await page.screenshot({ path: artifact("chat-page-voice-unavailable.png") });
      await page.close();
    });
  });
});
