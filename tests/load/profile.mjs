// V8 CPU profile of one worker under load, through workerd's inspector: where a request's
// time goes inside the isolate (self time by function, top rows), for the compare bench's
// voice-router pair by default. Not a test; a tool for choosing the next change by numbers.
//   node tests/load/profile.mjs [worker=voice-router|ref-proxy] [requests=4000] [concurrency=32]
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import WebSocket from "ws";
import { workerOptions } from "../harness/config.mjs";
import { routingTable } from "../harness/routing.mjs";
import { startOriginProcess } from "./origin.mjs";
import { runScenario } from "./scenario.mjs";

const WHO = process.argv[2] ?? "voice-router";
const TOTAL = Number(process.argv[3] ?? 4000);
const CONCURRENCY = Number(process.argv[4] ?? 32);
const here = path.dirname(fileURLToPath(import.meta.url));
const origin = await startOriginProcess();
const direct = { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] };
const sink = { name: "sink", modules: true, scriptPath: path.join(here, "reference", "empty.mjs"), compatibilityDate: "2026-04-20" };
const router = workerOptions("voice-router", { vars: { ROUTING_TABLE: routingTable(origin.url) } });
const proxy = { ...sink, name: "ref-proxy", scriptPath: path.join(here, "reference", "proxy.mjs"), bindings: { ORIGIN_URL: origin.url }, ...direct };
const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  inspectorPort: 0,
  workers: [{ ...router, serviceBindings: { ...router.serviceBindings, ANALYTICS: "sink" }, ...direct }, proxy, sink],
});
try {
  await mf.ready;
  const base = await mf.unsafeGetDirectURL(WHO);
  const url = new URL("/api/v1/agents", base);
  await runScenario("warm-up", url, {}, { total: 500, concurrency: CONCURRENCY });
  const inspector = await mf.getInspectorURL();
  const ws = new WebSocket(new URL(`/core:user:${WHO}`, inspector));
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  let id = 0;
  const pending = new Map();
  ws.on("message", (m) => {
    const msg = JSON.parse(m);
    if (msg.id && pending.has(msg.id)) pending.get(msg.id)(msg);
  });
  const call = (method, params = {}) =>
    new Promise((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 100 });
  await call("Profiler.start");
  const row = await runScenario(WHO, url, {}, { total: TOTAL, concurrency: CONCURRENCY });
  const { result } = await call("Profiler.stop");
  ws.close();
  const { nodes, samples, timeDeltas } = result.profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  // Samples are capped: workerd runs its isolates on one thread, so a delta can span other work.
  for (let i = 0; i < samples.length; i++) {
    const d = Math.min(timeDeltas[i] ?? 0, 350);
    const n = byId.get(samples[i]);
    if (n.callFrame.functionName === "(idle)") continue;
    const f = n.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${path.basename(f.url || "")}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + d);
    total += d;
  }
  const perReq = (us) => (us / row.requests).toFixed(1);
  console.log(`${WHO}: ${row.requests} requests, ${row["req/s"]} req/s; busy ${perReq(total)} µs per request in the isolate`);
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 40))) {
    console.log(`${perReq(us).padStart(7)} µs  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${k}`);
  }
} finally {
  await mf.dispose();
  origin.stop();
}
