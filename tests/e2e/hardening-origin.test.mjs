// Issue 13 (origin and cache hardening): no origin answer may crash a worker or come out
// as `internal_error`; broken bodies are failures that breakers and metrics see; 500/501
// are answers, not region failures; cache-manager's admin paths never leave it.
// Raw-TCP fake origins (tests/harness/raw-origin.mjs) send what no HTTP library would.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { assertJsonError } from "../harness/assert.mjs";
import { withPipeline } from "../harness/fixture.mjs";
import { answer } from "../harness/raw-origin.mjs";
import { routingTable } from "../harness/routing.mjs";
import { eventually } from "../harness/wait.mjs";

const V = "voice-router";
const C = "cache-manager";
const BERLIN = { country: "DE", latitude: "52.52", longitude: "13.40", colo: "FRA" };
const TOKYO = { country: "JP", latitude: "35.68", longitude: "139.69", colo: "NRT" };
const bounded = (init = {}) => ({ ...init, signal: AbortSignal.timeout(10_000) });

/** Reads a body to its end, or says how it failed (a broken body rejects). */
async function readBody(r) {
  try {
    return { text: await r.text() };
  } catch (err) {
    return { error: String(err) };
  }
}

/** A region that answers every request 200. */
const healthyRegion = (req, res) => {
  res.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store" }).end(`healthy ${req.path}`);
};

/** A pipeline (withPipeline options) with the fakes `upstreams`, whose eu-west-1 (Berlin's
 * first region) is the fake named `eu`, us-east-1 `other` and us-west-2 (Tokyo's first)
 * `west`; three failures open a breaker for a minute. */
const euFirst = (upstreams, eu, other, west = other) => ({
  upstreams,
  vars: (h) => ({
    [V]: {
      ROUTING_TABLE: routingTable({ "eu-west-1": h[eu].url, "us-east-1": h[other].url, "us-west-2": h[west].url }),
      BREAKER_FAILURES: "3",
      BREAKER_RECOVERY_MS: "60000",
    },
  }),
});

/** An answer that holds its headers back until `release()` (a request in flight). */
function gate() {
  let release;
  const released = new Promise((r) => (release = r));
  return { release, released };
}

