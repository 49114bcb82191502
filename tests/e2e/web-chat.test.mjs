// Issue 18, the web support chat, end to end in workerd with the fake streaming AI on
// loopback: sessions and their tokens, the WebSocket (hibernation API in the ChatSession
// Durable Object) and the SSE answer, reconnecting with `after`, the rolling summary in
// the prompt, failover mid-stream, limits, a runtime restart, and the idle/retention alarm.
import { describe, test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { withPipeline } from "../harness/fixture.mjs";
import { eventually } from "../harness/wait.mjs";
import { CHAT } from "../harness/line.mjs";
import { ask, createSession, freshIp, history, openSocket, post, session } from "../harness/webchat.mjs";

const SUMMARY = "SUMMARY: the customer asked twelve numbered questions about order 77.";
/** The fake answers a summary request with SUMMARY, anything else as usual. */
const summarising = (name) => (body) =>
  body.messages[0].content.startsWith("You summarise a support chat") ? SUMMARY : `${name} says: ${body.messages.at(-1).content}`;

describe("issue 18: web support chat", { timeout: 300_000 }, () => {
  const p = withPipeline({ chat: { vars: { CHAT_MESSAGES_PER_MINUTE: "30", CHAT_IP_MESSAGES_PER_MINUTE: "100" } } });

  beforeEach(() => {
    for (const [name, x] of Object.entries(p.ai.providers)) {
      Object.assign(x, { mode: "ok", failAfter: null, delayMs: 0, chunks: null, answer: summarising(name) });
    }
  });

  test("a session is created with an id, a token and an expiry; its history starts empty", async () => {
    const r = await createSession(p);
    assert.equal(r.status, 201);
    assert.match(r.body.id, /^[0-9a-f]{32}$/);
    assert.match(r.body.token, /^[A-Za-z0-9._-]+$/);
    assert.ok(r.body.expires_at > Date.now() / 1000);
    const h = await history(p, { ...r.body, ip: r.ip });
    assert.deepEqual(h, { status: 200, body: { messages: [], summary: null, status: "active" } });
    const bad = await p.fetch("/chat/v1/sessions", { method: "POST", body: "[1,2]" }, CHAT);
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.code, "bad_frame");
  });

  test("over the WebSocket: history first, then the echo, typing, deltas in order and done equal to what is stored", async () => {
    const s = await session(p);
    const c = openSocket(p, s);
    await c.opened();
    assert.equal(c.ws.protocol, "chat.v1");
    const first = await c.next((f) => f.type === "history", "the history frame");
    assert.deepEqual(first, { type: "history", messages: [], summary: null, status: "active" });
    const { user, done, deltas } = await ask(c, "<script>alert(1)</script> where is my order?", "cid-1");
    assert.equal(user.id, 1);
    assert.equal(user.client_id, "cid-1");
    assert.ok(c.frames.some((f) => f.type === "typing"));
    assert.equal(done.id, 2);
    assert.equal(done.role, "assistant");
    assert.equal(done.content, "deepseek says: <script>alert(1)</script> where is my order?");
    assert.equal(deltas, done.content, "the deltas joined are the stored answer");
    assert.equal(done.metadata.provider, "deepseek");
    assert.equal(p.ai.providers.deepseek.calls.at(-1).body.stream, true, "the provider was asked to stream");
    assert.ok(deltas.length > 0 && c.frames.filter((f) => f.type === "delta").length > 1, "the answer came in pieces");
    const h = await history(p, s);
    assert.deepEqual(h.body.messages.map((m) => [m.id, m.role, m.content]), [
      [1, "user", user.content],
      [2, "assistant", done.content],
    ]);
    // A resend with the same client_id is not stored or answered again.
    const calls = p.ai.providers.deepseek.calls.length;
    const from = c.frames.length;
    c.send({ type: "message", content: user.content, client_id: "cid-1" });
    const again = await c.next((f) => f.type === "done", "the stored answer again", from);
    assert.equal(again.message.id, 2);
    assert.equal(p.ai.providers.deepseek.calls.length, calls);
    assert.equal((await history(p, s)).body.messages.length, 2);
    // A frame that is not one is an error frame, and the socket stays usable.
    c.send("not json");
    const err = await c.next((f) => f.type === "error", "the bad_frame error", from);
    assert.equal(err.code, "bad_frame");
    c.close();
    await c.closed;
  });

  test("for clients without WebSocket: POST answers as SSE and GET returns the history", async () => {
    const s = await session(p);
    const r = await post(p, s, "hello over sse");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type"), /^text\/event-stream/);
    const kinds = r.events.map((e) => e.event);
    assert.deepEqual(kinds.slice(0, 2), ["message", "typing"]);
    assert.equal(kinds.at(-1), "done");
    const deltas = r.events.filter((e) => e.event === "delta").map((e) => e.data.text).join("");
    const done = r.events.at(-1).data.message;
    assert.equal(deltas, done.content);
    assert.equal(done.content, "deepseek says: hello over sse");
    const h = await history(p, s, { after: 1 });
    assert.deepEqual(h.body.messages.map((m) => m.content), [done.content]);
  });

  test("another session's token is refused over HTTP and over the WebSocket", async () => {
    const mine = await session(p);
    const other = await session(p);
    const h = await history(p, mine, { token: other.token });
    assert.equal(h.status, 401);
    assert.equal(h.body.error.code, "invalid_session_token");
    const r = await post(p, mine, "let me in", { token: other.token });
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, "invalid_session_token");
    const forged = await history(p, mine, { token: `${mine.token.slice(0, -2)}AA` });
    assert.equal(forged.status, 401);
    const none = await p.fetch(`/chat/v1/sessions/${mine.id}/messages`, {}, CHAT);
    assert.equal(none.status, 401);
    const c = openSocket(p, mine, { token: other.token });
    const refused = await c.refused();
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, "invalid_session_token");
    assert.equal((await history(p, mine)).body.messages.length, 0, "nothing was written");
    const unknown = await history(p, { id: "0".repeat(31) + "g", token: mine.token, ip: mine.ip });
    assert.equal(unknown.status, 404);
  });

  test("a client that reconnects with the last id it saw gets exactly the messages it missed", async () => {
    const s = await session(p);
    const a = openSocket(p, s);
    await a.opened();
    const { done } = await ask(a, "first question");
    a.ws.terminate(); // the connection drops, no close handshake
    await a.closed;
    // Meanwhile the conversation goes on (from another tab, over SSE).
    await post(p, s, "second question");
    await post(p, s, "third question");
    const b = openSocket(p, s, { after: done.id });
    const h = await b.next((f) => f.type === "history", "the history after reconnecting");
    assert.deepEqual(h.messages.map((m) => [m.id, m.content]), [
      [3, "second question"],
      [4, "deepseek says: second question"],
      [5, "third question"],
      [6, "deepseek says: third question"],
    ]);
    b.close();
  });

  test("a 40-message conversation is summarised and later answers carry the summary, not the old messages", async () => {
    const s = await session(p);
    const c = openSocket(p, s);
    await c.opened();
    const calls = p.ai.providers.deepseek.calls;
    for (let i = 1; i <= 20; i++) await ask(c, `question ${i} about order 77`);
    const h = await history(p, s);
    assert.equal(h.body.messages.length, 40);
    assert.equal(h.body.summary, SUMMARY);
    const summaryCalls = calls.filter((x) => x.body.messages[0].content.startsWith("You summarise"));
    assert.ok(summaryCalls.length >= 1);
    assert.ok(summaryCalls[0].body.max_tokens <= 300, "the summary is bounded in tokens");
    assert.match(summaryCalls[0].body.messages.at(-1).content, /Customer: question 1 about order 77/);
    const { done } = await ask(c, "question 21: and now?");
    const prompt = calls.filter((x) => !x.body.messages[0].content.startsWith("You summarise")).at(-1).body.messages;
    assert.ok(prompt[0].content.includes(SUMMARY), "the system message carries the summary");
    assert.ok(prompt.length - 2 <= 12, `at most the last 12 messages verbatim (got ${prompt.length - 2})`);
    assert.ok(!prompt.some((m) => m.content === "question 1 about order 77"), "summarised messages are not sent");
    assert.equal(prompt.at(-1).content, "question 21: and now?");
    assert.equal(done.content, "deepseek says: question 21: and now?");
    c.close();
  });

  test("a provider failing mid-stream falls over without repeating text: deltas, done and the stored message agree", async () => {
    const s = await session(p);
    const c = openSocket(p, s);
    await c.opened();
    Object.assign(p.ai.providers.deepseek, { failAfter: 2, chunkChars: 5 });
    p.ai.providers.openrouter.answer = (body) => `deepseek says: ${body.messages.at(-1).content}`;
    const before = p.ai.providers.openrouter.calls.length;
    const streamedBefore = p.ai.providers.deepseek.streamed;
    const { done, deltas } = await ask(c, "fail over please");
    assert.equal(p.ai.providers.deepseek.streamed - streamedBefore, 2, "the primary was cut after two pieces");
    assert.ok(p.ai.providers.openrouter.calls.length > before, "the fallback was asked");
    assert.equal(deltas, done.content, "what streamed is what is stored");
    assert.equal(done.content, "deepseek says: fail over please", "no piece repeated");
    const stored = (await history(p, s)).body.messages.at(-1);
    assert.equal(stored.content, deltas);
    assert.equal(stored.metadata.provider, "openrouter");
    c.close();
  });

  test("sessions and messages report to analytics-collector: creation, each answer (provider, first-token latency), refusals", async () => {
    const r = await p.fetch("/chat/v1/sessions", { method: "POST", headers: { "cf-connecting-ip": freshIp() } }, CHAT);
    assert.equal(r.status, 201);
    const created = await p.hopOf(r.headers.get("x-request-id"), CHAT);
    assert.equal(created.decision, "chat_session_created");
    assert.equal(created.path, "/chat/v1/sessions");
    // A socket's messages report under the upgrade's request id.
    const s = await session(p);
    const c = openSocket(p, s);
    const [res] = await once(c.ws, "upgrade");
    const rid = res.headers["x-request-id"];
    await c.opened();
    await ask(c, "report me");
    const answer = await eventually(async () => (await p.hops(rid)).find((h) => h.decision === "chat_answer"), { what: "the answer's metric" });
    assert.equal(answer.method, "WS");
    assert.equal(answer.region, "deepseek", "the provider that answered");
    assert.equal(answer.degraded, 0, "the primary answered");
    assert.equal(answer.status, 200);
    const upgrade = await eventually(async () => (await p.hops(rid)).find((h) => h.decision === "chat_socket"), { what: "the upgrade's metric" });
    assert.equal(upgrade.status, 101);
    // An answer over SSE: the worker's hop and the session's answer, one request id.
    const sse = await post(p, s, "and over sse");
    const both = await eventually(async () => {
      const hops = await p.hops(sse.headers.get("x-request-id"));
      return hops.length >= 2 && hops;
    }, { what: "both metrics of the SSE answer" });
    assert.deepEqual(both.map((h) => h.decision).sort(), ["chat_answer", "chat_message"]);
    c.close();
  });
});

