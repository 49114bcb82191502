// Issue 13 (hardening round), the entry's share: each numbered finding reproduced as an
// attacker would against the pipeline in workerd, and shown closed. Test names carry the
// finding's number; the README's security section points here.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { randomBytes, randomUUID } from "node:crypto";
import { assertJsonError } from "../harness/assert.mjs";
import { discordKey } from "../harness/discord.mjs";
import { keyPair, nowS, signJwt } from "../harness/jwt.mjs";
import { chatVars } from "../harness/line.mjs";
import { pipelineScope, withPipeline } from "../harness/fixture.mjs";

/**
 * A raw HTTP/1.1 request to `base` (so a GET may carry a body, a header may be spelled
 * any way, and a body may trickle): resolves with {status, headers, body}.
 * `chunks` are written with chunked encoding; `stall` leaves the body unfinished.
 */
function raw(base, { method = "GET", path, headers = {}, body, chunks, stall = false }) {
  const url = new URL(path, base);
  // Node frames a GET's body only when told its length.
  if (body !== undefined) headers = { ...headers, "content-length": String(Buffer.byteLength(body)) };
  if (chunks) headers = { ...headers, "transfer-encoding": "chunked" };
  return new Promise((resolve, reject) => {
    const req = http.request(
      // A fresh connection each time: a refused body may be left unread on it.
      { host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers, agent: false },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          req.destroy();
          resolve({ status: res.statusCode, headers: res.headers, body: text });
        });
      },
    );
    req.on("error", reject);
    if (chunks) {
      for (const c of chunks) req.write(c);
      if (!stall) req.end();
    } else {
      req.end(body);
    }
  });
}

const json = (r) => JSON.parse(r.body);

