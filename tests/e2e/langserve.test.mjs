// Issue 20, the provider part, end to end: chat-webhook in workerd with a `langserve`
// primary provider — the REAL reference LangServe app (examples/langserve, the pinned
// packages of .tools/langserve-venv) behind a loopback proxy that checks Cloudflare Access
// service-token headers as Access does — and the fake OpenAI-compatible AI as its fallback.
// - a signed LINE text is answered through LangServe's `/invoke` (LangChain messages in,
//   the chain's answer out), the Access headers sent to LangServe and to nobody else;
// - a web chat message is streamed through LangServe's `/stream`, delta by delta;
// - LangServe down (the app stopped: the tunnel answers 502) → the fallback answers;
// - Access refusing the token (401) opens LangServe's breaker at once (the next message
//   skips it without a call), the log names the refused credential by its var, never its
//   value, and analytics-collector stores the refusal (decision `credential_refused`).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { withPipeline } from "../harness/fixture.mjs";
import { eventually } from "../harness/wait.mjs";
import { queryMetrics } from "../harness/analytics.mjs";
import { CHAT, deliverLine, lineEvent } from "../harness/line.mjs";
import { startAccessProxy, startLangServe } from "../harness/langserve.mjs";
import { history, post, session } from "../harness/webchat.mjs";

const ACCESS = { id: "0123456789abcdef.access", secret: "e2e-access-secret-4f9a1c" };

