// scripts/dev: the pipeline on fixed local ports, with persistent local state.
//   PORT (default 8787): entry; PORT+1 chat-webhook; PORT+2 analytics-collector; PORT+3 origin.
//   EDGE_STATE_DIR (default .wrangler/state): where local KV/D1/DO state is kept.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "./config.mjs";
import { freshJwtSecret, freshSecret, startPipeline } from "./pipeline.mjs";
import { demoOriginHandler, startUpstream } from "./upstream.mjs";

const port = Number(process.env.PORT ?? 8787);
// origin = 8790 by default, where wrangler/voice-router.toml's local ROUTING_TABLE points.
const ports = { entry: port, chat: port + 1, analytics: port + 2, origin: port + 3 };

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
const pipeline = await startPipeline({
  originUrl: origin.url,
  adminSecret,
  jwtSecret,
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
// A demo token for this run: role admin, valid for a day, signed with the dev HS256 secret.
const demoToken = pipeline.token({ sub: "local-dev", exp: Math.floor(Date.now() / 1000) + 86_400 });
console.log(`
edge-workers running in workerd (local state kept between runs):
  API pipeline (auth-validator → cache-manager → voice-router → demo origin)
      ${entry}
      try: curl -i ${entry}/health
           curl -i -H "authorization: Bearer ${demoToken}" ${entry}/api/v1/agents
      API keys: POST ${entry}/admin/v1/keys with the admin secret (see README)
  chat-webhook            http://127.0.0.1:${ports.chat}/health
      dashboard: ${entry}/api/v1/analytics/edge/dashboard (sign in with the admin secret)
  analytics-collector     http://127.0.0.1:${ports.analytics}/health (ingest, and reads with the admin secret)
  admin endpoints: -H "authorization: Bearer <ADMIN_SECRET>" (${vars.ADMIN_SECRET ? "from wrangler/.dev.vars" : `this run's secret: ${adminSecret}`})
  demo origin             ${origin.url}
Ctrl-C to stop.`);

const stop = async () => {
  await pipeline.close();
  await origin.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
