// API keys end to end: the admin API (create shown once, list, read, revoke, rotate),
// hashed storage, verification, and exact per-key rate limits under concurrency.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { assertJsonError } from "../harness/assert.mjs";
import { withPipeline } from "../harness/fixture.mjs";
import { sleep } from "../harness/wait.mjs";

describe("API keys and rate limits", { timeout: 180_000 }, () => {
  const p = withPipeline({ origin: "keys-test", vars: { "auth-validator": { JWT_RATE_LIMIT: "3/3600" } } });

  const create = async (body) => {
    const r = await p.admin("", { method: "POST", body });
    assert.equal(r.status, 201, await r.clone().text());
    return r.json();
  };
  const withKey = (key, path = "/api/v1/calls", init = {}) =>
    p.fetch(path, { ...init, headers: { authorization: `API-Key ${key}`, ...init.headers } });

  test("a created key is shown once, stored only as a digest, and authenticates", async () => {
    const created = await create({ name: "billing", role: "service", permissions: ["calls:read"] });
    assert.match(created.key, /^ek_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const { id } = created.record;
    assert.equal(created.key.split("_")[1], id);
    assert.equal(created.record.active, true);
    assert.equal(created.record.secret_sha256, undefined, "digests are never shown");

    const kv = await p.mf.getKVNamespace("API_KEYS", "auth-validator");
    const stored = await kv.get(`apikey:${id}`);
    // The secret is base64url, so it may itself contain "_".
    const secret = created.key.split("_").slice(2).join("_");
    assert.ok(stored, "the record is stored under its id");
    assert.ok(!stored.includes(secret), "the secret is not stored");
    const digest = createHash("sha256").update(created.key).digest("hex");
    assert.equal(JSON.parse(stored).secret_sha256, digest);

    const shown = await (await p.admin(`/${id}`)).json();
    assert.equal(JSON.stringify(shown).includes(secret), false);
    const listed = await (await p.admin("")).json();
    assert.ok(listed.keys.some((k) => k.id === id));
    assert.equal(JSON.stringify(listed).includes(secret), false);
    assert.equal(JSON.stringify(listed).includes(digest), false);

    const r = await withKey(created.key);
    assert.equal(r.status, 200);
    const seen = p.origin.requests.at(-1).headers;
    assert.equal(seen["x-auth-user-id"], `key:${id}`);
    assert.equal(seen["x-auth-key-id"], id);
    assert.equal(seen["x-auth-role"], "service");
    assert.equal(seen["x-auth-method"], "api_key");
    assert.equal(r.headers.get("ratelimit-limit"), "600", "the default per-key limit applies");
    assert.equal(r.headers.get("ratelimit-policy"), "600;w=60");
    await assertJsonError(await withKey(created.key, "/api/v1/agents"), 403, "insufficient_permission");
  });

  test("wrong secrets and unknown ids are the same 401, and nothing is forwarded", async () => {
    const { key } = await create({ name: "victim", permissions: ["*"] });
    const before = p.origin.requests.length;
    const wrongSecret = `${key.slice(0, -4)}AAAA`;
    const unknownId = `ek_0000000000000000_${key.split("_").slice(2).join("_")}`;
    for (const k of [wrongSecret, unknownId, "ek_short", "not-a-key"]) {
      const r = await withKey(k);
      await assertJsonError(r, 401, "api_key_invalid");
      assert.equal(r.headers.get("www-authenticate"), 'API-Key realm="edge-workers"');
    }
    assert.equal(p.origin.requests.length, before);
  });

  test("revoked and expired keys stop working with their own codes", async () => {
    const { key, record } = await create({ name: "to-revoke", permissions: ["*"] });
    assert.equal((await withKey(key)).status, 200);
    const revoked = await p.admin(`/${record.id}/revoke`, { method: "POST" });
    assert.equal(revoked.status, 200);
    assert.equal((await revoked.json()).active, false);
    await assertJsonError(await withKey(key), 401, "api_key_revoked");
    await assertJsonError(await p.admin(`/${record.id}/rotate`, { method: "POST" }), 409, "key_revoked");

    const soon = await create({ name: "short-lived", permissions: ["*"], expires_at_s: Math.floor(Date.now() / 1000) + 2 });
    assert.equal((await withKey(soon.key)).status, 200);
    // Expiry is wall-clock time at the gate: the key expires 2 s from now, so the only event
    // to wait on is that time passing (a fixed wait, not a guess at when work finished).
    await sleep(2_100);
    await assertJsonError(await withKey(soon.key), 401, "api_key_expired");
  });

  test("rotation replaces the secret, at once or after a grace period", async () => {
    const { key: first, record } = await create({ name: "rotating", permissions: ["*"] });
    const rotated = await p.admin(`/${record.id}/rotate`, { method: "POST" });
    assert.equal(rotated.status, 200);
    const { key: second } = await rotated.json();
    assert.notEqual(second, first);
    assert.equal(second.split("_")[1], record.id, "same key id");
    await assertJsonError(await withKey(first), 401, "api_key_invalid");
    assert.equal((await withKey(second)).status, 200);

    const graceful = await p.admin(`/${record.id}/rotate`, { method: "POST", body: { grace_s: 60 } });
    const { key: third, record: after } = await graceful.json();
    assert.ok(after.previous_valid_until_s > Date.now() / 1000);
    assert.equal((await withKey(second)).status, 200, "the previous key works during the grace period");
    assert.equal((await withKey(third)).status, 200);
  });

  test("the admin API is guarded, strict, and answers JSON errors", async () => {
    const noSecret = await p.fetch("/admin/v1/keys", { method: "POST", body: "{}" });
    await assertJsonError(noSecret, 401, "unauthorized");
    const wrong = await p.fetch("/admin/v1/keys", { headers: { authorization: "Bearer not-the-admin-secret" } });
    await assertJsonError(wrong, 401, "unauthorized");
    await assertJsonError(await p.admin("", { method: "POST", body: { name: "x", role: "root!" } }), 400, "invalid_field");
    await assertJsonError(await p.admin("", { method: "POST", body: { name: "x", admin: true } }), 400, "invalid_body");
    await assertJsonError(await p.admin("", { method: "POST", body: { name: "x", rate_limit: { limit: 0, window_s: 1 } } }), 400, "invalid_field");
    await assertJsonError(await p.admin("/0123456789abcdef"), 404, "key_not_found");
    await assertJsonError(await p.admin("/not-an-id"), 404, "key_not_found");
    await assertJsonError(await p.admin("/0123456789abcdef", { method: "DELETE" }), 405, "method_not_allowed");
    await assertJsonError(await p.admin("?limit=1000"), 400, "invalid_field");
    const page = await (await p.admin("?limit=1")).json();
    assert.equal(page.keys.length, 1);
    assert.equal(typeof page.cursor, "string", "more keys exist, so a cursor is given");
  });

  test("1,000 concurrent requests against a limit of 100 admit exactly 100", async () => {
    const { key, record } = await create({
      name: "limited",
      permissions: ["*"],
      rate_limit: { limit: 100, window_s: 3600 },
    });
    const before = p.origin.requests.filter((r) => r.headers["x-auth-key-id"] === record.id).length;
    const responses = await Promise.all(
      Array.from({ length: 1000 }, async () => {
        const r = await withKey(key, "/api/v1/agents");
        return { status: r.status, headers: r.headers, body: await r.text() };
      }),
    );
    const statuses = responses.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 100);
    assert.equal(statuses.filter((s) => s === 429).length, 900);
    const reached = p.origin.requests.filter((r) => r.headers["x-auth-key-id"] === record.id).length - before;
    assert.equal(reached, 100, "exactly 100 reached the origin");

    const refused = responses.find((r) => r.status === 429);
    const error = JSON.parse(refused.body).error;
    assert.equal(error.code, "rate_limited");
    assert.match(error.message, /100 requests per 3600 s/);
    const retry = Number(refused.headers.get("retry-after"));
    assert.ok(retry > 3500 && retry <= 3600, `retry-after ${retry}`);
    assert.equal(refused.headers.get("ratelimit-limit"), "100");
    assert.equal(refused.headers.get("ratelimit-remaining"), "0");
    assert.equal(refused.headers.get("ratelimit-reset"), String(retry));
    const remaining = responses
      .filter((r) => r.status === 200)
      .map((r) => Number(r.headers.get("ratelimit-remaining")))
      .sort((a, b) => a - b);
    assert.deepEqual(remaining, Array.from({ length: 100 }, (_, i) => i), "each admission counted once");
  });

  test("limits are per key: another key is not affected", async () => {
    const a = await create({ name: "a", permissions: ["*"], rate_limit: { limit: 2, window_s: 3600 } });
    const b = await create({ name: "b", permissions: ["*"], rate_limit: { limit: 2, window_s: 3600 } });
    for (let i = 0; i < 2; i++) assert.equal((await withKey(a.key)).status, 200);
    await assertJsonError(await withKey(a.key), 429, "rate_limited");
    assert.equal((await withKey(b.key)).status, 200);
  });

  test("JWT subjects get JWT_RATE_LIMIT, one bucket per subject", async () => {
    const as = (sub) => p.fetch("/api/v1/agents", { headers: { authorization: `Bearer ${p.token({ sub })}` } });
    const first = await Promise.all(Array.from({ length: 5 }, () => as("jwt-user-1")));
    assert.deepEqual(first.map((r) => r.status).sort(), [200, 200, 200, 429, 429]);
    const refused = first.find((r) => r.status === 429);
    assert.equal(refused.headers.get("ratelimit-policy"), "3;w=3600");
    assert.equal((await as("jwt-user-2")).status, 200, "another subject has its own bucket");
  });
});
