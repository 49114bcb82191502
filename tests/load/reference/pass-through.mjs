// Reference: the middle hop of the JS chain. Forwards to the NEXT service binding as is.
// It does NOT look anything up in a cache (no KV, no Cache API): see compare.mjs.
export default {
  fetch(request, env) {
    return env.NEXT.fetch(request);
  },
};