describe("issue 18: limits", { timeout: 300_000 }, () => {
  const p = withPipeline({
    chat: {
      vars: {
        CHAT_MESSAGES_PER_MINUTE: "3",
        CHAT_IP_MESSAGES_PER_MINUTE: "5",
        CHAT_SESSIONS_PER_IP: "4",
        CHAT_MAX_MESSAGE_CHARS: "50",
        CHAT_TOKENS_PER_HOUR: "40",
      },
    },
  });

  test("the fourth message in a minute is refused: a JSON 429 with Retry-After, an error frame with retry_after", async () => {
    const s = await session(p);
    for (let i = 1; i <= 3; i++) assert.equal((await post(p, s, `m${i}`)).status, 200);
    const r = await post(p, s, "m4");
    assert.equal(r.status, 429);
    assert.equal(r.body.error.code, "rate_limited");
    assert.ok(Number(r.headers.get("retry-after")) >= 1);
    const c = openSocket(p, s);
    await c.opened();
    c.send({ type: "message", content: "m5" });
    const err = await c.next((f) => f.type === "error", "the rate_limited frame");
    assert.equal(err.code, "rate_limited");
    assert.ok(err.retry_after >= 1 && err.retry_after <= 60);
    assert.equal((await history(p, s)).body.messages.length, 6, "refused messages are not stored");
    c.close();
  });

  test("one address is limited across its sessions, in messages and in concurrent sessions", async () => {
    const ip = freshIp();
    const a = await session(p, ip);
    const b = await session(p, ip);
    for (const m of ["a1", "a2", "a3"]) assert.equal((await post(p, a, m)).status, 200);
    for (const m of ["b1", "b2"]) assert.equal((await post(p, b, m)).status, 200);
    const r = await post(p, b, "b3");
    assert.equal(r.status, 429, "the sixth message of the address in a minute");
    await session(p, ip);
    await session(p, ip);
    const fifth = await createSession(p, ip);
    assert.equal(fifth.status, 429);
    assert.equal(fifth.body.error.code, "too_many_sessions", "four are live");
    assert.ok(Number(fifth.headers.get("retry-after")) >= 1);
    assert.equal((await createSession(p)).status, 201, "another address is not affected");
  });

  test("too long a message is 413, and a session's token budget for the hour ends with token_budget_exhausted", async () => {
    const s = await session(p);
    const long = await post(p, s, "x".repeat(51));
    assert.equal(long.status, 413);
    assert.equal(long.body.error.code, "message_too_long");
    // Each answer now costs 30 tokens: with 40 an hour, the third message is refused.
    p.ai.providers.deepseek.usageTokens = 30;
    try {
      assert.equal((await post(p, s, "t1")).status, 200);
      assert.equal((await post(p, s, "t2")).status, 200);
    } finally {
      p.ai.providers.deepseek.usageTokens = null;
    }
    const refused = await post(p, s, "t3");
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error.code, "token_budget_exhausted");
    assert.ok(Number(refused.headers.get("retry-after")) > 60);
  });
});

