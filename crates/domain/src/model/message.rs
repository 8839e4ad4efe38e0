//! Chat messages.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::input::{Field, InvalidInput, Problem};
use super::name::{ChatName, UserName};
use super::time::Timestamp;
use super::user::UserFlags;

/// Server-assigned message id: one increasing sequence across all chats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub u64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored message, in the wire shape of original-spec.md §3.6:
/// `{"user","verified","admin","bot","chat","id","text","time"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub user: UserName,
    #[serde(flatten)]
    pub flags: UserFlags,
    pub chat: ChatName,
    pub id: MessageId,
    pub text: String,
    pub time: Timestamp,
}

/// The text of a message: non-empty, at most the configured number of characters, and free
/// of control characters other than line breaks and tabs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    /// Validates `raw` against the rules and the limit of `max_chars` characters.
    ///
    /// # Errors
    /// [`InvalidInput`] for field `text`.
    pub fn parse(raw: &str, max_chars: usize) -> Result<Self, InvalidInput> {
        let fail = |problem| Err(InvalidInput::new(Field::Text, problem));
        if raw.is_empty() {
            return fail(Problem::Empty);
        }
        if raw.chars().count() > max_chars {
            return fail(Problem::TooLong {
                max: max_chars,
                unit: "characters",
            });
        }
        // Line breaks and tabs are text; NUL and the other controls are not (and Postgres
        // cannot store NUL in a text column).
        if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return fail(Problem::InvisibleCharacter);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A message about to be stored.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub author: UserName,
    pub flags: UserFlags,
    pub chat: ChatName,
    pub text: MessageText,
    /// Users must be members of the chat; the server bot answers without being one.
    pub membership_required: bool,
}
