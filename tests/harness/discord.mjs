// Fakes for chat-webhook's Discord bot: one loopback server playing the Discord API
// (follow-up edits, command registration) and a market-data quote API, plus a test
// application key that signs interactions as Discord does.
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { startUpstream } from "./upstream.mjs";
import { eventually, sleep } from "./wait.mjs";

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

/** `n` deterministic intraday closes from `open` to `close` (a wave over a drift). */
function intraday(open, close, n) {
  return Array.from({ length: n }, (_, i) => {
    const t = i / (n - 1);
    const wave = i === 0 || i === n - 1 ? 0 : Math.sin(i / 5) * 0.9 + Math.sin(i / 1.7) * 0.25;
    return Math.round((open + (close - open) * t + wave) * 100) / 100;
  });
}

/** Known quotes and chart closes of the fake market API. */
export const MARKET = {
  AAPL: { price: 189.12, change_percent: 1.23, currency: "USD", closes: { "1d": intraday(188, 189.12, 78), "1w": [180, 190, 185, 189.12], "1m": [170, 189.12], "1y": [150, 189.12] } },
  MSFT: { price: 410.5, change_percent: -0.42, currency: "USD", closes: { "1d": [412, 410.5], "1w": [400, 410.5], "1m": [390, 410.5], "1y": [300, 410.5] } },
};

/**
 * Parses a `multipart/form-data` body (`raw`, a Buffer) as Discord reads a message with
 * files: returns `{ parts: [{ name, filename, contentType, data }] }`, or throws when the
 * body does not follow the format (boundary delimiters, CRLFs, a Content-Disposition per part).
 */
export function parseMultipart(contentType, raw) {
  const m = /^multipart\/form-data;\s*boundary=("?)([^";]+)\1$/i.exec(contentType ?? "");
  if (!m) throw new Error(`not multipart/form-data: ${contentType}`);
  const delimiter = Buffer.from(`--${m[2]}`);
  const parts = [];
  let at = raw.indexOf(delimiter);
  if (at !== 0) throw new Error("body does not start with the boundary");
  for (;;) {
    at += delimiter.length;
    if (raw.subarray(at, at + 4).toString() === "--\r\n") break; // the closing delimiter
    if (raw.subarray(at, at + 2).toString() !== "\r\n") throw new Error("no CRLF after a boundary");
    const headEnd = raw.indexOf("\r\n\r\n", at);
    const next = raw.indexOf(Buffer.concat([Buffer.from("\r\n"), delimiter]), headEnd);
    if (headEnd < 0 || next < 0) throw new Error("unterminated part");
    const headers = Object.fromEntries(
      raw.subarray(at + 2, headEnd).toString("utf8").split("\r\n").map((l) => {
        const i = l.indexOf(":");
        return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
      }),
    );
    const disposition = /^form-data;\s*name="([^"]*)"(?:;\s*filename="([^"]*)")?$/.exec(headers["content-disposition"] ?? "");
    if (!disposition) throw new Error(`bad Content-Disposition: ${headers["content-disposition"]}`);
    parts.push({ name: disposition[1], filename: disposition[2] ?? null, contentType: headers["content-type"] ?? null, data: raw.subarray(headEnd + 4, next) });
    at = next + 2;
  }
  return { parts };
}

/**
 * The fake Discord API under `/api/v10` (records PATCHed original responses and PUT command
 * lists) and the fake market API under `/market`. A PATCH may be JSON or Discord's multipart
 * form (`payload_json` + `files[n]`); each edit records its `body` (the message JSON),
 * `files` (`[{ name, filename, contentType, data }]`), `contentType`, `userAgent` and `at`.
 * `rateLimit(token, retryAfterS)` makes the next edit of that token answer 429 with
 * `retry_after` (body) and `Retry-After` (header), as Discord does; every attempt, refused
 * or not, is in `attempts`.
 */
export async function startFakeDiscord(port = 0) {
  const edits = [];
  const attempts = [];
  const registrations = [];
  const limited = new Map();
  const up = await startUpstream((req, res) => {
    const json = (status, body, headers = {}) => res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
    const edit = /^\/api\/v10\/webhooks\/(\d+)\/([\w.-]+)\/messages\/@original$/.exec(req.path);
    if (req.method === "PATCH" && edit) {
      const contentType = req.headers["content-type"] ?? "";
      const seen = { applicationId: edit[1], token: edit[2], contentType, userAgent: req.headers["user-agent"], at: Date.now(), files: [] };
      attempts.push(seen);
      if (contentType.startsWith("multipart/form-data")) {
        const { parts } = parseMultipart(contentType, req.raw);
        const payload = parts.find((p) => p.name === "payload_json");
        if (!payload) return json(400, { message: "Cannot send an empty message", code: 50006 });
        seen.body = JSON.parse(payload.data.toString("utf8"));
        seen.files = parts.filter((p) => p.name !== "payload_json");
      } else {
        seen.body = JSON.parse(req.body);
      }
      const wait = limited.get(edit[2]);
      if (wait !== undefined) {
        limited.delete(edit[2]);
        return json(429, { message: "You are being rate limited.", retry_after: wait, global: false }, { "retry-after": String(Math.ceil(wait)) });
      }
      edits.push(seen);
      return json(200, { id: "1" });
    }
    const register = /^\/api\/v10\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(req.path);
    if (req.method === "PUT" && register) {
      registrations.push({ applicationId: register[1], guildId: register[2] ?? null, authorization: req.headers.authorization, userAgent: req.headers["user-agent"], body: JSON.parse(req.body) });
      return json(200, JSON.parse(req.body));
    }
    const q = new URLSearchParams(req.query);
    const m = MARKET[q.get("symbol")];
    if (req.path === "/market/quote") return m ? json(200, { symbol: q.get("symbol"), price: m.price, change_percent: m.change_percent, currency: m.currency }) : json(404, { error: "unknown symbol" });
    if (req.path === "/market/chart") return m && m.closes[q.get("range")] ? json(200, { symbol: q.get("symbol"), closes: m.closes[q.get("range")] }) : json(404, { error: "unknown" });
    return json(404, { message: "404: Not Found" });
  }, port);
  const rateLimit = (token, retryAfterS) => limited.set(token, retryAfterS);
  return { ...up, edits, attempts, registrations, rateLimit, api: `${up.url}/api/v10`, market: `${up.url}/market` };
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

/**
 * The applied edits of interaction `token` on the fake `discord`, once the first is in and
 * `windowMs` more have passed. The window is a fixed wait, and unavoidable: the edit is the
 * deferred task's last action, and after an applied edit the worker logs, stores and reports
 * nothing, so no event can show that a second edit will not follow. A duplicate would be
 * sent at once, well within the window.
 */
export async function settledEdits(discord, token, { timeoutMs = 10_000, windowMs = 300 } = {}) {
  await eventually(() => discord.edits.some((e) => e.token === token), { timeoutMs, what: "the follow-up edit" });
  await sleep(windowMs);
  return discord.edits.filter((e) => e.token === token);
}