describe("issue 20: a LangServe provider (real app) with an OpenAI-compatible fallback", { timeout: 240_000 }, () => {
  let app;
  let proxy;
  before(async () => {
    app = await startLangServe({ chain: "echo" });
    proxy = await startAccessProxy(() => app.url, { ...ACCESS });
  });
  after(async () => {
    await proxy?.close();
    await app?.close();
  });

  const p = withPipeline({
    chat: { lineToken: "line-token-test" },
    vars: () => ({
      [CHAT]: {
        AI_PRIMARY_KIND: "langserve",
        AI_PRIMARY_NAME: "ayaka",
        AI_PRIMARY_MODEL: "ayaka-echo-chain",
        AI_PRIMARY_BASE_URL: proxy.url,
        AI_PRIMARY_LANGSERVE_INPUT: "messages",
        AI_PRIMARY_TIMEOUT_MS: "10000",
        AI_PRIMARY_API_KEY: "",
        AI_PRIMARY_ACCESS_CLIENT_ID: ACCESS.id,
        AI_PRIMARY_ACCESS_CLIENT_SECRET: ACCESS.secret,
        // A refusal must open the breaker by itself: three plain failures would be needed.
        AI_BREAKER_FAILURES: "3",
        AI_BREAKER_RECOVERY_MS: "600000",
      },
    }),
  });

  const deliver = (events) => deliverLine(p, p.chatVars.LINE_CHANNEL_SECRET, events);
  const replyTo = (token) =>
    eventually(() => p.line.replies.find((x) => x.replyToken === token) ?? null, { timeoutMs: 20_000, what: `the reply to ${token}` });
  const ask = async (id, text) => {
    const ev = lineEvent({ message: { type: "text", id, text } });
    await deliver([ev]);
    const r = await replyTo(ev.replyToken);
    return r.messages.map((m) => m.text).join("\n");
  };
  const fallbackCalls = () => p.ai.providers.openrouter.calls.length;

  test("the real app speaks the protocol the core maps: /invoke's output, /stream's metadata, data…, end", async () => {
    // What edge_core::chat::langserve's unit tests assume, checked against the real server
    // (straight to the app, not through the worker: the web chat's streaming is wired by
    // its own chain).
    const post = (route, input) =>
      fetch(`${app.url}${route}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ input, config: {}, kwargs: {} }) });
    const invoked = await (await post("/invoke", [{ type: "system", content: "be brief" }, { type: "human", content: "hi there" }])).json();
    assert.equal(invoked.output, "langserve says: hi there");
    const r = await post("/stream", "hi there");
    assert.match(r.headers.get("content-type"), /^text\/event-stream/);
    const events = (await r.text())
      .split(/\r?\n\r?\n/)
      .filter((block) => block.trim())
      .map((block) => {
        const lines = block.split(/\r?\n/);
        const event = lines.find((l) => l.startsWith("event:"))?.slice(6).trim() ?? null;
        const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
        return { event, data };
      });
    assert.equal(events[0].event, "metadata");
    assert.ok(JSON.parse(events[0].data).run_id);
    assert.deepEqual(events.at(-1), { event: "end", data: "" });
    const chunks = events.slice(1, -1);
    assert.ok(chunks.length > 1 && chunks.every((e) => e.event === "data"), JSON.stringify(events));
    assert.equal(chunks.map((e) => JSON.parse(e.data)).join(""), "langserve says: hi there");
  });

  test("a signed LINE text is answered by the LangServe chain through /invoke, Access headers to it only", async () => {
    const before = fallbackCalls();
    const text = await ask("ls-1", "Where is my parcel 77?");
    assert.equal(text, "langserve says: Where is my parcel 77?");
    const call = proxy.requests.at(-1);
    assert.equal(call.method, "POST");
    assert.equal(call.path, "/invoke");
    assert.equal(call.status, 200, "the real app answered it");
    assert.deepEqual([call.id, call.secret], [ACCESS.id, ACCESS.secret]);
    assert.equal(call.authorization, null, "no API key configured, none sent");
    const body = JSON.parse(call.body);
    assert.deepEqual(Object.keys(body).sort(), ["config", "input", "kwargs"]);
    assert.deepEqual([body.config, body.kwargs], [{}, {}]);
    assert.equal(body.input[0].type, "system");
    assert.match(body.input[0].content, /Answer in English/);
    assert.deepEqual(body.input.at(-1), { type: "human", content: "Where is my parcel 77?" });
    assert.equal(fallbackCalls(), before, "the fallback was not asked");
    // The second message carries the first exchange as LangChain history (human, ai).
    await ask("ls-2", "And when will it arrive?");
    const second = JSON.parse(proxy.requests.at(-1).body);
    assert.deepEqual(
      second.input.slice(1).map((m) => `${m.type}: ${m.content}`),
      ["human: Where is my parcel 77?", "ai: langserve says: Where is my parcel 77?", "human: And when will it arrive?"],
    );
    // The fallback (OpenAI-compatible) never saw the Access token.
    for (const c of p.ai.providers.openrouter.calls) assert.ok(!JSON.stringify(c).includes(ACCESS.secret));
  });

  test("the web chat streams the LangServe chain's answer through /stream, delta by delta, and stores exactly that", async () => {
    const before = fallbackCalls();
    const s = await session(p);
    const r = await post(p, s, "Is my order 12 shipped?");
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const deltas = r.events.filter((e) => e.event === "delta").map((e) => e.data.text);
    const done = r.events.find((e) => e.event === "done")?.data.message;
    assert.ok(deltas.length > 1, `streamed in pieces, not at once: ${JSON.stringify(deltas)}`);
    assert.equal(deltas.join(""), "langserve says: Is my order 12 shipped?");
    assert.equal(done.content, deltas.join(""));
    assert.equal(done.metadata.provider, "ayaka");
    assert.equal(done.metadata.failed, undefined, "no provider failed before it");
    const call = proxy.requests.at(-1);
    assert.deepEqual([call.method, call.path, call.status], ["POST", "/stream", 200]);
    assert.deepEqual([call.id, call.secret], [ACCESS.id, ACCESS.secret]);
    assert.deepEqual(JSON.parse(call.body).input.at(-1), { type: "human", content: "Is my order 12 shipped?" });
    assert.equal(fallbackCalls(), before, "the fallback was not asked");
    const stored = await history(p, s);
    assert.deepEqual(stored.body.messages.map((m) => m.content), ["Is my order 12 shipped?", done.content]);
  });

  test("LangServe down: the fallback answers, and LangServe answers again once it is back", async () => {
    await app.stop();
    const before = fallbackCalls();
    const text = await ask("ls-down", "Do you have vitamin C?");
    assert.equal(text, "openrouter says: Do you have vitamin C?");
    assert.equal(fallbackCalls(), before + 1);
    assert.equal(proxy.requests.at(-1).status, 502, "LangServe was tried: the tunnel said the origin is down");
    await p.logged(/ai provider ayaka failed: status_502/);
    await app.start();
    assert.equal(await ask("ls-back", "Do you have vitamin D?"), "langserve says: Do you have vitamin D?");
  });

  test("Access refusing the token (401) opens the breaker at once, is logged by name and reported to analytics", async () => {
    const since = p.logs.length;
    // The service token was rotated at Access: the one the worker has is now refused.
    proxy.access = { id: ACCESS.id, secret: "the-rotated-secret" };
    const calls = proxy.requests.length;
    const before = fallbackCalls();
    assert.equal(await ask("ls-401", "Is the shop open on Sunday?"), "openrouter says: Is the shop open on Sunday?");
    assert.equal(proxy.requests.length, calls + 1);
    assert.equal(proxy.requests.at(-1).status, 401);
    assert.equal(fallbackCalls(), before + 1);
    const line = await p.logged(/ai provider ayaka refused our credentials \(401\)/, since);
    assert.match(line, /check AI_PRIMARY_ACCESS_CLIENT_ID\/SECRET/);
    // One refusal opened it (AI_BREAKER_FAILURES is 3): the next message skips LangServe.
    assert.equal(await ask("ls-skip", "And on Monday?"), "openrouter says: And on Monday?");
    assert.equal(proxy.requests.length, calls + 1, "LangServe was not called again");
    // No secret value in anything the worker logged.
    for (const l of p.logs) {
      assert.ok(!l.includes(ACCESS.secret) && !l.includes("the-rotated-secret"), l);
    }
    // The refusal reached the collector: the event by the id the worker logged...
    const reported = await p.logged(/credential refusal reported to analytics as request (\S+)/, since);
    const id = /as request (\S+)/.exec(reported)[1];
    const hop = await p.hopOf(id, CHAT);
    assert.equal(hop.status, 401);
    assert.equal(hop.decision, "credential_refused");
    assert.equal(hop.path, "/ai/ayaka");
    // ...and the dashboard's query counts it in chat-webhook's 4xx.
    const fours = await eventually(async () => {
      const q = await queryMetrics(p, p.secret, {
        from: String(Date.now() - 3_600_000),
        to: String(Date.now() + 60_000),
        worker: CHAT,
        group_by: "status_class",
      });
      return q.totals.find((t) => t.group.status_class === "4xx") ?? null;
    }, { timeoutMs: 15_000, what: "chat-webhook's 4xx in the query API" });
    assert.ok(fours.requests >= 1, JSON.stringify(fours));
  });
});

describe("issue 20: the reverse order — OpenAI-compatible primary, LangServe fallback (dict input, message output)", { timeout: 240_000 }, () => {
  let app;
  before(async () => {
    // CHAIN=messages answers an AI message object; the dict's key is the app's INPUT_KEY.
    app = await startLangServe({ chain: "messages", env: { INPUT_KEY: "question" } });
  });
  after(async () => {
    await app?.close();
  });

  const p = withPipeline({
    chat: { lineToken: "line-token-test" },
    vars: () => ({
      [CHAT]: {
        AI_FALLBACK_KIND: "langserve",
        AI_FALLBACK_NAME: "home-llm",
        AI_FALLBACK_BASE_URL: app.url,
        AI_FALLBACK_LANGSERVE_INPUT: "dict:question",
        AI_FALLBACK_TIMEOUT_MS: "10000",
        AI_FALLBACK_API_KEY: "",
      },
    }),
  });

  test("the primary failing, the LangServe fallback answers with its AI message's content", async () => {
    p.ai.providers.deepseek.mode = "fail";
    const ev = lineEvent({ message: { type: "text", id: "rev-1", text: "Can I pay by card?" } });
    await deliverLine(p, p.chatVars.LINE_CHANNEL_SECRET, [ev]);
    const reply = await eventually(() => p.line.replies.find((x) => x.replyToken === ev.replyToken) ?? null, {
      timeoutMs: 20_000,
      what: "the reply",
    });
    assert.deepEqual(reply.messages, [{ type: "text", text: "langserve says: Can I pay by card?" }]);
    assert.equal(p.ai.providers.deepseek.calls.length, 1, "the primary was asked first");
    assert.equal(p.ai.providers.openrouter.calls.length, 0, "the OpenAI-compatible fallback is not configured here");
    await p.logged(/ai provider deepseek failed: status_500/);
  });
});

describe("issue 20: Access answering a refused token with its login redirect", { timeout: 180_000 }, () => {
  let app;
  let proxy;
  before(async () => {
    app = await startLangServe({ chain: "echo" });
    proxy = await startAccessProxy(() => app.url, { id: ACCESS.id, secret: "rotated-at-access" });
    proxy.refuseWith = "login";
  });
  after(async () => {
    await proxy?.close();
    await app?.close();
  });

  const p = withPipeline({
    chat: { lineToken: "line-token-test" },
    vars: () => ({
      [CHAT]: {
        AI_PRIMARY_KIND: "langserve",
        AI_PRIMARY_NAME: "ayaka",
        AI_PRIMARY_BASE_URL: proxy.url,
        AI_PRIMARY_API_KEY: "",
        AI_PRIMARY_ACCESS_CLIENT_ID: ACCESS.id,
        AI_PRIMARY_ACCESS_CLIENT_SECRET: ACCESS.secret,
        AI_BREAKER_FAILURES: "3",
        AI_BREAKER_RECOVERY_MS: "600000",
      },
    }),
  });

  test("the redirect is not followed (the token goes nowhere else) and counts as a refusal", async () => {
    const since = p.logs.length;
    const s = await session(p);
    const r = await post(p, s, "Are you there?");
    const done = r.events.find((e) => e.event === "done")?.data.message;
    assert.equal(done.content, "openrouter says: Are you there?");
    assert.deepEqual(done.metadata.failed, ["ayaka: credential_refused"]);
    assert.deepEqual(proxy.requests.map((q) => [q.path, q.status]), [["/stream", 302]], "the login page was never asked");
    await p.logged(/ai provider ayaka refused our credentials \(302\): check AI_PRIMARY_ACCESS_CLIENT_ID\/SECRET/, since);
    // One refusal opened the breaker (AI_BREAKER_FAILURES is 3): LangServe is not asked again.
    const again = await post(p, s, "Hello?");
    assert.equal(again.events.find((e) => e.event === "done")?.data.message.metadata.failed[0], "ayaka: circuit_open");
    assert.equal(proxy.requests.length, 1);
  });
});
