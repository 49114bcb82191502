// The hop's runtime calls, each one crossing from Rust (DESIGN.md, "The JS boundary").
//
// Rust decides everything here (the URL, every header, the deadline, whether a body is read
// whole); this file only makes the runtime calls a decision needs, so that one forwarded
// request costs one call from wasm instead of twenty, and one awaited promise instead of
// four. Nothing here parses, chooses or checks: wasm-bindgen would generate the same calls
// one at a time (`src/boundary.rs` binds them; its tests in tests/e2e exercise each).
//
// Header lists cross as one string, "name\nvalue\nname\nvalue": `src/boundary.rs` builds
// them and refuses a name or value holding "\n", "\r" or "\0" (no valid header holds one),
// so a list can never be split other than as it was built.

/** Calls `f(name, value)` for each pair of `lines`. */
function eachPair(lines, f) {
  if (lines === "") return;
  const parts = lines.split("\n");
  for (let i = 0; i + 1 < parts.length; i += 2) f(parts[i], parts[i + 1]);
}

/**
 * The abort controller of each request built for the network (`forwardRequest` with
 * `abortable`), for `send` to abort when the deadline passes: the signal is in the request
 * from the start, so `send` fetches it as it is instead of `fetch(request, { signal })`,
 * which would build a second Request around it.
 */
const controllers = new WeakMap();

/**
 * The request to send to the next hop: `incoming`'s method, its headers copied (when
 * `copyIncoming`) or none, with `lines` set on them, `body` (undefined: `incoming`'s; null:
 * none), `redirect: "manual"`, `cf` when given, and an abort signal when `abortable` (a
 * request for the network). Throws (a Rust `Err`) on an invalid URL or header.
 */
export function forwardRequest(incoming, url, copyIncoming, lines, body, cf, abortable) {
  const h = copyIncoming ? new Headers(incoming.headers) : new Headers();
  eachPair(lines, (name, value) => h.set(name, value));
  const init = {
    method: incoming.method,
    headers: h,
    body: body === undefined ? incoming.body : body,
    redirect: "manual",
  };
  if (cf !== undefined) init.cf = cf;
  if (!abortable) return new Request(url, init);
  const controller = new AbortController();
  init.signal = controller.signal;
  const request = new Request(url, init);
  controllers.set(request, controller);
  return request;
}

/** What `send` resolves with when no answer came: the deadline passed first. */
const TIMED_OUT = 0;
/** What `send` resolves with when no answer came: the call failed (transport). */
const UNAVAILABLE = 1;

/**
 * Sends `request` through `fetcher` (a service binding), or over the network when it is
 * null (then aborted when the deadline passes), waiting at most `timeoutMs` for the
 * answer's headers; the body then streams with no deadline. Resolves with the answer
 * (with mutable copied headers when `copy` and its status is one a Response can carry), or
 * TIMED_OUT / UNAVAILABLE. Never rejects.
 */
export function send(request, fetcher, timeoutMs, copy) {
  return fetcher === null ? sendNetwork(request, timeoutMs, copy) : sendService(request, fetcher, timeoutMs, copy);
}

