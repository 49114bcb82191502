// The e2e suites' one fixture: the five workers in one workerd (startPipeline) with the
// fakes a suite needs on loopback (origins, LINE, AI providers, Discord), started before
// the suite's tests and closed after them. A suite says only what differs: its origins'
// behaviour, its vars, its chat fakes.
import { after, before } from "node:test";
import { freshSecret, startPipeline } from "./pipeline.mjs";
import { demoOriginHandler, startUpstream } from "./upstream.mjs";
import { startRawOrigin } from "./raw-origin.mjs";
import { CHAT, chatVars, startFakeAi, startFakeLine } from "./line.mjs";
import { discordKey, startFakeDiscord } from "./discord.mjs";
import { eventually } from "./wait.mjs";

/** Where a pipeline points voice-router when the suite has no origin: nothing listens there. */
const NO_ORIGIN = "http://127.0.0.1:9";

/**
 * workerd's output, passed on as Miniflare would and kept line by line in `lines`, so a
 * test can wait on what a worker logged when it finished background work.
 */
function keepLines(lines) {
  const keep = (stream, out) => {
    let rest = "";
    stream.on("data", (chunk) => {
      out.write(chunk);
      const parts = (rest + chunk.toString("utf8")).split("\n");
      rest = parts.pop();
      lines.push(...parts);
    });
  };
  return (stdout, stderr) => {
    keep(stdout, process.stdout);
    keep(stderr, process.stderr);
  };
}

/**
 * Starts one fake from its spec: a function is an HTTP handler (startUpstream), a string a
 * demo origin of that region name, `{ raw: routes }` a raw TCP origin (startRawOrigin),
 * `{ start }` anything else with a `close()`.
 */
function startFake(spec) {
  if (typeof spec === "function") return startUpstream(spec);
  if (typeof spec === "string") return startUpstream(demoOriginHandler(spec));
  if (spec.raw) return startRawOrigin(spec.raw);
  return spec.start();
}

/**
 * Starts a pipeline and its fakes; resolves to a handle: the pipeline's own methods
 * (`fetch`, `api`, `admin`, `hops`, `token`, `mf`, `url`), `secret` (the admin secret), one
 * handle per fake (`origin`, each of `upstreams` by name, and with `chat`: `line`, `ai`,
 * `chatVars`, and `discord` and its signing `key`), `chainHops(id)` and `hopOf(id, worker)`, workerd's output as `logs` (lines) with
 * `logged(pattern, since)` to wait for one, and `close()` (idempotent: the pipeline first, then the
 * fakes).
 *
 * @param {object} opts
 * @param {Function|string|object} [opts.origin] the origin every region points at (see startFake)
 * @param {Record<string, Function|string|object>} [opts.upstreams] more fakes, by handle name
 * @param {{ lineToken?: string, discord?: boolean, vars?: Record<string,string> }} [opts.chat]
 *   fake LINE (insisting on `lineToken`) and AI providers, and with `discord` the fake
 *   Discord and market API, wired into chat-webhook's vars (`vars` added over them)
 * @param {object|Function} [opts.vars] per-worker vars, or `(handle) => vars` once the fakes run
 * @param {object|Function} [opts.workerExtras] per-worker Miniflare options, or `(handle) => …`
 * @param {(handle) => Promise<void>} [opts.setup] runs once the pipeline is up (seed data, ...)
 *   The rest (`adminSecret`, `originUrl`, `jwtSecret`, `miniflare`) goes to startPipeline.
 */