describe("13.8 any origin status is a clean answer", { timeout: 120_000 }, () => {
  const slow = gate();
  const started = gate();
  const odd = {
    "/api/v1/agents/s999": (s) => answer(s, "999 X", {}, "odd"),
    "/api/v1/agents/s600": (s) => answer(s, "600 X", {}, "odd"),
    "/api/v1/agents/s000": (s) => answer(s, "000 X", {}, "odd"),
    "/api/v1/agents/s199": (s) => answer(s, "199 X", {}, "odd"),
    "/api/v1/agents/s103-then-200": (s) => {
      s.write("HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n");
      answer(s, "200 OK", { "cache-control": "no-store" }, "after hints");
    },
    "/api/v1/agents/s103-then-nothing": (s) => {
      s.write("HTTP/1.1 103 Early Hints\r\n\r\n");
      s.end();
    },
    "/api/v1/agents/s100-then-200": (s) => {
      s.write("HTTP/1.1 100 Continue\r\n\r\n");
      answer(s, "200 OK", { "cache-control": "no-store" }, "after continue");
    },
    "/api/v1/agents/s101": (s) => {
      s.write("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n");
    },
    // Odd but parseable, or refused by workerd's HTTP parser.
    "/api/v1/agents/s204-with-body": (s) => answer(s, "204 No Content", {}, "body!"),
    "/api/v1/agents/s304-no-validators": (s) => answer(s, "304 Not Modified", { "cache-control": "max-age=60" }),
    "/api/v1/agents/s206": (s) => answer(s, "206 Partial Content", { "content-range": "bytes 0-1/10", "cache-control": "max-age=60" }, "ab"),
    "/api/v1/agents/bad-length": (s) => {
      s.write("HTTP/1.1 200 OK\r\ncontent-length: abc\r\n\r\nhello");
      s.end();
    },
    "/api/v1/agents/two-lengths": (s) => {
      s.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!");
      s.end();
    },
    "/api/v1/agents/huge-header": (s) => s.write(`HTTP/1.1 200 OK\r\nx-big: ${"a".repeat(200_000)}\r\ncontent-length: 2\r\n\r\nok`),
    "/api/v1/agents/many-headers": (s) => {
      const many = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`x-h${i}`, "v"]));
      answer(s, "200 OK", { ...many, "cache-control": "max-age=60" }, "ok");
    },
    "/api/v1/agents/latin1-header": (s) =>
      s.write(Buffer.concat([Buffer.from("HTTP/1.1 200 OK\r\nx-odd: caf"), Buffer.from([0xe9, 0xff]), Buffer.from("\r\ncache-control: max-age=60\r\ncontent-length: 2\r\n\r\nok")])),
    "/api/v1/agents/not-http": (s) => {
      s.write("NOT HTTP AT ALL\r\n\r\n");
      s.end();
    },
    "/api/v1/agents/slow": async (s) => {
      started.release();
      await slow.released;
      answer(s, "200 OK", { "cache-control": "no-store" }, "slow and whole");
    },
  };

  // Every region is this origin; its unusable answers are region failures, so keep the
  // breakers from opening during the test.
  const p = withPipeline({ origin: { raw: odd }, vars: { [V]: { BREAKER_FAILURES: "100" } } });

  test("13.8 a 999 from the origin is a 502 bad_upstream_response while a concurrent request on the same isolate completes", async () => {
    // A normal request is in flight (its origin holds the answer) when the 999 arrives.
    const inFlight = p.fetch("/api/v1/agents/slow", bounded({ cf: BERLIN }), V);
    await started.released;
    const r = await p.fetch("/api/v1/agents/s999", bounded({ cf: BERLIN }), V);
    const body = await assertJsonError(r, 502, "bad_upstream_response");
    assert.match(body.error.message, /999/);
    slow.release();
    const normal = await inFlight;
    assert.equal(normal.status, 200);
    assert.equal(await normal.text(), "slow and whole", "the isolate was not reset under it");
  });

  test("13.8 statuses outside 200-599 are 502 at every hop, through the whole chain", async () => {
    for (const path of ["/api/v1/agents/s600", "/api/v1/agents/s199", "/api/v1/agents/s999"]) {
      await assertJsonError(await p.fetch(path, bounded({ cf: BERLIN }), V), 502, "bad_upstream_response");
      await assertJsonError(await p.fetch(path, bounded({ cf: BERLIN }), C), 502, "bad_upstream_response");
      await assertJsonError(await p.api(path, bounded({ cf: BERLIN })), 502, "bad_upstream_response");
    }
    const r = await p.api("/api/v1/agents/s999", bounded({ cf: BERLIN }));
    await assertJsonError(r, 502, "bad_upstream_response");
    const id = r.headers.get("x-request-id");
    const hops = await p.chainHops(id);
    assert.deepEqual(hops.map((h) => h.status), [502, 502, 502]);
  });

  test("13.8 informational answers: workerd hands a 1xx over as final, so 103/100/101 (followed by anything) are 502", async () => {
    for (const path of [
      "/api/v1/agents/s103-then-200",
      "/api/v1/agents/s103-then-nothing",
      "/api/v1/agents/s100-then-200",
      "/api/v1/agents/s101",
    ]) {
      const body = await assertJsonError(await p.fetch(path, bounded({ cf: BERLIN }), V), 502, "bad_upstream_response");
      assert.match(body.error.message, / 10[013]$/, path);
    }
    // A status line workerd itself refuses ("000") is a transport failure.
    await assertJsonError(await p.fetch("/api/v1/agents/s000", bounded({ cf: BERLIN }), V), 503, "upstream_unavailable");
    const after = await p.fetch("/api/v1/agents/plain", bounded({ cf: BERLIN }), V);
    assert.equal(after.status, 200, "the worker still serves");
  });
  test("13 odd origin answers (bad or duplicate Content-Length, huge or many or non-ASCII headers, 204 with a body, 304 without validators, 206, not HTTP) never give internal_error or crash a worker", async () => {
    const expected = {
      "/api/v1/agents/s204-with-body": [204],
      "/api/v1/agents/s304-no-validators": [304],
      "/api/v1/agents/s206": [206],
      "/api/v1/agents/bad-length": [503],
      "/api/v1/agents/two-lengths": [503],
      "/api/v1/agents/huge-header": [503],
      "/api/v1/agents/many-headers": [200],
      "/api/v1/agents/latin1-header": [200],
      "/api/v1/agents/not-http": [503],
    };
    for (const [path, statuses] of Object.entries(expected)) {
      for (const worker of [V, C]) {
        const r = await p.fetch(path, bounded({ cf: BERLIN }), worker);
        const text = await r.text();
        assert.ok(statuses.includes(r.status), `${worker} ${path}: ${r.status} ${text.slice(0, 200)}`);
        assert.ok(!text.includes("internal_error"), `${worker} ${path}`);
      }
      const next = await p.fetch("/api/v1/agents/plain", bounded({ cf: BERLIN }), V);
      assert.equal(next.status, 200, `the worker still serves after ${path}`);
    }
  });
});

