// Metrics stay exact when the collector is unavailable for a while and recovers: a fault
// injector sits on every chain worker's ANALYTICS binding (in front of the real collector)
// and, phase by phase, answers 503, fails the call, or stores the batch and then answers 503
// (the duplicate case: the sender must retry, the collector must not count it twice). Real
// requests go through the chain meanwhile; after recovery every worker's total is exactly
// the number of requests, and stays exact through later flushes.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { withPipeline } from "../harness/fixture.mjs";
import { workerOptions } from "../harness/config.mjs";
import { COLLECTOR, queryMetrics } from "../harness/analytics.mjs";
import { eventually } from "../harness/wait.mjs";

const CHAIN = ["auth-validator", "cache-manager", "voice-router"];
const PER_PHASE = 12;

describe("metrics through a collector outage", { timeout: 180_000 }, () => {
  let t0;
  // The injector's mode and what it saw: every batch id with its attempts, per answer.
  let mode = "forward";
  const seen = []; // { batch_id, mode }

  async function inject(req) {
    const body = await req.text();
    const batchId = JSON.parse(body).batch_id;
    const m = mode;
    const entry = { batch_id: batchId, mode: m, acked: false };
    seen.push(entry);
    const forward = () =>
      p.fetch("/v1/metrics", { method: "POST", headers: { "content-type": "application/json" }, body }, COLLECTOR);
    switch (m) {
      case "forward": {
        const r = await forward();
        entry.acked = r.status === 202;
        return r;
      }
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

  const rebind = (name) => ({ serviceBindings: { ...workerOptions(name).serviceBindings, ANALYTICS: inject } });
  const p = withPipeline({
    origin: "demo-1",
    // A short flush window keeps the test quick; the behaviour is the default's.
    vars: Object.fromEntries(CHAIN.map((w) => [w, { METRICS_FLUSH_MS: "100" }])),
    workerExtras: Object.fromEntries(CHAIN.map((w) => [w, rebind(w)])),
    setup: async () => {
      t0 = Date.now();
    },
  });

  const totals = async () => {
    const q = await queryMetrics(p, p.secret, {
      from: String(t0 - 60_000),
      to: String(Date.now() + 60_000),
      group_by: "worker",
    });
    return Object.fromEntries(q.totals.map((s) => [s.group.worker, s.requests]));
  };
  /** Attempts per batch id, in order, as the modes they met. */
  const attempts = () => {
    const m = new Map();
    for (const s of seen) m.set(s.batch_id, [...(m.get(s.batch_id) ?? []), s.mode]);
    return m;
  };
  /** Whether every batch sent so far has been acknowledged on its last attempt. */
  const allAcked = () => seen.length > 0 && [...new Set(seen.map((s) => s.batch_id))].every((id) => seen.findLast((s) => s.batch_id === id).acked);
  const settledAt = (n) => async () => allAcked() && JSON.stringify(await totals()) === JSON.stringify(exactly(n));
  const retriedFirstIn = (phase) => [...attempts().values()].some((modes) => modes[0] === phase && modes.length > 1);
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
      await requests(PER_PHASE);
      sent += PER_PHASE;
      // Wait on the event: a batch first sent in this mode was sent again under its id.
      await eventually(() => retriedFirstIn(phase), {
        timeoutMs: 15_000,
        what: `a batch first sent while ${phase}, and its retry`,
      });
    }
    // Nothing is counted but the batches stored-then-refused (at most those).
    const during = await totals();
    for (const w of CHAIN) assert.ok((during[w] ?? 0) <= sent, `${w}: ${during[w]} ≤ ${sent}`);

    mode = "forward";
    // Settled: every batch ever sent, retries of the stored-then-refused ones included, is
    // acknowledged on its last attempt (a store write happens before its 202), and the
    // totals are exact. A double count would keep them above `sent` once all are acked.
    await eventually(settledAt(sent), { timeoutMs: 30_000, what: `all acknowledged, every worker at ${sent}` });

    // Every batch ended stored (forwarded, or stored before its 503): none was abandoned.
    for (const [id, modes] of attempts()) {
      assert.ok(modes.some((m) => m === "forward" || m === "stored-then-503"), `batch ${id} stored: ${modes}`);
    }

    // Later flushes add exactly their own requests: nothing retried is counted again.
    const settled = seen.length;
    await requests(3);
    sent += 3;
    await eventually(async () => seen.length > settled && (await settledAt(sent)()), { timeoutMs: 15_000, what: `every worker at ${sent}` });
    assert.deepEqual(await totals(), exactly(sent));
  });
});