describe("issue 18: durability", { timeout: 300_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), "web-chat-do-"));
  const scope = withPipeline({ chat: {}, miniflare: { durableObjectsPersist: dir } });

  test("a session's messages and memory survive a restart of the runtime", async () => {
    const s = await session(scope);
    await post(scope, s, "remember the code word: heron");
    await scope.close();
    const again = await scope.launch({ chat: {}, miniflare: { durableObjectsPersist: dir } });
    const h = await history(again, s);
    assert.equal(h.status, 200);
    assert.deepEqual(h.body.messages.map((m) => m.content), ["remember the code word: heron", "deepseek says: remember the code word: heron"]);
    const r = await post(again, s, "what was the code word?");
    assert.equal(r.status, 200);
    const prompt = again.ai.providers.deepseek.calls.at(-1).body.messages.map((m) => m.content);
    assert.ok(prompt.includes("remember the code word: heron"), "the earlier message is in the prompt after the restart");
    await again.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("issue 18: idle end and retention by alarm", { timeout: 300_000 }, () => {
  const p = withPipeline({ chat: { vars: { CHAT_IDLE_S: "4", CHAT_RETENTION_S: "3" } } });

  test("an idle session ends (its socket told and closed), then its storage is deleted", async () => {
    const s = await session(p);
    const c = openSocket(p, s);
    await c.opened();
    await ask(c, "anyone there?");
    const closed = await c.closed;
    assert.equal(closed.code, 4410);
    assert.ok(c.frames.some((f) => f.type === "history" && f.status === "idle"));
    const idle = await history(p, s);
    assert.equal(idle.body.status, "idle");
    assert.equal(idle.body.messages.length, 2, "kept during retention");
    const refused = await post(p, s, "hello again");
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, "session_ended");
    const gone = await eventually(async () => {
      const h = await history(p, s);
      return h.status === 404 && h;
    }, { timeoutMs: 20_000, what: "the session's deletion" });
    assert.equal(gone.body.error.code, "session_not_found");
  });
});
