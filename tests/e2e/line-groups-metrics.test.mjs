// Issue 21, LINE and Prometheus parts, end to end in workerd:
// - LINE group and room chats: answered in the chat (reply token, or push to the group/room
//   once the token has expired), remembered per chat whether or not LINE names the speaker;
//   a named speaker's profile comes from the group/room member endpoint; `unsend` blanks the
//   stored text and keeps a tombstone;
// - the Prometheus scrape: `promtool check metrics` is clean on the text format, and the
//   OpenMetrics answer (negotiated from `Accept`) passes the reference parser
//   (prometheus_client's, from the venv scripts/setup makes in .tools/venv).
import { beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { withPipeline } from "../harness/fixture.mjs";
import { eventually } from "../harness/wait.mjs";
import { COLLECTOR as A, metricEvent } from "../harness/analytics.mjs";
import { CHAT, deliverLine, lineEvent } from "../harness/line.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PYTHON = path.join(ROOT, ".tools/venv/bin/python");
const OM_PARSE = path.join(ROOT, "tests/harness/openmetrics_parse.py");
// Prometheus 2.x's scrape header (3.x's differs in q-values and adds `escaping`).
const PROMETHEUS_ACCEPT =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

describe("issue 21: LINE groups and rooms, Prometheus and OpenMetrics", { timeout: 180_000 }, () => {
  const p = withPipeline({ chat: { lineToken: "line-token-test" } });
  const GROUP = "C0000000000000000000000000000g01";
  const ROOM = "R0000000000000000000000000000r01";
  const SPEAKER = "U00000000000000000000000000spk1";

  const deliver = (events) => deliverLine(p, p.chatVars.LINE_CHANNEL_SECRET, events);
  const replied = (token) =>
    eventually(() => p.line.replies.find((x) => x.replyToken === token) ?? null, { timeoutMs: 10_000, what: `the reply to ${token}` });
  const adminGet = async (url) => {
    const r = await p.fetch(url, { headers: { authorization: `Bearer ${p.secret}` } }, CHAT);
    return { status: r.status, body: await r.json() };
  };
  /** The chat's stored messages, once there are `n`. */
  const stored = (url, n) =>
    eventually(async () => {
      const { status, body } = await adminGet(url);
      return status === 200 && body.messages.length >= n ? body : null;
    }, { what: `${n} stored messages at ${url}` });
  /** The history (everything between the system prompt and the new message) the AI was sent last. */
  const lastHistory = () => p.ai.providers.deepseek.calls.at(-1).body.messages.slice(1, -1).map((m) => `${m.role}: ${m.content}`);
  const groupSource = (over = {}) => ({ type: "group", groupId: GROUP, ...over });
  const text = (id, t) => ({ type: "text", id, text: t });
  const vary = (r) => (r.headers.get("vary") ?? "").split(",").map((v) => v.trim().toLowerCase()).filter(Boolean);

  beforeEach(() => {
    p.ai.providers.deepseek.mode = "ok";
  });

  test("a group text without userId is answered in the group and remembered by the group", async () => {
    const first = lineEvent({ source: groupSource(), message: text("g-m1", "Where is my order 1234?") });
    await deliver([first]);
    const r1 = await replied(first.replyToken);
    assert.deepEqual(r1.messages, [{ type: "text", text: "deepseek says: Where is my order 1234?" }]);
    await stored(`/admin/v1/groups/${GROUP}/conversation`, 2);
    // Another desktop member's message sees the first exchange in the prompt's history.
    const second = lineEvent({ source: groupSource(), message: text("g-m2", "And when does it arrive?") });
    await deliver([second]);
    await replied(second.replyToken);
    assert.deepEqual(lastHistory(), ["user: Where is my order 1234?", "assistant: deepseek says: Where is my order 1234?"]);
    const conv = await stored(`/admin/v1/groups/${GROUP}/conversation`, 4);
    assert.equal(conv.customer.line_user_id, `group:${GROUP}`);
    assert.equal(conv.conversation.message_count, 4);
    assert.deepEqual(conv.messages.map((m) => [m.role, m.speaker_user_id]), [["user", null], ["assistant", null], ["user", null], ["assistant", null]]);
    assert.equal(p.line.profileCalls.length, 0, "no profile is looked up for an unnamed speaker");
    // The group is not a user: the customers API does not confuse the two.
    assert.equal((await adminGet(`/admin/v1/customers/${GROUP}/conversation`)).status, 404);
  });

  test("a room message is answered in the room, pushed to the room once the token expired, remembered by the room", async () => {
    const first = lineEvent({ source: { type: "room", roomId: ROOM }, message: text("r-m1", "Do you ship to Chiang Mai?") });
    await deliver([first]);
    await replied(first.replyToken);
    await stored(`/admin/v1/rooms/${ROOM}/conversation`, 2);
    const second = lineEvent({ source: { type: "room", roomId: ROOM }, message: text("r-m2", "How much does it cost?") });
    p.line.expire(second.replyToken);
    await deliver([second]);
    const push = await eventually(() => p.line.pushes.find((x) => x.to === ROOM) ?? null, { timeoutMs: 10_000, what: "the push to the room" });
    assert.deepEqual(push.messages, [{ type: "text", text: "deepseek says: How much does it cost?" }]);
    assert.deepEqual(lastHistory(), ["user: Do you ship to Chiang Mai?", "assistant: deepseek says: Do you ship to Chiang Mai?"]);
    const conv = await stored(`/admin/v1/rooms/${ROOM}/conversation`, 4);
    assert.equal(conv.customer.line_user_id, `room:${ROOM}`);
    // The room's memory is its own: the group's messages are not in it.
    assert.ok(!conv.messages.some((m) => m.content.includes("order 1234")));
  });

  test("a named speaker in a group gets the profile from the group member endpoint, and the group keeps the memory", async () => {
    p.line.members.set(`group/${GROUP}/${SPEAKER}`, { displayName: "Nok", pictureUrl: "https://example.test/nok.png" });
    p.line.profiles.set(SPEAKER, { displayName: "WRONG: /v2/bot/profile was used", language: "en" });
    const ev = lineEvent({ source: groupSource({ userId: SPEAKER }), message: text("g-m3", "Is the blue one in stock?") });
    await deliver([ev]);
    await replied(ev.replyToken);
    assert.deepEqual(p.line.profileCalls, [`/v2/bot/group/${GROUP}/member/${SPEAKER}`]);
    // The group's earlier messages are this message's history too.
    assert.equal(lastHistory().length, 4);
    const conv = await stored(`/admin/v1/groups/${GROUP}/conversation`, 6);
    assert.deepEqual(conv.messages.slice(-2).map((m) => [m.role, m.speaker_user_id]), [["user", SPEAKER], ["assistant", null]]);
    // The speaker is a customer of their own, named from the member profile.
    const { status, body } = await adminGet(`/admin/v1/customers/${SPEAKER}/conversation`);
    assert.equal(status, 200);
    assert.equal(body.customer.display_name, "Nok");
    // Known now: a second message does not look the profile up again.
    const again = lineEvent({ source: groupSource({ userId: SPEAKER }), message: text("g-m4", "thanks") });
    await deliver([again]);
    await replied(again.replyToken);
    assert.equal(p.line.profileCalls.length, 1);
  });

  test("unsend blanks the stored text, keeps a tombstone, and leaves the message out of later history", async () => {
    const secret = "my card number is 4111 1111 1111 1111";
    const ev = lineEvent({ source: groupSource({ userId: SPEAKER }), message: text("g-secret", secret) });
    await deliver([ev]);
    await replied(ev.replyToken);
    const before = await stored(`/admin/v1/groups/${GROUP}/conversation`, 10);
    assert.ok(before.messages.some((m) => m.content === secret));
    // LINE's unsend event: no reply token, the message id in `unsend`.
    const unsend = lineEvent({ type: "unsend", source: groupSource({ userId: SPEAKER }), unsend: { messageId: "g-secret" } });
    delete unsend.message;
    delete unsend.replyToken;
    const repliesBefore = p.line.replies.length;
    await deliver([unsend]);
    const after = await eventually(async () => {
      const { body } = await adminGet(`/admin/v1/groups/${GROUP}/conversation`);
      return body.messages.some((m) => m.line_message_id === "g-secret" && m.unsent_at) ? body : null;
    }, { what: "the tombstone" });
    const tomb = after.messages.find((m) => m.line_message_id === "g-secret");
    assert.equal(tomb.content, "");
    assert.equal(tomb.role, "user");
    assert.equal(after.messages.length, before.messages.length, "the row stays, so the conversation keeps its shape");
    assert.equal(after.conversation.message_count, before.conversation.message_count);
    assert.ok(!after.messages.some((m) => m.role === "user" && m.content.includes("4111")), "the user's text is gone from the store");
    // The bot's answer was a message of its own, seen in the group: it stays.
    assert.equal(after.messages.filter((m) => m.role === "assistant").length, before.messages.filter((m) => m.role === "assistant").length);
    assert.equal(p.line.replies.length, repliesBefore, "unsend is not answered");
    // The next message's history no longer carries the text.
    const next = lineEvent({ source: groupSource(), message: text("g-m5", "What was I saying?") });
    await deliver([next]);
    await replied(next.replyToken);
    assert.ok(!lastHistory().includes(`user: ${secret}`), lastHistory().join("\n"));
    assert.ok(lastHistory().includes("user: thanks"), "the rest of the history is still there");
  });

  test("the scrape passes promtool (text 0.0.4) and the reference OpenMetrics parser (negotiated)", async () => {
    // Every family has samples: a cache-manager hit, a voice-router route, and chat-webhook's
    // own reported hops from the tests above.
    const evs = [
      metricEvent({ request_id: "om-1", worker: "cache-manager", decision: "cache_hit", region: null, latency_ms: 1.5 }),
      metricEvent({ request_id: "om-2", worker: "voice-router", region: "us-east-1", latency_ms: 1234 }),
    ];
    const ingest = await p.fetch("/v1/metrics", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(evs) }, A);
    assert.equal(ingest.status, 202, await ingest.clone().text());
    const scrape = (accept) =>
      p.fetch("/api/v1/analytics/edge/metrics", { headers: { authorization: `Bearer ${p.secret}`, ...(accept === undefined ? {} : { accept }) } }, A);
    const textBody = await eventually(async () => {
      const t = await (await scrape()).text();
      return t.includes('edge_requests_total{status_class="2xx",worker="chat-webhook"}') ? t : null;
    }, { what: "chat-webhook's hops in the exposition" });

    // Text format 0.0.4 by default, for an Accept that wants neither, and for a malformed one.
    for (const accept of [undefined, "*/*", "application/json", "text/plain;q=2", PROMETHEUS_ACCEPT.replace("version=1.0.0,", "version=1.0.0;q=0.1,")]) {
      const r = await scrape(accept);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8", String(accept));
      assert.deepEqual(vary(r), ["accept"]);
      assert.ok(!(await r.text()).includes("# EOF"));
    }
    const promtool = spawnSync("promtool", ["check", "metrics"], { input: textBody, encoding: "utf8" });
    assert.equal(promtool.error, undefined, "promtool must be installed (scripts/setup installs Debian's prometheus)");
    console.log(`promtool check metrics: exit ${promtool.status}, output: ${JSON.stringify(promtool.stdout + promtool.stderr)}`);
    assert.equal(promtool.status, 0, promtool.stdout + promtool.stderr);
    assert.equal((promtool.stdout + promtool.stderr).trim(), "", "no lint findings");
    assert.match(textBody, /^# TYPE edge_request_duration_seconds summary$/m);
    assert.match(textBody, /^edge_request_duration_seconds\{worker="voice-router",quantile="0\.99"\} 1\.2\d*$/m, "seconds, not ms");
    assert.doesNotMatch(textBody, /_ms\b/);

    // OpenMetrics for Prometheus's Accept, straight and through auth-validator's gate.
    const reader = p.token({ role: "user", permissions: ["analytics:read"] });
    for (const r of [
      await scrape(PROMETHEUS_ACCEPT),
      await p.fetch("/api/v1/analytics/edge/metrics", { headers: { authorization: `Bearer ${reader}`, accept: "application/openmetrics-text; version=1.0.0" } }),
    ]) {
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("content-type"), "application/openmetrics-text; version=1.0.0; charset=utf-8");
      // Through the gate, auth-validator adds `Origin` (CORS) to the collector's `Accept`.
      assert.ok(vary(r).includes("accept"), r.headers.get("vary"));
      const body = await r.text();
      assert.ok(body.endsWith("\n# EOF\n"), body.slice(-40));
      assert.ok(existsSync(PYTHON), "the reference parser's venv (scripts/setup makes .tools/venv)");
      const parsed = spawnSync(PYTHON, [OM_PARSE], { input: body, encoding: "utf8" });
      assert.equal(parsed.status, 0, parsed.stderr);
      const families = Object.fromEntries(JSON.parse(parsed.stdout).map((f) => [f.name, f]));
      assert.deepEqual(Object.keys(families).sort(), [
        "edge_ai_tokens",
        "edge_cache_requests",
        "edge_request_duration_seconds",
        "edge_requests",
        "edge_requests_by_country",
        "edge_routed_requests",
      ]);
      for (const name of ["edge_requests", "edge_cache_requests", "edge_routed_requests", "edge_requests_by_country"]) {
        assert.equal(families[name].type, "counter");
        assert.ok(families[name].samples.length > 0, name);
        assert.ok(families[name].samples.every((s) => s.name === `${name}_total`), name);
      }
      const d = families.edge_request_duration_seconds;
      assert.deepEqual([d.type, d.unit], ["summary", "seconds"]);
      const hit = families.edge_cache_requests.samples.find((s) => s.labels.outcome === "hit");
      assert.ok(hit && hit.value >= 1);
      // No duplicate series.
      const keys = Object.values(families).flatMap((f) => f.samples.map((s) => `${s.name}${JSON.stringify(s.labels)}`));
      assert.equal(new Set(keys).size, keys.length);
    }
  });
});
