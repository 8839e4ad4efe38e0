//! Logging in and out, sessions and their expiry.

use tracing::info;

use super::{LoggedIn, Services};
use crate::error::{Error, Result};
use crate::model::input::Field;
use crate::model::name::UserName;
use crate::model::secret::Token;
use crate::model::session::{LoginMode, NewSession};
use crate::model::user::UserFlags;
use crate::ports::{Conflict, SessionKey, StoreError};

impl Services {
    /// `POST /api/login`: a password-less guest session. Registered and reserved names are
    /// refused (the web client then falls back to resuming, original-spec.md §13), and so is a
    /// name that is logged in.
    ///
    /// # Errors
    /// `Invalid`, `NameIsRegistered`, `AlreadyLoggedIn`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(user.name = %user))]
    pub async fn guest_login(&self, user: &str) -> Result<LoggedIn> {
        let name = UserName::parse(user)?;
        if Self::is_reserved(&name)
            || self
                .ports
                .accounts
                .find(&name)
                .await
                .map_err(Error::from_store)?
                .is_some()
        {
            return Err(Error::NameIsRegistered);
        }
        let new = NewSession {
            user: name,
            token: self.ports.tokens.token(),
            flags: UserFlags::default(),
            registered: false,
        };
        self.start_session(new, LoginMode::Guest).await
    }

    /// `POST /api/authorize`: a password login. It replaces any session of the same name (the
    /// original's force login) but keeps the user's chats.
    ///
    /// The password is checked before the verified flag and unknown names cost the same bcrypt
    /// work as known ones, so the answers reveal nothing about which names exist
    /// (api.md §2 item 9).
    ///
    /// # Errors
    /// `InvalidCredentials`, `EmailNotVerified`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(user.name = %user))]
    pub async fn authorize(&self, user: &str, password: &str) -> Result<LoggedIn> {
        let account = match UserName::parse(user) {
            Ok(name) => self
                .ports
                .accounts
                .find(&name)
                .await
                .map_err(Error::from_store)?,
            Err(_) => None,
        };
        let matches = self
            .ports
            .hasher
            .verify(password, account.as_ref().map(|a| &a.password_hash))
            .await;
        let Some(account) = account.filter(|_| matches) else {
            return Err(Error::InvalidCredentials);
        };
        if !account.verified {
            return Err(Error::EmailNotVerified);
        }
        let new = NewSession {
            flags: UserFlags {
                verified: account.verified,
                admin: self.policy.is_admin(&account),
                bot: account.bot,
            },
            user: account.name,
            token: self.ports.tokens.token(),
            registered: true,
        };
        self.start_session(new, LoginMode::Replace).await
    }

    /// `POST /api/loggedonly/login`: the web client's resume on page load. It renews the
    /// session's token and re-reads a registered user's flags, keeping the user's chats.
    ///
    /// # Errors
    /// `NotLoggedIn` when the account vanished, `Unavailable`.
    #[tracing::instrument(skip_all, fields(user.name = %current.user()))]
    pub async fn resume(&self, current: &LoggedIn) -> Result<LoggedIn> {
        let session = current.session();
        let flags = if session.registered {
            let account = self
                .ports
                .accounts
                .find(&session.user)
                .await
                .map_err(Error::from_store)?
                .ok_or(Error::NotLoggedIn)?;
            UserFlags {
                verified: account.verified,
                admin: self.policy.is_admin(&account),
                bot: account.bot,
            }
        } else {
            // A guest stays a guest, even if somebody registered the name meanwhile.
            UserFlags::default()
        };
        let new = NewSession {
            user: session.user.clone(),
            token: self.ports.tokens.token(),
            flags,
            registered: session.registered,
        };
        self.start_session(new, LoginMode::Replace).await
    }

    async fn start_session(&self, new: NewSession, mode: LoginMode) -> Result<LoggedIn> {
        let now = self.ports.clock.now();
        match self.ports.sessions.start(&new, mode, now).await {
            Ok(session) => {
                info!(user.name = %session.user, registered = session.registered, "{} logged in", session.user);
                Ok(LoggedIn(session))
            }
            Err(StoreError::Conflict(Conflict::Session)) => Err(Error::AlreadyLoggedIn),
            Err(e) => Err(Error::from_store(e)),
        }
    }

    /// The logged-only guard: the live session named in a cookie, after recording the
    /// request as activity (api.md §2 item 13).
    ///
    /// # Errors
    /// `NotLoggedIn` for anything that is not a live session's name and token,
    /// `Unavailable`.
    pub async fn authenticate(&self, user: &str, token: &str) -> Result<LoggedIn> {
        let (Ok(user), Ok(token)) = (
            UserName::parse(user),
            Token::from_client(Field::Token, token),
        ) else {
            return Err(Error::NotLoggedIn);
        };
        let key = SessionKey { user, token };
        self.ports
            .sessions
            .touch(&key, self.ports.clock.now())
            .await
            .map_err(Error::from_store)?
            .map(LoggedIn)
            .ok_or(Error::NotLoggedIn)
    }

    /// The admin-only guard (api.md §2 item 1).
    ///
    /// # Errors
    /// `AdminOnly`.
    pub fn require_admin(&self, me: &LoggedIn) -> Result<()> {
        if me.session().flags.admin {
            Ok(())
        } else {
            Err(Error::AdminOnly)
        }
    }

    /// `POST /api/loggedonly/logout`: ends the session; the user leaves every chat.
    ///
    /// # Errors
    /// `NotLoggedIn` when the session ended meanwhile, `Unavailable`.
    #[tracing::instrument(skip_all, fields(user.name = %me.user()))]
    pub async fn logout(&self, me: &LoggedIn) -> Result<()> {
        let ended = self
            .ports
            .sessions
            .end(&me.key(), false, self.ports.clock.now())
            .await
            .map_err(Error::from_store)?;
        if !ended {
            return Err(Error::NotLoggedIn);
        }
        info!(user.name = %me.user(), "{} logged out", me.user());
        Ok(())
    }

    /// `PUT /api/loggedonly/keepalive`. The guard has already recorded the activity; this
    /// exists so that the route calls a use case like every other.
    ///
    /// # Errors
    /// None today.
    pub fn keepalive(&self, _me: &LoggedIn) -> Result<()> {
        Ok(())
    }

    /// How many users are logged in (for metrics).
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn logged_in_count(&self) -> Result<u64> {
        self.ports.sessions.count().await.map_err(Error::from_store)
    }

    /// The periodic sweep: ends sessions idle for longer than `InactivityTimeout` (with the
    /// events of a logout) and drops events older than the retention window.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn sweep(&self) -> Result<Vec<UserName>> {
        let now = self.ports.clock.now();
        // Inactive means idle strictly longer than the timeout (original-spec.md §4.10).
        let cutoff = now.minus(self.policy.inactivity_timeout);
        let ended = self
            .ports
            .sessions
            .end_inactive(cutoff, now)
            .await
            .map_err(Error::from_store)?;
        for user in &ended {
            info!(user.name = %user, "{user} was logged out for inactivity");
        }
        self.ports
            .events
            .prune(now.minus(self.policy.event_retention))
            .await
            .map_err(Error::from_store)?;
        Ok(ended)
    }
}
