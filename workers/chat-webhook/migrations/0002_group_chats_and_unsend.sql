-- Group and room chats, and unsent messages (issue 21).
--
-- Customers and conversations are keyed by the chat (`edge_core::chat::line::webhook::Chat`):
-- a user's own chat keeps the user id as its key, a group is `group:<groupId>`, a room
-- `room:<roomId>`, so `line_user_id` in customers, conversations and ai_sessions now holds a
-- chat key. Who spoke in a group or room (when LINE shares it) is the message's speaker; the
-- speaker's own customer row (keyed by their user id) is made from the group/room member
-- profile.
ALTER TABLE messages ADD COLUMN speaker_user_id TEXT;

-- An unsent message keeps its row as a tombstone (content blanked, unsent_at set), so the
-- conversation's order and counts stay as they were; history leaves it out.
ALTER TABLE messages ADD COLUMN unsent_at INTEGER;

CREATE INDEX idx_messages_line_message ON messages (line_message_id);
