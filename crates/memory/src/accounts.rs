//! Registered accounts.

use async_trait::async_trait;
use chatty_domain::ports::{AccountRepository, Conflict, Missing, StoreError};
use chatty_domain::{
    Account, ExpiringToken, NewAccount, OutgoingMail, PasswordHash, Timestamp, Token, UserName,
};

use crate::MemoryStore;

#[async_trait]
impl AccountRepository for MemoryStore {
    async fn register(&self, account: &NewAccount, mail: &OutgoingMail) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        if state.accounts.contains_key(&account.name) {
            return Err(StoreError::Conflict(Conflict::UserName));
        }
        let email = account.email.folded();
        if state.emails.contains(&email) {
            return Err(StoreError::Conflict(Conflict::Email));
        }
        state.emails.insert(email);
        state.accounts.insert(
            account.name.clone(),
            Account {
                name: account.name.clone(),
                email: account.email.clone(),
                password_hash: account.password_hash.clone(),
                verified: false,
                admin: false,
                bot: false,
                activation: Some(account.activation.clone()),
                reset: None,
            },
        );
        state.enqueue_mail(mail.clone());
        Ok(())
    }

    async fn find(&self, name: &UserName) -> Result<Option<Account>, StoreError> {
        Ok(self.read()?.accounts.get(name).cloned())
    }

    async fn mark_verified(&self, name: &UserName) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        let account = state
            .accounts
            .get_mut(name)
            .ok_or(StoreError::NotFound(Missing::Account))?;
        account.verified = true;
        Ok(())
    }

    async fn renew_activation(
        &self,
        name: &UserName,
        activation: &ExpiringToken,
        mail: &OutgoingMail,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock()?;
        let Some(account) = state.accounts.get_mut(name).filter(|a| !a.verified) else {
            return Ok(false);
        };
        account.activation = Some(activation.clone());
        state.enqueue_mail(mail.clone());
        Ok(true)
    }

    async fn start_password_reset(
        &self,
        name: &UserName,
        reset: &ExpiringToken,
        mail: &OutgoingMail,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock()?;
        let Some(account) = state.accounts.get_mut(name) else {
            return Ok(false);
        };
        account.reset = Some(reset.clone());
        state.enqueue_mail(mail.clone());
        Ok(true)
    }

    async fn complete_password_reset(
        &self,
        name: &UserName,
        token: &Token,
        new_hash: &PasswordHash,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock()?;
        let Some(account) = state.accounts.get_mut(name) else {
            return Ok(false);
        };
        if !account
            .reset
            .as_ref()
            .is_some_and(|r| r.accepts(token, now))
        {
            return Ok(false);
        }
        account.reset = None;
        account.password_hash = new_hash.clone();
        Ok(true)
    }

    async fn set_admin(&self, name: &UserName, admin: bool) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        let account = state
            .accounts
            .get_mut(name)
            .ok_or(StoreError::NotFound(Missing::Account))?;
        account.admin = admin;
        Ok(())
    }
}
