// The REAL reference LangServe app (examples/langserve/app.py, from the pinned venv
// scripts/setup makes in .tools/langserve-venv) on a free loopback port, and a small
// loopback proxy in front of it that behaves as Cloudflare Access does for a service token:
// a request without the expected CF-Access-Client-Id / CF-Access-Client-Secret is refused
// (401) before it reaches the app; an app that is down is a 502, as a tunnel answers.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { eventually } from "./wait.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const LANGSERVE_PYTHON = path.join(ROOT, ".tools/langserve-venv/bin/python");
export const LANGSERVE_APP = path.join(ROOT, "examples/langserve/app.py");

/**
 * Starts the app with `CHAIN=chain` (and `env`) on a free port: uvicorn binds port 0 and
 * logs the port it got; resolves once `GET /healthz` answers. The handle: `url`, `output`
 * (its log lines), `stop()` (SIGTERM, resolves when it exited), `start()` (again, on a new
 * port; `url` follows), `close()` (= stop).
 */
export async function startLangServe({ chain = "echo", env = {} } = {}) {
  if (!existsSync(LANGSERVE_PYTHON)) throw new Error(`${LANGSERVE_PYTHON} missing: run scripts/setup (it makes the LangServe venv)`);
  const h = { url: null, output: [], proc: null };
  h.start = async () => {
    const proc = spawn(LANGSERVE_PYTHON, [LANGSERVE_APP], {
      cwd: path.dirname(LANGSERVE_APP),
      env: { ...process.env, HOST: "127.0.0.1", PORT: "0", CHAIN: chain, LOG_LEVEL: "info", LANGCHAIN_TRACING_V2: "false", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    h.proc = proc;
    const exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
    h.exited = exited;
    let port = null;
    const onData = (buf) => {
      for (const line of buf.toString("utf8").split("\n")) {
        if (!line.trim()) continue;
        h.output.push(line);
        const m = /Uvicorn running on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
        if (m) port = Number(m[1]);
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    let dead = null;
    exited.then((e) => (dead = e));
    const up = await eventually(
      async () => {
        if (dead) throw new Error(`the LangServe app exited (${JSON.stringify(dead)}): ${h.output.slice(-20).join("\n")}`);
        if (!port) return null;
        try {
          const r = await fetch(`http://127.0.0.1:${port}/healthz`);
          return r.ok ? `http://127.0.0.1:${port}` : null;
        } catch {
          return null;
        }
      },
      { timeoutMs: 60_000, intervalMs: 100, what: "the LangServe app to answer /healthz" },
    );
    h.url = up;
    return h;
  };
  h.stop = async () => {
    const proc = h.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    await h.exited;
    clearTimeout(timer);
  };
  h.close = h.stop;
  await h.start();
  return h;
}

/**
 * A proxy on a free loopback port in front of `target()` (a function: the app's URL may
 * change when it restarts) that insists on `access` = { id, secret } as Access does: a
 * request without both headers matching gets 401 and never reaches the app. Every request
 * is recorded (`requests`: method, path, the two Access headers, body). The app answers
 * are streamed back as they come (so `/stream` stays a stream); an app that cannot be
 * reached is a 502. Change `proxy.access` to rotate the expected token; with
 * `proxy.refuseWith = "login"` a refused token gets Access's default answer instead, a 302 to
 * its login page (`/cdn-cgi/access/login/…` on this proxy, so a client that followed it shows).
 */
export async function startAccessProxy(target, access) {
  const state = { access, requests: [] };
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const seen = {
      method: req.method,
      path: req.url,
      id: req.headers["cf-access-client-id"] ?? null,
      secret: req.headers["cf-access-client-secret"] ?? null,
      authorization: req.headers.authorization ?? null,
      body: body.toString("utf8"),
      status: null,
    };
    state.requests.push(seen);
    if (state.access && (seen.id !== state.access.id || seen.secret !== state.access.secret)) {
      if (state.refuseWith === "login") {
        // What Access does by default: a redirect to the team's login page.
        seen.status = 302;
        const login = `${state.url}/cdn-cgi/access/login/llm.example.com?redirect_url=${encodeURIComponent(req.url)}`;
        return res.writeHead(302, { location: login }).end();
      }
      seen.status = 401;
      return res.writeHead(401, { "content-type": "text/plain" }).end("Unauthorized: invalid service token");
    }
    const url = new URL(req.url, target());
    const headers = { ...req.headers, host: url.host };
    delete headers["cf-access-client-id"];
    delete headers["cf-access-client-secret"];
    const up = http.request(url, { method: req.method, headers }, (ur) => {
      seen.status = ur.statusCode;
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on("error", () => {
      seen.status = 502;
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end("Bad Gateway: the origin is down");
    });
    up.end(body);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  state.url = `http://127.0.0.1:${server.address().port}`;
  state.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
