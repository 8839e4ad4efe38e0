//! Logging: human-readable lines in dev mode, JSON lines otherwise, one span per request
//! (tracing-actix-web). `RUST_LOG` overrides the level.

use tracing_subscriber::EnvFilter;

use crate::cli::LogLevel;

/// Installs the global subscriber. A second call (tests) leaves the first in place.
pub fn init(dev: bool, level: Option<LogLevel>) {
    let default = level.map_or("info", |l| l.as_str());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // Request spans are noisy at info for long polls; keep actix's own internals at warn.
        EnvFilter::new(format!("{default},actix_server=warn,actix_http=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if dev {
        builder.compact().try_init()
    } else {
        builder.json().flatten_event(true).try_init()
    };
}
