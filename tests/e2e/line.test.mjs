// chat-webhook's LINE bot end to end: the built worker in workerd with its D1, KV and queue,
// against a fake LINE API and fake AI providers on loopback.
import { beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { withPipeline } from "../harness/fixture.mjs";
import { assertJsonError } from "../harness/assert.mjs";
import { eventually } from "../harness/wait.mjs";
import { CHAT, deliverLine, lineEvent, lineSignature } from "../harness/line.mjs";

describe("chat-webhook: LINE", { timeout: 180_000 }, () => {
  let db;
  const USER = "U0000000000000000000000000000001";

  const p = withPipeline({
    chat: { lineToken: "line-token-test" },
    setup: async (h) => {
      db = await h.mf.getD1Database("DB", CHAT);
      h.line.profiles.set(USER, { displayName: "Somchai", language: "en" });
      h.line.profiles.set("U00000000000000000000000000000th", { displayName: "สมชาย", language: "th" });
    },
  });

  const post = (body, headers = {}) =>
    p.fetch("/webhooks/line", { method: "POST", headers: { "content-type": "application/json", ...headers }, body }, CHAT);
  /** Sends `events` signed with the channel secret; asserts LINE's 200. */
  const deliver = (events) => deliverLine(p, p.chatVars.LINE_CHANNEL_SECRET, events);
  const repliesTo = (token) => p.line.replies.filter((x) => x.replyToken === token);
  const rows = async (sql, ...args) => (await db.prepare(sql).bind(...args).all()).results;
  /**
   * Resolves once the queue consumer has handled every event queued before the call: a
   * marker event queued after them (a beacon: no reply, no AI call) is marked done, and the
   * consumer takes events in order, one batch only after the one before it ended.
   * Returns the marker's webhookEventId.
   */
  const drained = async () => {
    const marker = lineEvent({ type: "beacon", beacon: { hwid: "d41d8cd98f" } });
    await deliver([marker]);
    await eventually(async () => (await rows("SELECT status FROM webhook_events WHERE id = ?", marker.webhookEventId))[0]?.status === "done", {
      timeoutMs: 10_000,
      what: "the marker event handled",
    });
    return marker.webhookEventId;
  };

  beforeEach(() => {
    p.ai.providers.deepseek.mode = "ok";
    p.ai.providers.openrouter.mode = "ok";
  });

  test("a signed text message is answered exactly once and the conversation is stored", async () => {
    const ev = lineEvent({ message: { type: "text", id: "m-first", text: "Is the weather nice today?" } });
    await deliver([ev]);
    const [reply] = await eventually(() => (repliesTo(ev.replyToken).length ? repliesTo(ev.replyToken) : null), { timeoutMs: 10_000, what: "the reply" });
    assert.deepEqual(reply.messages, [{ type: "text", text: "deepseek says: Is the weather nice today?" }]);
    // The provider got the model, the key, a system prompt in the user's language and the message.
    const call = p.ai.providers.deepseek.calls.at(-1);
    assert.equal(call.authorization, "Bearer sk-primary-test");
    assert.equal(call.body.model, "deepseek-chat");
    assert.match(call.body.messages[0].content, /Answer in English/);
    const [customer] = await rows("SELECT * FROM customers WHERE line_user_id = ?", USER);
    assert.equal(customer.display_name, "Somchai");
    assert.equal(customer.status, "active");
    const messages = await eventually(async () => {
      const m = await rows(
        "SELECT m.role, m.content, m.intent, m.provider, m.tokens, m.confidence FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.line_user_id = ? AND m.webhook_event_id = ? ORDER BY m.created_at",
        USER,
        ev.webhookEventId,
      );
      return m.length === 2 ? m : null;
    }, { what: "the stored exchange" });
    assert.deepEqual(messages.map((m) => [m.role, m.intent, m.provider]), [
      ["user", "general", null],
      ["assistant", "general", "deepseek"],
    ]);
    assert.equal(messages[1].tokens, 15);
    assert.equal(messages[0].confidence, 0.5);
    const [session] = await rows("SELECT provider, model, tokens, attempts FROM ai_sessions ORDER BY created_at DESC LIMIT 1");
    assert.equal(session.provider, "deepseek");
    assert.deepEqual(JSON.parse(session.attempts), [{ provider: "deepseek", outcome: "answered" }]);
    // A second message reuses the conversation and sends the history.
    const ev2 = lineEvent({ message: { type: "text", id: "m-second", text: "And tomorrow?" } });
    await deliver([ev2]);
    await eventually(() => repliesTo(ev2.replyToken).length === 1, { timeoutMs: 10_000, what: "the second reply" });
    const history = p.ai.providers.deepseek.calls.at(-1).body.messages.map((m) => m.role);
    assert.deepEqual(history, ["system", "user", "assistant", "user"]);
    const conversations = await rows("SELECT message_count FROM conversations WHERE line_user_id = ? AND status = 'active'", USER);
    assert.equal(conversations.length, 1);
    await eventually(async () => (await rows("SELECT message_count FROM conversations WHERE line_user_id = ?", USER))[0].message_count === 4);
  });

  test("a redelivered event gets no second reply", async () => {
    const ev = lineEvent({ message: { type: "text", id: "m-redeliver", text: "once only please" } });
    await deliver([ev]);
    await eventually(() => repliesTo(ev.replyToken).length === 1, { timeoutMs: 10_000, what: "the reply" });
    const calls = p.ai.providers.deepseek.calls.length;
    await deliver([{ ...ev, deliveryContext: { isRedelivery: true } }]);
    await deliver([{ ...ev, deliveryContext: { isRedelivery: true } }]);
    await drained();
    assert.equal(repliesTo(ev.replyToken).length, 1);
    assert.equal(p.ai.providers.deepseek.calls.length, calls, "not even asked again");
    const stored = await rows("SELECT COUNT(*) AS n FROM messages WHERE webhook_event_id = ?", ev.webhookEventId);
    assert.equal(stored[0].n, 2);
  });

  test("a claim left by a dead consumer is taken over; one in progress is left alone", async () => {
    const stale = lineEvent({ message: { type: "text", id: "m-stale", text: "still there?" } });
    const live = lineEvent({ message: { type: "text", id: "m-live", text: "in progress" } });
    await db.prepare("INSERT INTO webhook_events (id, event_type, status, received_at) VALUES (?, 'message.text', 'processing', ?)").bind(stale.webhookEventId, Date.now() - 5 * 60_000).run();
    await db.prepare("INSERT INTO webhook_events (id, event_type, status, received_at) VALUES (?, 'message.text', 'processing', ?)").bind(live.webhookEventId, Date.now() - 5_000).run();
    await deliver([stale, live]);
    await eventually(() => repliesTo(stale.replyToken).length === 1, { timeoutMs: 10_000, what: "the taken-over event's reply" });
    await drained(); // the live event was looked at (and put back for later) before the marker
    assert.equal(repliesTo(live.replyToken).length, 0, "a claim in progress is left alone");
    assert.equal((await rows("SELECT status FROM webhook_events WHERE id = ?", stale.webhookEventId))[0].status, "done");
  });

  test("LINE failing once: the event is retried from the queue and answered once", async () => {
    p.line.failing.replies = 1;
    const ev = lineEvent({ message: { type: "text", id: "m-retry", text: "are you there" } });
    await deliver([ev]);
    await eventually(() => repliesTo(ev.replyToken).length === 1, { timeoutMs: 15_000, what: "the retried reply" });
    // The handling's last step: the exchange stored (after the event was marked done); the
    // event is then acknowledged, so no later attempt can answer again.
    await eventually(async () => (await rows("SELECT COUNT(*) AS n FROM messages WHERE webhook_event_id = ?", ev.webhookEventId))[0].n === 2, { what: "the exchange stored" });
    assert.equal(repliesTo(ev.replyToken).length, 1);
    assert.equal(p.line.failing.replies, 0, "the first attempt did fail");
  });

  test("primary down: the fallback answers; both down: the static apology", async () => {
    p.ai.providers.deepseek.mode = "fail";
    const ev = lineEvent({ message: { type: "text", id: "m-fallback", text: "what now" } });
    await deliver([ev]);
    const [r] = await eventually(() => (repliesTo(ev.replyToken).length ? repliesTo(ev.replyToken) : null), { timeoutMs: 10_000, what: "the fallback reply" });
    assert.equal(r.messages[0].text, "openrouter says: what now");
    assert.equal(p.ai.providers.openrouter.calls.at(-1).authorization, "Bearer sk-fallback-test");

    p.ai.providers.openrouter.mode = "hang";
    const ev2 = lineEvent({ message: { type: "text", id: "m-static", text: "anyone there" } });
    await deliver([ev2]);
    const [r2] = await eventually(() => (repliesTo(ev2.replyToken).length ? repliesTo(ev2.replyToken) : null), { timeoutMs: 15_000, what: "the static reply" });
    assert.match(r2.messages[0].text, /^Sorry, I can't answer right now/);
    const [session] = await rows("SELECT provider, attempts FROM ai_sessions ORDER BY created_at DESC LIMIT 1");
    assert.equal(session.provider, "static");
    const outcomes = JSON.parse(session.attempts).map((a) => a.outcome);
    assert.equal(outcomes.at(-1), "timeout", "the hanging fallback was cut off by its timeout");
    assert.ok(["status_500", "circuit_open"].includes(outcomes[0]), outcomes[0]);
  });

  test("forged and missing signatures get 401 and nothing is stored or answered", async () => {
    const before = (await rows("SELECT COUNT(*) AS n FROM webhook_events"))[0].n;
    const replies = p.line.replies.length;
    const ev = lineEvent({ message: { type: "text", id: "m-forged", text: "pay me" } });
    const body = JSON.stringify({ events: [ev] });
    const cases = [
      [{}, "missing_signature"],
      [{ "x-line-signature": lineSignature("not-the-secret", body) }, "invalid_signature"],
      [{ "x-line-signature": lineSignature(p.chatVars.LINE_CHANNEL_SECRET, body + " ") }, "invalid_signature"],
      [{ "x-line-signature": "garbage" }, "invalid_signature"],
    ];
    for (const [headers, code] of cases) await assertJsonError(await post(body, headers), 401, code);
    const marker = await drained(); // anything the refused requests had queued is handled by now
    assert.equal((await rows("SELECT COUNT(*) AS n FROM webhook_events WHERE id != ?", marker))[0].n, before);
    assert.equal(p.line.replies.length, replies);
  });

  test("LINE's verify call (no events) is 200; a signed body that is not a webhook is 400", async () => {
    await deliver([]);
    const body = "[1,2,3]";
    const r = await post(body, { "x-line-signature": lineSignature(p.chatVars.LINE_CHANNEL_SECRET, body) });
    await assertJsonError(r, 400, "malformed_json");
  });

  test("follow welcomes in the user's language, unfollow keeps the data, other types are polite or ignored", async () => {
    const thai = "U00000000000000000000000000000th";
    const follow = lineEvent({ type: "follow", source: { type: "user", userId: thai } });
    delete follow.message;
    await deliver([follow]);
    const [w] = await eventually(() => (repliesTo(follow.replyToken).length ? repliesTo(follow.replyToken) : null), { timeoutMs: 10_000 });
    assert.match(w.messages[0].text, /^สวัสดีค่ะ คุณสมชาย/);
    const sticker = lineEvent({ source: { type: "user", userId: thai }, message: { type: "sticker", id: "s1", packageId: "1", stickerId: "1" } });
    const beacon = lineEvent({ type: "beacon", beacon: { hwid: "d41d8cd98f" } });
    const unfollow = lineEvent({ type: "unfollow", source: { type: "user", userId: thai } });
    delete unfollow.replyToken;
    await deliver([sticker, beacon, unfollow]);
    const [s] = await eventually(() => (repliesTo(sticker.replyToken).length ? repliesTo(sticker.replyToken) : null), { timeoutMs: 10_000 });
    assert.match(s.messages[0].text, /ข้อความตัวอักษร/, "the polite not-text answer, in Thai");
    await eventually(async () => (await rows("SELECT status FROM customers WHERE line_user_id = ?", thai))[0]?.status === "unfollowed");
    const [c] = await rows("SELECT display_name, language, unfollowed_at FROM customers WHERE line_user_id = ?", thai);
    assert.equal(c.display_name, "สมชาย");
    assert.equal(c.language, "th");
    assert.ok(c.unfollowed_at > 0);
    assert.equal(repliesTo(beacon.replyToken).length, 0, "unknown types are accepted, not answered");
    await eventually(async () => (await rows("SELECT status FROM webhook_events WHERE id = ?", beacon.webhookEventId))[0]?.status === "done");
  });

  test("an expired reply token falls back to push, and long answers are split", async () => {
    p.ai.providers.deepseek.answer = () => "word ".repeat(2600).trim(); // 12,999 characters
    const ev = lineEvent({ message: { type: "text", id: "m-long", text: "tell me everything" } });
    p.line.expire(ev.replyToken);
    try {
      await deliver([ev]);
      const [pushed] = await eventually(() => p.line.pushes.filter((x) => x.to === USER && x.messages.length > 1).slice(-1)[0] ? [p.line.pushes.filter((x) => x.to === USER && x.messages.length > 1).slice(-1)[0]] : null, { timeoutMs: 10_000, what: "the push" });
      assert.equal(pushed.messages.length, 3);
      assert.ok(pushed.messages.every((m) => m.text.length <= 5000));
      assert.equal(pushed.messages.map((m) => m.text).join(" "), "word ".repeat(2600).trim());
      assert.match(pushed.retryKey, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(repliesTo(ev.replyToken).length, 0);
    } finally {
      p.ai.providers.deepseek.answer = (body) => `deepseek says: ${body.messages.at(-1).content}`;
    }
  });

  test("greetings are cached in KV; Thai intents are detected", async () => {
    const thaiUser = { type: "user", userId: "U00000000000000000000000000000th" };
    const calls = p.ai.providers.deepseek.calls.length;
    const a = lineEvent({ source: thaiUser, message: { type: "text", id: "g1", text: "สวัสดีครับ" } });
    await deliver([a]);
    await eventually(() => repliesTo(a.replyToken).length === 1, { timeoutMs: 10_000 });
    const b = lineEvent({ source: thaiUser, message: { type: "text", id: "g2", text: "  สวัสดีครับ " } });
    await deliver([b]);
    await eventually(() => repliesTo(b.replyToken).length === 1, { timeoutMs: 10_000 });
    assert.equal(p.ai.providers.deepseek.calls.length, calls + 1, "the second greeting came from the cache");
    assert.equal(repliesTo(b.replyToken)[0].messages[0].text, repliesTo(a.replyToken)[0].messages[0].text);
    assert.match(p.ai.providers.deepseek.calls.at(-1).body.messages[0].content, /Answer in Thai/);
    const stored = await eventually(async () => {
      const r = await rows("SELECT intent, provider FROM messages WHERE webhook_event_id = ? AND role = 'assistant'", b.webhookEventId);
      return r.length ? r : null;
    });
    assert.deepEqual(stored[0], { intent: "greeting", provider: "cache" });
  });

  test("admin API: products and a customer's conversation, behind the admin secret", async () => {
    const call = (path, init = {}) =>
      p.fetch(path, { ...init, headers: { authorization: `Bearer ${p.secret}`, "content-type": "application/json", ...init.headers } }, CHAT);
    await assertJsonError(await p.fetch("/admin/v1/products", {}, CHAT), 401, "unauthorized");
    const created = await call("/admin/v1/products/vit-c", { method: "PUT", body: JSON.stringify({ name: "Vitamin C", price: 250, category: "supplements" }) });
    assert.equal(created.status, 201);
    const updated = await call("/admin/v1/products/vit-c", { method: "PUT", body: JSON.stringify({ name: "Vitamin C 1000", price: 290 }) });
    assert.equal(updated.status, 200);
    assert.equal((await updated.json()).price, 290);
    await assertJsonError(await call("/admin/v1/products/bad", { method: "PUT", body: JSON.stringify({ name: "x", price: -1 }) }), 400, "invalid_field");
    const list = await (await call("/admin/v1/products")).json();
    assert.deepEqual(list.products.map((x) => [x.id, x.name, x.currency]), [["vit-c", "Vitamin C 1000", "THB"]]);
    // A product question gets the catalog in the prompt.
    const ev = lineEvent({ message: { type: "text", id: "m-price", text: "What is the price of vitamin C?" } });
    await deliver([ev]);
    await eventually(() => repliesTo(ev.replyToken).length === 1, { timeoutMs: 10_000 });
    assert.match(p.ai.providers.deepseek.calls.at(-1).body.messages[0].content, /Vitamin C 1000, 290\.00 THB/);
    const conv = await (await call(`/admin/v1/customers/${USER}/conversation`)).json();
    assert.equal(conv.customer.display_name, "Somchai");
    assert.ok(conv.messages.length >= 4);
    assert.ok(conv.messages.some((m) => m.intent === "product" && m.role === "user"));
    await assertJsonError(await call("/admin/v1/customers/Unobody/conversation"), 404, "not_found");
    // Preferences go into the system prompt.
    const prefs = await call(`/admin/v1/customers/${USER}/preferences`, { method: "PUT", body: JSON.stringify({ preferences: ["vitamins", " running "] }) });
    assert.deepEqual((await prefs.json()).preferences, ["vitamins", "running"]);
    await assertJsonError(await call(`/admin/v1/customers/${USER}/preferences`, { method: "PUT", body: JSON.stringify({ preferences: "all" }) }), 400, "invalid_field");
    await assertJsonError(await call("/admin/v1/customers/Unobody/preferences", { method: "PUT", body: JSON.stringify({ preferences: [] }) }), 404, "not_found");
    const ev3 = lineEvent({ message: { type: "text", id: "m-prefs", text: "any advice for me" } });
    await deliver([ev3]);
    await eventually(() => repliesTo(ev3.replyToken).length === 1, { timeoutMs: 10_000 });
    assert.match(p.ai.providers.deepseek.calls.at(-1).body.messages[0].content, /interested in: vitamins, running\./);
    assert.equal((await call("/admin/v1/products/vit-c", { method: "DELETE" })).status, 204);
    await assertJsonError(await call("/admin/v1/products/vit-c"), 404, "not_found");
  });
});
