//! The mailer port over lettre's async SMTP transport. In production it talks to SendGrid's
//! relay (`smtp.sendgrid.net:587`, STARTTLS, user `apikey`, the API key as password); host,
//! port, TLS mode, credentials and sender are settings, so any SMTP service works.
//!
//! The transport is built lazily: nothing connects at start-up, and each delivery attempt has
//! its own timeout. Failures are sorted for the outbox: a 5xx reply or an address that cannot
//! be encoded is permanent, everything else (refused connections, timeouts, 4xx) is retried.

mod render;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::Duration;

use async_trait::async_trait;
use chatty_domain::OutgoingMail;
use chatty_domain::ports::{BoxError, MailError, Mailer};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tracing::debug;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS, which is required (SendGrid on port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or in tests.
    None,
}

/// Where and how to send.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// `None` for servers that take mail without authentication.
    pub credentials: Option<(String, String)>,
    /// The `From` address, e.g. `chatty@example.org`.
    pub from_address: String,
    /// The `From` display name, e.g. `chatty`.
    pub from_name: String,
    /// Longest a single delivery attempt may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("from_address", &self.from_address)
            .finish_non_exhaustive()
    }
}

/// Sends mail over SMTP.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
}

impl SmtpMailer {
    /// Builds the transport. It connects only when the first mail is sent. Must be called
    /// inside a tokio runtime (the connection pool starts a task).
    ///
    /// # Errors
    /// An invalid sender address or TLS setting.
    pub fn new(settings: &SmtpSettings) -> Result<Self, BoxError> {
        let from = Mailbox::new(
            Some(settings.from_name.clone()),
            settings
                .from_address
                .parse()
                .map_err(|e| format!("MailFrom {:?}: {e}", settings.from_address))?,
        );
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .timeout(Some(settings.timeout));
        builder = match settings.tls {
            TlsMode::None => builder.tls(Tls::None),
            TlsMode::StartTls => {
                builder.tls(Tls::Required(TlsParameters::new(settings.host.clone())?))
            }
            TlsMode::Tls => builder.tls(Tls::Wrapper(TlsParameters::new(settings.host.clone())?)),
        };
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            timeout: settings.timeout,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = render::render(mail, &self.from).map_err(MailError::Permanent)?;
        // lettre's own timeout covers connecting and commands, not a server that accepts the
        // connection and never greets: the whole attempt is bounded here.
        let attempt = tokio::time::timeout(self.timeout, self.transport.send(message));
        let Ok(outcome) = attempt.await else {
            return Err(MailError::Transient(
                format!("no answer from the SMTP server within {:?}", self.timeout).into(),
            ));
        };
        match outcome {
            Ok(response) => {
                debug!(code = %response.code(), "SMTP server accepted the mail");
                Ok(())
            }
            Err(e) if e.is_permanent() => Err(MailError::Permanent(Box::new(e))),
            Err(e) => Err(MailError::Transient(Box::new(e))),
        }
    }
}
