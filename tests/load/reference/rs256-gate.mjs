// Reference: a JS RS256 gate. Same as hs256-gate.mjs, but the signature is RSASSA-PKCS1-v1_5
// with SHA-256 verified by WebCrypto against the JWK in RS256_JWK (imported once per isolate).
let key; // Promise<CryptoKey>, once per isolate
const b64url = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const deny = () => Response.json({ error: "unauthorized" }, { status: 401 });

export default {
  async fetch(request, env) {
    key ??= crypto.subtle.importKey("jwk", JSON.parse(env.RS256_JWK), { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);
    const [, token] = (request.headers.get("authorization") ?? "").split("Bearer ");
    const [h, p, s] = (token ?? "").split(".");
    if (!s) return deny();
    try {
      if (JSON.parse(new TextDecoder().decode(b64url(h))).alg !== "RS256") return deny();
      if (!(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", await key, b64url(s), new TextEncoder().encode(`${h}.${p}`)))) return deny();
      const claims = JSON.parse(new TextDecoder().decode(b64url(p)));
      if (typeof claims.exp !== "number" || claims.exp + 30 < Date.now() / 1000) return deny();
      const headers = new Headers([...request.headers].filter(([n]) => !n.startsWith("x-auth-")));
      headers.set("x-auth-user-id", String(claims.sub));
      headers.set("x-auth-role", String(claims.role ?? ""));
      return env.NEXT.fetch(new Request(request, { headers }));
    } catch {
      return deny();
    }
  },
};
