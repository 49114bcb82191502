// Metrics stay exact when the collector is unavailable for a while and recovers: a fault
// injector sits on every chain worker's ANALYTICS binding (in front of the real collector)
// and, phase by phase, answers 503, fails the call, or stores the batch and then answers 503
// (the duplicate case: the sender must retry, the collector must not count it twice). Real
// requests go through the chain meanwhile; after recovery every worker's total is exactly
// the number of requests, and stays exact through later flushes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { freshSecret, startPipeline } from "../harness/pipeline.mjs";
import { workerOptions } from "../harness/config.mjs";
import { COLLECTOR, queryMetrics } from "../harness/analytics.mjs";
import { demoOriginHandler, startUpstream } from "../harness/upstream.mjs";
import { eventually } from "../harness/wait.mjs";

const CHAIN = ["auth-validator", "cache-manager", "voice-router"];
const PER_PHASE = 12;

describe("metrics through a collector outage", { timeout: 180_000 }, () => {
  let origin, p, secret, t0;
  // The injector's mode and what it saw: every batch id with its attempts, per answer.
  let mode = "forward";
  const seen = []; // { batch_id, mode }

  async function inject(req) {
    const body = await req.text();
    const batchId = JSON.parse(body).batch_id;
    const m = mode;
    seen.push({ batch_id: batchId, mode: m });
    const forward = () =>
      p.fetch("/v1/metrics", { method: "POST", headers: { "content-type": "application/json" }, body }, COLLECTOR);
    switch (m) {
      case "forward":
        return forward();
      case "unavailable":
        return Response.json({ error: { code: "upstream_unavailable" } }, { status: 503 });
      case "fail":
        throw new Error("injected transport failure");
      case "stored-then-503": {
        const r = await forward();
        assert.equal(r.status, 202, "the collector stored it");
        return Response.json({ error: { code: "upstream_unavailable" } }, { status: 503 });
      }
    }
  }

  before(async () => {
    origin = await startUpstream(demoOriginHandler("demo-1"));
    secret = freshSecret();
    const rebind = (name) => ({ serviceBindings: { ...workerOptions(name).serviceBindings, ANALYTICS: inject } });
    p = await startPipeline({
      originUrl: origin.url,
      adminSecret: secret,
      // A short flush window keeps the test quick; the behaviour is the default's.
      vars: Object.fromEntries(CHAIN.map((w) => [w, { METRICS_FLUSH_MS: "100" }])),
      workerExtras: Object.fromEntries(CHAIN.map((w) => [w, rebind(w)])),
    });
    t0 = Date.now();
  });
  after(async () => {
    await p?.close();
    await origin?.close();
  });

  const totals = async () => {
    const q = await queryMetrics(p, secret, {
      from: String(t0 - 60_000),
      to: String(Date.now() + 60_000),
      group_by: "worker",
    });
    return Object.fromEntries(q.totals.map((s) => [s.group.worker, s.requests]));
  };
  const exactly = (n) => Object.fromEntries(CHAIN.map((w) => [w, n]));
  const requests = async (n) => {
    for (let i = 0; i < n; i++) {
      const r = await p.api(`/api/v1/agents/a${i}`);
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
  };

  test("every request is counted exactly once after the collector recovers", async () => {
    let sent = 0;
    for (const phase of ["unavailable", "fail", "stored-then-503"]) {
      mode = phase;
      const before = seen.length;
      await requests(PER_PHASE);
      sent += PER_PHASE;
      // Wait on the event: a flush reached the injector in this mode and a retry followed.
      await eventually(() => seen.slice(before).filter((s) => s.mode === phase).length >= 2, {
        timeoutMs: 15_000,
        what: `a failed flush and its retry while ${phase}`,
      });
    }
    // Nothing is counted but the batches stored-then-refused (at most those).
    const during = await totals();
    for (const w of CHAIN) assert.ok((during[w] ?? 0) <= sent, `${w}: ${during[w]} ≤ ${sent}`);

    mode = "forward";
    await eventually(async () => JSON.stringify(await totals()) === JSON.stringify(exactly(sent)) && (await totals()), {
      timeoutMs: 30_000,
      what: `every worker at exactly ${sent}`,
    });

    // Retries kept their batch id: some id was attempted more than once, in a failing mode.
    const attempts = new Map();
    for (const s of seen) attempts.set(s.batch_id, [...(attempts.get(s.batch_id) ?? []), s.mode]);
    const retried = [...attempts.values()].filter((modes) => modes.length > 1);
    assert.ok(retried.length > 0, "some batch was retried under its id");
    assert.ok(
      [...attempts.values()].some((modes) => modes[0] === "stored-then-503" && modes.length > 1),
      "a batch stored on its first attempt was sent again (the duplicate case)",
    );
    // Every retried batch ended forwarded or stored: no batch was abandoned.
    for (const [id, modes] of attempts) {
      assert.ok(modes.some((m) => m === "forward" || m === "stored-then-503"), `batch ${id} stored: ${modes}`);
    }

    // Later flushes add exactly their own requests: nothing retried is counted again.
    const settled = seen.length;
    await requests(3);
    sent += 3;
    await eventually(async () => JSON.stringify(await totals()) === JSON.stringify(exactly(sent)), {
      timeoutMs: 15_000,
      what: `every worker at exactly ${sent}`,
    });
    await eventually(() => seen.length > settled, { what: "a flush after recovery" });
    assert.deepEqual(await totals(), exactly(sent));
  });
});
