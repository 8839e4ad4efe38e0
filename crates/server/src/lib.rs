//! The chatty server: configuration, logging, wiring of the adapters and the HTTP server.
//! [`Application`] is what `main` runs and what the API tests start on a random port.

pub mod cli;
pub mod config;
pub mod duration;
pub mod telemetry;
pub mod wiring;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{HttpServer, web};
use chatty_domain::Services;
use chatty_http::{ApiState, CorsPolicy, HttpSettings, Metrics, cookie_key};
use chatty_memory::MemoryStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::config::Settings;
use crate::wiring::Store;

/// Why the server could not start. Each reads as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Wiring(String),
    #[error("cannot create the default chats: {0}")]
    DefaultChats(#[source] chatty_domain::Error),
}

/// A built server, listening, not yet serving.
pub struct Application {
    server: Server,
    port: u16,
    services: Services,
    shutdown: watch::Sender<bool>,
    background: Vec<JoinHandle<()>>,
    store: Store,
}

/// Stops a running [`Application`] gracefully: waiting polls return at once, in-flight
/// requests get a few seconds to finish.
#[derive(Clone)]
pub struct Stopper {
    shutdown: watch::Sender<bool>,
    handle: ServerHandle,
}

impl Stopper {
    pub async fn stop(&self) {
        self.shutdown.send_replace(true);
        self.handle.stop(true).await;
    }
}

/// How long in-flight requests may take to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How often the mail sender looks at the outbox when it found nothing to do.
const MAIL_IDLE: Duration = Duration::from_millis(250);

impl Application {
    /// Binds the listen address, wires the adapters, creates the default chats and starts
    /// the background tasks.
    ///
    /// # Errors
    /// A taken port, a failing store, bad wiring.
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let listener =
            TcpListener::bind(&settings.listen).map_err(|source| StartError::Listen {
                address: settings.listen.clone(),
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| StartError::Listen {
            address: settings.listen.clone(),
            source,
        })?;
        let port = bound.port();

        let public_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{port}"));
        let wired = wiring::wire(&settings, &public_url)
            .await
            .map_err(|e| StartError::Wiring(e.to_string()))?;
        let services = wired.services;
        let created = services
            .ensure_chats(&settings.chats)
            .await
            .map_err(StartError::DefaultChats)?;
        for chat in created {
            info!(chat.name = %chat, "created default chat {chat}");
        }

        let metrics =
            Arc::new(Metrics::new().map_err(|e| StartError::Wiring(format!("metrics: {e}")))?);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = web::Data::new(ApiState {
            services: services.clone(),
            settings: http_settings(&settings),
            shutdown: shutdown_rx,
            metrics: Arc::clone(&metrics),
        });
        let server = HttpServer::new(move || chatty_http::app(state.clone()))
            // Events are small writes that must leave at once: with Nagle's algorithm a write
            // behind an unacknowledged one waits for the peer's delayed ACK (up to 40 ms).
            .tcp_nodelay(true)
            .listen(listener)
            .map_err(|source| StartError::Listen {
                address: settings.listen.clone(),
                source,
            })?
            .client_request_timeout(settings.request_timeout)
            .keep_alive(settings.keep_alive)
            .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
            .disable_signals()
            .run();

        let mut background = vec![
            tokio::spawn(sweep_forever(
                services.clone(),
                settings.clean_inactive_users_interval,
            )),
            tokio::spawn(send_mail_forever(services.clone(), metrics)),
        ];
        if let Store::Postgres(pg) = &wired.store {
            background.push(tokio::spawn(Arc::clone(pg).follow()));
        }
        info!(port, "listening on {bound}");
        Ok(Self {
            server,
            port,
            services,
            shutdown,
            background,
            store: wired.store,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The in-memory store when the server runs on it (tests use its fault switch).
    pub fn memory_store(&self) -> Option<Arc<MemoryStore>> {
        match &self.store {
            Store::Memory(memory) => Some(Arc::clone(memory)),
            Store::Postgres(_) => None,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn stopper(&self) -> Stopper {
        Stopper {
            shutdown: self.shutdown.clone(),
            handle: self.server.handle(),
        }
    }

    /// Serves until stopped through a [`Stopper`].
    ///
    /// # Errors
    /// When the HTTP server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for task in self.background {
            task.abort();
        }
        result
    }
}

fn http_settings(settings: &Settings) -> HttpSettings {
    let cookie_key = match &settings.secret_key {
        Some(secret) => {
            let secret = secret.expose();
            if secret.len() < 32 {
                warn!(
                    "SECRET_KEY is shorter than 32 characters: cookies are only as safe as the key"
                );
            }
            cookie_key(secret)
        }
        None => {
            warn!("no SECRET_KEY: using a random cookie key, sessions end at restart");
            actix_web::cookie::Key::generate()
        }
    };
    let cors = if settings.dev && settings.allowed_origins.is_empty() {
        CorsPolicy::AnyOrigin
    } else {
        CorsPolicy::Listed(settings.allowed_origins.clone())
    };
    HttpSettings {
        cookie_key,
        cookie_secure: settings.cookie_secure,
        cookie_max_age: settings.cookie_max_age,
        cors,
        poll_wait: settings
            .response_timeout
            .saturating_sub(Duration::from_secs(1)),
        max_body_bytes: settings.max_body_bytes,
        static_dir: settings.static_dir.clone(),
    }
}

/// Ends idle sessions and prunes old events every `CleanInactiveUsersInterval`.
async fn sweep_forever(services: Services, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if let Err(e) = services.sweep().await {
            error!(error = %e, "the inactivity sweep failed; retrying at the next tick");
        }
    }
}

/// Delivers the outbox: right away while there is mail, every [`MAIL_IDLE`] otherwise.
async fn send_mail_forever(services: Services, metrics: Arc<Metrics>) {
    loop {
        match services.deliver_due_mail().await {
            Ok(round) if round.attempted() > 0 => {
                metrics.mail_sent.inc_by(round.sent as u64);
                metrics.mail_retried.inc_by(round.retried as u64);
                metrics.mail_failed.inc_by(round.failed as u64);
                continue;
            }
            Ok(_) => {}
            Err(e) => error!(error = %e, "the mail sender cannot read the outbox"),
        }
        tokio::time::sleep(MAIL_IDLE).await;
    }
}
