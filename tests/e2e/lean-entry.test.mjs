// scripts/lean-entry.mjs (issue 14): the worker's default export becomes a plain handler
// object that keeps the shim's wasm-trap recovery and calls the same generated handlers with
// the runtime's env and ctx; a shim it was not written for stops the build, the file
// untouched. Hermetic: a stand-in for worker-build 0.8.7's unminified bundle in a temp
// folder (the real bundles run through it in every other e2e test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCRIPT = path.join(ROOT, "scripts", "lean-entry.mjs");

// The shape of worker-build's shim after esbuild bundles it (names as it emits them).
const SHIM = `
const calls = (globalThis.leanEntryCalls = []);
class WorkerEntrypoint {}
function checkReinitialize() {
  calls.push("check");
}
function handleMaybeCritical(e) {
  calls.push("critical " + e.message);
}
var Entrypoint = class extends WorkerEntrypoint {};
Entrypoint.prototype.fetch = function fetch3(arg) {
  if (arg === "trap") throw new Error("unreachable");
  return [arg, this.env, this.ctx];
};
Entrypoint.prototype.scheduled = function scheduled2(arg) {
  return ["scheduled", arg, this.env, this.ctx];
};
Entrypoint.prototype.helper = function helper() {};
var classProxyHooks = {};
var shim_default = new Proxy(Entrypoint, classProxyHooks);
export { shim_default as default };
`;

function rewrite(source) {
  const dir = mkdtempSync(path.join(tmpdir(), "lean-entry-"));
  const file = path.join(dir, "index.mjs");
  writeFileSync(file, source);
  const run = spawnSync(process.execPath, [SCRIPT, file], { encoding: "utf8" });
  return { file, run };
}

test("the default export is a plain object calling the same handlers with env and ctx", async () => {
  const { file, run } = rewrite(SHIM);
  assert.equal(run.status, 0, run.stderr);
  const entry = (await import(pathToFileURL(file).href)).default;
  assert.equal(Object.getPrototypeOf(entry), Object.prototype, "a plain object, not a class");
  assert.deepEqual(Object.keys(entry).sort(), ["fetch", "scheduled"], "handlers only, those the shim defines");
  const env = { KV: 1 };
  const ctx = { waitUntil() {} };
  assert.deepEqual(entry.fetch("request", env, ctx), ["request", env, ctx]);
  assert.deepEqual(entry.scheduled("event", env, ctx), ["scheduled", "event", env, ctx]);
  assert.deepEqual(globalThis.leanEntryCalls, ["check", "check"], "recovery checked before every call");
});

test("a trap is reported to the recovery and rethrown", async () => {
  const { file } = rewrite(SHIM.replace("leanEntryCalls", "leanEntryCalls2"));
  const entry = (await import(pathToFileURL(file).href)).default;
  assert.throws(() => entry.fetch("trap", {}, {}), /unreachable/);
  assert.deepEqual(globalThis.leanEntryCalls2, ["check", "critical unreachable"]);
});

test("a shim it was not written for stops the build and is left untouched", () => {
  for (const foreign of [
    SHIM.replace("new Proxy(Entrypoint, classProxyHooks)", "new Proxy(Entrypoint, otherHooks)"),
    SHIM.replace("function handleMaybeCritical(e)", "function onCritical(e)"),
    SHIM + "\nvar shim_default = new Proxy(Entrypoint, classProxyHooks);\n",
  ]) {
    const { file, run } = rewrite(foreign);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /not the worker-build 0\.8\.7 shim/);
    assert.equal(readFileSync(file, "utf8"), foreign);
  }
});
