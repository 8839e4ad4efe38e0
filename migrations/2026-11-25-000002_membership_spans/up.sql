-- Who reads a chat event follows from membership spans instead of a recipient list stored with
-- every event: with N members each event carried N names, so filling a chat of N members
-- wrote O(N²) names and a chat of 10,000 could not be filled.

-- A chat event names its chat; rows written before this migration keep their recipient list.
ALTER TABLE events ADD COLUMN audience_chat TEXT;
ALTER TABLE events DROP CONSTRAINT events_check1;
ALTER TABLE events ADD CONSTRAINT events_chat_audience
    CHECK ((audience = 2) = (recipients IS NOT NULL OR audience_chat IS NOT NULL));

-- A membership over a stretch of the log: the chat's events with ids in
-- [from_event, until_event) were the member's (until_event is NULL while it lasts). Both ends
-- are the id of the next event at the time, taken under the log's lock, so a committed event
-- is inside or outside a span for good.
CREATE TABLE membership_spans (
    chat        TEXT NOT NULL,
    user_key    TEXT NOT NULL,
    from_event  BIGINT NOT NULL,
    until_event BIGINT,
    PRIMARY KEY (user_key, chat, from_event),
    CHECK (until_event IS NULL OR until_event >= from_event)
);
-- The members of a chat at an event, for the window of recent events.
CREATE INDEX membership_spans_chat ON membership_spans (chat, from_event);

-- Memberships of now: the events so far carry their recipient lists.
INSERT INTO membership_spans (chat, user_key, from_event)
SELECT m.chat, m.user_key, l.last_id + 1 FROM memberships m CROSS JOIN event_log l;
