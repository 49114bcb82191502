-- The web support chat's support desk (issue 19): knowledge-base articles and their
-- full-text index, tickets and their history, escalation deliveries, and the index of web
-- chat sessions by customer (export and erase).
-- SEED by the lead: owners may refine (helper B: articles, FTS, tickets; helper C:
-- escalations; helper D: web_sessions) before it first lands; after that only new files.

-- Knowledge-base articles (admin API). Only published ones are in the search indexes.
CREATE TABLE articles (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  language TEXT NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'th')),
  tags TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
  published INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- The search indexes (FTS5), kept by the triggers below from articles and products, so a row
-- written by any path (admin API, a script, a test seeding D1) is searchable at once:
-- kb_en, words with English stemming (`porter unicode61`), holds every published article and
-- active product; kb_th, the `trigram` tokenizer (Thai has no spaces between words), holds
-- the Thai articles and every active product. kind/ref/lang say what a row is.
-- kb_docs gives each document its integer key in both indexes (an INTEGER PRIMARY KEY is
-- stable: VACUUM may renumber an implicit rowid).
CREATE TABLE kb_docs (
  doc INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('article', 'product')),
  ref TEXT NOT NULL,
  UNIQUE (kind, ref)
);
CREATE VIRTUAL TABLE kb_en USING fts5(
  title, body, tags, kind UNINDEXED, ref UNINDEXED, lang UNINDEXED,
  tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE kb_th USING fts5(
  title, body, tags, kind UNINDEXED, ref UNINDEXED, lang UNINDEXED,
  tokenize = 'trigram'
);

CREATE TRIGGER articles_kb_insert AFTER INSERT ON articles BEGIN
  INSERT OR IGNORE INTO kb_docs (kind, ref) VALUES ('article', new.id);
  INSERT INTO kb_en (rowid, title, body, tags, kind, ref, lang)
    SELECT doc, new.title, new.body, new.tags, 'article', new.id, new.language FROM kb_docs
    WHERE kind = 'article' AND ref = new.id AND new.published = 1;
  INSERT INTO kb_th (rowid, title, body, tags, kind, ref, lang)
    SELECT doc, new.title, new.body, new.tags, 'article', new.id, new.language FROM kb_docs
    WHERE kind = 'article' AND ref = new.id AND new.published = 1 AND new.language = 'th';
END;

CREATE TRIGGER articles_kb_delete AFTER DELETE ON articles BEGIN
  DELETE FROM kb_en WHERE rowid = (SELECT doc FROM kb_docs WHERE kind = 'article' AND ref = old.id);
  DELETE FROM kb_th WHERE rowid = (SELECT doc FROM kb_docs WHERE kind = 'article' AND ref = old.id);
  DELETE FROM kb_docs WHERE kind = 'article' AND ref = old.id;
END;

CREATE TRIGGER articles_kb_update AFTER UPDATE ON articles BEGIN
  DELETE FROM kb_en WHERE rowid = (SELECT doc FROM kb_docs WHERE kind = 'article' AND ref = old.id);
  DELETE FROM kb_th WHERE rowid = (SELECT doc FROM kb_docs WHERE kind = 'article' AND ref = old.id);
  DELETE FROM kb_docs WHERE kind = 'article' AND ref = old.id;
  INSERT OR IGNORE INTO kb_docs (kind, ref) VALUES ('article', new.id);
  INSERT INTO kb_en (rowid, title, body, tags, kind, ref, lang)
    SELECT doc, new.title, new.body, new.tags, 'article', new.id, new.language FROM kb_docs
    WHERE kind = 'article' AND ref = new.id AND new.published = 1;
  INSERT INTO kb_th (rowid, title, body, tags, kind, ref, lang)
    SELECT doc, new.title, new.body, new.tags, 'article', new.id, new.language FROM kb_docs
    WHERE kind = 'article' AND ref = new.id AND new.published = 1 AND new.language = 'th';
END;

CREATE TRIGGER products_kb_insert AFTER INSERT ON products BEGIN
  INSERT OR IGNORE INTO kb_docs (kind, ref) VALUES ('product', new.id);
  INSERT INTO kb_en (rowid, title, body, tags, kind, ref, lang)
    SELECT doc, new.name, new.description, COALESCE(new.category, ''), 'product', new.id, NULL
    FROM kb_docs WHERE kind = 'product' AND ref = new.id AND new.status = 'active';
  INSERT INTO kb_th (rowid, title, body, tags, kind, ref, lang)
    SELECT doc, new.name, new.description, COALESCE(new.category, ''), 'product', new.id, NULL
    FROM kb_docs WHERE kind = 'product' AND ref = new.id AND new.status = 'active';
END;

CREATE TRIGGER products_kb_delete AFTER DELETE ON products BEGIN
  DELETE FROM kb_en WHERE rowid = (SELECT doc FROM kb_docs WHERE kind = 'product' AND ref = old.id);
  DELETE FROM kb_th WHERE rowid = (SELECT doc FROM kb_docs WHERE kind = 'product' AND ref = old.id);
  DELETE FROM kb_docs WHERE kind = 'product' AND ref = old.id;
END;

CREATE TRIGGER products_kb_update AFTER UPDATE ON products BEGIN
  DELETE FROM kb_en WHERE rowid = (SELECT doc FROM kb_docs WHERE kind = 'product' AND ref = old.id);
  DELETE FROM kb_th WHERE rowid = (SELECT doc FROM kb_docs WHERE kind = 'product' AND ref = old.id);
  DELETE FROM kb_docs WHERE kind = 'product' AND ref = old.id;
  INSERT OR IGNORE INTO kb_docs (kind, ref) VALUES ('product', new.id);
  INSERT INTO kb_en (rowid, title, body, tags, kind, ref, lang)
    SELECT doc, new.name, new.description, COALESCE(new.category, ''), 'product', new.id, NULL
    FROM kb_docs WHERE kind = 'product' AND ref = new.id AND new.status = 'active';
  INSERT INTO kb_th (rowid, title, body, tags, kind, ref, lang)
    SELECT doc, new.name, new.description, COALESCE(new.category, ''), 'product', new.id, NULL
    FROM kb_docs WHERE kind = 'product' AND ref = new.id AND new.status = 'active';
END;

-- The products that exist before this migration.
INSERT INTO kb_docs (kind, ref) SELECT 'product', id FROM products;
INSERT INTO kb_en (rowid, title, body, tags, kind, ref, lang)
  SELECT d.doc, p.name, p.description, COALESCE(p.category, ''), 'product', p.id, NULL
  FROM products p JOIN kb_docs d ON d.kind = 'product' AND d.ref = p.id WHERE p.status = 'active';
INSERT INTO kb_th (rowid, title, body, tags, kind, ref, lang)
  SELECT d.doc, p.name, p.description, COALESCE(p.category, ''), 'product', p.id, NULL
  FROM products p JOIN kb_docs d ON d.kind = 'product' AND d.ref = p.id WHERE p.status = 'active';

-- Support tickets: each belongs to the web chat session that opened it (its model reads and
-- changes only its own: every query of the tools names the session).
CREATE TABLE tickets (
  id TEXT PRIMARY KEY, -- t_ and 24 hex digits (96 random bits)
  session_id TEXT NOT NULL,
  contact TEXT,
  subject TEXT NOT NULL,
  description TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'solved')),
  priority TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX tickets_by_session ON tickets (session_id);
