-- chatty's schema. Times are TIMESTAMPTZ; names are stored as typed plus a lower-cased key
-- where uniqueness is case-insensitive (api.md §2 item 6).

CREATE TABLE accounts (
    name_key              TEXT PRIMARY KEY,
    name                  TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    email                 TEXT NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    email_key             TEXT NOT NULL UNIQUE,
    password_hash         TEXT NOT NULL,
    verified              BOOLEAN NOT NULL DEFAULT FALSE,
    admin                 BOOLEAN NOT NULL DEFAULT FALSE,
    bot                   BOOLEAN NOT NULL DEFAULT FALSE,
    activation_token      TEXT,
    activation_expires_at TIMESTAMPTZ,
    reset_token           TEXT,
    reset_expires_at      TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL,
    CHECK (name_key = lower(name)),
    CHECK (email_key = lower(email)),
    CHECK ((activation_token IS NULL) = (activation_expires_at IS NULL)),
    CHECK ((reset_token IS NULL) = (reset_expires_at IS NULL))
);

CREATE TABLE chats (
    name       TEXT PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 50),
    created_at TIMESTAMPTZ NOT NULL
);

-- One live session per user name (case-insensitively), shared by every instance.
CREATE TABLE sessions (
    user_key    TEXT PRIMARY KEY,
    user_name   TEXT NOT NULL CHECK (lower(user_name) = user_key),
    token       TEXT NOT NULL,
    verified    BOOLEAN NOT NULL,
    admin       BOOLEAN NOT NULL,
    bot         BOOLEAN NOT NULL,
    registered  BOOLEAN NOT NULL,
    last_active TIMESTAMPTZ NOT NULL,
    -- The session's own LoginEvent: the first event it may receive.
    first_event BIGINT NOT NULL,
    -- The legacy poll's server-side cursor: the last event id taken.
    cursor      BIGINT NOT NULL
);
CREATE INDEX sessions_last_active ON sessions (last_active);

-- Memberships belong to a live session: ending the session ends them (api.md §2 item 12),
-- removing the chat ends them too.
CREATE TABLE memberships (
    chat      TEXT NOT NULL REFERENCES chats (name) ON DELETE CASCADE,
    user_key  TEXT NOT NULL REFERENCES sessions (user_key) ON DELETE CASCADE,
    user_name TEXT NOT NULL,
    PRIMARY KEY (chat, user_key)
);
CREATE INDEX memberships_user ON memberships (user_key);

CREATE TABLE messages (
    id        BIGSERIAL PRIMARY KEY,
    chat      TEXT NOT NULL REFERENCES chats (name) ON DELETE CASCADE,
    user_name TEXT NOT NULL,
    verified  BOOLEAN NOT NULL,
    admin     BOOLEAN NOT NULL,
    bot       BOOLEAN NOT NULL,
    text      TEXT NOT NULL CHECK (text <> ''),
    time      TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_chat_id ON messages (chat, id);

-- The event log. Ids are assigned under a transaction-level advisory lock, so they commit in
-- order and a reader can never skip one that becomes visible later. The audience is fixed at
-- append time: everyone (0), everyone but audience_user (1), or the members listed in
-- recipients (2).
CREATE TABLE events (
    id            BIGINT PRIMARY KEY CHECK (id > 0),
    kind          TEXT NOT NULL,
    payload       JSONB NOT NULL,
    audience      SMALLINT NOT NULL CHECK (audience IN (0, 1, 2)),
    audience_user TEXT,
    recipients    TEXT[],
    time          TIMESTAMPTZ NOT NULL,
    CHECK ((audience = 1) = (audience_user IS NOT NULL)),
    CHECK ((audience = 2) = (recipients IS NOT NULL))
);
CREATE INDEX events_time ON events (time);

-- What retention has dropped: readers behind this get a ResyncEvent.
CREATE TABLE event_log (
    singleton     BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    last_id       BIGINT NOT NULL DEFAULT 0,
    pruned_through BIGINT NOT NULL DEFAULT 0,
    pruned_time   TIMESTAMPTZ NOT NULL DEFAULT 'epoch'
);
INSERT INTO event_log DEFAULT VALUES;

-- Mail waiting for delivery, written in the same transaction as the change that causes it.
CREATE TABLE mail_outbox (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('activation', 'password_reset')),
    recipient   TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    link        TEXT,
    token       TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    due_at      TIMESTAMPTZ NOT NULL,
    failed      BOOLEAN NOT NULL DEFAULT FALSE,
    last_error  TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    CHECK (kind <> 'activation' OR link IS NOT NULL),
    CHECK (kind <> 'password_reset' OR token IS NOT NULL)
);
CREATE INDEX mail_outbox_due ON mail_outbox (due_at) WHERE NOT failed;
