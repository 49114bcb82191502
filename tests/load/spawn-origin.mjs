// Starts tests/load/origin-process.mjs in a process of its own (so the load generator and
// the origin do not share one event loop); resolves to its URL and the process.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** @returns {Promise<{ url: string, process: import("node:child_process").ChildProcess }>} */
export async function spawnOrigin() {
  const child = spawn(process.execPath, [path.join(here, "origin-process.mjs")], { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("origin did not start in 10 s")), 10_000);
    child.stdout.once("data", (d) => {
      clearTimeout(timer);
      resolve(d.toString().trim());
    });
  });
  return { url, process: child };
}
