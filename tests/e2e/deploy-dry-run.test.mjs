// `wrangler deploy --dry-run` for every worker config and environment: the config is
// valid, the built worker bundles, and each environment's service bindings point at
// that environment's workers (never staging → production or the reverse).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { ROOT, WORKERS, readWranglerConfig } from "../harness/config.mjs";

const run = promisify(execFile);
const WRANGLER = path.join(ROOT, "node_modules", ".bin", "wrangler");
const ENVS = { local: "", staging: "-staging", production: "-production" };

describe("deploy dry run", { timeout: 180_000 }, () => {
  for (const worker of WORKERS) {
    for (const [env, suffix] of Object.entries(ENVS)) {
      test(`${worker} (${env})`, async () => {
        const args = ["deploy", "--dry-run", "--outdir", path.join(ROOT, "target", "dry-run", env, worker)];
        args.push("-c", path.join("wrangler", `${worker}.toml`));
        if (env !== "local") args.push("--env", env);
        const { stdout } = await run(WRANGLER, args, {
          cwd: ROOT,
          timeout: 60_000,
          env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
        });
        assert.match(stdout, /--dry-run: exiting now\./);
        // Every declared service binding appears, pointing at this env's worker.
        const { config } = readWranglerConfig(worker);
        const services = (env === "local" ? config.services : config.env[env].services) ?? [];
        assert.equal(services.length, (config.services ?? []).length, "env declares every binding");
        for (const { binding, service } of services) {
          assert.ok(WORKERS.includes(service.slice(0, service.length - suffix.length)), service);
          assert.ok(service.endsWith(suffix) && (suffix || !/-(staging|production)$/.test(service)), service);
          assert.match(stdout, new RegExp(`env\\.${binding} \\(${service}\\)`));
        }
        // Only the entry and the chat webhook face the internet. The inner workers are reached
        // by service binding alone: analytics-collector's ingest takes no credential, and
        // cache-manager and voice-router trust the identity headers auth-validator sets.
        const section = env === "local" ? config : config.env[env];
        if (!["auth-validator", "chat-webhook"].includes(worker)) {
          assert.equal(section.workers_dev, false, "workers_dev off");
          assert.equal(section.routes ?? section.route, undefined, "no routes");
        } else if (env === "production") {
          // Production is served on the zone's own hostname only, behind its WAF and
          // rules: a *.workers.dev address would bypass them.
          assert.equal(section.workers_dev, false, "production: workers_dev off");
          assert.ok((section.routes ?? []).length > 0, "production: served on a zone route");
        }
        const gzipKiB = Number(/gzip: ([\d.]+) KiB/.exec(stdout)?.[1]);
        assert.ok(gzipKiB > 0 && gzipKiB < 1000, `upload gzip ${gzipKiB} KiB under the 1 MiB free-plan limit`);
      });
    }
  }
});
