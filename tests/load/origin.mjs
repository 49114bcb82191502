// The load origin (origin-process.mjs) in a process of its own, so it does not share the
// load generator's event loop. Resolves to { url, stop }.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export async function startOriginProcess() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const child = spawn(process.execPath, [path.join(here, "origin-process.mjs")], { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("origin did not start in 10 s")), 10_000);
    child.stdout.once("data", (d) => {
      clearTimeout(timer);
      resolve(d.toString().trim());
    });
  });
  return { url, stop: () => child.kill("SIGTERM") };
}
