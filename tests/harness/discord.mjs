// Fakes for chat-webhook's Discord bot: one loopback server playing the Discord API
// (follow-up edits, command registration) and a market-data quote API, plus a test
// application key that signs interactions as Discord does.
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { startUpstream } from "./upstream.mjs";

/** A fresh Ed25519 application key: `publicKeyHex` for DISCORD_PUBLIC_KEY, and a signer. */
export function discordKey() {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const publicKeyHex = Buffer.from(publicKey.export({ format: "jwk" }).x, "base64url").toString("hex");
  return {
    publicKeyHex,
    /** Headers for `body` signed at `ts` (unix seconds, default now). */
    headers(body, ts = Math.floor(Date.now() / 1000)) {
      const signature = sign(null, Buffer.from(`${ts}${body}`), privateKey).toString("hex");
      return { "content-type": "application/json", "x-signature-ed25519": signature, "x-signature-timestamp": String(ts) };
    },
  };
}

/** Known quotes and chart closes of the fake market API. */
export const MARKET = {
  AAPL: { price: 189.12, change_percent: 1.23, currency: "USD", closes: { "1d": [188, 189.12], "1w": [180, 190, 185, 189.12], "1m": [170, 189.12], "1y": [150, 189.12] } },
  MSFT: { price: 410.5, change_percent: -0.42, currency: "USD", closes: { "1d": [412, 410.5], "1w": [400, 410.5], "1m": [390, 410.5], "1y": [300, 410.5] } },
};

/**
 * The fake Discord API under `/api/v10` (records PATCHed original responses and PUT command
 * lists) and the fake market API under `/market`.
 */
export async function startFakeDiscord(port = 0) {
  const edits = [];
  const registrations = [];
  const up = await startUpstream((req, res) => {
    const json = (status, body) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    const edit = /^\/api\/v10\/webhooks\/(\d+)\/([\w.-]+)\/messages\/@original$/.exec(req.path);
    if (req.method === "PATCH" && edit) {
      edits.push({ applicationId: edit[1], token: edit[2], body: JSON.parse(req.body) });
      return json(200, { id: "1" });
    }
    const register = /^\/api\/v10\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(req.path);
    if (req.method === "PUT" && register) {
      registrations.push({ applicationId: register[1], guildId: register[2] ?? null, authorization: req.headers.authorization, body: JSON.parse(req.body) });
      return json(200, JSON.parse(req.body));
    }
    const q = new URLSearchParams(req.query);
    const m = MARKET[q.get("symbol")];
    if (req.path === "/market/quote") return m ? json(200, { symbol: q.get("symbol"), price: m.price, change_percent: m.change_percent, currency: m.currency }) : json(404, { error: "unknown symbol" });
    if (req.path === "/market/chart") return m && m.closes[q.get("range")] ? json(200, { symbol: q.get("symbol"), closes: m.closes[q.get("range")] }) : json(404, { error: "unknown" });
    return json(404, { message: "404: Not Found" });
  }, port);
  return { ...up, edits, registrations, api: `${up.url}/api/v10`, market: `${up.url}/market` };
}

let seq = 0;
/** An interaction of `type` with `data`; `over` replaces fields (member, user, …). */
export function interaction(type, data, over = {}) {
  seq += 1;
  return {
    id: String(1_000_000 + seq),
    application_id: "111111111111111111",
    type,
    token: `tok${seq}${randomBytes(6).toString("hex")}`,
    version: 1,
    guild_id: "222222222222222222",
    member: { user: { id: "333333333333333333", username: "tester" }, roles: [] },
    ...(data === undefined ? {} : { data }),
    ...over,
  };
}

/** A slash command's `data`. */
export const slash = (name, options = {}) => ({
  id: "9",
  name,
  type: 1,
  options: Object.entries(options).map(([n, value]) => ({ name: n, type: 3, value })),
});
