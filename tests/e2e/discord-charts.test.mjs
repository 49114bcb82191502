// chat-webhook's Discord charts end to end in workerd: `/check` and the chart buttons edit
// the deferred response with a PNG rendered in the worker, sent as Discord's multipart form
// (`payload_json` + `files[0]`); a 429 on the edit is retried once after `retry_after`; every
// call to Discord carries `User-Agent: DiscordBot (<url>, <version>)`.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { PNG } from "pngjs";
import { withPipeline } from "../harness/fixture.mjs";
import { eventually } from "../harness/wait.mjs";
import { ROOT } from "../harness/config.mjs";
import { CHAT } from "../harness/line.mjs";
import { interaction, settledEdits, slash } from "../harness/discord.mjs";

// The chart's geometry (edge_core::chat::chart::{WIDTH, HEIGHT, PLOT}).
const WIDTH = 800;
const HEIGHT = 400;
const PLOT = { x0: 20, y0: 56, x1: 700, y1: 356 };
const USER_AGENT = /^DiscordBot \((https?:\/\/[^\s,()]+), (\d+\.\d+\.\d+)\)$/;
const ARTIFACTS = path.join(ROOT, "tests/artifacts");

/** Decodes a chart PNG and checks what every chart must be; returns the decoded image. */
function checkChart(file) {
  assert.equal(file.name, "files[0]");
  assert.equal(file.filename, "chart.png");
  assert.equal(file.contentType, "image/png");
  assert.ok(file.data.length <= 60 * 1024, `${file.data.length} bytes`);
  const png = PNG.sync.read(file.data);
  assert.equal(png.width, WIDTH);
  assert.equal(png.height, HEIGHT);
  const at = (x, y) => [...png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 4)];
  const bg = at(5, 5);
  assert.equal(bg[3], 255, "opaque");
  let inked = 0;
  for (let y = PLOT.y0; y < PLOT.y1; y++) {
    for (let x = PLOT.x0; x < PLOT.x1; x++) {
      const p = at(x, y);
      if (p[0] !== bg[0] || p[1] !== bg[1] || p[2] !== bg[2]) inked += 1;
    }
  }
  const area = (PLOT.x1 - PLOT.x0) * (PLOT.y1 - PLOT.y0);
  assert.ok(inked > area / 20, `plot area has ink: ${inked} of ${area} pixels`);
  return { png, bg };
}

/** The message JSON of an edit says what Discord needs to show files[0] in an embed. */
function checkPayload(body, title) {
  assert.deepEqual(body.attachments, [{ id: 0, filename: "chart.png", description: body.attachments[0].description }]);
  assert.match(body.attachments[0].description, new RegExp(title));
  assert.equal(body.embeds.length, 1);
  assert.equal(body.embeds[0].image.url, "attachment://chart.png");
  assert.match(body.embeds[0].title, new RegExp(title));
  assert.deepEqual(body.allowed_mentions, { parse: [] });
}

function setup(extraVars = {}) {
  const ctx = {};
  ctx.p = withPipeline({ chat: { discord: true, vars: { DISCORD_TICKERS: "AAPL,MSFT", ...extraVars } } });
  /** Sends an interaction signed by the application key; returns the parsed 200 answer. */
  ctx.answer = async (body) => {
    const raw = JSON.stringify(body);
    const r = await ctx.p.fetch("/webhooks/discord", { method: "POST", headers: ctx.p.key.headers(raw), body: raw }, CHAT);
    assert.equal(r.status, 200, await r.clone().text());
    return r.json();
  };
  /** The one successful edit of `i`'s original response. */
  ctx.oneEdit = async (i) => {
    const edits = await settledEdits(ctx.p.discord, i.token, { timeoutMs: 15_000, windowMs: 200 });
    assert.equal(edits.length, 1, "exactly one applied edit");
    return edits[0];
  };
  return ctx;
}

