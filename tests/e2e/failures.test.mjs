// How the chain fails: every failure is a JSON error with a stable code and the right
// status, never a hang and never a bare 500.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { assertJsonError } from "../harness/assert.mjs";
import { pipelineScope } from "../harness/fixture.mjs";
import { deadUrl, demoOriginHandler } from "../harness/upstream.mjs";
import { sleep } from "../harness/wait.mjs";

describe("failures", { timeout: 90_000 }, () => {
  const scope = pipelineScope();

  test("an unreachable origin is a 503 upstream_unavailable, and the hops still report it", async () => {
    const p = await scope.launch({ originUrl: await deadUrl() });
    const r = await p.api("/api/v1/agents");
    await assertJsonError(r, 503, "upstream_unavailable");
    const id = r.headers.get("x-request-id");
    const hops = await p.chainHops(id);
    assert.deepEqual(hops.map((h) => h.status), [503, 503, 503]);
  });

  test("a reset connection is retried once for a bodyless GET, never for a POST body", async () => {
    let resets = 0;
    const flaky = await scope.fake((req, res) => {
      if (req.path.endsWith("/reset-once") && resets++ % 2 === 0) return res.socket.destroy();
      if (req.path.endsWith("/always-reset")) return res.socket.destroy();
      demoOriginHandler("flaky")(req, res);
    });
    const p = await scope.launch({ originUrl: flaky.url });
    const get = await p.api("/api/v1/agents/reset-once");
    assert.equal(get.status, 200);
    assert.equal(flaky.requests.filter((r) => r.path.endsWith("/reset-once")).length, 2);

    const post = await p.api("/api/v1/calls/reset-once", { method: "POST", headers: { "content-type": "application/json" }, body: '{"call":1}' });
    await assertJsonError(post, 503, "upstream_unavailable");
    const posts = flaky.requests.filter((r) => r.method === "POST");
    assert.equal(posts.length, 1, "a request body is never replayed");

    const never = await p.api("/api/v1/agents/always-reset");
    await assertJsonError(never, 503, "upstream_unavailable");
    assert.equal(flaky.requests.filter((r) => r.path.endsWith("/always-reset")).length, 2, "one retry, no more");
  });

  test("a slow origin is a 504 upstream_timeout after ORIGIN_TIMEOUT_MS, not a hang", async () => {
    const slow = await scope.fake(async (_req, res) => {
      await sleep(3000);
      res.writeHead(200).end("late");
    });
    const p = await scope.launch({ originUrl: slow.url, vars: { "voice-router": { ORIGIN_TIMEOUT_MS: "300" } } });
    const started = Date.now();
    const r = await p.api("/api/v1/agents");
    const body = await assertJsonError(r, 504, "upstream_timeout");
    assert.match(body.error.message, /300 ms/);
    assert.ok(Date.now() - started < 2500, "answered before the origin did");
  });

  test("the deadline covers the answer's headers, not its body: a body still streaming after the timeout arrives whole", async () => {
    const trickle = await scope.fake(async (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store" });
      res.write("first;");
      await sleep(900); // past every hop's 300 ms deadline, after the headers
      res.end("last");
    });
    const deadline = { UPSTREAM_TIMEOUT_MS: "300" };
    const p = await scope.launch({
      originUrl: trickle.url,
      vars: { "auth-validator": deadline, "cache-manager": deadline, "voice-router": { ORIGIN_TIMEOUT_MS: "300" } },
    });
    const r = await p.api("/api/v1/agents/stream");
    assert.equal(r.status, 200);
    assert.equal(await r.text(), "first;last", "the body was not cut at the deadline");
    const id = r.headers.get("x-request-id");
    const hops = await p.chainHops(id);
    assert.deepEqual(hops.map((h) => h.status), [200, 200, 200], "no hop saw a broken body");
  });

  test("a broken next hop makes every worker above it report degraded (503)", async () => {
    const origin = await scope.fake(demoOriginHandler());
    const p = await scope.launch({
      originUrl: origin.url,
      workerExtras: {
        "cache-manager": {
          serviceBindings: {
            ROUTER: () => new Response("<html>bad gateway</html>", { status: 502 }),
            ANALYTICS: "analytics-collector",
          },
        },
      },
    });
    const r = await p.fetch("/health");
    assert.equal(r.status, 503);
    const auth = await r.json();
    assert.equal(auth.status, "degraded");
    assert.equal(auth.next_hop.status, "degraded");
    assert.equal(auth.next_hop.report.next_hop.status, "invalid");
  });

  test("a hanging next hop times out at HEALTH_TIMEOUT_MS instead of hanging /health", async () => {
    const origin = await scope.fake(demoOriginHandler());
    const p = await scope.launch({
      originUrl: origin.url,
      vars: { "cache-manager": { HEALTH_TIMEOUT_MS: "200" } },
      workerExtras: {
        "cache-manager": {
          serviceBindings: {
            ROUTER: async () => {
              await sleep(5000);
              return new Response("{}");
            },
            ANALYTICS: "analytics-collector",
          },
        },
      },
    });
    const started = Date.now();
    const r = await p.fetch("/health");
    assert.equal(r.status, 503);
    const auth = await r.json();
    assert.equal(auth.next_hop.report.next_hop.status, "timeout");
    assert.ok(Date.now() - started < 4000);
  });

  test("a malformed var is reported as misconfigured, naming the var", async () => {
    const origin = await scope.fake(demoOriginHandler());
    const p = await scope.launch({ originUrl: origin.url, vars: { "voice-router": { ORIGIN_TIMEOUT_MS: "soon" } } });
    const r = await p.api("/api/v1/agents");
    const body = await assertJsonError(r, 500, "misconfigured");
    assert.match(body.error.message, /ORIGIN_TIMEOUT_MS/);
    assert.equal(origin.requests.length, 0);

    const q = await scope.launch({ originUrl: origin.url, vars: { "cache-manager": { HEALTH_TIMEOUT_MS: "0" } } });
    const health = await q.fetch("/health", {}, "cache-manager");
    const hb = await assertJsonError(health, 500, "misconfigured");
    assert.match(hb.error.message, /HEALTH_TIMEOUT_MS/);
  });
});
