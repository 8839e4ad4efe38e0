//! The errors the use cases report. Each variant is one stable kind that the HTTP layer maps
//! to a status code in one place; the `Display` text is the message of the API's error body
//! (api.md, original-spec.md §2.6).

use crate::model::input::InvalidInput;
use crate::ports::{BoxError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field breaks a rule; the message names the field.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// Registration without a password (the original's 422).
    #[error("password is empty")]
    PasswordEmpty,
    #[error("username is empty")]
    UserNameEmpty,
    #[error("some fields are empty")]
    SomeFieldsEmpty,
    #[error("user already registered")]
    UserAlreadyRegistered,
    #[error("email already registered")]
    EmailAlreadyRegistered,
    /// Guest login with a registered or reserved name.
    #[error("unauthorized")]
    NameIsRegistered,
    #[error("user is already logged in")]
    AlreadyLoggedIn,
    #[error("user not logged in")]
    NotLoggedIn,
    #[error("admin only")]
    AdminOnly,
    /// Unknown user or wrong password: one answer for both, so names cannot be probed.
    #[error("invalid user name or password")]
    InvalidCredentials,
    #[error("email is not verified")]
    EmailNotVerified,
    #[error("user doesn't exist")]
    UnknownUser,
    #[error("bad activation token")]
    BadActivationToken,
    #[error("bad reset password token")]
    BadResetToken,
    #[error("chat already exists")]
    ChatExists,
    #[error("no such chat")]
    NoSuchChat,
    #[error("user is already logged in chat")]
    AlreadyInChat,
    #[error("user not logged in such chat")]
    NotInChat,
    /// An event cursor that is not one the server issued.
    #[error("after: {0}")]
    BadCursor(String),
    /// The store or another dependency cannot be reached; nothing was changed.
    #[error("service unavailable, try again later")]
    Unavailable(#[source] BoxError),
    /// A failure that should not happen (a store contradicting itself, a hasher failing).
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl Error {
    /// For a store error the use case did not expect at that point.
    pub(crate) fn from_store(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(source) => Error::Unavailable(source),
            other => Error::Internal(Box::new(other)),
        }
    }
}

/// Results of the use cases.
pub type Result<T, E = Error> = std::result::Result<T, E>;
