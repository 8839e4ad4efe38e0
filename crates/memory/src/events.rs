//! The event log: one shared log, read through each session's view of it, and waking.
//!
//! Events are stored once, whatever their audience; who may read an event is decided at read
//! time from facts fixed when it was appended: a session reads what was appended from its own
//! login on, minus what its audience excludes, and a chat's events only while the session was
//! a member (from the join, up to the leave or the chat's removal). Fan-out on write would copy
//! a pointer into every recipient's inbox: with 10,000 sessions in one chat that is 10,000
//! writes per event and, for the logins and joins that build such a crowd, memory quadratic in
//! its size.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use async_trait::async_trait;
use chatty_domain::ports::{EventLog, Missing, SessionKey, StoreError, Wakeup};
use chatty_domain::{
    Audience, ChatName, Delivery, Event, EventId, Session, StoredEvent, Timestamp, UserName,
};
use tokio::sync::watch;

use crate::{ChatState, MemoryStore, State};

/// A live session with its server-side cursor and its ended memberships.
pub(crate) struct SessionState {
    pub(crate) session: Session,
    /// Memberships that ended while this session was live: their chats' events from that time
    /// may still be unread.
    ended: Vec<EndedMembership>,
    /// The server-side cursor of the legacy poll: the last id taken.
    cursor: EventId,
    /// Bumped whenever an event this session may read is appended; dropped with the session,
    /// which also wakes every waiter.
    wake: Arc<watch::Sender<()>>,
}

/// A membership that is over: the chat's events with ids in `from..until` were the member's.
struct EndedMembership {
    chat: ChatName,
    from: EventId,
    until: EventId,
}

impl SessionState {
    pub(crate) fn new(session: Session) -> Self {
        let cursor = EventId(session.first_event.0.saturating_sub(1));
        Self {
            session,
            ended: Vec::new(),
            cursor,
            wake: Arc::new(watch::Sender::new(())),
        }
    }
}

/// The shared log, bounded by count and age.
#[derive(Default)]
pub(crate) struct Log {
    events: VecDeque<Arc<StoredEvent>>,
    /// The highest id retention dropped, and that event's time.
    dropped_through: EventId,
    dropped_time: Timestamp,
}

impl Log {
    fn drop_oldest(&mut self) -> bool {
        match self.events.pop_front() {
            Some(dropped) => {
                self.dropped_through = dropped.id;
                self.dropped_time = dropped.event.time();
                true
            }
            None => false,
        }
    }

    fn oldest_kept(&self) -> EventId {
        self.events
            .front()
            .map_or(EventId(self.dropped_through.0 + 1), |e| e.id)
    }
}

/// Whether `reader` may read `event`, as decided by the state when it was appended.
fn visible(
    reader: &SessionState,
    chats: &BTreeMap<ChatName, ChatState>,
    event: &StoredEvent,
) -> bool {
    if event.id < reader.session.first_event {
        return false;
    }
    match event.event.audience() {
        Audience::Everyone => true,
        Audience::EveryoneBut(user) => *user != reader.session.user,
        Audience::ChatMembers(chat) => {
            let member_now = chats
                .get(chat)
                .and_then(|c| c.members.get(&reader.session.user))
                .is_some_and(|since| *since <= event.id);
            member_now
                || reader
                    .ended
                    .iter()
                    .any(|m| m.chat == *chat && m.from <= event.id && event.id < m.until)
        }
    }
}

