// Load script for chat-webhook's LINE webhook: signed webhooks over loopback into workerd,
// measured to LINE's 200 (the events are queued; the consumer answers in the background
// against the fake LINE API and AI providers). Bounded in count and time.
//   scripts/bench line [requests=2000] [concurrency=32]
import { freshSecret, startPipeline } from "../harness/pipeline.mjs";
import { CHAT, chatVars, lineEvent, lineSignature, startFakeAi, startFakeLine } from "../harness/line.mjs";
import { eventually } from "../harness/wait.mjs";
import { runScenario } from "./scenario.mjs";

const TOTAL = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? 32);

const line = await startFakeLine("load-token");
const ai = await startFakeAi();
const vars = chatVars(line, ai, { LINE_CHANNEL_ACCESS_TOKEN: "load-token" });
const pipeline = await startPipeline({
  originUrl: "http://127.0.0.1:9",
  adminSecret: freshSecret(),
  vars: { [CHAT]: vars },
  workerExtras: { [CHAT]: { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } },
});
try {
  const base = await pipeline.mf.unsafeGetDirectURL(CHAT);
  const webhook = new URL("/webhooks/line", base);
  const signed = (events) => () => {
    const body = JSON.stringify({ destination: "U00000000000000000000000000000bot", events: events() });
    return { method: "POST", headers: { "content-type": "application/json", "x-line-signature": lineSignature(vars.LINE_CHANNEL_SECRET, body) }, body };
  };
  const users = (i) => ({ type: "user", userId: `U${String(i % 50).padStart(32, "0")}` });
  for (let i = 0; i < 50; i++) line.profiles.set(users(i).userId, { displayName: `Load ${i}`, language: "en" });
  let n = 0;
  const text = () => [lineEvent({ source: users(n++), message: { type: "text", id: `l${n}`, text: "Is it open today?" } })];
  const opts = { total: TOTAL, concurrency: CONCURRENCY };
  await runScenario("warm-up", webhook, signed(text), { ...opts, total: 200 });
  const rows = [
    await runScenario("GET /health (baseline)", new URL("/health", base), {}, opts),
    await runScenario("forged signature → 401", webhook, () => ({ method: "POST", headers: { "x-line-signature": "AAAA" }, body: JSON.stringify({ events: text() }) }), opts),
    await runScenario("verify call (no events) → 200", webhook, signed(() => []), opts),
    await runScenario("1 text event → 200 (queued)", webhook, signed(text), { ...opts, itemsPerRequest: 1 }),
    await runScenario("10 text events → 200 (queued)", webhook, signed(() => Array.from({ length: 10 }, () => text()[0])), { ...opts, total: Math.ceil(TOTAL / 4), itemsPerRequest: 10 }),
  ];
  const queued = rows[3].requests + rows[4].requests * 10 + 200;
  const started = Date.now();
  await eventually(() => line.replies.length >= queued, { timeoutMs: 300_000, intervalMs: 500, what: "every queued event answered" });
  console.log(`${TOTAL} requests per scenario (10-event webhooks: ${Math.ceil(TOTAL / 4)}), concurrency ${CONCURRENCY}, node ${process.version}`);
  console.table(rows);
  console.log(`consumer: all ${queued} events answered ${((Date.now() - started) / 1000).toFixed(1)} s after the last webhook; replies ${line.replies.length}, AI calls ${ai.providers.deepseek.calls.length}`);
} finally {
  await pipeline.close();
  await line.close();
  await ai.close();
}
