//! Sessions: login, activity, logout, expiry.

use async_trait::async_trait;
use chatty_domain::ports::{Conflict, SessionKey, SessionRepository, StoreError};
use chatty_domain::{ChatName, Event, LoginMode, NewSession, Session, Timestamp, UserName};

use crate::events::SessionState;
use crate::{MemoryStore, State};

impl State {
    /// Ends the session of `user`: drops its memberships and appends the logout events.
    pub(crate) fn end_session(&mut self, user: &UserName, now: Timestamp, retention: usize) {
        let Some(ended) = self.sessions.remove(user) else {
            return;
        };
        let user = ended.session.user;
        let mut left: Vec<ChatName> = Vec::new();
        for (name, chat) in &mut self.chats {
            if chat.members.remove(&user).is_some() {
                left.push(name.clone());
            }
        }
        self.append_all(Event::logged_out(&user, &left, now), retention);
    }
}

#[async_trait]
impl SessionRepository for MemoryStore {
    async fn start(
        &self,
        new: &NewSession,
        mode: LoginMode,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let retention = self.limits.event_retention_count;
        let mut state = self.lock()?;
        if let Some(existing) = state.sessions.remove(&new.user) {
            if mode == LoginMode::Guest {
                state.sessions.insert(new.user.clone(), existing);
                return Err(StoreError::Conflict(Conflict::Session));
            }
            // Replaced, not logged out: the memberships stay (api.md §2 item 12).
            state.append(Event::logout(&existing.session.user, now), retention);
        }
        let session = Session {
            user: new.user.clone(),
            token: new.token.clone(),
            flags: new.flags,
            registered: new.registered,
            last_active: now,
            first_event: state.next_event_id(),
        };
        state
            .sessions
            .insert(new.user.clone(), SessionState::new(session.clone()));
        state.append(Event::login(&new.user, now), retention);
        Ok(session)
    }

    async fn touch(&self, key: &SessionKey, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let mut state = self.lock()?;
        Ok(state
            .sessions
            .get_mut(&key.user)
            .filter(|s| s.session.token.matches(&key.token))
            .map(|s| {
                s.session.last_active = s.session.last_active.max(now);
                s.session.clone()
            }))
    }

    async fn end(
        &self,
        key: &SessionKey,
        any_token: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock()?;
        let live = state
            .sessions
            .get(&key.user)
            .is_some_and(|s| any_token || s.session.token.matches(&key.token));
        if live {
            state.end_session(&key.user, now, self.limits.event_retention_count);
        }
        Ok(live)
    }

    async fn end_inactive(
        &self,
        cutoff: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<UserName>, StoreError> {
        let mut state = self.lock()?;
        let mut idle: Vec<UserName> = state
            .sessions
            .values()
            .filter(|s| s.session.last_active < cutoff)
            .map(|s| s.session.user.clone())
            .collect();
        idle.sort();
        for user in &idle {
            state.end_session(user, now, self.limits.event_retention_count);
        }
        Ok(idle)
    }

    async fn is_logged_in(&self, user: &UserName) -> Result<bool, StoreError> {
        Ok(self.read()?.sessions.contains_key(user))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.read()?.sessions.len() as u64)
    }
}
