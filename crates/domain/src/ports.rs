//! The ports: what the use cases need from the outside world, as traits that adapters
//! implement (in memory, Postgres, SMTP, the operating system).
//!
//! Every state-changing method that produces events appends them in the same atomic step as
//! the change (one lock in memory, one transaction in Postgres), so that a reader never sees a
//! change without its event or an event without its change, and so that each event's audience
//! is evaluated against the state at the moment of the change. The events to append are built
//! with the constructors on [`Event`] named in each method's contract.
//!
//! Time is always passed in (`now`): adapters never read a clock, so a test clock controls
//! every store the same way.

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

use crate::model::chat::{ChatReport, Snapshot};
#[allow(unused_imports, reason = "named in the contracts' doc links")]
use crate::model::event::Event;
use crate::model::event::{Delivery, EventId};
use crate::model::mail::{MailId, MailJob, OutgoingMail};
use crate::model::message::{Message, MessageId, NewMessage};
use crate::model::name::{ChatName, UserName};
use crate::model::secret::{Password, PasswordHash, Token};
use crate::model::session::{LoginMode, NewSession, Session};
use crate::model::time::Timestamp;
use crate::model::user::{Account, ExpiringToken, NewAccount, UserWithStatus};

/// A boxed error from an adapter's library, kept as the source for logs.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What was already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// A registered account has this name (case-insensitively).
    UserName,
    /// A registered account has this e-mail address (case-insensitively).
    Email,
    /// A chat has this name.
    ChatName,
    /// The user is already a member of the chat.
    Membership,
    /// The name is logged in.
    Session,
}

/// What was not there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Account,
    Chat,
    Membership,
    /// No live session with that name and token.
    Session,
}

/// Errors of the store ports.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("conflict: {0:?} exists")]
    Conflict(Conflict),
    #[error("not found: {0:?}")]
    NotFound(Missing),
    /// The store cannot be reached or failed; the operation had no effect.
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
}

/// The identity of a session as a client presents it: a name and its secret token.
#[derive(Debug, Clone)]
pub struct SessionKey {
    pub user: UserName,
    pub token: Token,
}

/// Registered accounts, together with the mail their changes queue.
#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// Stores `account` and queues `mail` in one atomic step.
    ///
    /// # Errors
    /// MUST fail with `Conflict(UserName)` when an account with the same name exists
    /// (case-insensitively) and `Conflict(Email)` when one has the same address
    /// (case-insensitively); nothing is stored then.
    async fn register(&self, account: &NewAccount, mail: &OutgoingMail) -> Result<(), StoreError>;

    /// The account with this name, compared case-insensitively.
    async fn find(&self, name: &UserName) -> Result<Option<Account>, StoreError>;

    /// Marks the e-mail address verified. Idempotent.
    ///
    /// # Errors
    /// `NotFound(Account)`.
    async fn mark_verified(&self, name: &UserName) -> Result<(), StoreError>;

    /// Replaces the activation token of an unverified account and queues `mail`, atomically.
    /// Returns `false`, changing nothing, when there is no such account or it is verified.
    async fn renew_activation(
        &self,
        name: &UserName,
        activation: &ExpiringToken,
        mail: &OutgoingMail,
    ) -> Result<bool, StoreError>;

    /// Stores a password-reset token (replacing any earlier one) and queues `mail`,
    /// atomically. Returns `false`, changing nothing, when there is no such account.
    async fn start_password_reset(
        &self,
        name: &UserName,
        reset: &ExpiringToken,
        mail: &OutgoingMail,
    ) -> Result<bool, StoreError>;

    /// Sets a new password if the account's reset token accepts `token` at `now`
    /// ([`ExpiringToken::accepts`]), and clears the token so that it works once. Returns
    /// `false`, changing nothing, otherwise (unknown account, no token, wrong, expired or
    /// already used token).
    async fn complete_password_reset(
        &self,
        name: &UserName,
        token: &Token,
        new_hash: &PasswordHash,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Sets or clears the stored admin flag.
    ///
    /// # Errors
    /// `NotFound(Account)`.
    async fn set_admin(&self, name: &UserName, admin: bool) -> Result<(), StoreError>;
}

