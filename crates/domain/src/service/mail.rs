//! Delivering the outbox: one round of the background mail sender.

use std::time::Duration;

use tracing::{info, warn};

use super::Services;
use crate::error::{Error, Result};
use crate::ports::MailError;

/// Retry rules of the mail sender.
#[derive(Debug, Clone)]
pub struct MailPolicy {
    /// Attempts before a job is marked failed for good.
    pub max_attempts: u32,
    /// Wait after the first failure; it doubles with every further failure.
    pub first_retry: Duration,
    /// Longest wait between two attempts.
    pub max_retry: Duration,
    /// How long a claimed job stays hidden from other senders (longer than one attempt).
    pub lease: Duration,
    /// Jobs claimed per round.
    pub batch: usize,
}

impl Default for MailPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            first_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(15 * 60),
            lease: Duration::from_secs(120),
            batch: 20,
        }
    }
}

impl MailPolicy {
    /// The wait after the `failures`-th failed attempt (1-based): exponential, capped.
    pub fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1));
        self.first_retry.saturating_mul(factor).min(self.max_retry)
    }
}

/// What one round of the sender did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailRound {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

impl MailRound {
    pub fn attempted(&self) -> usize {
        self.sent + self.retried + self.failed
    }
}

impl Services {
    /// Claims the mail that is due and tries each once: delivered mail leaves the outbox,
    /// failed mail is retried later with backoff, and mail that failed too often or can never
    /// be delivered is marked failed for good (api.md §2 item 10).
    ///
    /// # Errors
    /// `Unavailable` when the outbox cannot be read or updated.
    pub async fn deliver_due_mail(&self) -> Result<MailRound> {
        let policy = &self.policy.mail;
        let now = self.ports.clock.now();
        let jobs = self
            .ports
            .outbox
            .claim_due(now, now.plus(policy.lease), policy.batch)
            .await
            .map_err(Error::from_store)?;
        let mut round = MailRound::default();
        for job in jobs {
            let to = job.mail.to().masked();
            let kind = job.mail.kind();
            let failures = job.attempts + 1;
            let outcome = self.ports.mailer.send(&job.mail).await;
            let outbox = &self.ports.outbox;
            match outcome {
                Ok(()) => {
                    outbox.mark_sent(job.id).await.map_err(Error::from_store)?;
                    info!(mail.id = %job.id, mail.kind = kind, mail.to = %to, "sent {kind} mail to {to}");
                    round.sent += 1;
                }
                Err(MailError::Transient(e)) if failures < policy.max_attempts => {
                    let wait = policy.backoff(failures);
                    let retry_at = self.ports.clock.now().plus(wait);
                    outbox
                        .retry_later(job.id, retry_at, &e.to_string())
                        .await
                        .map_err(Error::from_store)?;
                    warn!(mail.id = %job.id, mail.kind = kind, mail.to = %to, attempt = failures,
                        retry_in_ms = wait.as_millis() as u64, error = %e,
                        "could not send {kind} mail to {to}, will retry");
                    round.retried += 1;
                }
                Err(e) => {
                    outbox
                        .mark_failed(job.id, &e.to_string())
                        .await
                        .map_err(Error::from_store)?;
                    tracing::error!(mail.id = %job.id, mail.kind = kind, mail.to = %to, attempt = failures,
                        error = %e, "gave up sending {kind} mail to {to}");
                    round.failed += 1;
                }
            }
        }
        Ok(round)
    }
}
