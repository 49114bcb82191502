// Rust vs plain JS, in one workerd: our five workers (tests/harness/pipeline.mjs) and the
// reference JS workers of tests/load/reference/ side by side in ONE Miniflare, each pair run
// interleaved for 3 rounds under the same load (the order flips every round), then the
// median ratio. Also: workerd CPU per 10k requests (from /proc), cold start to the first
// response, and wasm sizes. Loopback only; every scenario is bounded in count and time.
//   scripts/bench compare [requests=2000] [concurrency=32]
import { readFileSync, readdirSync, statSync } from "node:fs";
import { TICKS_PER_S, cpuTicks, workerdChildren } from "./cpu.mjs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { Miniflare } from "miniflare";
import { ROOT, inlineModules, workerOptions } from "../harness/config.mjs";
import { keyPair, nowS, signJwt } from "../harness/jwt.mjs";
import { freshJwtSecret, freshSecret, startPipeline } from "../harness/pipeline.mjs";
import { CHAT, chatVars, lineEvent, lineSignature, startFakeAi, startFakeLine } from "../harness/line.mjs";
import { discordKey, interaction, startFakeDiscord } from "../harness/discord.mjs";
import { routingTable } from "../harness/routing.mjs";
import { eventually } from "../harness/wait.mjs";
import { startOriginProcess } from "./origin.mjs";
import { runScenario } from "./scenario.mjs";

const TOTAL = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? 32);
const ROUNDS = Number(process.env.COMPARE_ROUNDS ?? 3);
// COMPARE_ONLY=<regex>: run only the pairs whose label matches (and skip the cold starts
// unless it matches "cold"), to measure one change quickly; the full table needs all.
const ONLY = process.env.COMPARE_ONLY ? new RegExp(process.env.COMPARE_ONLY, "i") : null;
const here = path.dirname(fileURLToPath(import.meta.url));
const REF = path.join(here, "reference");
const COMPAT_DATE = "2026-04-20"; // the date our wrangler configs use

// ---- the origin, in a process of its own (as tests/load/pipeline.mjs) ----
const originProcess = await startOriginProcess();
const originUrl = originProcess.url;

const direct = { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] };
const ref = (name, file, extra = {}) => ({
  name,
  modules: true,
  scriptPath: path.join(REF, file),
  compatibilityDate: COMPAT_DATE,
  ...direct,
  ...extra,
});

const jwtSecret = freshJwtSecret();
const rsa = keyPair("rsa", "bench-rsa");
const dkey = discordKey();
const line = await startFakeLine("bench-token");
const ai = await startFakeAi();
const discord = await startFakeDiscord();
const chat = chatVars(line, ai, { LINE_CHANNEL_ACCESS_TOKEN: "bench-token" });
// COMPARE_FLUSH_MS=<ms>: the chain's METRICS_FLUSH_MS (both chains; default: the configs' 500).
const flush = process.env.COMPARE_FLUSH_MS ? { METRICS_FLUSH_MS: process.env.COMPARE_FLUSH_MS } : {};
const authVars = { JWT_JWKS: JSON.stringify({ keys: [rsa.jwk] }), JWT_RATE_LIMIT: "off", ...flush };
const adminSecret = freshSecret();

// Our auth-validator a second time, its next hop (CACHE) bound to the empty JS worker, so
// "gate → next hop" compares the gate alone on both sides (telemetry still goes to our collector).
const gateOpts = workerOptions("auth-validator", { vars: authVars, secrets: { ADMIN_SECRET: adminSecret, JWT_HS256_SECRET: jwtSecret } });
const oursGate = {
  ...gateOpts,
  name: "bench-auth-gate",
  serviceBindings: { ...gateOpts.serviceBindings, CACHE: "ref-empty" },
  ...direct,
};

// The chain a second time (entry → cache → router → origin, same configs), its telemetry
// (ANALYTICS of every hop) bound to the empty JS worker: the "telemetry share" pairs run the
// real chain against it, so 1 − CPU(sink) / CPU(collector) is what telemetry costs the chain
// (outbox and flushes included on both sides; only the collector's ingest differs).
const sinkChain = [
  ["sink-auth", "auth-validator", { vars: authVars, secrets: { ADMIN_SECRET: adminSecret, JWT_HS256_SECRET: jwtSecret } }, { CACHE: "sink-cache" }, direct],
  ["sink-cache", "cache-manager", { vars: flush, secrets: { ADMIN_SECRET: adminSecret } }, { ROUTER: "sink-router" }, {}],
  ["sink-router", "voice-router", { vars: { ROUTING_TABLE: routingTable(originUrl), ...flush }, secrets: { ADMIN_SECRET: adminSecret } }, {}, {}],
].map(([name, worker, overrides, next, extra]) => {
  const o = workerOptions(worker, overrides);
  return { ...o, name, serviceBindings: { ...o.serviceBindings, ...next, ANALYTICS: "ref-empty" }, ...extra };
});

