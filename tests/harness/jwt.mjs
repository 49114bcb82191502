// Minting JWTs for tests with node:crypto: HS256/384/512 (shared secret), RS*, PS*, ES256,
// ES384 and EdDSA/Ed25519 (KeyObjects), and any header a test needs, including ones a real
// issuer never sends.
import { constants, createHmac, generateKeyPairSync, sign } from "node:crypto";

const b64url = (buf) => Buffer.from(buf).toString("base64url");
const part = (obj) => b64url(JSON.stringify(obj));

/** Unix seconds now. */
export const nowS = () => Math.floor(Date.now() / 1000);

/**
 * Signs `claims` under `header` (its `alg` picks the algorithm) with `key`:
 * a string secret for HS256, a private KeyObject for RS256 / EdDSA.
 */
export function signJwt(header, claims, key) {
  const message = `${part(header)}.${part(claims)}`;
  let sig;
  switch (header.alg) {
    case "HS256":
      sig = createHmac("sha256", key).update(message).digest();
      break;
    case "RS256":
      sig = sign("sha256", Buffer.from(message), key);
      break;
    case "EdDSA":
    case "Ed25519":
      sig = sign(null, Buffer.from(message), key);
      break;
    case "HS384":
    case "HS512":
      sig = createHmac(`sha${header.alg.slice(2)}`, key).update(message).digest();
      break;
    case "RS384":
    case "RS512":
      sig = sign(`sha${header.alg.slice(2)}`, Buffer.from(message), key);
      break;
    case "PS256":
    case "PS384":
    case "PS512": {
      const bits = Number(header.alg.slice(2));
      sig = sign(`sha${bits}`, Buffer.from(message), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: bits / 8 });
      break;
    }
    case "ES256":
    case "ES384": // JWS wants r || s (IEEE P1363), not DER
      sig = sign(`sha${header.alg.slice(2)}`, Buffer.from(message), { key, dsaEncoding: "ieee-p1363" });
      break;
    default:
      sig = Buffer.alloc(0);
  }
  return `${message}.${b64url(sig)}`;
}

/**
 * A fresh key pair of `kind` ("rsa" | "ed25519" | "p256" | "p384") and its public JWK with
 * `kid` and `alg` (RS256, EdDSA, ES256, ES384 unless `alg` is given; `null`: no `alg`).
 */
export function keyPair(kind, kid, alg) {
  const { privateKey, publicKey } =
    kind === "rsa"
      ? generateKeyPairSync("rsa", { modulusLength: 2048 })
      : kind === "p256" || kind === "p384"
        ? generateKeyPairSync("ec", { namedCurve: kind === "p256" ? "P-256" : "P-384" })
        : generateKeyPairSync("ed25519");
  const defaults = { rsa: "RS256", ed25519: "EdDSA", p256: "ES256", p384: "ES384" };
  const jwk = { ...publicKey.export({ format: "jwk" }), kid, use: "sig", alg: alg === undefined ? defaults[kind] : alg };
  if (jwk.alg === null) delete jwk.alg;
  return { privateKey, jwk };
}
