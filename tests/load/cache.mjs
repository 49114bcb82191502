// cache-manager before and after issue 17's tiers (Cache API in front of KV) and O(1)
// prefix purge, in one run: the same pipeline started twice, once with the cache-manager
// build given as "before" (e.g. a copy of the 1c19fb4 build) and once with the current
// build, each scenario reported as a ratio to GET /health of the same pipeline.
//   node tests/load/cache.mjs <before-build-dir> [requests=1000] [concurrency=16]
// Scenarios: GET /health, cache HIT, MISS no-store, MISS + store (10,000 unique URLs
// under one prefix, which also fills the cache), then one purge of that prefix (10,000
// entries), timed. Loopback only; bounded in count and time.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { nowS } from "../harness/jwt.mjs";
import { freshSecret, startPipeline } from "../harness/pipeline.mjs";
import { runScenario } from "./scenario.mjs";
import { startOriginProcess } from "./origin.mjs";

const [BEFORE, TOTAL_ARG, CONC_ARG] = process.argv.slice(2);
if (!BEFORE) throw new Error("usage: node tests/load/cache.mjs <before-build-dir> [requests] [concurrency]");
const TOTAL = Number(TOTAL_ARG ?? 1000);
const CONCURRENCY = Number(CONC_ARG ?? 16);
const PURGE_N = Number(process.env.CACHE_PURGE_N ?? 10_000);
const here = path.dirname(fileURLToPath(import.meta.url));
const AFTER = path.join(here, "../../workers/cache-manager/build");

const { url: originUrl, stop: stopOrigin } = await startOriginProcess();

/** Runs every scenario against a pipeline whose cache-manager is the build in `dir`. */
async function measure(label, dir) {
  const adminSecret = freshSecret();
  const pipeline = await startPipeline({
    originUrl,
    adminSecret,
    vars: { "auth-validator": { JWT_RATE_LIMIT: "off" } },
    workerExtras: { "cache-manager": { scriptPath: path.join(dir, "index.js") } },
  });
  try {
    const base = pipeline.url;
    const auth = { headers: { authorization: `Bearer ${pipeline.token({ sub: "load", exp: nowS() + 3600 })}` } };
    const run = (name, url, init, total = TOTAL) => runScenario(name, url, init, { total, concurrency: CONCURRENCY });
    const bulk = "/api/v1/agents/cacheable/bulk/";
    await run("warm-up", new URL("/api/v1/agents", base), auth);
    await run("warm-up", new URL("/health", base));
    const hitUrl = new URL("/api/v1/agents/cacheable/hit", base);
    await fetch(hitUrl, auth).then((r) => r.arrayBuffer()); // stored
    const rows = [
      await run("GET /health", new URL("/health", base)),
      await run("cache HIT", hitUrl, auth),
      await run("cache MISS, no-store", new URL("/api/v1/agents", base), auth),
      await run(`cache MISS + store (${PURGE_N} unique URLs)`, (i) => new URL(`${bulk}${i}`, base), auth, PURGE_N),
    ];
    const t0 = performance.now();
    // A purge that fails (e.g. workerd resets the connection mid-purge) is reported, not fatal.
    const purged = await fetch(new URL("/admin/v1/cache/purge", base), {
      method: "POST",
      headers: { authorization: `Bearer ${adminSecret}`, "content-type": "application/json" },
      body: JSON.stringify({ prefixes: [bulk] }),
    }).catch((e) => ({ status: `failed (${e.cause?.code ?? e.message})`, text: async () => "" }));
    const answer = await purged.text();
    const purgeMs = performance.now() - t0;
    const after = await fetch(new URL(`${bulk}0`, base), auth)
      .then(async (r) => (await r.arrayBuffer(), r))
      .catch((e) => ({ headers: new Headers({ "x-cache": `failed (${e.cause?.code ?? e.message})` }) }));
    rows.push({ scenario: `purge ${PURGE_N} entries (one prefix)`, requests: 1, "req/s": "", "p50 ms": +purgeMs.toFixed(2), "p99 ms": "", statuses: { [purged.status]: 1 } });
    const health = rows[0]["p50 ms"];
    for (const row of rows) row["p50 / health"] = +(row["p50 ms"] / health).toFixed(2);
    const healthRps = rows[0]["req/s"];
    for (const row of rows) if (row["req/s"] !== "") row["req/s / health"] = +(row["req/s"] / healthRps).toFixed(2);
    console.log(`\n${label}: ${dir}`);
    console.log(`purge answered ${purged.status} ${answer}; next GET of a purged URL: ${after.headers.get("x-cache")}`);
    console.table(rows);
  } finally {
    await pipeline.close();
  }
}

try {
  console.log(`${TOTAL} requests per scenario, concurrency ${CONCURRENCY}, node ${process.version}`);
  await measure("before", path.resolve(BEFORE));
  await measure("after", AFTER);
} finally {
  stopOrigin();
}
