//! Registration, e-mail verification and password reset.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tracing::info;

use super::Services;
use crate::error::{Error, Result};
use crate::model::email::Email;
use crate::model::input::Field;
use crate::model::mail::OutgoingMail;
use crate::model::name::UserName;
use crate::model::secret::{Password, Token};
use crate::model::time::Timestamp;
use crate::model::user::{ExpiringToken, NewAccount};
use crate::ports::{Conflict, SessionKey};

/// Everything but RFC 3986's unreserved characters is escaped in a path segment or query value.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(part: &str) -> impl std::fmt::Display + '_ {
    utf8_percent_encode(part, COMPONENT)
}

impl Services {
    /// `POST /api/register`: stores an unverified account and queues its activation mail in
    /// one step (api.md §2 item 10). Client-sent flags are never read (item 2).
    ///
    /// # Errors
    /// `PasswordEmpty`, `Invalid` (user, email, password, in that order),
    /// `UserAlreadyRegistered`, `EmailAlreadyRegistered`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(user.name = %user))]
    pub async fn register(&self, user: &str, email: &str, password: &str) -> Result<()> {
        if password.is_empty() {
            return Err(Error::PasswordEmpty);
        }
        let name = UserName::parse(user)?;
        let email = Email::parse(email)?;
        let password = Password::parse(password)?;
        if Self::is_reserved(&name) {
            return Err(Error::UserAlreadyRegistered);
        }
        // Checked before hashing so that duplicates cost no bcrypt work; the store checks
        // again atomically.
        if self
            .ports
            .accounts
            .find(&name)
            .await
            .map_err(Error::from_store)?
            .is_some()
        {
            return Err(Error::UserAlreadyRegistered);
        }
        let password_hash = self
            .ports
            .hasher
            .hash(&password)
            .await
            .map_err(Error::Internal)?;
        let now = self.ports.clock.now();
        let activation = self.fresh_token(now, self.policy.activation_ttl);
        let mail = self.activation_mail(&name, &email, &activation.token);
        let account = NewAccount {
            name,
            email,
            password_hash,
            activation,
            created_at: now,
        };
        match self.ports.accounts.register(&account, &mail).await {
            Ok(()) => {
                info!(user.name = %account.name, email = %account.email.masked(), "{} registered", account.name);
                Ok(())
            }
            Err(crate::ports::StoreError::Conflict(Conflict::UserName)) => {
                Err(Error::UserAlreadyRegistered)
            }
            Err(crate::ports::StoreError::Conflict(Conflict::Email)) => {
                Err(Error::EmailAlreadyRegistered)
            }
            Err(e) => Err(Error::from_store(e)),
        }
    }

    /// `GET /api/verifyEmail/{user}/{token}`: marks the address verified. Opening the link
    /// again later still succeeds (api.md §2 item 7).
    ///
    /// # Errors
    /// `UnknownUser`, `BadActivationToken` (wrong or expired), `Unavailable`.
    #[tracing::instrument(skip_all, fields(user.name = %user))]
    pub async fn verify_email(&self, user: &str, token: &str) -> Result<()> {
        let name = UserName::parse(user).map_err(|_| Error::UnknownUser)?;
        let token =
            Token::from_client(Field::Token, token).map_err(|_| Error::BadActivationToken)?;
        let account = self
            .ports
            .accounts
            .find(&name)
            .await
            .map_err(Error::from_store)?
            .ok_or(Error::UnknownUser)?;
        let now = self.ports.clock.now();
        let accepted = account.activation.as_ref().is_some_and(|activation| {
            // Once verified, the link keeps working after its expiry: it changes nothing.
            activation.accepts(&token, now)
                || (account.verified && activation.token.matches(&token))
        });
        if !accepted {
            return Err(Error::BadActivationToken);
        }
        if !account.verified {
            self.ports
                .accounts
                .mark_verified(&account.name)
                .await
                .map_err(Error::from_store)?;
            info!(user.name = %account.name, "{} verified their e-mail address", account.name);
        }
        Ok(())
    }

    /// `POST /api/resendVerification` (extension): queues a fresh activation link for an
    /// unverified account. Succeeds whatever the name, so that it reveals nothing.
    ///
    /// # Errors
    /// `Unavailable`.
    #[tracing::instrument(skip_all, fields(user.name = %user))]
    pub async fn resend_verification(&self, user: &str) -> Result<()> {
        let Ok(name) = UserName::parse(user) else {
            return Ok(());
        };
        let Some(account) = self
            .ports
            .accounts
            .find(&name)
            .await
            .map_err(Error::from_store)?
        else {
            return Ok(());
        };
        if account.verified {
            return Ok(());
        }
        let now = self.ports.clock.now();
        let activation = self.fresh_token(now, self.policy.activation_ttl);
        let mail = self.activation_mail(&account.name, &account.email, &activation.token);
        self.ports
            .accounts
            .renew_activation(&account.name, &activation, &mail)
            .await
            .map_err(Error::from_store)?;
        Ok(())
    }

