// Reference: a JS LINE webhook verifier. base64(HMAC-SHA256(channel secret, raw body)),
// compared in constant time with x-line-signature; then, like ours up to the response, the
// events are parsed and queued (one sendBatch) and LINE gets 200. The queue consumer below
// acknowledges and drops them (ours answers them with AI: not part of this comparison).
let key; // Promise<CryptoKey>, once per isolate

export default {
  async fetch(request, env) {
    key ??= crypto.subtle.importKey("raw", new TextEncoder().encode(env.LINE_CHANNEL_SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const body = await request.arrayBuffer();
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await key, body));
    const expected = new TextEncoder().encode(btoa(String.fromCharCode(...mac)));
    const given = new TextEncoder().encode(request.headers.get("x-line-signature") ?? "");
    if (given.length !== expected.length || !crypto.subtle.timingSafeEqual(given, expected)) {
      return Response.json({ error: "bad signature" }, { status: 401 });
    }
    const { events = [] } = JSON.parse(new TextDecoder().decode(body));
    const received_ms = Date.now();
    if (events.length) await env.EVENTS.sendBatch(events.map((event) => ({ body: { event, received_ms }, contentType: "json" })));
    return new Response(null, { status: 200 });
  },
  queue(batch) {
    batch.ackAll();
  },
};