describe("chat-webhook: Discord charts", { timeout: 120_000 }, () => {
  const ctx = setup();
  let checkPng;

  test("/check: the follow-up edit is Discord's multipart form with a valid PNG chart in an embed", async () => {
    const i = interaction(2, slash("check", { ticker: "aapl" }));
    assert.deepEqual(await ctx.answer(i), { type: 5 });
    const e = await ctx.oneEdit(i);
    assert.match(e.contentType, /^multipart\/form-data; boundary=/);
    assert.equal(e.body.content, "AAPL 189.12 USD (+1.23 %)");
    assert.deepEqual(e.body.components[0].components.map((b) => b.custom_id), ["chart:AAPL:1d", "chart:AAPL:1w", "chart:AAPL:1m", "chart:AAPL:1y"]);
    checkPayload(e.body, "AAPL");
    assert.equal(e.files.length, 1, "one file part besides payload_json");
    const { bg } = checkChart(e.files[0]);
    // Dark by default: a dark card, readable on either Discord theme because it is opaque.
    assert.ok(bg[0] < 64 && bg[1] < 64 && bg[2] < 64, `dark background ${bg}`);
    checkPng = e.files[0].data;
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(path.join(ARTIFACTS, "discord-chart.png"), checkPng);
  });

  test("chart buttons (1W, 1Y) re-render: each edit carries a different chart of that range", async () => {
    const seen = [checkPng];
    for (const range of ["1w", "1y"]) {
      const press = interaction(3, { custom_id: `chart:AAPL:${range}`, component_type: 2 });
      assert.deepEqual(await ctx.answer(press), { type: 6 });
      const e = await ctx.oneEdit(press);
      assert.match(e.contentType, /^multipart\/form-data/);
      assert.match(e.body.content, new RegExp(`^AAPL over ${range.toUpperCase()}: `));
      checkPayload(e.body, `AAPL ${range.toUpperCase()}`);
      const current = e.body.components[0].components.find((b) => b.disabled);
      assert.equal(current.custom_id, `chart:AAPL:${range}`);
      checkChart(e.files[0]);
      for (const earlier of seen) assert.ok(!earlier.equals(e.files[0].data), "a different chart");
      seen.push(e.files[0].data);
    }
  });

  test("a 429 on the follow-up edit is retried once after retry_after, and succeeds", async () => {
    const i = interaction(2, slash("check", { ticker: "MSFT" }));
    ctx.p.discord.rateLimit(i.token, 1.2);
    assert.deepEqual(await ctx.answer(i), { type: 5 });
    const e = await ctx.oneEdit(i);
    const tries = ctx.p.discord.attempts.filter((a) => a.token === i.token);
    assert.equal(tries.length, 2, "the refused edit and one retry");
    assert.ok(tries[1].at - tries[0].at >= 1_150, `waited ${tries[1].at - tries[0].at} ms`);
    assert.equal(e.body.content, "MSFT 410.50 USD (-0.42 %)");
    checkChart(e.files[0]);
  });

  test("a 429 asking for longer than the bot waits is not retried", async () => {
    const i = interaction(2, slash("check", { ticker: "AAPL" }));
    ctx.p.discord.rateLimit(i.token, 30);
    const since = ctx.p.logs.length;
    assert.deepEqual(await ctx.answer(i), { type: 5 });
    await eventually(() => ctx.p.discord.attempts.some((a) => a.token === i.token), { timeoutMs: 15_000, what: "the edit attempt" });
    // The deferred task's last act: it logs that it gives up on the 429 instead of retrying.
    await ctx.p.logged(/discord edit: status 429, not retried/, since);
    assert.equal(ctx.p.discord.attempts.filter((a) => a.token === i.token).length, 1, "no retry");
    assert.equal(ctx.p.discord.edits.filter((e) => e.token === i.token).length, 0);
  });

  test("every call to Discord carries User-Agent: DiscordBot (<url>, <version>)", async () => {
    assert.ok(ctx.p.discord.attempts.length >= 5);
    for (const a of ctx.p.discord.attempts) assert.match(a.userAgent ?? "", USER_AGENT);
  });
});

describe("chat-webhook: Discord charts, light theme", { timeout: 120_000 }, () => {
  const ctx = setup({ DISCORD_CHART_THEME: "light", DISCORD_BOT_URL: "https://bot.example.com/about" });

  test("DISCORD_CHART_THEME=light draws a light card; DISCORD_BOT_URL is the User-Agent's url", async () => {
    const i = interaction(2, slash("check", { ticker: "AAPL" }));
    assert.deepEqual(await ctx.answer(i), { type: 5 });
    const e = await ctx.oneEdit(i);
    const { bg } = checkChart(e.files[0]);
    assert.ok(bg[0] > 200 && bg[1] > 200 && bg[2] > 200, `light background ${bg}`);
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(path.join(ARTIFACTS, "discord-chart-light.png"), e.files[0].data);
    assert.equal(e.userAgent.match(USER_AGENT)?.[1], "https://bot.example.com/about");
  });
});