    /// `POST /api/requestResetPassword`: stores a reset token and queues its mail. Unknown
    /// names get the same answer and nothing is sent (api.md §2 item 9).
    ///
    /// # Errors
    /// `UserNameEmpty`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(user.name = %user))]
    pub async fn request_password_reset(&self, user: &str) -> Result<()> {
        if user.is_empty() {
            return Err(Error::UserNameEmpty);
        }
        let Ok(name) = UserName::parse(user) else {
            return Ok(());
        };
        let Some(account) = self
            .ports
            .accounts
            .find(&name)
            .await
            .map_err(Error::from_store)?
        else {
            return Ok(());
        };
        let now = self.ports.clock.now();
        let reset = self.fresh_token(now, self.policy.reset_ttl);
        let link = self.policy.reset_form_url.as_ref().map(|form| {
            let sep = if form.contains('?') { '&' } else { '?' };
            format!(
                "{form}{sep}user={}&token={}",
                encode(account.name.as_str()),
                encode(reset.token.expose())
            )
        });
        let mail = OutgoingMail::PasswordReset {
            to: account.email.clone(),
            user: account.name.clone(),
            token: reset.token.clone(),
            link,
        };
        self.ports
            .accounts
            .start_password_reset(&account.name, &reset, &mail)
            .await
            .map_err(Error::from_store)?;
        Ok(())
    }

    /// `POST /api/resetPassword`: sets a new password with a reset token. The token works once
    /// and only before it expires; success ends the user's session (api.md §2 item 7).
    ///
    /// # Errors
    /// `SomeFieldsEmpty`, `Invalid` (password), `BadResetToken`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(user.name = %user))]
    pub async fn reset_password(&self, user: &str, token: &str, password: &str) -> Result<()> {
        if user.is_empty() || token.is_empty() || password.is_empty() {
            return Err(Error::SomeFieldsEmpty);
        }
        let password = Password::parse(password)?;
        let name = UserName::parse(user).map_err(|_| Error::BadResetToken)?;
        let token = Token::from_client(Field::Token, token).map_err(|_| Error::BadResetToken)?;
        let account = self
            .ports
            .accounts
            .find(&name)
            .await
            .map_err(Error::from_store)?
            .ok_or(Error::BadResetToken)?;
        let now = self.ports.clock.now();
        if !account
            .reset
            .as_ref()
            .is_some_and(|reset| reset.accepts(&token, now))
        {
            return Err(Error::BadResetToken);
        }
        let new_hash = self
            .ports
            .hasher
            .hash(&password)
            .await
            .map_err(Error::Internal)?;
        let changed = self
            .ports
            .accounts
            .complete_password_reset(&account.name, &token, &new_hash, self.ports.clock.now())
            .await
            .map_err(Error::from_store)?;
        if !changed {
            // A concurrent reset used the token first.
            return Err(Error::BadResetToken);
        }
        let key = SessionKey {
            user: account.name.clone(),
            token: token.clone(),
        };
        self.ports
            .sessions
            .end(&key, true, self.ports.clock.now())
            .await
            .map_err(Error::from_store)?;
        info!(user.name = %account.name, "{} reset their password", account.name);
        Ok(())
    }

    /// Sets or clears the stored admin flag of an account (`chatty-server admin grant|revoke`).
    /// It takes effect at the user's next login.
    ///
    /// # Errors
    /// `Invalid`, `UnknownUser`, `Unavailable`.
    pub async fn set_admin(&self, user: &str, admin: bool) -> Result<()> {
        let name = UserName::parse(user)?;
        match self.ports.accounts.set_admin(&name, admin).await {
            Ok(()) => Ok(()),
            Err(crate::ports::StoreError::NotFound(_)) => Err(Error::UnknownUser),
            Err(e) => Err(Error::from_store(e)),
        }
    }

    /// A new token from the token source, valid for `ttl` from `now`.
    fn fresh_token(&self, now: Timestamp, ttl: std::time::Duration) -> ExpiringToken {
        ExpiringToken {
            token: self.ports.tokens.token(),
            expires_at: now.plus(ttl),
        }
    }

    fn activation_mail(&self, name: &UserName, email: &Email, token: &Token) -> OutgoingMail {
        let base = self.policy.public_url.trim_end_matches('/');
        OutgoingMail::Activation {
            to: email.clone(),
            user: name.clone(),
            link: format!(
                "{base}/api/verifyEmail/{}/{}",
                encode(name.as_str()),
                encode(token.expose())
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode("a b/c?é").to_string(), "a%20b%2Fc%3F%C3%A9");
        assert_eq!(encode("Az09-._~").to_string(), "Az09-._~");
    }
}
