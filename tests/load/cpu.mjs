// CPU of the workerd child processes Miniflare spawned: utime + stime from /proc, for
// "CPU per request/event" columns of the load scripts (Linux only).
import { readFileSync, readdirSync } from "node:fs";

/** USER_HZ on Linux: /proc reports CPU in these ticks. */
export const TICKS_PER_S = 100;

/** utime + stime of `pid`, in clock ticks (NaN when it cannot be read). */
export const cpuTicks = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from 3 (state) on
    return Number(f[11]) + Number(f[12]); // utime (14), stime (15)
  } catch {
    return NaN;
  }
};

/** workerd processes that are children of this node process (Miniflare spawns one per instance). */
export const workerdChildren = () => {
  const pids = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (comm.startsWith("workerd") && ppid === process.pid) pids.push(Number(d));
    } catch {}
  }
  return pids;
};