/** A raw-origin route that declares `declared` bytes, sends 1,000, then drops the connection. */
const dieMidBody =
  (cacheControl, declared = 100_000) =>
  (s) => {
    s.write(`HTTP/1.1 200 OK\r\ncache-control: ${cacheControl}\r\ncontent-type: text/plain\r\ncontent-length: ${declared}\r\n\r\n`);
    s.write("x".repeat(1000));
    setTimeout(() => s.destroy(), 20);
  };

describe("13.9 an origin that dies mid-body", { timeout: 120_000 }, () => {
  // Berlin goes to eu-west-1 (the dying origin) first, us-east-1 next; Tokyo to
  // us-west-2 (also dying, so the cache test leaves eu-west-1's breaker alone).
  const p = withPipeline(
    euFirst(
      {
        cut: {
          raw: {
            "/api/v1/agents/cacheable": dieMidBody("public, max-age=60"),
            "/api/v1/calls/stream": dieMidBody("no-store"),
          },
        },
        healthy: healthyRegion,
      },
      "cut",
      "healthy",
      "cut",
    ),
  );

  test("13.9 a cacheable response cut mid-body is a 502 upstream_body_incomplete and nothing is stored", async () => {
    const count = () => p.cut.requests.filter((r) => r.path === "/api/v1/agents/cacheable").length;
    for (let i = 1; i <= 2; i++) {
      const r = await p.fetch("/api/v1/agents/cacheable", bounded({ cf: TOKYO }), C);
      await assertJsonError(r, 502, "upstream_body_incomplete");
      assert.equal(count(), i, "not served from a stored half body");
    }
  });

  test("13.9 a streamed body cut mid-way opens the region's breaker and the router's metric says 502", async () => {
    const before = p.cut.requests.length;
    let lastId;
    for (let i = 0; i < 3; i++) {
      const r = await p.fetch("/api/v1/calls/stream", bounded({ cf: BERLIN }), V);
      assert.equal(r.status, 200, "the headers were already relayed");
      assert.equal(r.headers.get("x-edge-region"), "eu-west-1");
      const body = await readBody(r);
      assert.ok(body.error || body.text.length < 100_000, "the client sees a broken body");
      lastId = r.headers.get("x-request-id");
    }
    assert.equal(p.cut.requests.length - before, 3);
    const hop = await p.hopOf(lastId, V);
    assert.equal(hop.status, 502, "not the 200 whose body broke");
    assert.equal(hop.decision, "upstream_body_incomplete");
    // Three broken bodies: eu-west-1's breaker is open, Berlin now goes to us-east-1.
    const next = await eventually(async () => {
      const r = await p.fetch("/api/v1/calls/stream", bounded({ cf: BERLIN }), V);
      await readBody(r);
      return r.headers.get("x-edge-region") === "us-east-1" && r;
    }, { what: "traffic moved off the broken region" });
    assert.equal(next.status, 200);
    assert.equal(p.cut.requests.length - before, 3, "the open region got nothing more");
  });
});

