// Issue 19, the web chat's tools end to end in workerd with the fake AI on loopback issuing
// OpenAI-compatible tool calls (streamed and not): a question answered from a seeded
// knowledge-base article (the answer cites its id; the tool activity is framed, stored in the
// answer's metadata and in the history), a tool that times out (D1 kept busy) reported to
// the model and the user while the conversation goes on, the model's tools never reaching
// another session's tickets, and a ticket opened through the tool visible in the admin API.
import { describe, test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { withPipeline } from "../harness/fixture.mjs";
import { CHAT } from "../harness/line.mjs";
import { ask, history, openSocket, post, session } from "../harness/webchat.mjs";
import { kbScript, ticketScript, toolScript } from "../harness/tools-ai.mjs";

const TIMEOUT_MS = 400;

describe("issue 19: web chat tools", { timeout: 300_000 }, () => {
  const p = withPipeline({
    chat: { vars: { CHAT_TOOL_TIMEOUT_MS: String(TIMEOUT_MS), CHAT_MESSAGES_PER_MINUTE: "30", CHAT_IP_MESSAGES_PER_MINUTE: "100" } },
  });
  const admin = (path, { method = "GET", body } = {}) =>
    p.fetch(
      `/admin/v1${path}`,
      {
        method,
        headers: { authorization: `Bearer ${p.secret}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      },
      CHAT,
    );

  beforeEach(() => {
    for (const [name, x] of Object.entries(p.ai.providers)) {
      Object.assign(x, {
        mode: "ok",
        failAfter: null,
        delayMs: 0,
        chunks: null,
        toolCalls: null,
        noStream: false,
        answer: (body) => `${name} says: ${body.messages.at(-1).content}`,
      });
    }
  });

  /** Seeds a published English article through the admin API. */
  async function seedArticle(id, title, body) {
    const r = await admin(`/articles/${id}`, { method: "PUT", body: { title, body, language: "en", published: true } });
    assert.ok(r.status === 200 || r.status === 201, `seeding ${id}: ${r.status} ${await r.text()}`);
  }

  test("a question is answered from a seeded article: the answer cites its id, the tool activity is framed and kept", async () => {
    await seedArticle("kb-refund-window", "Refund window", "Refunds are accepted within 30 days of delivery with the receipt.");
    Object.assign(p.ai.providers.deepseek, kbScript({ query: "refund" }));
    const s = await session(p);
    const c = openSocket(p, s);
    await c.opened();
    await c.next((f) => f.type === "history", "history");
    const { done, deltas } = await ask(c, "refund within how many days?");
    assert.equal(done.content, "Let me check our help articles.\n\nAccording to article [kb-refund-window]: Refund window.");
    assert.equal(deltas, done.content, "stored == shown, the text before the tool round included");
    const tools = c.frames.filter((f) => f.type === "tool");
    assert.deepEqual(
      tools.map((f) => [f.message_id, f.call_id, f.name, f.status, f.label]),
      [
        [done.id, "call_1", "search_knowledge_base", "started", "Searching the knowledge base…"],
        [done.id, "call_1", "search_knowledge_base", "ok", "Searching the knowledge base…"],
      ],
    );
    // Frames in order: the first text, the tool, then the answer's text.
    const kinds = c.frames.map((f) => f.type).filter((t) => t === "delta" || t === "tool");
    assert.equal(kinds.indexOf("tool") > 0 && kinds.lastIndexOf("tool") < kinds.lastIndexOf("delta"), true, kinds.join(","));
    const [rec] = done.metadata.tool_calls;
    assert.equal(rec.status, "ok");
    assert.equal(rec.round, 1);
    assert.match(rec.result, /kb-refund-window/);
    // The provider got the tools, then the round with the result.
    const calls = p.ai.providers.deepseek.calls.slice(-2).map((x) => x.body);
    assert.equal(calls[0].tool_choice, "auto");
    assert.deepEqual(calls[0].tools.map((t) => t.function.name), ["search_knowledge_base", "create_ticket", "get_ticket", "update_ticket"]);
    const toolMsg = calls[1].messages.at(-1);
    assert.equal(toolMsg.role, "tool");
    assert.equal(toolMsg.tool_call_id, "call_1");
    assert.equal(JSON.parse(toolMsg.content).hits[0].id, "kb-refund-window");
    // After a reload the history has the tool activity.
    const h = await history(p, s);
    assert.deepEqual(h.body.messages.at(-1).metadata.tool_calls.map((t) => [t.name, t.status]), [["search_knowledge_base", "ok"]]);
    c.close();
  });

  test("over SSE, a provider that answers tool calls without streaming works the same", async () => {
    await seedArticle("kb-shipping", "Shipping times", "Orders ship within 2 business days.");
    Object.assign(p.ai.providers.deepseek, kbScript({ before: "", query: "shipping" }));
    // The provider ignores `stream` and answers plain JSON completions.
    p.ai.providers.deepseek.noStream = true;
    const s = await session(p);
    const r = await post(p, s, "shipping times?");
    assert.equal(r.status, 200);
    const tool = r.events.filter((e) => e.event === "tool").map((e) => e.data.status);
    assert.deepEqual(tool, ["started", "ok"]);
    const done = r.events.at(-1).data.message;
    assert.equal(done.content, "According to article [kb-shipping]: Shipping times.");
  });

  test("a tool that times out is reported to the model and the user, and the conversation goes on", async () => {
    const db = await p.mf.getD1Database("DB", CHAT);
    let busy = null;
    const ai = p.ai.providers.deepseek;
    Object.assign(ai, kbScript({ before: "", query: "refund" }));
    const calls = ai.toolCalls;
    // When the model calls the tool, D1 is kept busy for well over the tool timeout.
    ai.toolCalls = (body) => {
      const c = calls(body);
      if (c && !busy) {
        busy = db
          .prepare("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 6000000) SELECT count(*) AS c FROM n")
          .first();
      }
      return c;
    };
    ai.delayMs = 50;
    const s = await session(p);
    const c = openSocket(p, s);
    await c.opened();
    await c.next((f) => f.type === "history", "history");
    const t0 = Date.now();
    const { done } = await ask(c, "refund policy?");
    await busy;
    const statuses = c.frames.filter((f) => f.type === "tool").map((f) => f.status);
    assert.deepEqual(statuses, ["started", "timed_out"]);
    assert.match(done.content, /^Sorry, I could not look that up right now \(the tool did not answer within 400 ms/);
    assert.equal(done.metadata.tool_calls[0].status, "timed_out");
    assert.ok(Date.now() - t0 >= TIMEOUT_MS);
    // The conversation goes on: the next question is answered (and the tool works again).
    Object.assign(ai, { toolCalls: null, delayMs: 0, answer: (b) => `deepseek says: ${b.messages.at(-1).content}` });
    const next = await ask(c, "thanks, anything else?");
    assert.equal(next.done.content, "deepseek says: thanks, anything else?");
    c.close();
  });

  test("the model cannot name a session, and a ticket of another session is not found", async () => {
    const mine = await session(p);
    Object.assign(
      p.ai.providers.deepseek,
      ticketScript({ subject: "Cracked kettle", description: "It arrived cracked.", contact: "ann@example.com", priority: "high" }),
    );
    const r = await post(p, mine, "my kettle arrived cracked, please help");
    const done = r.events.at(-1).data.message;
    const id = /ticket (t_[0-9a-f]{24})/.exec(done.content)?.[1];
    assert.ok(id, done.content);
    // Listed by the admin API, owned by this session.
    const listed = await admin(`/tickets/${id}`);
    assert.equal(listed.status, 200);
    const ticket = await listed.json();
    assert.equal((ticket.ticket ?? ticket).session_id, mine.id);
    // Another session's model asks for it: not found; naming a session is refused.
    const other = await session(p);
    Object.assign(
      p.ai.providers.deepseek,
      toolScript({
        call: () => ({ name: "get_ticket", arguments: { ticket_id: id, session_id: mine.id } }),
        after: (res) => `result: ${JSON.stringify(res)}`,
      }),
    );
    const first = (await post(p, other, "show me that ticket")).events.at(-1).data.message;
    assert.match(first.content, /unknown argument \\"session_id\\"/);
    Object.assign(
      p.ai.providers.deepseek,
      toolScript({ call: () => ({ name: "get_ticket", arguments: { ticket_id: id } }), after: (res) => `result: ${JSON.stringify(res)}` }),
    );
    const second = (await post(p, other, "show me that ticket")).events.at(-1).data.message;
    assert.match(second.content, /no ticket with that id in this conversation/);
    assert.equal(second.metadata.tool_calls[0].status, "failed");
  });
});
