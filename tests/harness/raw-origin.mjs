// A fake origin on raw TCP (node:net), for answers no HTTP server library would send:
// statuses outside 200–599, 1xx before (or instead of) a final answer, bodies cut off
// mid-way, malformed framing. Each path maps to a script that writes to the socket.
import net from "node:net";

/**
 * Starts a raw origin on 127.0.0.1. `routes` maps a request path to
 * `(socket, request) => void` (write bytes, end or destroy the socket); unmatched paths get
 * a plain 200 JSON answer. Each request is read up to the end of its head (GET-style
 * requests; bodies are not expected).
 * @returns {Promise<{ url: string, requests: {method,path,headers}[], close: () => Promise<void> }>}
 */
export async function startRawOrigin(routes) {
  const requests = [];
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buffered = "";
    socket.on("data", (chunk) => {
      buffered += chunk.toString("latin1");
      let end;
      while ((end = buffered.indexOf("\r\n\r\n")) !== -1) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        const [requestLine, ...lines] = head.split("\r\n");
        const [method, target] = requestLine.split(" ");
        const headers = Object.fromEntries(
          lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
        );
        const path = new URL(target, "http://origin").pathname;
        const seen = { method, path, headers };
        requests.push(seen);
        const route = routes[path] ?? ok;
        route(socket, seen);
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Writes a complete response: status line, headers (object), body; keeps the socket open. */
export function answer(socket, statusLine, headers = {}, body = "") {
  const bytes = Buffer.from(body);
  const lines = Object.entries({ "content-length": String(bytes.length), ...headers }).map(([k, v]) => `${k}: ${v}`);
  socket.write(`HTTP/1.1 ${statusLine}\r\n${lines.join("\r\n")}\r\n\r\n`);
  socket.write(bytes);
}

/** The default answer: 200 JSON, no-store. */
export function ok(socket, req) {
  answer(socket, "200 OK", { "content-type": "application/json", "cache-control": "no-store" }, JSON.stringify({ path: req.path }));
}