describe("hardening: the entry", { timeout: 180_000 }, () => {
  const p = withPipeline({
    origin: (req, res) => {
      // public: the requests carry Authorization, which a shared cache otherwise skips.
      res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=600" });
      res.end(JSON.stringify({ path: req.path, query: req.query }));
    },
    vars: { "auth-validator": { ADMIN_AUTH_FAILURE_LIMIT: "3/600", BODY_TIMEOUT_MS: "500" } },
  });
  const auth = () => ({ authorization: `Bearer ${p.token()}` });
  const reached = (path) => p.origin.requests.filter((r) => r.path === path).length;

  test("13.2 identity headers spelled with underscores are refused; reserved headers never reach the origin", async () => {
    for (const name of ["X_Auth_Role", "X_Auth_User_Id", "x_edge_region", "X_Request_Id", "x-auth_role"]) {
      const r = await raw(p.url, { path: "/api/v1/agents/u1", headers: { ...auth(), [name]: "admin" } });
      assert.equal(r.status, 400, name);
      assert.equal(json(r).error.code, "reserved_header", name);
    }
    assert.equal(reached("/api/v1/agents/u1"), 0, "no refused request reached the origin");

    const r = await raw(p.url, {
      path: "/api/v1/agents/u2",
      headers: { ...auth(), "X-Auth-Role": "admin", "x-edge-region": "forged", "x-edge-seal": "x", "x-request-id": "forged" },
    });
    assert.equal(r.status, 200);
    const seen = p.origin.requests.at(-1).headers;
    assert.equal(seen["x-auth-role"], "admin", "the verified role (the test token is an admin)");
    assert.equal(seen["x-auth-user-id"], "test-admin");
    assert.notEqual(seen["x-edge-region"], "forged", "voice-router's own value, not the client's");
    assert.equal(seen["x-edge-seal"], undefined);
    assert.notEqual(seen["x-request-id"], "forged");
    for (const name of Object.keys(seen)) assert.ok(!name.includes("_"), `no underscore header reached the origin: ${name}`);
  });

  test("13.3 only GET/HEAD /health is public: nothing below it exists, nothing is cached or forwarded", async () => {
    assert.equal((await p.fetch("/health")).status, 200);
    assert.equal((await p.fetch("/health", { method: "HEAD" })).status, 200);
    await assertJsonError(await p.fetch("/health", { method: "POST", body: "x" }), 405, "method_not_allowed");
    const before = p.origin.requests.length;
    for (const path of ["/health/", "/health/x", `/health/${randomBytes(8).toString("hex")}`, "/health/a/b"]) {
      await assertJsonError(await p.fetch(path), 404, "not_found");
      await assertJsonError(await p.fetch(path, { method: "PUT", body: "x".repeat(1024) }), 404, "not_found");
      await assertJsonError(await p.fetch(path, { headers: auth() }), 404, "not_found");
    }
    assert.equal(p.origin.requests.length, before, "no /health/* request reached the origin (or the cache)");
  });

  test("13.4 only POST /admin/v1/cache/purge is forwarded, sealed, without the admin secret", async () => {
    // A spy in place of cache-manager sees exactly what the entry forwards.
    const forwarded = [];
    const spy = await p.launch({
      originUrl: p.origin.url,
      adminSecret: p.secret,
      workerExtras: {
        "auth-validator": {
          serviceBindings: {
            CACHE: async (req) => {
              forwarded.push({ method: req.method, url: req.url, headers: Object.fromEntries(req.headers) });
              return new Response('{"deleted":0,"complete":true}', { headers: { "content-type": "application/json" } });
            },
            ANALYTICS: "analytics-collector",
          },
        },
      },
    });
    const admin = { authorization: `Bearer ${p.secret}` };
    for (const [method, path, status, code] of [
      ["GET", "/admin/v1/cache/anything", 404, "not_found"],
      ["GET", "/admin/v1/cache/", 404, "not_found"],
      ["PUT", "/admin/v1/cache/api/v1/agents/a1", 404, "not_found"],
      ["GET", "/admin/v1/cache/purge", 405, "method_not_allowed"],
      ["DELETE", "/admin/v1/cache/purge", 405, "method_not_allowed"],
    ]) {
      await assertJsonError(await spy.fetch(path, { method, headers: admin }), status, code);
    }
    assert.equal(forwarded.length, 0, "nothing but the purge is forwarded");

    const ok = await spy.fetch("/admin/v1/cache/purge", {
      method: "POST",
      headers: { ...admin, "content-type": "application/json", "x-auth-role": "admin", cookie: "a=b" },
      body: JSON.stringify({ prefixes: ["/api/v1/agents/"] }),
    });
    assert.equal(ok.status, 200);
    assert.equal(forwarded.length, 1);
    const h = forwarded[0].headers;
    assert.equal(h.authorization, undefined, "the admin secret stays in the entry");
    assert.equal(h.cookie, undefined);
    assert.equal(h["x-auth-role"], undefined);
    assert.match(h["x-auth-seal"], /^v1\.\d+\./, "sealed instead");
    assert.ok(!JSON.stringify(forwarded).includes(p.secret), "the secret appears nowhere in what was forwarded");

    // The real cache-manager accepts the seal, and refuses a request that has neither a
    // seal nor the secret, or a seal made for another request.
    const purge = await p.fetch("/admin/v1/cache/purge", {
      method: "POST",
      headers: { ...admin, "content-type": "application/json" },
      body: JSON.stringify({ prefixes: ["/api/v1/agents/"] }),
    });
    assert.equal(purge.status, 200);
    const direct = (headers) =>
      p.fetch("/admin/v1/cache/purge", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: "{}" }, "cache-manager");
    await assertJsonError(await direct({}), 401, "unauthorized");
    // A seal binds the request id, method and path it was made for.
    await assertJsonError(await direct({ "x-auth-seal": h["x-auth-seal"], "x-request-id": randomUUID() }), 401, "unauthorized");
  });

  test("13.7 percent-encoded aliases are one resource: one cache entry, one policy", async () => {
    const a = await p.fetch("/api/v1/agents/%61%31", { headers: auth() });
    assert.equal(a.status, 200);
    assert.equal(json({ body: await a.text() }).path, "/api/v1/agents/a1", "the origin sees the normal spelling");
    const b = await p.fetch("/api/v1/agents/a1", { headers: auth() });
    assert.equal(b.headers.get("x-cache"), "HIT", "the plain spelling hits the same entry");
    const c = await p.fetch("/api/v1/agents/%61%31", { headers: auth() });
    assert.equal(c.headers.get("x-cache"), "HIT");
    assert.equal(reached("/api/v1/agents/a1"), 1);
    assert.equal(p.origin.requests.filter((r) => r.path.includes("%")).length, 0);

    // A write through one spelling invalidates the entry the other spelling reads.
    const put = await p.fetch("/api/v1/agents/%61%31", {
      method: "PUT",
      headers: { ...auth(), "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(put.status, 200);
    assert.equal((await p.fetch("/api/v1/agents/a1", { headers: auth() })).headers.get("x-cache"), "MISS");

    // The never-cache class cannot be escaped by an escape.
    const s = await p.fetch("/api/v1/calls/c1/%73tream", { headers: auth() });
    assert.equal(s.status, 200);
    const seen = p.origin.requests.at(-1);
    assert.equal(seen.path, "/api/v1/calls/c1/stream");
    assert.equal(seen.headers["x-edge-request-class"], "audio-stream");
    // Path parameters and broken escapes are refused outright.
    for (const path of ["/api/v1/agents/a1;v=2", "/api/v1/agents/a1%zz", "/api/v1/agents/%4"]) {
      await assertJsonError(await p.fetch(path, { headers: auth() }), 400, "invalid_path");
    }
  });

  test("13.10 a GET with a body is a 4xx everywhere, never internal_error", async () => {
    const admin = { authorization: `Bearer ${p.secret}` };
    for (const [path, headers] of [
      ["/api/v1/analytics/edge/query", {}],
      ["/api/v1/analytics/edge/dashboard", {}],
      ["/admin/v1/cache/purge", admin],
      ["/admin/v1/cache/x", admin],
      ["/admin/v1/keys", admin],
      ["/api/v1/agents", auth()],
      ["/health", {}],
    ]) {
      const r = await raw(p.url, { path, headers: { ...headers, "content-type": "application/json" }, body: '{"a":1}' });
      assert.ok(r.status >= 400 && r.status < 500, `${path}: ${r.status} ${r.body}`);
      assert.notEqual(json(r).error.code, "internal_error", path);
    }
  });

  test("13.11 JSON bodies must be UTF-8 and at most 64 levels deep", async () => {
    const post = (body) =>
      p.fetch("/api/v1/calls", { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body });
    const before = p.origin.requests.length;
    await assertJsonError(await post(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 400, "malformed_json");
    await assertJsonError(await post("[".repeat(10_000) + "]".repeat(10_000)), 400, "malformed_json");
    await assertJsonError(await post("[".repeat(65) + "]".repeat(65)), 400, "malformed_json");
    assert.equal(p.origin.requests.length, before, "refused bodies never reach the origin");
    assert.equal((await post("[".repeat(64) + "]".repeat(64))).status, 200);
  });

  test("13.12 a body must arrive within BODY_TIMEOUT_MS (408), on the gate and the chat webhooks", async () => {
    const trickle = (path, headers, base = p.url) =>
      raw(base, { method: "POST", path, headers: { ...headers, "content-type": "application/json" }, chunks: ['{"a":'], stall: true });
    const gate = await trickle("/api/v1/calls", auth());
    assert.equal(gate.status, 408);
    assert.equal(json(gate).error.code, "body_timeout");
    // The chat webhooks read their bodies before any signature check: anonymous slow
    // bodies are the cheapest abuse there. chat-webhook is an entry of its own.
    const fake = { url: p.origin.url }; // never called: the body never arrives
    const chat = await p.launch({
      originUrl: p.origin.url,
      adminSecret: p.secret,
      vars: {
        "chat-webhook": { ...chatVars(fake, fake), DISCORD_PUBLIC_KEY: discordKey().publicKeyHex, BODY_TIMEOUT_MS: "500" },
      },
    });
    for (const path of ["/webhooks/line", "/webhooks/discord"]) {
      const r = await trickle(path, { host: "chat-webhook.local" }, chat.url);
      assert.equal(r.status, 408, `${path}: ${r.body}`);
      assert.equal(json(r).error.code, "body_timeout");
    }
    // /health/* no longer reads bodies at all.
    const health = await trickle("/health/x", {});
    assert.equal(health.status, 404);
  });

  test("failed admin-secret attempts are throttled per client address; successes are not counted", async () => {
    const keys = (ip, s) => p.fetch("/admin/v1/keys", { headers: { authorization: `Bearer ${s}`, "cf-connecting-ip": ip } });
    for (let i = 0; i < 3; i++) await assertJsonError(await keys("203.0.113.7", "wrong-secret-wrong-secret"), 401, "unauthorized");
    const locked = await keys("203.0.113.7", p.secret);
    await assertJsonError(locked, 429, "rate_limited");
    assert.ok(Number(locked.headers.get("retry-after")) > 0);
    for (let i = 0; i < 5; i++) assert.equal((await keys("203.0.113.8", p.secret)).status, 200, "another address, and successes do not count");
    // The purge endpoint and the dashboard's sign-in form count against the same allowance.
    await assertJsonError(
      await p.fetch("/admin/v1/cache/purge", { method: "POST", headers: { authorization: `Bearer ${p.secret}`, "cf-connecting-ip": "203.0.113.7", "content-type": "application/json" }, body: "{}" }),
      429,
      "rate_limited",
    );
    const signIn = (ip, s) =>
      p.fetch("/api/v1/analytics/edge/session", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip },
        body: `secret=${encodeURIComponent(s)}`,
        redirect: "manual",
      });
    for (let i = 0; i < 3; i++) assert.equal((await signIn("203.0.113.9", "nope-nope-nope-nope")).status, 401);
    await assertJsonError(await signIn("203.0.113.9", p.secret), 429, "rate_limited");
    assert.equal((await signIn("203.0.113.10", p.secret)).status, 303);

    // chat-webhook, the other entry, throttles its admin API the same way.
    const chat = await p.launch({
      originUrl: p.origin.url,
      adminSecret: p.secret,
      vars: { "chat-webhook": { ADMIN_AUTH_FAILURE_LIMIT: "3/600" } },
    });
    const products = (ip, s) =>
      chat.fetch("/admin/v1/products", { headers: { authorization: `Bearer ${s}`, "cf-connecting-ip": ip } }, "chat-webhook");
    for (let i = 0; i < 3; i++) await assertJsonError(await products("203.0.113.7", "wrong-secret-wrong-secret"), 401, "unauthorized");
    await assertJsonError(await products("203.0.113.7", p.secret), 429, "rate_limited");
    for (let i = 0; i < 4; i++) assert.equal((await products("203.0.113.8", p.secret)).status, 200);
  });

  test("a JWT subject cannot claim an API key's user id; JWT subjects are rate limited by default", async () => {
    await assertJsonError(await p.fetch("/api/v1/agents", { headers: { authorization: `Bearer ${p.token({ sub: "key:0123456789abcdef" })}` } }), 401, "token_claim_invalid");
    const r = await p.fetch("/api/v1/agents", { headers: auth() });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("ratelimit-policy"), "600;w=60", "JWT_RATE_LIMIT defaults to 600/60");
  });
});

