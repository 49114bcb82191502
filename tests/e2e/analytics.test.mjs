// analytics-collector's ingest and admin endpoints, called directly: strict validation
// with the failing field named, size limits, and the admin secret.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { freshSecret, startPipeline } from "../harness/pipeline.mjs";
import { demoOriginHandler, startUpstream } from "../harness/upstream.mjs";

const valid = () => ({
  worker: "voice-router",
  request_id: "ingest-test-1",
  ts_ms: 1_763_000_000_000,
  method: "GET",
  path: "/api/v1/agents",
  status: 200,
  latency_ms: 4.5,
  country: "JP",
  colo: "NRT",
  decision: "allow_api_key",
  region: "eu-west-1",
  priority: "realtime",
});

describe("analytics-collector", { timeout: 60_000 }, () => {
  let origin, p, secret;
  const A = "analytics-collector";
  const ingest = (body, headers = {}) =>
    p.fetch("/v1/metrics", { method: "POST", headers: { "content-type": "application/json", ...headers }, body }, A);

  before(async () => {
    secret = freshSecret();
    origin = await startUpstream(demoOriginHandler());
    p = await startPipeline({ originUrl: origin.url, adminSecret: secret });
  });
  after(async () => {
    await p?.close();
    await origin?.close();
  });

  test("a valid event is accepted (202) and stored as sent", async () => {
    const r = await ingest(JSON.stringify(valid()));
    assert.equal(r.status, 202);
    assert.deepEqual(await r.json(), { accepted: 1, request_id: "ingest-test-1" });
    const [row, ...rest] = await p.hops("ingest-test-1");
    assert.equal(rest.length, 0);
    assert.deepEqual(row, { ...valid(), degraded: null });
  });

  test("each invalid field is refused with 400 and its name, and nothing is stored", async () => {
    const cases = [
      ["worker", "payments", "invalid_field"],
      ["status", 99, "invalid_field"],
      ["latency_ms", "fast", "invalid_field"],
      ["path", "relative/path", "invalid_field"],
      ["country", "de", "invalid_field"],
      ["request_id", "", "invalid_field"],
      ["ts_ms", 1.5, "invalid_field"],
      ["decision", "Allow JWT", "invalid_field"],
      ["region", "EU West", "invalid_field"],
      ["degraded", "yes", "invalid_field"],
    ];
    for (const [field, value, code] of cases) {
      const ev = { ...valid(), request_id: `bad-${field}`, [field]: value };
      const r = await ingest(JSON.stringify(ev));
      assert.equal(r.status, 400, field);
      const { error } = await r.json();
      assert.equal(error.code, code, field);
      assert.equal(error.field, field);
    }
    const missing = { ...valid(), request_id: "bad-missing" };
    delete missing.method;
    const r = await ingest(JSON.stringify(missing));
    assert.deepEqual((await r.json()).error.field, "method");
    for (const [field] of cases) assert.deepEqual(await p.hops(`bad-${field}`), [], field);
    assert.deepEqual(await p.hops("bad-missing"), []);
  });

  test("unknown fields, non-JSON and oversized bodies are refused", async () => {
    const extra = await ingest(JSON.stringify({ ...valid(), password: "x" }));
    assert.equal(extra.status, 400);
    assert.deepEqual((await extra.json()).error, { code: "unknown_field", message: "unknown field", field: "password" });
    const notJson = await ingest("worker=auth-validator");
    assert.equal(notJson.status, 400);
    assert.equal((await notJson.json()).error.code, "malformed_json");
    const huge = JSON.stringify({ ...valid(), path: "/" + "a".repeat(8000) });
    const tooBig = await ingest(huge);
    assert.equal(tooBig.status, 413);
    assert.equal((await tooBig.json()).error.code, "payload_too_large");
    // The limit holds on the actual bytes when the client sends no Content-Length.
    const chunked = await p.fetch("/v1/metrics", {
      method: "POST",
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode("x".repeat(1000)));
          c.close();
        },
      }),
      duplex: "half",
    }, A);
    assert.equal(chunked.status, 413);
  });

  test("the admin endpoints need the exact admin secret", async () => {
    const paths = ["/v1/metrics/summary", "/v1/metrics/requests/ingest-test-1"];
    for (const path of paths) {
      for (const authorization of [undefined, "Bearer wrong", `Basic ${secret}`, `Bearer ${secret}x`]) {
        const headers = authorization ? { authorization } : {};
        const r = await p.fetch(path, { headers }, A);
        assert.equal(r.status, 401, `${path} with ${authorization}`);
        assert.equal((await r.json()).error.code, "unauthorized");
      }
      const ok = await p.fetch(path, { headers: { authorization: `Bearer ${secret}` } }, A);
      assert.equal(ok.status, 200, path);
    }
    const summary = await (await p.fetch(paths[0], { headers: { authorization: `Bearer ${secret}` } }, A)).json();
    assert.ok(summary.total >= 1);
    assert.equal(summary.total, summary.by_worker.reduce((n, w) => n + w.count, 0));
  });

  test("without a configured admin secret the admin endpoints stay closed", async () => {
    const closed = await startPipeline({ originUrl: origin.url, adminSecret: "" });
    try {
      const r = await closed.fetch("/v1/metrics/summary", { headers: { authorization: "Bearer " } }, A);
      assert.equal(r.status, 500);
      assert.equal((await r.json()).error.code, "misconfigured");
    } finally {
      await closed.close();
    }
  });
});
