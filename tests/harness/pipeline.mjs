// Starts the five built workers in one workerd (Miniflare), chained by their service
// bindings as the wrangler configs declare them, with local KV/D1/Durable Objects.
import { randomBytes } from "node:crypto";
import { Miniflare } from "miniflare";
import { WORKERS, workerOptions } from "./config.mjs";
import { nowS, signJwt } from "./jwt.mjs";
import { routingTable } from "./routing.mjs";
import { applyD1Migrations } from "./d1.mjs";

/** A fresh admin secret, so no secret is ever committed or shared between runs. */
export const freshSecret = () => randomBytes(24).toString("base64url");
/** A fresh 32-byte HS256 secret for auth-validator's JWT_HS256_SECRET. */
export const freshJwtSecret = () => randomBytes(32).toString("base64url");

/**
 * @param {object} opts
 * @param {string} opts.originUrl base URL every region of voice-router's table points at
 * @param {string} opts.adminSecret ADMIN_SECRET for the workers that have admin endpoints
 * @param {Record<string, Record<string,string>>} [opts.vars] per-worker var overrides
 * @param {object} [opts.miniflare] extra top-level Miniflare options (port, persistence)
 * @param {Record<string, object>} [opts.workerExtras] per-worker extra Miniflare options
 * @param {string|null} [opts.jwtSecret] auth-validator's JWT_HS256_SECRET (fresh by default; null: none)
 * @param {object[]} [opts.extraWorkers] more Miniflare workers in the same workerd (benchmarks)
 */
export async function startPipeline({
  originUrl,
  adminSecret,
  vars = {},
  miniflare = {},
  workerExtras = {},
  jwtSecret = freshJwtSecret(),
  extraWorkers = [],
}) {
  const defaults = {
    // Every region at the test's origin, unless the test brings its own table.
    "voice-router": originUrl ? { ROUTING_TABLE: routingTable(originUrl) } : {},
  };
  const workers = WORKERS.map((name) => ({
    ...workerOptions(name, {
      vars: { ...defaults[name], ...vars[name] },
      secrets: {
        ADMIN_SECRET: adminSecret,
        ...(name === "auth-validator" && jwtSecret ? { JWT_HS256_SECRET: jwtSecret } : {}),
      },
    }),
    // Each worker is also reachable directly as http://<name>.local/ (a route, like a
    // deployed worker's own hostname); unrouted requests go to the entry.
    routes: [`${name}.local/*`],
    ...workerExtras[name],
  }));
  const mf = new Miniflare({ host: "127.0.0.1", port: 0, ...miniflare, workers: [...workers, ...extraWorkers] });
  const url = await mf.ready;
  for (const name of WORKERS) await applyD1Migrations(mf, name);
  return {
    mf,
    /** URL of the public entry (auth-validator). */
    url,
    /**
     * Sends a request to the entry worker, or to `worker` directly.
     * `init.cf` sets request.cf (country, latitude, longitude, colo, ...).
     */
    fetch(path, init = {}, worker = WORKERS[0]) {
      const base = worker === WORKERS[0] ? url : `http://${worker}.local`;
      return mf.dispatchFetch(new URL(path, base), init);
    },
    /**
     * An HS256 token signed with this pipeline's secret: by default an admin valid for
     * five minutes; `claims` are merged over that.
     */
    token(claims = {}) {
      return signJwt({ alg: "HS256", typ: "JWT" }, { sub: "test-admin", role: "admin", exp: nowS() + 300, ...claims }, jwtSecret);
    },
    /** Sends an authenticated API request to the entry (an admin token unless `init.headers` sets one). */
    api(path, init = {}) {
      return this.fetch(path, { ...init, headers: { authorization: `Bearer ${this.token()}`, ...init.headers } });
    },
    /** Calls the key admin API with the admin secret; `body` is sent as JSON. */
    admin(path, { method = "GET", body } = {}) {
      const headers = { authorization: `Bearer ${adminSecret}` };
      if (body !== undefined) headers["content-type"] = "application/json";
      return this.fetch(`/admin/v1/keys${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    },
    /** Every stored hop metric of request `id`, read with the admin secret (asserts 200). */
    async hops(id) {
      const r = await this.fetch(
        `/v1/metrics/requests/${id}`,
        { headers: { authorization: `Bearer ${adminSecret}` } },
        "analytics-collector",
      );
      if (r.status !== 200) throw new Error(`hops of ${id}: ${r.status} ${await r.text()}`);
      return (await r.json()).hops;
    },
    close: () => mf.dispose(),
  };
}
