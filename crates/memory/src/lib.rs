//! An in-memory implementation of every storage port of chatty, used by dev mode and by the
//! fast tests.
//!
//! All tables sit behind one mutex, so each port method is atomic exactly as a Postgres
//! transaction is: a join, its membership and its events happen together or not at all. The
//! mutex is never held across an `.await`.
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
use std::sync::{Mutex, MutexGuard, PoisonError};

use chatty_domain::ports::StoreError;
use chatty_domain::{Account, ChatName, Message, UserName};

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
    state: Mutex<State>,
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

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "the in-memory store is switched off".into(),
            ));
        }
        // A panic while holding the lock cannot leave a table half-written: every method
        // checks before it writes. So the state stays usable after one.
        Ok(self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
