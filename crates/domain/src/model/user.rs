//! Accounts (registered users) and the status flags every user shows on the wire.

use serde::{Deserialize, Serialize};

use super::email::Email;
use super::name::UserName;
use super::secret::{PasswordHash, Token};
use super::time::Timestamp;

/// The status flags of a user (`UserStatus`, original-spec.md §3.2). Guests have all three
/// false.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserFlags {
    /// The e-mail address of the account is verified.
    pub verified: bool,
    /// The user may create and remove chats (api.md §2 item 1).
    pub admin: bool,
    /// The account is a bot, so clients can style its messages.
    pub bot: bool,
}

/// `UserWithStatus` on the wire: `{"user":"alice","verified":false,"admin":false,"bot":false}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserWithStatus {
    pub user: UserName,
    #[serde(flatten)]
    pub flags: UserFlags,
}

/// A token together with the moment it stops being accepted.
#[derive(Debug, Clone)]
pub struct ExpiringToken {
    pub token: Token,
    pub expires_at: Timestamp,
}

impl ExpiringToken {
    /// Whether `candidate` is this token and it has not expired at `now` (constant-time
    /// comparison).
    pub fn accepts(&self, candidate: &Token, now: Timestamp) -> bool {
        // Compare first so that timing does not depend on the expiry.
        let same = self.token.matches(candidate);
        same && now < self.expires_at
    }
}

/// A registration about to be stored.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: UserName,
    pub email: Email,
    pub password_hash: PasswordHash,
    pub activation: ExpiringToken,
    pub created_at: Timestamp,
}

/// A registered account as stored.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: UserName,
    pub email: Email,
    pub password_hash: PasswordHash,
    pub verified: bool,
    /// The stored admin flag, set by `chatty-server admin grant`. Whether the user acts as an
    /// admin also depends on the configured list of admins; see `Policy::is_admin`.
    pub admin: bool,
    pub bot: bool,
    /// Kept after verification so that opening the link twice still succeeds.
    pub activation: Option<ExpiringToken>,
    pub reset: Option<ExpiringToken>,
}
