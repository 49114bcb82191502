// Fake upstreams on 127.0.0.1 (regional origins, LINE/Discord/AI APIs in later issues).
// Each records what it received so a test can prove what did (or did not) reach it.
import http from "node:http";

/**
 * Starts an HTTP server on 127.0.0.1, on `port` or (default) a free one.
 * @param {(req: {method,path,headers,body}, res: http.ServerResponse) => void | Promise<void>} handler
 * @returns {Promise<{ url: string, port: number, requests: object[], close: () => Promise<void> }>}
 */
export async function startUpstream(handler, port = 0) {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const url = new URL(req.url, "http://127.0.0.1");
    const seen = {
      method: req.method,
      path: url.pathname,
      query: url.search,
      headers: req.headers,
      body: Buffer.concat(chunks).toString("utf8"),
      raw: Buffer.concat(chunks), // the bytes, for binary (multipart) bodies
    };
    requests.push(seen);
    try {
      await handler(seen, res);
    } catch (err) {
      res.writeHead(500, { "content-type": "text/plain" }).end(String(err));
    }
  });
  // Node's default, as real Node origins have it: idle connections close after 5 s, so the
  // keep-alive race a proxy must survive happens here too.
  server.keepAliveTimeout = 5_000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const bound = server.address().port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The URL of a loopback port nothing listens on any more (a server started, then closed). */
export async function deadUrl() {
  const server = await startUpstream(() => {});
  await server.close();
  return server.url;
}

/** The demo origin: answers every request with JSON describing what it received. */
export function demoOriginHandler(region = "local-demo") {
  return (req, res) => {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(
      JSON.stringify({
        origin: region,
        method: req.method,
        path: req.path,
        query: req.query,
        request_id: req.headers["x-request-id"] ?? null,
        body_bytes: Buffer.byteLength(req.body),
      }),
    );
  };
}