/// Who is logged in.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Starts a session for `new.user` with `last_active = now` and appends
    /// `Event::login` after the session exists, so that the new session's first event is its
    /// own login. Returns the session.
    ///
    /// With [`LoginMode::Guest`] it MUST fail with `Conflict(Session)` when the name has a
    /// live session. With [`LoginMode::Replace`] a live session of the name is ended first:
    /// `Event::logout` is appended for it, but the user's chat memberships are kept.
    async fn start(
        &self,
        new: &NewSession,
        mode: LoginMode,
        now: Timestamp,
    ) -> Result<Session, StoreError>;

    /// The live session matching `key` (token compared in constant time), after recording
    /// activity at `now`. `None` when there is none.
    async fn touch(&self, key: &SessionKey, now: Timestamp) -> Result<Option<Session>, StoreError>;

    /// Ends the live session matching `key`, or with `key.token` ignored when `any_token`
    /// is set (a password reset ends whatever session the user has). Drops the user's chat
    /// memberships and appends `Event::logged_out` for the chats it was in. Returns `false`
    /// when there was no such session.
    async fn end(
        &self,
        key: &SessionKey,
        any_token: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Ends, as [`end`](Self::end) does, every session whose last activity is before
    /// `cutoff`. Returns the names whose sessions ended.
    async fn end_inactive(
        &self,
        cutoff: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<UserName>, StoreError>;

    /// Whether the name has a live session.
    async fn is_logged_in(&self, user: &UserName) -> Result<bool, StoreError>;

    /// How many sessions are live.
    async fn count(&self) -> Result<u64, StoreError>;
}

/// Chats and who belongs to them.
#[async_trait]
pub trait ChatRepository: Send + Sync {
    /// Creates a chat and appends `Event::chat_created`.
    ///
    /// # Errors
    /// `Conflict(ChatName)` when it exists.
    async fn create_chat(&self, chat: &ChatName, now: Timestamp) -> Result<(), StoreError>;

    /// Removes a chat with its memberships and messages and appends `Event::chat_removed`.
    /// Members get no leave events (original-spec.md §5.15).
    ///
    /// # Errors
    /// `NotFound(Chat)`.
    async fn remove_chat(&self, chat: &ChatName, now: Timestamp) -> Result<(), StoreError>;

    /// Makes the logged-in `user` a member and appends `Event::joined` with the flags of the
    /// user's session.
    ///
    /// # Errors
    /// `NotFound(Chat)`, `NotFound(Session)` when the user is not logged in,
    /// `Conflict(Membership)` when already a member.
    async fn join(
        &self,
        user: &UserName,
        chat: &ChatName,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Ends a membership and appends `Event::left`.
    ///
    /// # Errors
    /// `NotFound(Chat)`, `NotFound(Membership)`.
    async fn leave(
        &self,
        user: &UserName,
        chat: &ChatName,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Whether `user` is a member of `chat` (false when the chat does not exist).
    async fn is_member(&self, user: &UserName, chat: &ChatName) -> Result<bool, StoreError>;

    /// The names of all chats, sorted.
    async fn chat_names(&self) -> Result<Vec<ChatName>, StoreError>;

    /// Reports on every chat for `viewer` (or on `only` that chat), sorted by name, with
    /// the last `last_messages` messages (oldest first) and the logged-in members for the chats
    /// the viewer belongs to, read consistently with the returned event id.
    ///
    /// # Errors
    /// `NotFound(Chat)` when `only` names a missing chat.
    async fn reports(
        &self,
        viewer: &UserName,
        only: Option<&ChatName>,
        last_messages: usize,
    ) -> Result<Snapshot<Vec<ChatReport>>, StoreError>;

    /// The logged-in members of a chat with their flags, sorted by name.
    ///
    /// # Errors
    /// `NotFound(Chat)`.
    async fn members(&self, chat: &ChatName) -> Result<Snapshot<Vec<UserWithStatus>>, StoreError>;
}

/// Messages.
#[async_trait]
pub trait MessageRepository: Send + Sync {
    /// Stores a message with the next id and `time = now` and appends its `Event::Message`.
    ///
    /// # Errors
    /// `NotFound(Chat)`; `NotFound(Membership)` when `membership_required` and the author is
    /// not a member. Nothing is stored then.
    async fn post(&self, message: &NewMessage, now: Timestamp) -> Result<Message, StoreError>;

    /// Up to `limit` messages of `chat` with an id below `before` (all when `None`), the
    /// newest ones, returned oldest first, with the event id they are consistent with.
    ///
    /// # Errors
    /// `NotFound(Chat)`.
    async fn history(
        &self,
        chat: &ChatName,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Snapshot<Vec<Message>>, StoreError>;
}

/// Resolves when there may be something new to read for a session (or it ended).
pub type Wakeup = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The event log and its readers' cursors.
///
/// Each session reads the events whose audience included it when they were appended, in id
/// order. Retention drops events by count (at append) and by age ([`prune`](Self::prune)); a
/// reader whose next events were dropped receives [`Delivery::Resync`] first.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// The id of the newest event, `EventId(0)` when there is none.
    async fn last_id(&self) -> Result<EventId, StoreError>;

    /// A wake-up that resolves after the next append that may concern the session, or when
    /// the session ends. Subscribe before reading, so that an append between the read and the
    /// wait is not missed. Whether the session is live is for the read that follows to say: a
    /// store may answer `NotFound(Session)` here already, or save the round trip.
    ///
    /// # Errors
    /// `NotFound(Session)` (optional, see above), `Unavailable`.
    async fn subscribe(&self, reader: &SessionKey) -> Result<Wakeup, StoreError>;

    /// Up to `limit` deliveries for the session with ids above `after`, without moving the
    /// session's own cursor.
    ///
    /// # Errors
    /// `NotFound(Session)`.
    async fn read_after(
        &self,
        reader: &SessionKey,
        after: EventId,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Up to `limit` deliveries after the session's server-side cursor, advancing the cursor
    /// past them in the same atomic step, so that concurrent takers on one session never
    /// receive the same event and none is skipped.
    ///
    /// # Errors
    /// `NotFound(Session)`.
    async fn take(&self, reader: &SessionKey, limit: usize) -> Result<Vec<Delivery>, StoreError>;

    /// Drops events appended before `cutoff`. Returns how many were dropped.
    async fn prune(&self, cutoff: Timestamp) -> Result<u64, StoreError>;
}

/// The queue of mail waiting for delivery (the outbox). Jobs are written by
/// [`AccountRepository`] together with the change that caused them.
#[async_trait]
pub trait MailOutbox: Send + Sync {
    /// Claims up to `limit` jobs due at `now`, hiding each from other claimers until
    /// `lease_until` so that two senders never deliver the same job at once.
    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<MailJob>, StoreError>;

    /// The job was delivered: it leaves the queue.
    async fn mark_sent(&self, id: MailId) -> Result<(), StoreError>;

    /// The attempt failed: count it and make the job due again at `retry_at`.
    async fn retry_later(
        &self,
        id: MailId,
        retry_at: Timestamp,
        error: &str,
    ) -> Result<(), StoreError>;

    /// The job failed for good: it stays recorded, never retried.
    async fn mark_failed(&self, id: MailId, error: &str) -> Result<(), StoreError>;

    /// Jobs still waiting for delivery (not sent, not failed for good).
    async fn pending_count(&self) -> Result<u64, StoreError>;
}

/// Why a mail was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth trying again later (connection refused, timeout, 4xx reply).
    #[error("mail delivery failed, will retry: {0}")]
    Transient(#[source] BoxError),
    /// Will never succeed (5xx reply such as an unknown recipient, an unencodable address).
    #[error("mail delivery failed for good: {0}")]
    Permanent(#[source] BoxError),
}

/// Delivers one mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

/// Password hashing. Implementations MUST NOT block the async executor.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// # Errors
    /// When hashing itself fails (a broken configuration, a failed worker thread).
    async fn hash(&self, password: &Password) -> Result<PasswordHash, BoxError>;

    /// Whether `candidate` matches `hash`. With `hash == None` (unknown user) it MUST still
    /// spend the time of a real comparison and return `false`, so that response times do
    /// not reveal which names exist.
    async fn verify(&self, candidate: &str, hash: Option<&PasswordHash>) -> bool;
}

/// The current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// Fresh random secrets.
pub trait TokenSource: Send + Sync {
    /// A new token with at least 128 bits of entropy from a cryptographically secure
    /// generator, made of URL-safe characters.
    fn token(&self) -> Token;
}
