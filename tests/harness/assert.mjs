// Assertions shared by the e2e suites.
import assert from "node:assert/strict";

/** Asserts `r` is a JSON error with `status` and `code`; returns the parsed body. */
export async function assertJsonError(r, status, code) {
  assert.equal(r.status, status);
  assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
  const body = await r.json();
  assert.equal(body.error.code, code, JSON.stringify(body));
  assert.equal(typeof body.error.message, "string");
  return body;
}
