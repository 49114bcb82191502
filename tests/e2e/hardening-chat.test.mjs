// Issue 13, chat-webhook: the answer cache never crosses users or channels (13.1), a LINE
// webhook larger than one queue batch is queued in several and every event answered once
// (13.5), a replayed Discord interaction does no work twice, and a per-user quota bounds
// paid AI calls. The built worker in workerd against fake LINE, Discord and AI APIs.
import { beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { withPipeline } from "../harness/fixture.mjs";
import { eventually } from "../harness/wait.mjs";
import { CHAT, lineEvent, lineSignature } from "../harness/line.mjs";
import { interaction, settledEdits, slash } from "../harness/discord.mjs";

const sha = (s) => createHash("sha256").update(s).digest("hex").slice(0, 16);
/** The fake AI's answer: a digest of the system prompt, so a test can tell whose prompt made it. */
const answerOf = (body) => `sys:${sha(body.messages[0].content)} user:${body.messages.at(-1).content.slice(0, 40)}`;
const user = (n) => `U${String(n).padStart(32, "0")}`;
const EPHEMERAL = 64;

describe("chat-webhook hardening (issue 13)", { timeout: 240_000 }, () => {
  let db;
  const p = withPipeline({
    chat: { lineToken: "line-token-hardening", discord: true, vars: { AI_USER_QUOTA: "2", AI_USER_QUOTA_WINDOW_S: "3600" } },
    setup: async (h) => {
      db = await h.mf.getD1Database("DB", CHAT);
    },
  });

  const postLine = (body, headers = {}) =>
    p.fetch("/webhooks/line", { method: "POST", headers: { "content-type": "application/json", ...headers }, body }, CHAT);
  async function deliver(events) {
    const body = JSON.stringify({ destination: "U0000000000000000000000000000bot", events });
    const r = await postLine(body, { "x-line-signature": lineSignature(p.chatVars.LINE_CHANNEL_SECRET, body) });
    assert.equal(r.status, 200, await r.clone().text());
    return r;
  }
  const repliesTo = (token) => p.line.replies.filter((x) => x.replyToken === token);
  const replyText = async (ev) => {
    const [r] = await eventually(() => (repliesTo(ev.replyToken).length ? repliesTo(ev.replyToken) : null), { timeoutMs: 15_000, what: `the reply to ${ev.webhookEventId}` });
    return r.messages.map((m) => m.text).join("");
  };
  let messageSeq = 0;
  const text = (userId, t) => lineEvent({ source: { type: "user", userId }, message: { type: "text", id: `mh${(messageSeq += 1)}`, text: t } });
  const sendDiscord = (raw, headers) => p.fetch("/webhooks/discord", { method: "POST", headers: headers ?? p.key.headers(raw), body: raw }, CHAT);
  async function discordAnswer(i) {
    const r = await sendDiscord(JSON.stringify(i));
    assert.equal(r.status, 200, await r.clone().text());
    return r.json();
  }
  const editOf = async (i) => {
    const [e] = await eventually(() => p.discord.edits.filter((x) => x.token === i.token).slice(0, 1).length ? p.discord.edits.filter((x) => x.token === i.token) : null, { timeoutMs: 10_000, what: "the follow-up edit" });
    return e.body.content;
  };
  const aiCalls = () => p.ai.providers.deepseek.calls;
  const callsWith = (content) => aiCalls().filter((c) => c.body.messages.at(-1).content === content).length;
  const member = (id) => ({ member: { user: { id, username: `u${id}` }, roles: [] } });

  beforeEach(() => {
    p.ai.providers.deepseek.mode = "ok";
    p.ai.providers.deepseek.answer = answerOf;
  });

  test("13.1 a personalised greeting is never served to another LINE user or on Discord", async () => {
    const A = user(101);
    const B = user(102);
    const C = user(103);
    // Customer A exists (follow) and has preferences.
    const follow = lineEvent({ type: "follow", source: { type: "user", userId: A } });
    delete follow.message;
    await deliver([follow]);
    await replyText(follow);
    const put = await p.fetch(`/admin/v1/customers/${A}/preferences`, {
      method: "PUT",
      headers: { authorization: `Bearer ${p.secret}`, "content-type": "application/json" },
      body: JSON.stringify({ preferences: ["diabetes care", "vitamin D"] }),
    }, CHAT);
    assert.equal(put.status, 200, await put.clone().text());

    const a = text(A, "hello");
    await deliver([a]);
    const aAnswer = await replyText(a);
    const aSystem = aiCalls().at(-1).body.messages[0].content;
    assert.match(aSystem, /diabetes care/);
    assert.equal(aAnswer, `sys:${sha(aSystem)} user:hello`);

    // B, with no preferences, says the same: the AI is asked with B's own prompt.
    const b = text(B, "hello");
    const before = aiCalls().length;
    await deliver([b]);
    const bAnswer = await replyText(b);
    assert.notEqual(bAnswer, aAnswer, "B must not get A's personalised answer");
    assert.equal(aiCalls().length, before + 1);
    assert.doesNotMatch(aiCalls().at(-1).body.messages[0].content, /diabetes|vitamin/);

    // A non-personalised answer is still shared on LINE: C gets B's answer from the cache.
    const c = text(C, "hello");
    await deliver([c]);
    assert.equal(await replyText(c), bAnswer);
    assert.equal(aiCalls().length, before + 1, "served from the cache");

    // Discord has its own namespace: `/ask hello` is asked anew, never A's (or LINE's) answer.
    const i = interaction(2, slash("ask", { question: "hello" }), member("444444444444444401"));
    assert.deepEqual(await discordAnswer(i), { type: 5 });
    const dAnswer = await editOf(i);
    assert.notEqual(dAnswer, aAnswer);
    assert.equal(aiCalls().length, before + 2, "the Discord answer is not LINE's cache entry");
  });

  test("13.5 a LINE webhook of 25 Thai texts of 5,000 characters is queued and every event answered exactly once", async () => {
    const filler = "ข้อความทดสอบภาษาไทย".repeat(400);
    const events = Array.from({ length: 25 }, (_, n) => {
      const t = `${String(n).padStart(2, "0")} ${filler}`.slice(0, 5000);
      return text(user(200 + n), t);
    });
    for (const e of events) assert.equal(e.message.text.length, 5000);
    const body = JSON.stringify({ destination: "U0000000000000000000000000000bot", events });
    assert.ok(Buffer.byteLength(body) > 256 * 1024, `${Buffer.byteLength(body)} bytes: more than one queue batch`);
    const r = await postLine(body, { "x-line-signature": lineSignature(p.chatVars.LINE_CHANNEL_SECRET, body) });
    assert.equal(r.status, 200, await r.clone().text());
    await eventually(() => events.every((e) => repliesTo(e.replyToken).length >= 1), { timeoutMs: 60_000, what: "all 25 replies" });
    await eventually(async () => {
      const { results } = await db.prepare(`SELECT COUNT(*) AS n FROM webhook_events WHERE status = 'done' AND id IN (${events.map(() => "?").join(",")})`).bind(...events.map((e) => e.webhookEventId)).all();
      return results[0].n === 25;
    }, { timeoutMs: 10_000, what: "all 25 events marked done" });
    for (const e of events) {
      assert.equal(repliesTo(e.replyToken).length, 1, `one reply to event ${e.message.text.slice(0, 2)}`);
      assert.equal(callsWith(e.message.text), 1, "one AI call per event");
    }
  });

  test("13 Discord de-dup: the same signed body and timestamp sent twice calls the AI once", async () => {
    const i = interaction(2, slash("ask", { question: "What is a bond, once?" }), member("444444444444444402"));
    const raw = JSON.stringify(i);
    const headers = p.key.headers(raw);
    const first = await sendDiscord(raw, headers);
    assert.deepEqual(await first.json(), { type: 5 });
    const replay = await sendDiscord(raw, headers);
    assert.equal(replay.status, 200);
    const answer = await replay.json();
    assert.equal(answer.type, 4);
    assert.equal(answer.data.flags, EPHEMERAL);
    assert.match(answer.data.content, /already handled/);
    // The replay started no deferred task: only the first interaction's could edit.
    assert.equal((await settledEdits(p.discord, i.token, { windowMs: 500 })).length, 1);
    assert.equal(callsWith("What is a bond, once?"), 1);
    // PING carries no work and is not claimed: Discord's checks may repeat it.
    const ping = JSON.stringify(interaction(1));
    const h = p.key.headers(ping);
    for (let n = 0; n < 2; n++) assert.deepEqual(await (await sendDiscord(ping, h)).json(), { type: 1 });
  });

  test("13 AI quota: the third paid /ask of a user does not reach the AI and is told so; others still answered", async () => {
    const Q = member("444444444444444403");
    for (const q of ["quota one", "quota two"]) {
      const i = interaction(2, slash("ask", { question: q }), Q);
      assert.deepEqual(await discordAnswer(i), { type: 5 });
      assert.match(await editOf(i), /^sys:/);
    }
    const third = interaction(2, slash("ask", { question: "quota three" }), Q);
    const refused = await discordAnswer(third);
    assert.equal(refused.type, 4);
    assert.equal(refused.data.flags, EPHEMERAL);
    assert.match(refused.data.content, /reached the limit/);
    assert.equal(callsWith("quota three"), 0, "the AI was not called");
    // Another user is unaffected.
    const other = interaction(2, slash("ask", { question: "quota other" }), member("444444444444444404"));
    assert.deepEqual(await discordAnswer(other), { type: 5 });
    assert.match(await editOf(other), /^sys:.*quota other/);
  });

  test("13 AI quota: cache hits are free; LINE over quota gets a polite reply in the user's language", async () => {
    // Discord: a cached greeting answers at once and does not count.
    const S = member("444444444444444405");
    const warm = interaction(2, slash("ask", { question: "hi there" }), S);
    assert.deepEqual(await discordAnswer(warm), { type: 5 });
    await editOf(warm);
    for (let n = 0; n < 3; n++) {
      const hit = await discordAnswer(interaction(2, slash("ask", { question: "hi there" }), S));
      assert.equal(hit.type, 4);
      assert.equal(hit.data.flags, undefined, "a cached answer is a normal message");
      assert.match(hit.data.content, /^sys:/);
    }
    assert.equal(callsWith("hi there"), 1);
    const paid = interaction(2, slash("ask", { question: "second paid call" }), S);
    assert.deepEqual(await discordAnswer(paid), { type: 5 }, "three cache hits used no quota");

    // LINE: a Thai customer's third paid message is answered politely in Thai, without the AI.
    const L = user(301);
    p.line.profiles.set(L, { displayName: "ลูกค้า", language: "th" });
    const msgs = ["คำถามที่หนึ่ง", "คำถามที่สอง", "คำถามที่สาม"];
    const answers = [];
    for (const m of msgs) {
      const e = text(L, m);
      await deliver([e]);
      answers.push(await replyText(e));
    }
    assert.match(answers[0], /^sys:/);
    assert.match(answers[1], /^sys:/);
    assert.match(answers[2], /^ขออภัยค่ะ/);
    assert.equal(callsWith("คำถามที่สาม"), 0);
  });
});
