// Tokens of each algorithm through the gate, as ratios to GET /health in the same run
// (issue 16): RS256, ES256, EdDSA and HS256 bearer tokens → origin (3 workers, cache MISS,
// no-store), each round running /health first, then every algorithm; the ratio is
// req/s(token) / req/s(/health) of the same round, so the machine's load cancels out as far
// as it can. A build that refuses ES256 (or any other) in JWT_ALGORITHMS answers 500 to
// everything: the script then drops the algorithms it does not support and reports them as
// "not supported".
//   node tests/load/algorithms.mjs [requests=2000] [concurrency=32] [rounds=2]
import { keyPair, nowS, signJwt } from "../harness/jwt.mjs";
import { freshSecret, startPipeline } from "../harness/pipeline.mjs";
import { startOriginProcess } from "./origin.mjs";
import { runScenario } from "./scenario.mjs";

const TOTAL = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? 32);
const ROUNDS = Number(process.argv[4] ?? 2);
const ALGS = ["RS256", "ES256", "EdDSA", "HS256"];

const origin = await startOriginProcess();
const originUrl = origin.url;

const keys = { RS256: keyPair("rsa", "load-rsa"), ES256: keyPair("p256", "load-ec"), EdDSA: keyPair("ed25519", "load-ed") };
const jwks = JSON.stringify({ keys: Object.values(keys).map((k) => k.jwk) });

/** The pipeline with `algs` allowed, or null when this build answers /health with 500. */
async function launch(algs) {
  const pipeline = await startPipeline({
    originUrl,
    adminSecret: freshSecret(),
    vars: { "auth-validator": { JWT_JWKS: jwks, JWT_RATE_LIMIT: "off", JWT_ALGORITHMS: algs.join(",") } },
  });
  if ((await fetch(new URL("/health", pipeline.url))).status === 200) return pipeline;
  await pipeline.close();
  return null;
}

try {
  let supported = ALGS;
  let pipeline = await launch(supported);
  if (!pipeline) {
    supported = ALGS.filter((a) => a !== "ES256");
    pipeline = await launch(supported);
  }
  if (!pipeline) throw new Error("the gate answers /health with 500 even without ES256");
  try {
    const claims = { sub: "load", role: "admin", exp: nowS() + 3600 };
    const token = (alg) =>
      alg === "HS256" ? pipeline.token(claims) : signJwt({ alg, kid: keys[alg].jwk.kid }, claims, keys[alg].privateKey);
    const api = new URL("/api/v1/agents", pipeline.url);
    const health = new URL("/health", pipeline.url);
    const run = (name, url, init) => runScenario(name, url, init, { total: TOTAL, concurrency: CONCURRENCY });
    await run("warm-up", api, { headers: { authorization: `Bearer ${token("HS256")}` } });
    const ratios = Object.fromEntries(ALGS.map((a) => [a, []]));
    const rows = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const h = await run(`round ${round}: GET /health`, health);
      rows.push(h);
      for (const alg of supported) {
        const r = await run(`round ${round}: ${alg} → origin`, api, { headers: { authorization: `Bearer ${token(alg)}` } });
        rows.push(r);
        ratios[alg].push((r["req/s"] / h["req/s"]).toFixed(2));
      }
    }
    console.log(`${TOTAL} requests per scenario, concurrency ${CONCURRENCY}, ${ROUNDS} rounds, node ${process.version}`);
    console.table(rows);
    console.table(
      Object.fromEntries(ALGS.map((a) => [a, { "ratio to /health (per round)": supported.includes(a) ? ratios[a].join(", ") : "not supported" }])),
    );
  } finally {
    await pipeline.close();
  }
} finally {
  origin.stop();
}
