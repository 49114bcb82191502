// Issue 17: cache-manager against RFC 9111 / RFC 9213 conformance points, in workerd, with a
// scripted origin that counts what reaches it (a HIT is proven by the origin not seeing the
// request). One test per point; the README's caching table points here.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { withPipeline } from "../harness/fixture.mjs";
import { sleep } from "../harness/wait.mjs";

const C = "cache-manager";
// cache-manager's own URL as seen by the worker (pipeline.fetch to a named worker).
const SELF = "http://cache-manager.local";
const httpDate = (offsetS) => new Date(Date.now() + offsetS * 1000).toUTCString();
// The same instant in the two obsolete HTTP-date forms, lowercased (RFC 9110 §5.6.7).
const DAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const two = (n) => String(n).padStart(2, "0");
const hms = (d) => `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
const rfc850 = (d) =>
  `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${two(d.getUTCFullYear() % 100)} ${hms(d)} gmt`;
const asctime = (d) =>
  `${DAYS[d.getUTCDay()].slice(0, 3)} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, " ")} ${hms(d)} ${d.getUTCFullYear()}`;

describe("cache-manager conformance (issue 17)", { timeout: 180_000 }, () => {
  const seen = new Map(); // path → requests received
  const count = (path) => seen.get(path)?.length ?? 0;
  const LAST_MODIFIED = httpDate(-10 * 86_400);

  // What the scripted origin answers, by path: [headers, body?, status?, delayMs?].
  const script = {
    // A: Age
    "/api/v1/calls/age-stale": () => [{ "cache-control": "max-age=3600", age: "7200" }],
    "/api/v1/calls/age-slow": () => [{ "cache-control": "max-age=600", age: "100" }, null, 200, 300],
    "/api/v1/calls/age-list": () => [{ "cache-control": "max-age=3600", age: "7200, 0" }],
    "/api/v1/calls/age-lines": () => [{ "cache-control": "max-age=3600", age: ["7200", "0"] }],
    "/api/v1/calls/age-param": () => [{ "cache-control": "max-age=3600", age: "7200;foo=bar" }],
    "/api/v1/calls/age-invalid": () => [{ "cache-control": "max-age=3600", age: "soon" }],
    "/api/v1/calls/age-swr": () => [{ "cache-control": "max-age=1, stale-while-revalidate=60", age: "5" }],
    "/api/v1/calls/age-304": (req) =>
      req.headers["if-none-match"] === '"a1"'
        ? [{ "cache-control": "max-age=600", age: "50" }, null, 304]
        : [{ "cache-control": "max-age=1", etag: '"a1"', age: "10" }],
    // A: RFC 9213
    "/api/v1/calls/cdn": () => [{ "cache-control": "no-store", "cdn-cache-control": "max-age=60" }],
    "/api/v1/calls/cf-cdn": () => [{
      "cache-control": "no-store", "cdn-cache-control": "no-store", "cloudflare-cdn-cache-control": "max-age=60",
    }],
    "/api/v1/calls/cf-no-store": () => [{ "cache-control": "max-age=60", "cloudflare-cdn-cache-control": "no-store" }],
    "/api/v1/calls/cdn-invalid": () => [{ "cache-control": "no-store", "cdn-cache-control": "Max-Age=60" }],
    // A: security headers
    "/api/v1/calls/own-security": () => [{
      "cache-control": "max-age=60", "x-frame-options": "SAMEORIGIN", "strict-transport-security": "max-age=60",
      "referrer-policy": "same-origin",
    }],
    // B
    "/api/v1/calls/connection": () => [{ "cache-control": "max-age=60", connection: "x-hop", "x-hop": "secret" }],
    "/api/v1/misc/heuristic-404": () => [{ "last-modified": LAST_MODIFIED }, "gone", 404],
    "/api/v1/misc/heuristic-201": () => [{ "last-modified": LAST_MODIFIED }, "made", 201],
    "/api/v1/calls/must-understand": () => [{ "cache-control": "must-understand, no-store, max-age=60" }],
    "/api/v1/calls/must-understand-299": () => [{ "cache-control": "must-understand, no-store, max-age=60" }, null, 299],
    "/api/v1/calls/ims": () => [{ "cache-control": "max-age=600", "last-modified": LAST_MODIFIED, etag: '"i1"' }],
    "/api/v1/calls/loc-post": () => [{
      location: "/api/v1/calls/loc-a", "content-location": `${SELF}/api/v1/calls/loc-b`,
      link: "</api/v1/calls/loc-c>",
    }, "created", 201],
    "/api/v1/calls/loc-foreign": () => [{ location: "https://other.example/api/v1/calls/loc-c" }, "created", 201],
    "/api/v1/calls/cookie": () => [{ "cache-control": "max-age=60", "set-cookie": "session=abc" }],
    "/api/v1/calls/no-cache-fields": () => [{ "cache-control": 'max-age=60, no-cache="x-foo"', "x-foo": "1" }],
    "/api/v1/calls/private-fields": () => [{ "cache-control": 'max-age=60, private="x-user"', "x-user": "alice" }],
  };
  for (const status of [299, 303, 400, 499, 500]) {
    script[`/api/v1/calls/status-${status}`] = () => [{ "cache-control": "max-age=60" }, `status ${status}`, status];
  }

  const p = withPipeline({
    origin: async (req, res) => {
      const list = seen.get(req.path) ?? [];
      list.push(req);
      seen.set(req.path, list);
      const rule = script[req.path] ?? (() => [{ "cache-control": "max-age=60" }]);
      const [headers, body, status = 200, delay = 0] = rule(req, list.length);
      if (delay) await sleep(delay);
      const text = body ?? `${req.path} #${list.length}`;
      if (status === 304) res.writeHead(304, headers).end();
      else res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(text), ...headers }).end(text);
    },
    vars: {
      // Responses that set a cookie are stored without it here (the default, refuse, is
      // covered by cache.test.mjs).
      "cache-manager": { CACHE_SET_COOKIE: "strip", UPSTREAM_TIMEOUT_MS: "3000" },
      "voice-router": { ORIGIN_TIMEOUT_MS: "1000" },
    },
  });

  const get = async (path, headers = {}, method = "GET") => {
    const r = await p.fetch(path, { method, headers }, C);
    const body = await r.text();
    return { status: r.status, headers: r.headers, body, cache: r.headers.get("x-cache"), age: Number(r.headers.get("age")) };
  };

  describe("A. wrong answers", () => {
    test("A1 the origin's Age is served on the MISS that stores it: a stale response is never new", async () => {
      const miss = await get("/api/v1/calls/age-stale");
      assert.equal(miss.cache, "MISS");
      assert.ok(miss.age >= 7200, `MISS Age ${miss.headers.get("age")}`);
      const again = await get("/api/v1/calls/age-stale");
      assert.notEqual(again.cache, "HIT", "stale on arrival (Age 7200 > max-age 3600): not a HIT");
      assert.equal(count("/api/v1/calls/age-stale"), 2);
    });

    test("A1 coalesced followers get the current age too", async () => {
      const burst = await Promise.all(Array.from({ length: 8 }, () => get("/api/v1/calls/age-slow")));
      assert.equal(count("/api/v1/calls/age-slow"), 1, "one fetch for the burst");
      for (const r of burst) assert.ok(r.age >= 100, `${r.cache} Age ${r.headers.get("age")}`);
      const hit = await get("/api/v1/calls/age-slow");
      assert.deepEqual([hit.cache, hit.age >= 100], ["HIT", true]);
    });

    test("A1 stale and revalidated answers carry the current age", async () => {
      const first = await get("/api/v1/calls/age-swr");
      assert.ok(first.age >= 5);
      const stale = await get("/api/v1/calls/age-swr");
      assert.equal(stale.cache, "STALE");
      assert.ok(stale.age >= 5, `STALE Age ${stale.headers.get("age")}`);
      const miss = await get("/api/v1/calls/age-304");
      assert.ok(miss.age >= 10);
      const revalidated = await get("/api/v1/calls/age-304");
      assert.equal(revalidated.cache, "REVALIDATED");
      assert.ok(revalidated.age >= 50, `the 304's Age: ${revalidated.headers.get("age")}`);
      const hit = await get("/api/v1/calls/age-304");
      assert.deepEqual([hit.cache, hit.age >= 50], ["HIT", true]);
    });

    test("A2 Age lists (one line or two) and parameters: the first value counts", async () => {
      for (const path of ["/api/v1/calls/age-list", "/api/v1/calls/age-lines", "/api/v1/calls/age-param"]) {
        const miss = await get(path);
        assert.ok(miss.age >= 7200, `${path}: Age ${miss.headers.get("age")}`);
        assert.notEqual((await get(path)).cache, "HIT", `${path}: stale, never served as fresh`);
        assert.equal(count(path), 2, path);
      }
    });

    test("A2 an invalid Age makes the response unusable from the cache", async () => {
      const path = "/api/v1/calls/age-invalid";
      const a = await get(path);
      const b = await get(path);
      assert.deepEqual([a.cache, b.cache], ["MISS", "MISS"], "not stored");
      assert.equal(a.headers.get("age"), "soon", "relayed as the origin sent it, not made younger");
      assert.equal(count(path), 2);
    });

    test("A3 CDN-Cache-Control replaces Cache-Control for this cache and is passed on", async () => {
      const path = "/api/v1/calls/cdn";
      const miss = await get(path);
      const hit = await get(path);
      assert.deepEqual([miss.cache, hit.cache], ["MISS", "HIT"]);
      assert.equal(count(path), 1);
      assert.equal(hit.headers.get("cdn-cache-control"), "max-age=60", "for CDNs downstream");
      assert.equal(hit.headers.get("cache-control"), "no-store", "Cache-Control goes on unchanged");
    });

    test("A3 Cloudflare-CDN-Cache-Control wins over both and is never passed on", async () => {
      const path = "/api/v1/calls/cf-cdn";
      const miss = await get(path);
      const hit = await get(path);
      assert.deepEqual([miss.cache, hit.cache], ["MISS", "HIT"]);
      for (const r of [miss, hit]) assert.equal(r.headers.get("cloudflare-cdn-cache-control"), null, r.cache);
      const relayed = await get("/api/v1/calls/cf-no-store");
      assert.equal(relayed.headers.get("cloudflare-cdn-cache-control"), null, "nor on a relayed answer");
      assert.equal((await get("/api/v1/calls/cf-no-store")).cache, "MISS", "its no-store beats Cache-Control");
      assert.equal(count("/api/v1/calls/cf-no-store"), 2);
    });

    test("A3 an invalid CDN-Cache-Control is ignored (Cache-Control applies)", async () => {
      await get("/api/v1/calls/cdn-invalid");
      assert.equal((await get("/api/v1/calls/cdn-invalid")).cache, "MISS");
      assert.equal(count("/api/v1/calls/cdn-invalid"), 2);
    });

    test("A4 voice-router keeps the origin's security headers and adds defaults only where it sent none", async () => {
      for (const r of [await get("/api/v1/calls/own-security"), await get("/api/v1/calls/own-security")]) {
        assert.equal(r.headers.get("x-frame-options"), "SAMEORIGIN", r.cache);
        assert.equal(r.headers.get("strict-transport-security"), "max-age=60", r.cache);
        assert.equal(r.headers.get("referrer-policy"), "same-origin", r.cache);
        assert.equal(r.headers.get("x-content-type-options"), "nosniff", `${r.cache}: the default where none was sent`);
      }
      const plain = await get("/api/v1/calls/plain-security");
      assert.equal(plain.headers.get("x-frame-options"), "DENY");
    });
  });

  describe("B. conformance points", () => {
    test("B1 Connection-listed fields are never stored or served from the cache", async () => {
      const miss = await get("/api/v1/calls/connection");
      const hit = await get("/api/v1/calls/connection");
      assert.equal(hit.cache, "HIT");
      // The origin sends `Connection: x-hop` and `X-Hop: secret`. Connection does reach
      // cache-manager (through voice-router): before issue 17 both answers carried X-Hop.
      for (const r of [miss, hit]) {
        assert.equal(r.headers.get("connection"), null, r.cache);
        assert.equal(r.headers.get("x-hop"), null, r.cache);
      }
    });

    // (Under /api/v1/misc: voice-router adds no-store to call-state paths that say nothing.)
    test("B2 heuristically cacheable statuses are stored on a heuristic; others are not", async () => {
      await get("/api/v1/misc/heuristic-404");
      const hit = await get("/api/v1/misc/heuristic-404");
      assert.deepEqual([hit.status, hit.cache, hit.body], [404, "HIT", "gone"]);
      await get("/api/v1/misc/heuristic-201");
      assert.equal((await get("/api/v1/misc/heuristic-201")).cache, "MISS");
      assert.equal(count("/api/v1/misc/heuristic-201"), 2);
    });

    test("B2 any status with explicit freshness is stored (299, 303, 400, 499, 500)", async () => {
      for (const status of [299, 303, 400, 499, 500]) {
        const path = `/api/v1/calls/status-${status}`;
        const miss = await get(path);
        const hit = await get(path);
        assert.deepEqual([miss.status, hit.status, hit.cache], [status, status, "HIT"], path);
        assert.equal(count(path), 1, path);
      }
    });

    test("B2 must-understand: stored for an understood status (no-store ignored), not for 299", async () => {
      await get("/api/v1/calls/must-understand");
      assert.equal((await get("/api/v1/calls/must-understand")).cache, "HIT");
      await get("/api/v1/calls/must-understand-299");
      assert.equal((await get("/api/v1/calls/must-understand-299")).cache, "MISS");
      assert.equal(count("/api/v1/calls/must-understand-299"), 2);
    });

    test("B3 304 from the cache for If-Modified-Since in all three date forms; If-None-Match wins", async () => {
      const path = "/api/v1/calls/ims";
      await get(path);
      // fetch adds `cache-control: no-cache` to a conditional request unless one is set.
      const cc = { "cache-control": "max-age=3600" };
      const now = new Date();
      for (const since of [now.toUTCString(), now.toUTCString().toLowerCase(), rfc850(now), asctime(now)]) {
        const r = await get(path, { ...cc, "if-modified-since": since });
        assert.deepEqual([r.status, r.cache, r.body], [304, "HIT", ""], since);
      }
      const before = await get(path, { ...cc, "if-modified-since": httpDate(-20 * 86_400) });
      assert.deepEqual([before.status, before.cache], [200, "HIT"], "modified since then");
      const invalid = await get(path, { ...cc, "if-modified-since": "yesterday" });
      assert.equal(invalid.status, 200, "an invalid date is ignored");
      const both = await get(path, { ...cc, "if-none-match": '"other"', "if-modified-since": now.toUTCString() });
      assert.equal(both.status, 200, "If-None-Match wins over If-Modified-Since");
      const inm = await get(path, { ...cc, "if-none-match": '"i1"' });
      assert.equal(inm.status, 304);
      assert.equal(count(path), 1);
    });

    test("B4 an unsafe method invalidates its Location and Content-Location on the same origin only", async () => {
      for (const path of ["/api/v1/calls/loc-a", "/api/v1/calls/loc-b", "/api/v1/calls/loc-c"]) {
        await get(path);
        assert.equal((await get(path)).cache, "HIT", path);
      }
      const post = await p.fetch("/api/v1/calls/loc-post", { method: "POST", body: "{}" }, C);
      assert.equal(post.status, 201);
      await post.text();
      assert.equal((await get("/api/v1/calls/loc-a")).cache, "MISS", "Location");
      assert.equal((await get("/api/v1/calls/loc-b")).cache, "MISS", "Content-Location (absolute, same origin)");
      assert.equal((await get("/api/v1/calls/loc-c")).cache, "HIT", "Link is not a target");
      const foreign = await p.fetch("/api/v1/calls/loc-foreign", { method: "POST", body: "{}" }, C);
      await foreign.text();
      assert.equal((await get("/api/v1/calls/loc-c")).cache, "HIT", "another origin's URL is never invalidated");
    });

    test("B5 CACHE_SET_COOKIE=strip stores the response without its cookie", async () => {
      const path = "/api/v1/calls/cookie";
      const miss = await get(path);
      assert.deepEqual([miss.cache, miss.headers.get("set-cookie")], ["MISS", "session=abc"], "the fetcher gets it");
      const hit = await get(path);
      assert.deepEqual([hit.cache, hit.headers.get("set-cookie")], ["HIT", null], "nobody else does");
    });

    test("B6 unknown methods pass through without invalidating", async () => {
      const path = "/api/v1/calls/unknown-method";
      await get(path);
      for (const method of ["PURGE", "REPORT"]) {
        const r = await p.fetch(path, { method }, C);
        await r.text();
        assert.equal(r.headers.get("x-cache"), "BYPASS", method);
      }
      assert.equal((await get(path)).cache, "HIT");
      assert.equal(count(path), 3);
    });

    test("B7 only-if-cached: served from the cache when it can be, else 504 not_cached and the origin is not asked", async () => {
      const path = "/api/v1/calls/only-if-cached";
      const only = { "cache-control": "only-if-cached" };
      const none = await get(path, only);
      assert.equal(none.status, 504);
      assert.equal(JSON.parse(none.body).error.code, "not_cached");
      assert.equal(count(path), 0, "the origin never saw it");
      await get(path);
      const hit = await get(path, only);
      assert.deepEqual([hit.status, hit.cache], [200, "HIT"]);
      // A path this cache never stores (the policy's `never`) cannot be answered either.
      const never = await get("/voice/only-if-cached", only);
      assert.equal(never.status, 504);
      assert.equal(count("/voice/only-if-cached"), 0);
      assert.equal(count(path), 1);
    });

    test("B6 no-cache with field names is treated as no-cache: never served without the origin", async () => {
      const path = "/api/v1/calls/no-cache-fields";
      await get(path);
      assert.notEqual((await get(path)).cache, "HIT");
      assert.equal(count(path), 2);
    });

    test("B6 private with field names: stored, minus those fields", async () => {
      const path = "/api/v1/calls/private-fields";
      const miss = await get(path);
      assert.equal(miss.headers.get("x-user"), "alice", "the fetcher gets its own answer whole");
      const hit = await get(path);
      assert.deepEqual([hit.cache, hit.headers.get("x-user")], ["HIT", null]);
    });
  });
});