/// Deliveries for `reader` after `after`, led by a resync notice when retention dropped
/// events it had not read; and the id up to which the log was scanned.
fn read(
    log: &Log,
    chats: &BTreeMap<ChatName, ChatState>,
    reader: &SessionState,
    after: EventId,
    limit: usize,
) -> (Vec<Delivery>, EventId) {
    let mut out = Vec::new();
    let mut after = after;
    if after < log.dropped_through {
        let first_missed = EventId(after.0 + 1).max(reader.session.first_event);
        if first_missed <= log.dropped_through {
            out.push(Delivery::Resync {
                id: log.dropped_through,
                time: log.dropped_time,
            });
        }
        after = log.dropped_through;
    }
    let mut scanned = after;
    let start = log.events.partition_point(|e| e.id <= after);
    for event in log.events.range(start..) {
        if out.len() >= limit {
            break;
        }
        scanned = event.id;
        if visible(reader, chats, event) {
            out.push(Delivery::Event(Arc::clone(event)));
        }
    }
    (out, scanned)
}

impl State {
    /// Appends `event` with the next id and wakes the sessions that may read it.
    pub(crate) fn append(&mut self, event: Event, retention: usize) {
        self.last_event_id += 1;
        let stored = Arc::new(StoredEvent::new(EventId(self.last_event_id), event));
        let woken = &mut self.woken;
        let mut wake = |s: &SessionState| woken.push(Arc::clone(&s.wake));
        match stored.event.audience() {
            Audience::Everyone => self.sessions.values().for_each(wake),
            Audience::EveryoneBut(user) => self
                .sessions
                .values()
                .filter(|s| &s.session.user != user)
                .for_each(wake),
            Audience::ChatMembers(chat) => {
                if let Some(chat) = self.chats.get(chat) {
                    for member in chat.members.keys() {
                        if let Some(s) = self.sessions.get(member) {
                            wake(s);
                        }
                    }
                }
            }
        }
        self.log.events.push_back(stored);
        while self.log.events.len() > retention.max(1) {
            self.log.drop_oldest();
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

    /// Records that `user`'s membership of `chat`, held since `from`, ends before the next
    /// event, so that the events of its time stay readable.
    pub(crate) fn membership_ended(&mut self, user: &UserName, chat: &ChatName, from: EventId) {
        let until = self.next_event_id();
        let oldest = self.log.oldest_kept();
        if let Some(s) = self.sessions.get_mut(user) {
            // Memberships whose events are all gone from the log can no longer matter.
            s.ended.retain(|m| m.until > oldest);
            if from < until && until > s.session.first_event {
                s.ended.push(EndedMembership {
                    chat: chat.clone(),
                    from,
                    until,
                });
            }
        }
    }

    fn session(&self, key: &SessionKey) -> Result<&SessionState, StoreError> {
        self.sessions
            .get(&key.user)
            .filter(|s| s.session.token.matches(&key.token))
            .ok_or(StoreError::NotFound(Missing::Session))
    }
}

#[async_trait]
impl EventLog for MemoryStore {
    async fn last_id(&self) -> Result<EventId, StoreError> {
        Ok(EventId(self.read()?.last_event_id))
    }

    async fn subscribe(&self, reader: &SessionKey) -> Result<Wakeup, StoreError> {
        let state = self.read()?;
        let mut rx = state.session(reader)?.wake.subscribe();
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
        let state = self.read()?;
        let session = state.session(reader)?;
        Ok(read(&state.log, &state.chats, session, after, limit).0)
    }

    async fn take(&self, reader: &SessionKey, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let mut guard = self.lock()?;
        let state = &mut *guard;
        let session = state
            .sessions
            .get_mut(&reader.user)
            .filter(|s| s.session.token.matches(&reader.token))
            .ok_or(StoreError::NotFound(Missing::Session))?;
        let (batch, scanned) = read(&state.log, &state.chats, session, session.cursor, limit);
        // Events skipped as not this session's stay so: the cursor moves past them too.
        session.cursor = scanned.max(session.cursor);
        Ok(batch)
    }

    async fn prune(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        let mut state = self.lock()?;
        let mut dropped = 0;
        while state
            .log
            .events
            .front()
            .is_some_and(|e| e.event.time() < cutoff)
        {
            state.log.drop_oldest();
            dropped += 1;
        }
        Ok(dropped)
    }
}
