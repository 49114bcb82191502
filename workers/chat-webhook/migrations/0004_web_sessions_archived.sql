-- The archive expiry sweep (every cron run) deletes the index rows of sessions archived
-- before the retention's cutoff: by this index, not a scan of every session.
CREATE INDEX web_sessions_by_archived ON web_sessions (archived_at);
