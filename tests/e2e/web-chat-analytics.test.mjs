// Issue 18's last bullet, tokens: every web-chat answer reports the provider's token count
// (`usage.total_tokens`) in its metric event, and analytics-collector sums them exactly: the
// query API's `tokens` for chat-webhook, the raw hop and the Prometheus counter
// `edge_ai_tokens_total`. A provider's absurd count is clamped to the event's bound; a
// resend adds nothing; an event with out-of-range tokens is refused at ingest.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { withPipeline } from "../harness/fixture.mjs";
import { eventually } from "../harness/wait.mjs";
import { COLLECTOR, metricEvent, postMetrics, queryMetrics } from "../harness/analytics.mjs";
import { ask, openSocket, post, session } from "../harness/webchat.mjs";

const MAX_TOKENS = 10_000_000;

describe("issue 18: web chat tokens in analytics", { timeout: 300_000 }, () => {
  const p = withPipeline({ chat: { vars: { CHAT_MESSAGES_PER_MINUTE: "30", CHAT_IP_MESSAGES_PER_MINUTE: "100" } } });

  /** chat-webhook's totals today (requests, tokens) from the query API. */
  async function chatTotals() {
    const q = await queryMetrics(p, p.secret, { worker: "chat-webhook", series: "false" });
    return { requests: q.totals[0]?.requests ?? 0, tokens: q.totals[0]?.tokens ?? 0 };
  }

  async function scrapeTokens() {
    const r = await p.fetch("/api/v1/analytics/edge/metrics", { headers: { authorization: `Bearer ${p.secret}` } }, COLLECTOR);
    assert.equal(r.status, 200);
    const line = (await r.text()).split("\n").find((l) => l.startsWith('edge_ai_tokens_total{worker="chat-webhook"} '));
    return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
  }

  test("after N answered messages (socket and SSE) the collector reports exactly the sum of their tokens", async () => {
    const deepseek = p.ai.providers.deepseek;
    Object.assign(deepseek, { mode: "ok", failAfter: null, delayMs: 0, chunks: null, answer: (b) => `ok: ${b.messages.at(-1).content}` });
    const base = await chatTotals();
    assert.equal(base.tokens, 0, "a fresh pipeline has spent no tokens");
    const counts = [101, 257, 1_003, 42, 9_999, 1];
    let want = 0;
    // Three over one WebSocket, three over SSE (another session), each with its own usage.
    const s = await session(p);
    const c = openSocket(p, s);
    await c.opened();
    for (const [i, n] of counts.slice(0, 3).entries()) {
      deepseek.usageTokens = n;
      const { done } = await ask(c, `socket question ${i}`);
      assert.equal(done.metadata.tokens, n, "the provider's count is the message's");
      want += n;
    }
    const t = await session(p);
    const sseIds = [];
    for (const [i, n] of counts.slice(3).entries()) {
      deepseek.usageTokens = n;
      const r = await post(p, t, `sse question ${i}`);
      assert.equal(r.status, 200);
      assert.equal(r.events.at(-1).data.message.metadata.tokens, n);
      sseIds.push([r.headers.get("x-request-id"), n]);
      want += n;
    }
    // The raw hop of each SSE answer carries its tokens.
    for (const [id, n] of sseIds) {
      const hop = await eventually(async () => (await p.hops(id)).find((h) => h.decision === "chat_answer"), { what: `the answer hop of ${id}` });
      assert.equal(hop.tokens, n);
      const worker = (await p.hops(id)).find((h) => h.decision === "chat_message");
      if (worker) assert.equal(worker.tokens, null, "the worker's own hop spent no tokens");
    }
    const after = await eventually(async () => {
      const now = await chatTotals();
      return now.tokens >= want && now;
    }, { timeoutMs: 15_000, what: `chat-webhook tokens to reach ${want}` });
    assert.equal(after.tokens, want, "exactly the sum, nothing counted twice");
    assert.equal(await scrapeTokens(), want, "the Prometheus counter agrees");

    // A resend (same client_id) is answered from storage: its event has no tokens.
    deepseek.usageTokens = 500;
    const first = await post(p, t, "once only", { clientId: "tok-1" });
    want += 500;
    const again = await post(p, t, "once only", { clientId: "tok-1" });
    assert.equal(again.status, 200);
    const resend = await eventually(async () => (await p.hops(again.headers.get("x-request-id"))).find((h) => h.decision === "chat_resend"), { what: "the resend's hop" });
    assert.equal(resend.tokens, null);
    await eventually(async () => (await p.hops(first.headers.get("x-request-id"))).some((h) => h.decision === "chat_answer"), { what: "the first answer's hop" });
    assert.equal((await chatTotals()).tokens, want);

    // A provider that claims an absurd count adds at most MAX_TOKENS (and is not refused).
    deepseek.usageTokens = 5e9;
    const u = await session(p);
    const huge = await post(p, u, "count me big");
    assert.equal(huge.status, 200);
    const hop = await eventually(async () => (await p.hops(huge.headers.get("x-request-id"))).find((h) => h.decision === "chat_answer"), { what: "the clamped hop" });
    assert.equal(hop.tokens, MAX_TOKENS);
    want += MAX_TOKENS;
    const last = await eventually(async () => {
      const now = await chatTotals();
      return now.tokens >= want && now;
    }, { timeoutMs: 15_000, what: `chat-webhook tokens to reach ${want}` });
    assert.equal(last.tokens, want);
    c.close();
  });

  test("ingest takes tokens as an optional bounded integer and refuses anything else", async () => {
    const agent = new http.Agent({ keepAlive: false });
    const ok = await postMetrics(p.url, agent, metricEvent({ worker: "voice-router", request_id: "tok-ingest-1", tokens: 77 }));
    assert.equal(ok.status, 202);
    const hop = await eventually(async () => (await p.hops("tok-ingest-1"))[0], { what: "the stored hop" });
    assert.equal(hop.tokens, 77);
    for (const bad of [-1, MAX_TOKENS + 1, 1.5, "77", true]) {
      const r = await postMetrics(p.url, agent, metricEvent({ request_id: "tok-ingest-bad", tokens: bad }));
      assert.equal(r.status, 400, JSON.stringify(bad));
      assert.equal(r.json.error.code, "invalid_field");
      assert.equal(r.json.error.field, "tokens");
    }
    const q = await queryMetrics(p, p.secret, { worker: "voice-router", series: "false" });
    assert.equal(q.totals[0].tokens, 77, "refused events added nothing");
    agent.destroy();
  });
});
