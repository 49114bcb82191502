// Issue 19, escalation to a person, end to end in workerd: the D1 ledger and the
// chat-escalations queue (consumer, retries, dead-letter queue) of chat-webhook, delivering
// to a fake JSON webhook and a fake Discord channel webhook on loopback; the cron sweeper;
// and a web chat customer asking for a person.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { withPipeline } from "../harness/fixture.mjs";
import { eventually } from "../harness/wait.mjs";
import { CHAT } from "../harness/line.mjs";
import { readWranglerConfig } from "../harness/config.mjs";
import { post, session } from "../harness/webchat.mjs";
import {
  DISCORD_PATH,
  HOOK_PATH,
  escalateDirect,
  escalationOf,
  ledgerRow,
  signatureValid,
  webhookFake,
} from "../harness/escalation.mjs";

const SECRET = "e2e-escalation-signing-secret";
const hooks = webhookFake();
/** Queue retries: chat-escalations' max_retries in the wrangler config. */
const { config } = readWranglerConfig(CHAT);
const MAX_RETRIES = config.queues.consumers.find((c) => c.queue === "chat-escalations").max_retries;

let n = 0;
/** A fresh ticket id per test (so plans and counts never mix). */
const ticket = () => `t_e2e_${process.pid}_${++n}`;

/** Waits for the ledger row of `key` to reach `status`; returns it. */
const rowReaches = (p, key, status, timeoutMs = 30_000) =>
  eventually(
    async () => {
      const row = await ledgerRow(p, key);
      return row?.status === status && row;
    },
    { timeoutMs, intervalMs: 100, what: `${key} ${status}` },
  );

