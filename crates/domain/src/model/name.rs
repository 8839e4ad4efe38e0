//! User and chat names (api.md §2 item 6): 1–50 characters, no invisible characters, no
//! leading or trailing white space.

use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use super::input::{Field, InvalidInput, Problem, is_invisible};

/// Longest user or chat name, in characters (Unicode scalar values).
pub const MAX_NAME_CHARS: usize = 50;

fn check_name(field: Field, raw: &str) -> Result<(), InvalidInput> {
    let fail = |problem| Err(InvalidInput::new(field, problem));
    if raw.is_empty() {
        return fail(Problem::Empty);
    }
    if raw.chars().count() > MAX_NAME_CHARS {
        return fail(Problem::TooLong {
            max: MAX_NAME_CHARS,
            unit: "characters",
        });
    }
    if raw.chars().any(is_invisible) {
        return fail(Problem::InvisibleCharacter);
    }
    if raw.starts_with(char::is_whitespace) || raw.ends_with(char::is_whitespace) {
        return fail(Problem::SurroundingWhitespace);
    }
    Ok(())
}

/// The name of a user, guest or registered.
///
/// Two names that differ only by letter case name the same user: equality and hashing use
/// the lower-cased form, so `Alice` cannot log in while `alice` is registered or logged in
/// (api.md §2 item 6). The spelling the user chose is kept for display.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName {
    display: String,
    folded: String,
}

impl UserName {
    /// Validates `raw` as a user name.
    ///
    /// # Errors
    /// [`InvalidInput`] for field `user` when the name breaks a rule.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        check_name(Field::User, raw)?;
        Ok(Self {
            display: raw.to_owned(),
            folded: raw.to_lowercase(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The case-folded form that identifies the user; adapters use it as the unique key.
    pub fn folded(&self) -> &str {
        &self.folded
    }
}

impl PartialEq for UserName {
    fn eq(&self, other: &Self) -> bool {
        self.folded == other.folded
    }
}
impl Eq for UserName {}
impl Hash for UserName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.folded.hash(state);
    }
}
impl PartialOrd for UserName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for UserName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.folded.cmp(&other.folded)
    }
}

impl TryFrom<String> for UserName {
    type Error = InvalidInput;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        check_name(Field::User, &raw)?;
        let folded = raw.to_lowercase();
        Ok(Self {
            display: raw,
            folded,
        })
    }
}
impl From<UserName> for String {
    fn from(name: UserName) -> String {
        name.display
    }
}
impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}
impl fmt::Debug for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.display, f)
    }
}

/// The name of a chat room. Chat names are exact: `Main` and `main` are two chats, as in the
/// original server.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChatName(String);

impl ChatName {
    /// Validates `raw` as a chat name.
    ///
    /// # Errors
    /// [`InvalidInput`] for field `chat` when the name breaks a rule.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        check_name(Field::Chat, raw)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ChatName {
    type Error = InvalidInput;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        check_name(Field::Chat, &raw)?;
        Ok(Self(raw))
    }
}
impl From<ChatName> for String {
    fn from(name: ChatName) -> String {
        name.0
    }
}
impl fmt::Display for ChatName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for ChatName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}
