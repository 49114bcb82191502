// Fakes for chat-webhook: the LINE Messaging API and two OpenAI-compatible AI providers
// on 127.0.0.1, plus signed webhook builders. Each fake records what it received.
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { startUpstream } from "./upstream.mjs";

export const CHAT = "chat-webhook";

/** base64(HMAC-SHA256(secret, body)), as LINE signs. */
export const lineSignature = (secret, body) => createHmac("sha256", secret).update(body).digest("base64");

/**
 * The fake LINE API: profiles, group and room member profiles (`members`, keyed
 * `group/<groupId>/<userId>` or `room/<roomId>/<userId>`), reply (refusing tokens marked
 * expired, or failing on demand), push (409 for a repeated X-Line-Retry-Key). Every profile
 * lookup's path is recorded in `profileCalls`. `token` is the channel access token it
 * insists on.
 */
export async function startFakeLine(token, port = 0, { log = false } = {}) {
  const replies = [];
  const pushes = [];
  const expired = new Set();
  const retryKeys = new Set();
  const profiles = new Map();
  const members = new Map();
  const profileCalls = [];
  const failing = { replies: 0 };
  const json = (res, status, body) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  const up = await startUpstream((req, res) => {
    if (req.headers.authorization !== `Bearer ${token}`) return json(res, 401, { message: "Authentication failed" });
    const profile = /^\/v2\/bot\/profile\/([^/]+)$/.exec(req.path);
    const member = /^\/v2\/bot\/(group|room)\/([^/]+)\/member\/([^/]+)$/.exec(req.path);
    if (req.method === "GET" && (profile || member)) profileCalls.push(req.path);
    if (req.method === "GET" && member) {
      // LINE's member profile: displayName and pictureUrl, no language or status message.
      const p = members.get(`${member[1]}/${member[2]}/${member[3]}`);
      return p ? json(res, 200, { userId: member[3], ...p }) : json(res, 404, { message: "Not found" });
    }
    if (req.method === "GET" && profile) {
      const p = profiles.get(profile[1]);
      return p ? json(res, 200, { userId: profile[1], ...p }) : json(res, 404, { message: "Not found" });
    }
    if (req.method === "POST" && req.path === "/v2/bot/message/reply") {
      const body = JSON.parse(req.body);
      if (expired.has(body.replyToken)) return json(res, 400, { message: "Invalid reply token" });
      if (failing.replies > 0) {
        failing.replies -= 1;
        return json(res, 500, { message: "Internal server error" });
      }
      replies.push(body);
      if (log) for (const m of body.messages) console.log(`[demo LINE] reply: ${m.text}`);
      return json(res, 200, { sentMessages: [] });
    }
    if (req.method === "POST" && req.path === "/v2/bot/message/push") {
      const key = req.headers["x-line-retry-key"];
      if (key && retryKeys.has(key)) return json(res, 409, { message: "The retry key is already accepted" });
      if (key) retryKeys.add(key);
      pushes.push({ ...JSON.parse(req.body), retryKey: key });
      if (log) for (const m of pushes.at(-1).messages) console.log(`[demo LINE] push: ${m.text}`);
      return json(res, 200, { sentMessages: [] });
    }
    return json(res, 404, { message: "Not found" });
  }, port);
  /** `failing.replies = n`: the next n replies answer 500. */
  return { ...up, replies, pushes, profiles, members, profileCalls, failing, expire: (t) => expired.add(t) };
}

/**
 * Two fake AI providers under one server, `/deepseek` and `/openrouter`. Each has a mode:
 * `ok` (answers `answer(request)`), `fail` (500), `hang` (never answers), `garbage` (200,
 * not JSON). Requests are recorded per provider (`calls`: each request's parsed `body` and
 * `authorization`), so a test can read the prompt a provider received.
 *
 * A request with `"stream": true` is answered as OpenAI-compatible Server-Sent Events: the
 * answer split by `chunks(text)` (default: into pieces of `chunkChars` characters), one
 * `data:` event per piece, `delayMs` apart, then a usage event and `data: [DONE]`. With
 * `failAfter` = k the connection is cut after k pieces (a provider failing mid-stream);
 * `streamed` counts the pieces each provider sent; `usageTokens` sets the usage's
 * `total_tokens` (both kinds of answer).
 *
 * Tool calls: a provider's `toolCalls(body)` (null by default) may return calls
 * `[{id, name, arguments}]` (arguments an object or JSON text); the answer is then those
 * calls (`finish_reason: "tool_calls"`, with `answer(body)` as text before them when not
 * empty): streamed as `delta.tool_calls` pieces (the arguments cut in `chunkChars` pieces)
 * or, not streamed, as `message.tool_calls`. See tests/harness/tools-ai.mjs. `noStream`: a
 * provider that ignores `stream` and answers one JSON completion.
 */