describe("hardening: remote JWKS", { timeout: 120_000 }, () => {
  const ISS = "https://id.edge.test";
  const scope = pipelineScope();
  const claims = () => ({ sub: "u", iss: ISS, exp: nowS() + 120, role: "admin" });

  test("13.6 200 concurrent tokens with unknown kids cost the identity provider one fetch", async () => {
    const ed = keyPair("ed25519", "ed-1");
    const shared = randomBytes(32);
    const p = await scope.launch({
      origin: (req, res) => res.writeHead(200).end("{}"),
      upstreams: {
        idp: async (req, res) => {
          await new Promise((r) => setTimeout(r, 300)); // a slow provider: the burst overlaps the fetch
          res.writeHead(200, { "content-type": "application/json" }).end(
            JSON.stringify({ keys: [ed.jwk, { kty: "oct", kid: "hs-remote", alg: "HS256", k: shared.toString("base64url") }] }),
          );
        },
      },
      jwtSecret: null,
      vars: ({ idp }) => ({ "auth-validator": { JWT_ISSUER: ISS, JWT_JWKS_URL: `${idp.url}/jwks`, JWT_ALGORITHMS: "HS256,EdDSA" } }),
    });
    const forged = keyPair("ed25519", "x");
    const burst = await Promise.all(
      Array.from({ length: 200 }, () => {
        const t = signJwt({ alg: "EdDSA", kid: randomBytes(6).toString("hex") }, claims(), forged.privateKey);
        return p.fetch("/api/v1/agents", { headers: { authorization: `Bearer ${t}` } });
      }),
    );
    const codes = await Promise.all(burst.map(async (r) => `${r.status} ${(await r.json()).error?.code}`));
    assert.deepEqual([...new Set(codes)], ["401 token_unknown_key"]);
    assert.equal(p.idp.requests.length, 1, "one fetch for the whole burst");

    // The provider's real key works; an HMAC key published in the JWKS is not a key.
    const good = signJwt({ alg: "EdDSA", kid: "ed-1" }, claims(), ed.privateKey);
    assert.equal((await p.fetch("/api/v1/agents", { headers: { authorization: `Bearer ${good}` } })).status, 200);
    const hs = signJwt({ alg: "HS256", kid: "hs-remote" }, claims(), shared);
    await assertJsonError(await p.fetch("/api/v1/agents", { headers: { authorization: `Bearer ${hs}` } }), 401, "token_unknown_key");
  });

  test("13.6 a remote JWKS needs https (or loopback) and JWT_ISSUER", async () => {
    for (const [vars, named] of [
      [{ JWT_JWKS_URL: "http://127.0.0.1:9/jwks" }, "JWT_ISSUER"],
      [{ JWT_ISSUER: ISS, JWT_JWKS_URL: "http://idp.example.com/jwks" }, "JWT_JWKS_URL"],
    ]) {
      const p = await scope.launch({ origin: (req, res) => res.writeHead(200).end("{}"), vars: { "auth-validator": vars } });
      const body = await assertJsonError(await p.api("/api/v1/agents"), 500, "misconfigured");
      assert.match(body.error.message, new RegExp(named));
      // Health still answers, and says what is broken (issue 16): degraded, naming the var.
      const health = await p.fetch("/health");
      assert.equal(health.status, 503);
      assert.deepEqual((await health.json()).problems, [{ code: "misconfigured", field: named }]);
    }
  });
});
