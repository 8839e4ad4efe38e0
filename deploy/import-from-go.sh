#!/usr/bin/env bash
# Copies accounts, chats and messages from the original Go server's database into chatty's.
#
#   deploy/import-from-go.sh postgres://old-host/chatty postgres://new-host/chatty
#
# The new database must already carry chatty's schema (start chatty against it once) and be
# empty of accounts, chats and messages. Sessions are not copied: the old cookies cannot be
# read by chatty, so every user logs in once more. Passwords keep working: the Go server's
# bcrypt hashes are copied as they are.
#
# What chatty's rules refuse is skipped and counted, never half-copied: names that differ only
# by case from an earlier account (the first by id is kept), e-mails used twice, empty or
# over-long chat names, empty messages, messages of chats that no longer exist.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 OLD_DATABASE_URL NEW_DATABASE_URL" >&2
  exit 2
fi
old=$1
new=$2
psql_new=(psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 "$new")

"${psql_new[@]}" <<'SQL'
DROP SCHEMA IF EXISTS legacy CASCADE;
CREATE SCHEMA legacy;
CREATE TABLE legacy.users (id INTEGER, "user" TEXT, email TEXT, email_activation_token TEXT,
    verified BOOLEAN, password_hash TEXT, admin BOOLEAN, bot BOOLEAN);
CREATE TABLE legacy.chats (chat TEXT);
CREATE TABLE legacy.messages (id INTEGER, "user" TEXT, chat TEXT, text TEXT, time TIMESTAMP,
    verified BOOLEAN, bot BOOLEAN);
SQL

copy() {
  local table=$1 columns=$2
  psql --no-psqlrc -v ON_ERROR_STOP=1 "$old" -c "\\copy (SELECT $columns FROM $table) TO STDOUT WITH (FORMAT csv)" \
    | "${psql_new[@]}" -c "\\copy legacy.$table ($columns) FROM STDIN WITH (FORMAT csv)"
}
copy users 'id, "user", email, email_activation_token, verified, password_hash, admin, bot'
copy chats 'chat'
copy messages 'id, "user", chat, text, time, verified, bot'

"${psql_new[@]}" <<'SQL'
BEGIN;

INSERT INTO accounts (name_key, name, email, email_key, password_hash, verified, admin, bot,
                      activation_token, activation_expires_at, created_at)
SELECT DISTINCT ON (lower("user"))
       lower("user"), "user", email, lower(email), password_hash, verified, admin, bot,
       CASE WHEN verified THEN NULL ELSE email_activation_token END,
       CASE WHEN verified THEN NULL ELSE now() + interval '48 hours' END,
       now()
  FROM legacy.users
 WHERE char_length("user") BETWEEN 1 AND 50 AND char_length(email) BETWEEN 3 AND 254
   AND password_hash LIKE '$2%'
 ORDER BY lower("user"), id
ON CONFLICT DO NOTHING;

INSERT INTO chats (name, created_at)
SELECT DISTINCT chat, now() FROM legacy.chats WHERE char_length(chat) BETWEEN 1 AND 50
ON CONFLICT DO NOTHING;

-- Message ids stay as they were, so links and client caches keep pointing at the same ones.
INSERT INTO messages (id, chat, user_name, verified, admin, bot, text, time)
SELECT m.id, m.chat, m."user", coalesce(m.verified, false), false, coalesce(m.bot, false),
       m.text, m.time AT TIME ZONE 'UTC'
  FROM legacy.messages m JOIN chats c ON c.name = m.chat
 WHERE m.text <> ''
ON CONFLICT DO NOTHING;
SELECT setval(pg_get_serial_sequence('messages', 'id'), greatest((SELECT max(id) FROM messages), 1));

SELECT (SELECT count(*) FROM legacy.users) AS old_users,
       (SELECT count(*) FROM accounts) AS accounts,
       (SELECT count(*) FROM legacy.chats) AS old_chats,
       (SELECT count(*) FROM chats) AS chats,
       (SELECT count(*) FROM legacy.messages) AS old_messages,
       (SELECT count(*) FROM messages) AS messages;

DROP SCHEMA legacy CASCADE;
COMMIT;
SQL