export async function startFakeAi(port = 0) {
  const state = {
    deepseek: { mode: "ok", calls: [], answer: (body) => `deepseek says: ${body.messages.at(-1).content}`, ...streaming() },
    openrouter: { mode: "ok", calls: [], answer: (body) => `openrouter says: ${body.messages.at(-1).content}`, ...streaming() },
  };
  const up = await startUpstream((req, res) => {
    const name = req.path.split("/")[1];
    const p = state[name];
    if (!p || req.path !== `/${name}/chat/completions` || req.method !== "POST") return res.writeHead(404).end();
    const body = JSON.parse(req.body);
    p.calls.push({ body, authorization: req.headers.authorization });
    if (p.mode === "fail") return res.writeHead(500, { "content-type": "application/json" }).end('{"error":"down"}');
    if (p.mode === "hang") return; // the client's timeout ends it
    if (p.mode === "garbage") return res.writeHead(200, { "content-type": "text/html" }).end("<html>");
    const calls = p.toolCalls ? callsOf(p.toolCalls(body)) : null;
    if (body.stream === true && !p.noStream) return streamAnswer(p, body, res, calls);
    const message = calls
      ? { role: "assistant", content: p.answer(body) || null, tool_calls: calls.map(wireCall) }
      : { role: "assistant", content: p.answer(body) };
    res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        id: "cmpl-1",
        choices: [{ index: 0, message, finish_reason: calls ? "tool_calls" : "stop" }],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: p.usageTokens ?? 15 },
      }),
    );
  }, port);
  return { ...up, providers: state };
}

/** A fake provider's streaming settings (see startFakeAi). */
function streaming() {
  return { chunkChars: 8, chunks: null, delayMs: 0, failAfter: null, streamed: 0, usageTokens: null, toolCalls: null, noStream: false };
}

/** Tool calls `[{id, name, arguments}]` with arguments as JSON text, or null for none. */
function callsOf(calls) {
  if (!Array.isArray(calls) || calls.length === 0) return null;
  return calls.map((c, i) => ({
    id: c.id ?? `call_${i}`,
    name: c.name,
    arguments: typeof c.arguments === "string" ? c.arguments : JSON.stringify(c.arguments ?? {}),
  }));
}

const wireCall = (c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } });

/** Streams provider `p`'s answer to `body` as OpenAI-compatible SSE (see startFakeAi). */
async function streamAnswer(p, body, res, calls = null) {
  const text = p.answer(body);
  const pieces = p.chunks ? p.chunks(text) : text.match(new RegExp(`[\\s\\S]{1,${p.chunkChars}}`, "gu")) ?? [];
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const event = (obj) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
  for (let i = 0; i < pieces.length; i++) {
    if (p.failAfter !== null && i >= p.failAfter) {
      res.socket?.destroy();
      return;
    }
    if (p.delayMs > 0) await new Promise((r) => setTimeout(r, p.delayMs));
    event({ id: "cmpl-s", choices: [{ index: 0, delta: { content: pieces[i] }, finish_reason: null }] });
    p.streamed += 1;
  }
  for (const [index, c] of (calls ?? []).entries()) {
    const args = c.arguments.match(new RegExp(`[\\s\\S]{1,${p.chunkChars}}`, "gu")) ?? [""];
    event({ id: "cmpl-s", choices: [{ index: 0, delta: { tool_calls: [{ index, id: c.id, type: "function", function: { name: c.name, arguments: "" } }] }, finish_reason: null }] });
    for (const a of args) {
      if (p.delayMs > 0) await new Promise((r) => setTimeout(r, p.delayMs));
      event({ id: "cmpl-s", choices: [{ index: 0, delta: { tool_calls: [{ index, function: { arguments: a } }] }, finish_reason: null }] });
    }
  }
  event({ id: "cmpl-s", choices: [{ index: 0, delta: {}, finish_reason: calls ? "tool_calls" : "stop" }] });
  event({ id: "cmpl-s", choices: [], usage: { prompt_tokens: 10, completion_tokens: pieces.length, total_tokens: p.usageTokens ?? 10 + pieces.length } });
  res.end("data: [DONE]\n\n");
}

/** chat-webhook vars pointing at the fakes, with fresh secrets. */
export function chatVars(line, ai, overrides = {}) {
  return {
    LINE_CHANNEL_SECRET: randomBytes(16).toString("hex"),
    LINE_CHANNEL_ACCESS_TOKEN: randomBytes(24).toString("base64url"),
    LINE_API_BASE_URL: line.url,
    AI_PRIMARY_BASE_URL: `${ai.url}/deepseek`,
    AI_PRIMARY_API_KEY: "sk-primary-test",
    AI_PRIMARY_TIMEOUT_MS: "1500",
    AI_FALLBACK_BASE_URL: `${ai.url}/openrouter`,
    AI_FALLBACK_API_KEY: "sk-fallback-test",
    AI_FALLBACK_TIMEOUT_MS: "1500",
    ...overrides,
  };
}

/**
 * Delivers `events` to chat-webhook's LINE webhook in pipeline `p`, signed with `secret`
 * (the channel secret), as LINE would; asserts LINE's `200 {}`.
 */
export async function deliverLine(p, secret, events) {
  const body = JSON.stringify({ destination: "U0000000000000000000000000000bot", events });
  const r = await p.fetch(
    "/webhooks/line",
    { method: "POST", headers: { "content-type": "application/json", "x-line-signature": lineSignature(secret, body) }, body },
    CHAT,
  );
  assert.equal(r.status, 200, await r.clone().text());
  assert.deepEqual(await r.json(), {});
  return r;
}

let seq = 0;
/** A LINE webhook event; `over` replaces fields (`message`, `source`, `type`, …). */
export function lineEvent(over = {}) {
  seq += 1;
  return {
    type: "message",
    message: { type: "text", id: `msg${seq}`, text: "hello" },
    webhookEventId: `01TEST${Date.now()}${seq}`.slice(0, 26).padEnd(26, "0"),
    deliveryContext: { isRedelivery: false },
    timestamp: Date.now(),
    source: { type: "user", userId: "U0000000000000000000000000000001" },
    replyToken: `rt${seq}${randomBytes(8).toString("hex")}`,
    mode: "active",
    ...over,
  };
}
