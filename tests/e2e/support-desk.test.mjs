// Issue 19, the support desk in workerd: knowledge-base articles through the admin API
// (CRUD, strict bodies), full-text search through D1's FTS5 (ranking in English and Thai,
// products found too, FTS syntax in a query harmless, unpublished articles never found,
// the indexes kept by triggers whatever wrote the row), and tickets (list, filters, read
// with history, admin changes recorded), all behind the admin secret.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { withPipeline } from "../harness/fixture.mjs";
import { assertJsonError } from "../harness/assert.mjs";
import { CHAT } from "../harness/line.mjs";

describe("issue 19: support desk (articles, search, tickets)", { timeout: 300_000 }, () => {
  const p = withPipeline({ chat: {} });
  const call = (path, init = {}) =>
    p.fetch(path, { ...init, headers: { authorization: `Bearer ${p.secret}`, "content-type": "application/json", ...init.headers } }, CHAT);
  const put = (id, article) => call(`/admin/v1/articles/${id}`, { method: "PUT", body: JSON.stringify(article) });
  const search = async (q, extra = "") => {
    const r = await call(`/admin/v1/search?q=${encodeURIComponent(q)}${extra}`);
    assert.equal(r.status, 200, `search ${q}`);
    return r.json();
  };
  const ids = (body) => body.hits.map((h) => h.id);
  const db = () => p.mf.getD1Database("DB", CHAT);

  test("every endpoint refuses a missing or wrong admin secret", async () => {
    for (const [method, path] of [
      ["GET", "/admin/v1/articles"],
      ["GET", "/admin/v1/articles/a"],
      ["PUT", "/admin/v1/articles/a"],
      ["DELETE", "/admin/v1/articles/a"],
      ["GET", "/admin/v1/search?q=refund"],
      ["GET", "/admin/v1/tickets"],
      ["GET", "/admin/v1/tickets/t_0123456789abcdef01234567"],
      ["PATCH", "/admin/v1/tickets/t_0123456789abcdef01234567"],
    ]) {
      const body = method === "PUT" || method === "PATCH" ? JSON.stringify({ title: "x", body: "y", note: "z" }) : undefined;
      await assertJsonError(await p.fetch(path, { method, body, headers: { "cf-connecting-ip": "198.51.100.7" } }, CHAT), 401, "unauthorized");
      await assertJsonError(
        await p.fetch(path, { method, body, headers: { authorization: "Bearer wrong", "cf-connecting-ip": "198.51.100.8" } }, CHAT),
        401,
        "unauthorized",
      );
    }
    // Nothing was written by the refused PUT.
    assert.equal((await (await db()).prepare("SELECT count(*) AS n FROM articles WHERE id = 'a'").first()).n, 0);
  });

  test("articles: create, replace (created_at kept), read, list by pages, delete; bad bodies named", async () => {
    const created = await put("crud-1", { title: "Gift cards", body: "Gift cards never expire.", tags: ["gift"] });
    assert.equal(created.status, 201);
    const first = await created.json();
    assert.deepEqual([first.id, first.language, first.published, first.tags], ["crud-1", "en", true, ["gift"]]);
    const replaced = await put("crud-1", { title: "Gift cards", body: "Gift cards expire after 3 years.", language: "en" });
    assert.equal(replaced.status, 200);
    const second = await replaced.json();
    assert.equal(second.created_at, first.created_at);
    assert.ok(second.updated_at >= first.updated_at);
    const read = await (await call("/admin/v1/articles/crud-1")).json();
    assert.equal(read.body, "Gift cards expire after 3 years.");
    assert.equal((await put("crud-2", { title: "Two", body: "2" })).status, 201);
    assert.equal((await put("crud-3", { title: "Three", body: "3" })).status, 201);
    const page1 = await (await call("/admin/v1/articles?after=crud-0&limit=2")).json();
    assert.deepEqual(page1.articles.map((a) => a.id), ["crud-1", "crud-2"]);
    assert.equal(page1.articles[0].body, "", "lists leave the bodies out");
    assert.equal(page1.next, "crud-2");
    const page2 = await (await call(`/admin/v1/articles?after=${page1.next}&limit=2`)).json();
    assert.equal(page2.articles[0].id, "crud-3");
    for (const [body, field] of [
      [{ body: "no title" }, "title"],
      [{ title: "t", body: "" }, "body"],
      [{ title: "t", body: "b", language: "fr" }, "language"],
      [{ title: "t", body: "b", tags: "x" }, "tags"],
      [{ title: "t", body: "b", published: "yes" }, "published"],
      [{ title: "x".repeat(201), body: "b" }, "title"],
    ]) {
      const e = await assertJsonError(await put("crud-bad", body), 400, "invalid_field");
      assert.equal(e.error.field, field);
    }
    assert.equal((await assertJsonError(await put("crud-bad", { title: "t", body: "b", id: "x" }), 400, "unknown_field")).error.field, "id");
    await assertJsonError(await call("/admin/v1/articles/crud-bad", { method: "PUT", body: "not json" }), 400, "malformed_json");
    await assertJsonError(await call("/admin/v1/articles/crud-bad", { method: "PUT", body: JSON.stringify({ title: "t", body: "b".repeat(200_000) }) }), 413, "payload_too_large");
    await assertJsonError(await call("/admin/v1/articles/crud-bad"), 404, "not_found");
    await assertJsonError(await call("/admin/v1/articles/a%20b"), 404, "not_found");
    await assertJsonError(await call("/admin/v1/articles?limit=500"), 400, "invalid_field");
    assert.equal((await call("/admin/v1/articles/crud-3", { method: "DELETE" })).status, 204);
    await assertJsonError(await call("/admin/v1/articles/crud-3", { method: "DELETE" }), 404, "not_found");
    await assertJsonError(await call("/admin/v1/articles/crud-3"), 404, "not_found");
  });

  test("search ranks English by title weight and stems; Thai through the trigram index; products too", async () => {
    await put("rank-refunds", { title: "Refund policy", body: "Return unworn shoes within 30 days for a full refund to your card." });
    await put("rank-shipping", { title: "Shipping times", body: "Orders ship in two days. Refunds are paid to the card used." });
    await put("rank-sizes", { title: "Size guide", body: "Pick half a size up for running shoes." });
    await put("rank-th-refund", { title: "นโยบายการคืนเงิน", body: "คุณสามารถคืนสินค้าได้ภายใน 30 วันเพื่อรับเงินคืนเต็มจำนวน", language: "th" });
    await put("rank-th-ship", { title: "การจัดส่งสินค้า", body: "เราจัดส่งสินค้าภายในสองวันทำการทั่วประเทศ", language: "th" });
    const product = await call("/admin/v1/products/rank-pegasus", { method: "PUT", body: JSON.stringify({ name: "Pegasus 41 trail running shoe", description: "รองเท้าวิ่งเทรล grippy outsole", category: "shoes" }) });
    assert.equal(product.status, 201);

    const refund = await search("refunds");
    assert.deepEqual(ids(refund).slice(0, 2), ["rank-refunds", "rank-shipping"], "the title match first, the stemmed body match next");
    assert.ok(refund.hits[0].score > refund.hits[1].score);
    assert.equal(refund.hits[0].kind, "article");
    assert.match(refund.hits[0].snippet, /full refund/);
    assert.equal(typeof refund.d1_ms, "number");
    assert.equal(refund.hits.some((h) => /<|>/.test(h.snippet)), false, "snippets are plain text");

    const shoes = await search("trail shoe");
    assert.deepEqual([shoes.hits[0].id, shoes.hits[0].kind], ["rank-pegasus", "product"]);

    const th = await search("คืนเงิน");
    assert.equal(ids(th)[0], "rank-th-refund");
    // A question, not a substring of the article: found by its three-letter pieces.
    assert.equal(ids(await search("อยากขอคืนเงินค่ะ"))[0], "rank-th-refund");
    assert.equal(ids(await search("จัดส่งกี่วัน"))[0], "rank-th-ship");
    assert.ok(ids(await search("รองเท้าวิ่ง")).includes("rank-pegasus"), "products are in the Thai index");
    const mixed = ids(await search("คืนเงิน refund", "&limit=10"));
    assert.ok(mixed.includes("rank-th-refund") && mixed.includes("rank-refunds"), mixed.join());
    assert.equal((await search("refund", "&limit=1")).hits.length, 1);
    // The language asked for wins ties, never a better score.
    assert.equal(ids(await search("refund", "&lang=th"))[0], "rank-refunds");
  });

  test("FTS5 syntax in a query is text: no error, no operator", async () => {
    await put("syntax-1", { title: "Warranty", body: "Two years of warranty on every watch." });
    for (const q of ['warranty" OR "*', "NEAR(warranty watch, 1)", "title:warranty", "warranty*", "-warranty", "(((", '"""', "warranty AND NOT watch", "^warranty", "{title body}: x"]) {
      const r = await call(`/admin/v1/search?q=${encodeURIComponent(q)}`);
      assert.equal(r.status, 200, q);
      const body = await r.json();
      assert.ok(Array.isArray(body.hits), q);
    }
    assert.equal(ids(await search("title:warranty"))[0], "syntax-1");
    // "NOT watch" is two words, not an exclusion.
    assert.equal(ids(await search("warranty AND NOT watch"))[0], "syntax-1");
    for (const [q, field] of [["", "q"], ["   ", "q"], ["x".repeat(201), "q"]]) {
      assert.equal((await assertJsonError(await call(`/admin/v1/search?q=${encodeURIComponent(q)}`), 400, "invalid_field")).error.field, field);
    }
    await assertJsonError(await call("/admin/v1/search"), 400, "invalid_field");
    await assertJsonError(await call("/admin/v1/search?q=a&limit=11"), 400, "invalid_field");
    await assertJsonError(await call("/admin/v1/search?q=a&lang=fr"), 400, "invalid_field");
    assert.deepEqual((await search("!!! ???")).hits, [], "nothing searchable is no hits, not an error");
  });

  test("unpublished articles are never found; edits and deletes reach the index; rows written straight to D1 too", async () => {
    await put("pub-1", { title: "Loyalty points", body: "Earn zephyrine points on every order.", published: false });
    assert.deepEqual(ids(await search("zephyrine")), []);
    await put("pub-1", { title: "Loyalty points", body: "Earn zephyrine points on every order." });
    assert.deepEqual(ids(await search("zephyrine")), ["pub-1"]);
    await put("pub-1", { title: "Loyalty points", body: "Earn points on every order." });
    assert.deepEqual(ids(await search("zephyrine")), [], "the old text is gone from the index");
    await put("pub-1", { title: "Loyalty points", body: "Earn zephyrine points.", published: false });
    assert.deepEqual(ids(await search("zephyrine")), []);
    // Written by another path (a script, another part of the worker): the triggers index it.
    await (await db())
      .prepare("INSERT INTO articles (id, title, body, language, created_at, updated_at) VALUES ('direct-1', 'Quartzite care', 'Wipe quartzite dry.', 'en', 1, 1)")
      .run();
    assert.deepEqual(ids(await search("quartzite")), ["direct-1"]);
    assert.equal((await call("/admin/v1/articles/direct-1", { method: "DELETE" })).status, 204);
    assert.deepEqual(ids(await search("quartzite")), []);
    // An inactive product is not found either.
    await call("/admin/v1/products/inactive-x", { method: "PUT", body: JSON.stringify({ name: "Obsidianite mug", status: "inactive" }) });
    assert.deepEqual(ids(await search("obsidianite")), []);
  });

  test("tickets: list with filters, read with history, admin changes recorded; bad changes refused", async () => {
    const t1 = "t_aaaaaaaaaaaaaaaaaaaaaaa1";
    const t2 = "t_aaaaaaaaaaaaaaaaaaaaaaa2";
    const d = await db();
    await d.batch([
      d.prepare("INSERT INTO tickets (id, session_id, contact, subject, description, created_at, updated_at) VALUES (?, 'sess-a', 'a@example.com', 'Late order', 'Order 42 is late', 1000, 1000)").bind(t1),
      d.prepare("INSERT INTO ticket_events (ticket_id, seq, at, actor, change) VALUES (?, 1, 1000, 'assistant', 'created')").bind(t1),
      d.prepare("INSERT INTO tickets (id, session_id, subject, description, status, priority, created_at, updated_at) VALUES (?, 'sess-b', 'Wrong size', 'Need a 42', 'pending', 'high', 2000, 2000)").bind(t2),
      d.prepare("INSERT INTO ticket_events (ticket_id, seq, at, actor, change) VALUES (?, 1, 2000, 'system', 'created')").bind(t2),
    ]);
    const all = await (await call("/admin/v1/tickets")).json();
    assert.deepEqual(all.tickets.map((t) => t.id).filter((id) => id === t1 || id === t2), [t2, t1], "most recently changed first");
    assert.deepEqual((await (await call("/admin/v1/tickets?status=pending")).json()).tickets.map((t) => t.id), [t2]);
    assert.deepEqual((await (await call("/admin/v1/tickets?session=sess-a")).json()).tickets.map((t) => t.id), [t1]);
    assert.deepEqual((await (await call("/admin/v1/tickets?session=sess-a&status=pending")).json()).tickets, []);
    await assertJsonError(await call("/admin/v1/tickets?status=closed"), 400, "invalid_field");
    await assertJsonError(await call("/admin/v1/tickets?limit=0"), 400, "invalid_field");

    const one = await (await call(`/admin/v1/tickets/${t1}`)).json();
    assert.deepEqual(
      [one.session_id, one.contact, one.status, one.priority, one.history.map((e) => [e.actor, e.change])],
      ["sess-a", "a@example.com", "open", "normal", [["assistant", "created"]]],
    );
    const patch = (id, body) => call(`/admin/v1/tickets/${id}`, { method: "PATCH", body: JSON.stringify(body) });
    const changed = await patch(t1, { status: "solved", priority: "urgent", note: "Refunded by hand" });
    assert.equal(changed.status, 200);
    const after = await changed.json();
    assert.deepEqual([after.status, after.priority], ["solved", "urgent"]);
    const expected = [
      ["assistant", "created"],
      ["admin", "status: open -> solved"],
      ["admin", "priority: normal -> urgent"],
      ["admin", "note: Refunded by hand"],
    ];
    assert.deepEqual(after.history.map((e) => [e.actor, e.change]), expected);
    const reread = await (await call(`/admin/v1/tickets/${t1}`)).json();
    assert.deepEqual(reread.history.map((e) => [e.actor, e.change]), expected, "what the change answered is what is stored");
    // Setting what already is records nothing.
    assert.equal((await (await patch(t1, { status: "solved" })).json()).history.length, 4);
    await assertJsonError(await patch(t1, {}), 400, "nothing_to_change");
    await assertJsonError(await patch(t1, { status: "closed" }), 400, "invalid_field");
    await assertJsonError(await patch(t1, { note: "" }), 400, "invalid_field");
    assert.equal((await assertJsonError(await patch(t1, { session_id: "sess-b" }), 400, "unknown_field")).error.field, "session_id");
    await assertJsonError(await patch("t_bbbbbbbbbbbbbbbbbbbbbbbb", { note: "x" }), 404, "not_found");
    await assertJsonError(await patch("not-a-ticket", { note: "x" }), 404, "not_found");
    await assertJsonError(await call("/admin/v1/tickets/t_bbbbbbbbbbbbbbbbbbbbbbbb"), 404, "not_found");
    // The other session's ticket is untouched.
    const other = await (await call(`/admin/v1/tickets/${t2}`)).json();
    assert.deepEqual([other.status, other.history.length], ["pending", 1]);
  });
});