/** `send` through a service binding: the answer raced against the deadline. */
async function sendService(request, fetcher, timeoutMs, copy) {
  let timer;
  const deadline = new Promise((resolve) => {
    timer = setTimeout(resolve, timeoutMs, TIMED_OUT);
  });
  try {
    const answer = await Promise.race([fetcher.fetch(request), deadline]);
    return answer === TIMED_OUT ? TIMED_OUT : arrived(answer, copy);
  } catch {
    return UNAVAILABLE;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `send` over the network: the deadline aborts the request (its own signal when
 * `forwardRequest` gave it one, else one added here). An answer whose headers arrive after
 * the deadline fired is a timeout too (its body was aborted with the request).
 */
async function sendNetwork(request, timeoutMs, copy) {
  let controller = controllers.get(request);
  const own = controller !== undefined;
  if (!own) controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  try {
    const answer = await (own ? fetch(request) : fetch(request, { signal: controller.signal }));
    return timedOut ? TIMED_OUT : arrived(answer, copy);
  } catch {
    return timedOut ? TIMED_OUT : UNAVAILABLE;
  } finally {
    clearTimeout(timer);
  }
}

/** An answer as `send` resolves with it: headers copied when `copy` and its status allows. */
function arrived(answer, copy) {
  if (!copy || answer.status < 200 || answer.status > 599) return answer;
  return withOwnHeaders(answer);
}

/** How a relayed body ended (`BodyEnd` in Rust): every byte passed on. */
const COMPLETE = 0;
/** The upstream's stream failed before its end. */
const BROKEN = 1;
/** The reader went away first (the client): nothing known about the upstream. */
const ABANDONED = 2;

/**
 * `answer` rebuilt with headers of its own (a fetched answer's are immutable), its body
 * piped natively into an `IdentityTransformStream` (runtime streams on both sides: workerd
 * pumps the bytes without a JS call per chunk, unlike a standard `TransformStream`), as
 * [the response to send on, promise of how its body ended], the promise null when there is
 * no body. A failed pipe is told apart by cancelling the source afterwards: that succeeds
 * on a stream the reader abandoned and fails with the stored error on one that broke. The
 * promise never rejects.
 */
export function relay(answer) {
  const stream = answer.body;
  if (stream === null) return [withOwnHeaders(answer), null];
  const { readable, writable } = new IdentityTransformStream();
  const end = stream.pipeTo(writable).then(
    () => COMPLETE,
    () => stream.cancel().then(() => ABANDONED, () => BROKEN),
  );
  return [new Response(readable, answer), end];
}

/**
 * `answer` with headers of its own (a fetched answer's are immutable): the same status,
 * status text, body, `webSocket` and `cf`, the headers copied. Throws where the runtime
 * refuses (never for an answer it gave).
 */
export function withOwnHeaders(answer) {
  return new Response(answer.body, answer);
}

/** The `cf` fields the hops read, in the order `ClientCf::parse` in src/boundary.rs reads them. */
const CF_FIELDS = ["country", "colo", "latitude", "longitude"];

/**
 * `request.cf` read once: null when the request has none, else [the fields the hops read as
 * one list "country\ncolo\nlatitude\nlongitude" (a field that is absent, neither text nor a
 * number, or holds a line break is ""), an object of just those fields to carry onto a
 * service hop].
 */
export function cfRead(request) {
  const cf = request.cf;
  if (cf === null || typeof cf !== "object") return null;
  const kept = {};
  let facts = "";
  for (let i = 0; i < CF_FIELDS.length; i++) {
    const name = CF_FIELDS[i];
    const value = cf[name];
    let text = "";
    if (typeof value === "string" || typeof value === "number") {
      kept[name] = value;
      text = String(value);
      if (text.includes("\n")) text = "";
    }
    facts += i === 0 ? text : `\n${text}`;
  }
  return [facts, kept];
}

/**
 * Runs `settle` (a Rust callback, called once) with how a relayed body ended, as work the
 * request waits for (`ctx.waitUntil`): one callback instead of a Rust task awaiting the
 * promise. What `settle` returns (a promise when its work has to wait) is waited for too.
 */
export function afterEnd(ctx, end, settle) {
  ctx.waitUntil(end.then(settle));
}

/** Every header of `headers` as "name\nvalue\n…" (no valid header holds "\n"). */
export function headerLines(headers) {
  let out = "";
  for (const [name, value] of headers) out += out === "" ? `${name}\n${value}` : `\n${name}\n${value}`;
  return out;
}

/**
 * Edits `headers` in place: the names of `remove` ("name\nname") are deleted, then `set`
 * pairs replace, `defaults` pairs are set only where no value of that name is present,
 * `append` pairs are appended. Throws on an invalid header or immutable headers.
 */
export function editHeaders(headers, remove, set, defaults, append) {
  if (remove !== "") for (const name of remove.split("\n")) headers.delete(name);
  eachPair(set, (name, value) => headers.set(name, value));
  eachPair(defaults, (name, value) => headers.has(name) || headers.set(name, value));
  eachPair(append, (name, value) => headers.append(name, value));
}
