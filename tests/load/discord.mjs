// Load script for chat-webhook's Discord interactions: signed requests over loopback into
// workerd, timed to the interaction response. Bounded in count and time.
//   scripts/bench discord [requests=2000] [concurrency=32]
import { freshSecret, startPipeline } from "../harness/pipeline.mjs";
import { CHAT, chatVars, startFakeAi, startFakeLine } from "../harness/line.mjs";
import { discordKey, interaction, slash, startFakeDiscord } from "../harness/discord.mjs";
import { runScenario } from "./scenario.mjs";

const TOTAL = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? 32);

const key = discordKey();
const discord = await startFakeDiscord();
const ai = await startFakeAi();
const line = await startFakeLine("unused");
const pipeline = await startPipeline({
  originUrl: "http://127.0.0.1:9",
  adminSecret: freshSecret(),
  vars: { [CHAT]: { ...chatVars(line, ai), DISCORD_PUBLIC_KEY: key.publicKeyHex, DISCORD_API_BASE_URL: discord.api, QUOTE_API_BASE_URL: discord.market, DISCORD_TICKERS: "AAPL,AMD,AMZN,MSFT" } },
  workerExtras: { [CHAT]: { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } },
});
try {
  const base = await pipeline.mf.unsafeGetDirectURL(CHAT);
  const url = new URL("/webhooks/discord", base);
  const signed = (make) => () => {
    const body = JSON.stringify(make());
    return { method: "POST", headers: key.headers(body), body };
  };
  const opts = { total: TOTAL, concurrency: CONCURRENCY };
  await runScenario("warm-up", url, signed(() => interaction(1)), { ...opts, total: 200 });
  const rows = [
    await runScenario("GET /health (baseline)", new URL("/health", base), {}, opts),
    await runScenario("PING → PONG", url, signed(() => interaction(1)), opts),
    await runScenario("forged signature → 401", url, () => ({ method: "POST", headers: discordKey().headers("{}"), body: '{"type":1}' }), opts),
    await runScenario("autocomplete → choices", url, signed(() => interaction(4, { name: "check", type: 1, options: [{ name: "ticker", type: 3, value: "A", focused: true }] })), opts),
    await runScenario("/ask → deferred (edit follows)", url, signed(() => interaction(2, slash("ask", { question: "hello there" }))), { ...opts, total: Math.ceil(TOTAL / 4) }),
  ];
  await new Promise((r) => setTimeout(r, 3000));
  console.log(`${TOTAL} requests per scenario (/ask: ${Math.ceil(TOTAL / 4)}), concurrency ${CONCURRENCY}, node ${process.version}`);
  console.table(rows);
  console.log(`follow-up edits received: ${discord.edits.length} for ${rows[4].requests} deferred /ask`);
} finally {
  await pipeline.close();
  await Promise.all([discord.close(), ai.close(), line.close()]);
}
