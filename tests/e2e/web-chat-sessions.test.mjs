// Issue 18, the web chat's session lifecycle end to end in workerd: the per-address limit
// counts LIVE sessions (a set of session ids in the address's AiQuota object), DELETE ends
// a session (status `ended`, sockets told and closed with 4410, messages refused, history
// kept, the slot freed at once), another session's token cannot end it, and the idle
// alarm ends a session and frees its slot.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { withPipeline } from "../harness/fixture.mjs";
import { ask, createSession, endSession, freshIp, history, openSocket, post, session } from "../harness/webchat.mjs";

describe("issue 18: live sessions per address and DELETE", { timeout: 300_000 }, () => {
  // The default idle period (30 min): nothing here can lapse on its own, so a freed slot
  // can only be a release.
  const p = withPipeline({ chat: { vars: { CHAT_SESSIONS_PER_IP: "3", CHAT_SESSION_CREATES_PER_IP: "8" } } });

  test("the limit counts live sessions: the fourth is refused with Retry-After; ending one lets a new one in", async () => {
    const ip = freshIp();
    const live = [await session(p, ip), await session(p, ip), await session(p, ip)];
    const fourth = await createSession(p, ip);
    assert.equal(fourth.status, 429);
    assert.equal(fourth.body.error.code, "too_many_sessions");
    const retry = Number(fourth.headers.get("retry-after"));
    assert.ok(retry > 1_700 && retry <= 1_800, `Retry-After is until the earliest live one can end (${retry} s)`);
    assert.equal((await createSession(p)).status, 201, "another address is not affected");
    const ended = await endSession(p, live[0]);
    assert.equal(ended.status, 200);
    assert.equal(ended.body.status, "ended");
    const again = await createSession(p, ip);
    assert.equal(again.status, 201, "the ended session's slot is free");
    assert.equal((await createSession(p, ip)).status, 429, "and only that one");
    // Ending twice is harmless and frees nothing more.
    assert.equal((await endSession(p, live[0])).status, 200);
    assert.equal((await createSession(p, ip)).status, 429);
  });

  test("DELETE ends the session for its sockets and over HTTP; the history stays readable", async () => {
    const s = await session(p);
    const c = openSocket(p, s);
    await c.opened();
    await ask(c, "before the end");
    const from = c.frames.length;
    const r = await endSession(p, s);
    assert.equal(r.status, 200);
    const err = await c.next((f) => f.type === "error", "the session_ended frame", from);
    assert.equal(err.code, "session_ended");
    const closed = await c.closed;
    assert.deepEqual(closed, { code: 4410, reason: "session_ended" });
    const refused = await post(p, s, "after the end");
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, "session_ended");
    const h = await history(p, s);
    assert.equal(h.status, 200);
    assert.equal(h.body.status, "ended");
    assert.deepEqual(h.body.messages.map((m) => m.content), ["before the end", "deepseek says: before the end"]);
    // A socket opened later gets the history (status ended) and its messages are refused.
    const late = openSocket(p, s);
    await late.opened();
    const first = await late.next((f) => f.type === "history", "the history frame");
    assert.equal(first.status, "ended");
    late.send({ type: "message", content: "anyone?" });
    const no = await late.next((f) => f.type === "error", "the refusal frame");
    assert.equal(no.code, "session_ended");
    assert.equal((await history(p, s)).body.messages.length, 2, "nothing stored after the end");
    late.close();
  });

  test("another session's token, a forged one or none cannot end a session", async () => {
    const mine = await session(p);
    const other = await session(p);
    const r = await endSession(p, mine, { token: other.token });
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, "invalid_session_token");
    assert.equal((await endSession(p, mine, { token: `${mine.token.slice(0, -2)}AA` })).status, 401);
    const none = await p.fetch(`/chat/v1/sessions/${mine.id}`, { method: "DELETE", headers: { "cf-connecting-ip": mine.ip } }, "chat-webhook");
    assert.equal(none.status, 401);
    assert.equal((await history(p, mine)).body.status, "active", "still live");
    assert.equal((await post(p, mine, "still here")).status, 200);
    const unknown = await endSession(p, { id: "0".repeat(32), token: mine.token, ip: mine.ip });
    assert.equal(unknown.status, 401, "a token is bound to its session id");
  });

  test("creations per idle period still bound a create-and-delete loop", async () => {
    const ip = freshIp();
    for (let i = 0; i < 8; i++) {
      const s = await session(p, ip);
      assert.equal((await endSession(p, s)).status, 200);
    }
    const ninth = await createSession(p, ip);
    assert.equal(ninth.status, 429);
    assert.equal(ninth.body.error.code, "rate_limited");
    assert.ok(Number(ninth.headers.get("retry-after")) >= 1);
  });
});

describe("issue 18: the idle alarm frees the slot", { timeout: 300_000 }, () => {
  const p = withPipeline({ chat: { vars: { CHAT_SESSIONS_PER_IP: "1", CHAT_IDLE_S: "3", CHAT_RETENTION_S: "600" } } });

  test("an idle session ends by its alarm and its address may open a new one", async () => {
    const ip = freshIp();
    const s = await session(p, ip);
    const c = openSocket(p, s);
    await c.opened();
    const refused = await createSession(p, ip);
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error.code, "too_many_sessions");
    assert.ok(Number(refused.headers.get("retry-after")) <= 3);
    const closed = await c.closed;
    assert.deepEqual(closed, { code: 4410, reason: "session_idle" });
    assert.equal((await history(p, s)).body.status, "idle");
    const next = await createSession(p, ip);
    assert.equal(next.status, 201, "the idle session's slot is free");
  });
});
