// Escalation webhooks on loopback (issue 19): one fake that plays both the generic JSON
// webhook (`/hook`) and a Discord channel webhook (`/api/webhooks/<id>/<token>`). Each
// request is recorded; per ticket, a plan says how many times to fail (500) before
// answering 2xx, or to fail always. `delivered(path, ticket)` counts the 2xx answers: what
// a receiver actually took.
import { createHmac } from "node:crypto";

export const HOOK_PATH = "/hook";
export const DISCORD_PATH = "/api/webhooks/123456/discord-token-secret";

/** The ticket id a request is about: the generic body's `ticket_id`, or the id in Discord's content. */
export function ticketOf(req) {
  try {
    const body = JSON.parse(req.body);
    return body.ticket_id ?? /t_[0-9a-f]{24}|t_e2e_[a-z0-9_]+/.exec(body.content ?? "")?.[0] ?? null;
  } catch {
    return null;
  }
}

/**
 * The fake's state and handler (give `handler` to `startUpstream`, or as a pipeline
 * `upstreams` entry). `fail(ticket, n)` makes both paths answer 500 `n` times for that
 * ticket (`Infinity`: always); `answered` keeps `{ path, ticket, status, req }` per request.
 */
export function webhookFake() {
  const plans = new Map();
  const answered = [];
  const handler = (req, res) => {
    const ticket = ticketOf(req);
    const key = `${req.path}|${ticket}`;
    const left = plans.get(key) ?? 0;
    const status = left > 0 ? 500 : req.path === DISCORD_PATH ? 200 : 204;
    if (left > 0) plans.set(key, left - 1);
    answered.push({ path: req.path, ticket, status, req });
    if (status === 200) res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id: "1", channel_id: "2" }));
    else res.writeHead(status).end();
  };
  return {
    handler,
    answered,
    fail(ticket, n, paths = [HOOK_PATH, DISCORD_PATH]) {
      for (const path of paths) plans.set(`${path}|${ticket}`, n);
    },
    /** Requests about `ticket` to `path`. */
    tries: (path, ticket) => answered.filter((a) => a.path === path && a.ticket === ticket),
    /** 2xx answers about `ticket` to `path`. */
    delivered: (path, ticket) => answered.filter((a) => a.path === path && a.ticket === ticket && a.status < 300),
  };
}

/** Checks `X-Escalation-Signature: t=<s>,v1=<hex>` over the raw body with `secret`. */
export function signatureValid(secret, header, body) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? "");
  if (!m) return false;
  const want = createHmac("sha256", secret).update(`${m[1]}.${body}`).digest("hex");
  return want === m[2];
}

/** An escalation for ticket `id` (the queue message's body). */
export function escalationOf(id, over = {}) {
  return {
    key: `ticket:${id}`,
    reason: "ticket_created",
    ticket_id: id,
    session_id: "e2e-session",
    subject: "Order 77 never arrived @everyone",
    priority: "high",
    contact: "ann@example.com",
    created_at: Date.now(),
    ...over,
  };
}

/**
 * What the worker's QueueEscalator does, from the test's side: the ledger row first
 * (pending), then the queue message. `queue: false` writes the row only (a send that failed),
 * `updatedAt` backdates it (for the sweeper).
 */
export async function escalateDirect(p, e, { queue = true, updatedAt = Date.now() } = {}) {
  const db = await p.mf.getD1Database("DB", "chat-webhook");
  await db
    .prepare(
      "INSERT INTO escalations (key, ticket_id, session_id, status, attempts, created_at, body, updated_at) VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?5, ?6) ON CONFLICT (key) DO NOTHING",
    )
    .bind(e.key, e.ticket_id, e.session_id, e.created_at, JSON.stringify(e), updatedAt)
    .run();
  if (queue) await (await p.mf.getQueueProducer("CHAT_ESCALATIONS", "chat-webhook")).send(e);
}

/** The ledger row of `key` (or null). */
export async function ledgerRow(p, key) {
  const db = await p.mf.getD1Database("DB", "chat-webhook");
  return db.prepare("SELECT * FROM escalations WHERE key = ?1").bind(key).first();
}
