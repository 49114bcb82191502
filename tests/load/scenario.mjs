// One load scenario: `total` requests from `concurrency` loops, bounded by a time cap;
// reports requests/s (and items/s when each request carries several) with latency p50/p99.

const TIME_CAP_MS = 60_000;

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

/**
 * @param {string} name
 * @param {string|URL|((i:number)=>string|URL)} url
 * @param {RequestInit|((i:number)=>RequestInit)} [init]
 * @param {{ total: number, concurrency: number, itemsPerRequest?: number }} opts
 */
export async function runScenario(name, url, init = {}, { total, concurrency, itemsPerRequest }) {
  const latencies = [];
  const statuses = new Map();
  let next = 0;
  const deadline = Date.now() + TIME_CAP_MS;
  const started = performance.now();
  const loop = async () => {
    while (next < total && Date.now() < deadline) {
      const i = next++;
      const t0 = performance.now();
      const r = await fetch(typeof url === "function" ? url(i) : url, typeof init === "function" ? init(i) : init);
      await r.arrayBuffer();
      latencies.push(performance.now() - t0);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const row = {
    scenario: name,
    requests: latencies.length,
    "req/s": Math.round(latencies.length / seconds),
    "p50 ms": +percentile(latencies, 50).toFixed(2),
    "p99 ms": +percentile(latencies, 99).toFixed(2),
    statuses: Object.fromEntries(statuses),
  };
  if (itemsPerRequest) row["events/s"] = Math.round((latencies.length * itemsPerRequest) / seconds);
  return row;
}
