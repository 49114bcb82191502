// scripts/dev's demo support desk: a few knowledge-base articles, and a demo AI that looks a
// question up when the web chat offers its tools, then answers from (and cites) the best hit.
import { lastUser, toolResults } from "./tools-ai.mjs";

/** Articles seeded by scripts/dev when missing: `{ id, article }` (the admin API's PUT body). */
export const DEMO_ARTICLES = [
  {
    id: "refund-policy",
    article: {
      title: "Refund policy",
      body: "Unworn items can be returned within 30 days for a full refund. Refunds reach your card within 5 to 10 business days.",
      tags: ["refund", "return"],
    },
  },
  {
    id: "shipping-times",
    article: {
      title: "Shipping times",
      body: "Orders ship within 2 business days. Delivery takes 3 to 5 days in Thailand and 7 to 14 days abroad.",
      tags: ["shipping", "delivery", "order"],
    },
  },
  {
    id: "refund-th",
    article: {
      title: "นโยบายการคืนเงิน",
      body: "สินค้าที่ยังไม่ได้ใช้สามารถคืนได้ภายใน 30 วัน และได้รับเงินคืนเต็มจำนวน",
      language: "th",
      tags: ["คืนเงิน"],
    },
  },
];

/** A message worth looking up: a question, or words about orders, refunds, shipping. */
const looksUp = (text) => /\?|\b(how|what|when|where|why|refund|return|ship|deliver|order)/i.test(text) || /คืน|ส่ง|สั่ง/.test(text);

/** The demo provider's tool calls: one search, the first time a question comes with tools. */
export function demoToolCalls(body) {
  if (!Array.isArray(body.tools) || body.tool_choice === "none") return null;
  if (toolResults(body).length > 0) return null;
  const question = lastUser(body);
  if (!looksUp(question)) return null;
  return [{ id: "call_demo", name: "search_knowledge_base", arguments: { query: question } }];
}

/** The demo provider's answer: from the search's best hit when there is one, else `fallback`. */
export function demoToolAnswer(fallback) {
  return (body) => {
    const results = toolResults(body);
    if (results.length === 0) return demoToolCalls(body) ? "Let me look that up." : fallback(body);
    const r = results.at(-1);
    if (r?.hits?.length) return `${r.hits[0].title}: ${r.hits[0].snippet} (article ${r.hits[0].id})`;
    if (r?.error) return `Sorry, I could not look that up right now (${r.error}).`;
    return "I found nothing about that in our help articles; a person can help if you ask for one.";
  };
}
