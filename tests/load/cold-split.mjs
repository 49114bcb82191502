// Where voice-router's cold start goes (issue 14): a fresh Miniflare to its first /health, 7
// runs of each, interleaved: the empty JS worker; the same importing voice-router's wasm
// (compiled by the runtime, never instantiated); the empty worker with voice-router's
// bindings, without and with that wasm; voice-router itself (as module contents, the way a
// deploy uploads it, and from its scriptPath, which Miniflare walks in Node first). Prints the medians of "ready"
// (Miniflare constructed to listening: script load) and of the first /health.
//   node tests/load/cold-split.mjs      (after scripts/build voice-router)
// The module paths below are names inside Miniflare's config only; nothing is written.
import { readFileSync } from "node:fs";
import path from "node:path";
import { Miniflare } from "miniflare";
import { ROOT, inlineModules, workerOptions } from "../harness/config.mjs";
import { routingTable } from "../harness/routing.mjs";

const wasmPath = path.join(ROOT, "workers/voice-router/build/index_bg.wasm");
const wasm = readFileSync(wasmPath);
const COMPAT = "2026-04-20";
const empty = `export default { fetch() { return new Response("ok"); } };`;
const imported = `import m from "./cold-split-vr.wasm"; export default { fetch() { return new Response(String(m instanceof WebAssembly.Module)); } };`;
const mods = (src) => [
  { type: "ESModule", path: path.join(ROOT, "tests/load/cold-split-entry.mjs"), contents: src },
  { type: "CompiledWasm", path: path.join(ROOT, "tests/load/cold-split-vr.wasm"), contents: wasm },
];
const variants = {
  empty: { name: "e", modules: [{ type: "ESModule", path: path.join(ROOT, "tests/load/cold-split-entry.mjs"), contents: empty }], compatibilityDate: COMPAT },
  wasmImported: { name: "w", modules: mods(imported), compatibilityDate: COMPAT },
  bound: { ...bindings(), name: "b", modules: [{ type: "ESModule", path: path.join(ROOT, "tests/load/cold-split-entry.mjs"), contents: empty }], compatibilityDate: COMPAT },
  boundWasm: { ...bindings(), name: "bw", modules: mods(imported), compatibilityDate: COMPAT },
  rust: inlineModules({ ...workerOptions("voice-router", { vars: { ROUTING_TABLE: routingTable("http://127.0.0.1:9") } }), serviceBindings: {} }),
  // The same from its scriptPath: Miniflare parses the script in Node first (not the runtime's cost).
  rustWalked: { ...workerOptions("voice-router", { vars: { ROUTING_TABLE: routingTable("http://127.0.0.1:9") } }), serviceBindings: {} },
};
function bindings() {
  const { modules: _m, scriptPath: _s, modulesRules: _r, compatibilityDate: _d, compatibilityFlags: _f, name: _n, ...rest } = {
    ...workerOptions("voice-router", { vars: { ROUTING_TABLE: routingTable("http://127.0.0.1:9") } }),
    serviceBindings: {},
  };
  return rest;
}
async function cold(options) {
  const t0 = performance.now();
  const mf = new Miniflare({ host: "127.0.0.1", port: 0, workers: [options] });
  try {
    const url = await mf.ready;
    const t1 = performance.now();
    const r = await fetch(new URL("/health", url));
    await r.arrayBuffer();
    const t2 = performance.now();
    if (r.status !== 200) throw new Error(`${options.name}: ${r.status}`);
    return [t1 - t0, t2 - t1];
  } finally {
    await mf.dispose();
  }
}
const out = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let i = 0; i < 7; i++) for (const [k, v] of Object.entries(variants)) out[k].push(await cold(v));
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [k, runs] of Object.entries(out)) {
  console.log(`${k.padEnd(14)} ready ${med(runs.map((r) => r[0])).toFixed(0)} ms, first /health ${med(runs.map((r) => r[1])).toFixed(0)} ms, total ${med(runs.map((r) => r[0] + r[1])).toFixed(0)} ms`);
}
