//! The composition root: the only place that names adapters. It chooses them from the
//! settings and hands them to the use cases.

use std::sync::Arc;

use chatty_domain::ports::{BoxError, Mailer};
use chatty_domain::{Policy, Ports, Services};
use chatty_memory::{LogMailer, MemoryLimits, MemoryStore};
use chatty_postgres::{PgSettings, PgStore};
use chatty_system::{BcryptHasher, RandomTokens, SystemClock};
use tracing::{info, warn};

use crate::config::{MailTransport, Settings, SmtpTls};
use chatty_sendgrid::{SmtpMailer, SmtpSettings, TlsMode};

/// The wired use cases and the store they run on.
pub struct Wired {
    pub services: Services,
    pub store: Store,
}

/// Which store the server runs on.
#[derive(Clone)]
pub enum Store {
    Memory(Arc<MemoryStore>),
    Postgres(Arc<PgStore>),
}

/// What the domain's rules need from the settings.
pub fn policy(settings: &Settings, public_url: &str) -> Policy {
    Policy {
        last_messages: settings.last_messages,
        max_message_chars: settings.max_message_chars,
        admins: settings.admins.clone(),
        activation_ttl: settings.activation_token_ttl,
        reset_ttl: settings.reset_token_ttl,
        inactivity_timeout: settings.inactivity_timeout,
        event_retention: settings.event_retention,
        public_url: public_url.to_owned(),
        reset_form_url: settings.reset_form_url.clone(),
        ..Policy::default()
    }
}

fn mailer(settings: &Settings) -> Result<Arc<dyn Mailer>, BoxError> {
    match settings.mail_transport {
        MailTransport::Log => {
            warn!("mail is not sent: it is written to the log (activation links, reset tokens)");
            Ok(Arc::new(LogMailer))
        }
        MailTransport::Smtp => {
            let from_address = settings
                .mail_from
                .clone()
                .ok_or("MailFrom must be set to send mail")?;
            let credentials = (!settings.smtp_user.is_empty()).then(|| {
                let password = settings
                    .sendgrid_key
                    .as_ref()
                    .map(|k| k.expose().to_owned())
                    .unwrap_or_default();
                (settings.smtp_user.clone(), password)
            });
            let smtp = SmtpSettings {
                host: settings.smtp_host.clone(),
                port: settings.smtp_port,
                tls: match settings.smtp_tls {
                    SmtpTls::StartTls => TlsMode::StartTls,
                    SmtpTls::Tls => TlsMode::Tls,
                    SmtpTls::None => TlsMode::None,
                },
                credentials,
                from_address,
                from_name: settings.mail_from_name.clone(),
                timeout: settings.smtp_timeout,
            };
            info!(smtp.host = %smtp.host, smtp.port = smtp.port, "sending mail through {}:{}", smtp.host, smtp.port);
            Ok(Arc::new(SmtpMailer::new(&smtp)?))
        }
    }
}

/// Postgres when `DATABASE_URL` is set (migrated first), the in-memory store otherwise.
///
/// # Errors
/// An unreachable database, a failed migration, a bcrypt cost out of range.
pub async fn wire(settings: &Settings, public_url: &str) -> Result<Wired, BoxError> {
    let hasher = Arc::new(BcryptHasher::new(settings.bcrypt_cost)?);
    let mailer = mailer(settings)?;
    let (store, ports) = match &settings.database_url {
        Some(url) => {
            let applied = chatty_postgres::migrate(url.expose())
                .await
                .map_err(|e| format!("cannot prepare the database: {e}"))?;
            let pg = Arc::new(PgStore::new(
                url.expose(),
                PgSettings {
                    event_retention_count: settings.event_retention_count,
                    ..PgSettings::default()
                },
            )?);
            info!(migrations = applied.len(), "using the Postgres store");
            match pg.maintenance_warnings().await {
                Ok(warnings) => warnings.iter().for_each(|w| warn!("{w}")),
                Err(e) => warn!(error = %e, "could not read the database server's settings"),
            }
            let ports = Ports::on_store(
                Arc::clone(&pg),
                mailer,
                hasher,
                Arc::new(SystemClock),
                Arc::new(RandomTokens),
            );
            (Store::Postgres(pg), ports)
        }
        None => {
            warn!("no DATABASE_URL: using the in-memory store; everything is lost at exit");
            let memory = Arc::new(MemoryStore::new(MemoryLimits {
                event_retention_count: settings.event_retention_count,
                ..MemoryLimits::default()
            }));
            let ports = Ports::on_store(
                Arc::clone(&memory),
                mailer,
                hasher,
                Arc::new(SystemClock),
                Arc::new(RandomTokens),
            );
            (Store::Memory(memory), ports)
        }
    };
    Ok(Wired {
        services: Services::new(ports, policy(settings, public_url)),
        store,
    })
}
