//! Chat reports and snapshots.

use serde::{Deserialize, Serialize};

use super::event::EventId;
use super::message::Message;
use super::name::{ChatName, UserName};
use super::user::UserWithStatus;

/// One chat as a user sees it (`ChatReport`, original-spec.md §3.7). `messages` and `users`
/// are always arrays, empty when the user has not joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatReport {
    pub user: UserName,
    pub chat: ChatName,
    pub joined: bool,
    /// The last messages, oldest first.
    pub messages: Vec<Message>,
    /// Members that are logged in.
    pub users: Vec<UserWithStatus>,
}

/// A read together with the id of the last event it reflects, so that a client can start its
/// event cursor there with no gap and no duplicate (api.md §3, `Chatty-Event-Id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot<T> {
    pub value: T,
    pub as_of: EventId,
}
