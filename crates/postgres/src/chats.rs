//! Chats and memberships.

use async_trait::async_trait;
use chatty_domain::ports::{ChatRepository, Conflict, Missing, StoreError};
use chatty_domain::{
    ChatName, ChatReport, Event, Snapshot, Timestamp, UserFlags, UserName, UserWithStatus,
};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::messages::last_messages;
use crate::schema::{chats, memberships, sessions};
use crate::{PgStore, TxError, store_error, to_db_time};

fn by_name(column: &str) -> diesel::expression::SqlLiteral<diesel::sql_types::Text> {
    // Byte order, as Rust sorts strings, whatever the database's collation.
    diesel::dsl::sql::<diesel::sql_types::Text>(&format!("{column} COLLATE \"C\""))
}

fn name_error(e: chatty_domain::InvalidInput) -> TxError {
    TxError::Store(StoreError::Unavailable(Box::new(e)))
}

async fn chat_exists(c: &mut AsyncPgConnection, chat: &ChatName) -> Result<bool, TxError> {
    let n: i64 = chats::table
        .filter(chats::name.eq(chat.as_str()))
        .count()
        .get_result(c)
        .await?;
    Ok(n > 0)
}

/// Logged-in members of a chat with their session's flags, sorted by name.
///
/// Streamed, each row converted as it comes: every join answers with the whole list (api.md),
/// and collecting the rows first held a list of 10,000 twice. A membership carries its
/// session's name and flags, and `memberships_by_name` holds the list in this order: an index
/// scan without join or sort (reading the index alone where vacuum has been).
pub(crate) async fn members(
    c: &mut AsyncPgConnection,
    chat: &str,
) -> Result<Vec<UserWithStatus>, TxError> {
    use futures_util::TryStreamExt;
    let rows = memberships::table
        .filter(memberships::chat.eq(chat))
        .select((
            memberships::user_name,
            memberships::verified,
            memberships::admin,
            memberships::bot,
        ))
        .order(by_name("memberships.user_key"))
        .load_stream::<(String, bool, bool, bool)>(c)
        .await?;
    rows.map_err(TxError::from)
        .and_then(async |(name, verified, admin, bot)| {
            Ok(UserWithStatus {
                user: UserName::parse(&name).map_err(name_error)?,
                flags: UserFlags {
                    verified,
                    admin,
                    bot,
                },
            })
        })
        .try_collect()
        .await
}

#[async_trait]
impl ChatRepository for PgStore {
    async fn create_chat(&self, chat: &ChatName, now: Timestamp) -> Result<(), StoreError> {
        let chat = chat.clone();
        self.write(move |c, log| {
            Box::pin(async move {
                if chat_exists(c, &chat).await? {
                    return Err(StoreError::Conflict(Conflict::ChatName).into());
                }
                diesel::insert_into(chats::table)
                    .values((
                        chats::name.eq(chat.as_str()),
                        chats::created_at.eq(to_db_time(now)),
                    ))
                    .execute(c)
                    .await?;
                log.append(c, Event::chat_created(&chat, now)).await
            })
        })
        .await
    }

    async fn remove_chat(&self, chat: &ChatName, now: Timestamp) -> Result<(), StoreError> {
        let chat = chat.clone();
        self.write(move |c, log| {
            Box::pin(async move {
                // Memberships and messages go with it (ON DELETE CASCADE).
                let removed = diesel::delete(chats::table.filter(chats::name.eq(chat.as_str())))
                    .execute(c)
                    .await?;
                if removed == 0 {
                    return Err(StoreError::NotFound(Missing::Chat).into());
                }
                log.close_spans_of_chat(c, chat.as_str()).await?;
                log.append(c, Event::chat_removed(&chat, now)).await
            })
        })
        .await
    }

    async fn join(
        &self,
        user: &UserName,
        chat: &ChatName,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (user, chat) = (user.clone(), chat.clone());
        self.write(move |c, log| {
            Box::pin(async move {
                if !chat_exists(c, &chat).await? {
                    return Err(StoreError::NotFound(Missing::Chat).into());
                }
                let session: Option<(String, bool, bool, bool)> = sessions::table
                    .filter(sessions::user_key.eq(user.folded()))
                    .select((
                        sessions::user_name,
                        sessions::verified,
                        sessions::admin,
                        sessions::bot,
                    ))
                    .first(c)
                    .await
                    .optional()?;
                let Some((name, verified, admin, bot)) = session else {
                    return Err(StoreError::NotFound(Missing::Session).into());
                };
                let inserted = diesel::insert_into(memberships::table)
                    .values((
                        memberships::chat.eq(chat.as_str()),
                        memberships::user_key.eq(user.folded()),
                        memberships::user_name.eq(&name),
                        memberships::verified.eq(verified),
                        memberships::admin.eq(admin),
                        memberships::bot.eq(bot),
                    ))
                    .on_conflict_do_nothing()
                    .execute(c)
                    .await?;
                if inserted == 0 {
                    return Err(StoreError::Conflict(Conflict::Membership).into());
                }
                log.open_span(c, chat.as_str(), user.folded()).await?;
                let user = UserName::parse(&name).map_err(name_error)?;
                let flags = UserFlags {
                    verified,
                    admin,
                    bot,
                };
                log.append_all(c, Event::joined(&user, flags, &chat, now))
                    .await
            })
        })
        .await
    }

