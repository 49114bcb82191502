// Knowledge-base search benchmark (issue 19): 10,000 articles (English and Thai, from a
// seeded generator, so every run searches the same corpus) written to chat-webhook's D1
// (the triggers build both FTS5 indexes), then searches through the admin search endpoint
// over loopback into workerd, one at a time: p50/p99 of the whole request, and of D1's own
// time for the queries (`d1_ms`, from D1's result metadata).
//   scripts/bench kb [articles=10000] [queries=400]
import { freshSecret, startPipeline } from "../harness/pipeline.mjs";
import { CHAT } from "../harness/line.mjs";

const ARTICLES = Number(process.argv[2] ?? 10_000);
const QUERIES = Number(process.argv[3] ?? 400);
const BATCH = 200;

/** mulberry32: a small seeded generator (the corpus and the queries are the same every run). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EN = (
  "order refund return shipping delivery tracking parcel courier payment card invoice receipt warranty repair " +
  "exchange size fit shoe running trail road cushion sole lace sock shirt jacket rain waterproof zipper pocket " +
  "bag bottle watch strap battery charger cable app account password login email phone address store branch " +
  "opening hours holiday discount coupon voucher member points loyalty gift wrap express standard international " +
  "customs duty tax cancel change pending shipped damaged missing wrong color stock restock preorder backorder " +
  "cleaning care wash dry storage guarantee policy days weeks business team support chat ticket human agent"
).split(" ");
const TH = (
  "คืนเงิน การจัดส่ง สินค้า คำสั่งซื้อ ชำระเงิน บัตรเครดิต ใบเสร็จ รับประกัน ซ่อม เปลี่ยน ขนาด รองเท้า วิ่ง เสื้อ " +
  "กระเป๋า นาฬิกา แบตเตอรี่ สายชาร์จ บัญชี รหัสผ่าน อีเมล โทรศัพท์ ที่อยู่ ร้าน สาขา เวลาเปิด วันหยุด ส่วนลด คูปอง " +
  "สมาชิก คะแนน ของขวัญ ด่วน ต่างประเทศ ภาษี ยกเลิก รอดำเนินการ จัดส่งแล้ว เสียหาย สูญหาย ผิดสี สต็อก สั่งจองล่วงหน้า " +
  "ทำความสะอาด ดูแล ซัก เก็บรักษา นโยบาย วันทำการ ทีมงาน ฝ่ายบริการลูกค้า แชท ติดต่อ พนักงาน"
).split(" ");

function words(next, vocab, n, sep) {
  return Array.from({ length: n }, () => vocab[Math.floor(next() * vocab.length)]).join(sep);
}

function article(next, i) {
  const thai = next() < 0.3;
  const vocab = thai ? TH : EN;
  const sep = thai ? "" : " ";
  const title = words(next, vocab, 3 + Math.floor(next() * 4), thai ? " " : " ");
  const sentences = Array.from({ length: 6 + Math.floor(next() * 8) }, () => words(next, vocab, 6 + Math.floor(next() * 8), sep) + (thai ? " " : ". "));
  return { id: `bench-${String(i).padStart(5, "0")}`, title, body: sentences.join(""), language: thai ? "th" : "en" };
}

function query(next) {
  const r = next();
  if (r < 0.55) return words(next, EN, 1 + Math.floor(next() * 3), " ");
  if (r < 0.9) return words(next, TH, 1 + Math.floor(next() * 2), "");
  return `${words(next, TH, 1, "")} ${words(next, EN, 1, " ")}`;
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

const secret = freshSecret();
const pipeline = await startPipeline({
  originUrl: "http://127.0.0.1:9",
  adminSecret: secret,
  workerExtras: { [CHAT]: { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } },
});
try {
  const db = await pipeline.mf.getD1Database("DB", CHAT);
  const next = rng(19);
  const seedStarted = performance.now();
  for (let i = 0; i < ARTICLES; i += BATCH) {
    const rows = Array.from({ length: Math.min(BATCH, ARTICLES - i) }, (_, k) => article(next, i + k));
    await db.batch(
      rows.map((a) =>
        db
          .prepare("INSERT INTO articles (id, title, body, language, created_at, updated_at) VALUES (?, ?, ?, ?, 1, 1)")
          .bind(a.id, a.title, a.body, a.language),
      ),
    );
  }
  const seedS = (performance.now() - seedStarted) / 1000;
  const counts = await db.prepare("SELECT (SELECT count(*) FROM kb_en) AS en, (SELECT count(*) FROM kb_th) AS th").first();
  const base = await pipeline.mf.unsafeGetDirectURL(CHAT);
  const headers = { authorization: `Bearer ${secret}` };
  const ask = async (q) => {
    const t0 = performance.now();
    const r = await fetch(new URL(`/admin/v1/search?q=${encodeURIComponent(q)}&limit=5`, base), { headers });
    const body = await r.json();
    if (r.status !== 200) throw new Error(`search ${q}: ${r.status} ${JSON.stringify(body)}`);
    return { ms: performance.now() - t0, d1: body.d1_ms, hits: body.hits.length };
  };
  const qnext = rng(1919);
  for (let i = 0; i < 30; i++) await ask(query(qnext)); // warm-up
  const kinds = { en: [], th: [], mixed: [] };
  const all = [];
  const d1 = [];
  let empty = 0;
  for (let i = 0; i < QUERIES; i++) {
    const q = query(qnext);
    const m = await ask(q);
    all.push(m.ms);
    d1.push(m.d1);
    if (m.hits === 0) empty++;
    const thai = /[\u0E00-\u0E7F]/.test(q);
    const latin = /[a-z]/i.test(q);
    kinds[thai && latin ? "mixed" : thai ? "th" : "en"].push(m.ms);
  }
  const row = (name, xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return { name, n: s.length, "p50 ms": +percentile(s, 50).toFixed(2), "p99 ms": +percentile(s, 99).toFixed(2), "max ms": +s.at(-1).toFixed(2) };
  };
  console.log(`${ARTICLES} articles seeded in ${seedS.toFixed(1)} s (kb_en ${counts.en} rows, kb_th ${counts.th} rows); ${QUERIES} searches one at a time, limit 5, node ${process.version}`);
  console.table([
    row("search, whole request", all),
    row("  English words", kinds.en),
    row("  Thai", kinds.th),
    row("  Thai + English", kinds.mixed),
    row("search, D1 time only (d1_ms)", d1),
  ]);
  console.log(`searches with no hit: ${empty}`);
} finally {
  await pipeline.close();
}
