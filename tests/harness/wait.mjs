// Bounded polling: tests never hang waiting for background work (wait_until).

/**
 * Calls `probe` until it returns a truthy value or `timeoutMs` passes.
 * @returns the truthy value; throws with `what` after the deadline.
 */
export async function eventually(probe, { timeoutMs = 5000, intervalMs = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
}

/** Resolves after `ms`. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