    async fn leave(
        &self,
        user: &UserName,
        chat: &ChatName,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (user, chat) = (user.clone(), chat.clone());
        self.write(move |c, log| {
            Box::pin(async move {
                if !chat_exists(c, &chat).await? {
                    return Err(StoreError::NotFound(Missing::Chat).into());
                }
                let left: Vec<String> = diesel::delete(
                    memberships::table
                        .filter(memberships::chat.eq(chat.as_str()))
                        .filter(memberships::user_key.eq(user.folded())),
                )
                .returning(memberships::user_name)
                .get_results(c)
                .await?;
                let Some(name) = left.into_iter().next() else {
                    return Err(StoreError::NotFound(Missing::Membership).into());
                };
                log.close_spans_of_user(c, user.folded(), Some(chat.as_str()))
                    .await?;
                let user = UserName::parse(&name).map_err(name_error)?;
                log.append_all(c, Event::left(&user, &chat, now)).await
            })
        })
        .await
    }

    async fn is_member(&self, user: &UserName, chat: &ChatName) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let n: i64 = memberships::table
            .filter(memberships::chat.eq(chat.as_str()))
            .filter(memberships::user_key.eq(user.folded()))
            .count()
            .get_result(&mut *conn)
            .await
            .map_err(store_error)?;
        Ok(n > 0)
    }

    async fn chat_names(&self) -> Result<Vec<ChatName>, StoreError> {
        let mut conn = self.conn().await?;
        let names: Vec<String> = chats::table
            .select(chats::name)
            .order(by_name("name"))
            .load(&mut *conn)
            .await
            .map_err(store_error)?;
        Ok(names
            .iter()
            .filter_map(|n| ChatName::parse(n).ok())
            .collect())
    }

    async fn reports(
        &self,
        viewer: &UserName,
        only: Option<&ChatName>,
        last: usize,
    ) -> Result<Snapshot<Vec<ChatReport>>, StoreError> {
        let viewer = viewer.clone();
        let only = only.cloned();
        let mut conn = self.conn().await?;
        Ok(conn
            .build_transaction()
            .repeatable_read()
            .read_only()
            .run::<_, TxError, _>(async move |c| {
                let as_of = crate::events::last_id(c).await?;
                let names: Vec<String> = match &only {
                    Some(chat) => {
                        if !chat_exists(c, chat).await? {
                            return Err(StoreError::NotFound(Missing::Chat).into());
                        }
                        vec![chat.as_str().to_owned()]
                    }
                    None => {
                        chats::table
                            .select(chats::name)
                            .order(by_name("name"))
                            .load(c)
                            .await?
                    }
                };
                let joined: Vec<String> = memberships::table
                    .filter(memberships::user_key.eq(viewer.folded()))
                    .select(memberships::chat)
                    .load(c)
                    .await?;
                let mut reports = Vec::with_capacity(names.len());
                for name in names {
                    let chat = ChatName::parse(&name).map_err(name_error)?;
                    let is_member = joined.contains(&name);
                    let (messages, users) = if is_member {
                        (
                            last_messages(c, &name, None, last).await?,
                            members(c, &name).await?,
                        )
                    } else {
                        (Vec::new(), Vec::new())
                    };
                    reports.push(ChatReport {
                        user: viewer.clone(),
                        chat,
                        joined: is_member,
                        messages,
                        users,
                    });
                }
                Ok(Snapshot {
                    value: reports,
                    as_of,
                })
            })
            .await?)
    }

    async fn members(&self, chat: &ChatName) -> Result<Snapshot<Vec<UserWithStatus>>, StoreError> {
        let chat = chat.clone();
        let mut conn = self.conn().await?;
        Ok(conn
            .build_transaction()
            .repeatable_read()
            .read_only()
            .run::<_, TxError, _>(async move |c| {
                let as_of = crate::events::last_id(c).await?;
                if !chat_exists(c, &chat).await? {
                    return Err(StoreError::NotFound(Missing::Chat).into());
                }
                Ok(Snapshot {
                    value: members(c, chat.as_str()).await?,
                    as_of,
                })
            })
            .await?)
    }
}
