// Load script for the web support chat: N concurrent WebSocket sessions, each sending M
// messages one after another (the next once the previous is answered), against
// chat-webhook in workerd with the fake streaming AI on loopback. Verifies that every
// message is answered exactly once (one `done` per message sent, the deltas joined equal
// the stored answer, message ids 1, 2, 3… without gaps, the history holds exactly them) and
// prints first-token and full-answer p50/p99 and the errors. Bounded in time.
//   scripts/bench chat [sessions=200] [messages=10]
import WebSocket from "ws";
import { freshSecret, startPipeline } from "../harness/pipeline.mjs";
import { CHAT, chatVars, startFakeAi, startFakeLine } from "../harness/line.mjs";
import { nearestRank } from "../harness/analytics.mjs";

const SESSIONS = Number(process.argv[2] ?? 200);
const MESSAGES = Number(process.argv[3] ?? 10);
/** How the fake AI streams each answer (~60 characters): pieces of this many characters,
 * each after this pause. */
const CHUNK_CHARS = 8;
const CHUNK_DELAY_MS = 10;
/** One answer, at most; the whole run, at most. */
const ANSWER_TIMEOUT_MS = 30_000;
const RUN_TIMEOUT_MS = 300_000;

const ai = await startFakeAi();
for (const p of Object.values(ai.providers)) Object.assign(p, { chunkChars: CHUNK_CHARS, delayMs: CHUNK_DELAY_MS });
const line = await startFakeLine("unused");
const total = SESSIONS * MESSAGES;
const pipeline = await startPipeline({
  originUrl: "http://127.0.0.1:9",
  adminSecret: freshSecret(),
  vars: {
    [CHAT]: {
      ...chatVars(line, ai, { AI_PRIMARY_TIMEOUT_MS: "20000", AI_FALLBACK_TIMEOUT_MS: "20000" }),
      // Each session comes from its own address (`cf-connecting-ip`), so the default
      // limits hold; only a conversation longer than they allow per minute raises them.
      CHAT_MESSAGES_PER_MINUTE: String(Math.min(10_000, Math.max(20, MESSAGES))),
      CHAT_IP_MESSAGES_PER_MINUTE: String(Math.min(10_000, Math.max(60, MESSAGES))),
    },
  },
  workerExtras: { [CHAT]: { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } },
});

const firstToken = [];
const full = [];
const errors = new Map();
const fail = (what) => errors.set(what, (errors.get(what) ?? 0) + 1);
let answered = 0;
/** Who answered: the fake providers, or the chain's static apology. */
const providers = new Map();