CREATE INDEX tickets_by_status ON tickets (status, updated_at);
CREATE INDEX tickets_by_update ON tickets (updated_at);

-- A ticket's history: created, each change, notes. seq counts from 1 per ticket; a change is
-- written with the next seq numbers, so two concurrent changes cannot both land on a stale
-- read (the primary key refuses the second, which reads again).
CREATE TABLE ticket_events (
  ticket_id TEXT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL CHECK (actor IN ('assistant', 'admin', 'system')),
  change TEXT NOT NULL,
  PRIMARY KEY (ticket_id, seq)
);

-- The escalation ledger: one row per escalation key (`ticket:<id>`), written before the
-- queue message is sent, so a message that never arrives is re-queued by the sweeper and
-- a redelivered one is recognised. `body` is the queued Escalation (JSON); `delivered_to`
-- the webhooks (by name: `webhook`, `discord`) that already answered 2xx, so a retry sends
-- only to the others; `claimed_until` a consumer's lease while it delivers.
CREATE TABLE escalations (
  key TEXT PRIMARY KEY,
  ticket_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  delivered_at INTEGER,
  body TEXT NOT NULL,
  delivered_to TEXT NOT NULL DEFAULT '[]',
  claimed_until INTEGER,
  last_error TEXT,
  updated_at INTEGER NOT NULL
);
CREATE INDEX escalations_pending ON escalations (status, updated_at);
CREATE INDEX escalations_by_session ON escalations (session_id);

-- Web chat sessions by customer: who the embedding site said the visitor is (optional),
-- when the session was archived and where.
CREATE TABLE web_sessions (
  id TEXT PRIMARY KEY,
  customer TEXT,
  created_at INTEGER NOT NULL,
  ended_at INTEGER,
  archive_key TEXT,
  archived_at INTEGER
);
CREATE INDEX web_sessions_by_customer ON web_sessions (customer);
