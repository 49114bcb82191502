// scripts/dev: the pipeline on fixed local ports, with persistent local state.
//   PORT (default 8787): entry; PORT+1 chat-webhook; PORT+2 analytics-collector; PORT+3 origin;
//   PORT+4 a demo LINE API; PORT+5 demo AI providers (replaced by real ones when
//   wrangler/.dev.vars sets AI_PRIMARY_BASE_URL / AI_FALLBACK_BASE_URL and their keys);
//   PORT+6 a demo Discord API and market-data API; PORT+7 a demo audio API (the web chat's
//   voice messages: it hears "Where is my order?" in any recording; VOICE_BASE_URL /
//   VOICE_API_KEY in wrangler/.dev.vars use a real one); PORT+8 a demo escalation webhook (prints each notification).
//   The web chat's knowledge base is seeded with a few demo articles (kept when edited).
//   EDGE_STATE_DIR (default .wrangler/state): where local KV/D1/DO state is kept.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "./config.mjs";
import { freshJwtSecret, freshSecret, startPipeline } from "./pipeline.mjs";
import { demoOriginHandler, startUpstream } from "./upstream.mjs";
import { chatVars, lineSignature, startFakeAi, startFakeLine } from "./line.mjs";
import { discordKey, interaction, startFakeDiscord } from "./discord.mjs";
import { startFakeVoice, VOICE_KEY } from "./voice.mjs";
import { demoToolCalls, demoToolAnswer, DEMO_ARTICLES } from "./demo-desk.mjs";

const port = Number(process.env.PORT ?? 8787);
// origin = 8790 by default, where wrangler/voice-router.toml's local ROUTING_TABLE points.
const ports = { entry: port, chat: port + 1, analytics: port + 2, origin: port + 3, line: port + 4, ai: port + 5, discord: port + 6, voice: port + 7, hook: port + 8 };

/** Reads KEY=VALUE lines from wrangler/.dev.vars, if present. */
function devVars() {
  const file = path.join(ROOT, "wrangler", ".dev.vars");
  if (!existsSync(file)) return {};
  return Object.fromEntries(
    readFileSync(file, "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#") && l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")).trim(), l.slice(l.indexOf("=") + 1).trim()]),
  );
}

const vars = devVars();
const adminSecret = vars.ADMIN_SECRET || freshSecret();
const jwtSecret = vars.JWT_HS256_SECRET || freshJwtSecret();
const origin = await startUpstream(demoOriginHandler("local-demo"), ports.origin);
const lineToken = vars.LINE_CHANNEL_ACCESS_TOKEN || freshSecret();
const line = await startFakeLine(lineToken, ports.line, { log: true });
const ai = await startFakeAi(ports.ai);
// The demo primary looks questions up in the knowledge base when the web chat offers tools.
Object.assign(ai.providers.deepseek, { toolCalls: demoToolCalls, answer: demoToolAnswer(ai.providers.deepseek.answer) });
const voice = await startFakeVoice(ports.voice);
const hook = await startUpstream((req, res) => {
  let ticket = "?";
  try {
    ticket = JSON.parse(req.body).ticket?.id ?? ticket;
  } catch (_) {}
  console.log(`[demo escalation] ${req.headers["idempotency-key"] ?? ticket}: ${req.body}`);
  res.writeHead(204).end();
}, ports.hook);
const discord = await startFakeDiscord(ports.discord);
const appKey = discordKey();
const chat = {
  ...chatVars(line, ai, { LINE_CHANNEL_ACCESS_TOKEN: lineToken }),
  DISCORD_PUBLIC_KEY: appKey.publicKeyHex,
  DISCORD_API_BASE_URL: discord.api,
  QUOTE_API_BASE_URL: discord.market,
  VOICE_BASE_URL: voice.base,
  VOICE_API_KEY: VOICE_KEY,
  ESCALATION_WEBHOOK_URL: `${hook.url}/escalations`,
  ...Object.fromEntries(Object.entries(vars).filter(([k]) => /^(LINE|AI|DISCORD|QUOTE|VOICE|ESCALATION)_/.test(k))),
};
const pipeline = await startPipeline({
  originUrl: origin.url,
  adminSecret,
  jwtSecret,
  vars: { "chat-webhook": chat },
  miniflare: {
    port: ports.entry,
    defaultPersistRoot: process.env.EDGE_STATE_DIR ?? path.join(ROOT, ".wrangler", "state"),
  },
  workerExtras: {
    "chat-webhook": { unsafeDirectSockets: [{ host: "127.0.0.1", port: ports.chat }] },
    "analytics-collector": { unsafeDirectSockets: [{ host: "127.0.0.1", port: ports.analytics }] },
  },
});

