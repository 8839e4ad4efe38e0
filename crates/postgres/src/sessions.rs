//! Sessions.

use async_trait::async_trait;
use chatty_domain::ports::{Conflict, SessionKey, SessionRepository, StoreError};
use chatty_domain::{
    ChatName, Event, LoginMode, NewSession, Session, Timestamp, Token, UserFlags, UserName,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::events::Log;
use crate::schema::{memberships, sessions};
use crate::{PgStore, TxError, db_id, event_id, from_db_time, to_db_time};

#[derive(Queryable, Selectable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    user_name: String,
    token: String,
    verified: bool,
    admin: bool,
    bot: bool,
    registered: bool,
    last_active: DateTime<Utc>,
    first_event: i64,
}

impl SessionRow {
    fn into_session(self) -> Result<Session, StoreError> {
        let user =
            UserName::parse(&self.user_name).map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        Ok(Session {
            user,
            token: Token::new(self.token),
            flags: UserFlags {
                verified: self.verified,
                admin: self.admin,
                bot: self.bot,
            },
            registered: self.registered,
            last_active: from_db_time(self.last_active),
            first_event: event_id(self.first_event),
        })
    }
}

/// The CTE `locked` of a statement that updates the sessions of the keys in `$1`: their rows,
/// locked one after another in the sweep's order (user_key COLLATE "C") before the update
/// touches any of them. Statements that update many sessions at once (activity, cursor moves,
/// the sweep) would otherwise take their rows in whatever order their plans visit them, and
/// two of them over the same sessions deadlock: Postgres then aborts one. A CTE that locks
/// rows is evaluated as written, never folded into the statement that reads it.
macro_rules! locked_in_order {
    () => {
        "locked AS (SELECT user_key FROM sessions WHERE user_key = ANY($1) \
         ORDER BY user_key COLLATE \"C\" FOR UPDATE)"
    };
}
pub(crate) use locked_in_order;

/// Activity is kept to the second: the inactivity timeout counts in tens of seconds, and a
/// write per request (each poll, each post) would only churn the table.
pub(crate) fn activity_is_due(last_active: Timestamp, now: Timestamp) -> bool {
    to_db_time(now) - to_db_time(last_active) >= chrono::TimeDelta::seconds(1)
}

/// Ends the session of `user_key` inside a write: its memberships go with it, and the logout
/// events are appended for the chats it was in.
pub(crate) async fn end_session(
    c: &mut AsyncPgConnection,
    log: &mut Log,
    user_key: &str,
    now: Timestamp,
) -> Result<bool, TxError> {
    let Some(user_name) = sessions::table
        .filter(sessions::user_key.eq(user_key))
        .select(sessions::user_name)
        .first::<String>(c)
        .await
        .optional()?
    else {
        return Ok(false);
    };
    let chats: Vec<String> = memberships::table
        .filter(memberships::user_key.eq(user_key))
        .select(memberships::chat)
        .order(diesel::dsl::sql::<diesel::sql_types::Text>(
            "chat COLLATE \"C\"",
        ))
        .load(c)
        .await?;
    // Its memberships go with it (ON DELETE CASCADE), and so end their spans.
    log.close_spans_of_user(c, user_key, None).await?;
    diesel::delete(sessions::table.filter(sessions::user_key.eq(user_key)))
        .execute(c)
        .await?;
    let user = UserName::parse(&user_name).map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    let chats: Vec<ChatName> = chats
        .iter()
        .filter_map(|c| ChatName::parse(c).ok())
        .collect();
    log.append_all(c, Event::logged_out(&user, &chats, now))
        .await?;
    Ok(true)
}

async fn find(c: &mut AsyncPgConnection, key: &SessionKey) -> Result<Option<SessionRow>, TxError> {
    let row = sessions::table
        .filter(sessions::user_key.eq(key.user.folded()))
        .select(SessionRow::as_select())
        .first(c)
        .await
        .optional()?;
    Ok(row.filter(|r| Token::new(r.token.clone()).matches(&key.token)))
}

