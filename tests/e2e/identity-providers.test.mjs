// The identity-provider presets of the README ("Identity providers"), each in workerd with
// a token of that provider's real shape (issuer and audience formats, claim names): valid
// → 200 with the right identity forwarded to the origin, and the usual refusals (wrong
// issuer, wrong audience, expired, a permission the token does not grant). Also: non-ASCII
// user ids travel percent-encoded, unusable claim values are counted not refused, and a
// malformed JWT var refuses only bearer tokens while /health reports it.
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomUUID, sign } from "node:crypto";
import { assertJsonError } from "../harness/assert.mjs";
import { keyPair, nowS, signJwt } from "../harness/jwt.mjs";
import { freshJwtSecret } from "../harness/pipeline.mjs";
import { withPipeline } from "../harness/fixture.mjs";


/** An ES256 key pair and its public JWK (`alg` ES256, `kid`). */
function es256Pair(kid) {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { privateKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, use: "sig", alg: "ES256" } };
}

/** `signJwt`, plus ES256 (JWS signatures are r || s, not DER). */
function mint(header, claims, key) {
  if (header.alg !== "ES256") return signJwt(header, claims, key);
  const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const message = `${part(header)}.${part(claims)}`;
  const sig = sign("sha256", Buffer.from(message), { key, dsaEncoding: "ieee-p1363" });
  return `${message}.${sig.toString("base64url")}`;
}

const rsa = keyPair("rsa", "rsa-idp-1");
const es = es256Pair("es-idp-1");
const SUPABASE_SECRET = freshJwtSecret();

const ENTRA_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const ENTRA_CLIENT = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
const COGNITO_POOL = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123";
const COGNITO_CLIENT = "1example23456789abcdefghij";
const CF_AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
const SUPABASE = "https://abcdefghijklmnop.supabase.co/auth/v1";
const IAP_AUD = "/projects/123456789012/global/backendServices/9876543210987654321";

/** Supabase's preset, the same whether its project signs with the JWT secret or with ES256 keys. */
const SUPABASE_PRESET = {
  readme: "Supabase",
  vars: {
    JWT_ISSUER: SUPABASE,
    JWT_AUDIENCE: "authenticated",
    JWT_CLAIMS: JSON.stringify({ permissions: [["app_metadata", "permissions"]] }),
  },
  claims: () => supabaseClaims(),
  seen: { user: "d0f4b5c3-1e2a-4b6c-8d7e-9f0a1b2c3d4e", role: "authenticated", permissions: "calls:read calls:write" },
  wrongAudience: (c) => ({ ...c, aud: "anon" }),
};

/**
 * Each preset: the vars its README block sets (with an inline JWKS standing in for the
 * provider's JWKS URL), a valid token's claims, what the origin must see, and how to spoil
 * the audience. Every token grants calls:read and calls:write but not agents:read.
 */