const references = [
  ref("ref-empty", "empty.mjs"),
  ref("ref-proxy", "proxy.mjs", { bindings: { ORIGIN_URL: originUrl } }),
  ref("ref-hs256-gate", "hs256-gate.mjs", { bindings: { JWT_HS256_SECRET: jwtSecret }, serviceBindings: { NEXT: "ref-empty" } }),
  ref("ref-rs256-gate", "rs256-gate.mjs", { bindings: { RS256_JWK: JSON.stringify(rsa.jwk) }, serviceBindings: { NEXT: "ref-empty" } }),
  ref("ref-line", "line-verifier.mjs", {
    bindings: { LINE_CHANNEL_SECRET: chat.LINE_CHANNEL_SECRET },
    queueProducers: { EVENTS: { queueName: "ref-line-events" } },
    queueConsumers: { "ref-line-events": { maxBatchSize: 10, maxBatchTimeout: 1 } },
  }),
  ref("ref-discord", "discord-verifier.mjs", { bindings: { DISCORD_PUBLIC_KEY: dkey.publicKeyHex } }),
  // The JS chain: gate → pass-through → proxy, by service bindings (entry only has a socket).
  ref("ref-chain-gate", "hs256-gate.mjs", { bindings: { JWT_HS256_SECRET: jwtSecret }, serviceBindings: { NEXT: "ref-chain-pass" } }),
  { ...ref("ref-chain-pass", "pass-through.mjs", { serviceBindings: { NEXT: "ref-chain-proxy" } }), unsafeDirectSockets: undefined },
  { ...ref("ref-chain-proxy", "proxy.mjs", { bindings: { ORIGIN_URL: originUrl } }), unsafeDirectSockets: undefined },
];

const pipeline = await startPipeline({
  originUrl,
  adminSecret,
  jwtSecret,
  vars: {
    "auth-validator": authVars,
    "cache-manager": flush,
    "voice-router": { ROUTING_TABLE: routingTable(originUrl), ...flush },
    [CHAT]: { ...chat, DISCORD_PUBLIC_KEY: dkey.publicKeyHex, DISCORD_API_BASE_URL: discord.api, QUOTE_API_BASE_URL: discord.market },
  },
  workerExtras: { [CHAT]: direct, "voice-router": direct, "auth-validator": direct },
  extraWorkers: [oursGate, ...sinkChain, ...references],
});

