// analytics-collector: strict single and batch ingest with per-item results, the query
// API and its access rules (admin secret, identity sealed by auth-validator), the
// Prometheus exposition, and retention enforced by the stores' alarms.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { withPipeline } from "../harness/fixture.mjs";
import { assertJsonError } from "../harness/assert.mjs";
import { eventually } from "../harness/wait.mjs";
import { COLLECTOR as A, DAY_MS, metricEvent as valid, queryMetrics } from "../harness/analytics.mjs";

describe("analytics-collector", { timeout: 180_000 }, () => {
  const p = withPipeline({ origin: "local-demo" });
  // An event whose minute window expires at the next whole minute (see the retention test).
  let expiring;
  const ingest = (body, headers = {}) =>
    p.fetch("/v1/metrics", { method: "POST", headers: { "content-type": "application/json", ...headers }, body }, A);
  const admin = { authorization: () => `Bearer ${p.secret}` };

  before(async () => {
    // The oldest minute window still kept ends exactly 24 h before the next minute boundary.
    const now = Date.now();
    expiring = { at: now - (now % 60_000) + 60_000, ev: valid({ request_id: "expiring-1", worker: "analytics-collector", ts_ms: now - DAY_MS + 1 }) };
    assert.equal((await ingest(JSON.stringify(expiring.ev))).status, 202);
  });

  test("a valid event is accepted (202) and stored as sent", async () => {
    const ev = valid();
    const r = await ingest(JSON.stringify(ev));
    assert.equal(r.status, 202);
    assert.deepEqual(await r.json(), { accepted: 1, request_id: "ingest-test-1" });
    const [row, ...rest] = await p.hops("ingest-test-1");
    assert.equal(rest.length, 0);
    assert.deepEqual(row, { ...ev, degraded: null, tokens: null });
  });

  test("each invalid field is refused with 400 and its name, and nothing is stored", async () => {
    const cases = [
      ["worker", "payments"],
      ["status", 99],
      ["latency_ms", "fast"],
      ["path", "relative/path"],
      ["country", "de"],
      ["request_id", ""],
      ["ts_ms", 1.5],
      ["ts_ms", Date.now() - 8 * DAY_MS],
      ["ts_ms", Date.now() + 3_600_000],
      ["decision", "Allow JWT"],
      ["region", "EU West"],
      ["degraded", "yes"],
    ];
    for (const [i, [field, value]] of cases.entries()) {
      const r = await ingest(JSON.stringify(valid({ request_id: `bad-${i}`, [field]: value })));
      const { error } = await assertJsonError(r, 400, "invalid_field");
      assert.equal(error.field, field);
    }
    const missing = valid({ request_id: "bad-missing" });
    delete missing.method;
    const { error } = await assertJsonError(await ingest(JSON.stringify(missing)), 400, "missing_field");
    assert.equal(error.field, "method");
    for (const i of cases.keys()) assert.deepEqual(await p.hops(`bad-${i}`), []);
    assert.deepEqual(await p.hops("bad-missing"), []);
  });

  test("unknown fields, non-JSON and oversized bodies are refused", async () => {
    const extra = await assertJsonError(await ingest(JSON.stringify(valid({ password: "x" }))), 400, "unknown_field");
    assert.equal(extra.error.field, "password");
    await assertJsonError(await ingest("worker=auth-validator"), 400, "malformed_json");
    await assertJsonError(await ingest(" ".repeat(1024 * 1024 + 1)), 413, "payload_too_large");
    // The limit holds on the actual bytes when the client sends no Content-Length.
    const chunked = await p.fetch("/v1/metrics", {
      method: "POST",
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 1100; i++) c.enqueue(new TextEncoder().encode("x".repeat(1000)));
          c.close();
        },
      }),
      duplex: "half",
    }, A);
    assert.equal(chunked.status, 413);
  });

  test("a batch keeps its valid items and reports every item by index", async () => {
    const items = [
      valid({ request_id: "batch-ok-0", worker: "cache-manager", decision: "cache_hit" }),
      valid({ request_id: "batch-bad-1", status: 700 }),
      "not an object",
      valid({ request_id: "batch-ok-3", worker: "cache-manager", decision: "cache_miss" }),
      valid({ request_id: "batch-bad-4", surprise: true }),
    ];
    const r = await ingest(JSON.stringify(items));
    assert.equal(r.status, 207);
    const report = await r.json();
    assert.equal(report.accepted, 2);
    assert.equal(report.rejected, 3);
    assert.deepEqual(report.results.map((x) => [x.index, x.accepted, x.error?.code ?? null, x.error?.field ?? null]), [
      [0, true, null, null],
      [1, false, "invalid_field", "status"],
      [2, false, "malformed_json", null],
      [3, true, null, null],
      [4, false, "unknown_field", "surprise"],
    ]);
    assert.equal((await p.hops("batch-ok-0")).length, 1);
    assert.equal((await p.hops("batch-ok-3")).length, 1);
    assert.deepEqual(await p.hops("batch-bad-1"), []);
    // Both valid items are counted: one cache hit of two lookups.
    const q = await queryMetrics(p, p.secret, { worker: "cache-manager", series: "false" });
    assert.equal(q.totals[0].requests, 2);
    assert.equal(q.totals[0].cache_hits, 1);
    assert.equal(q.totals[0].cache_hit_ratio, 0.5);
  });

  test("an enveloped batch counts once however often it is sent; a bad envelope is refused by field", async () => {
    // What a worker's outbox sends; a retry repeats the batch id and its events.
    const envelope = {
      batch_id: "6f1c1c57-2d0e-4c4e-9a55-0b7e1d9f0a01",
      events: [0, 1, 2].map((i) => valid({ request_id: `env-${i}`, worker: "auth-validator", country: "FI" })),
    };
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await ingest(JSON.stringify(envelope));
      assert.equal(r.status, 202, `attempt ${attempt}`);
      assert.equal((await r.json()).accepted, 3);
    }
    const finland = async () => {
      const q = await queryMetrics(p, p.secret, { group_by: "country", worker: "auth-validator", series: "false" });
      return q.totals.find((s) => s.group.country === "FI")?.requests;
    };
    assert.equal(await finland(), 3, "three attempts of one batch count once");
    assert.equal((await p.hops("env-1")).length, 1);
    // Another id with the same events is another batch: counted again.
    assert.equal((await ingest(JSON.stringify({ ...envelope, batch_id: "another-batch" }))).status, 202);
    assert.equal(await finland(), 6);
    for (const [body, code, field] of [
      [{ batch_id: "has space", events: envelope.events }, "invalid_field", "batch_id"],
      [{ batch_id: "b", events: {} }, "invalid_field", "events"],
      [{ batch_id: "b" }, "missing_field", "events"],
      [{ batch_id: "b", events: envelope.events, extra: 1 }, "unknown_field", "extra"],
    ]) {
      const e = await assertJsonError(await ingest(JSON.stringify(body)), 400, code);
      assert.equal(e.error.field, field);
    }
    await assertJsonError(await ingest(JSON.stringify({ batch_id: "b", events: [] })), 400, "empty_batch");
    assert.equal(await finland(), 6, "refused envelopes store nothing");
  });

  test("a batch with nothing valid is a 400 naming the first failing field; empty and oversized batches are refused", async () => {
    const r = await ingest(JSON.stringify([valid({ latency_ms: -1 }), 5]));
    const body = await assertJsonError(r, 400, "invalid_batch");
    assert.equal(body.error.field, "latency_ms");
    assert.equal(body.rejected, 2);
    await assertJsonError(await ingest("[]"), 400, "empty_batch");
    await assertJsonError(await ingest(JSON.stringify(Array(1001).fill(valid()))), 413, "too_many_items");
  });

  test("queries group by dimensions and refuse bad parameters by name", async () => {
    const now = Date.now();
    const evs = [
      valid({ request_id: "q-1", worker: "voice-router", region: "us-east-1", country: "US", status: 200, latency_ms: 10 }),
      valid({ request_id: "q-2", worker: "voice-router", region: "us-east-1", country: "US", status: 502, latency_ms: 30 }),
      valid({ request_id: "q-3", worker: "voice-router", region: "eu-west-1", country: "DE", status: 200, latency_ms: 20 }),
    ];
    assert.equal((await ingest(JSON.stringify(evs))).status, 202);
    const q = await queryMetrics(p, p.secret, { group_by: "region,status_class", worker: "voice-router", from: now - 60_000, to: now + 60_000 });
    const get = (region, cls) => q.totals.find((s) => s.group.region === region && s.group.status_class === cls)?.requests ?? 0;
    assert.ok(get("us-east-1", "2xx") >= 1 && get("us-east-1", "5xx") >= 1 && get("eu-west-1", "2xx") >= 1);
    assert.deepEqual(q.group_by, ["region", "status_class"]);
    assert.equal(q.resolution, "minute");
    const hourly = await queryMetrics(p, p.secret, { resolution: "hour", worker: "voice-router", series: "false" });
    const minutely = await queryMetrics(p, p.secret, { from: now - 3_600_000, worker: "voice-router", series: "false" });
    assert.equal(hourly.totals[0].requests, minutely.totals[0].requests, "both resolutions count the same events");
    assert.deepEqual(hourly.series, []);
    for (const [qs, field, code] of [
      ["group_by=path", "group_by", "invalid_field"],
      ["resolution=second", "resolution", "invalid_field"],
      ["from=yesterday", "from", "invalid_field"],
      ["worker=billing", "worker", "invalid_field"],
      ["limit=5", "limit", "unknown_field"],
      ["to=1&to=2", "to", "repeated_field"],
      [`from=${now}&to=${now - 60_000}`, "from", "invalid_field"],
    ]) {
      const r = await p.fetch(`/api/v1/analytics/edge/query?${qs}`, { headers: { authorization: admin.authorization() } }, A);
      const body = await assertJsonError(r, 400, code);
      assert.equal(body.error.field, field, qs);
    }
  });

  test("reads need the admin secret, or an identity with analytics:read that auth-validator sealed", async () => {
    const paths = ["/api/v1/analytics/edge/query", "/api/v1/analytics/edge/metrics", "/v1/metrics/requests/ingest-test-1"];
    for (const path of paths) {
      for (const authorization of [undefined, "Bearer wrong", `Basic ${p.secret}`, `Bearer ${p.secret}x`]) {
        const headers = authorization ? { authorization } : {};
        await assertJsonError(await p.fetch(path, { headers }, A), 401, "unauthorized");
      }
      assert.equal((await p.fetch(path, { headers: { authorization: admin.authorization() } }, A)).status, 200, path);
    }
    // Through auth-validator: without credentials the collector decides (401, or its sign-in
    // page for a browser); ingest is not reachable from outside at all.
    await assertJsonError(await p.fetch("/api/v1/analytics/edge/query"), 401, "unauthorized");
    const outside = await p.fetch("/v1/metrics", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(valid()) });
    await assertJsonError(outside, 404, "not_found");
    // A token with analytics:read reads; one without is refused at the gate.
    const reader = p.token({ role: "user", permissions: ["analytics:read"] });
    const viaGate = await p.fetch("/api/v1/analytics/edge/query?series=false", { headers: { authorization: `Bearer ${reader}` } });
    assert.equal(viaGate.status, 200);
    assert.ok(Array.isArray((await viaGate.json()).totals));
    const other = p.token({ role: "user", permissions: ["agents:read"] });
    await assertJsonError(await p.fetch("/api/v1/analytics/edge/query", { headers: { authorization: `Bearer ${other}` } }), 403, "insufficient_permission");
    // Identity headers sent straight to the collector, sealed or not, are worth nothing.
    for (const seal of [undefined, "v1.1.AAAA", `v1.${Math.floor(Date.now() / 1000)}.${"A".repeat(43)}`]) {
      const headers = { "x-auth-user-id": "mallory", "x-auth-permissions": "analytics:read", "x-auth-role": "admin" };
      if (seal) headers["x-auth-seal"] = seal;
      await assertJsonError(await p.fetch("/api/v1/analytics/edge/query", { headers }, A), 401, "unauthorized");
    }
  });

  test("the Prometheus exposition counts what was ingested", async () => {
    const before = await scrape();
    const base = before.get('edge_requests_total{status_class="2xx",worker="chat-webhook"}') ?? 0;
    const evs = Array.from({ length: 5 }, (_, i) => valid({ request_id: `prom-${i}`, worker: "chat-webhook", latency_ms: 100 + i, region: null, country: "TH" }));
    assert.equal((await ingest(JSON.stringify(evs))).status, 202);
    const after = await scrape();
    assert.equal(after.get('edge_requests_total{status_class="2xx",worker="chat-webhook"}'), base + 5);
    assert.ok(after.get('edge_requests_by_country_total{country="TH",worker="chat-webhook"}') >= 5);
    assert.ok(after.has('edge_request_duration_seconds{worker="chat-webhook",quantile="0.99"}'));
    assert.ok(after.get('edge_routed_requests_total{region="us-east-1"}') >= 1);
    assert.equal(after.get('edge_cache_requests_total{outcome="hit"}'), 1);

    async function scrape() {
      const r = await p.fetch("/api/v1/analytics/edge/metrics", { headers: { authorization: admin.authorization() } }, A);
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
      const samples = new Map();
      for (const line of (await r.text()).split("\n")) {
        if (!line || line.startsWith("#")) continue;
        const at = line.lastIndexOf(" ");
        samples.set(line.slice(0, at), Number(line.slice(at + 1)));
      }
      return samples;
    }
  });

  test("without a configured admin secret every read stays closed", async () => {
    const closed = await p.launch({ originUrl: p.origin.url, adminSecret: "" });
    try {
      for (const path of ["/api/v1/analytics/edge/query", "/api/v1/analytics/edge/dashboard"]) {
        await assertJsonError(await closed.fetch(path, { headers: { authorization: "Bearer " } }, A), 500, "misconfigured");
      }
    } finally {
      await closed.close();
    }
  });

  // Last, so the expiring window's minute has passed: the store's alarm deletes the minute
  // window and the raw hop at their expiry, while the hour window stays for 7 days.
  test("retention: minute windows and raw hops go 24 h after their minute, hourly ones stay", async () => {
    // Only this event is reported as analytics-collector, so its counts are its own.
    const minute = () => ({ from: Date.now() - 2 * DAY_MS, resolution: "minute", worker: "analytics-collector", series: "false" });
    const hour = { from: Date.now() - 2 * DAY_MS, resolution: "hour", worker: "analytics-collector", series: "false" };
    if (Date.now() < expiring.at - 1000) {
      // Still kept: counted by minute and by hour, raw hop readable.
      assert.equal((await queryMetrics(p, p.secret, minute())).totals[0]?.requests, 1);
      assert.equal((await p.hops("expiring-1")).length, 1);
    }
    await eventually(async () => (await queryMetrics(p, p.secret, minute())).totals.length === 0 && (await p.hops("expiring-1")).length === 0, {
      timeoutMs: Math.max(0, expiring.at - Date.now()) + 15_000,
      intervalMs: 500,
      what: "the minute window's alarm",
    });
    assert.equal((await queryMetrics(p, p.secret, hour)).totals[0]?.requests, 1, "the hour window is kept");
  });
});
