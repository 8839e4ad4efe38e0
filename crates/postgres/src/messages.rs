//! Messages.

use async_trait::async_trait;
use chatty_domain::ports::{MessageRepository, Missing, StoreError};
use chatty_domain::{
    ChatName, Event, Message, MessageId, NewMessage, Snapshot, Timestamp, UserFlags, UserName,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::schema::{chats, memberships, messages};
use crate::{PgStore, TxError, from_db_time, to_db_time};

#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
struct MessageRow {
    id: i64,
    chat: String,
    user_name: String,
    verified: bool,
    admin: bool,
    bot: bool,
    text: String,
    time: DateTime<Utc>,
}

impl MessageRow {
    fn into_message(self) -> Result<Message, TxError> {
        let invalid =
            |e: chatty_domain::InvalidInput| TxError::Store(StoreError::Unavailable(Box::new(e)));
        Ok(Message {
            user: UserName::parse(&self.user_name).map_err(invalid)?,
            flags: UserFlags {
                verified: self.verified,
                admin: self.admin,
                bot: self.bot,
            },
            chat: ChatName::parse(&self.chat).map_err(invalid)?,
            id: MessageId(u64::try_from(self.id).unwrap_or(0)),
            text: self.text,
            time: from_db_time(self.time),
        })
    }
}

/// Up to `limit` messages of `chat` below `before`, oldest first.
pub(crate) async fn last_messages(
    c: &mut AsyncPgConnection,
    chat: &str,
    before: Option<MessageId>,
    limit: usize,
) -> Result<Vec<Message>, TxError> {
    let mut query = messages::table
        .filter(messages::chat.eq(chat))
        .select(MessageRow::as_select())
        .order(messages::id.desc())
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(messages::id.lt(i64::try_from(before.0).unwrap_or(i64::MAX)));
    }
    let mut rows: Vec<MessageRow> = query.load(c).await?;
    rows.reverse();
    rows.into_iter().map(MessageRow::into_message).collect()
}

#[async_trait]
impl MessageRepository for PgStore {
    async fn post(&self, message: &NewMessage, now: Timestamp) -> Result<Message, StoreError> {
        let message = message.clone();
        self.write(move |c, log| {
            Box::pin(async move {
                let chat_exists: i64 = chats::table
                    .filter(chats::name.eq(message.chat.as_str()))
                    .count()
                    .get_result(c)
                    .await?;
                if chat_exists == 0 {
                    return Err(StoreError::NotFound(Missing::Chat).into());
                }
                if message.membership_required {
                    let member: i64 = memberships::table
                        .filter(memberships::chat.eq(message.chat.as_str()))
                        .filter(memberships::user_key.eq(message.author.folded()))
                        .count()
                        .get_result(c)
                        .await?;
                    if member == 0 {
                        return Err(StoreError::NotFound(Missing::Membership).into());
                    }
                }
                let row: MessageRow = diesel::insert_into(messages::table)
                    .values((
                        messages::chat.eq(message.chat.as_str()),
                        messages::user_name.eq(message.author.as_str()),
                        messages::verified.eq(message.flags.verified),
                        messages::admin.eq(message.flags.admin),
                        messages::bot.eq(message.flags.bot),
                        messages::text.eq(message.text.as_str()),
                        messages::time.eq(to_db_time(now)),
                    ))
                    .returning(MessageRow::as_returning())
                    .get_result(c)
                    .await?;
                let stored = row.into_message()?;
                log.append(c, Event::Message(stored.clone())).await?;
                Ok(stored)
            })
        })
        .await
    }

    async fn history(
        &self,
        chat: &ChatName,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Snapshot<Vec<Message>>, StoreError> {
        let chat = chat.clone();
        let mut conn = self.conn().await?;
        Ok(conn
            .build_transaction()
            .repeatable_read()
            .read_only()
            .run::<_, TxError, _>(async move |c| {
                let as_of = crate::events::last_id(c).await?;
                let exists: i64 = chats::table
                    .filter(chats::name.eq(chat.as_str()))
                    .count()
                    .get_result(c)
                    .await?;
                if exists == 0 {
                    return Err(StoreError::NotFound(Missing::Chat).into());
                }
                Ok(Snapshot {
                    value: last_messages(c, chat.as_str(), before, limit).await?,
                    as_of,
                })
            })
            .await?)
    }
}
