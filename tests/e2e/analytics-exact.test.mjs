// 10,000 metrics sent concurrently over many connections, half as single events and half
// in batches: the aggregates count exactly 10,000, split exactly by every dimension, with
// the right percentiles (exact below 128 ms, within the histogram's 1/64 above).
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { withPipeline } from "../harness/fixture.mjs";
import { metricEvent, nearestRank, postMetrics, queryMetrics } from "../harness/analytics.mjs";

const N = 10_000;
const BATCH = 50;
const WORKERS = ["auth-validator", "cache-manager", "voice-router", "chat-webhook"];
const COUNTRIES = ["US", "DE", "JP", "TH", "BR"];
const REGIONS = ["us-east-1", "eu-west-1", "ap-northeast-1"];

/** The i-th event: every dimension varies on its own cycle; chat-webhook stays under 128 ms. */
function nth(i, ts) {
  const worker = WORKERS[i % 4];
  return metricEvent({
    worker,
    request_id: `exact-${i}`,
    ts_ms: ts,
    status: i % 20 === 0 ? 503 : i % 7 === 0 ? 404 : 200,
    latency_ms: worker === "chat-webhook" ? (i * 31) % 128 : (i * 7919) % 3000,
    country: COUNTRIES[i % 5],
    region: worker === "voice-router" ? REGIONS[i % 3] : null,
    decision: worker === "cache-manager" ? (i % 3 === 0 ? "cache_miss" : "cache_hit") : null,
    priority: null,
  });
}

const countBy = (events, key) => {
  const m = new Map();
  for (const e of events) m.set(key(e), (m.get(key(e)) ?? 0) + 1);
  return m;
};
const statusClass = (s) => `${Math.floor(s / 100)}xx`;

describe("exact aggregation under concurrency", { timeout: 300_000 }, () => {
  let events, t0, sockets;

  const p = withPipeline();
  before(async () => {
    t0 = Date.now();
    events = Array.from({ length: N }, (_, i) => nth(i, t0));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    sockets = new Set();
    agent.on("free", (s) => sockets.add(s));
    const singles = events.slice(0, N / 2).map((e) => postMetrics(p.url, agent, e));
    const batches = [];
    for (let i = N / 2; i < N; i += BATCH) batches.push(postMetrics(p.url, agent, events.slice(i, i + BATCH)));
    const results = await Promise.all([...singles, ...batches]);
    agent.destroy();
    const statuses = countBy(results, (r) => r.status);
    assert.deepEqual([...statuses], [[202, singles.length + batches.length]], "every request accepted");
    assert.equal(results.filter((r) => Array.isArray(r.json?.results)).reduce((n, r) => n + r.json.accepted, 0), N / 2);
  });

  const range = () => ({ from: t0 - 60_000, to: t0 + 60_000, series: "false" });

  test("many connections carried the load", () => {
    assert.ok(sockets.size >= 32, `only ${sockets.size} connections`);
  });

  test("exactly 10,000 counted, by minute and by hour", async () => {
    for (const resolution of ["minute", "hour"]) {
      const q = await queryMetrics(p, p.secret, { ...range(), resolution });
      assert.equal(q.totals.length, 1);
      assert.equal(q.totals[0].requests, N, resolution);
      assert.equal(q.totals[0].errors, events.filter((e) => e.status >= 500).length, resolution);
    }
    // All at one instant: one minute window holds them all.
    const series = await queryMetrics(p, p.secret, { ...range(), series: "true" });
    assert.equal(series.series.length, 1);
    assert.equal(series.series[0].window_start, t0 - (t0 % 60_000));
    assert.equal(series.series[0].groups[0].requests, N);
  });

  test("every dimension splits exactly", async () => {
    const dims = [
      ["worker", (e) => e.worker],
      ["status_class", (e) => statusClass(e.status)],
      ["country", (e) => e.country],
      ["region", (e) => e.region ?? ""],
    ];
    for (const [dim, key] of dims) {
      const q = await queryMetrics(p, p.secret, { ...range(), group_by: dim });
      const got = new Map(q.totals.map((s) => [s.group[dim], s.requests]));
      assert.deepEqual(got, countBy(events, key), dim);
    }
    const cache = await queryMetrics(p, p.secret, { ...range(), worker: "cache-manager" });
    const cacheEvents = events.filter((e) => e.worker === "cache-manager");
    const hits = cacheEvents.filter((e) => e.decision === "cache_hit").length;
    assert.equal(cache.totals[0].cache_hits, hits);
    assert.equal(cache.totals[0].cache_lookups, cacheEvents.length);
    assert.equal(cache.totals[0].cache_hit_ratio, hits / cacheEvents.length);
  });

  test("percentiles: exact under 128 ms, never below and within 1/64 above", async () => {
    const q = await queryMetrics(p, p.secret, { ...range(), group_by: "worker" });
    const all = await queryMetrics(p, p.secret, range());
    const check = (stats, sample, exact) => {
      const sorted = sample.map((e) => e.latency_ms).sort((a, b) => a - b);
      const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
      assert.ok(Math.abs(stats.latency_ms.mean - mean) < 1e-6, "mean");
      for (const pct of [50, 95, 99]) {
        const want = nearestRank(sorted, pct);
        const got = stats.latency_ms[`p${pct}`];
        if (exact) assert.equal(got, want, `p${pct}`);
        else assert.ok(got >= want && got - want <= want / 64, `p${pct}: ${got} vs ${want}`);
      }
    };
    for (const w of WORKERS) {
      const stats = q.totals.find((s) => s.group.worker === w);
      check(stats, events.filter((e) => e.worker === w), w === "chat-webhook");
    }
    check(all.totals[0], events, false);
  });
});
