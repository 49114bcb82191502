// The web support chat from a client's side (issue 18): sessions over HTTP, the SSE
// answer of a posted message, and WebSocket clients (the `ws` package) that keep every
// frame and wait on the one a test expects.
import { once } from "node:events";
import WebSocket from "ws";
import { CHAT } from "./line.mjs";
import { eventually } from "./wait.mjs";

/** A client address for `cf-connecting-ip`, distinct per call so limits do not mix. */
let nextIp = 1;
export const freshIp = () => `198.51.100.${nextIp++}`;

/** POST /chat/v1/sessions from `ip`: `{ status, body, headers }`. */
export async function createSession(p, ip = freshIp()) {
  const r = await p.fetch("/chat/v1/sessions", { method: "POST", headers: { "cf-connecting-ip": ip }, body: "{}" }, CHAT);
  return { status: r.status, body: await r.json(), headers: r.headers, ip };
}

/** A created session (asserting 201): `{ id, token, expires_at, ip }`. */
export async function session(p, ip = freshIp()) {
  const r = await createSession(p, ip);
  if (r.status !== 201) throw new Error(`session: ${r.status} ${JSON.stringify(r.body)}`);
  return { ...r.body, ip };
}

/** GET the history: `{ status, body }`. */
export async function history(p, s, { after, token = s.token } = {}) {
  const q = after === undefined ? "" : `?after=${after}`;
  const r = await p.fetch(`/chat/v1/sessions/${s.id}/messages${q}`, { headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": s.ip } }, CHAT);
  return { status: r.status, body: await r.json() };
}

/** DELETE the session (ends it): `{ status, body, headers }`. */
export async function endSession(p, s, { token = s.token } = {}) {
  const r = await p.fetch(`/chat/v1/sessions/${s.id}`, { method: "DELETE", headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": s.ip } }, CHAT);
  return { status: r.status, body: await r.json(), headers: r.headers };
}

/** Parses a whole SSE body into `[{ event, data }]` (data JSON-decoded). */
export function parseSse(text) {
  return text
    .split("\n\n")
    .filter((block) => block.trim())
    .map((block) => {
      const lines = block.split("\n");
      const event = lines.find((l) => l.startsWith("event: "))?.slice(7);
      const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      return { event, data: JSON.parse(data) };
    });
}

/**
 * POSTs a message; `{ status, headers, events }` for an SSE answer (every event), or
 * `{ status, headers, body }` for a JSON refusal.
 */
export async function post(p, s, content, { clientId, token = s.token } = {}) {
  const r = await p.fetch(
    `/chat/v1/sessions/${s.id}/messages`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "cf-connecting-ip": s.ip },
      body: JSON.stringify(clientId ? { content, client_id: clientId } : { content }),
    },
    CHAT,
  );
  const type = r.headers.get("content-type") ?? "";
  if (type.startsWith("text/event-stream")) return { status: r.status, headers: r.headers, events: parseSse(await r.text()) };
  return { status: r.status, headers: r.headers, body: await r.json() };
}

/**
 * A WebSocket client of session `s` (subprotocols `chat.v1`, `bearer.<token>`), reached
 * through workerd's socket with `Host: chat-webhook.local`. `frames` keeps every frame;
 * `next(pred, what)` waits for the first frame from index `from` matching `pred`.
 */
export function openSocket(p, s, { after, token = s.token, protocols } = {}) {
  const url = new URL(`/chat/v1/sessions/${s.id}/ws${after === undefined ? "" : `?after=${after}`}`, p.url);
  url.protocol = "ws:";
  const ws = new WebSocket(url, protocols ?? ["chat.v1", `bearer.${token}`], {
    headers: { host: `${CHAT}.local`, "cf-connecting-ip": s.ip },
  });
  const frames = [];
  let unexpected = null;
  ws.on("message", (data) => frames.push(JSON.parse(data.toString("utf8"))));
  ws.on("unexpected-response", (_req, res) => {
    let body = "";
    res.on("data", (c) => (body += c));
    res.on("end", () => (unexpected = { status: res.statusCode, body: body ? JSON.parse(body) : null }));
  });
  ws.on("error", () => {});
  const closed = once(ws, "close").then(([code, reason]) => ({ code, reason: reason.toString() }));
  // Listened for at once: a test may await something else (the upgrade) first.
  const opened = once(ws, "open");
  opened.catch(() => {});
  return {
    ws,
    frames,
    closed,
    opened: () => opened,
    /** The refusal of an upgrade that was not accepted: `{ status, body }`. */
    refused: () => eventually(() => unexpected, { what: "the refused upgrade" }),
    next: (pred, what = "a frame", from = 0, timeoutMs = 10_000) =>
      eventually(() => frames.slice(from).find(pred), { what, timeoutMs }),
    send: (frame) => ws.send(typeof frame === "string" ? frame : JSON.stringify(frame)),
    close: () => ws.close(),
  };
}

/** Sends `content` on socket `c` and waits for its `done`: `{ user, done, deltas }`. */
export async function ask(c, content, clientId) {
  const from = c.frames.length;
  c.send({ type: "message", content, ...(clientId ? { client_id: clientId } : {}) });
  const user = await c.next((f) => f.type === "message" && f.message.content === content, `the echo of ${content}`, from);
  const done = await c.next((f) => f.type === "done" && f.message.id === user.message.id + 1, `the answer to ${content}`, from);
  const deltas = c.frames
    .slice(from)
    .filter((f) => f.type === "delta" && f.message_id === done.message.id)
    .map((f) => f.text)
    .join("");
  return { user: user.message, done: done.message, deltas };
}
