// voice-router in workerd with three fake regional origins on loopback and `cf` set per
// request: geo routing, failover, circuit breakers (passive and the cron probe), recovery,
// headers, errors and the decision in analytics.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { assertJsonError } from "../harness/assert.mjs";
import { pipelineScope, withPipeline } from "../harness/fixture.mjs";
import { routingTable } from "../harness/routing.mjs";
import { deadUrl, startUpstream } from "../harness/upstream.mjs";
import { sleep } from "../harness/wait.mjs";

const V = "voice-router";
const RECOVERY_MS = 1_000;
const BERLIN = { country: "DE", latitude: "52.52", longitude: "13.40", colo: "FRA" };
const NEW_YORK = { country: "US", latitude: "40.71", longitude: "-74.01", colo: "EWR" };
const SAO_PAULO = { country: "BR", latitude: "-23.55", longitude: "-46.63", colo: "GRU" };
// Not in the table (Miniflare fills in any cf field a test leaves out, so "unknown" is a
// country the table does not list).
const SEOUL = { country: "KR", latitude: "37.57", longitude: "126.98", colo: "ICN" };
const NOWHERE = { country: "XX", latitude: "", longitude: "", colo: "LHR" };

/** A regional origin: answers with its name, or 503 / hangs when told to. */
async function region(name) {
  const state = { failing: false, hanging: false, healthFailing: false };
  const upstream = await startUpstream((req, res) => {
    if (req.path === "/health") {
      res.writeHead(state.healthFailing ? 503 : 200, { "content-type": "text/plain" }).end(name);
      return;
    }
    if (state.hanging) return;
    if (state.failing) {
      res.writeHead(503, { "content-type": "text/plain" }).end(`${name} down`);
      return;
    }
    const cc = req.path.endsWith("/bare") ? {} : { "cache-control": "no-store" };
    res.writeHead(200, { "content-type": "application/json", ...cc });
    res.end(JSON.stringify({ region: name, path: req.path }));
  });
  const traffic = () => upstream.requests.filter((r) => r.path !== "/health");
  return { name, state, upstream, traffic, close: () => upstream.close() };
}

