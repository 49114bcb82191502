// Helpers for analytics-collector's suites: events, raw HTTP over many connections, and
// the query API.
import http from "node:http";

export const COLLECTOR = "analytics-collector";
export const DAY_MS = 86_400_000;

/** A valid event at `ts_ms` (now by default); `over` replaces fields. */
export const metricEvent = (over = {}) => ({
  worker: "voice-router",
  request_id: "ingest-test-1",
  ts_ms: Date.now(),
  method: "GET",
  path: "/api/v1/agents",
  status: 200,
  latency_ms: 4.5,
  country: "JP",
  colo: "NRT",
  decision: "allow_api_key",
  region: "eu-west-1",
  priority: "realtime",
  ...over,
});

/**
 * POSTs `body` (JSON) to the collector's ingest straight over HTTP through `agent`, so a
 * test controls how many connections carry the load. Resolves to { status, json }.
 */
export function postMetrics(baseUrl, agent, body) {
  const url = new URL("/v1/metrics", baseUrl);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: "POST",
        agent,
        headers: {
          host: `${COLLECTOR}.local`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
        },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(chunks).toString() || "null") }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** Calls the query API with the admin secret; asserts 200 and returns the result. */
export async function queryMetrics(p, secret, params) {
  const qs = new URLSearchParams(params).toString();
  const r = await p.fetch(`/api/v1/analytics/edge/query?${qs}`, { headers: { authorization: `Bearer ${secret}` } }, COLLECTOR);
  if (r.status !== 200) throw new Error(`query ${qs}: ${r.status} ${await r.text()}`);
  return r.json();
}

/** Nearest-rank percentile of sorted numbers. */
export function nearestRank(sorted, pct) {
  const rank = Math.max(1, Math.ceil((pct * sorted.length) / 100));
  return sorted[rank - 1];
}
