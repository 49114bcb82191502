// cache-manager as an RFC 9111 shared cache, in workerd, against a scripted origin that
// counts what reaches it: a HIT is proven by the origin not seeing the request.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { assertJsonError } from "../harness/assert.mjs";
import { withPipeline } from "../harness/fixture.mjs";
import { eventually, sleep } from "../harness/wait.mjs";

const LIMIT = 64 * 1024;
const C = "cache-manager";

describe("cache-manager", { timeout: 180_000 }, () => {
  const seen = new Map(); // path → requests received
  const failing = new Set(); // paths answering 503
  const hanging = new Set(); // paths never answering
  const count = (path) => seen.get(path)?.length ?? 0;

  // What the scripted origin answers, by path: [headers, body?].
  const script = {
    "/api/v1/calls/fresh": () => [{ "cache-control": "max-age=60" }],
    "/api/v1/calls/s-maxage": () => [{ "cache-control": "max-age=0, s-maxage=60" }],
    "/api/v1/calls/expires": () => [{ expires: new Date(Date.now() + 60_000).toUTCString() }],
    "/api/v1/calls/aged": () => [{ "cache-control": "max-age=600", age: "100" }],
    "/api/v1/calls/no-store": () => [{ "cache-control": "no-store, max-age=60" }],
    "/api/v1/calls/private": () => [{ "cache-control": "private, max-age=60" }],
    "/api/v1/calls/cookie": () => [{ "cache-control": "max-age=60", "set-cookie": "session=abc" }],
    "/api/v1/calls/silent": () => [{}],
    "/api/v1/agents/silent": () => [{}],
    "/api/v1/calls/etag": (req, n) =>
      req.headers["if-none-match"] === '"v1"'
        ? [{ "cache-control": "max-age=60", "x-validated": `yes-${n}` }, null, 304]
        : [{ "cache-control": "max-age=1", etag: '"v1"' }],
    "/api/v1/calls/vary": (req) => [{ "cache-control": "max-age=60", vary: "Accept-Language" }, `lang=${req.headers["accept-language"]}`],
    "/api/v1/calls/swr": () => [{ "cache-control": "max-age=1, stale-while-revalidate=30" }],
    "/api/v1/calls/sie": () => [{ "cache-control": "max-age=1, stale-if-error=60" }],
    "/api/v1/calls/strict": () => [{ "cache-control": "max-age=1, must-revalidate, stale-if-error=60" }],
    "/api/v1/calls/big": () => [{ "cache-control": "max-age=60" }, "b".repeat(LIMIT + 1000)],
    "/api/v1/calls/slow": () => [{ "cache-control": "max-age=60" }, null, 200, 300],
    "/voice/clip": () => [{ "cache-control": "max-age=60" }],
    "/api/v1/agents/mine": (req) => [{ "cache-control": "max-age=60" }, `user=${req.headers["x-auth-user-id"]}`],
    "/api/v1/agents/shared": (req) => [{ "cache-control": "public, max-age=60" }, `user=${req.headers["x-auth-user-id"]}`],
  };

  const p = withPipeline({
    origin: async (req, res) => {
      const list = seen.get(req.path) ?? [];
      list.push(req);
      seen.set(req.path, list);
      if (hanging.has(req.path)) return; // never answers
      if (failing.has(req.path)) {
        res.writeHead(503, { "content-type": "text/plain" }).end("origin down");
        return;
      }
      const rule = script[req.path] ?? script[req.path.replace(/\/[^/]+$/, "/silent")] ?? (() => [{}]);
      const [headers, body, status = 200, delay = 0] = rule(req, list.length);
      if (delay) await sleep(delay);
      const text = body ?? `${req.path} #${list.length}`;
      if (status === 304) res.writeHead(304, headers).end();
      else if (req.path.endsWith("/big") && req.query === "?chunked") {
        res.writeHead(status, { "content-type": "text/plain", ...headers });
        res.write(text.slice(0, 1000));
        res.end(text.slice(1000));
      } else res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(text), ...headers }).end(text);
    },
    vars: {
      "cache-manager": { CACHE_MAX_ENTRY_BYTES: String(LIMIT), UPSTREAM_TIMEOUT_MS: "3000" },
      "voice-router": { ORIGIN_TIMEOUT_MS: "1000" },
    },
  });

  // Staleness is wall-clock age: a max-age=1 entry goes stale once a second has passed, so
  // this fixed wait is for that time itself, not for work to finish.
  const goStale = () => sleep(1_100);
  const get = async (path, headers = {}, method = "GET") => {
    const r = await p.fetch(path, { method, headers }, C);
    return { status: r.status, headers: r.headers, body: await r.text(), cache: r.headers.get("x-cache") };
  };

  describe("freshness", () => {
    test("max-age: a second request is a HIT the origin never sees, with Age", async () => {
      const a = await get("/api/v1/calls/fresh");
      const b = await get("/api/v1/calls/fresh");
      assert.equal(a.cache, "MISS");
      assert.equal(b.cache, "HIT");
      assert.equal(b.body, a.body);
      assert.equal(count("/api/v1/calls/fresh"), 1);
      assert.match(b.headers.get("age"), /^\d+$/);
      assert.equal(b.headers.get("cache-control"), "max-age=60");
    });

    test("s-maxage beats max-age; Expires works; Age from upstream counts", async () => {
      for (const path of ["/api/v1/calls/s-maxage", "/api/v1/calls/expires"]) {
        await get(path);
        assert.equal((await get(path)).cache, "HIT", path);
        assert.equal(count(path), 1, path);
      }
      await get("/api/v1/calls/aged");
      const hit = await get("/api/v1/calls/aged");
      assert.equal(hit.cache, "HIT");
      assert.ok(Number(hit.headers.get("age")) >= 100, "the origin's Age is included");
    });

    test("no-store, private and Set-Cookie responses are never stored", async () => {
      for (const path of ["/api/v1/calls/no-store", "/api/v1/calls/private", "/api/v1/calls/cookie"]) {
        assert.equal((await get(path)).cache, "MISS");
        assert.equal((await get(path)).cache, "MISS", path);
        assert.equal(count(path), 2, path);
      }
    });

    test("per-path policy applies only where the origin says nothing", async () => {
      await get("/api/v1/agents/silent");
      assert.equal((await get("/api/v1/agents/silent")).cache, "HIT", "agents: 5 min by policy");
      await get("/api/v1/calls/silent");
      assert.equal((await get("/api/v1/calls/silent")).cache, "MISS", "no policy, no validator: not stored");
      const voice = await get("/voice/clip");
      assert.equal(voice.cache, "BYPASS", "audio is never cached, whatever the origin says");
      assert.equal((await get("/voice/clip")).cache, "BYPASS");
      assert.equal(count("/voice/clip"), 2);
    });

    test("a fresh entry answers HEAD and the client's If-None-Match", async () => {
      await get("/api/v1/calls/fresh"); // stored by the first test
      const head = await get("/api/v1/calls/fresh", {}, "HEAD");
      assert.equal(head.cache, "HIT");
      assert.equal(head.body, "");
    });
  });

  describe("revalidation", () => {
    test("a stale entry is revalidated with If-None-Match and a 304 is merged", async () => {
      const first = await get("/api/v1/calls/etag");
      assert.equal(first.cache, "MISS");
      await goStale();
      const second = await get("/api/v1/calls/etag");
      assert.equal(second.cache, "REVALIDATED");
      assert.equal(second.status, 200);
      assert.equal(second.body, first.body, "the stored body is served");
      assert.equal(second.headers.get("x-validated"), "yes-2", "headers of the 304 are merged");
      assert.equal(second.headers.get("etag"), '"v1"');
      const conditional = seen.get("/api/v1/calls/etag")[1];
      assert.equal(conditional.headers["if-none-match"], '"v1"');
      const third = await get("/api/v1/calls/etag");
      assert.equal(third.cache, "HIT", "the 304's max-age=60 was merged: fresh again");
      // (fetch adds `cache-control: no-cache` to conditional requests unless one is set,
      // and no-cache rightly forces a revalidation.)
      const notModified = await get("/api/v1/calls/etag", { "if-none-match": '"v1"', "cache-control": "max-age=3600" });
      assert.equal(notModified.status, 304);
      assert.equal(notModified.cache, "HIT");
      assert.equal(count("/api/v1/calls/etag"), 2);
      const forced = await get("/api/v1/calls/etag", { "cache-control": "no-cache" });
      assert.equal(forced.cache, "REVALIDATED", "a client's no-cache makes the cache ask the origin");
      assert.equal(count("/api/v1/calls/etag"), 3);
    });
  });

  describe("Vary and identity", () => {
    test("Vary keeps one entry per header value", async () => {
      const en = await get("/api/v1/calls/vary", { "accept-language": "en" });
      const de = await get("/api/v1/calls/vary", { "accept-language": "de" });
      assert.deepEqual([en.cache, de.cache], ["MISS", "MISS"]);
      const en2 = await get("/api/v1/calls/vary", { "accept-language": "en" });
      const de2 = await get("/api/v1/calls/vary", { "accept-language": "de" });
      assert.deepEqual([en2.cache, en2.body], ["HIT", "lang=en"]);
      assert.deepEqual([de2.cache, de2.body], ["HIT", "lang=de"]);
      assert.equal(count("/api/v1/calls/vary"), 2);
    });

    test("with Authorization: stored only if the response allows it, then per user", async () => {
      const as = async (sub, path) => {
        const r = await p.fetch(path, { headers: { authorization: `Bearer ${p.token({ sub })}` } });
        return { cache: r.headers.get("x-cache"), body: await r.text() };
      };
      // max-age alone does not allow storing an authorized response (RFC 9111 §3.5).
      assert.equal((await as("alice", "/api/v1/agents/mine")).cache, "MISS");
      assert.equal((await as("alice", "/api/v1/agents/mine")).cache, "MISS");
      // public does, keyed by the verified user: bob never sees alice's response.
      assert.deepEqual(await as("alice", "/api/v1/agents/shared"), { cache: "MISS", body: "user=alice" });
      assert.deepEqual(await as("alice", "/api/v1/agents/shared"), { cache: "HIT", body: "user=alice" });
      assert.deepEqual(await as("bob", "/api/v1/agents/shared"), { cache: "MISS", body: "user=bob" });
      assert.deepEqual(await as("bob", "/api/v1/agents/shared"), { cache: "HIT", body: "user=bob" });
      const anonymous = await get("/api/v1/agents/shared");
      assert.equal(anonymous.body, "user=undefined", "an unauthenticated request has its own entry");
    });
  });

  describe("invalidation and purge", () => {
    test("a successful unsafe method invalidates the URI", async () => {
      const path = "/api/v1/calls/fresh-for-post";
      script[path] = () => [{ "cache-control": "max-age=60" }];
      await get(path);
      assert.equal((await get(path)).cache, "HIT");
      const post = await p.fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }, C);
      assert.equal(post.headers.get("x-cache"), "BYPASS");
      assert.equal((await get(path)).cache, "MISS", "the POST invalidated the entry");
      assert.equal(count(path), 3);
    });

    test("purge by URL and by prefix, with the admin secret, also through the entry", async () => {
      for (const path of ["/api/v1/agents/p1", "/api/v1/agents/p2", "/api/v1/calls/p3"]) {
        script[path] = () => [{ "cache-control": "max-age=600" }];
        await get(path);
        assert.equal((await get(path)).cache, "HIT");
      }
      const purge = (body, auth = p.secret, worker = C) =>
        p.fetch("/admin/v1/cache/purge", {
          method: "POST",
          headers: { authorization: `Bearer ${auth}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        }, worker);
      await assertJsonError(await purge({ urls: ["/api/v1/agents/p1"] }, "wrong-secret-wrong-secret"), 401, "unauthorized");
      await assertJsonError(await purge({ everything: true }), 400, "invalid_purge");
      await assertJsonError(await purge({ prefixes: ["api"] }), 400, "invalid_purge");
      // Hosts are ASCII (the build has no Unicode IDNA tables): a name is written as punycode.
      await assertJsonError(await purge({ urls: ["https://bücher.example/api/v1/agents/p1"] }), 400, "invalid_purge");

      const byUrl = await purge({ urls: ["https://xn--bcher-kva.example/api/v1/agents/p1"] });
      assert.equal(byUrl.status, 200);
      assert.deepEqual(await byUrl.json(), { deleted: 1, complete: true });
      assert.equal((await get("/api/v1/agents/p1")).cache, "MISS");
      assert.equal((await get("/api/v1/agents/p2")).cache, "HIT");

      const viaEntry = await purge({ prefixes: ["/api/v1/agents/"] }, p.secret, "auth-validator");
      assert.equal(viaEntry.status, 200);
      // A prefix purge bumps the prefix's generation (one write, nothing listed): the
      // entries below it are unreachable at once and expire by themselves.
      assert.deepEqual(await viaEntry.json(), { deleted: 0, complete: true, invalidated_prefixes: 1 });
      assert.equal((await get("/api/v1/agents/p2")).cache, "MISS");
      assert.equal((await get("/api/v1/calls/p3")).cache, "HIT", "outside the prefix");
    });
  });

  describe("stale content", () => {
    test("stale-while-revalidate serves stale at once and refreshes in the background", async () => {
      const first = await get("/api/v1/calls/swr");
      await goStale();
      const stale = await get("/api/v1/calls/swr");
      assert.equal(stale.cache, "STALE");
      assert.equal(stale.body, first.body);
      await eventually(async () => count("/api/v1/calls/swr") === 2, { what: "background refresh" });
      await eventually(async () => (await get("/api/v1/calls/swr")).body.endsWith("#2"), { what: "refreshed entry" });
    });

    test("stale-if-error serves stale when the origin fails or hangs; must-revalidate does not", async () => {
      const first = await get("/api/v1/calls/sie");
      await get("/api/v1/calls/strict");
      await goStale();
      failing.add("/api/v1/calls/sie");
      failing.add("/api/v1/calls/strict");
      const served = await get("/api/v1/calls/sie");
      assert.deepEqual([served.status, served.cache, served.body], [200, "STALE", first.body]);
      const strict = await get("/api/v1/calls/strict");
      assert.deepEqual([strict.status, strict.cache], [503, "MISS"]);
      failing.delete("/api/v1/calls/sie");
      hanging.add("/api/v1/calls/sie");
      const timedOut = await get("/api/v1/calls/sie");
      assert.deepEqual([timedOut.status, timedOut.cache], [200, "STALE"], "a 504 from the router is an error too");
      hanging.delete("/api/v1/calls/sie");
    });

    test("without a stored entry, a hanging origin is a JSON 504 with X-Cache", async () => {
      hanging.add("/api/v1/calls/hang");
      const r = await p.fetch("/api/v1/calls/hang", {}, C);
      await assertJsonError(r, 504, "upstream_timeout");
      assert.equal(r.headers.get("x-cache"), "MISS");
      hanging.delete("/api/v1/calls/hang");
    });
  });

  describe("size and bursts", () => {
    test("bodies over the entry limit stream through whole and are not stored", async () => {
      for (const query of ["", "?chunked"]) {
        const path = `/api/v1/calls/big${query}`;
        const a = await get(path);
        const b = await get(path);
        assert.deepEqual([a.cache, b.cache], ["MISS", "MISS"], query);
        assert.equal(a.body.length, LIMIT + 1000);
        assert.equal(b.body, a.body);
      }
      assert.equal(count("/api/v1/calls/big"), 4);
    });

    test("a burst of misses for one key sends one request to the origin", async () => {
      const burst = await Promise.all(Array.from({ length: 20 }, () => get("/api/v1/calls/slow")));
      assert.equal(count("/api/v1/calls/slow"), 1);
      assert.ok(burst.every((r) => r.status === 200 && r.body === burst[0].body));
      assert.ok(burst.every((r) => ["MISS", "HIT"].includes(r.cache)));
    });
  });

  test("every response carries X-Cache", async () => {
    for (const [path, method] of [["/api/v1/calls/fresh", "GET"], ["/api/v1/calls/x", "OPTIONS"], ["/voice/clip", "GET"]]) {
      const r = await p.fetch(path, { method }, C);
      assert.match(r.headers.get("x-cache") ?? "", /^(HIT|MISS|STALE|REVALIDATED|BYPASS)$/, `${method} ${path}`);
    }
  });
});
