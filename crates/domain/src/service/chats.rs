//! Chats: joining, leaving, reports, administration.

use tracing::info;

use super::{LoggedIn, Services};
use crate::error::{Error, Result};
use crate::model::chat::{ChatReport, Snapshot};
use crate::model::name::ChatName;
use crate::model::user::UserWithStatus;
use crate::ports::{Conflict, Missing, StoreError};

/// A chat name from a client that must name an existing chat: one that breaks the naming rules
/// cannot exist, so it gets the same answer as a missing one.
fn existing_chat(raw: &str) -> Result<ChatName> {
    ChatName::parse(raw).map_err(|_| Error::NoSuchChat)
}

impl Services {
    /// `POST /api/loggedonly/joinChat`: joins and returns the chat's report.
    ///
    /// # Errors
    /// `AlreadyInChat`, `NoSuchChat`, `NotLoggedIn`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(user.name = %me.user(), chat.name = %chat))]
    pub async fn join_chat(&self, me: &LoggedIn, chat: &str) -> Result<Snapshot<ChatReport>> {
        let chat = existing_chat(chat)?;
        match self
            .ports
            .chats
            .join(me.user(), &chat, self.ports.clock.now())
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(Conflict::Membership)) => return Err(Error::AlreadyInChat),
            Err(StoreError::NotFound(Missing::Chat)) => return Err(Error::NoSuchChat),
            Err(StoreError::NotFound(Missing::Session)) => return Err(Error::NotLoggedIn),
            Err(e) => return Err(Error::from_store(e)),
        }
        info!(user.name = %me.user(), chat.name = %chat, "{} joined {chat}", me.user());
        self.single_report(me, &chat).await
    }

    /// `POST /api/loggedonly/leaveChat`.
    ///
    /// # Errors
    /// `NoSuchChat`, `NotInChat`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(user.name = %me.user(), chat.name = %chat))]
    pub async fn leave_chat(&self, me: &LoggedIn, chat: &str) -> Result<()> {
        let chat = existing_chat(chat)?;
        match self
            .ports
            .chats
            .leave(me.user(), &chat, self.ports.clock.now())
            .await
        {
            Ok(()) => {
                info!(user.name = %me.user(), chat.name = %chat, "{} left {chat}", me.user());
                Ok(())
            }
            Err(StoreError::NotFound(Missing::Chat)) => Err(Error::NoSuchChat),
            Err(StoreError::NotFound(Missing::Membership)) => Err(Error::NotInChat),
            Err(e) => Err(Error::from_store(e)),
        }
    }

    /// `GET /api/loggedonly/getChats`: a report on every chat, sorted by name.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn chat_reports(&self, me: &LoggedIn) -> Result<Snapshot<Vec<ChatReport>>> {
        self.ports
            .chats
            .reports(me.user(), None, self.policy.last_messages)
            .await
            .map_err(Error::from_store)
    }

    async fn single_report(&self, me: &LoggedIn, chat: &ChatName) -> Result<Snapshot<ChatReport>> {
        let snapshot = match self
            .ports
            .chats
            .reports(me.user(), Some(chat), self.policy.last_messages)
            .await
        {
            Ok(snapshot) => snapshot,
            // Removed right after the join.
            Err(StoreError::NotFound(Missing::Chat)) => return Err(Error::NoSuchChat),
            Err(e) => return Err(Error::from_store(e)),
        };
        let report = snapshot.value.into_iter().next().ok_or(Error::NoSuchChat)?;
        Ok(Snapshot {
            value: report,
            as_of: snapshot.as_of,
        })
    }

    /// `POST /api/loggedonly/getUsers`: the logged-in members of a chat the caller belongs to.
    ///
    /// # Errors
    /// `NotInChat`, `Unavailable`.
    pub async fn users_in_chat(
        &self,
        me: &LoggedIn,
        chat: &str,
    ) -> Result<Snapshot<Vec<UserWithStatus>>> {
        let chat = self.chat_of_member(me, chat).await?;
        match self.ports.chats.members(&chat).await {
            Ok(members) => Ok(members),
            Err(StoreError::NotFound(Missing::Chat)) => Err(Error::NotInChat),
            Err(e) => Err(Error::from_store(e)),
        }
    }

    /// The chat named `raw` if the caller is a member of it.
    pub(super) async fn chat_of_member(&self, me: &LoggedIn, raw: &str) -> Result<ChatName> {
        let chat = ChatName::parse(raw).map_err(|_| Error::NotInChat)?;
        let member = self
            .ports
            .chats
            .is_member(me.user(), &chat)
            .await
            .map_err(Error::from_store)?;
        if member {
            Ok(chat)
        } else {
            Err(Error::NotInChat)
        }
    }

    /// `POST /api/adminonly/createChat`.
    ///
    /// # Errors
    /// `AdminOnly`, `Invalid`, `ChatExists`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(user.name = %me.user(), chat.name = %chat))]
    pub async fn create_chat(&self, me: &LoggedIn, chat: &str) -> Result<()> {
        self.require_admin(me)?;
        let chat = ChatName::parse(chat)?;
        self.create_chat_unchecked(&chat).await?;
        info!(user.name = %me.user(), chat.name = %chat, "{} created {chat}", me.user());
        Ok(())
    }

    /// `POST /api/adminonly/removeChat`: removes a chat with its messages and memberships.
    ///
    /// # Errors
    /// `AdminOnly`, `NoSuchChat`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(user.name = %me.user(), chat.name = %chat))]
    pub async fn remove_chat(&self, me: &LoggedIn, chat: &str) -> Result<()> {
        self.require_admin(me)?;
        let chat = existing_chat(chat)?;
        match self
            .ports
            .chats
            .remove_chat(&chat, self.ports.clock.now())
            .await
        {
            Ok(()) => {
                info!(user.name = %me.user(), chat.name = %chat, "{} removed {chat}", me.user());
                Ok(())
            }
            Err(StoreError::NotFound(Missing::Chat)) => Err(Error::NoSuchChat),
            Err(e) => Err(Error::from_store(e)),
        }
    }

    /// Creates the configured default chats at start-up; those that exist are left alone.
    /// Returns the chats created.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn ensure_chats(&self, chats: &[ChatName]) -> Result<Vec<ChatName>> {
        let mut created = Vec::new();
        for chat in chats {
            match self.create_chat_unchecked(chat).await {
                Ok(()) => created.push(chat.clone()),
                Err(Error::ChatExists) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(created)
    }

    async fn create_chat_unchecked(&self, chat: &ChatName) -> Result<()> {
        match self
            .ports
            .chats
            .create_chat(chat, self.ports.clock.now())
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(Conflict::ChatName)) => Err(Error::ChatExists),
            Err(e) => Err(Error::from_store(e)),
        }
    }
}
