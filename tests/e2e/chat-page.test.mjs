// The web support chat's page in headless Chromium, served by chat-webhook in workerd with
// the fake streaming AI on loopback: the page and its assets (strict CSP, strong ETags,
// cache headers), a conversation whose answer is seen growing before it is complete, the
// history after a reload, sending with the keyboard only, markup from a user shown as
// text, a dropped socket caught up with `after`, a refused token replaced by a new session,
// an idle session ended by its alarm, the SSE fallback, the page embedded in another
// site's iframe (refused unless CHAT_FRAME_ANCESTORS lists it), and screenshots in
// tests/artifacts/.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { withPipeline } from "../harness/fixture.mjs";
import { CHAT } from "../harness/line.mjs";
import { artifact, launchBrowser } from "../harness/browser.mjs";
import { eventually } from "../harness/wait.mjs";

const STORE_KEY = "edge-chat.session.v1";
const XSS = "<img src=x onerror=alert(1)>";
const ANSWER_PARTS = ["Our shop ", "is open ", "from nine ", "to six, ", "every day ", "but Sunday."];
const FULL = ANSWER_PARTS.join("");

const DIRECTIVES = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
];

describe("chat page in headless Chromium", { timeout: 240_000 }, () => {
  const p = withPipeline({
    chat: {},
    workerExtras: { [CHAT]: { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } },
  });
  let base, browser;

  before(async () => {
    base = new URL(await p.mf.unsafeGetDirectURL(CHAT));
    // The primary streams its answer in pieces 150 ms apart: slow enough to see it grow.
    // A question with markup is echoed back (in pieces of 8 characters), anything else
    // gets the six parts above.
    streamSlowly(p.ai);
    browser = await launchBrowser();
    p.onClose(() => browser.close());
  });

  /** Makes `ai`'s primary stream the scripted answers, slowly (see `before`). */
  function streamSlowly(ai) {
    Object.assign(ai.providers.deepseek, {
      answer: (body) => {
        const q = body.messages.at(-1).content;
        return q.includes("<") ? `You wrote: ${q}` : FULL;
      },
      chunks: (text) => (text === FULL ? ANSWER_PARTS : text.match(/[\s\S]{1,8}/gu)),
      delayMs: 150,
    });
  }

  /** A page that records failures and every same-or-other-origin request. */
  async function open(viewport, path = "/chat") {
    const page = await browser.newPage();
    await page.setViewport(viewport);
    const seen = { requests: [], problems: [], dialogs: [] };
    page.on("request", (r) => seen.requests.push(r.url()));
    page.on("console", (m) => m.type() === "error" && seen.problems.push(m.text()));
    page.on("pageerror", (e) => seen.problems.push(String(e)));
    page.on("dialog", (d) => {
      seen.dialogs.push(d.message());
      d.dismiss();
    });
    const resp = await page.goto(new URL(path, base).href);
    await page.waitForSelector("body[data-state=online]");
    return { page, resp, seen };
  }

  const texts = (page) => page.$$eval("#messages .msg .text", (ps) => ps.map((x) => x.textContent));
  const answers = (page) => page.$$eval("#messages .msg.assistant:not([aria-busy])", (ls) => ls.length);

  /** Starts recording every text the newest assistant bubble shows, delta by delta. */
  const recordGrowth = (page) =>
    page.evaluate(() => {
      window.__growth = [];
      new MutationObserver(() => {
        const last = [...document.querySelectorAll("#messages .msg.assistant .text")].at(-1);
        if (last) window.__growth.push(last.textContent);
      }).observe(document.getElementById("messages"), { subtree: true, childList: true, characterData: true });
    });

  test("the page and its assets: strict CSP, nosniff, strong ETags, 304, cache lifetimes", async () => {
    const r = await fetch(new URL("/chat", base));
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type"), /^text\/html/);
    const csp = r.headers.get("content-security-policy").split(";").map((d) => d.trim());
    for (const d of DIRECTIVES) assert.ok(csp.includes(d), `${d} in ${csp}`);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    assert.equal(r.headers.get("referrer-policy"), "no-referrer");
    assert.equal(r.headers.get("x-frame-options"), null, "frame-ancestors decides embedding");
    assert.equal(r.headers.get("cache-control"), "no-cache");
    const etag = r.headers.get("etag");
    assert.match(etag, /^"[0-9a-f]{16}"$/);
    const html = await r.text();
    assert.doesNotMatch(html, /<style|style=|\son[a-z]+=|https?:/i);

    const again = await fetch(new URL("/chat", base), { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
    assert.equal(again.headers.get("etag"), etag);
    assert.equal(await again.text(), "");

    for (const [file, type] of [["chat.js", /^text\/javascript/], ["chat.css", /^text\/css/]]) {
      const link = html.match(new RegExp(`/chat/assets/${file.replace(".", "\\.")}\\?v=([0-9a-f]{16})`));
      assert.ok(link, `${file} linked by version`);
      const versioned = await fetch(new URL(link[0], base));
      assert.equal(versioned.status, 200);
      assert.match(versioned.headers.get("content-type"), type);
      assert.equal(versioned.headers.get("cache-control"), "public, max-age=31536000, immutable");
      assert.equal(versioned.headers.get("etag"), `"${link[1]}"`);
      assert.equal(versioned.headers.get("x-content-type-options"), "nosniff");
      const plain = await fetch(new URL(`/chat/assets/${file}`, base));
      assert.equal(plain.headers.get("cache-control"), "no-cache");
      const cached = await fetch(new URL(`/chat/assets/${file}`, base), { headers: { "if-none-match": `W/"${link[1]}"` } });
      assert.equal(cached.status, 304);
    }
    const missing = await fetch(new URL("/chat/assets/..%2Flib.rs", base));
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, "not_found");
    const post = await fetch(new URL("/chat", base), { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET");
  });

  test("a conversation on a phone: the answer grows as it streams, and a reload restores it", async () => {
    const { page, resp, seen } = await open({ width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    assert.match(resp.headers()["content-security-policy"], /script-src 'self'/);
    assert.equal(await page.evaluate(() => document.activeElement.id), "input", "the input has focus");
    await recordGrowth(page);

    await page.type("#input", "When are you open?");
    await page.click("#send");
    await page.waitForSelector("#messages .msg.user:not(.pending)");
    await page.waitForFunction(() => document.querySelector("#messages .msg.assistant:not([aria-busy])"), { timeout: 30_000 });
    const full = FULL;
    assert.deepEqual(await texts(page), ["When are you open?", full]);
    const growth = await page.evaluate(() => window.__growth);
    const partial = growth.filter((t) => t.length > 0 && t.length < full.length);
    assert.ok(partial.length >= 2, `partial answers were shown: ${JSON.stringify(growth)}`);
    assert.ok(partial.every((t) => full.startsWith(t)), "each partial text is a prefix of the answer");
    assert.equal(await page.$eval("#typing", (e) => e.hidden), true, "no typing indicator once answered");

    // Phone-readable: nothing wider than the screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${overflow}px wider than the phone`);
    await page.screenshot({ path: artifact("chat-page-phone.png") });

    const session = await page.evaluate((k) => JSON.parse(localStorage.getItem(k)).id, STORE_KEY);
    await page.reload();
    await page.waitForSelector("body[data-state=online]");
    await page.waitForFunction(() => document.querySelectorAll("#messages .msg").length === 2);
    assert.deepEqual(await texts(page), ["When are you open?", full]);
    assert.equal(await page.evaluate((k) => JSON.parse(localStorage.getItem(k)).id, STORE_KEY), session, "the same session");

    // Self-contained: only the worker itself was asked; no CSP violation, no error.
    assert.deepEqual(seen.requests.filter((u) => new URL(u).origin !== base.origin), []);
    assert.deepEqual(seen.problems, []);
    await page.close();
  });

  test("keyboard only: Tab to the input, Shift+Enter for a new line, Enter sends; markup stays text", async () => {
    const { page, seen } = await open({ width: 1280, height: 900 });
    await page.evaluate(() => document.activeElement.blur());
    for (let i = 0; i < 10 && (await page.evaluate(() => document.activeElement.id)) !== "input"; i++) await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.id), "input", "Tab reaches the input");
    const before = await answers(page);

    await page.keyboard.type("first line");
    await page.keyboard.down("Shift");
    await page.keyboard.press("Enter");
    await page.keyboard.up("Shift");
    await page.keyboard.type(XSS);
    assert.equal(await page.$eval("#input", (e) => e.value), `first line\n${XSS}`, "Shift+Enter adds a line");
    await page.keyboard.press("Enter");
    assert.equal(await page.$eval("#input", (e) => e.value), "", "Enter sent it");
    await page.waitForFunction((n) => document.querySelectorAll("#messages .msg.assistant:not([aria-busy])").length > n, { timeout: 30_000 }, before);

    const all = await texts(page);
    assert.equal(all.at(-2), `first line\n${XSS}`);
    assert.equal(all.at(-1), `You wrote: first line\n${XSS}`);
    assert.equal(await page.$$eval("#messages img", (i) => i.length), 0, "no element made from the text");
    assert.deepEqual(seen.dialogs, []);
    assert.equal(await page.evaluate(() => document.activeElement.id), "input", "focus stays in the input");
    // The focused input shows a visible focus ring.
    assert.notEqual(await page.$eval("#input", (e) => getComputedStyle(e).outlineStyle), "none");
    await page.screenshot({ path: artifact("chat-page-desktop.png") });
    assert.deepEqual(seen.problems, []);
    await page.close();
  });

  test("a dropped socket: backoff, reconnect with after=<last id>, the missed messages once", async () => {
    const page = await browser.newPage();
    // Keep every WebSocket the page opens (the CDP-injected script is outside the CSP).
    await page.evaluateOnNewDocument(() => {
      const Native = window.WebSocket;
      window.__sockets = [];
      window.WebSocket = class extends Native {
        constructor(url, protocols) {
          super(url, protocols);
          window.__sockets.push(this);
        }
      };
    });
    await page.goto(new URL("/chat", base).href);
    await page.waitForSelector("body[data-state=online]");
    await page.click("#new-chat");
    await page.waitForFunction(() => window.__sockets.length === 2 && document.body.dataset.state === "online");
    await page.type("#input", "Before the drop");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelectorAll("#messages .msg.assistant:not([aria-busy])").length === 1, { timeout: 30_000 });

    // The network goes away and the socket with it: the page backs off and keeps trying.
    await page.setOfflineMode(true);
    await page.evaluate(() => window.__sockets.at(-1).close());
    await page.waitForSelector("body[data-state=reconnecting]");
    assert.match(await page.$eval("#status", (e) => e.textContent), /Reconnecting in \d+ s/);
    // Meanwhile the conversation goes on elsewhere (another tab, over SSE).
    const s = await page.evaluate((k) => JSON.parse(localStorage.getItem(k)), STORE_KEY);
    const r = await fetch(new URL(`/chat/v1/sessions/${s.id}/messages`, base), {
      method: "POST",
      headers: { authorization: `Bearer ${s.token}`, "content-type": "application/json" },
      body: JSON.stringify({ content: "While it was away" }),
    });
    assert.equal(r.status, 200);
    await r.text();
    await page.setOfflineMode(false);
    await page.waitForFunction(() => document.querySelectorAll("#messages .msg").length >= 4, { timeout: 60_000 });
    await page.waitForSelector("body[data-state=online]");
    assert.deepEqual(await texts(page), ["Before the drop", FULL, "While it was away", FULL]);
    const ids = await page.$$eval("#messages .msg", (ls) => ls.map((l) => Number(l.dataset.id)));
    assert.deepEqual(ids, [1, 2, 3, 4], "each message once, in order");
    // Every reconnect asked only for what came after the last message seen: 2 at first,
    // 4 once a history call made while probing had already brought 3 and 4.
    const urls = await page.evaluate(() => window.__sockets.map((w) => new URL(w.url).search));
    const reconnects = urls.slice(2);
    assert.equal(reconnects[0], "?after=2", `${urls}`);
    assert.ok(reconnects.every((q) => q === "?after=2" || q === "?after=4"), `${urls}`);
    await page.close();
  });

  test("a refused token: the page starts a new session instead", async () => {
    const page = await browser.newPage();
    await page.goto(new URL("/chat", base).href);
    await page.waitForSelector("body[data-state=online]");
    const forged = { id: "0".repeat(32), token: "forged.token", expires_at: Math.floor(Date.now() / 1000) + 3600 };
    await page.evaluate((k, v) => localStorage.setItem(k, v), STORE_KEY, JSON.stringify(forged));
    await page.reload();
    await page.waitForFunction((k) => JSON.parse(localStorage.getItem(k) || "{}").id !== "0".repeat(32), { timeout: 30_000 }, STORE_KEY);
    await page.waitForSelector("body[data-state=online]");
    assert.match(await page.$eval("#notice", (e) => e.textContent), /new one has started/);
    await page.close();
  });

  test("embedded in another site: refused by default, working where CHAT_FRAME_ANCESTORS allows it", async () => {
    // The documented snippet on a page of another origin.
    let chatBase = base;
    const site = await p.fake((_req, res) =>
      res.writeHead(200, { "content-type": "text/html" }).end(
        `<!doctype html><title>Shop</title><h1>Shop</h1>` +
          `<iframe src="${new URL("/chat", chatBase)}" title="Support chat" width="380" height="600"></iframe>`,
      ),
    );
    const page = await browser.newPage();
    await page.setViewport({ width: 1024, height: 800 });
    const problems = [];
    page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    await page.goto(site.url);
    await page.waitForFunction(() => document.querySelector("iframe"));
    assert.ok(
      await eventually(() => problems.find((t) => /frame-ancestors/.test(t)), { what: "the frame-ancestors refusal" }),
    );
    const chats = await Promise.all(page.mainFrame().childFrames().map((f) => f.$("#input").catch(() => null)));
    assert.deepEqual(chats, [null], "the frame shows no chat");

    // The same page, against a chat-webhook that lists the site.
    const allowed = await p.launch({
      chat: { vars: { CHAT_FRAME_ANCESTORS: `'self', ${site.url}` } },
      workerExtras: { [CHAT]: { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } },
    });
    streamSlowly(allowed.ai);
    chatBase = new URL(await allowed.mf.unsafeGetDirectURL(CHAT));
    problems.length = 0;
    await page.goto(site.url);
    const frame = await eventually(() => page.frames().find((f) => f.url().startsWith(chatBase.origin)), { what: "the chat frame" });
    await frame.waitForSelector("body[data-state=online]");
    await frame.type("#input", "Hello from the shop");
    await frame.focus("#input");
    await page.keyboard.press("Enter");
    await frame.waitForFunction(() => document.querySelector("#messages .msg.assistant:not([aria-busy])"), { timeout: 30_000 });
    assert.deepEqual(await frame.$$eval("#messages .msg .text", (ps) => ps.map((x) => x.textContent)), ["Hello from the shop", FULL]);
    assert.deepEqual(problems, []);
    await page.screenshot({ path: artifact("chat-page-embedded.png") });
    await page.close();
  });

  test("an idle session ends: the history stays, the input is disabled, New conversation starts over", async () => {
    const idle = await p.launch({
      chat: { vars: { CHAT_IDLE_S: "3", CHAT_RETENTION_S: "600" } },
      workerExtras: { [CHAT]: { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } },
    });
    streamSlowly(idle.ai);
    const page = await browser.newPage();
    await page.goto(new URL("/chat", await idle.mf.unsafeGetDirectURL(CHAT)).href);
    await page.waitForSelector("body[data-state=online]");
    await page.type("#input", "Anyone there?");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelector("#messages .msg.assistant:not([aria-busy])"), { timeout: 30_000 });
    // Three quiet seconds later the session's alarm ends it and tells the socket.
    await page.waitForSelector("body[data-state=ended]", { timeout: 30_000 });
    assert.equal(await page.$eval("#input", (e) => e.disabled), true);
    assert.match(await page.$eval("#status", (e) => e.textContent), /ended/);
    assert.deepEqual(await texts(page), ["Anyone there?", FULL]);
    const before = await page.evaluate((k) => JSON.parse(localStorage.getItem(k)).id, STORE_KEY);
    await page.click("#new-chat");
    await page.waitForSelector("body[data-state=online]");
    assert.equal(await page.$eval("#input", (e) => e.disabled), false);
    assert.equal(await page.evaluate(() => document.activeElement.id), "input");
    assert.deepEqual(await texts(page), []);
    assert.notEqual(await page.evaluate((k) => JSON.parse(localStorage.getItem(k)).id, STORE_KEY), before);
    await page.close();
  });

  test("New conversation ends the previous session on the server (its live slot is freed)", async () => {
    const page = await browser.newPage();
    await page.goto(new URL("/chat", base).href);
    await page.waitForSelector("body[data-state=online]");
    const old = await page.evaluate((k) => JSON.parse(localStorage.getItem(k)), STORE_KEY);
    const status = async () => {
      const r = await fetch(new URL(`/chat/v1/sessions/${old.id}/messages`, base), { headers: { authorization: `Bearer ${old.token}` } });
      return (await r.json()).status;
    };
    assert.equal(await status(), "active");
    await page.click("#new-chat");
    // The page was online before the click too: wait for the new session itself.
    await page.waitForFunction((k, id) => JSON.parse(localStorage.getItem(k) ?? "null")?.id.length === 32 && JSON.parse(localStorage.getItem(k)).id !== id, {}, STORE_KEY, old.id);
    await eventually(async () => (await status()) === "ended", { what: "the old session ended by the page's DELETE" });
    await page.close();
  });

  test("without WebSocket: the SSE endpoint streams the answer and the history returns", async () => {
    const { page, seen } = await open({ width: 800, height: 700 }, "/chat?transport=sse");
    assert.equal(await page.evaluate(() => document.body.dataset.transport), "sse");
    await page.click("#new-chat");
    await page.waitForSelector("body[data-state=online]");
    await recordGrowth(page);
    await page.type("#input", "Open on Sunday?");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelector("#messages .msg.assistant:not([aria-busy])"), { timeout: 30_000 });
    const full = FULL;
    assert.deepEqual(await texts(page), ["Open on Sunday?", full]);
    const growth = await page.evaluate(() => window.__growth);
    assert.ok(growth.some((t) => t.length > 0 && t.length < full.length), `partial answers: ${JSON.stringify(growth)}`);
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll("#messages .msg").length === 2);
    assert.deepEqual(await texts(page), ["Open on Sunday?", full]);
    assert.deepEqual(seen.problems, []);
    await page.close();
  });
});
