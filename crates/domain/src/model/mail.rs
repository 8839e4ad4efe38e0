//! Mail the domain decides to send. Rendering and delivery belong to a mailer adapter.

use std::fmt;

use super::email::Email;
use super::name::UserName;
use super::secret::Token;

/// A mail to deliver.
#[derive(Debug, Clone)]
pub enum OutgoingMail {
    /// Sent at registration and on request: the absolute link that verifies the address.
    Activation {
        to: Email,
        user: UserName,
        link: String,
    },
    /// Sent when a password reset is requested: the token and, when the web client's form
    /// address is configured, a link to it.
    PasswordReset {
        to: Email,
        user: UserName,
        token: Token,
        link: Option<String>,
    },
}

impl OutgoingMail {
    pub fn to(&self) -> &Email {
        match self {
            OutgoingMail::Activation { to, .. } | OutgoingMail::PasswordReset { to, .. } => to,
        }
    }

    pub fn user(&self) -> &UserName {
        match self {
            OutgoingMail::Activation { user, .. } | OutgoingMail::PasswordReset { user, .. } => {
                user
            }
        }
    }

    /// A short name of the kind of mail, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            OutgoingMail::Activation { .. } => "activation",
            OutgoingMail::PasswordReset { .. } => "password_reset",
        }
    }
}

/// Id of a queued mail job in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MailId(pub u64);

impl fmt::Display for MailId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A queued mail taken from the outbox for one delivery attempt.
#[derive(Debug, Clone)]
pub struct MailJob {
    pub id: MailId,
    pub mail: OutgoingMail,
    /// Attempts made before this one.
    pub attempts: u32,
}
