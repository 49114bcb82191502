// Turns the committed wrangler configs into Miniflare worker options, so the local
// runtime (tests and scripts/dev) runs exactly the bindings that get deployed.
// Only the top-level (local) section is used; [env.*] sections are for deploys.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The five workers; the first is the pipeline's public entry. */
export const WORKERS = [
  "auth-validator",
  "cache-manager",
  "voice-router",
  "analytics-collector",
  "chat-webhook",
];

/** Parses wrangler/<name>.toml. */
export function readWranglerConfig(name) {
  const file = path.join(ROOT, "wrangler", `${name}.toml`);
  return { file, config: parse(readFileSync(file, "utf8")) };
}

const byBinding = (list, key, value) =>
  Object.fromEntries((list ?? []).map((item) => [item[key], value(item)]));

/**
 * Miniflare options for one worker.
 * @param {string} name worker name (= wrangler/<name>.toml)
 * @param {{ vars?: Record<string,string>, secrets?: Record<string,string> }} overrides
 *   vars replace the config's [vars]; secrets are added as plain-text bindings.
 */
export function workerOptions(name, { vars = {}, secrets = {} } = {}) {
  const { file, config } = readWranglerConfig(name);
  const scriptPath = path.resolve(path.dirname(file), config.main);
  if (!existsSync(scriptPath)) {
    throw new Error(`${name}: ${scriptPath} is missing; run scripts/build first`);
  }
  const sqliteClasses = new Set((config.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []));
  return {
    name: config.name,
    modules: true,
    scriptPath,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    bindings: { ...(config.vars ?? {}), ...vars, ...secrets },
    kvNamespaces: byBinding(config.kv_namespaces, "binding", (k) => k.id),
    r2Buckets: byBinding(config.r2_buckets, "binding", (b) => b.bucket_name),
    d1Databases: byBinding(config.d1_databases, "binding", (d) => d.database_id),
    durableObjects: byBinding(config.durable_objects?.bindings, "name", (b) => ({
      className: b.class_name,
      useSQLite: sqliteClasses.has(b.class_name),
    })),
    serviceBindings: byBinding(config.services, "binding", (s) => s.service),
    analyticsEngineDatasets: byBinding(config.analytics_engine_datasets, "binding", (a) => ({
      dataset: a.dataset,
    })),
    queueProducers: byBinding(config.queues?.producers, "binding", (q) => ({ queueName: q.queue })),
    queueConsumers: byBinding(config.queues?.consumers, "queue", (q) => ({
      maxBatchSize: q.max_batch_size,
      maxBatchTimeout: q.max_batch_timeout,
      maxRetries: q.max_retries,
      deadLetterQueue: q.dead_letter_queue,
    })),
  };
}

/**
 * `options` with its script handed to the runtime as module contents (the script and every
 * `.wasm` beside it), the way a deploy uploads a bundle, instead of a `scriptPath` that
 * Miniflare walks in Node first (it parses the script to find its imports: 14–26 ms
 * measured for a built worker, work the runtime never does). The cold-start benches load
 * both sides so.
 */
export function inlineModules(options) {
  const { scriptPath, modulesRules: _rules, modules: _modules, ...rest } = options;
  const dir = path.dirname(scriptPath);
  const wasm = readdirSync(dir)
    .filter((f) => f.endsWith(".wasm"))
    .map((f) => ({ type: "CompiledWasm", path: path.join(dir, f), contents: readFileSync(path.join(dir, f)) }));
  return { ...rest, modules: [{ type: "ESModule", path: scriptPath, contents: readFileSync(scriptPath, "utf8") }, ...wasm] };
}
