//! The files in deploy/ stay true to the server: the example production configuration loads
//! and passes the start-up checks with its secrets from the environment, and the server starts
//! with it.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use chatty_server::cli::{Cli, Command};
use chatty_server::config::{MailTransport, Settings};
use common::{Server, run_to_end};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/config.toml")
}

#[test]
fn the_example_production_config_loads_and_passes_the_start_up_checks() {
    let cli = Cli {
        dev: false,
        config: example(),
        log_level: None,
        command: Command::Serve,
    };
    let env: HashMap<String, String> = [
        ("DATABASE_URL", "postgres://chatty:pw@db:5432/chatty"),
        ("SECRET_KEY", "0123456789abcdef0123456789abcdef"),
        ("SENDGRID_KEY", "SG.example"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let (settings, warnings) = Settings::load(&cli, &env).unwrap();
    assert!(warnings.is_empty(), "every key is known: {warnings:?}");
    assert!(!settings.dev && settings.cookie_secure);
    assert_eq!(settings.mail_transport, MailTransport::Smtp);
    assert_eq!(
        settings.public_url.as_deref(),
        Some("https://chat.example.org")
    );
    settings.validate_for_start().unwrap();
}

#[test]
fn the_server_starts_with_the_example_config_in_dev_mode() {
    let config = example();
    let mut server = Server::start(
        &["-dev", "-config", config.to_str().unwrap()],
        &[("CHATTY_MAIL_TRANSPORT", "log")],
    );
    server.port();
    assert!(server.terminate().success());
}

#[test]
fn the_example_config_without_secrets_refuses_to_start_with_one_line() {
    let config = example();
    let (code, output) = run_to_end(
        &["-config", config.to_str().unwrap()],
        &[
            ("DATABASE_URL", "postgres://chatty@127.0.0.1:1/chatty"),
            ("CHATTY_SERVER_LISTEN_ADDRESS", "127.0.0.1:0"),
        ],
    );
    assert_ne!(code, 0);
    assert!(output.contains("SECRET_KEY"), "{output}");
}
