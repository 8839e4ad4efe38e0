//! Messages.

use async_trait::async_trait;
use chatty_domain::ports::{MessageRepository, Missing, StoreError};
use chatty_domain::{ChatName, Event, Message, MessageId, NewMessage, Snapshot, Timestamp};

use crate::MemoryStore;

#[async_trait]
impl MessageRepository for MemoryStore {
    async fn post(&self, message: &NewMessage, now: Timestamp) -> Result<Message, StoreError> {
        let mut state = self.lock()?;
        let next_id = state.last_message_id + 1;
        let chat = state
            .chats
            .get_mut(&message.chat)
            .ok_or(StoreError::NotFound(Missing::Chat))?;
        if message.membership_required && !chat.members.contains_key(&message.author) {
            return Err(StoreError::NotFound(Missing::Membership));
        }
        let stored = Message {
            user: message.author.clone(),
            flags: message.flags,
            chat: message.chat.clone(),
            id: MessageId(next_id),
            text: message.text.as_str().to_owned(),
            time: now,
        };
        chat.messages.push_back(stored.clone());
        while chat.messages.len() > self.limits.messages_per_chat {
            chat.messages.pop_front();
        }
        state.last_message_id = next_id;
        state.append(
            Event::Message(stored.clone()),
            self.limits.event_retention_count,
        );
        Ok(stored)
    }

    async fn history(
        &self,
        chat: &ChatName,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Snapshot<Vec<Message>>, StoreError> {
        let state = self.read()?;
        let room = state
            .chats
            .get(chat)
            .ok_or(StoreError::NotFound(Missing::Chat))?;
        let end = match before {
            Some(before) => room.messages.partition_point(|m| m.id < before),
            None => room.messages.len(),
        };
        let start = end.saturating_sub(limit);
        Ok(Snapshot {
            value: room.messages.range(start..end).cloned().collect(),
            as_of: state.as_of(),
        })
    }
}
