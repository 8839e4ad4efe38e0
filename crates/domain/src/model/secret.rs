//! Secrets: passwords, their hashes and random tokens. None of them prints its value in
//! `Debug` output, so they cannot leak into logs by accident.

use std::fmt;

use subtle::ConstantTimeEq;

use super::input::{Field, InvalidInput, Problem};

/// Shortest accepted password, in bytes.
pub const MIN_PASSWORD_BYTES: usize = 6;
/// Longest accepted password, in bytes: bcrypt ignores everything after byte 72, so longer
/// passwords are refused rather than silently truncated (api.md §2 item 8).
pub const MAX_PASSWORD_BYTES: usize = 72;

/// A clear-text password that satisfies the length rules.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Validates `raw` as a new password.
    ///
    /// # Errors
    /// [`InvalidInput`] for field `password`; an empty password has [`Problem::Empty`] so that
    /// registration can answer with the original's `password is empty`.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let fail = |problem| Err(InvalidInput::new(Field::Password, problem));
        if raw.is_empty() {
            return fail(Problem::Empty);
        }
        if raw.len() < MIN_PASSWORD_BYTES {
            return fail(Problem::TooShort {
                min: MIN_PASSWORD_BYTES,
                unit: "bytes",
            });
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return fail(Problem::TooLong {
                max: MAX_PASSWORD_BYTES,
                unit: "bytes",
            });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A password hash in the hasher's own format (bcrypt's modular crypt string in production).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(encoded: String) -> Self {
        Self(encoded)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// A random secret: a session, activation or password-reset token.
///
/// Tokens come from the [`TokenSource`](crate::ports::TokenSource) port (a CSPRNG in
/// production) and are compared only with [`Token::matches`], which takes the same time
/// whatever the position of the first differing byte.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// Parses a token received from a client.
    ///
    /// # Errors
    /// [`InvalidInput`] for `field` when it is empty or absurdly long.
    pub fn from_client(field: Field, raw: &str) -> Result<Self, InvalidInput> {
        const MAX_TOKEN_BYTES: usize = 256;
        if raw.is_empty() {
            return Err(InvalidInput::new(field, Problem::Empty));
        }
        if raw.len() > MAX_TOKEN_BYTES {
            return Err(InvalidInput::new(
                field,
                Problem::TooLong {
                    max: MAX_TOKEN_BYTES,
                    unit: "bytes",
                },
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Constant-time equality.
    pub fn matches(&self, other: &Token) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}
