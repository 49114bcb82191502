// Minting JWTs for tests with node:crypto: HS256 (shared secret), RS256 and EdDSA
// (KeyObjects), and any header a test needs, including ones a real issuer never sends.
import { createHmac, generateKeyPairSync, sign } from "node:crypto";

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
      sig = sign(null, Buffer.from(message), key);
      break;
    default:
      sig = Buffer.alloc(0);
  }
  return `${message}.${b64url(sig)}`;
}

/** A fresh key pair of `kind` ("rsa" | "ed25519") and its public JWK with `kid`. */
export function keyPair(kind, kid) {
  const { privateKey, publicKey } =
    kind === "rsa" ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ed25519");
  const jwk = { ...publicKey.export({ format: "jwk" }), kid, use: "sig", alg: kind === "rsa" ? "RS256" : "EdDSA" };
  return { privateKey, jwk };
}
