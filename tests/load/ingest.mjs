// Load script for analytics-collector's ingest: real HTTP over loopback into workerd,
// single events and batches, then the query API over what was ingested. Bounded in count
// and time.
//   scripts/bench ingest [requests=2000] [concurrency=32]
import { randomUUID } from "node:crypto";
import { freshSecret, startPipeline } from "../harness/pipeline.mjs";
import { metricEvent } from "../harness/analytics.mjs";
import { runScenario } from "./scenario.mjs";
import { TICKS_PER_S, cpuTicks, workerdChildren } from "./cpu.mjs";

const TOTAL = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? 32);
const WORKERS = ["auth-validator", "cache-manager", "voice-router", "chat-webhook"];

const secret = freshSecret();
const pipeline = await startPipeline({
  originUrl: "http://127.0.0.1:9",
  adminSecret: secret,
  workerExtras: { "analytics-collector": { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } },
});
try {
  const base = await pipeline.mf.unsafeGetDirectURL("analytics-collector");
  const ingest = new URL("/v1/metrics", base);
  let seq = 0;
  const ev = () => {
    const n = seq++;
    return metricEvent({ worker: WORKERS[n % 4], request_id: `load-${n}`, latency_ms: n % 500, status: n % 50 ? 200 : 503 });
  };
  const post = (items) => () => ({
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(items === 1 ? ev() : Array.from({ length: items }, ev)),
  });
  // What a worker's outbox sends: an envelope with a fresh batch id (applied once per store).
  const envelope = (items) => () => ({
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ batch_id: randomUUID(), events: Array.from({ length: items }, ev) }),
  });
  // workerd CPU per event (per request without items): what one more event costs the
  // collector, and (envelope of 1 vs 200) how much of it is per batch.
  const [workerd] = workerdChildren();
  const withCpu = async (...args) => {
    const before = cpuTicks(workerd);
    const row = await runScenario(...args);
    const cpuS = (cpuTicks(workerd) - before) / TICKS_PER_S;
    return { ...row, "CPU µs/item": Math.round((cpuS * 1e6) / (row.requests * (args[3].itemsPerRequest ?? 1))) };
  };
  const opts = (itemsPerRequest) => ({ total: TOTAL, concurrency: CONCURRENCY, itemsPerRequest });
  const auth = { headers: { authorization: `Bearer ${secret}` } };
  await runScenario("warm-up", ingest, post(1), opts(1));
  const rows = [
    await withCpu("GET /health (baseline)", new URL("/health", base), {}, opts()),
    await withCpu("POST 1 event", ingest, post(1), opts(1)),
    await withCpu("POST batch of 10", ingest, post(10), opts(10)),
    await withCpu("POST batch of 100", ingest, post(100), { ...opts(100), total: Math.ceil(TOTAL / 4) }),
    await withCpu("POST envelope of 1", ingest, envelope(1), opts(1)),
    await withCpu("POST envelope of 200", ingest, envelope(200), { ...opts(200), total: Math.ceil(TOTAL / 8) }),
    await withCpu("query: last hour by worker", new URL("/api/v1/analytics/edge/query?group_by=worker", base), auth, { ...opts(), total: Math.ceil(TOTAL / 4) }),
    await withCpu("Prometheus scrape", new URL("/api/v1/analytics/edge/metrics", base), auth, { ...opts(), total: Math.ceil(TOTAL / 4) }),
  ];
  console.log(`${TOTAL} requests per scenario (batch of 100, queries: ${Math.ceil(TOTAL / 4)}; envelope of 200: ${Math.ceil(TOTAL / 8)}), concurrency ${CONCURRENCY}, node ${process.version}; ${seq} events ingested`);
  console.table(rows);
} finally {
  await pipeline.close();
}
