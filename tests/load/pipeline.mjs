// Load script: real HTTP over loopback into the pipeline running in workerd.
// Bounded in count and time; prints requests/s and latency percentiles per scenario.
//   scripts/bench [requests=2000] [concurrency=32]
import { keyPair, nowS, signJwt } from "../harness/jwt.mjs";
import { freshSecret, startPipeline } from "../harness/pipeline.mjs";
import { startOriginProcess } from "./origin.mjs";
import { runScenario } from "./scenario.mjs";

const TOTAL = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? 32);
const scenario = (name, url, init) => runScenario(name, url, init, { total: TOTAL, concurrency: CONCURRENCY });

// The origin runs in its own process so it does not share this event loop.
const originProcess = await startOriginProcess();
const originUrl = originProcess.url;
const rsa = keyPair("rsa", "load-rsa");
const ed = keyPair("ed25519", "load-ed");
const pipeline = await startPipeline({
  originUrl,
  adminSecret: freshSecret(),
  // One token subject sends thousands of requests here: the default per-subject limit
  // (600/60 s) would refuse most of them, so the load run measures the gate without it, as
  // the numbers in DESIGN.md always have. With it, each JWT request also pays one Durable
  // Object call (the same cost API keys pay).
  vars: { "auth-validator": { JWT_JWKS: JSON.stringify({ keys: [rsa.jwk, ed.jwk] }), JWT_RATE_LIMIT: "off" } },
});
try {
  const base = pipeline.url;
  const claims = { sub: "load", role: "admin", exp: nowS() + 3600 };
  const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });
  // Verified, then refused for lacking a permission: the verification cost alone, at the edge.
  const noPerms = { ...claims, role: "user" };
  const created = await pipeline.admin("", {
    method: "POST",
    body: { name: "load", permissions: ["*"], rate_limit: { limit: 10_000, window_s: 60 } },
  });
  const { key } = await created.json();
  const api = new URL("/api/v1/agents", base);
  const scenarios = [
    ["origin direct (baseline)", `${originUrl}/api/v1/agents`],
    ["GET /health (3 workers)", new URL("/health", base)],
    ["no credentials → 401 at the edge", api],
    ["HS256 verified → 403 at the edge", api, bearer(pipeline.token(noPerms))],
    ["RS256 verified → 403 at the edge", api, bearer(signJwt({ alg: "RS256", kid: "load-rsa" }, noPerms, rsa.privateKey))],
    ["EdDSA verified → 403 at the edge", api, bearer(signJwt({ alg: "EdDSA", kid: "load-ed" }, noPerms, ed.privateKey))],
    ["HS256 JWT → origin (3 workers; cache MISS, no-store)", api, bearer(pipeline.token(claims))],
    ["cache HIT (public, max-age; 2 workers)", new URL("/api/v1/agents/cacheable", base), bearer(pipeline.token(claims))],
    [
      "cache MISS + store (unique URLs; 3 workers)",
      (i) => new URL(`/api/v1/agents/cacheable?n=${i}-${Math.random()}`, base),
      bearer(pipeline.token(claims)),
    ],
    ["RS256 JWT → origin", api, bearer(signJwt({ alg: "RS256", kid: "load-rsa" }, claims, rsa.privateKey))],
    ["EdDSA JWT → origin", api, bearer(signJwt({ alg: "EdDSA", kid: "load-ed" }, claims, ed.privateKey))],
    ["API key (KV + rate-limit DO) → origin", api, { headers: { authorization: `API-Key ${key}` } }],
  ];
  await scenario("warm-up", api, bearer(pipeline.token(claims))); // JIT, isolates, connections
  const rows = [];
  for (const [name, url, init] of scenarios) rows.push(await scenario(name, url, init));
  console.log(`${TOTAL} requests per scenario, concurrency ${CONCURRENCY}, node ${process.version}`);
  console.table(rows);
} finally {
  await pipeline.close();
  originProcess.stop();
}
