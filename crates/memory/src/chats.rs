//! Chats and memberships.

use async_trait::async_trait;
use chatty_domain::ports::{ChatRepository, Conflict, Missing, StoreError};
use chatty_domain::{
    ChatName, ChatReport, Event, EventId, Snapshot, Timestamp, UserName, UserWithStatus,
};

use crate::{ChatState, MemoryStore, State};

impl State {
    fn chat(&self, chat: &ChatName) -> Result<&ChatState, StoreError> {
        self.chats
            .get(chat)
            .ok_or(StoreError::NotFound(Missing::Chat))
    }

    fn logged_in_members(&self, chat: &ChatState) -> Vec<UserWithStatus> {
        chat.members
            .keys()
            .filter_map(|m| self.sessions.get(m))
            .map(|s| UserWithStatus {
                user: s.session.user.clone(),
                flags: s.session.flags,
            })
            .collect()
    }

    fn report(
        &self,
        viewer: &UserName,
        name: &ChatName,
        chat: &ChatState,
        last: usize,
    ) -> ChatReport {
        let joined = chat.members.contains_key(viewer);
        let (messages, users) = if joined {
            let skip = chat.messages.len().saturating_sub(last);
            (
                chat.messages.iter().skip(skip).cloned().collect(),
                self.logged_in_members(chat),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        ChatReport {
            user: viewer.clone(),
            chat: name.clone(),
            joined,
            messages,
            users,
        }
    }

    pub(crate) fn as_of(&self) -> EventId {
        EventId(self.last_event_id)
    }
}

#[async_trait]
impl ChatRepository for MemoryStore {
    async fn create_chat(&self, chat: &ChatName, now: Timestamp) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        if state.chats.contains_key(chat) {
            return Err(StoreError::Conflict(Conflict::ChatName));
        }
        state.chats.insert(chat.clone(), ChatState::default());
        state.append(
            Event::chat_created(chat, now),
            self.limits.event_retention_count,
        );
        Ok(())
    }

    async fn remove_chat(&self, chat: &ChatName, now: Timestamp) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        let Some(removed) = state.chats.remove(chat) else {
            return Err(StoreError::NotFound(Missing::Chat));
        };
        for (member, since) in removed.members {
            state.membership_ended(&member, chat, since);
        }
        state.append(
            Event::chat_removed(chat, now),
            self.limits.event_retention_count,
        );
        Ok(())
    }

    async fn join(
        &self,
        user: &UserName,
        chat: &ChatName,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        let session = state
            .sessions
            .get(user)
            .map(|s| (s.session.user.clone(), s.session.flags));
        let room = state
            .chats
            .get_mut(chat)
            .ok_or(StoreError::NotFound(Missing::Chat))?;
        let Some((user, flags)) = session else {
            return Err(StoreError::NotFound(Missing::Session));
        };
        if room.members.contains_key(&user) {
            return Err(StoreError::Conflict(Conflict::Membership));
        }
        let since = EventId(state.last_event_id + 1);
        if let Some(room) = state.chats.get_mut(chat) {
            room.members.insert(user.clone(), since);
        }
        state.append_all(
            Event::joined(&user, flags, chat, now),
            self.limits.event_retention_count,
        );
        Ok(())
    }

    async fn leave(
        &self,
        user: &UserName,
        chat: &ChatName,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        let room = state
            .chats
            .get_mut(chat)
            .ok_or(StoreError::NotFound(Missing::Chat))?;
        let Some((user, since)) = room.members.remove_entry(user) else {
            return Err(StoreError::NotFound(Missing::Membership));
        };
        state.membership_ended(&user, chat, since);
        state.append_all(
            Event::left(&user, chat, now),
            self.limits.event_retention_count,
        );
        Ok(())
    }

    async fn is_member(&self, user: &UserName, chat: &ChatName) -> Result<bool, StoreError> {
        Ok(self
            .lock()?
            .chats
            .get(chat)
            .is_some_and(|c| c.members.contains_key(user)))
    }

    async fn chat_names(&self) -> Result<Vec<ChatName>, StoreError> {
        Ok(self.read()?.chats.keys().cloned().collect())
    }

    async fn reports(
        &self,
        viewer: &UserName,
        only: Option<&ChatName>,
        last_messages: usize,
    ) -> Result<Snapshot<Vec<ChatReport>>, StoreError> {
        let state = self.read()?;
        let value = match only {
            Some(name) => vec![state.report(viewer, name, state.chat(name)?, last_messages)],
            None => state
                .chats
                .iter()
                .map(|(name, chat)| state.report(viewer, name, chat, last_messages))
                .collect(),
        };
        Ok(Snapshot {
            value,
            as_of: state.as_of(),
        })
    }

    async fn members(&self, chat: &ChatName) -> Result<Snapshot<Vec<UserWithStatus>>, StoreError> {
        let state = self.read()?;
        Ok(Snapshot {
            value: state.logged_in_members(state.chat(chat)?),
            as_of: state.as_of(),
        })
    }
}
