//! The dev-mode mailer: it sends nothing and logs what it would send.

use async_trait::async_trait;
use chatty_domain::OutgoingMail;
use chatty_domain::ports::{MailError, Mailer};
use tracing::info;

/// Logs each mail at info level instead of sending it, with exactly the lines operators and
/// test harnesses read tokens from (api.md §1): `activation link: <url>` and
/// `reset password token: <token>`. Dev mode only: these lines contain secrets.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        match mail {
            OutgoingMail::Activation { user, link, .. } => {
                info!(user.name = %user, "activation link: {link}");
            }
            OutgoingMail::PasswordReset { user, token, .. } => {
                info!(user.name = %user, "reset password token: {}", token.expose());
            }
        }
        Ok(())
    }
}