// Issue 14, second round: voice-router no longer reads a short body whole before relaying it
// (measured: 0.6 s more workerd CPU per 10k requests than the native pipe, DESIGN.md "The JS
// boundary (issue 14, second round)"). Every body streams through the native watch; a short one
// that breaks is what a long one is (13.9): the status was sent, the client sees the body
// break, and the hop's metric records the 502.
describe("a short body of declared length streams through the native watch", { timeout: 120_000 }, () => {
  const p = withPipeline(
    euFirst(
      {
        cut: {
          raw: {
            // Declares 5,000 bytes, sends 1,000, drops the connection.
            "/api/v1/calls/short": dieMidBody("no-store", 5000),
            "/api/v1/calls/whole": (s) => {
              s.write("HTTP/1.1 200 OK\r\ncache-control: no-store\r\ncontent-type: text/plain\r\ncontent-length: 3000\r\nx-origin-note: kept\r\n\r\n");
              s.write("y".repeat(3000));
            },
          },
        },
        healthy: healthyRegion,
      },
      "cut",
      "healthy",
    ),
  );

  test("whole: relayed byte for byte with the origin's status and headers", async () => {
    const r = await p.fetch("/api/v1/calls/whole", bounded({ cf: BERLIN }), V);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("x-origin-note"), "kept");
    assert.equal(r.headers.get("x-edge-region"), "eu-west-1");
    assert.equal(await r.text(), "y".repeat(3000));
  });

  test("cut: the client sees the body break, the hop records 502 upstream_body_incomplete", async () => {
    const r = await p.fetch("/api/v1/calls/short", bounded({ cf: BERLIN }), V);
    assert.equal(r.status, 200, "the headers were already relayed");
    assert.equal(r.headers.get("x-edge-region"), "eu-west-1");
    const body = await readBody(r);
    assert.ok(body.error || body.text.length < 5000, "the client sees a broken body");
    const id = r.headers.get("x-request-id");
    const hop = await p.hopOf(id, V);
    assert.equal(hop.status, 502);
    assert.equal(hop.decision, "upstream_body_incomplete");
  });
});

describe("13 breakers: 500/501 are answers, 502/503/504 are failures", { timeout: 120_000 }, () => {
  const p = withPipeline(
    euFirst(
      {
        eu: (req, res) => {
          const status = Number(req.path.split("/").pop());
          res.writeHead(status, { "content-type": "text/plain", "cache-control": "no-store" }).end(`eu ${status}`);
        },
        east: healthyRegion,
      },
      "eu",
      "east",
    ),
  );

  test("13 breakers: an origin answering 500 and 501 repeatedly keeps its traffic; 503s open its breaker", async () => {
    for (let i = 0; i < 4; i++) {
      for (const status of [500, 501]) {
        const r = await p.fetch(`/api/v1/agents/${status}`, bounded({ cf: BERLIN }), V);
        assert.equal(r.status, status);
        assert.equal(r.headers.get("x-edge-region"), "eu-west-1", "no failover on an application answer");
        assert.equal(await r.text(), `eu ${status}`, "the origin's own answer");
      }
    }
    assert.equal(p.eu.requests.length, 8);
    assert.equal(p.east.requests.length, 0, "nothing was replayed elsewhere");
    for (let i = 0; i < 3; i++) {
      const r = await p.fetch("/api/v1/agents/503", bounded({ cf: BERLIN }), V);
      assert.equal(r.headers.get("x-edge-region"), "us-east-1", "a 503 fails over");
      await r.text();
    }
    const seen = p.eu.requests.length;
    const r = await p.fetch("/api/v1/agents/500", bounded({ cf: BERLIN }), V);
    assert.equal(r.headers.get("x-edge-region"), "us-east-1", "three 503s opened eu-west-1's breaker");
    await r.text();
    assert.equal(p.eu.requests.length, seen);
  });
});

