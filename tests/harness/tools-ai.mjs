// Scripts for the fake AI providers (startFakeAi in line.mjs) that call the web chat's tools:
// a provider given `toolScript(...)` first answers with a tool call, then, asked again with
// the tool's result (a `role: tool` message), answers from it. Used by the web-chat tools
// e2e tests and the page test.

/** The `role: tool` messages of a request, their content parsed (or kept as text). */
export function toolResults(body) {
  return (body.messages ?? [])
    .filter((m) => m.role === "tool")
    .map((m) => {
      try {
        return JSON.parse(m.content);
      } catch (_) {
        return m.content;
      }
    });
}

/** The last user message of a request. */
export const lastUser = (body) => [...(body.messages ?? [])].reverse().find((m) => m.role === "user")?.content ?? "";

/**
 * A provider script (`Object.assign(provider, toolScript(...))`): the first request (no tool
 * result yet) says `before` and calls `call(body)` = `{name, arguments}`; the next one answers
 * `after(result, body)` from the tool's result. A request that offers no tools
 * (`tool_choice` none or no `tools`) is answered `after(null, body)`.
 */
export function toolScript({ call, before = "", after }) {
  return {
    toolCalls: (body) => {
      if (!Array.isArray(body.tools) || body.tool_choice === "none") return null;
      if (toolResults(body).length > 0) return null;
      return [{ id: "call_1", ...call(body) }];
    },
    answer: (body) => {
      const results = toolResults(body);
      if (results.length === 0 && Array.isArray(body.tools) && body.tool_choice !== "none") return before;
      return after(results.at(-1) ?? null, body);
    },
  };
}

/** Searches the knowledge base for `query` (default: the user's words) and cites the first hit's id. */
export const kbScript = ({ before = "Let me check our help articles.", query } = {}) =>
  toolScript({
    before,
    call: (body) => ({ name: "search_knowledge_base", arguments: { query: query ?? lastUser(body) } }),
    after: (r) => {
      if (r?.hits?.length) return `According to article [${r.hits[0].id}]: ${r.hits[0].title}.`;
      if (r?.error) return `Sorry, I could not look that up right now (${r.error}).`;
      return "I found nothing about that.";
    },
  });

/** Opens a ticket with `fields` and tells its id. */
export const ticketScript = (fields) =>
  toolScript({
    call: () => ({ name: "create_ticket", arguments: fields }),
    after: (r) => (r?.ticket?.id ? `I opened ticket ${r.ticket.id} for you.` : `Sorry, no ticket could be opened (${r?.error}).`),
  });
