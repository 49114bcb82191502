// scripts/dev's launcher, as a newcomer runs it: it starts, prints where to send requests,
// every printed address answers, state persists across restarts, and it stops on SIGTERM.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { ROOT } from "../harness/config.mjs";

const isFree = (port) =>
  new Promise((resolve) => {
    const s = net.createServer().once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });

/** A base port with the eight after it free too. */
async function freeBase() {
  for (let i = 0; i < 50; i++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const all = await Promise.all(OFFSETS.map((d) => isFree(base + d)));
    if (all.every(Boolean)) return base;
  }
  throw new Error("no nine consecutive free ports");
}

/**
 * The launcher's ports: entry, chat, analytics, origin, demo LINE, demo AI, demo Discord,
 * demo audio API, demo escalation webhook.
 */
const OFFSETS = [0, 1, 2, 3, 4, 5, 6, 7, 8];

/** Starts the launcher; resolves with its banner once it is ready (bounded). */
function launch(port, stateDir) {
  const child = spawn(process.execPath, [path.join(ROOT, "tests/harness/dev.mjs")], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), EDGE_STATE_DIR: stateDir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dev did not start in 30 s:\n${out}`)), 30_000);
    const onData = (d) => {
      out += d;
      if (out.includes("Ctrl-C to stop.")) {
        clearTimeout(timer);
        resolve(out);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`dev exited early (${code}):\n${out}`)));
  });
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode);
      child.once("exit", (code) => resolve(code));
      child.kill("SIGTERM");
    });
  return { ready, stop, output: () => out };
}

/** 0 from our handler, or 143 (128 + SIGTERM) when Miniflare's own exit hook wins the race. */
const assertStopped = (code) => assert.ok(code === 0 || code === 143, `exit code ${code}`);

/** Nothing (no orphaned workerd or fake) still listens on the launcher's ports. */
async function assertPortsReleased(base) {
  const deadline = Date.now() + 5000;
  let free = [];
  while (Date.now() < deadline) {
    free = await Promise.all(OFFSETS.map((d) => isFree(base + d)));
    if (free.every(Boolean)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`ports still in use after stop: ${free}`);
}

describe("scripts/dev", { timeout: 120_000 }, () => {
  test("prints working addresses, keeps state across restarts, stops on SIGTERM", async () => {
    const stateDir = mkdtempSync(path.join(os.tmpdir(), "edge-dev-state-"));
    const port = await freeBase();
    try {
      let dev = launch(port, stateDir);
      const banner = await dev.ready;
      const secret = /this run's secret: ([\w-]+)/.exec(banner)?.[1];
      assert.ok(secret, "the generated admin secret is printed");
      for (const d of OFFSETS) assert.match(banner, new RegExp(`127\\.0\\.0\\.1:${port + d}`));

      const health = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal((await health.json()).status, "ok");
      const token = /authorization: Bearer ([\w.-]+)" http/.exec(banner)?.[1];
      assert.ok(token, "a demo token is printed");
      assert.equal((await fetch(`http://127.0.0.1:${port}/api/v1/agents`)).status, 401, "the API needs credentials");
      const api = await fetch(`http://127.0.0.1:${port}/api/v1/agents`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal((await api.json()).origin, "local-demo");
      const requestId = api.headers.get("x-request-id");
      const chat = await fetch(`http://127.0.0.1:${port + 1}/health`);
      assert.equal((await chat.json()).worker, "chat-webhook");
      // The printed chat page answers with the page.
      const [, pageUrl] = /open (http:\/\/\S+\/chat) in a browser/.exec(banner);
      const page = await fetch(pageUrl);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<html/i);
      // The demo knowledge base is seeded, and the web chat's demo AI answers a question from it.
      const chatBase = `http://127.0.0.1:${port + 1}`;
      const kb = await fetch(`${chatBase}/admin/v1/search?q=refund`, { headers: { authorization: `Bearer ${secret}` } });
      assert.equal((await kb.json()).hits[0]?.id, "refund-policy");
      const created = await (await fetch(`${chatBase}/chat/v1/sessions`, { method: "POST", body: "{}" })).json();
      const asked = await fetch(`${chatBase}/chat/v1/sessions/${created.id}/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${created.token}`, "content-type": "application/json" },
        body: JSON.stringify({ content: "How do refunds work?" }),
      });
      assert.equal(asked.status, 200);
      assert.match(await asked.text(), /article refund-policy/, "the answer cites the seeded article");
      // The printed LINE webhook is signed right, and the demo LINE API shows the bot's answer.
      const [, signature, sample] = /x-line-signature: ([^']+)' --data '([^']+)'/.exec(banner);
      const webhook = await fetch(`http://127.0.0.1:${port + 1}/webhooks/line`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-line-signature": signature },
        body: sample,
      });
      assert.equal(webhook.status, 200);
      const replyDeadline = Date.now() + 10_000;
      while (!dev.output().includes("[demo LINE] reply: deepseek says: hello") && Date.now() < replyDeadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(dev.output(), /\[demo LINE\] reply: deepseek says: hello/);
      // The printed Discord PING is signed with this run's application key.
      const [, sig, ts, ping] = /x-signature-ed25519: ([0-9a-f]+)' -H 'x-signature-timestamp: (\d+)' --data '([^']+)'/.exec(banner);
      const pong = await fetch(`http://127.0.0.1:${port + 1}/webhooks/discord`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-signature-ed25519": sig, "x-signature-timestamp": ts },
        body: ping,
      });
      assert.deepEqual(await pong.json(), { type: 1 });
      const hopsUrl = `http://127.0.0.1:${port + 2}/v1/metrics/requests/${requestId}`;
      const hops = async (s) => (await (await fetch(hopsUrl, { headers: { authorization: `Bearer ${s}` } })).json()).hops;
      const deadline = Date.now() + 5000;
      while ((await hops(secret)).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal((await hops(secret)).length, 3);
      assertStopped(await dev.stop());
      await assertPortsReleased(port);

      // Restarted on the same state: the Durable Object's rows are still there.
      dev = launch(port, stateDir);
      const again = await dev.ready;
      const secret2 = /this run's secret: ([\w-]+)/.exec(again)[1];
      assert.equal((await hops(secret2)).length, 3);
      assertStopped(await dev.stop());
      await assertPortsReleased(port);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
