-- The web support chat's support desk (issue 19): knowledge-base articles and their
-- full-text index, tickets and their history, escalation deliveries, and the index of web
-- chat sessions by customer (export and erase).
-- SEED by the lead: owners may refine (helper B: articles, FTS, tickets; helper C:
-- escalations; helper D: web_sessions) before it first lands; after that only new files.

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

CREATE TABLE tickets (
  id TEXT PRIMARY KEY,
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