const entry = `http://127.0.0.1:${ports.entry}`;
const chatUrl = `http://127.0.0.1:${ports.chat}`;
// Demo articles, created once (an edited or deleted one is left as it is on later runs).
for (const a of DEMO_ARTICLES) {
  const url = `${chatUrl}/admin/v1/articles/${a.id}`;
  const auth = { authorization: `Bearer ${adminSecret}` };
  if ((await fetch(url, { headers: auth })).status === 404) {
    const r = await fetch(url, { method: "PUT", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify(a.article) });
    if (!r.ok) console.error(`demo article ${a.id}: ${r.status} ${await r.text()}`);
  }
}
// A demo token for this run: role admin, valid for a day, signed with the dev HS256 secret.
const demoToken = pipeline.token({ sub: "local-dev", exp: Math.floor(Date.now() / 1000) + 86_400 });
// A signed LINE webhook to try the bot with (the demo LINE API prints the answer).
const sample = JSON.stringify({
  destination: "U00000000000000000000000000000bot",
  events: [{ type: "message", message: { type: "text", id: "1", text: "hello" }, webhookEventId: `01DEMO${Date.now()}`,
    deliveryContext: { isRedelivery: false }, timestamp: Date.now(), mode: "active",
    source: { type: "user", userId: "U0000000000000000000000000000dev" }, replyToken: "demoreplytoken" }],
});
const ping = JSON.stringify(interaction(1));
const pingHeaders = appKey.headers(ping);
console.log(`
edge-workers running in workerd (local state kept between runs):
  API pipeline (auth-validator → cache-manager → voice-router → demo origin)
      ${entry}
      try: curl -i ${entry}/health
           curl -i -H "authorization: Bearer ${demoToken}" ${entry}/api/v1/agents
      API keys: POST ${entry}/admin/v1/keys with the admin secret (see README)
      analytics dashboard: ${entry}/api/v1/analytics/edge/dashboard (sign in with the admin secret)
  chat-webhook            ${chatUrl}/health
      web support chat: open ${chatUrl}/chat in a browser (answers stream from the demo AI;
        ask "how do refunds work?" and it searches the knowledge base; "I want to talk to a
        person" opens a ticket and the demo escalation webhook ${hook.url} prints it;
        the mic button sends speech to the demo audio API ${voice.url})
      knowledge base: curl -H "authorization: Bearer <ADMIN_SECRET>" '${chatUrl}/admin/v1/search?q=refund'
      LINE webhook: ${chatUrl}/webhooks/line (demo LINE API ${line.url}, demo AI ${ai.url})
      try: curl -i ${chatUrl}/webhooks/line -H 'content-type: application/json' \\
             -H 'x-line-signature: ${lineSignature(chat.LINE_CHANNEL_SECRET, sample)}' --data '${sample}'
      Discord interactions: ${chatUrl}/webhooks/discord (demo Discord + market API ${discord.url})
      try (signed PING, valid 5 minutes): curl -i ${chatUrl}/webhooks/discord \\
             -H 'x-signature-ed25519: ${pingHeaders["x-signature-ed25519"]}' -H 'x-signature-timestamp: ${pingHeaders["x-signature-timestamp"]}' --data '${ping}'
  analytics-collector     http://127.0.0.1:${ports.analytics}/health (ingest, and reads with the admin secret)
  admin endpoints: -H "authorization: Bearer <ADMIN_SECRET>" (${vars.ADMIN_SECRET ? "from wrangler/.dev.vars" : `this run's secret: ${adminSecret}`})
  demo origin             ${origin.url}
Ctrl-C to stop.`);

const stop = async () => {
  await pipeline.close();
  await Promise.all([origin.close(), line.close(), ai.close(), discord.close(), voice.close(), hook.close()]);
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