describe("issue 19: escalation", { timeout: 300_000 }, () => {
  const p = withPipeline({
    chat: {},
    upstreams: { hooks: hooks.handler },
    vars: (h) => ({
      [CHAT]: {
        ESCALATION_WEBHOOK_URL: `${h.hooks.url}${HOOK_PATH}`,
        ESCALATION_WEBHOOK_SECRET: SECRET,
        ESCALATION_DISCORD_WEBHOOK_URL: `${h.hooks.url}${DISCORD_PATH}`,
        ESCALATION_RETRY_BASE_S: "0",
        ESCALATION_SWEEP_AFTER_S: "2",
        ESCALATION_TIMEOUT_MS: "2000",
      },
    }),
  });

  test("a webhook failing twice gets exactly one notification; the other webhook exactly one too", async () => {
    const id = ticket();
    hooks.fail(id, 2, [HOOK_PATH]);
    const e = escalationOf(id);
    await escalateDirect(p, e);
    const row = await rowReaches(p, e.key, "delivered");
    assert.equal(row.attempts, 3, "two failed attempts, then one that delivered");
    assert.deepEqual(JSON.parse(row.delivered_to).sort(), ["discord", "webhook"]);
    assert.equal(hooks.tries(HOOK_PATH, id).length, 3);
    assert.equal(hooks.delivered(HOOK_PATH, id).length, 1);
    assert.equal(hooks.tries(DISCORD_PATH, id).length, 1, "Discord had it at the first attempt: never sent again");
    // A redelivery of the delivered key (and escalating it again) sends nothing.
    await escalateDirect(p, e);
    await (await p.mf.getQueueProducer("CHAT_ESCALATIONS", CHAT)).send(e);
    // A marker queued after them is delivered once they were consumed.
    const marker = escalationOf(ticket());
    await escalateDirect(p, marker);
    await rowReaches(p, marker.key, "delivered");
    assert.equal(hooks.tries(HOOK_PATH, id).length, 3);
    assert.equal(hooks.tries(DISCORD_PATH, id).length, 1);
  });

  test("the JSON webhook gets the Idempotency-Key and a valid signature; Discord a plain message that mentions nobody", async () => {
    const id = ticket();
    const e = escalationOf(id, { reason: "human_requested", subject: "**Help** [me](http://x) <@123> @everyone" });
    await escalateDirect(p, e);
    await rowReaches(p, e.key, "delivered");
    const [generic] = hooks.delivered(HOOK_PATH, id).map((a) => a.req);
    assert.equal(generic.method, "POST");
    assert.equal(generic.headers["idempotency-key"], e.key);
    assert.match(generic.headers["content-type"], /^application\/json/);
    assert.ok(signatureValid(SECRET, generic.headers["x-escalation-signature"], generic.body), "signed over the raw body");
    assert.ok(!signatureValid("another secret", generic.headers["x-escalation-signature"], generic.body));
    const body = JSON.parse(generic.body);
    assert.deepEqual(
      { type: body.type, key: body.key, reason: body.reason, ticket_id: body.ticket_id, priority: body.priority, contact: body.contact },
      { type: "escalation", key: e.key, reason: "human_requested", ticket_id: id, priority: "high", contact: "ann@example.com" },
    );
    const [discord] = hooks.delivered(DISCORD_PATH, id).map((a) => a.req);
    assert.equal(discord.query, "?wait=true");
    assert.equal(discord.headers["idempotency-key"], undefined);
    assert.equal(discord.headers["x-escalation-signature"], undefined);
    const d = JSON.parse(discord.body);
    assert.deepEqual(Object.keys(d).sort(), ["allowed_mentions", "content"]);
    assert.deepEqual(d.allowed_mentions, { parse: [] });
    assert.ok(d.content.length <= 2000);
    assert.match(d.content, /A customer asked for a person/);
    assert.ok(d.content.includes(id));
    assert.ok(d.content.includes("\\*\\*Help\\*\\* \\[me\\]\\(http://x\\) \\<\\@123\\> \\@everyone"), d.content);
    // The Discord URL (its token) is never logged.
    assert.ok(!p.logs.some((l) => l.includes("discord-token-secret")));
  });

  test(`a webhook that never answers 2xx: ${MAX_RETRIES} retries, then the dead-letter queue marks the row dead`, async () => {
    const id = ticket();
    hooks.fail(id, Infinity, [HOOK_PATH]);
    const e = escalationOf(id);
    const since = p.logs.length;
    await escalateDirect(p, e);
    const row = await rowReaches(p, e.key, "dead", 60_000);
    assert.equal(hooks.tries(HOOK_PATH, id).length, MAX_RETRIES + 1);
    assert.equal(hooks.tries(DISCORD_PATH, id).length, 1, "Discord had it: never sent again");
    assert.deepEqual(JSON.parse(row.delivered_to), ["discord"]);
    assert.match(row.last_error, /webhook: status 500/);
    await p.logged(new RegExp(`escalation ${e.key}: undelivered after every retry; marked dead`), since);
  });

  test("the sweeper queues a row left pending (its queue send failed) and it is delivered once", async () => {
    const id = ticket();
    const e = escalationOf(id);
    await escalateDirect(p, e, { queue: false, updatedAt: Date.now() - 60_000 });
    const fresh = escalationOf(ticket());
    await escalateDirect(p, fresh, { queue: false });
    const worker = await p.mf.getWorker(CHAT);
    await worker.scheduled({ cron: "*/5 * * * *" });
    await rowReaches(p, e.key, "delivered");
    assert.equal(hooks.delivered(HOOK_PATH, id).length, 1);
    assert.equal(hooks.delivered(DISCORD_PATH, id).length, 1);
    assert.equal((await ledgerRow(p, fresh.key)).status, "pending", "younger than the sweep age: left");
    // A second sweep: the delivered row is not sent again; the other one, aged past the
    // sweep age, is.
    const db = await p.mf.getD1Database("DB", CHAT);
    await db.prepare("UPDATE escalations SET updated_at = ?1 WHERE key = ?2").bind(Date.now() - 60_000, fresh.key).run();
    await worker.scheduled({ cron: "*/5 * * * *" });
    await rowReaches(p, fresh.key, "delivered");
    assert.equal(hooks.tries(HOOK_PATH, id).length, 1);
  });

  test("a message that is no escalation is dropped, and a row erased meanwhile is not delivered", async () => {
    const since = p.logs.length;
    await (await p.mf.getQueueProducer("CHAT_ESCALATIONS", CHAT)).send({ hello: "world" });
    await p.logged(/chat-escalations: a message that is no escalation; dropped/, since);
    const id = ticket();
    await (await p.mf.getQueueProducer("CHAT_ESCALATIONS", CHAT)).send(escalationOf(id));
    const marker = escalationOf(ticket());
    await escalateDirect(p, marker);
    await rowReaches(p, marker.key, "delivered");
    assert.equal(hooks.tries(HOOK_PATH, id).length, 0, "no ledger row: nothing delivered");
  });

  test("a web chat customer asking for a person: one ticket, one notification, told plainly; asking again reuses it", async () => {
    const s = await session(p);
    const first = await post(p, s, "I want to talk to a human please");
    assert.equal(first.status, 200);
    const done = first.events.find((e) => e.event === "done").data.message;
    const id = /ticket (t_[0-9a-f]{24})/.exec(done.content)?.[1];
    assert.ok(id, done.content);
    const db = await p.mf.getD1Database("DB", CHAT);
    const opened = await db.prepare("SELECT t.session_id, t.subject, t.priority, e.actor FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id WHERE t.id = ?1").bind(id).first();
    assert.deepEqual(opened, { session_id: s.id, subject: "Customer asked for a person", priority: "high", actor: "system" });
    assert.ok(done.content.startsWith("I've passed your request to our support team"), done.content);
    const deltas = first.events.filter((e) => e.event === "delta").map((e) => e.data.text).join("");
    assert.equal(deltas, done.content, "the notice streamed first, stored with the answer");
    const row = await rowReaches(p, `ticket:${id}`, "delivered");
    assert.equal(row.session_id, s.id);
    assert.equal(hooks.delivered(HOOK_PATH, id).length, 1);
    assert.equal(JSON.parse(hooks.delivered(HOOK_PATH, id)[0].req.body).reason, "human_requested");
    const again = await post(p, s, "ขอคุยกับเจ้าหน้าที่ครับ");
    const second = again.events.find((e) => e.event === "done").data.message;
    assert.ok(second.content.startsWith(`เรื่องของคุณอยู่กับทีมงานแล้ว (ตั๋ว ${id})`), second.content);
    const count = await db.prepare("SELECT COUNT(*) AS n FROM tickets WHERE session_id = ?1").bind(s.id).first();
    assert.equal(count.n, 1, "one open ticket per session");
    const marker = escalationOf(ticket());
    await escalateDirect(p, marker);
    await rowReaches(p, marker.key, "delivered");
    assert.equal(hooks.tries(HOOK_PATH, id).length, 1, "one notification per ticket");
    const plain = await post(p, s, "What does shipping cost?");
    assert.ok(!plain.events.find((e) => e.event === "done").data.message.content.includes("support team"));
  });

  test("every environment binds the escalation queue, its consumer and dead-letter consumer, and the cron", () => {
    for (const [name, section, suffix] of [
      ["local", config, ""],
      ["staging", config.env.staging, "-staging"],
      ["production", config.env.production, "-production"],
    ]) {
      const q = section.queues;
      assert.ok(q.producers.some((x) => x.binding === "CHAT_ESCALATIONS" && x.queue === `chat-escalations${suffix}`), name);
      const consumer = q.consumers.find((c) => c.queue === `chat-escalations${suffix}`);
      assert.equal(consumer?.dead_letter_queue, `chat-escalations${suffix}-dlq`, name);
      assert.ok(q.consumers.some((c) => c.queue === `chat-escalations${suffix}-dlq`), name);
      assert.ok((section.triggers ?? config.triggers).crons.length > 0, name);
    }
  });
});
