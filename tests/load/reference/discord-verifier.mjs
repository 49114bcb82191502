// Reference: a JS Discord interactions verifier. Ed25519 (WebCrypto) over timestamp + raw
// body with the application's public key (hex, imported once per isolate), a 5-minute
// timestamp window, and PING answered with {"type":1}. Nothing else is handled.
let key; // Promise<CryptoKey>, once per isolate
const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

export default {
  async fetch(request, env) {
    key ??= crypto.subtle.importKey("raw", hex(env.DISCORD_PUBLIC_KEY), { name: "Ed25519" }, false, ["verify"]);
    const signature = request.headers.get("x-signature-ed25519") ?? "";
    const timestamp = request.headers.get("x-signature-timestamp") ?? "";
    const body = await request.text();
    const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
    if (!fresh || signature.length !== 128 || !(await crypto.subtle.verify("Ed25519", await key, hex(signature), new TextEncoder().encode(timestamp + body)))) {
      return Response.json({ error: "invalid request signature" }, { status: 401 });
    }
    const interaction = JSON.parse(body);
    if (interaction.type === 1) return Response.json({ type: 1 });
    return Response.json({ error: "unhandled" }, { status: 400 });
  },
};
