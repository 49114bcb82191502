// auth-validator's gate in workerd: request validation, JWTs (HS256, RS256 from an inline
// JWKS, EdDSA from a JWKS URL with rotation), identity headers, permissions, CORS, and
// the decisions it reports to analytics.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { assertJsonError } from "../harness/assert.mjs";
import { keyPair, nowS, signJwt } from "../harness/jwt.mjs";
import { pipelineScope, withPipeline } from "../harness/fixture.mjs";
import { eventually } from "../harness/wait.mjs";

const ISS = "https://id.edge.test";
const AUD = "edge-api";
const APP = "https://app.edge.test";
const LIMIT = 64 * 1024;

describe("auth-validator gate", { timeout: 120_000 }, () => {
  const rsa = keyPair("rsa", "rsa-1");
  const edOld = keyPair("ed25519", "ed-1");
  const edNew = keyPair("ed25519", "ed-2");
  let served = [edOld.jwk];

  const p = withPipeline({
    origin: "auth-test",
    upstreams: {
      idp: (req, res) => {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: served }));
      },
    },
    vars: (h) => ({
      "auth-validator": {
        JWT_ISSUER: ISS,
        JWT_AUDIENCE: AUD,
        JWT_JWKS: JSON.stringify({ keys: [rsa.jwk] }),
        JWT_JWKS_URL: `${h.idp.url}/.well-known/jwks.json`,
        JWKS_REFRESH_MIN_INTERVAL_S: "1", // the floor: 0 is refused as misconfigured
        MAX_BODY_BYTES: String(LIMIT),
        CORS_ALLOWED_ORIGINS: APP,
        PUBLIC_PATH_PREFIXES: "/health,/webhooks/",
      },
    }),
  });
  const claims = (extra = {}) => ({ sub: "user-7", iss: ISS, aud: AUD, exp: nowS() + 120, role: "admin", ...extra });
  const hs = (extra) => p.token(claims(extra));
  const get = (path, token, init = {}) =>
    p.fetch(path, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers } });
  const post = (path, token, body, contentType = "application/json") =>
    get(path, token, { method: "POST", headers: { "content-type": contentType }, body });

  describe("request validation", () => {
    test("unknown and non-canonical paths: 404 and 400, before any credential is read", async () => {
      const before = p.origin.requests.length;
      await assertJsonError(await get("/api/v1/callsign", hs()), 404, "not_found");
      await assertJsonError(await get("/admin", null), 404, "not_found");
      // The URL parser resolves dot segments (encoded or not) first: this is plain /admin.
      await assertJsonError(await get("/api/v1/calls/%2e%2e/%2e%2e/%2e%2e/admin", hs()), 404, "not_found");
      for (const path of ["/api/v1/calls/..%2fadmin", "/api/v1/calls%2F..%2Fadmin", "/api/v1//calls", "/api/v1/calls/a%5cb"]) {
        await assertJsonError(await get(path, hs()), 400, "invalid_path");
      }
      assert.equal(p.origin.requests.length, before);
    });

    test("a method outside the list is 405 with Allow", async () => {
      const r = await get("/api/v1/calls", hs(), { method: "PROPFIND" });
      await assertJsonError(r, 405, "method_not_allowed");
      assert.match(r.headers.get("allow"), /GET, HEAD, POST/);
    });

    test("content types: JSON, audio/* and octet-stream pass; others are 415; bad JSON is 400", async () => {
      for (const [ct, body] of [
        ["application/json", '{"to":"+15550100"}'],
        ["audio/ogg; codecs=opus", "OggS\u0000bytes"],
        ["application/octet-stream", "\u0001\u0002"],
      ]) {
        assert.equal((await post("/api/v1/calls", hs(), body, ct)).status, 200, ct);
      }
      const before = p.origin.requests.length;
      await assertJsonError(await post("/api/v1/calls", hs(), "hi", "text/plain"), 415, "unsupported_media_type");
      await assertJsonError(await post("/api/v1/calls", hs(), '{"to":', "application/json"), 400, "malformed_json");
      await assertJsonError(await get("/api/v1/calls", hs(), { method: "POST", body: "{}" }), 415, "unsupported_media_type");
      assert.equal(p.origin.requests.length, before, "no refused body reached the origin");
    });

    test("a POST with neither a length nor a body is 411", async () => {
      const { port } = new URL(p.url);
      const raw = await new Promise((resolve, reject) => {
        const s = net.connect(Number(port), "127.0.0.1");
        let out = "";
        s.on("data", (d) => (out += d));
        s.on("end", () => resolve(out));
        s.on("error", reject);
        s.write(
          `POST /api/v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${hs()}\r\nConnection: close\r\n\r\n`,
        );
      });
      assert.match(raw, /^HTTP\/1\.1 411/);
      assert.match(raw, /"code":"length_required"/);
    });

    test("the body limit holds on the actual bytes, declared or chunked", async () => {
      const before = p.origin.requests.length;
      const big = Buffer.alloc(LIMIT + 1, "a");
      await assertJsonError(await post("/api/v1/calls", hs(), big, "application/octet-stream"), 413, "payload_too_large");
      const chunked = (n) =>
        new ReadableStream({
          start(c) {
            for (let i = 0; i < n; i++) c.enqueue(new Uint8Array(1024).fill(98));
            c.close();
          },
        });
      const over = await get("/voice/upload", hs(), {
        method: "PUT",
        headers: { "content-type": "audio/wav" },
        body: chunked(LIMIT / 1024 + 8),
        duplex: "half",
      });
      await assertJsonError(over, 413, "payload_too_large");
      assert.equal(p.origin.requests.length, before, "nothing over the limit was forwarded");
      const under = await get("/voice/upload", hs(), {
        method: "PUT",
        headers: { "content-type": "audio/wav" },
        body: chunked(LIMIT / 1024),
        duplex: "half",
      });
      assert.equal(under.status, 200);
      assert.equal(p.origin.requests.at(-1).body, "b".repeat(LIMIT), "a chunked body at the limit arrives whole");
    });
  });

  describe("JWT bearer tokens", () => {
    test("HS256, RS256 (inline JWKS) and EdDSA (JWKS URL) tokens are accepted", async () => {
      const tokens = [
        hs(),
        signJwt({ alg: "RS256", kid: "rsa-1" }, claims(), rsa.privateKey),
        signJwt({ alg: "EdDSA", kid: "ed-1" }, claims(), edOld.privateKey),
      ];
      for (const t of tokens) {
        const r = await get("/api/v1/agents", t);
        assert.equal(r.status, 200, await r.clone().text());
      }
    });

    test("each failure has its own reason code and a WWW-Authenticate challenge", async () => {
      const now = nowS();
      const cases = [
        [null, "missing_credentials"],
        ["Basic dXNlcjpwdw==", "malformed_authorization"],
        [`Bearer ${hs({ exp: now - 31 })}`, "token_expired"],
        [`Bearer ${hs({ nbf: now + 120 })}`, "token_not_yet_valid"],
        [`Bearer ${hs({ iss: "https://evil.test" })}`, "token_issuer_invalid"],
        [`Bearer ${hs({ aud: "other-api" })}`, "token_audience_invalid"],
        [`Bearer ${hs({ sub: undefined })}`, "token_claim_invalid"],
        [`Bearer ${signJwt({ alg: "none" }, claims(), null)}`, "token_algorithm_not_allowed"],
        [`Bearer ${signJwt({ alg: "HS512" }, claims(), "x")}`, "token_algorithm_not_allowed"],
        [`Bearer ${signJwt({ alg: "HS256" }, claims(), "a-different-secret-of-32-bytes!!")}`, "token_signature_invalid"],
        [`Bearer ${signJwt({ alg: "RS256", kid: "nobody" }, claims(), rsa.privateKey)}`, "token_unknown_key"],
        ["Bearer not-a-jwt", "token_malformed"],
      ];
      for (const [authorization, code] of cases) {
        const r = await p.fetch("/api/v1/agents", { headers: authorization ? { authorization } : {} });
        await assertJsonError(r, 401, code);
        assert.match(r.headers.get("www-authenticate") ?? "", /realm="edge-workers"/, code);
      }
    });

    test("a leeway of 30 s applies to exp", async () => {
      assert.equal((await get("/api/v1/agents", hs({ exp: nowS() - 20 }))).status, 200);
    });

    test("algorithm confusion: an HS256 token signed with the RSA public key is refused", async () => {
      const forged = signJwt({ alg: "HS256", kid: "rsa-1" }, claims(), JSON.stringify(rsa.jwk));
      await assertJsonError(await get("/api/v1/agents", forged), 401, "token_signature_invalid");
      const pem = signJwt({ alg: "HS256", kid: "rsa-1" }, claims(), rsa.jwk.n);
      await assertJsonError(await get("/api/v1/agents", pem), 401, "token_signature_invalid");
    });

    test("a key the identity provider rotates in is fetched once the refresh interval allows", async () => {
      const t = signJwt({ alg: "EdDSA", kid: "ed-2" }, claims(), edNew.privateKey);
      await assertJsonError(await get("/api/v1/agents", t), 401, "token_unknown_key");
      served = [edOld.jwk, edNew.jwk];
      const fetchesBefore = p.idp.requests.length;
      // Within JWKS_REFRESH_MIN_INTERVAL_S of the last fetch the unknown kid is refused
      // without a fetch; the first token after it fetches once and is admitted.
      await eventually(async () => (await get("/api/v1/agents", t)).status === 200, {
        what: "the rotated-in key to verify",
      });
      assert.equal(p.idp.requests.length - fetchesBefore, 1, "exactly one JWKS fetch for the rotation");
      served = [edNew.jwk];
      const old = signJwt({ alg: "EdDSA", kid: "ed-1" }, claims(), edOld.privateKey);
      // ed-1 is still cached until the cache ages out: a token for a removed key keeps
      // working for at most JWKS_CACHE_TTL_S (600 s, far longer than this suite).
      assert.equal((await get("/api/v1/agents", old)).status, 200);
    });
  });

  describe("identity and permissions", () => {
    test("client identity headers are stripped and the verified identity is forwarded", async () => {
      const t = hs({ sub: "user-42", role: "operator", permissions: ["agents:read"] });
      const r = await get("/api/v1/agents/a1", t, {
        headers: { "x-auth-user-id": "root", "X-Auth-Role": "admin", "x-auth-key-id": "forged", "x-auth-extra": "1" },
      });
      assert.equal(r.status, 200);
      const seen = p.origin.requests.at(-1).headers;
      assert.equal(seen["x-auth-user-id"], "user-42");
      assert.equal(seen["x-auth-role"], "operator");
      assert.equal(seen["x-auth-permissions"], "agents:read");
      assert.equal(seen["x-auth-method"], "jwt");
      assert.ok(Math.abs(Number(seen["x-auth-authenticated-at"]) - nowS()) <= 5);
      assert.equal(seen["x-auth-key-id"], undefined);
      assert.equal(seen["x-auth-extra"], undefined);
    });

    test("public paths need no credentials and forward no identity, even a forged one", async () => {
      const r = await p.fetch("/webhooks/provider", {
        method: "POST",
        headers: { "content-type": "application/json", "x-auth-role": "admin", "x-auth-user-id": "root" },
        body: '{"event":"ring"}',
      });
      assert.equal(r.status, 200);
      const seen = p.origin.requests.at(-1);
      assert.equal(seen.path, "/webhooks/provider");
      assert.equal(seen.body, '{"event":"ring"}');
      assert.deepEqual(Object.keys(seen.headers).filter((h) => h.startsWith("x-auth-")), []);
      await assertJsonError(await p.fetch("/webhooks/provider", { method: "POST", headers: { "content-type": "text/plain" }, body: "x" }), 415, "unsupported_media_type");
    });

    test("a route needs its resource permission: read for GET, write otherwise", async () => {
      const reader = hs({ role: "user", permissions: ["calls:read"] });
      assert.equal((await get("/api/v1/calls", reader)).status, 200);
      const denied = await post("/api/v1/calls", reader, "{}");
      const body = await assertJsonError(denied, 403, "insufficient_permission");
      assert.equal(body.error.field, "calls:write");
      await assertJsonError(await get("/api/v1/agents", reader), 403, "insufficient_permission");
      assert.equal((await post("/api/v1/calls", hs({ role: "user", scope: "calls:*" }), "{}")).status, 200);
    });
  });

  describe("CORS", () => {
    const preflight = (origin, method = "POST", headers = "content-type, authorization") =>
      p.fetch("/api/v1/calls", {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": method, "access-control-request-headers": headers },
      });

    test("a preflight from a configured origin is answered at the edge", async () => {
      const before = p.origin.requests.length;
      const r = await preflight(APP);
      assert.equal(r.status, 204);
      assert.equal(r.headers.get("access-control-allow-origin"), APP);
      assert.match(r.headers.get("access-control-allow-methods"), /POST/);
      assert.match(r.headers.get("access-control-allow-headers"), /authorization/);
      assert.equal(r.headers.get("access-control-max-age"), "600");
      assert.equal(p.origin.requests.length, before, "preflights never reach the origin");
    });

    test("other origins, methods and headers are refused without CORS headers", async () => {
      for (const r of [
        await preflight("https://evil.test"),
        await preflight(APP, "CONNECT"),
        await preflight(APP, "POST", "x-auth-role"),
      ]) {
        await assertJsonError(r, 403, "cors_rejected");
        assert.equal(r.headers.get("access-control-allow-origin"), null);
      }
    });

    test("actual responses to the origin carry CORS headers, errors included", async () => {
      const ok = await get("/api/v1/agents", hs(), { headers: { origin: APP } });
      assert.equal(ok.headers.get("access-control-allow-origin"), APP);
      assert.match(ok.headers.get("access-control-expose-headers"), /x-request-id/);
      assert.match(ok.headers.get("vary"), /Origin/);
      const denied = await get("/api/v1/agents", null, { headers: { origin: APP } });
      assert.equal(denied.status, 401);
      assert.equal(denied.headers.get("access-control-allow-origin"), APP);
      const foreign = await get("/api/v1/agents", hs(), { headers: { origin: "https://evil.test" } });
      assert.equal(foreign.headers.get("access-control-allow-origin"), null);
    });
  });

  test("every decision reaches analytics with its code", async () => {
    const allowed = await get("/api/v1/agents", hs());
    const expired = await get("/api/v1/agents", hs({ exp: nowS() - 600 }));
    const forbidden = await get("/api/v1/agents", hs({ role: "user" }));
    for (const [r, status, decision] of [
      [allowed, 200, "allow_jwt"],
      [expired, 401, "token_expired"],
      [forbidden, 403, "insufficient_permission"],
    ]) {
      const id = r.headers.get("x-request-id");
      const entry = await p.hopOf(id, "auth-validator");
      assert.equal(entry.status, status);
      assert.equal(entry.decision, decision);
    }
  });
});

