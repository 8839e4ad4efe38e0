//! What every handler can reach: the use cases and the HTTP settings.

use std::path::PathBuf;
use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::{HttpRequest, web};
use chatty_domain::Services;
use tokio::sync::watch;

use std::sync::Arc;

use crate::cors::CorsPolicy;
use crate::metrics::Metrics;

/// Settings of the HTTP layer.
#[derive(Clone)]
pub struct HttpSettings {
    /// Signs and encrypts the session cookie.
    pub cookie_key: Key,
    /// `Secure` attribute of the cookie (api.md §2 item 4).
    pub cookie_secure: bool,
    /// `Max-Age` of the cookie (`CookieMaxAge`).
    pub cookie_max_age: Duration,
    pub cors: CorsPolicy,
    /// How long a long poll waits for an event (`ResponseTimeout` − 1 s).
    pub poll_wait: Duration,
    /// Largest accepted request body (`MaxBodyBytes`).
    pub max_body_bytes: usize,
    /// Where the static files (the web client) are served from (`StaticDir`).
    pub static_dir: PathBuf,
}

/// Shared state of the app.
pub struct ApiState {
    pub services: Services,
    pub settings: HttpSettings,
    /// Becomes `true` when the server shuts down: waiting polls return at once.
    pub shutdown: watch::Receiver<bool>,
    pub metrics: Arc<Metrics>,
}

/// The state as handlers extract it.
pub type Api = web::Data<ApiState>;

pub(crate) fn api_state(req: &HttpRequest) -> Option<&ApiState> {
    req.app_data::<Api>().map(|data| data.get_ref())
}
