// The cost of one signature verification in workerd, per algorithm and backend: the
// core's Rust reference compiled to wasm vs the worker's WebCrypto path (precheck, cached
// CryptoKey, crypto.subtle.verify, one await). The test-only crypto-vectors worker verifies
// the same signature n times in one request; the cost is (time(n) - time(0)) / n, median of
// 5 pairs. Build first: scripts/build crypto-vectors. Usage: node tests/load/verify-cost.mjs
import { createHmac, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { startCryptoVectors } from "../harness/crypto-vectors.mjs";

const b64hex = (s) => Buffer.from(s, "base64url").toString("hex");
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ed = generateKeyPairSync("ed25519");
const secret = randomBytes(32);

function vector(alg, bytes) {
  const msg = randomBytes(bytes);
  if (alg === "HmacSha256") return { alg, key: { secret: secret.toString("hex") }, msg: msg.toString("hex"), sig: createHmac("sha256", secret).update(msg).digest("hex") };
  if (alg === "Ed25519") {
    const x = ed.publicKey.export({ format: "jwk" }).x;
    return { alg, key: { public: b64hex(x) }, msg: msg.toString("hex"), sig: sign(null, msg, ed.privateKey).toString("hex") };
  }
  const { n, e } = rsa.publicKey.export({ format: "jwk" });
  return { alg, key: { n: b64hex(n), e: b64hex(e) }, msg: msg.toString("hex"), sig: sign("sha256", msg, rsa.privateKey).toString("hex") };
}

const cases = [
  ["HmacSha256", 300, "HS256 token / identity seal"],
  ["HmacSha256", 1_000, "LINE body, 1 event"],
  ["HmacSha256", 64_000, "LINE body, 64 KB"],
  ["HmacSha256", 1_000_000, "LINE body, 1 MB"],
  ["RsaPkcs1Sha256", 300, "RS256 token (2048-bit)"],
  ["Ed25519", 300, "EdDSA token / Discord interaction"],
];
const N = { HmacSha256: 2000, RsaPkcs1Sha256: 100, Ed25519: 500 };

const w = await startCryptoVectors();
const time = async (body) => {
  const t = process.hrtime.bigint();
  const r = await w.post("/bench", body);
  if (body.n && r.verified !== body.n) throw new Error(`${body.alg}: only ${r.verified}/${body.n} verified`);
  return Number(process.hrtime.bigint() - t) / 1e6;
};
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
console.log("| primitive | message | Rust in wasm µs | WebCrypto µs |\n|---|---|---|---|");
for (const [alg, bytes, what] of cases) {
  const v = vector(alg, bytes);
  const per = {};
  for (const backend of ["rust", "webcrypto"]) {
    const n = Math.max(5, Math.round(N[alg] / Math.max(1, bytes / 10_000)));
    await time({ ...v, backend, n }); // warm-up (imports the key)
    const costs = [];
    for (let i = 0; i < 5; i++) costs.push(((await time({ ...v, backend, n })) - (await time({ ...v, backend, n: 0 }))) / n);
    per[backend] = (median(costs) * 1000).toFixed(1);
  }
  console.log(`| ${alg} | ${what} (${bytes} B) | ${per.rust} | ${per.webcrypto} |`);
}
await w.mf.dispose();