describe("auth-validator algorithms and keys (issue 16)", { timeout: 180_000 }, () => {
  const scope = pipelineScope();
  const claims = () => ({ sub: "user-16", iss: ISS, exp: nowS() + 120, role: "admin" });
  const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });
  const ok = () => (req, res) => res.writeHead(200, { "content-type": "application/json" }).end("{}");

  test("JWT_ALGORITHMS=RS256,ES256 is a valid configuration: /health and both algorithms work", async () => {
    // Before issue 16 every request, /health included, answered 500 misconfigured.
    const rsa = keyPair("rsa", "rsa-1");
    const ec = keyPair("p256", "ec-1");
    const p = await scope.launch({
      origin: ok(),
      jwtSecret: null,
      vars: { "auth-validator": { JWT_ALGORITHMS: "RS256,ES256", JWT_JWKS: JSON.stringify({ keys: [rsa.jwk, ec.jwk] }) } },
    });
    assert.equal((await p.fetch("/health")).status, 200);
    for (const [alg, key, kid] of [["ES256", ec, "ec-1"], ["RS256", rsa, "rsa-1"]]) {
      const r = await p.fetch("/api/v1/agents", bearer(signJwt({ alg, kid }, claims(), key.privateKey)));
      assert.equal(r.status, 200, `${alg}: ${await r.clone().text()}`);
    }
    const eddsa = keyPair("ed25519", "ed-1");
    const t = signJwt({ alg: "EdDSA", kid: "ed-1" }, claims(), eddsa.privateKey);
    await assertJsonError(await p.fetch("/api/v1/agents", bearer(t)), 401, "token_algorithm_not_allowed");
  });

  test("every algorithm, from a provider's JWKS with unusable keys in it", async () => {
    const keys = {
      ES256: keyPair("p256", "es256"),
      ES384: keyPair("p384", "es384"),
      PS256: keyPair("rsa", "ps256", "PS256"),
      PS384: keyPair("rsa", "ps384", "PS384"),
      PS512: keyPair("rsa", "ps512", "PS512"),
      RS384: keyPair("rsa", "rs384", "RS384"),
      RS512: keyPair("rsa", "rs512", "RS512"),
      EdDSA: keyPair("ed25519", "ed"),
    };
    const weak = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ format: "jwk" });
    const secp256k1 = generateKeyPairSync("ec", { namedCurve: "secp256k1" }).publicKey.export({ format: "jwk" });
    const published = [
      { ...secp256k1, kid: "btc", use: "sig" },
      { ...weak, kid: "weak", use: "sig" },
      { ...keys.PS256.jwk, kid: "enc", use: "enc" },
      ...Object.values(keys).map((k) => k.jwk),
    ];
    const secret = randomBytes(64);
    const p = await scope.launch({
      origin: ok(),
      jwtSecret: null,
      upstreams: {
        idp: (req, res) =>
          res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=3600" }).end(JSON.stringify({ keys: published })),
      },
      vars: ({ idp }) => ({
        "auth-validator": {
          JWT_ISSUER: ISS,
          JWT_JWKS_URL: `${idp.url}/jwks`,
          JWT_JWKS: JSON.stringify({ keys: [{ kty: "oct", kid: "hs", alg: "HS512", k: secret.toString("base64url") }] }),
          JWT_ALGORITHMS: "ES256,ES384,PS256,PS384,PS512,RS384,RS512,EdDSA,Ed25519,HS512",
        },
      }),
    });
    const tokens = [
      ...Object.entries(keys).map(([alg, k]) => [alg, signJwt({ alg, kid: k.jwk.kid }, claims(), k.privateKey)]),
      ["Ed25519", signJwt({ alg: "Ed25519", kid: "ed" }, claims(), keys.EdDSA.privateKey)],
      ["HS512", signJwt({ alg: "HS512", kid: "hs" }, claims(), secret)],
    ];
    for (const [alg, t] of tokens) {
      const r = await p.fetch("/api/v1/agents", bearer(t));
      assert.equal(r.status, 200, `${alg}: ${await r.clone().text()}`);
    }
    // A key is bound to its one algorithm: the PS256 key verifies no PS384 token.
    const ps384ByPs256Key = signJwt({ alg: "PS384", kid: "ps256" }, claims(), keys.PS256.privateKey);
    await assertJsonError(await p.fetch("/api/v1/agents", bearer(ps384ByPs256Key)), 401, "token_unknown_key");
    // A DER-encoded ECDSA signature is not a JWS signature.
    const der = (() => {
      const [h, c] = signJwt({ alg: "ES256", kid: "es256" }, claims(), keys.ES256.privateKey).split(".");
      const sig = sign("sha256", Buffer.from(`${h}.${c}`), keys.ES256.privateKey); // DER by default
      return `${h}.${c}.${sig.toString("base64url")}`;
    })();
    await assertJsonError(await p.fetch("/api/v1/agents", bearer(der)), 401, "token_signature_invalid");
    // The skipped keys are not keys, and did not spoil the others.
    await assertJsonError(
      await p.fetch("/api/v1/agents", bearer(signJwt({ alg: "PS256", kid: "enc" }, claims(), keys.PS256.privateKey))),
      401,
      "token_unknown_key",
    );
    assert.equal(p.idp.requests.length, 1, "one fetch (a refresh for the skipped kid waits for the interval)");
  });

  test("a token without kid is verified against a one-key set", async () => {
    const ec = keyPair("p256", "only");
    const p = await scope.launch({
      origin: ok(),
      jwtSecret: null,
      upstreams: { idp: (req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [ec.jwk] })) },
      vars: ({ idp }) => ({ "auth-validator": { JWT_ISSUER: ISS, JWT_JWKS_URL: `${idp.url}/jwks`, JWT_ALGORITHMS: "ES256" } }),
    });
    const r = await p.fetch("/api/v1/agents", bearer(signJwt({ alg: "ES256" }, claims(), ec.privateKey)));
    assert.equal(r.status, 200, await r.clone().text());
  });
});
