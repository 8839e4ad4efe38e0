//! Adapters for the ports that the operating system answers: the wall clock, random tokens
//! from a cryptographically secure generator, and bcrypt password hashing on tokio's blocking
//! thread pool.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use chatty_domain::ports::{BoxError, Clock, PasswordHasher, TokenSource};
use chatty_domain::{Password, PasswordHash, Timestamp, Token};
use rand::Rng;
use rand::distr::Alphanumeric;

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_millis(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Characters per token: 32 alphanumerics carry log2(62^32) ≈ 190 bits.
pub const TOKEN_CHARS: usize = 32;

/// Tokens from the thread-local CSPRNG (ChaCha, seeded and reseeded from the OS).
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomTokens;

impl TokenSource for RandomTokens {
    fn token(&self) -> Token {
        let value: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(TOKEN_CHARS)
            .map(char::from)
            .collect();
        Token::new(value)
    }
}

/// bcrypt with a configurable cost, run on the blocking pool so that a hash (about 0.3 s at
/// cost 12) never stalls the async executor.
#[derive(Debug, Clone)]
pub struct BcryptHasher {
    cost: u32,
    /// A hash of a random password at the same cost, verified against when the user is
    /// unknown so that both cases take equally long.
    dummy: Arc<str>,
}

impl BcryptHasher {
    /// # Errors
    /// When `cost` is outside bcrypt's range (4 to 31).
    pub fn new(cost: u32) -> Result<Self, BoxError> {
        let random = RandomTokens.token();
        let dummy = bcrypt::hash(random.expose(), cost)?;
        Ok(Self {
            cost,
            dummy: dummy.into(),
        })
    }
}

#[async_trait]
impl PasswordHasher for BcryptHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, BoxError> {
        let password = password.clone();
        let cost = self.cost;
        let hashed =
            tokio::task::spawn_blocking(move || bcrypt::hash(password.expose(), cost)).await??;
        Ok(PasswordHash::new(hashed))
    }

    async fn verify(&self, candidate: &str, hash: Option<&PasswordHash>) -> bool {
        let candidate = candidate.to_owned();
        let known = hash.is_some();
        let hash: Arc<str> = hash.map_or_else(|| Arc::clone(&self.dummy), |h| h.as_str().into());
        let verified = tokio::task::spawn_blocking(move || {
            // Passwords over bcrypt's 72-byte limit were never accepted, so they cannot match;
            // bcrypt reports them as an error, which reads as "no match" here.
            bcrypt::verify(candidate.as_bytes(), &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        known && verified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let a = RandomTokens.token();
        let b = RandomTokens.token();
        assert_eq!(a.expose().len(), TOKEN_CHARS);
        assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(!a.matches(&b));
    }

    #[test]
    fn clock_is_after_2020() {
        assert!(SystemClock.now().unix_seconds() > 1_577_836_800);
    }

    #[tokio::test]
    async fn bcrypt_hash_verifies_only_the_right_password() {
        let hasher = BcryptHasher::new(4).unwrap();
        let password = Password::parse("correct horse").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.as_str().starts_with("$2"));
        assert!(hasher.verify("correct horse", Some(&hash)).await);
        assert!(!hasher.verify("wrong horse", Some(&hash)).await);
        assert!(!hasher.verify(&"x".repeat(100), Some(&hash)).await);
    }

    #[tokio::test]
    async fn unknown_users_never_verify_even_with_the_dummy_password() {
        let hasher = BcryptHasher::new(4).unwrap();
        assert!(!hasher.verify("", None).await);
        assert!(!hasher.verify("anything", None).await);
    }

    #[test]
    fn cost_outside_bcrypt_range_is_an_error() {
        assert!(BcryptHasher::new(3).is_err());
        assert!(BcryptHasher::new(32).is_err());
    }
}
