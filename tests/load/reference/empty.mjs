// Reference: the empty JS worker. Answers every request with a health report shaped like
// ours ({worker, version, status}); it also serves as the trivial next hop behind the gates.
export default {
  fetch() {
    return Response.json({ worker: "ref-empty", version: "0.0.0", status: "ok" });
  },
};
