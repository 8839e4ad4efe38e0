//! Sessions: who is logged in, with which token, since which event.

use super::event::EventId;
use super::name::UserName;
use super::secret::Token;
use super::time::Timestamp;
use super::user::UserFlags;

/// A live login. There is at most one per user name (case-insensitively): a newer login of
/// the name replaces it, as in the original server.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: UserName,
    pub token: Token,
    pub flags: UserFlags,
    /// Logged in with a password (as opposed to a guest).
    pub registered: bool,
    pub last_active: Timestamp,
    /// The session's own `LoginEvent`: the first event it can receive.
    pub first_event: EventId,
}

/// A login about to be recorded.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user: UserName,
    pub token: Token,
    pub flags: UserFlags,
    pub registered: bool,
}

/// How a new login treats an existing session of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMode {
    /// Guest login: refused while the name is logged in.
    Guest,
    /// Password login or resume: ends the existing session (it gets 401 from then on) but keeps
    /// the user's chat memberships (api.md §2 item 12).
    Replace,
}
