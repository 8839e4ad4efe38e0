//! The use cases: one method per API action on [`Services`], grouped by area. Every rule of
//! the product lives here: validation, who may do what (logged in, member, admin), which
//! events an action produces.

mod accounts;
mod chats;
mod events;
mod mail;
mod messages;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

use crate::model::name::UserName;
use crate::model::session::Session;
use crate::model::user::Account;
use crate::ports::{
    AccountRepository, ChatRepository, Clock, EventLog, MailOutbox, Mailer, MessageRepository,
    PasswordHasher, SessionKey, SessionRepository, TokenSource,
};

pub use events::{PollOutcome, PollRequest};
pub use mail::{MailPolicy, MailRound};

/// The adapters the use cases run on, chosen by the composition root.
#[derive(Clone)]
pub struct Ports {
    pub accounts: Arc<dyn AccountRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub chats: Arc<dyn ChatRepository>,
    pub messages: Arc<dyn MessageRepository>,
    pub events: Arc<dyn EventLog>,
    pub outbox: Arc<dyn MailOutbox>,
    pub mailer: Arc<dyn Mailer>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
    pub tokens: Arc<dyn TokenSource>,
}

impl Ports {
    /// Every storage port from one store that implements them all, with the other adapters.
    pub fn on_store<S>(
        store: Arc<S>,
        mailer: Arc<dyn Mailer>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
        tokens: Arc<dyn TokenSource>,
    ) -> Self
    where
        S: AccountRepository
            + SessionRepository
            + ChatRepository
            + MessageRepository
            + EventLog
            + MailOutbox
            + 'static,
    {
        Self {
            accounts: store.clone(),
            sessions: store.clone(),
            chats: store.clone(),
            messages: store.clone(),
            events: store.clone(),
            outbox: store,
            mailer,
            hasher,
            clock,
            tokens,
        }
    }
}

/// The settings the rules depend on. Defaults are those of the original server and api.md.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Messages in chat reports and `getLastMessages` (`LastMessages`).
    pub last_messages: usize,
    /// Longest message text in characters (`MaxMessageChars`).
    pub max_message_chars: usize,
    /// Names that act as admins once registered and verified (`Admins`).
    pub admins: Vec<UserName>,
    /// How long an activation link works (`ActivationTokenTtl`).
    pub activation_ttl: Duration,
    /// How long a password-reset token works (`ResetTokenTtl`).
    pub reset_ttl: Duration,
    /// A session without activity for longer than this is ended (`InactivityTimeout`).
    pub inactivity_timeout: Duration,
    /// Events older than this are dropped (`EventRetention`).
    pub event_retention: Duration,
    /// Absolute base address of the server, used in the links of mails (`PublicUrl`).
    pub public_url: String,
    /// Address of the web client's password-reset form; reset mails link to it when set.
    pub reset_form_url: Option<String>,
    /// Most events one poll response may carry (`limit=` is capped by it).
    pub max_poll_batch: usize,
    /// Most messages one history page may carry.
    pub max_history_page: usize,
    pub mail: MailPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            last_messages: 50,
            max_message_chars: 4000,
            admins: Vec::new(),
            activation_ttl: Duration::from_secs(48 * 3600),
            reset_ttl: Duration::from_secs(3600),
            inactivity_timeout: Duration::from_secs(60),
            event_retention: Duration::from_secs(600),
            public_url: "http://localhost:8080".to_owned(),
            reset_form_url: None,
            max_poll_batch: 1000,
            max_history_page: 500,
            mail: MailPolicy::default(),
        }
    }
}

impl Policy {
    /// Admins are registered, verified accounts that are listed in `Admins` or carry the
    /// stored admin flag (api.md §2 item 1).
    pub fn is_admin(&self, account: &Account) -> bool {
        account.verified && (account.admin || self.admins.contains(&account.name))
    }
}

/// Proof that a request comes from a live session: only [`Services`] makes one, after
/// checking the session's token.
#[derive(Debug, Clone)]
pub struct LoggedIn(Session);

impl LoggedIn {
    pub fn session(&self) -> &Session {
        &self.0
    }
    pub fn user(&self) -> &UserName {
        &self.0.user
    }
    pub fn key(&self) -> SessionKey {
        SessionKey {
            user: self.0.user.clone(),
            token: self.0.token.clone(),
        }
    }
}

/// The name of the server bot that answers `/help` (api.md §1). Nobody may take it.
pub const BOT_NAME: &str = "Bot";

/// The use cases. Cheap to clone: every request and every open stream holds one.
#[derive(Clone)]
pub struct Services {
    ports: Arc<Ports>,
    policy: Arc<Policy>,
}

impl Services {
    pub fn new(ports: Ports, policy: Policy) -> Self {
        Self {
            ports: Arc::new(ports),
            policy: Arc::new(policy),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    fn is_reserved(name: &UserName) -> bool {
        name.folded() == BOT_NAME.to_lowercase()
    }
}
