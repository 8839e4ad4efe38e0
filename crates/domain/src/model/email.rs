//! E-mail addresses, checked for syntax at registration.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::input::{Field, InvalidInput, Problem};

/// An e-mail address with a plain ASCII `local@domain.tld` syntax.
///
/// The rules are deliberately stricter than RFC 5322 allows: no quoted local parts, no
/// comments, no IP-literal domains, and a domain with at least one dot whose last label starts
/// and ends with a letter, as the original server's validator required. Characters that could
/// break out of a mail header (CR, LF, `<`, `>`, `,`, `;`, `"`, white space) can never appear.
/// Uniqueness is case-insensitive ([`Email::folded`]).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

const MAX_EMAIL_BYTES: usize = 254;
const MAX_LOCAL_BYTES: usize = 64;
const MAX_LABEL_BYTES: usize = 63;

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c)
}

fn valid_local(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= MAX_LOCAL_BYTES
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= MAX_LABEL_BYTES
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let tld_ok = labels.last().is_some_and(|tld| {
        tld.starts_with(|c: char| c.is_ascii_alphabetic())
            && tld.ends_with(|c: char| c.is_ascii_alphabetic())
    });
    labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok
}

impl Email {
    /// Validates `raw` as an e-mail address.
    ///
    /// # Errors
    /// [`InvalidInput`] for field `email`.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let fail = |problem| Err(InvalidInput::new(Field::Email, problem));
        if raw.is_empty() {
            return fail(Problem::Empty);
        }
        if raw.len() > MAX_EMAIL_BYTES {
            return fail(Problem::TooLong {
                max: MAX_EMAIL_BYTES,
                unit: "bytes",
            });
        }
        match raw.rsplit_once('@') {
            Some((local, domain)) if valid_local(local) && valid_domain(domain) => {
                Ok(Self(raw.to_owned()))
            }
            _ => fail(Problem::NotAnEmailAddress),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-cased address: two accounts may not share it.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// The address with most of the local part hidden, for logs (`a***@example.org`).
    pub fn masked(&self) -> String {
        match self.0.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".to_owned(),
        }
    }
}

impl TryFrom<String> for Email {
    type Error = InvalidInput;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}
impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}
impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
/// Debug output masks the address: e-mail addresses never reach the logs whole.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}
