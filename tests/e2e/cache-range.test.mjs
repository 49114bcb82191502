// cache-manager's byte ranges (RFC 9110 §14), its two tiers (Cache API in front of KV)
// and its O(1) prefix purge, in workerd against a scripted origin that records what
// reaches it: a HIT is proven by the origin not seeing the request.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { assertJsonError } from "../harness/assert.mjs";
import { withPipeline } from "../harness/fixture.mjs";

const C = "cache-manager";
const BODY = "0123456789abcdefghij"; // 20 bytes
const ETAG = '"r1"';
const LAST_MODIFIED = "Tue, 01 Dec 2026 08:00:00 GMT";

describe("cache-manager ranges, tiers and purge", { timeout: 180_000 }, () => {
  const seen = new Map(); // path → request headers received
  const count = (path) => seen.get(path)?.length ?? 0;

  // What the scripted origin answers, by path: [headers, status?].
  const script = (path) => {
    if (path.includes("/no-store/")) return [{ "cache-control": "no-store" }];
    if (path.startsWith("/voice/")) return [{ "cache-control": "max-age=60" }];
    return [{ "cache-control": "max-age=600", etag: ETAG, "last-modified": LAST_MODIFIED, date: new Date().toUTCString() }];
  };

  const p = withPipeline({
    origin: async (req, res) => {
      const list = seen.get(req.path) ?? [];
      list.push(req.headers);
      seen.set(req.path, list);
      const [headers] = script(req.path);
      const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
      if (range) {
        // An origin that answers ranges itself: only reached when the cache forwards one.
        const [first, last] = [Number(range[1]), Number(range[2])];
        res.writeHead(206, { "content-type": "text/plain", "content-range": `bytes ${first}-${last}/${BODY.length}`, ...headers });
        res.end(BODY.slice(first, last + 1));
        return;
      }
      res.writeHead(200, { "content-type": "text/plain", "content-length": BODY.length, ...headers }).end(BODY);
    },
  });

  // Fetch (undici, as in Miniflare's dispatchFetch) adds `Cache-Control: no-cache` to a
  // request carrying If-Range or another conditional unless it has a Cache-Control of its
  // own (Fetch's "no-store" cache mode): say the client takes any fresh entry.
  const get = async (path, headers = {}) => {
    const conditional = Object.keys(headers).some((h) => h.startsWith("if-"));
    if (conditional) headers = { "cache-control": "max-age=86400", ...headers };
    const r = await p.fetch(path, { headers }, C);
    return { status: r.status, headers: r.headers, body: await r.text(), cache: r.headers.get("x-cache") };
  };
  const kv = () => p.mf.getKVNamespace("HTTP_CACHE", C);
  const kvKeys = async (prefix) => (await (await kv()).list({ prefix })).keys.map((k) => k.name);
  const purge = (body) =>
    p.fetch("/admin/v1/cache/purge", {
      method: "POST",
      headers: { authorization: `Bearer ${p.secret}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }, C);

  // First in the file: the isolate has not listed the generations yet.
  test("a generation another location wrote (KV key g:<prefix>, metadata g) is part of the keys below it", async () => {
    await (await kv()).put("g:/api/v1/calls/elsewhere/", "5", { metadata: { g: 5 } });
    const path = "/api/v1/calls/elsewhere/a";
    assert.equal((await get(path)).cache, "MISS");
    assert.equal((await get(path)).cache, "HIT");
    const [key] = await kvKeys(`c:${path} `);
    assert.match(key, /\|shared\|g[0-9a-f]{16}\|e:/, "stored under the prefix's generation");
    const [other] = await (async () => {
      await get("/api/v1/calls/not-elsewhere");
      return kvKeys("c:/api/v1/calls/not-elsewhere ");
    })();
    assert.match(other, /\|shared\|g0\|e:/, "no purged prefix above it");
  });

  describe("ranges from a stored complete response", () => {
    test("a MISS fetches the whole response, stores it and answers the range with 206", async () => {
      const path = "/api/v1/calls/range-miss";
      const r = await get(path, { range: "bytes=2-5" });
      assert.equal(r.status, 206);
      assert.equal(r.cache, "MISS");
      assert.equal(r.body, "2345");
      assert.equal(r.headers.get("content-range"), `bytes 2-5/${BODY.length}`);
      assert.equal(r.headers.get("content-length"), "4");
      assert.equal(seen.get(path)[0].range, undefined, "the origin was asked for the whole");
      const whole = await get(path);
      assert.deepEqual([whole.status, whole.cache, whole.body], [200, "HIT", BODY]);
      assert.equal(count(path), 1);
    });

    test("a HIT answers first-last, first- and -suffix ranges, and If-Range with the strong ETag or the date", async () => {
      const path = "/api/v1/calls/range-hit";
      await get(path);
      const cases = [
        [{ range: "bytes=0-0" }, "0", "bytes 0-0/20"],
        [{ range: "bytes=15-" }, "fghij", "bytes 15-19/20"],
        [{ range: "bytes=-3" }, "hij", "bytes 17-19/20"],
        [{ range: "bytes=18-999" }, "ij", "bytes 18-19/20"],
        [{ range: "bytes=1-2", "if-range": ETAG }, "12", "bytes 1-2/20"],
        [{ range: "bytes=1-2", "if-range": LAST_MODIFIED }, "12", "bytes 1-2/20"],
      ];
      for (const [headers, body, contentRange] of cases) {
        const r = await get(path, headers);
        assert.deepEqual([r.status, r.cache, r.body], [206, "HIT", body], JSON.stringify(headers));
        assert.equal(r.headers.get("content-range"), contentRange);
        assert.equal(r.headers.get("content-length"), String(body.length));
        assert.equal(r.headers.get("etag"), ETAG);
      }
      assert.equal(count(path), 1);
    });

    test("If-Range that does not match, several ranges, other units and malformed ranges get the whole 200", async () => {
      const path = "/api/v1/calls/range-whole";
      await get(path);
      const many = `bytes=${Array.from({ length: 1000 }, (_, i) => `${i}-${i}`).join(",")}`.slice(0, 8000);
      for (const headers of [
        { range: "bytes=0-1", "if-range": '"other"' },
        { range: "bytes=0-1", "if-range": `W/${ETAG}` },
        { range: "bytes=0-1", "if-range": "Mon, 30 Nov 2026 08:00:00 GMT" },
        { range: "bytes=0-1,5-6" },
        { range: many },
        { range: "lines=0-1" },
        { range: "bytes=5-1" },
      ]) {
        const r = await get(path, headers);
        assert.deepEqual([r.status, r.cache, r.body], [200, "HIT", BODY], JSON.stringify(headers).slice(0, 80));
        assert.equal(r.headers.get("content-range"), null);
      }
      assert.equal(count(path), 1);
    });

    test("an unsatisfiable range is 416 with Content-Range: bytes */length", async () => {
      const path = "/api/v1/calls/range-416";
      await get(path);
      const r = await get(path, { range: "bytes=20-" });
      assert.deepEqual([r.status, r.cache, r.body], [416, "HIT", ""]);
      assert.equal(r.headers.get("content-range"), `bytes */${BODY.length}`);
    });

    test("an unstored answer is relayed whole; an uncached path forwards the range and its 206 is not stored", async () => {
      const path = "/api/v1/calls/no-store/r";
      const r = await get(path, { range: "bytes=0-1" });
      assert.deepEqual([r.status, r.cache, r.body], [200, "MISS", BODY]);
      const voice = "/voice/range-clip";
      for (let i = 0; i < 2; i++) {
        const v = await get(voice, { range: "bytes=0-1" });
        assert.deepEqual([v.status, v.cache, v.body], [206, "BYPASS", "01"]);
      }
      assert.equal(count(voice), 2, "never answered from the cache");
      assert.deepEqual(await kvKeys(`c:${voice}`), []);
    });
  });

  describe("tiers", () => {
    test("a stored entry is in both tiers and a HIT needs no KV read: with the KV keys gone it is still a HIT here", async () => {
      const path = "/api/v1/calls/tier-local";
      await get(path);
      const keys = await kvKeys(`c:${path} `);
      assert.equal(keys.length, 1, "one KV entry");
      const ns = await kv();
      for (const k of keys) await ns.delete(k);
      const r = await get(path);
      assert.deepEqual([r.cache, r.body], ["HIT", BODY], "served by this location's Cache API");
      assert.equal(count(path), 1);
    });

    test("a URL purge deletes the URL's keys in KV and this location's Cache API copy", async () => {
      const path = "/api/v1/calls/tier-url";
      await get(path);
      const done = await purge({ urls: [path] });
      assert.deepEqual(await done.json(), { deleted: 1, complete: true });
      assert.deepEqual(await kvKeys(`c:${path} `), []);
      assert.equal((await get(path)).cache, "MISS");
      assert.equal(count(path), 2);
    });
  });

  describe("prefix purge by generation", () => {
    test("one generation key, nothing listed or deleted; every entry below the prefix is a MISS, others still HIT", async () => {
      const paths = ["/api/v1/calls/gen/a", "/api/v1/calls/gen/b?x=1", "/api/v1/calls/other-gen"];
      for (const path of paths) {
        await get(path);
        assert.equal((await get(path)).cache, "HIT", path);
      }
      const before = await kvKeys("c:/api/v1/calls/gen/");
      const done = await purge({ prefixes: ["/api/v1/calls/gen/"] });
      assert.deepEqual(await done.json(), { deleted: 0, complete: true, invalidated_prefixes: 1 });
      assert.deepEqual(await kvKeys("g:/api/v1/calls/gen"), ["g:/api/v1/calls/gen/"]);
      assert.deepEqual(await kvKeys("c:/api/v1/calls/gen/"), before, "nothing deleted: unreachable, expiring by TTL");
      assert.equal((await get(paths[0])).cache, "MISS");
      assert.equal((await get(paths[1])).cache, "MISS");
      assert.equal((await get(paths[2])).cache, "HIT", "outside the prefix");
      assert.equal((await get(paths[0])).cache, "HIT", "stored again under the new generation");
      const again = await purge({ prefixes: ["/api/v1/calls/gen/"] });
      assert.equal((await again.json()).invalidated_prefixes, 1);
      assert.deepEqual(await kvKeys("g:/api/v1/calls/gen"), ["g:/api/v1/calls/gen/"], "a purge again rewrites the same key");
      assert.equal((await get(paths[0])).cache, "MISS");
    });

    test("a prefix longer than any cached path is refused", async () => {
      await assertJsonError(await purge({ prefixes: [`/${"p".repeat(400)}`] }), 400, "invalid_purge");
    });
  });
});
