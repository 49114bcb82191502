// The analytics dashboard in headless Chromium, reached as in production through the
// public entry (auth-validator passes the sign-in and cookie on to analytics-collector):
// sign in with the admin secret, read the rendered numbers, check it fits a phone, loads
// nothing from elsewhere and breaks no CSP rule, and keep screenshots in tests/artifacts/.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { withPipeline } from "../harness/fixture.mjs";
import { metricEvent, nearestRank, postMetrics } from "../harness/analytics.mjs";
import { artifact, launchBrowser } from "../harness/browser.mjs";
import http from "node:http";

const DASHBOARD = "/api/v1/analytics/edge/dashboard";

/** Known traffic over the last hour: 120 chat-webhook requests (6 of them 5xx), 40 cache
 * lookups (30 hits), 100 routed requests (50/30/20 over three regions). The dashboard's own
 * page loads add auth-validator hops (the entry reports itself), so the numbers are read
 * for chat-webhook. */
function seed(now) {
  const at = (i) => now - (i % 50) * 60_000; // spread over 50 minutes
  const evs = [];
  for (let i = 0; i < 120; i++) {
    evs.push(metricEvent({ worker: "chat-webhook", request_id: `d-a-${i}`, ts_ms: at(i), status: i < 6 ? 502 : 200, latency_ms: 10 + (i % 40), region: null, decision: null }));
  }
  for (let i = 0; i < 40; i++) {
    evs.push(metricEvent({ worker: "cache-manager", request_id: `d-c-${i}`, ts_ms: at(i), decision: i < 30 ? "cache_hit" : "cache_miss", region: null }));
  }
  const regions = [["us-east-1", 50], ["eu-west-1", 30], ["ap-northeast-1", 20]];
  let n = 0;
  for (const [region, count] of regions) {
    for (let i = 0; i < count; i++) evs.push(metricEvent({ worker: "voice-router", request_id: `d-v-${n++}`, ts_ms: at(i), region }));
  }
  return evs;
}

describe("dashboard in headless Chromium", { timeout: 120_000 }, () => {
  let base, browser, events;
  const p = withPipeline();

  before(async () => {
    base = new URL(p.url);
    events = seed(Date.now());
    const agent = new http.Agent({ keepAlive: true });
    for (let i = 0; i < events.length; i += 100) {
      const r = await postMetrics(p.url, agent, events.slice(i, i + 100));
      assert.equal(r.status, 202, JSON.stringify(r.json));
    }
    agent.destroy();
    browser = await launchBrowser();
    p.onClose(() => browser.close());
  });

  test("signs in, renders the right numbers on a phone, and loads nothing else", async () => {
    const page = await browser.newPage();
    await page.setViewport({ width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const requests = [];
    const problems = [];
    page.on("request", (r) => requests.push(r.url()));
    page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    page.on("pageerror", (e) => problems.push(String(e)));

    // Without a cookie: the sign-in form, 401.
    const first = await page.goto(new URL(DASHBOARD, base).href);
    assert.equal(first.status(), 401);
    await page.type("#secret", "not-the-secret");
    const [wrong] = await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    assert.equal(wrong.status(), 401);
    assert.match(await page.$eval(".error", (e) => e.textContent), /not the admin secret/);

    await page.type("#secret", p.secret);
    const [signedIn] = await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    assert.equal(signedIn.status(), 200);
    assert.equal(new URL(signedIn.url()).pathname, DASHBOARD);
    await page.waitForSelector("body[data-rendered=true]");
    // The two 401s above are logged as failed loads; from here on nothing may fail.
    assert.equal(problems.length, 2);
    problems.length = 0;

    // Pick chat-webhook in the worker menu: a plain link, the cookie goes along.
    const [picked] = await Promise.all([page.waitForNavigation(), page.click('nav[aria-label="worker"] a[href*="worker=chat-webhook"]')]);
    assert.equal(picked.status(), 200);
    await page.waitForSelector("body[data-rendered=true]");
    assert.match(await page.$eval('[data-testid="requests"] .label', (e) => e.textContent), /chat-webhook/);

    const [cookie] = await page.cookies();
    assert.equal(cookie.name, "edge_dashboard");
    assert.ok(cookie.httpOnly && cookie.secure && cookie.sameSite === "Strict");

    const card = (id) => page.$eval(`[data-testid="${id}"] .value`, (e) => e.textContent);
    assert.equal(await card("requests"), "120");
    assert.equal(await card("error-rate"), "5.0 %");
    const entry = events.filter((e) => e.worker === "chat-webhook").map((e) => e.latency_ms).sort((a, b) => a - b);
    assert.equal(await card("p95"), `${nearestRank(entry, 95)} ms`);
    assert.equal(await card("cache-hit-ratio"), "75.0 %");
    const regions = await page.$$eval("#regions-table tr", (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
    assert.deepEqual(regions, [
      ["us-east-1", "50", "50.0 %"],
      ["eu-west-1", "30", "30.0 %"],
      ["ap-northeast-1", "20", "20.0 %"],
    ]);
    const lines = await page.$$eval("#chart-requests path", (ps) => ps.map((x) => x.dataset.series));
    for (const w of ["chat-webhook", "cache-manager", "voice-router"]) assert.ok(lines.includes(w), `${w} in ${lines}`);
    const latency = await page.$$eval("#chart-latency path", (ps) => ps.map((x) => x.dataset.series));
    assert.deepEqual(latency, ["p50", "p95", "p99"]);

    // Phone-readable: nothing wider than the screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${overflow}px wider than the phone`);
    // Self-contained: every request went to the worker itself; no CSP violation, no error.
    assert.deepEqual(requests.filter((u) => new URL(u).origin !== base.origin && !u.startsWith("data:")), []);
    assert.deepEqual(problems, []);
    await page.screenshot({ path: artifact("dashboard-phone.png"), fullPage: true });

    await page.setViewport({ width: 1280, height: 900 });
    await page.reload();
    await page.waitForSelector("body[data-rendered=true]");
    await page.screenshot({ path: artifact("dashboard-desktop.png"), fullPage: true });
    await page.close();
  });
});
