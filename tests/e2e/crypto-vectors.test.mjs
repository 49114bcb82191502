// The agreement test of issues 14 and 16: every signature vector (Wycheproof HMAC-SHA256,
// Ed25519, RSASSA-PKCS1-v1_5 SHA-256 with 2048/3072/4096-bit keys, ECDSA P-256/P-384 in
// P1363 encoding, RSASSA-PSS SHA-256/384/512; RFC 4231, RFC 8032, RFC 7515 A.1/A.2/A.3,
// RFC 7520 §4.1/4.2/4.4, RFC 8037 A.4) goes through the core's pure-Rust reference and the worker side's
// WebCrypto path, both in real workerd. Both must give the same answer, and that answer
// must be the vector's: `valid` verifies, `invalid` does not. Wycheproof's `acceptable`
// cases (legacy encodings a verifier may accept) must only agree between the two paths.
// Truncated HMAC tags are `invalid` here (the exporter says so): no verifier of ours
// accepts less than the full 32 bytes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { exportVectors, startCryptoVectors } from "../harness/crypto-vectors.mjs";

// The RFC 8032 §7.1 TEST 1 key, signature and (empty) message.
const RFC8032_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const RFC8032_SIG =
  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

// A JS worker asking this workerd which Ed25519 algorithm names WebCrypto accepts.
const ED25519_NAMES = `
const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
async function attempt(algorithm) {
  try {
    const key = await crypto.subtle.importKey("raw", hex("${RFC8032_KEY}"), algorithm, false, ["verify"]);
    return await crypto.subtle.verify(algorithm, key, hex("${RFC8032_SIG}"), new Uint8Array(0));
  } catch (e) {
    return String(e.name ?? e);
  }
}
export default {
  async fetch() {
    return Response.json({
      ed25519: await attempt({ name: "Ed25519" }),
      node: await attempt({ name: "NODE-ED25519", namedCurve: "NODE-ED25519" }),
    });
  },
};`;

describe("signature vectors: Rust reference and WebCrypto agree", { timeout: 240_000 }, () => {
  let w, vectors, results;

  before(async () => {
    [vectors, w] = await Promise.all([
      exportVectors(),
      startCryptoVectors([{ name: "ed25519-names", modules: true, script: ED25519_NAMES, compatibilityDate: "2026-04-20" }]),
    ]);
    const byId = new Map();
    for (const r of await w.post("/vectors", vectors)) byId.set(r.id, r);
    results = vectors.map((v) => ({ ...v, ...byId.get(v.id) }));
  });
  after(() => w?.mf.dispose());

  test("every family is covered", () => {
    const count = (alg, expected) => vectors.filter((v) => v.alg === alg && v.expected === expected).length;
    assert.ok(count("HmacSha256", "valid") >= 40 && count("HmacSha256", "invalid") >= 150);
    assert.ok(count("Ed25519", "valid") >= 90 && count("Ed25519", "invalid") >= 60);
    assert.ok(count("RsaPkcs1Sha256", "valid") >= 20 && count("RsaPkcs1Sha256", "invalid") >= 700);
    // Issue 16: ECDSA in P1363 encoding (the JWS one) and RSA-PSS with salt = hash length.
    assert.ok(count("EcdsaP256Sha256", "valid") >= 100 && count("EcdsaP256Sha256", "invalid") >= 50);
    assert.ok(count("EcdsaP384Sha384", "valid") >= 100 && count("EcdsaP384Sha384", "invalid") >= 50);
    for (const alg of ["RsaPssSha256", "RsaPssSha384", "RsaPssSha512"]) {
      assert.ok(count(alg, "valid") >= 100 && count(alg, "invalid") >= 30, alg);
    }
    for (const id of ["rfc4231-case-1", "rfc8032-test-3", "rfc-7515-a-1", "rfc-7515-a-2", "rfc-7515-a-3", "rfc-7520-4-1", "rfc-7520-4-2", "rfc-7520-4-4", "rfc-8037-a-4"]) {
      assert.ok(vectors.some((v) => v.id === id), id);
    }
    assert.equal(results.filter((r) => typeof r.rust !== "boolean" || typeof r.webcrypto !== "boolean").length, 0);
  });

  test("both verifiers agree on every vector, and with its expected result", (t) => {
    const disagree = results.filter((r) => r.rust !== r.webcrypto);
    const wrong = results.filter(
      (r) => (r.expected === "valid" && !(r.rust && r.webcrypto)) || (r.expected === "invalid" && (r.rust || r.webcrypto)),
    );
    const show = (rs) => rs.slice(0, 10).map((r) => `${r.id} (${r.comment}): expected ${r.expected}, rust ${r.rust}, webcrypto ${r.webcrypto}`);
    assert.deepEqual(show(disagree), [], "Rust and WebCrypto disagree");
    assert.deepEqual(show(wrong), [], "a verifier contradicts the vector");
    const acceptable = results.filter((r) => r.expected === "acceptable");
    t.diagnostic(`${results.length} vectors; acceptable: ${acceptable.map((r) => `${r.id}=${r.rust}`).join(", ")}`);
  });

  test("what the core's precheck decides that WebCrypto alone would not", (t) => {
    // Cases where bare crypto.subtle.verify would answer differently from our path: each
    // must be one the precheck exists for (a small-order point, a non-canonical S, a
    // signature of the wrong length), and the precheck's answer must be the vector's.
    const differ = results.filter((r) => r.raw !== r.webcrypto);
    for (const r of differ) {
      assert.equal(r.webcrypto, false, `${r.id}: the precheck only ever refuses`);
      assert.notEqual(r.expected, "valid", `${r.id}: the precheck refused a valid vector`);
    }
    assert.ok(differ.some((r) => r.id === "small-order-identity-key-and-r"), "bare WebCrypto accepts the identity-key forgery");
    t.diagnostic(`precheck decided ${differ.length}: ${differ.map((r) => `${r.id} (${r.comment})`).join("; ")}`);
  });

  test("this workerd's WebCrypto accepts Ed25519 by its standard name", async () => {
    const r = await (await w.mf.dispatchFetch("http://ed25519-names.local/")).json();
    assert.equal(r.ed25519, true, "{name: 'Ed25519'} verifies RFC 8032 TEST 1");
    // Recorded, not required: the legacy Cloudflare name.
    assert.ok(r.node === true || typeof r.node === "string", JSON.stringify(r));
    console.log(`NODE-ED25519 on this workerd: ${r.node}`);
  });
});
