//! Posting and reading messages, and the server bot.

use tracing::{info, warn};

use super::{BOT_NAME, LoggedIn, Services};
use crate::error::{Error, Result};
use crate::model::chat::Snapshot;
use crate::model::input::{Field, InvalidInput, Problem};
use crate::model::message::{Message, MessageId, MessageText, NewMessage};
use crate::model::name::{ChatName, UserName};
use crate::model::user::UserFlags;
use crate::ports::{Missing, StoreError};

/// The bot's answer to `/help`: the commands this server offers (api.md §1).
pub const HELP_TEXT: &str = "Available commands: /help";

impl Services {
    /// `POST /api/loggedonly/postMessage`: stores a message from the caller, with the
    /// caller's own flags, in a chat it belongs to. A message that is exactly `/help` gets an
    /// answer from the server bot.
    ///
    /// # Errors
    /// `Invalid` (chat empty, text), `NotInChat`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(user.name = %me.user(), chat.name = %chat))]
    pub async fn post_message(&self, me: &LoggedIn, chat: &str, text: &str) -> Result<Message> {
        if chat.is_empty() {
            return Err(InvalidInput::new(Field::Chat, Problem::Empty).into());
        }
        let text = MessageText::parse(text, self.policy.max_message_chars)?;
        let chat = ChatName::parse(chat).map_err(|_| Error::NotInChat)?;
        let wants_help = text.as_str() == "/help";
        let draft = NewMessage {
            author: me.user().clone(),
            flags: me.session().flags,
            chat,
            text,
            membership_required: true,
        };
        let message = match self
            .ports
            .messages
            .post(&draft, self.ports.clock.now())
            .await
        {
            Ok(message) => message,
            Err(StoreError::NotFound(Missing::Membership | Missing::Chat)) => {
                return Err(Error::NotInChat);
            }
            Err(e) => return Err(Error::from_store(e)),
        };
        if wants_help {
            self.answer_help(&message.chat).await;
        }
        Ok(message)
    }

    async fn answer_help(&self, chat: &ChatName) {
        let (Ok(author), Ok(text)) = (
            UserName::parse(BOT_NAME),
            MessageText::parse(HELP_TEXT, usize::MAX),
        ) else {
            return;
        };
        let answer = NewMessage {
            author,
            flags: UserFlags::default(),
            chat: chat.clone(),
            text,
            membership_required: false,
        };
        match self
            .ports
            .messages
            .post(&answer, self.ports.clock.now())
            .await
        {
            Ok(_) => info!(chat.name = %chat, "the bot answered /help in {chat}"),
            // The question is stored; a missing answer is not worth failing the request.
            Err(e) => {
                warn!(chat.name = %chat, error = %e, "the bot could not answer /help in {chat}")
            }
        }
    }

    /// `POST /api/loggedonly/getLastMessages`: the last `LastMessages` messages of a chat the
    /// caller belongs to, oldest first.
    ///
    /// # Errors
    /// `NotInChat`, `Unavailable`.
    pub async fn last_messages(&self, me: &LoggedIn, chat: &str) -> Result<Snapshot<Vec<Message>>> {
        let chat = self.chat_of_member(me, chat).await?;
        self.history_of(&chat, None, self.policy.last_messages)
            .await
    }

    /// `POST /api/loggedonly/getMessages` (extension): a page of history before a message id,
    /// oldest first.
    ///
    /// # Errors
    /// `Invalid` (limit), `NotInChat`, `Unavailable`.
    pub async fn message_history(
        &self,
        me: &LoggedIn,
        chat: &str,
        before: Option<u64>,
        limit: Option<u64>,
    ) -> Result<Snapshot<Vec<Message>>> {
        let max = self.policy.max_history_page;
        let limit = match limit {
            None => self.policy.last_messages.min(max),
            Some(n) if n >= 1 && n <= max as u64 => n as usize,
            Some(_) => {
                return Err(InvalidInput::new(
                    Field::Limit,
                    Problem::OutOfRange {
                        min: 1,
                        max: max as u64,
                    },
                )
                .into());
            }
        };
        let chat = self.chat_of_member(me, chat).await?;
        self.history_of(&chat, before.map(MessageId), limit).await
    }

    async fn history_of(
        &self,
        chat: &ChatName,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Snapshot<Vec<Message>>> {
        match self.ports.messages.history(chat, before, limit).await {
            Ok(page) => Ok(page),
            // Removed between the membership check and the read.
            Err(StoreError::NotFound(Missing::Chat)) => Err(Error::NotInChat),
            Err(e) => Err(Error::from_store(e)),
        }
    }
}