describe("voice-router", { timeout: 180_000 }, () => {
  const p = withPipeline({
    upstreams: {
      east: { start: () => region("us-east-1") },
      west: { start: () => region("us-west-2") },
      eu: { start: () => region("eu-west-1") },
    },
    vars: ({ east, west, eu }) => ({
      [V]: {
        ROUTING_TABLE: routingTable({ "us-east-1": east.upstream.url, "us-west-2": west.upstream.url, "eu-west-1": eu.upstream.url }),
        BREAKER_FAILURES: "3",
        BREAKER_RECOVERY_MS: String(RECOVERY_MS),
        ORIGIN_TIMEOUT_MS: "800",
      },
    }),
  });
  // Recovery is wall-clock time: an open breaker lets a trial through BREAKER_RECOVERY_MS
  // after it opened, so this fixed wait is for that time itself, not for work to finish.
  const recovered = () => sleep(RECOVERY_MS + 100);

  const get = (path, cf, init = {}) => p.fetch(path, { ...init, cf }, V);
  const regionOf = async (r) => {
    assert.equal(r.status, 200, await r.clone().text());
    return r.headers.get("x-edge-region");
  };

  test("country priority lists, then nearest by coordinates, then the default route", async () => {
    assert.equal(await regionOf(await get("/api/v1/agents/a1", BERLIN)), "eu-west-1");
    assert.equal(await regionOf(await get("/api/v1/agents/a1", NEW_YORK)), "us-east-1");
    assert.equal(await regionOf(await get("/api/v1/agents/a1", SAO_PAULO)), "us-east-1", "BR is not in the table: nearest");
    assert.equal(await regionOf(await get("/api/v1/agents/a1", SEOUL)), "us-west-2", "KR is not in the table: nearest to Seoul");
    assert.equal(await regionOf(await get("/api/v1/agents/a1", NOWHERE)), "us-east-1", "nothing usable: default route");
  });

  test("the origin gets routing headers; the client gets the region and security headers", async () => {
    const r = await get("/voice/stream/1", BERLIN, { headers: { origin: "http://localhost:3000" } });
    assert.equal(await regionOf(r), "eu-west-1");
    const seen = p.eu.traffic().at(-1).headers;
    assert.equal(seen["x-edge-region"], "eu-west-1");
    assert.equal(seen["x-edge-request-class"], "audio-stream");
    assert.equal(seen["x-edge-priority"], "realtime");
    assert.equal(seen["x-edge-latency-target-ms"], "150");
    assert.equal(seen["x-edge-cache-strategy"], "no-store");
    assert.ok(Number(seen["x-edge-latency-estimate-ms"]) > 5, "Berlin → Dublin estimate");
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    assert.equal(r.headers.get("x-frame-options"), "DENY");
    assert.equal(r.headers.get("access-control-allow-origin"), "http://localhost:3000");
    assert.match(r.headers.get("vary"), /Origin/);
    const other = await get("/voice/stream/1", BERLIN, { headers: { origin: "https://evil.example" } });
    assert.equal(other.headers.get("access-control-allow-origin"), null, "CORS for the app origin only");
    assert.match(other.headers.get("vary"), /Origin/);
    const noOrigin = await get("/voice/stream/1", BERLIN);
    assert.equal(noOrigin.headers.get("vary"), null, "no Origin, no CORS, no Vary");
    const calls = await get("/api/v1/calls/c1/bare", BERLIN);
    assert.equal(calls.headers.get("cache-control"), "no-store", "call state: never cacheable, by class");
    const agents = await get("/api/v1/agents/a1/bare", BERLIN);
    assert.equal(agents.headers.get("cache-control"), null, "agent config: the origin decides");
  });

  test("a failing region: failover at once, breaker opens, traffic returns after recovery", async () => {
    p.eu.state.failing = true;
    const before = p.eu.traffic().length;
    for (let i = 0; i < 3; i++) {
      assert.equal(await regionOf(await get(`/api/v1/calls/c${i}`, BERLIN)), "us-east-1", "failed over on the same request");
    }
    assert.equal(p.eu.traffic().length - before, 3, "each of those tried eu-west-1 first");
    const opened = p.eu.traffic().length;
    for (let i = 0; i < 3; i++) assert.equal(await regionOf(await get("/api/v1/calls/x", BERLIN)), "us-east-1");
    assert.equal(p.eu.traffic().length, opened, "open circuit: eu-west-1 sees nothing");

    p.eu.state.failing = false;
    await recovered();
    assert.equal(await regionOf(await get("/api/v1/calls/back", BERLIN)), "eu-west-1", "half-open trial succeeds");
    assert.equal(await regionOf(await get("/api/v1/calls/back", BERLIN)), "eu-west-1");
  });

  test("a non-idempotent request is never replayed on another region", async () => {
    p.eu.state.failing = true;
    const eastBefore = p.east.traffic().length;
    const r = await get("/api/v1/calls", BERLIN, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"to":"+15550100"}',
    });
    assert.equal(r.status, 503);
    assert.equal(await r.text(), "eu-west-1 down", "the origin's own answer, passed on");
    assert.equal(p.east.traffic().length, eastBefore, "not replayed");
    p.eu.state.failing = false;
    await recovered();
    await get("/api/v1/calls/reset", BERLIN); // closes the breaker again (or keeps it closed)
  });

  test("the scheduled probe opens a breaker before any user sees a failure, and closes it", async () => {
    const worker = await p.mf.getWorker(V);
    p.eu.state.healthFailing = true;
    for (let i = 0; i < 3; i++) await worker.scheduled({ cron: "* * * * *" });
    const before = p.eu.traffic().length;
    assert.equal(await regionOf(await get("/api/v1/agents/probe", BERLIN)), "us-east-1");
    assert.equal(p.eu.traffic().length, before, "no user request went to the probed-down region");
    p.eu.state.healthFailing = false;
    await recovered();
    await worker.scheduled({ cron: "* * * * *" });
    assert.equal(await regionOf(await get("/api/v1/agents/probe", BERLIN)), "eu-west-1");
  });

  test("a hanging region is a JSON 504 with Retry-After", async () => {
    p.west.state.hanging = true;
    const r = await get("/api/v1/agents/slow", SEOUL);
    await assertJsonError(r, 504, "upstream_timeout");
    assert.equal(r.headers.get("retry-after"), "5");
    p.west.state.hanging = false;
  });

  test("the decision reaches analytics: region, priority, country, degraded", async () => {
    const r = await p.fetch("/api/v1/calls/c9", { cf: BERLIN, headers: { authorization: `Bearer ${p.token()}` } });
    assert.equal(r.status, 200);
    const id = r.headers.get("x-request-id");
    const hop = await p.hopOf(id, V);
    assert.equal(hop.region, "eu-west-1");
    assert.equal(hop.priority, "high");
    assert.equal(hop.country, "DE");
    assert.equal(hop.degraded, 0);
    assert.equal(hop.decision, "route_country");
  });
});

describe("voice-router with every region unreachable", { timeout: 60_000 }, () => {
  const scope = pipelineScope();
  test("marks the decision degraded, tries the primary, answers 503 no_healthy_region", async () => {
    const p = await scope.launch({
      vars: { [V]: { ROUTING_TABLE: routingTable(await deadUrl()), BREAKER_FAILURES: "1", BREAKER_RECOVERY_MS: "60000" } },
    });
    const first = await p.fetch("/api/v1/agents/a", { cf: BERLIN }, V);
    await assertJsonError(first, 503, "upstream_unavailable");
    // Both regions tried are now open; the next request opens the third.
    await p.fetch("/api/v1/agents/a", { cf: BERLIN }, V);
    const degraded = await p.fetch("/api/v1/agents/a", { cf: BERLIN }, V);
    await assertJsonError(degraded, 503, "no_healthy_region");
    assert.equal(degraded.headers.get("retry-after"), "5");
    assert.equal(degraded.headers.get("x-edge-region"), "eu-west-1", "the primary, tried anyway");
    const id = degraded.headers.get("x-request-id");
    const hop = await p.hopOf(id, V);
    assert.equal(hop.degraded, 1);
    assert.equal(hop.decision, "route_degraded");
  });
});
