//! The mail outbox.

use async_trait::async_trait;
use chatty_domain::ports::{MailOutbox, StoreError};
use chatty_domain::{MailId, MailJob, OutgoingMail, Timestamp};

use crate::{MemoryStore, State};

pub(crate) struct OutboxRow {
    mail: OutgoingMail,
    attempts: u32,
    /// When the job may be claimed; `None` means at once.
    due: Option<Timestamp>,
    status: Status,
}

#[derive(Debug, PartialEq, Eq)]
enum Status {
    Pending,
    Failed(String),
}

impl State {
    pub(crate) fn enqueue_mail(&mut self, mail: OutgoingMail) {
        self.last_mail_id += 1;
        self.outbox.insert(
            self.last_mail_id,
            OutboxRow {
                mail,
                attempts: 0,
                due: None,
                status: Status::Pending,
            },
        );
    }
}

#[async_trait]
impl MailOutbox for MemoryStore {
    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<MailJob>, StoreError> {
        let mut state = self.lock()?;
        let mut jobs = Vec::new();
        for (id, row) in &mut state.outbox {
            if jobs.len() == limit {
                break;
            }
            if row.status == Status::Pending && row.due.is_none_or(|due| due <= now) {
                row.due = Some(lease_until);
                jobs.push(MailJob {
                    id: MailId(*id),
                    mail: row.mail.clone(),
                    attempts: row.attempts,
                });
            }
        }
        Ok(jobs)
    }

    async fn mark_sent(&self, id: MailId) -> Result<(), StoreError> {
        self.lock()?.outbox.remove(&id.0);
        Ok(())
    }

    async fn retry_later(
        &self,
        id: MailId,
        retry_at: Timestamp,
        _error: &str,
    ) -> Result<(), StoreError> {
        if let Some(row) = self.lock()?.outbox.get_mut(&id.0) {
            row.attempts += 1;
            row.due = Some(retry_at);
        }
        Ok(())
    }

    async fn mark_failed(&self, id: MailId, error: &str) -> Result<(), StoreError> {
        if let Some(row) = self.lock()?.outbox.get_mut(&id.0) {
            row.attempts += 1;
            row.status = Status::Failed(error.to_owned());
        }
        Ok(())
    }

    async fn pending_count(&self) -> Result<u64, StoreError> {
        let state = self.read()?;
        Ok(state
            .outbox
            .values()
            .filter(|row| row.status == Status::Pending)
            .count() as u64)
    }
}
