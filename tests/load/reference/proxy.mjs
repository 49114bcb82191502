// Reference: the 5-line JS proxy. Forwards the request, path and query kept, to ORIGIN_URL.
// No routing table, no retry, no timeout, no telemetry: the plainest proxy a user writes.
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(new URL(url.pathname + url.search, env.ORIGIN_URL), request);
  },
};