/** One session: create, connect, converse, check, close. */
async function session(base, n) {
  const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  const created = await fetch(new URL("/chat/v1/sessions", base), { method: "POST", headers: { "content-type": "application/json", "cf-connecting-ip": ip }, body: "{}" });
  if (created.status !== 201) return fail(`create ${created.status}`);
  const { id, token } = await created.json();
  const ws = new WebSocket(new URL(`/chat/v1/sessions/${id}/ws`, base.replace(/^http/, "ws")), ["chat.v1", `bearer.${token}`], { headers: { "cf-connecting-ip": ip } });
  const frames = [];
  let wake = () => {};
  ws.on("message", (data) => {
    try {
      frames.push(JSON.parse(data.toString()));
    } catch {
      frames.push({ type: "unparsable" });
    }
    wake();
  });
  let closed = false;
  ws.on("close", () => {
    closed = true;
    wake();
  });
  ws.on("error", (e) => fail(`socket error: ${e.message}`));
  /** The next frame, or null when the socket closed or `ms` passed. */
  let read = 0;
  const next = async (ms) => {
    const deadline = Date.now() + ms;
    while (read >= frames.length) {
      if (closed || Date.now() >= deadline) return null;
      await new Promise((r) => {
        wake = r;
        setTimeout(r, deadline - Date.now());
      });
    }
    return frames[read++];
  };
  const ids = [];
  try {
    const history = await next(ANSWER_TIMEOUT_MS);
    if (history?.type !== "history") return fail(`first frame ${history?.type ?? "none"}`);
    if (ws.protocol !== "chat.v1") fail("subprotocol not chat.v1");
    for (let i = 0; i < MESSAGES; i++) {
      const clientId = `s${n}-m${i}`;
      const sentAt = performance.now();
      ws.send(JSON.stringify({ type: "message", content: `Question ${i} from session ${n}: is it open today?`, client_id: clientId }));
      let echo = null;
      let done = null;
      let first = null;
      const deltas = [];
      while (!done) {
        const f = await next(ANSWER_TIMEOUT_MS);
        if (!f) return fail(closed ? "socket closed mid-answer" : "answer timed out");
        if (f.type === "message") {
          if (f.message?.client_id !== clientId || echo) return fail("unexpected message echo");
          echo = f.message;
        } else if (f.type === "delta") {
          first ??= performance.now();
          deltas.push(f);
        } else if (f.type === "done") {
          done = f.message;
        } else if (f.type === "error") {
          return fail(`error frame ${f.code}`);
        } else if (f.type !== "typing") {
          return fail(`unexpected frame ${f.type}`);
        }
      }
      const end = performance.now();
      if (!echo) return fail("no echo of the user's message");
      if (deltas.some((d) => d.message_id !== done.id)) return fail("delta of another message");
      if (deltas.map((d) => d.text).join("") !== done.content) return fail("deltas joined != done content");
      if (done.role !== "assistant" || !done.content) return fail("done is not an assistant answer");
      ids.push(echo.id, done.id);
      const by = done.metadata?.provider ?? "unknown";
      providers.set(by, (providers.get(by) ?? 0) + 1);
      firstToken.push((first ?? end) - sentAt);
      full.push(end - sentAt);
      answered += 1;
    }
    if (ids.some((id, i) => id !== i + 1)) return fail(`ids not 1..${ids.length} without gaps: ${ids.join(",")}`);
    // Nothing more arrives for this session: no second answer to any message.
    const extra = await next(200);
    if (extra) return fail(`frame after the last answer: ${extra.type}`);
    const h = await fetch(new URL(`/chat/v1/sessions/${id}/messages`, base), { headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": ip } });
    const stored = (await h.json()).messages ?? [];
    if (stored.length !== 2 * MESSAGES || stored.some((m, i) => m.id !== i + 1)) fail("stored history differs");
  } finally {
    ws.close(1000);
  }
}

try {
  const base = await pipeline.mf.unsafeGetDirectURL(CHAT);
  // Warm the isolate (the page, a session) before timing.
  await (await fetch(new URL("/chat", base))).arrayBuffer();
  const started = performance.now();
  const run = Promise.all(Array.from({ length: SESSIONS }, (_, n) => session(base.href, n).catch((e) => fail(`exception: ${e.cause?.code ?? e.message}`))));
  let timer;
  await Promise.race([run, new Promise((r) => (timer = setTimeout(() => r(fail("run timed out")), RUN_TIMEOUT_MS)))]);
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  firstToken.sort((a, b) => a - b);
  full.sort((a, b) => a - b);
  const ms = (sorted, p) => (sorted.length ? +nearestRank(sorted, p).toFixed(1) : null);
  const calls = Object.values(ai.providers).reduce((s, p) => s + p.calls.length, 0);
  console.log(`${SESSIONS} WebSocket sessions × ${MESSAGES} messages, fake AI streaming ${CHUNK_CHARS}-character pieces ${CHUNK_DELAY_MS} ms apart, node ${process.version}`);
  console.table([
    {
      sent: total,
      "answered once": answered,
      errors: [...errors.values()].reduce((a, b) => a + b, 0),
      "first token p50 ms": ms(firstToken, 50),
      "first token p99 ms": ms(firstToken, 99),
      "full answer p50 ms": ms(full, 50),
      "full answer p99 ms": ms(full, 99),
      "answers/s": Math.round(answered / seconds),
      "AI calls": calls,
    },
  ]);
  console.log("answered by:", Object.fromEntries(providers));
  if (errors.size) console.log("errors:", Object.fromEntries(errors));
  process.exitCode = answered === total && errors.size === 0 ? 0 : 1;
} finally {
  await pipeline.close();
  await line.close();
  await ai.close();
}
