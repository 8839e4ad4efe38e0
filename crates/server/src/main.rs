//! `chatty-server`: parses flags, loads the configuration, starts logging, then serves until
//! SIGINT or SIGTERM, or runs an admin sub-command.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use chatty_server::cli::{self, Command};
use chatty_server::config::Settings;
use chatty_server::{Application, telemetry};
use tracing::{info, warn};

/// Every connection holds two 8 KiB buffers, written only at their start while a long poll
/// waits; jemalloc carves them from fresh pages that stay unresident until touched, where the
/// system allocator hands out pages the previous requests already dirtied (docs/benchmark.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = match cli::parse_args(std::env::args().skip(1)) {
        Ok(cli) => cli,
        Err(e) => return fail(&e.to_string()),
    };
    match &cli.command {
        Command::Help => return say(cli::USAGE),
        Command::Version => return say(concat!("chatty-server ", env!("CARGO_PKG_VERSION"))),
        Command::Serve | Command::Admin { .. } => {}
    }
    let env: HashMap<String, String> = std::env::vars().collect();
    let (settings, warnings) = match Settings::load(&cli, &env) {
        Ok(loaded) => loaded,
        Err(e) => return fail(&e.to_string()),
    };
    telemetry::init(settings.dev, cli.log_level);
    for warning in warnings {
        warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match cli.command {
        Command::Admin { grant, user } => runtime.block_on(admin(settings, grant, &user)),
        _ => runtime.block_on(serve(settings)),
    }
}

async fn serve(settings: Settings) -> ExitCode {
    if let Err(e) = settings.validate_for_start() {
        return fail(&e.to_string());
    }
    // Registered before the server says it listens: a SIGTERM right after that line must
    // shut it down gracefully, not kill it.
    let signalled = shutdown_signal();
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => return fail(&e.to_string()),
    };
    let stopper = app.stopper();
    tokio::spawn(async move {
        signalled.await;
        info!("shutting down");
        stopper.stop().await;
    });
    match app.run_until_stopped().await {
        Ok(()) => {
            info!("server shut down");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("the server failed: {e}")),
    }
}

async fn admin(settings: Settings, grant: bool, user: &str) -> ExitCode {
    if settings.database_url.is_none() {
        return fail(
            "admin grant/revoke changes the persistent store: set DATABASE_URL \
             (the in-memory store lives only inside a running server)",
        );
    }
    let wired = match chatty_server::wiring::wire(&settings, "http://localhost").await {
        Ok(wired) => wired,
        Err(e) => return fail(&e.to_string()),
    };
    match wired.services.set_admin(user, grant).await {
        Ok(()) => {
            let verb = if grant { "is now" } else { "is no longer" };
            say(&format!("{user} {verb} an admin (from their next login)"))
        }
        Err(e) => fail(&format!("{user}: {e}")),
    }
}

/// SIGINT or SIGTERM, with the handlers installed when this is called (not when awaited).
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    async move {
        match handlers {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn say(text: &str) -> ExitCode {
    let _ = writeln!(std::io::stdout(), "{text}");
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "chatty-server: {message}");
    ExitCode::FAILURE
}