describe("13 cache-manager admin paths", { timeout: 120_000 }, () => {
  const p = withPipeline({
    origin: (req, res) => {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end("{}");
    },
  });

  /** A raw HTTP request to a worker's own route (fetch() cannot send a GET with a body). */
  function raw(worker, method, path, { headers = {}, body } = {}) {
    const url = new URL(p.url);
    // Node frames no body on a GET unless told its length.
    if (body !== undefined) headers = { "content-length": String(Buffer.byteLength(body)), ...headers };
    return new Promise((resolve, reject) => {
      const req = http.request(
        // One connection per request: workerd leaves a GET's body unread on a kept-alive
        // connection, which would then be parsed as the next request.
        { host: url.hostname, port: url.port, method, path, agent: false, headers: { host: `${worker}.local`, connection: "close", ...headers }, timeout: 10_000 },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }));
        },
      );
      req.on("error", reject);
      req.on("timeout", () => req.destroy(new Error("timed out")));
      if (body !== undefined) req.end(body);
      else req.end();
    });
  }
  const code = (r) => JSON.parse(r.text).error.code;

  test("13 cache admin: only POST purge is served; other methods are 405 with Allow, other admin paths 404; nothing reaches the origin", async () => {
    const auth = { authorization: `Bearer ${p.secret}` };
    for (const method of ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"]) {
      const r = await raw(C, method, "/admin/v1/cache/purge", { headers: auth });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, "POST");
      assert.equal(code(r), "method_not_allowed");
    }
    const head = await raw(C, "HEAD", "/admin/v1/cache/purge", { headers: auth });
    assert.equal(head.status, 405);
    for (const path of ["/admin/v1/cache", "/admin/v1/cache/", "/admin/v1/cache/entries", "/admin/v1/cache/purge/", "/admin/v1/keys", "/ADMIN/v1/cache/purge"]) {
      for (const method of ["GET", "POST", "DELETE"]) {
        const r = await raw(C, method, path, { headers: { ...auth, "content-type": "application/json" }, body: method === "GET" ? undefined : "{}" });
        assert.equal(r.status, 404, `${method} ${path}: ${r.text}`);
        assert.equal(code(r), "not_found");
      }
    }
    const purge = await raw(C, "POST", "/admin/v1/cache/purge", {
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ prefixes: ["/api/v1/agents/"] }),
    });
    assert.equal(purge.status, 200, purge.text);
    assert.equal(p.origin.requests.length, 0, "no admin request was forwarded");
  });

  test("13 cache admin: a GET with a body to an admin path is a 4xx, never a 500, and never forwarded", async () => {
    const auth = { authorization: `Bearer ${p.secret}`, "content-type": "application/json" };
    for (const path of ["/admin/v1/cache/purge", "/admin/v1/cache/x", "/admin/other"]) {
      const r = await raw(C, "GET", path, { headers: auth, body: '{"prefixes":["/"]}' });
      assert.ok(r.status === 404 || r.status === 405, `${path}: ${r.status} ${r.text}`);
      assert.notEqual(code(r), "internal_error");
    }
    assert.equal(p.origin.requests.length, 0);
  });

  test("13 a GET with a body elsewhere is 400 unexpected_body at cache-manager and voice-router, not internal_error", async () => {
    for (const worker of [C, V]) {
      const r = await raw(worker, "GET", "/api/v1/agents/a1", { headers: { "content-type": "application/json" }, body: "{}" });
      assert.equal(r.status, 400, `${worker}: ${r.text}`);
      assert.equal(code(r), "unexpected_body");
    }
    assert.equal(p.origin.requests.length, 0);
  });
});
