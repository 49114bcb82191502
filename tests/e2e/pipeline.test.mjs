// The walking skeleton end to end: built wasm in workerd, five workers chained by
// service bindings, a demo origin on loopback, request.cf set per request.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { withPipeline } from "../harness/fixture.mjs";
import { eventually } from "../harness/wait.mjs";

const BERLIN = { country: "DE", colo: "FRA", latitude: "52.52", longitude: "13.40" };
const CHAIN = ["auth-validator", "cache-manager", "voice-router"];

describe("pipeline", { timeout: 60_000 }, () => {
  const pipeline = withPipeline({ origin: "demo-1" });

  test("GET /health reports every hop of the chain, each by name and version", async () => {
    const r = await pipeline.fetch("/health");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type"), /^application\/json/);
    const auth = await r.json();
    const cache = auth.next_hop.report;
    const router = cache.next_hop.report;
    assert.deepEqual(
      [auth, cache, router].map((h) => [h.worker, h.status]),
      CHAIN.map((w) => [w, "ok"]),
    );
    assert.equal(auth.next_hop.worker, "cache-manager");
    assert.equal(cache.next_hop.worker, "voice-router");
    assert.match(auth.version, /^\d+\.\d+\.\d+/);
    assert.equal(router.next_hop, undefined);
    assert.equal(pipeline.origin.requests.length, 0, "health must not touch the origin");
  });

  test("a request flows client → auth → cache → router → origin and back", async () => {
    const before = pipeline.origin.requests.length;
    const r = await pipeline.api("/api/v1/agents/a1?view=full", { cf: BERLIN });
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.equal(body.origin, "demo-1");
    assert.equal(body.path, "/api/v1/agents/a1");
    assert.equal(body.query, "?view=full");
    assert.equal(r.headers.get("x-cache"), "MISS", "looked up, not found; the demo origin says no-store");
    const id = r.headers.get("x-request-id");
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(body.request_id, id, "origin saw the same request id");
    assert.equal(pipeline.origin.requests.length, before + 1, "exactly one origin request");
  });

  test("a POST body streams through the chain byte for byte", async () => {
    const payload = Buffer.alloc(256 * 1024, "x");
    payload.write('{"k":"', 0);
    const r = await pipeline.api("/api/v1/calls", {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: payload,
    });
    assert.equal(r.status, 200);
    const seen = pipeline.origin.requests.at(-1);
    assert.equal(seen.method, "POST");
    assert.equal(seen.headers["content-type"], "application/octet-stream");
    assert.equal(Buffer.byteLength(seen.body), payload.length);
    assert.equal(seen.body, payload.toString("utf8"));
  });

  test("analytics-collector receives exactly one metric per hop, with the client's geo", async () => {
    const r = await pipeline.api("/api/v1/phone-numbers", { cf: BERLIN });
    assert.equal(r.status, 200);
    const id = r.headers.get("x-request-id");
    const hops = await eventually(async () => {
      const h = await pipeline.hops(id);
      return h.length >= CHAIN.length && h;
    }, { what: `3 hops for ${id}` });
    assert.deepEqual(hops.map((h) => h.worker).sort(), [...CHAIN].sort());
    for (const h of hops) {
      assert.equal(h.request_id, id);
      assert.equal(h.status, 200);
      assert.equal(h.method, "GET");
      assert.equal(h.path, "/api/v1/phone-numbers");
      assert.equal(h.country, "DE", `${h.worker} saw the client's country`);
      assert.equal(h.colo, "FRA");
      assert.ok(h.latency_ms >= 0);
    }
    // An outer hop spans the inner ones.
    const lat = Object.fromEntries(hops.map((h) => [h.worker, h.latency_ms]));
    assert.ok(lat["auth-validator"] >= lat["cache-manager"]);
    assert.ok(lat["cache-manager"] >= lat["voice-router"]);
    // Still exactly three once background work has settled: a later request's hops are
    // stored after any late hop of this one would be (each worker's outbox sends in order).
    const marker = (await pipeline.api("/api/v1/phone-numbers", { cf: BERLIN })).headers.get("x-request-id");
    await pipeline.chainHops(marker);
    assert.equal((await pipeline.hops(id)).length, CHAIN.length);
  });

  test("the entry mints every request id; a client cannot reuse another request's id", async () => {
    const first = await pipeline.api("/api/v1/agents");
    const victim = first.headers.get("x-request-id");
    await pipeline.chainHops(victim);
    for (const forged of [victim, "trace-42.abc_DEF", "bad id; drop table"]) {
      const r = await pipeline.api("/api/v1/agents", { headers: { "x-request-id": forged } });
      const id = r.headers.get("x-request-id");
      assert.notEqual(id, forged);
      assert.match(id, /^[0-9a-f-]{36}$/);
      assert.equal((await r.json()).request_id, id, "the origin sees the minted id");
      await pipeline.chainHops(id);
    }
    assert.equal((await pipeline.hops(victim)).length, CHAIN.length, "nothing was attached to the victim's id");
  });

  test("a hop reached by service binding keeps its caller's request id", async () => {
    const r = await pipeline.fetch("/api/v1/agents", { headers: { "x-request-id": "internal-42" } }, "voice-router");
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("x-request-id"), "internal-42");
    assert.equal((await r.json()).request_id, "internal-42");
  });

  test("health checks are not reported as traffic", async () => {
    const probe = await pipeline.fetch("/health");
    const id = probe.headers.get("x-request-id");
    assert.ok(id);
    // A traffic request sent after the probe is stored; once it is, the probe's would be too.
    const traffic = await pipeline.api("/api/v1/agents");
    assert.equal(traffic.status, 200);
    const after = traffic.headers.get("x-request-id");
    await pipeline.chainHops(after);
    assert.deepEqual(await pipeline.hops(id), []);
  });

  test("chat-webhook answers its health on its own, and JSON errors elsewhere", async () => {
    const r = await pipeline.fetch("/health", {}, "chat-webhook");
    assert.equal(r.status, 200);
    const health = await r.json();
    assert.equal(health.worker, "chat-webhook");
    assert.equal(health.status, "ok");
    assert.match(health.version, /^\d+\.\d+\.\d+/);
    assert.equal(health.next_hop, undefined);
    const missing = await pipeline.fetch("/webhooks/unknown", { method: "POST" }, "chat-webhook");
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, "not_found");
    const wrongMethod = await pipeline.fetch("/health", { method: "DELETE" }, "chat-webhook");
    assert.equal(wrongMethod.status, 405);
    assert.equal((await wrongMethod.json()).error.code, "method_not_allowed");
  });

  test("the wrong method on the entry's /health is a JSON 405, not forwarded", async () => {
    const before = pipeline.origin.requests.length;
    const r = await pipeline.fetch("/health", { method: "POST", body: "{}" });
    assert.equal(r.status, 405);
    assert.equal((await r.json()).error.code, "method_not_allowed");
    assert.equal(pipeline.origin.requests.length, before);
  });
});
