// Issue 19, the tool activity in the web chat page, in headless Chromium: while the model's
// tool runs the answer shows "Searching the knowledge base…", then that it is done (or that it
// failed), above the answer that cites the article; after a reload the history shows the same
// activity (from the stored metadata); everything is text, never markup. Screenshots in
// tests/artifacts/.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { withPipeline } from "../harness/fixture.mjs";
import { CHAT } from "../harness/line.mjs";
import { artifact, launchBrowser } from "../harness/browser.mjs";
import { kbScript } from "../harness/tools-ai.mjs";

describe("chat page: tool activity in headless Chromium", { timeout: 240_000 }, () => {
  const p = withPipeline({
    chat: {},
    workerExtras: { [CHAT]: { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } },
  });
  let base, browser;

  before(async () => {
    base = new URL(await p.mf.unsafeGetDirectURL(CHAT));
    browser = await launchBrowser();
    p.onClose(() => browser.close());
    const r = await p.fetch(
      "/admin/v1/articles/kb-opening-hours",
      {
        method: "PUT",
        headers: { authorization: `Bearer ${p.secret}`, "content-type": "application/json" },
        body: JSON.stringify({ title: "Opening hours", body: "We are open from nine to six, Monday to Saturday.", language: "en", published: true }),
      },
      CHAT,
    );
    assert.ok(r.status === 200 || r.status === 201, `seeded: ${r.status}`);
  });

  async function open() {
    const page = await browser.newPage();
    await page.setViewport({ width: 900, height: 800 });
    const problems = [];
    page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    page.on("pageerror", (e) => problems.push(String(e)));
    await page.goto(new URL("/chat", base).href);
    await page.waitForSelector("body[data-state=online]");
    return { page, problems };
  }

  const toolLines = (page) =>
    page.$$eval("#messages .msg.assistant .tools li", (ls) => ls.map((l) => [l.dataset.status, l.textContent]));

  test("searching the knowledge base is shown while it runs, then done, and again after a reload", async () => {
    // The model's stream is slow (200 ms a piece) so the running tool can be seen.
    Object.assign(p.ai.providers.deepseek, kbScript({ before: "Let me look that up.", query: "opening hours" }), { delayMs: 200, chunkChars: 6 });
    const { page, problems } = await open();
    await page.evaluate(() => {
      window.__seen = [];
      new MutationObserver(() => {
        for (const l of document.querySelectorAll("#messages .tools li")) window.__seen.push(`${l.dataset.status}|${l.textContent}`);
      }).observe(document.getElementById("messages"), { subtree: true, childList: true, characterData: true, attributes: true });
    });
    await page.type("#input", "opening hours");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#messages .tools li[data-status=started]", { timeout: 30_000 });
    await page.screenshot({ path: artifact("chat-page-tool-running.png") });
    await page.waitForFunction(() => document.querySelector("#messages .msg.assistant:not([aria-busy])"), { timeout: 30_000 });
    const seen = await page.evaluate(() => window.__seen);
    assert.ok(seen.includes("started|Searching the knowledge base…"), JSON.stringify(seen));
    assert.deepEqual(await toolLines(page), [["ok", "Searching the knowledge base — done"]]);
    const answer = await page.$eval("#messages .msg.assistant .text", (e) => e.textContent);
    assert.equal(answer, "Let me look that up.\n\nAccording to article [kb-opening-hours]: Opening hours.");
    await page.screenshot({ path: artifact("chat-page-tool-done.png") });

    await page.reload();
    await page.waitForSelector("body[data-state=online]");
    await page.waitForSelector("#messages .msg.assistant .tools li");
    assert.deepEqual(await toolLines(page), [["ok", "Searching the knowledge base — done"]], "from the stored metadata");
    assert.deepEqual(problems, []);
    await page.close();
  });

  test("a failed tool is shown as failed, as text", async () => {
    // A search the store refuses (an unknown argument): the tool fails, the model says so.
    Object.assign(p.ai.providers.deepseek, kbScript({ before: "" }), { delayMs: 0 });
    const script = p.ai.providers.deepseek.toolCalls;
    p.ai.providers.deepseek.toolCalls = (body) => script(body)?.map((c) => ({ ...c, arguments: { query: "<b>x</b>", colour: "red" } }));
    const { page, problems } = await open();
    await page.click("#new-chat");
    await page.waitForSelector("body[data-state=online]");
    await page.type("#input", "anything");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#messages .tools li[data-status=failed]", { timeout: 30_000 });
    assert.deepEqual(await toolLines(page), [["failed", "Searching the knowledge base — failed"]]);
    assert.equal(await page.$$eval("#messages b", (b) => b.length), 0);
    await page.waitForFunction(() => document.querySelector("#messages .msg.assistant:not([aria-busy])"), { timeout: 30_000 });
    const answer = await page.$eval("#messages .msg.assistant .text", (e) => e.textContent);
    assert.match(answer, /could not look that up/);
    await page.screenshot({ path: artifact("chat-page-tool-failed.png") });
    assert.deepEqual(problems, []);
    await page.close();
  });
});