const rows = [];
try {
  const [workerd] = workerdChildren();
  const at = async (name) => new URL(await pipeline.mf.unsafeGetDirectURL(name));
  const u = (base, p) => new URL(p, base);
  const chatBase = await at(CHAT);
  const routerBase = await at("voice-router");
  const gateBase = await at("bench-auth-gate");
  const sinkBase = await at("sink-auth");
  // The entry's own socket: the telemetry pairs reach both chains the same way (pipeline.url
  // goes through Miniflare's entry worker first, which costs CPU the direct sockets do not).
  const entryBase = await at("auth-validator");
  const R = Object.fromEntries(
    await Promise.all(["ref-empty", "ref-proxy", "ref-hs256-gate", "ref-rs256-gate", "ref-line", "ref-discord", "ref-chain-gate"].map(async (n) => [n, await at(n)])),
  );

  const claims = () => ({ sub: "bench", role: "admin", exp: nowS() + 3600 });
  const hs = { headers: { authorization: `Bearer ${signJwt({ alg: "HS256", typ: "JWT" }, claims(), jwtSecret)}` } };
  const rs = { headers: { authorization: `Bearer ${signJwt({ alg: "RS256", kid: "bench-rsa" }, claims(), rsa.privateKey)}` } };
  const lineSigned = (events) => () => {
    const body = JSON.stringify({ destination: "U00000000000000000000000000000bot", events: events() });
    return { method: "POST", headers: { "content-type": "application/json", "x-line-signature": lineSignature(chat.LINE_CHANNEL_SECRET, body) }, body };
  };
  // Events queued to ours (answered by its consumer in the background) and to the JS verifier.
  const sent = { ours: 0, js: 0 };
  const oneEvent = (side) => () => [lineEvent({ source: { type: "user", userId: `U${String(sent[side]++ % 50).padStart(32, "0")}` } })];
  for (let i = 0; i < 50; i++) line.profiles.set(`U${String(i).padStart(32, "0")}`, { displayName: `Bench ${i}`, language: "en" });
  const ping = () => {
    const body = JSON.stringify(interaction(1));
    return { method: "POST", headers: dkey.headers(body), body };
  };

  // [label, ours: [url, init], js: [url, init], note]
  const allPairs = [
    ["GET /health: chat-webhook (a leaf, no probe) vs empty JS", [u(chatBase, "/health")], [u(R["ref-empty"], "/health")]],
    ["voice-router direct → origin vs 5-line JS proxy", [u(routerBase, "/api/v1/agents")], [u(R["ref-proxy"], "/api/v1/agents")]],
    ["auth-validator HS256 → next hop vs JS HS256 gate", [u(gateBase, "/api/v1/agents"), hs], [u(R["ref-hs256-gate"], "/api/v1/agents"), hs]],
    ["auth-validator RS256 → next hop vs JS RS256 gate", [u(gateBase, "/api/v1/agents"), rs], [u(R["ref-rs256-gate"], "/api/v1/agents"), rs]],
    ["LINE webhook, 0 events vs JS LINE verifier", [u(chatBase, "/webhooks/line"), lineSigned(() => [])], [u(R["ref-line"], "/webhooks/line"), lineSigned(() => [])]],
    ["LINE webhook, 1 event (queued) vs JS LINE verifier", [u(chatBase, "/webhooks/line"), lineSigned(oneEvent("ours"))], [u(R["ref-line"], "/webhooks/line"), lineSigned(oneEvent("js"))]],
    ["Discord PING vs JS Discord verifier", [u(chatBase, "/webhooks/discord"), ping], [u(R["ref-discord"], "/webhooks/discord"), ping]],
    ["full chain HS256 → origin (cache MISS, no-store) vs JS chain", [u(entryBase, "/api/v1/agents"), hs], [u(R["ref-chain-gate"], "/api/v1/agents"), hs]],
    ["full chain cache HIT (2 workers) vs JS chain (3 hops → origin)", [u(entryBase, "/api/v1/agents/cacheable"), hs], [u(R["ref-chain-gate"], "/api/v1/agents/cacheable"), hs]],
    // Not Rust vs JS: the highest ratio ANY implementation of the job could reach here, its own
    // work free: the next hop (or the origin) reached directly vs the JS reference in front
    // of it. The load generator, the next hop and the origin share the 2 cores with both
    // sides, so a gate or proxy that cost nothing would still measure this, not infinity.
    ["ceiling, gates: the next hop alone (empty JS) vs JS HS256 gate", [u(R["ref-empty"], "/api/v1/agents")], [u(R["ref-hs256-gate"], "/api/v1/agents"), hs], "ceiling"],
    ["ceiling, voice-router: the origin alone vs 5-line JS proxy", [u(originUrl, "/api/v1/agents")], [u(R["ref-proxy"], "/api/v1/agents")], "ceiling"],
    ["ceiling, chain: the origin alone vs JS chain", [u(originUrl, "/api/v1/agents")], [u(R["ref-chain-gate"], "/api/v1/agents"), hs], "ceiling"],
    // Not Rust vs JS: the same chain with its telemetry going to the collector vs to an empty worker.
    ["telemetry share: full chain MISS, collector vs empty sink", [u(entryBase, "/api/v1/agents"), hs], [u(sinkBase, "/api/v1/agents"), hs], "sink"],
    ["telemetry share: full chain HIT, collector vs empty sink", [u(entryBase, "/api/v1/agents/cacheable"), hs], [u(sinkBase, "/api/v1/agents/cacheable"), hs], "sink"],
  ];

  const pairs = allPairs.filter(([label]) => !ONLY || ONLY.test(label));
  const opts = { total: TOTAL, concurrency: CONCURRENCY };
  // CPU is read once the last flush of the side's telemetry is done (METRICS_FLUSH_MS after
  // its last request, plus slack), so a side's ingest is not billed to the side after it.
  const settleMs = Number(process.env.COMPARE_FLUSH_MS ?? 500) + 300;
  const measure = async (name, [url, init]) => {
    const before = cpuTicks(workerd);
    const row = await runScenario(name, url, init, opts);
    await new Promise((r) => setTimeout(r, settleMs));
    const cpuS = (cpuTicks(workerd) - before) / TICKS_PER_S;
    return { ...row, cpu10k: (cpuS / row.requests) * 10_000 };
  };

  // Warm-up: every scenario once (JIT, isolates, connections, the cache entry for HIT).
  for (const [label, ours, js] of pairs) {
    await runScenario(`warm-up ${label}`, ours[0], ours[1], { ...opts, total: 200 });
    await runScenario(`warm-up ${label}`, js[0], js[1], { ...opts, total: 200 });
  }
  const results = pairs.map(() => ({ rust: [], js: [] }));
  const started = Date.now();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, [label, ours, js]] of pairs.entries()) {
      const order = round % 2 === 0 ? ["rust", "js"] : ["js", "rust"];
      for (const side of order) {
        const r = await measure(`${side} ${label}`, side === "rust" ? ours : js);
        results[i][side].push(r);
        if (Object.keys(r.statuses).some((s) => !/^2/.test(s))) console.warn(`round ${round + 1} ${side} ${label}: statuses ${JSON.stringify(r.statuses)}`);
      }
    }
    console.error(`round ${round + 1}/${ROUNDS} done, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [i, [label, , , kind]] of pairs.entries()) {
    const { rust, js } = results[i];
    rows.push({
      path: label,
      kind,
      "Rust req/s": median(rust.map((r) => r["req/s"])),
      "JS req/s": median(js.map((r) => r["req/s"])),
      ratio: +median(rust.map((r, k) => r["req/s"] / js[k]["req/s"])).toFixed(2),
      "p99 Rust ms": median(rust.map((r) => r["p99 ms"])),
      "p99 JS ms": median(js.map((r) => r["p99 ms"])),
      "CPU s/10k Rust": +median(rust.map((r) => r.cpu10k)).toFixed(1),
      "CPU s/10k JS": +median(js.map((r) => r.cpu10k)).toFixed(1),
    });
  }
  // Ours queues the LINE events and answers them in the background; let that finish
  // before the cold-start runs (the JS consumer just acknowledges).
  await eventually(() => line.replies.length >= sent.ours, { timeoutMs: 120_000, intervalMs: 500, what: "queued LINE events answered" }).catch((e) =>
    console.warn(`${e.message}: ${line.replies.length}/${sent.ours}`),
  );
  console.log(`LINE events queued: ours ${sent.ours} (answered in the background: ${line.replies.length}), JS ${sent.js} (acknowledged and dropped)`);
} finally {
  await pipeline.close();
}

// ---- cold start: a fresh Miniflare with one worker, constructor to first /health response ----
// Every side's script is handed to the runtime as module contents (`inlineModules`), as a
// deploy uploads it: given a `scriptPath`, Miniflare first parses the script in Node to find
// its imports, ~10–15 ms for a built worker that the runtime never spends. That walked load
// is still measured for voice-router and printed, not used for the ratio.
async function coldStart(options) {
  const t0 = performance.now();
  const mf = new Miniflare({ host: "127.0.0.1", port: 0, workers: [options] });
  try {
    const url = await mf.ready;
    const r = await fetch(new URL("/health", url));
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`cold start ${options.name}: ${r.status}`);
    return performance.now() - t0;
  } finally {
    await mf.dispose();
  }
}
// voice-router: a leaf whose /health makes no subrequest; its telemetry binding points at
// the empty JS worker's name so the config needs no collector (health is never reported).
const routerOpts = { ...workerOptions("voice-router", { vars: { ROUTING_TABLE: routingTable(originUrl) } }), serviceBindings: {} };
// The empty JS worker twice: bare (as before), and with voice-router's own bindings (its KV
// namespace, vars), so the Miniflare services a binding starts are on both sides and the
// ratio is the script's cost alone.
const emptyJs = inlineModules({ name: "ref-empty", scriptPath: path.join(REF, "empty.mjs"), compatibilityDate: COMPAT_DATE });
const { modules: _m, scriptPath: _s, modulesRules: _r, compatibilityDate: _d, compatibilityFlags: _f, name: _n, ...routerBindings } = routerOpts;
const cold = { rust: [], js: [], jsBound: [], rustWalked: [] };
const COLD_RUNS = 5;
if (!ONLY || ONLY.test("cold")) {
  for (let i = 0; i < COLD_RUNS; i++) {
    cold.rust.push(await coldStart(inlineModules(routerOpts)));
    cold.js.push(await coldStart(emptyJs));
    cold.jsBound.push(await coldStart({ ...routerBindings, ...emptyJs }));
    cold.rustWalked.push(await coldStart(routerOpts));
  }
}
originProcess.stop();
await Promise.all([line.close(), ai.close(), discord.close()]);

const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sizes = readdirSync(path.join(ROOT, "workers"))
  .map((w) => path.join(ROOT, "workers", w, "build", "index_bg.wasm"))
  .filter((f) => {
    try {
      return statSync(f).isFile();
    } catch {
      return false;
    }
  })
  .map((f) => ({ worker: path.basename(path.dirname(path.dirname(f))), "raw bytes": statSync(f).size, "gzip bytes": gzipSync(readFileSync(f), { level: 9 }).length }));

console.log(`\nRust vs plain JS: ${TOTAL} requests per scenario, concurrency ${CONCURRENCY}, ${ROUNDS} interleaved rounds (medians), node ${process.version}`);
console.log("ratio = Rust req/s ÷ JS req/s (median of the 3 per-round ratios); CPU = workerd process CPU (user+sys) per 10,000 requests\n");
console.log("| path | Rust req/s | JS req/s | ratio | p99 Rust / JS ms | CPU s per 10k, Rust / JS |");
console.log("|---|---|---|---|---|---|");
for (const r of rows.filter((r) => !r.kind)) {
  console.log(`| ${r.path} | ${r["Rust req/s"]} | ${r["JS req/s"]} | ${r.ratio} | ${r["p99 Rust ms"]} / ${r["p99 JS ms"]} | ${r["CPU s/10k Rust"]} / ${r["CPU s/10k JS"]} |`);
}
const ceilingRows = rows.filter((r) => r.kind === "ceiling");
if (ceilingRows.length) {
  console.log("\nCeilings: the highest ratio a hop doing its job for free could reach on this machine (the next hop or");
  console.log("origin reached directly vs the JS reference in front of it; \"ratio\" = direct req/s ÷ JS req/s)\n");
  console.log("| path | direct req/s | JS req/s | ceiling ratio |");
  console.log("|---|---|---|---|");
  for (const r of ceilingRows) console.log(`| ${r.path} | ${r["Rust req/s"]} | ${r["JS req/s"]} | ${r.ratio} |`);
}
const sinkRows = rows.filter((r) => r.kind === "sink");
if (sinkRows.length) {
  console.log("\nTelemetry's share of the chain's CPU: the same chain, its ANALYTICS bound to the collector vs to an empty JS worker");
  console.log("(share = 1 − CPU with the empty sink ÷ CPU with the collector; medians of the interleaved rounds)\n");
  console.log("| path | req/s collector / sink | CPU s per 10k, collector / sink | telemetry share |");
  console.log("|---|---|---|---|");
  for (const r of sinkRows) {
    const share = 1 - r["CPU s/10k JS"] / r["CPU s/10k Rust"];
    console.log(`| ${r.path} | ${r["Rust req/s"]} / ${r["JS req/s"]} | ${r["CPU s/10k Rust"]} / ${r["CPU s/10k JS"]} | ${(share * 100).toFixed(0)} % |`);
  }
}
if (cold.rust.length) {
  const runs = (xs) => xs.map((x) => x.toFixed(0)).join(", ");
  console.log(`\nCold start, fresh Miniflare to the first /health response, scripts as module contents (median of ${COLD_RUNS}): voice-router (Rust) ${med(cold.rust).toFixed(0)} ms, empty JS ${med(cold.js).toFixed(0)} ms, ratio ${(med(cold.rust) / med(cold.js)).toFixed(2)}`);
  console.log(`  the empty JS with voice-router's bindings (KV namespace, vars): ${med(cold.jsBound).toFixed(0)} ms, ratio ${(med(cold.rust) / med(cold.jsBound)).toFixed(2)}`);
  console.log(`  voice-router from its scriptPath (Miniflare walks the script first; not the runtime's cost): ${med(cold.rustWalked).toFixed(0)} ms`);
  console.log(`  runs: Rust ${runs(cold.rust)} ms; JS ${runs(cold.js)} ms; JS with bindings ${runs(cold.jsBound)} ms; Rust walked ${runs(cold.rustWalked)} ms\n`);
}
console.log("| wasm | raw bytes | gzip bytes |");
console.log("|---|---|---|");
for (const s of sizes) console.log(`| ${s.worker} | ${s["raw bytes"]} | ${s["gzip bytes"]} |`);
