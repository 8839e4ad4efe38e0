//! Chatty's domain: users, chats, messages and events, the use cases that change them, and the
//! ports (traits) through which the use cases reach storage, mail, time and randomness.
//!
//! Nothing here knows HTTP, SQL or SMTP. Adapters implement [`ports`]; the server binary wires
//! them into [`Services`].

pub mod error;
pub mod model;
pub mod ports;
pub mod service;

#[cfg(feature = "testing")]
pub mod contract;

pub use error::{Error, Result};
pub use model::chat::{ChatReport, Snapshot};
pub use model::email::Email;
pub use model::event::{Audience, Delivery, Event, EventId, StoredEvent};
pub use model::input::{Field, InvalidInput, Problem};
pub use model::mail::{MailId, MailJob, OutgoingMail};
pub use model::message::{Message, MessageId, MessageText, NewMessage};
pub use model::name::{ChatName, MAX_NAME_CHARS, UserName};
pub use model::secret::{Password, PasswordHash, Token};
pub use model::session::{LoginMode, NewSession, Session};
pub use model::time::Timestamp;
pub use model::user::{Account, ExpiringToken, NewAccount, UserFlags, UserWithStatus};
pub use service::{
    BOT_NAME, LoggedIn, MailPolicy, MailRound, Policy, PollOutcome, PollRequest, Ports, Services,
};