const PRESETS = [
  {
    name: "Auth0",
    readme: "Auth0",
    alg: "RS256",
    vars: {
      JWT_ISSUER: "https://edge-test.eu.auth0.com/",
      JWT_AUDIENCE: "https://api.edge.test",
      JWT_CLAIMS: JSON.stringify({ permissions: ["permissions"], roles: ["https://example.com/roles"] }),
    },
    claims: () => ({
      iss: "https://edge-test.eu.auth0.com/",
      sub: "auth0|64f1c0ffee0123456789abcd",
      aud: ["https://api.edge.test", "https://edge-test.eu.auth0.com/userinfo"],
      azp: "Xv4M2pYdQ3aK8rTbE1nW7sLc",
      scope: "openid profile email",
      permissions: ["calls:read", "calls:write"],
      "https://example.com/roles": ["Support"],
      iat: nowS() - 10,
      exp: nowS() + 3600,
    }),
    seen: { user: "auth0|64f1c0ffee0123456789abcd", role: "support", permissions: "calls:read calls:write" },
    wrongAudience: (c) => ({ ...c, aud: ["https://other.edge.test"] }),
  },
  {
    name: "Okta",
    readme: "Okta",
    alg: "RS256",
    vars: {
      JWT_ISSUER: "https://edge-test.okta.com/oauth2/default",
      JWT_AUDIENCE: "api://default",
      JWT_CLAIMS: JSON.stringify({
        subject: "uid",
        permissions: ["scp", "groups"],
        map: { "calls.read": ["calls:read"], Support: ["calls:read", "calls:write"] },
        unmapped: "drop",
      }),
    },
    claims: () => ({
      ver: 1,
      jti: "AT.abc",
      iss: "https://edge-test.okta.com/oauth2/default",
      aud: "api://default",
      cid: "0oa1b2c3d4e5f6g7h8i9",
      uid: "00u1a2b3c4D5e6F7g8h9",
      sub: "alice@edge.test",
      scp: ["openid", "calls.read"],
      groups: ["Everyone", "Support"],
      iat: nowS() - 10,
      exp: nowS() + 3600,
    }),
    // "openid" and "Everyone" are not mapped: dropped and counted.
    seen: { user: "00u1a2b3c4D5e6F7g8h9", role: "user", permissions: "calls:read calls:write", ignored: "2" },
    wrongAudience: (c) => ({ ...c, aud: "api://other" }),
  },
  {
    name: "Entra ID",
    readme: "Entra ID",
    alg: "RS256",
    vars: {
      JWT_ISSUER: `https://login.microsoftonline.com/${ENTRA_TENANT}/v2.0`,
      JWT_AUDIENCE: ENTRA_CLIENT,
      JWT_CLAIMS: JSON.stringify({
        subject: "oid",
        permissions: ["scp", "roles"],
        map: { "Calls.Read": ["calls:read"], "Calls.Write": ["calls:write"] },
        unmapped: "drop",
      }),
    },
    claims: () => ({
      ver: "2.0",
      iss: `https://login.microsoftonline.com/${ENTRA_TENANT}/v2.0`,
      aud: ENTRA_CLIENT,
      tid: ENTRA_TENANT,
      oid: "00000000-0000-0000-66f3-3332eca7ea81",
      sub: "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
      azp: "00000000-0000-0000-0000-000000000001",
      name: "Alice Example",
      preferred_username: "alice@edge.test",
      scp: "Calls.Read",
      roles: ["Calls.Write"],
      iat: nowS() - 10,
      nbf: nowS() - 10,
      exp: nowS() + 3600,
    }),
    seen: { user: "00000000-0000-0000-66f3-3332eca7ea81", role: "user", permissions: "calls:read calls:write" },
    wrongAudience: (c) => ({ ...c, aud: "00000000-0000-0000-0000-00000000beef" }),
  },
  {
    name: "Cognito (access token: scope, custom scopes, cognito:groups, client_id)",
    readme: "Cognito",
    alg: "RS256",
    vars: {
      JWT_ISSUER: COGNITO_POOL,
      JWT_AUDIENCE: COGNITO_CLIENT,
      JWT_CLAIMS: JSON.stringify({
        audience: ["aud", "client_id"],
        permissions: ["scope", "cognito:groups"],
        map: { "https://api.example.com/calls.read": ["calls:read"], support: ["calls:write"] },
        unmapped: "drop",
      }),
    },
    claims: () => ({
      sub: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
      "cognito:groups": ["support"],
      iss: COGNITO_POOL,
      version: 2,
      client_id: COGNITO_CLIENT,
      origin_jti: randomUUID(),
      token_use: "access",
      scope: "aws.cognito.signin.user.admin https://api.example.com/calls.read",
      auth_time: nowS() - 10,
      jti: randomUUID(),
      username: "alice",
      iat: nowS() - 10,
      exp: nowS() + 3600,
    }),
    // "aws.cognito.signin.user.admin" is a built-in scope no map names.
    seen: { user: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", role: "user", permissions: "calls:read calls:write", ignored: "1" },
    wrongAudience: (c) => ({ ...c, client_id: "someoneelse123456789" }),
  },
  {
    name: "Firebase",
    readme: "Firebase",
    alg: "RS256",
    vars: {
      JWT_ISSUER: "https://securetoken.google.com/edge-test",
      JWT_AUDIENCE: "edge-test",
      JWT_CLAIMS: JSON.stringify({ subject: "user_id", permissions: ["permissions"] }),
    },
    claims: () => ({
      iss: "https://securetoken.google.com/edge-test",
      aud: "edge-test",
      auth_time: nowS() - 10,
      user_id: "kZ3fQ9xLmN2pR7sT1uV4wY6zA8b2",
      sub: "kZ3fQ9xLmN2pR7sT1uV4wY6zA8b2",
      email: "alice@edge.test",
      email_verified: true,
      permissions: ["calls:read", "calls:write"], // a custom claim (setCustomUserClaims)
      firebase: { identities: { email: ["alice@edge.test"] }, sign_in_provider: "password" },
      iat: nowS() - 10,
      exp: nowS() + 3600,
    }),
    seen: { user: "kZ3fQ9xLmN2pR7sT1uV4wY6zA8b2", role: "user", permissions: "calls:read calls:write" },
    wrongAudience: (c) => ({ ...c, aud: "other-project" }),
  },
  {
    name: "Cloudflare Access",
    readme: "Cloudflare Access",
    alg: "RS256",
    vars: {
      JWT_ISSUER: "https://edge-test.cloudflareaccess.com",
      JWT_AUDIENCE: CF_AUD,
      JWT_CLAIMS: JSON.stringify({
        subject: "email",
        permissions: [["custom", "groups"]],
        map: { support: ["calls:read", "calls:write"] },
        unmapped: "drop",
      }),
    },
    claims: () => ({
      aud: [CF_AUD],
      email: "alice@edge.test",
      exp: nowS() + 3600,
      iat: nowS() - 10,
      nbf: nowS() - 10,
      iss: "https://edge-test.cloudflareaccess.com",
      type: "app",
      identity_nonce: "6ei69kawdKzMIAPF",
      sub: "7335d417-61da-459d-899c-0a01c76a2f94",
      country: "TH",
      custom: { groups: ["support"] },
    }),
    seen: { user: "alice@edge.test", role: "user", permissions: "calls:read calls:write" },
    wrongAudience: (c) => ({ ...c, aud: ["0".repeat(64)] }),
  },
  {
    name: "Google IAP",
    readme: "Google IAP",
    alg: "ES256",
    vars: {
      JWT_ISSUER: "https://cloud.google.com/iap",
      JWT_AUDIENCE: IAP_AUD,
      JWT_CLAIMS: JSON.stringify({
        subject: "email",
        permissions: ["hd"],
        map: { "example.com": ["calls:read", "calls:write"] },
        unmapped: "drop",
      }),
    },
    claims: () => ({
      aud: IAP_AUD,
      email: "alice@edge.test",
      exp: nowS() + 600,
      hd: "example.com",
      iat: nowS() - 10,
      iss: "https://cloud.google.com/iap",
      sub: "accounts.google.com:112233445566778899000",
      google: { access_levels: ["accessPolicies/1234/accessLevels/corp"] },
    }),
    seen: { user: "alice@edge.test", role: "user", permissions: "calls:read calls:write" },
    wrongAudience: (c) => ({ ...c, aud: "/projects/1/global/backendServices/2" }),
  },
  {
    name: "Supabase (HS256)",
    alg: "HS256",
    ...SUPABASE_PRESET,
  },
  {
    name: "Supabase (ES256 signing keys)",
    alg: "ES256",
    ...SUPABASE_PRESET,
  },
];

function supabaseClaims(extra = {}) {
  return {
    iss: SUPABASE,
    sub: "d0f4b5c3-1e2a-4b6c-8d7e-9f0a1b2c3d4e",
    aud: "authenticated",
    exp: nowS() + 3600,
    iat: nowS() - 10,
    email: "alice@edge.test",
    phone: "",
    app_metadata: { provider: "email", providers: ["email"], permissions: ["calls:read", "calls:write"] },
    user_metadata: {},
    role: "authenticated",
    aal: "aal1",
    amr: [{ method: "password", timestamp: nowS() - 10 }],
    session_id: randomUUID(),
    is_anonymous: false,
    ...extra,
  };
}

/** The signing key, the token header and the key vars of `alg`. */
function signer(alg) {
  if (alg === "HS256") return { key: SUPABASE_SECRET, header: { alg, typ: "JWT" }, vars: {} };
  const pair = alg === "ES256" ? es : rsa;
  return {
    key: pair.privateKey,
    header: { alg, kid: pair.jwk.kid, typ: "JWT" },
    vars: { JWT_JWKS: JSON.stringify({ keys: [pair.jwk] }) },
  };
}

/** The `JWT_CLAIMS` of README's copy-paste block whose first line is `# <title>…`. */
function readmeClaims(title) {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const block = readme.split("```toml\n").find((b) => b.startsWith(`# ${title}`));
  const line = block?.split("\n").find((l) => l.startsWith("JWT_CLAIMS = '"));
  return line && JSON.parse(line.slice("JWT_CLAIMS = '".length, -1));
}

test("each preset tested here is the README's, word for word", () => {
  for (const preset of PRESETS) {
    assert.deepEqual(readmeClaims(preset.readme), JSON.parse(preset.vars.JWT_CLAIMS), preset.name);
  }
});

for (const preset of PRESETS) {
  describe(`preset: ${preset.name}`, { timeout: 120_000, skip: preset.skip }, () => {
    const s = signer(preset.alg);
    const p = withPipeline({
      origin: "idp-test",
      jwtSecret: preset.alg === "HS256" ? SUPABASE_SECRET : null,
      vars: { "auth-validator": { JWT_ALGORITHMS: preset.alg, ...s.vars, ...preset.vars } },
    });
    const call = (claims, path = "/api/v1/calls") =>
      p.fetch(path, { headers: { authorization: `Bearer ${mint(s.header, claims, s.key)}` } });

    test("a valid token: 200, and the origin sees the mapped identity", async () => {
      const r = await call(preset.claims(), `/api/v1/calls?via=${encodeURIComponent(preset.name)}`);
      assert.equal(r.status, 200, await r.clone().text());
      const seen = p.origin.requests.at(-1).headers;
      assert.equal(decodeURIComponent(seen["x-auth-user-id"]), preset.seen.user);
      assert.equal(seen["x-auth-method"], "jwt");
      assert.equal(seen["x-auth-role"], preset.seen.role);
      assert.equal(seen["x-auth-permissions"], preset.seen.permissions);
      assert.equal(seen["x-auth-ignored-claims"], preset.seen.ignored);
      const write = await p.fetch("/api/v1/calls", {
        method: "POST",
        headers: { authorization: `Bearer ${mint(s.header, preset.claims(), s.key)}`, "content-type": "application/json" },
        body: "{}",
      });
      assert.equal(write.status, 200, "calls:write is granted too");
    });

    test("wrong issuer, wrong audience, expired: 401; a permission it lacks: 403", async () => {
      const before = p.origin.requests.length;
      const good = preset.claims();
      await assertJsonError(await call({ ...good, iss: `${good.iss}x` }), 401, "token_issuer_invalid");
      await assertJsonError(await call(preset.wrongAudience(good)), 401, "token_audience_invalid");
      await assertJsonError(await call({ ...good, exp: nowS() - 120 }), 401, "token_expired");
      const body = await assertJsonError(await call(good, "/api/v1/agents"), 403, "insufficient_permission");
      assert.equal(body.error.field, "agents:read");
      assert.equal(p.origin.requests.length, before, "no refusal reaches the origin");
    });
  });
}

describe("claims mapping details", { timeout: 120_000 }, () => {
  const s = signer("HS256");
  const p = withPipeline({
    origin: "idp-test",
    jwtSecret: SUPABASE_SECRET,
    vars: {
      "auth-validator": {
        JWT_ISSUER: SUPABASE,
        JWT_AUDIENCE: "authenticated",
        JWT_CLAIMS: JSON.stringify({ permissions: [["app_metadata", "permissions"]], roles: ["role"] }),
      },
    },
  });
  const call = (claims) =>
    p.fetch("/api/v1/calls", { headers: { authorization: `Bearer ${mint(s.header, claims, s.key)}` } });

  test("Thai and emoji user ids reach the origin percent-encoded, exactly recoverable", async () => {
    for (const sub of ["ผู้ใช้-ทดสอบ", "🚀 rocket%user"]) {
      const r = await call(supabaseClaims({ sub }));
      assert.equal(r.status, 200, await r.clone().text());
      const seen = p.origin.requests.at(-1).headers["x-auth-user-id"];
      assert.match(seen, /^[\x21-\x7e]+$/, "printable ASCII on the wire");
      assert.equal(decodeURIComponent(seen), sub);
    }
    await assertJsonError(await call(supabaseClaims({ sub: "a\u0000b" })), 401, "token_claim_invalid");
  });

  test("role in any case or as an array; unusable values are counted, never refused", async () => {
    const since = p.logs.length;
    const r = await call(
      supabaseClaims({
        role: [7, "Service-Desk", "admin"],
        app_metadata: { permissions: ["calls:read", 42, "not a permission", { x: 1 }] },
      }),
    );
    assert.equal(r.status, 200, await r.clone().text());
    const seen = p.origin.requests.at(-1).headers;
    assert.equal(seen["x-auth-role"], "service-desk", "the first usable role, lowercased");
    assert.equal(seen["x-auth-permissions"], "calls:read");
    assert.equal(seen["x-auth-ignored-claims"], "4");
    await p.logged(/4 claim values ignored by the claims mapping/, since);
    const hop = await p.hopOf(r.headers.get("x-request-id"), "auth-validator");
    assert.equal(hop.decision, "allow_jwt");
  });

  test("a claim array of thousands of values is bounded, not refused", async () => {
    const many = Array.from({ length: 500 }, (_, i) => `${i}:r`); // as many as fit in 8 KiB
    const r = await call(supabaseClaims({ app_metadata: { permissions: ["calls:read", ...many] } }));
    assert.equal(r.status, 200, await r.clone().text());
    const seen = p.origin.requests.at(-1).headers;
    assert.equal(seen["x-auth-permissions"].split(" ").length, 64);
    assert.equal(seen["x-auth-ignored-claims"], String(501 - 64));
  });
});

describe("a malformed JWT var refuses only bearer tokens", { timeout: 120_000 }, () => {
  for (const [name, value] of [
    ["JWT_CLAIMS", '{"permissions":"scp"}'],
    ["JWT_ALGORITHMS", "RS256,XS256"],
  ]) {
    describe(name, () => {
      const p = withPipeline({ origin: "idp-test", vars: { "auth-validator": { [name]: value } } });

      test("bearer tokens: 500 misconfigured naming the var; API keys and /health keep working", async () => {
        const body = await assertJsonError(await p.api("/api/v1/calls"), 500, "misconfigured");
        assert.match(body.error.message, new RegExp(name));

        const created = await p.admin("", { method: "POST", body: { name: "svc", permissions: ["calls:read"] } });
        assert.equal(created.status, 201, await created.clone().text());
        const { key } = await created.json();
        const r = await p.fetch("/api/v1/calls", { headers: { authorization: `API-Key ${key}` } });
        assert.equal(r.status, 200, await r.clone().text());

        const health = await p.fetch("/health");
        assert.equal(health.status, 503);
        const report = await health.json();
        assert.equal(report.status, "degraded");
        assert.deepEqual(report.problems, [{ code: "misconfigured", field: name }]);
        assert.equal(report.next_hop.status, "ok", "the chain below is fine");
      });
    });
  }

  describe("a var every request needs", () => {
    const p = withPipeline({ origin: "idp-test", vars: { "auth-validator": { ALLOWED_METHODS: "GET,FETCH!" } } });
    test("/health still answers, degraded, and names it", async () => {
      await assertJsonError(await p.api("/api/v1/calls"), 500, "misconfigured");
      const health = await p.fetch("/health");
      assert.equal(health.status, 503);
      const report = await health.json();
      assert.equal(report.status, "degraded");
      assert.equal(report.problems[0].code, "misconfigured");
    });
  });
});
