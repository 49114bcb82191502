// The test-only crypto-vectors worker (tests/crypto-vectors) in its own workerd, and the
// signature vectors it runs (printed by `cargo run -p edge-core --example crypto_vectors`).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { Miniflare } from "miniflare";
import { ROOT } from "./config.mjs";

const SCRIPT = path.join(ROOT, "tests/crypto-vectors/build/index.js");

/** The vectors as JSON objects (builds and runs the exporter; a few seconds when warm). */
export async function exportVectors() {
  const { stdout } = await promisify(execFile)("cargo", ["run", "-q", "-p", "edge-core", "--example", "crypto_vectors"], {
    cwd: ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout);
}

/**
 * Starts the crypto-vectors worker, plus `extraWorkers` (Miniflare worker options) in the
 * same workerd. Returns `{ mf, post(path, body, worker?) }`.
 */
export async function startCryptoVectors(extraWorkers = []) {
  if (!existsSync(SCRIPT)) throw new Error(`${SCRIPT} is missing; run scripts/build crypto-vectors first`);
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    workers: [
      {
        name: "crypto-vectors",
        modules: true,
        scriptPath: SCRIPT,
        modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
        compatibilityDate: "2026-04-20",
      },
      ...extraWorkers.map((w) => ({ ...w, routes: [`${w.name}.local/*`] })),
    ],
  });
  await mf.ready;
  return {
    mf,
    async post(p, body, worker) {
      const base = worker ? `http://${worker}.local` : "http://crypto-vectors.local";
      const r = await mf.dispatchFetch(new URL(p, base), { method: "POST", body: JSON.stringify(body) });
      const text = await r.text();
      if (r.status !== 200) throw new Error(`${p}: ${r.status} ${text.slice(0, 200)}`);
      return JSON.parse(text);
    },
  };
}