#[async_trait]
impl SessionRepository for PgStore {
    async fn start(
        &self,
        new: &NewSession,
        mode: LoginMode,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let new = new.clone();
        self.write(move |c, log| {
            Box::pin(async move {
                let key = new.user.folded().to_owned();
                let existing: Option<String> = sessions::table
                    .filter(sessions::user_key.eq(&key))
                    .select(sessions::user_name)
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                if let Some(existing) = &existing {
                    if mode == LoginMode::Guest {
                        return Err(StoreError::Conflict(Conflict::Session).into());
                    }
                    // Replaced, not logged out: the memberships stay (api.md §2 item 12).
                    let old = UserName::parse(existing)
                        .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
                    log.append(c, Event::logout(&old, now)).await?;
                }
                let first = log.next_id();
                let row = (
                    sessions::user_key.eq(&key),
                    sessions::user_name.eq(new.user.as_str()),
                    sessions::token.eq(new.token.expose()),
                    sessions::verified.eq(new.flags.verified),
                    sessions::admin.eq(new.flags.admin),
                    sessions::bot.eq(new.flags.bot),
                    sessions::registered.eq(new.registered),
                    sessions::last_active.eq(to_db_time(now)),
                    sessions::first_event.eq(db_id(first)),
                    sessions::cursor.eq(db_id(first) - 1),
                );
                if existing.is_some() {
                    diesel::update(sessions::table.filter(sessions::user_key.eq(&key)))
                        .set(row)
                        .execute(c)
                        .await?;
                    // Memberships carry the display name and flags of the session, for the
                    // member lists (`chats::members`).
                    diesel::update(memberships::table.filter(memberships::user_key.eq(&key)))
                        .set((
                            memberships::user_name.eq(new.user.as_str()),
                            memberships::verified.eq(new.flags.verified),
                            memberships::admin.eq(new.flags.admin),
                            memberships::bot.eq(new.flags.bot),
                        ))
                        .execute(c)
                        .await?;
                } else {
                    diesel::insert_into(sessions::table)
                        .values(row)
                        .execute(c)
                        .await?;
                }
                log.append(c, Event::login(&new.user, now)).await?;
                Ok(Session {
                    user: new.user.clone(),
                    token: new.token.clone(),
                    flags: new.flags,
                    registered: new.registered,
                    last_active: now,
                    first_event: first,
                })
            })
        })
        .await
    }

    async fn touch(&self, key: &SessionKey, now: Timestamp) -> Result<Option<Session>, StoreError> {
        if let Some(known) = self.touch_known_session(key, now).await? {
            return Ok(known);
        }
        // Any end of this session after the read appends a logout with a higher id than what
        // was known before it.
        let known_before = self.newest_known();
        let mut conn = self.conn().await?;
        let Some(mut row) = find(&mut conn, key).await? else {
            return Ok(None);
        };
        drop(conn);
        if activity_is_due(from_db_time(row.last_active), now) {
            self.note_activity(key, now);
            row.last_active = to_db_time(now);
        }
        let session = row.into_session()?;
        self.live.remember_session(&session, known_before);
        Ok(Some(session))
    }

    async fn end(
        &self,
        key: &SessionKey,
        any_token: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let key = key.clone();
        self.write(move |c, log| {
            Box::pin(async move {
                let live = if any_token {
                    true
                } else {
                    find(c, &key).await?.is_some()
                };
                if !live {
                    return Ok(false);
                }
                end_session(c, log, key.user.folded(), now).await
            })
        })
        .await
    }

    async fn end_inactive(
        &self,
        cutoff: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<UserName>, StoreError> {
        // Activity noted on this instance but not written yet would make a live session look
        // idle.
        self.activity
            .flush(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(e.into()))?;
        self.write(move |c, log| {
            Box::pin(async move {
                let idle: Vec<(String, String)> = sessions::table
                    .filter(sessions::last_active.lt(to_db_time(cutoff)))
                    .select((sessions::user_key, sessions::user_name))
                    .order(diesel::dsl::sql::<diesel::sql_types::Text>(
                        "user_key COLLATE \"C\"",
                    ))
                    .load(c)
                    .await?;
                let mut ended = Vec::new();
                for (user_key, user_name) in idle {
                    if end_session(c, log, &user_key, now).await? {
                        ended.extend(UserName::parse(&user_name).ok());
                    }
                }
                Ok(ended)
            })
        })
        .await
    }

    async fn is_logged_in(&self, user: &UserName) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let count: i64 = sessions::table
            .filter(sessions::user_key.eq(user.folded()))
            .count()
            .get_result(&mut *conn)
            .await
            .map_err(crate::store_error)?;
        Ok(count > 0)
    }
    async fn count(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let n: i64 = sessions::table
            .count()
            .get_result(&mut *conn)
            .await
            .map_err(crate::store_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
