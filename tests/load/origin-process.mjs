// The demo origin in a process of its own, so a load run does not share one event loop
// between the load generator and the origin. Prints its URL on stdout, then serves until killed.
import { demoOriginHandler, startUpstream } from "../harness/upstream.mjs";

const demo = demoOriginHandler("bench");
// Paths under /api/v1/agents/cacheable are shareable for 10 minutes (so cache-manager may
// store them even for authenticated requests); everything else is the no-store demo.
const origin = await startUpstream((req, res) => {
  if (!req.path.startsWith("/api/v1/agents/cacheable")) return demo(req, res);
  res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=600" });
  res.end(JSON.stringify({ origin: "bench", path: req.path, query: req.query }));
});
// Keep memory flat under load: the load origin does not need the request log.
origin.requests.push = () => 0;
console.log(origin.url);
process.on("SIGTERM", async () => {
  await origin.close();
  process.exit(0);
});