export async function launchPipeline(opts = {}, h = {}) {
  const { origin, upstreams = {}, chat, vars = {}, workerExtras = {}, setup, adminSecret = freshSecret(), ...rest } = opts;
  const closers = [];
  let closed = false;
  h.close = async () => {
    if (closed) return;
    closed = true;
    while (closers.length) await closers.pop()();
  };
  const fake = async (spec) => {
    const f = await startFake(spec);
    closers.push(() => f.close());
    return f;
  };
  try {
    h.secret = adminSecret;
    if (origin !== undefined) h.origin = await fake(origin);
    for (const [name, spec] of Object.entries(upstreams)) h[name] = await fake(spec);
    const perWorker = { ...(typeof vars === "function" ? vars(h) : vars) };
    if (chat) {
      h.line = await fake({ start: () => startFakeLine(chat.lineToken ?? "unused") });
      h.ai = await fake({ start: () => startFakeAi() });
      const own = chat.lineToken ? { LINE_CHANNEL_ACCESS_TOKEN: chat.lineToken } : {};
      if (chat.discord) {
        h.key = discordKey();
        h.discord = await fake({ start: () => startFakeDiscord() });
        Object.assign(own, { DISCORD_PUBLIC_KEY: h.key.publicKeyHex, DISCORD_API_BASE_URL: h.discord.api, QUOTE_API_BASE_URL: h.discord.market });
      }
      h.chatVars = chatVars(h.line, h.ai, { ...own, ...chat.vars });
      perWorker[CHAT] = { ...h.chatVars, ...perWorker[CHAT] };
    }
    h.logs = [];
    const pipeline = await startPipeline({
      originUrl: h.origin?.url ?? NO_ORIGIN,
      adminSecret,
      vars: perWorker,
      workerExtras: typeof workerExtras === "function" ? workerExtras(h) : workerExtras,
      ...rest,
      miniflare: { handleRuntimeStdio: keepLines(h.logs), ...rest.miniflare },
    });
    closers.push(() => pipeline.close());
    const { close: _, ...methods } = pipeline;
    Object.assign(h, methods);
    /** The three chain hops' metrics of request `id` (auth-validator, cache-manager,
     * voice-router), once all three are stored. */
    h.chainHops = (id) =>
      eventually(async () => {
        const hops = await h.hops(id);
        return hops.length === 3 && hops;
      }, { what: `the 3 chain hops of ${id}` });
    /** `worker`'s hop metric of request `id`, once it is stored. */
    h.hopOf = (id, worker) =>
      eventually(async () => (await h.hops(id)).find((hop) => hop.worker === worker), { what: `the ${worker} hop of ${id}` });
    /** Waits until workerd logs a line matching `pattern` (at or after line `since`); returns it. */
    h.logged = (pattern, since = 0) =>
      eventually(() => h.logs.slice(since).find((l) => pattern.test(l)), { timeoutMs: 15_000, what: `a log line ${pattern}` });
    if (setup) await setup(h);
  } catch (err) {
    await h.close();
    throw err;
  }
  return h;
}

/**
 * Pipelines and fakes a suite starts inside its tests, each closed after the suite (or
 * earlier by its own `close()`).
 */
export function pipelineScope() {
  const open = [];
  after(async () => {
    while (open.length) await open.pop().close();
  });
  return {
    /** launchPipeline, closed with the suite. */
    launch: async (opts) => {
      const h = {};
      open.push(h);
      return launchPipeline(opts, h);
    },
    /** A fake (see `origin` of launchPipeline), closed with the suite. */
    fake: async (spec) => {
      const f = await startFake(spec);
      open.push(f);
      return f;
    },
    /** Runs `fn` when the suite ends, before what was opened earlier closes. */
    onClose: (fn) => open.push({ close: fn }),
  };
}

/**
 * The suite's pipeline: launched `before` the suite's tests, closed `after` them. Returns
 * the handle at once (filled in by `before`; see launchPipeline), plus `launch`, `fake` and
 * `onClose` for more of the same in a test (closed with the suite).
 */
export function withPipeline(opts = {}) {
  const scope = pipelineScope();
  const h = { ...scope };
  before(async () => {
    scope.onClose(() => h.close());
    await launchPipeline(opts, h);
  });
  return h;
}
