//! An in-memory implementation of every storage port of chatty, used by dev mode and by the
//! fast tests.
//!
//! All tables sit behind one read-write lock, so each port method is atomic exactly as a
//! Postgres transaction is: a join, its membership and its events happen together or not at
//! all. Readers share it; the lock is never held across an `.await`.
//!
//! Events are stored once in a shared log bounded by count and age; each session reads it
//! through its own view (what it may read was fixed when each event was appended) and only
//! the sessions an event is for are woken. What retention drops is remembered so a reader
//! gets a `ResyncEvent` instead of a silent gap.

mod accounts;
mod chats;
mod events;
mod mailer;
mod messages;
mod outbox;
mod sessions;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chatty_domain::EventId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chatty_domain::ports::StoreError;
use chatty_domain::{Account, ChatName, Message, UserName};
use tokio::sync::watch;

pub use mailer::LogMailer;

use events::{Log, SessionState};
use outbox::OutboxRow;

/// Bounds that keep the dev store's memory in check.
#[derive(Debug, Clone)]
pub struct MemoryLimits {
    /// Events kept in the log (`EventRetentionCount`).
    pub event_retention_count: usize,
    /// Messages kept per chat; older ones are forgotten.
    pub messages_per_chat: usize,
}

impl Default for MemoryLimits {
    fn default() -> Self {
        Self {
            event_retention_count: 10_000,
            messages_per_chat: 10_000,
        }
    }
}

/// The in-memory store: implements every storage port of `chatty_domain::ports`.
#[derive(Default)]
pub struct MemoryStore {
    /// Readers (the event streams and polls, woken together) share the lock; writers take it
    /// alone.
    state: RwLock<State>,
    limits: MemoryLimits,
    unavailable: AtomicBool,
}

#[derive(Default)]
struct State {
    /// Keyed by name, which compares case-insensitively.
    accounts: HashMap<UserName, Account>,
    /// Case-folded e-mail addresses of all accounts.
    emails: BTreeSet<String>,
    chats: BTreeMap<ChatName, ChatState>,
    last_message_id: u64,
    sessions: HashMap<UserName, SessionState>,
    last_event_id: u64,
    log: Log,
    outbox: BTreeMap<u64, OutboxRow>,
    last_mail_id: u64,
    /// The sessions to wake once the lock is released (see `Locked`).
    woken: Vec<Arc<watch::Sender<()>>>,
}

#[derive(Default)]
struct ChatState {
    /// Members, each with the id of the first event of its membership.
    members: BTreeMap<UserName, EventId>,
    messages: VecDeque<Message>,
}

impl MemoryStore {
    pub fn new(limits: MemoryLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Fault switch: while set, every operation fails with `StoreError::Unavailable` and
    /// changes nothing, as an unreachable database would.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    fn check_available(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "the in-memory store is switched off".into(),
            ));
        }
        Ok(())
    }

    /// The state, for a change.
    fn lock(&self) -> Result<Locked<'_>, StoreError> {
        self.check_available()?;
        // A panic while holding the lock cannot leave a table half-written: every method
        // checks before it writes. So the state stays usable after one.
        let guard = self.state.write().unwrap_or_else(PoisonError::into_inner);
        Ok(Locked { guard: Some(guard) })
    }

    /// The state, to read only; shared with other readers.
    fn read(&self) -> Result<RwLockReadGuard<'_, State>, StoreError> {
        self.check_available()?;
        Ok(self.state.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The state locked for a change. The sessions an append woke are woken when it is dropped,
/// after the lock is released: waking a thousand readers takes a while (a wake on another
/// thread is a system call), and they would only wait for the lock they are woken to take.
struct Locked<'a> {
    guard: Option<RwLockWriteGuard<'a, State>>,
}

impl std::ops::Deref for Locked<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        // Only `drop` empties it.
        self.guard.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.guard.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            let woken = std::mem::take(&mut guard.woken);
            drop(guard);
            for wake in woken {
                wake.send_replace(());
            }
        }
    }
}
