//! Test doubles for the ports that are not storage.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::model::mail::OutgoingMail;
use crate::model::secret::{Password, PasswordHash, Token};
use crate::model::time::Timestamp;
use crate::ports::{BoxError, Clock, MailError, Mailer, PasswordHasher, TokenSource};

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// 2023-11-14T22:13:20Z, a round number of seconds.
    pub const START: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap();
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self(AtomicI64::new(Self::START.millis()))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

/// A hasher without bcrypt's cost: the "hash" is the password with a prefix.
#[derive(Debug, Default)]
pub struct FakeHasher;

#[async_trait]
impl PasswordHasher for FakeHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, BoxError> {
        Ok(PasswordHash::new(format!("fake${}", password.expose())))
    }

    async fn verify(&self, candidate: &str, hash: Option<&PasswordHash>) -> bool {
        hash.is_some_and(|h| h.as_str() == format!("fake${candidate}"))
    }
}

/// Distinct, predictable tokens: `tok0001`, `tok0002`, …
#[derive(Debug, Default)]
pub struct SequentialTokens(AtomicU64);

impl TokenSource for SequentialTokens {
    fn token(&self) -> Token {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Token::new(format!("tok{n:04}"))
    }
}

/// How the [`RecordingMailer`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailerMode {
    Accept,
    FailTransiently,
    FailPermanently,
}

/// Records delivered mail; can be told to fail.
#[derive(Debug)]
pub struct RecordingMailer {
    sent: Mutex<Vec<OutgoingMail>>,
    mode: Mutex<MailerMode>,
}

impl Default for RecordingMailer {
    fn default() -> Self {
        Self {
            sent: Mutex::new(Vec::new()),
            mode: Mutex::new(MailerMode::Accept),
        }
    }
}

impl RecordingMailer {
    pub fn set_mode(&self, mode: MailerMode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Everything delivered so far, oldest first.
    pub fn sent(&self) -> Vec<OutgoingMail> {
        self.sent.lock().unwrap().clone()
    }

    /// The newest mail delivered to `user`.
    pub fn last_to(&self, user: &str) -> Option<OutgoingMail> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m.user().as_str() == user)
            .cloned()
    }

    /// The token of the newest activation link sent to `user`.
    pub fn activation_token(&self, user: &str) -> Option<String> {
        match self.last_to(user)? {
            OutgoingMail::Activation { link, .. } => link.rsplit('/').next().map(ToOwned::to_owned),
            OutgoingMail::PasswordReset { .. } => None,
        }
    }

    /// The token of the newest reset mail sent to `user`.
    pub fn reset_token(&self, user: &str) -> Option<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|m| match m {
                OutgoingMail::PasswordReset { user: u, token, .. } if u.as_str() == user => {
                    Some(token.expose().to_owned())
                }
                _ => None,
            })
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let mode = *self.mode.lock().unwrap();
        match mode {
            MailerMode::Accept => {
                self.sent.lock().unwrap().push(mail.clone());
                Ok(())
            }
            MailerMode::FailTransiently => Err(MailError::Transient("connection refused".into())),
            MailerMode::FailPermanently => Err(MailError::Permanent("550 no such mailbox".into())),
        }
    }
}
