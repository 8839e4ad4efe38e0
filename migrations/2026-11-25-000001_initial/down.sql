DROP TABLE mail_outbox;
DROP TABLE event_log;
DROP TABLE events;
DROP TABLE messages;
DROP TABLE memberships;
DROP TABLE sessions;
DROP TABLE chats;
DROP TABLE accounts;
