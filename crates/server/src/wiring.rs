//! The composition root: the only place that names adapters. It chooses them from the
//! settings and hands them to the use cases.

use std::sync::Arc;

use chatty_domain::ports::BoxError;
use chatty_domain::{Policy, Ports, Services};
use chatty_memory::{LogMailer, MemoryLimits, MemoryStore};
use chatty_system::{BcryptHasher, RandomTokens, SystemClock};

use crate::config::Settings;

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

/// The in-memory store, the log mailer and the system's clock, tokens and bcrypt.
///
/// # Errors
/// When the bcrypt cost is out of range.
pub fn memory(
    settings: &Settings,
    public_url: &str,
) -> Result<(Services, Arc<MemoryStore>), BoxError> {
    let store = Arc::new(MemoryStore::new(MemoryLimits {
        event_retention_count: settings.event_retention_count,
        ..MemoryLimits::default()
    }));
    let ports = Ports {
        accounts: store.clone(),
        sessions: store.clone(),
        chats: store.clone(),
        messages: store.clone(),
        events: store.clone(),
        outbox: store.clone(),
        mailer: Arc::new(LogMailer),
        hasher: Arc::new(BcryptHasher::new(settings.bcrypt_cost)?),
        clock: Arc::new(SystemClock),
        tokens: Arc::new(RandomTokens),
    };
    Ok((Services::new(ports, policy(settings, public_url)), store))
}
