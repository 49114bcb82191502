// The demo origin in a process of its own, so a load run does not share one event loop
// between the load generator and the origin. Prints its URL on stdout, then serves until killed.
import { demoOriginHandler, startUpstream } from "../harness/upstream.mjs";

const origin = await startUpstream(demoOriginHandler("bench"));
// Keep memory flat under load: the load origin does not need the request log.
origin.requests.push = () => 0;
console.log(origin.url);
process.on("SIGTERM", async () => {
  await origin.close();
  process.exit(0);
});
