-- chat-webhook's D1 schema: customers, conversations, messages, products, ai_sessions,
-- and the webhook events already handled (redelivery de-duplication).
-- Times are unix milliseconds. Applied by `wrangler d1 migrations apply` in deployments and
-- by the local harness (tests/harness/d1.mjs) for scripts/dev and scripts/test.

-- One row per LINE user, created on first contact; kept after an unfollow.
CREATE TABLE customers (
  id TEXT PRIMARY KEY,
  line_user_id TEXT NOT NULL UNIQUE,
  display_name TEXT,
  picture_url TEXT,
  language TEXT NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'th')),
  preferences TEXT NOT NULL DEFAULT '[]', -- JSON array of strings, put into the AI prompt
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'unfollowed')),
  followed_at INTEGER,
  unfollowed_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- A customer's chat; at most one active conversation per user.
CREATE TABLE conversations (
  id TEXT PRIMARY KEY,
  customer_id TEXT NOT NULL REFERENCES customers (id),
  line_user_id TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
  language TEXT NOT NULL DEFAULT 'en',
  message_count INTEGER NOT NULL DEFAULT 0,
  started_at INTEGER NOT NULL,
  last_activity_at INTEGER NOT NULL
);

-- Every user and assistant message, with what the bot made of it.
CREATE TABLE messages (
  id TEXT PRIMARY KEY,
  conversation_id TEXT NOT NULL REFERENCES conversations (id),
  role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
  content TEXT NOT NULL,
  webhook_event_id TEXT,
  line_message_id TEXT,
  intent TEXT,
  confidence REAL,
  provider TEXT,          -- assistant: deepseek / openrouter / static / cache / canned
  tokens INTEGER,
  created_at INTEGER NOT NULL
);

CREATE TABLE products (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  price REAL,
  currency TEXT NOT NULL DEFAULT 'THB',
  category TEXT,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- One row per AI answer: which provider answered (or none), how, and what it cost.
CREATE TABLE ai_sessions (
  id TEXT PRIMARY KEY,
  conversation_id TEXT NOT NULL REFERENCES conversations (id),
  line_user_id TEXT NOT NULL,
  provider TEXT NOT NULL, -- deepseek / openrouter / cache / static
  model TEXT,
  tokens INTEGER,
  latency_ms INTEGER NOT NULL,
  attempts TEXT NOT NULL DEFAULT '[]', -- JSON: [{provider, outcome}]
  created_at INTEGER NOT NULL
);

-- Webhook events taken for processing, by webhookEventId: a redelivery finds its id here.
CREATE TABLE webhook_events (
  id TEXT PRIMARY KEY,
  event_type TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('processing', 'done')),
  received_at INTEGER NOT NULL,
  done_at INTEGER
);

CREATE UNIQUE INDEX idx_conversations_one_active ON conversations (line_user_id) WHERE status = 'active';
CREATE INDEX idx_conversations_customer ON conversations (customer_id);
CREATE INDEX idx_conversations_status ON conversations (status);
CREATE INDEX idx_messages_conversation_time ON messages (conversation_id, created_at);
CREATE INDEX idx_products_category ON products (category);
CREATE INDEX idx_products_status ON products (status);
CREATE INDEX idx_ai_sessions_user ON ai_sessions (line_user_id);
CREATE INDEX idx_ai_sessions_conversation ON ai_sessions (conversation_id);
CREATE INDEX idx_webhook_events_received ON webhook_events (received_at);
