// Applies a worker's D1 migrations (its wrangler config's `migrations_dir`) to the local
// database, as `wrangler d1 migrations apply` would, recording them in the same
// `d1_migrations` table, so a persisted dev database is migrated once and only forward.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { readWranglerConfig } from "./config.mjs";

/**
 * Splits a migration file into statements: `;` at a line end ends one, except inside a
 * `CREATE TRIGGER … BEGIN … END;`, whose body's statements end with `;` too: there only a
 * line `END;` ends it.
 */
export function statements(sql) {
  const out = [];
  let current = [];
  for (const line of sql.split("\n")) {
    if (line.trim().startsWith("--")) continue;
    const code = line.replace(/--.*$/, "");
    current.push(code);
    const text = current.join("\n").trim();
    const trigger = /^CREATE\s+(TEMP\s+|TEMPORARY\s+)?TRIGGER\b/i.test(text);
    const ends = trigger ? /^\s*END\s*;\s*$/i.test(code) : /;\s*$/.test(code);
    if (ends) {
      out.push(text.replace(/;\s*$/, "").trim());
      current = [];
    }
  }
  const rest = current.join("\n").trim();
  if (rest) out.push(rest);
  return out.filter(Boolean);
}

/** Applies every pending migration of every D1 binding of `worker` in `mf`. */
export async function applyD1Migrations(mf, worker) {
  const { file, config } = readWranglerConfig(worker);
  for (const d1 of config.d1_databases ?? []) {
    if (!d1.migrations_dir) continue;
    const dir = path.resolve(path.dirname(file), d1.migrations_dir);
    const db = await mf.getD1Database(d1.binding, worker);
    await db.exec(
      "CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)",
    );
    const done = new Set((await db.prepare("SELECT name FROM d1_migrations").all()).results.map((r) => r.name));
    for (const name of readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
      if (done.has(name)) continue;
      const stmts = statements(readFileSync(path.join(dir, name), "utf8")).map((s) => db.prepare(s));
      stmts.push(db.prepare("INSERT INTO d1_migrations (name) VALUES (?)").bind(name));
      await db.batch(stmts); // one transaction: a migration applies whole or not at all
    }
  }
}
