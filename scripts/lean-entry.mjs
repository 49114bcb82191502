// Rewrites a worker's bundled entry (build/index.js, as worker-build 0.8.7 emits it unminified)
// so the runtime calls the handlers through a plain object instead of a class behind Proxies.
//
// worker-build's module shim exports `new Proxy(Entrypoint, classProxyHooks)`: a
// WorkerEntrypoint subclass constructed per request, wrapped in a Proxy whose `get` wraps
// every method in a second Proxy, so that after a wasm trap the next call re-instantiates
// the module. That costs about 0.4 s of workerd CPU per 10,000 requests on voice-router
// (DESIGN.md, "The worker crate's entry"). The plain object below keeps the same recovery
// (checkReinitialize before each call, handleMaybeCritical on a synchronous throw, as the
// shim does for these handlers) and calls the same generated handler with the same `env`
// and `ctx`. Durable Object classes and the other exports are left as they are.
//
//   node scripts/lean-entry.mjs <path to build/index.js>
// Fails (exit 1) when the shim is not the one this was written for: the build then stops.
import { readFileSync, writeFileSync } from "node:fs";

const file = process.argv[2];
if (!file) {
  console.error("usage: lean-entry.mjs <build/index.js>");
  process.exit(2);
}
const source = readFileSync(file, "utf8");
const SHIM_EXPORT = "var shim_default = new Proxy(Entrypoint, classProxyHooks);";
const needed = [SHIM_EXPORT, "function checkReinitialize()", "function handleMaybeCritical(e)", "var Entrypoint = class extends WorkerEntrypoint"];
const missing = needed.filter((s) => source.split(s).length !== 2);
if (missing.length > 0) {
  console.error(`${file}: not the worker-build 0.8.7 shim this rewrites (each once): ${missing.join(" | ")}`);
  process.exit(1);
}
const PLAIN = `var shim_default = leanEntry(Entrypoint);
function leanEntry(Entry) {
  const entry = {};
  for (const name of ["fetch", "queue", "scheduled", "email", "connect"]) {
    const handler = Object.hasOwn(Entry.prototype, name) ? Entry.prototype[name] : undefined;
    if (typeof handler !== "function") continue;
    entry[name] = function (arg, env, ctx) {
      checkReinitialize();
      try {
        return handler.call({ env, ctx }, arg);
      } catch (e) {
        handleMaybeCritical(e);
        throw e;
      }
    };
  }
  return entry;
}`;
writeFileSync(file, source.replace(SHIM_EXPORT, PLAIN));
