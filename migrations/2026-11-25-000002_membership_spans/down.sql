-- Chat events written since the up migration get their recipient lists back from the spans.
UPDATE events e SET recipients = ARRAY(
    SELECT m.user_key FROM membership_spans m
    WHERE m.chat = e.audience_chat AND m.from_event <= e.id
      AND (m.until_event IS NULL OR e.id < m.until_event))
WHERE e.audience = 2 AND e.recipients IS NULL;
DROP TABLE membership_spans;
ALTER TABLE events DROP CONSTRAINT events_chat_audience;
ALTER TABLE events DROP COLUMN audience_chat;
ALTER TABLE events ADD CONSTRAINT events_check1 CHECK ((audience = 2) = (recipients IS NOT NULL));
