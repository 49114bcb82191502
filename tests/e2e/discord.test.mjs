// chat-webhook's Discord bot end to end in workerd: interactions signed with a test
// application key, a fake Discord API and market API, and the fake AI providers.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { withPipeline } from "../harness/fixture.mjs";
import { assertJsonError } from "../harness/assert.mjs";
import { ROOT } from "../harness/config.mjs";
import { CHAT } from "../harness/line.mjs";
import { discordKey, interaction, settledEdits, slash } from "../harness/discord.mjs";

const ADMIN_USER = "444444444444444444";
const ADMIN_ROLE = "555555555555555555";
const COMMANDS = JSON.parse(readFileSync(path.join(ROOT, "crates/edge-core/src/chat/discord/commands.json"), "utf8"));

describe("chat-webhook: Discord", { timeout: 120_000 }, () => {
  const p = withPipeline({
    chat: {
      discord: true,
      vars: { DISCORD_ADMIN_USER_IDS: ADMIN_USER, DISCORD_ADMIN_ROLE_IDS: ADMIN_ROLE, DISCORD_TICKERS: "AAPL,AMZN,AMD,MSFT,NVDA" },
    },
  });

  /** Sends `body` (an object or raw text) signed by the application key. */
  async function send(body, { headers, ts } = {}) {
    const raw = typeof body === "string" ? body : JSON.stringify(body);
    return p.fetch("/webhooks/discord", { method: "POST", headers: headers ?? p.key.headers(raw, ts), body: raw }, CHAT);
  }
  /** Sends and returns the parsed 200 answer. */
  async function answer(body) {
    const r = await send(body);
    assert.equal(r.status, 200, await r.clone().text());
    return r.json();
  }
  async function oneEdit(i) {
    const edits = await settledEdits(p.discord, i.token, { windowMs: 300 });
    assert.equal(edits.length, 1, "exactly one follow-up edit");
    const [e] = edits;
    assert.equal(e.applicationId, i.application_id);
    assert.deepEqual(e.body.allowed_mentions, { parse: [] });
    return e.body;
  }

  test("PING gets PONG", async () => {
    assert.deepEqual(await answer(interaction(1)), { type: 1 });
  });

  test("forged, missing and replayed signatures are refused before parsing", async () => {
    const body = JSON.stringify(interaction(1));
    const forged = discordKey().headers(body);
    await assertJsonError(await send(body, { headers: forged }), 401, "invalid_signature");
    const tampered = p.key.headers(body);
    await assertJsonError(await send(body.replace('"type":1', '"type":2'), { headers: tampered }), 401, "invalid_signature");
    await assertJsonError(await send(body, { headers: { "content-type": "application/json" } }), 401, "missing_signature");
    await assertJsonError(await send(body, { headers: { ...p.key.headers(body), "x-signature-ed25519": "zz" } }), 401, "malformed_signature");
    // A correctly signed request from six minutes ago is a replay.
    const old = Math.floor(Date.now() / 1000) - 360;
    await assertJsonError(await send(body, { ts: old }), 401, "stale_signature");
  });

  test("/ask answers deferred, then exactly one edit with the AI's answer, pinging nobody", async () => {
    const i = interaction(2, slash("ask", { question: "What is a bond? @everyone <@123>" }));
    assert.deepEqual(await answer(i), { type: 5 });
    const edit = await oneEdit(i);
    assert.match(edit.content, /^deepseek says: What is a bond\?/);
    assert.ok(!edit.content.includes("@everyone") && !edit.content.includes("<@123>"), edit.content);
    assert.equal(p.ai.providers.deepseek.calls.at(-1).body.messages.at(-1).content, "What is a bond? @everyone <@123>");
  });

  test("/research: a long analysis edited in; without a topic, a modal whose submit does the same", async () => {
    p.ai.providers.deepseek.answer = () => "analysis ".repeat(400); // 3600 characters
    try {
      const i = interaction(2, slash("research", { topic: "solar power in Thailand" }));
      assert.deepEqual(await answer(i), { type: 5 });
      const edit = await oneEdit(i);
      assert.equal([...edit.content].length, 2000, "cut to Discord's limit");
      assert.ok(edit.content.endsWith("…"));
      assert.match(p.ai.providers.deepseek.calls.at(-1).body.messages[0].content, /structured analysis/);
      const modal = await answer(interaction(2, slash("research")));
      assert.equal(modal.type, 9);
      assert.equal(modal.data.custom_id, "research_modal");
      const submit = interaction(5, { custom_id: "research_modal", components: [{ type: 1, components: [{ type: 4, custom_id: "topic", value: "rice exports" }] }] });
      assert.deepEqual(await answer(submit), { type: 5 });
      await oneEdit(submit);
      assert.equal(p.ai.providers.deepseek.calls.at(-1).body.messages.at(-1).content, "rice exports");
    } finally {
      p.ai.providers.deepseek.answer = (body) => `deepseek says: ${body.messages.at(-1).content}`;
    }
  });

  test("/check shows the quote with chart buttons; a button edits in that range; /compare both", async () => {
    const i = interaction(2, slash("check", { ticker: "aapl" }));
    assert.deepEqual(await answer(i), { type: 5 });
    const edit = await oneEdit(i);
    assert.equal(edit.content, "AAPL 189.12 USD (+1.23 %)");
    const buttons = edit.components[0].components;
    assert.deepEqual(buttons.map((b) => b.custom_id), ["chart:AAPL:1d", "chart:AAPL:1w", "chart:AAPL:1m", "chart:AAPL:1y"]);

    const press = interaction(3, { custom_id: "chart:AAPL:1w", component_type: 2 });
    assert.deepEqual(await answer(press), { type: 6 });
    const chart = await oneEdit(press);
    assert.equal(chart.content, "AAPL over 1W: low 180.00, high 190.00, last 189.12 (+5.07 %)");
    assert.equal(chart.components[0].components[1].disabled, true);

    const cmp = interaction(2, slash("compare", { first: "AAPL", second: "MSFT" }));
    assert.deepEqual(await answer(cmp), { type: 5 });
    assert.equal((await oneEdit(cmp)).content, "AAPL 189.12 USD (+1.23 %)\nMSFT 410.50 USD (-0.42 %)\nAAPL leads today by 1.65 points.");

    const unknown = interaction(2, slash("check", { ticker: "ZZZZ" }));
    await answer(unknown);
    assert.equal((await oneEdit(unknown)).content, "I couldn't find that ticker.");
  });

  test("/admin only for configured users or roles, with working admin buttons", async () => {
    const nobody = await answer(interaction(2, slash("admin", { action: "status" })));
    assert.equal(nobody.type, 4);
    assert.equal(nobody.data.flags, 64);
    assert.match(nobody.data.content, /Only the bot's admins/);
    const byUser = await answer(interaction(2, slash("admin", { action: "status" }), { member: { user: { id: ADMIN_USER }, roles: [] } }));
    assert.match(byUser.data.content, /AI providers \(this isolate\): deepseek: closed, openrouter: closed/);
    assert.deepEqual(byUser.data.components[0].components.map((b) => b.custom_id), ["admin:status", "admin:reset-breakers"]);
    const byRole = await answer(interaction(3, { custom_id: "admin:reset-breakers", component_type: 2 }, { member: { user: { id: "1" }, roles: [ADMIN_ROLE] } }));
    assert.equal(byRole.type, 7);
    assert.match(byRole.data.content, /^Breakers reset\./);
    const pressByNobody = await answer(interaction(3, { custom_id: "admin:reset-breakers", component_type: 2 }));
    assert.match(pressByNobody.data.content, /Only the bot's admins/);
  });

  test("autocomplete offers matching tickers", async () => {
    const r = await answer(interaction(4, { name: "check", type: 1, options: [{ name: "ticker", type: 3, value: "am", focused: true }] }));
    assert.deepEqual(r, { type: 8, data: { choices: [{ name: "AMZN", value: "AMZN" }, { name: "AMD", value: "AMD" }] } });
  });

  test("unknown commands, bad options, forged buttons and malformed payloads get ephemeral errors, never a 500", async () => {
    const cases = [
      [interaction(2, slash("deploy")), /don't know that command/],
      [interaction(2, slash("check", { ticker: "<@&1>" })), /option `ticker`/],
      [interaction(2, slash("ask")), /option `question`/],
      [interaction(3, { custom_id: "chart:AAPL:10y", component_type: 2 }), /button is not valid/],
      [interaction(3, { custom_id: "admin:drop-tables", component_type: 2 }), /button is not valid/],
      [interaction(5, { custom_id: "other_modal", components: [] }), /form could not be read/],
      [interaction(7, {}), /not supported/],
      ['{"type": 2, "token": "x"}', /could not be read/],
      ["not json at all", /could not be read/],
    ];
    for (const [body, message] of cases) {
      const r = await answer(body);
      assert.equal(r.type, 4);
      assert.equal(r.data.flags, 64, JSON.stringify(body));
      assert.match(r.data.content, message);
      assert.deepEqual(r.data.allowed_mentions, { parse: [] });
    }
  });

  test("scripts/discord-commands registers exactly commands.json", async () => {
    const run = promisify(execFile);
    const env = { ...process.env, DISCORD_APPLICATION_ID: "111111111111111111", DISCORD_BOT_TOKEN: "bot-token-test", DISCORD_API_BASE_URL: p.discord.api };
    const { stdout } = await run(path.join(ROOT, "scripts/discord-commands"), [], { env, cwd: ROOT });
    assert.match(stdout, /registered 5 global commands/);
    const [reg] = p.discord.registrations;
    assert.equal(reg.authorization, "Bot bot-token-test");
    assert.equal(reg.guildId, null);
    assert.deepEqual(reg.body, COMMANDS);
    await run(path.join(ROOT, "scripts/discord-commands"), [], { env: { ...env, DISCORD_GUILD_ID: "222222222222222222" }, cwd: ROOT });
    assert.equal(p.discord.registrations[1].guildId, "222222222222222222");
    const dry = await run(path.join(ROOT, "scripts/discord-commands"), ["--dry-run"], { env: { ...process.env }, cwd: ROOT });
    assert.deepEqual(JSON.parse(dry.stdout), COMMANDS);
  });
});
