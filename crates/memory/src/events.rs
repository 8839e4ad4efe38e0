//! The event log: appending with fan-out to session inboxes, reading, waking.

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use chatty_domain::ports::{EventLog, Missing, SessionKey, StoreError, Wakeup};
use chatty_domain::{Audience, Delivery, Event, EventId, Session, StoredEvent, Timestamp};
use tokio::sync::watch;

use crate::{MemoryStore, State};

/// A live session with its inbox of events and its server-side cursor.
pub(crate) struct SessionState {
    pub(crate) session: Session,
    /// Events for this session, in id order.
    inbox: VecDeque<Arc<StoredEvent>>,
    /// The highest id retention dropped from the inbox, and that event's time.
    dropped_through: EventId,
    dropped_time: Timestamp,
    /// The server-side cursor of the legacy poll: the last id taken.
    cursor: EventId,
    /// Bumped on every append to the inbox; dropped with the session, which also wakes
    /// every waiter.
    wake: watch::Sender<()>,
}

impl SessionState {
    pub(crate) fn new(session: Session) -> Self {
        let cursor = EventId(session.first_event.0.saturating_sub(1));
        Self {
            session,
            inbox: VecDeque::new(),
            dropped_through: EventId(0),
            dropped_time: Timestamp::default(),
            cursor,
            wake: watch::Sender::new(()),
        }
    }

    fn push(&mut self, event: &Arc<StoredEvent>, retention: usize) {
        self.inbox.push_back(Arc::clone(event));
        while self.inbox.len() > retention {
            self.drop_oldest();
        }
        self.wake.send_replace(());
    }

    fn drop_oldest(&mut self) -> bool {
        match self.inbox.pop_front() {
            Some(dropped) => {
                self.dropped_through = dropped.id;
                self.dropped_time = dropped.event.time();
                true
            }
            None => false,
        }
    }

    /// Deliveries after `after`, led by a resync notice when retention dropped some of them.
    fn read(&self, after: EventId, limit: usize) -> Vec<Delivery> {
        let mut out = Vec::new();
        let mut after = after;
        if after < self.dropped_through {
            out.push(Delivery::Resync {
                id: self.dropped_through,
                time: self.dropped_time,
            });
            after = self.dropped_through;
        }
        let start = self.inbox.partition_point(|e| e.id <= after);
        out.extend(
            self.inbox
                .range(start..)
                .take(limit.saturating_sub(out.len()))
                .map(|e| Delivery::Event(Arc::clone(e))),
        );
        out
    }
}

impl State {
    /// Appends `event` with the next id and hands it to every session in its audience, as the
    /// state is now.
    pub(crate) fn append(&mut self, event: Event, retention: usize) {
        self.last_event_id += 1;
        let stored = Arc::new(StoredEvent {
            id: EventId(self.last_event_id),
            event,
        });
        match stored.event.audience() {
            Audience::Everyone => {
                for s in self.sessions.values_mut() {
                    s.push(&stored, retention);
                }
            }
            Audience::EveryoneBut(user) => {
                for s in self
                    .sessions
                    .values_mut()
                    .filter(|s| &s.session.user != user)
                {
                    s.push(&stored, retention);
                }
            }
            Audience::ChatMembers(chat) => {
                if let Some(chat) = self.chats.get(chat) {
                    for member in &chat.members {
                        if let Some(s) = self.sessions.get_mut(member) {
                            s.push(&stored, retention);
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn append_all(&mut self, events: impl IntoIterator<Item = Event>, retention: usize) {
        for event in events {
            self.append(event, retention);
        }
    }

    pub(crate) fn next_event_id(&self) -> EventId {
        EventId(self.last_event_id + 1)
    }

    fn session_mut(&mut self, key: &SessionKey) -> Result<&mut SessionState, StoreError> {
        self.sessions
            .get_mut(&key.user)
            .filter(|s| s.session.token.matches(&key.token))
            .ok_or(StoreError::NotFound(Missing::Session))
    }
}

#[async_trait]
impl EventLog for MemoryStore {
    async fn last_id(&self) -> Result<EventId, StoreError> {
        Ok(EventId(self.lock()?.last_event_id))
    }

    async fn subscribe(&self, reader: &SessionKey) -> Result<Wakeup, StoreError> {
        let mut state = self.lock()?;
        let mut rx = state.session_mut(reader)?.wake.subscribe();
        Ok(Box::pin(async move {
            // An error means the session ended, which is also a reason to wake.
            let _ = rx.changed().await;
        }))
    }

    async fn read_after(
        &self,
        reader: &SessionKey,
        after: EventId,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut state = self.lock()?;
        Ok(state.session_mut(reader)?.read(after, limit))
    }

    async fn take(&self, reader: &SessionKey, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let mut state = self.lock()?;
        let session = state.session_mut(reader)?;
        let batch = session.read(session.cursor, limit);
        if let Some(last) = batch.last() {
            session.cursor = last.id();
        }
        Ok(batch)
    }

    async fn prune(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        let mut state = self.lock()?;
        let mut dropped = 0;
        for session in state.sessions.values_mut() {
            while session
                .inbox
                .front()
                .is_some_and(|e| e.event.time() < cutoff)
            {
                session.drop_oldest();
                dropped += 1;
            }
        }
        Ok(dropped)
    }
}
