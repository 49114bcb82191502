// Reference: a JS HS256 gate. Verifies `Authorization: Bearer <JWT>` with WebCrypto HMAC
// (the key imported once per isolate), checks exp (30 s leeway), drops client-sent x-auth-*
// headers, sets x-auth-user-id / x-auth-role, and forwards to the NEXT service binding.
let key; // Promise<CryptoKey>, once per isolate
const b64url = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const deny = () => Response.json({ error: "unauthorized" }, { status: 401 });

export default {
  async fetch(request, env) {
    key ??= crypto.subtle.importKey("raw", new TextEncoder().encode(env.JWT_HS256_SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    const [, token] = (request.headers.get("authorization") ?? "").split("Bearer ");
    const [h, p, s] = (token ?? "").split(".");
    if (!s) return deny();
    try {
      if (JSON.parse(new TextDecoder().decode(b64url(h))).alg !== "HS256") return deny();
      if (!(await crypto.subtle.verify("HMAC", await key, b64url(s), new TextEncoder().encode(`${h}.${p}`)))) return deny();
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
