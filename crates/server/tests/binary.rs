//! The `chatty-server` binary as an operator runs it: dev-mode log lines, graceful shutdown on
//! SIGTERM, and a clear one-line error with a non-zero exit for each start-up failure.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use common::{Server, run_to_end, send, temp_file};

#[actix_web::test]
async fn dev_server_serves_a_chat_logs_mail_links_and_stops_on_sigterm() {
    let mut server = Server::start(&["-dev", "-config", "/nonexistent/chatty.toml"], &[]);
    let port = server.port();
    let base = format!("http://127.0.0.1:{port}");
    let client = awc::Client::default();

    let (status, body, alice) = send(
        &client,
        "POST",
        &format!("{base}/api/login"),
        None,
        r#"{"user":"alice"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let alice = alice.expect("a cookie");
    let (_, _, bob) = send(
        &client,
        "POST",
        &format!("{base}/api/login"),
        None,
        r#"{"user":"bob"}"#,
    )
    .await;
    let bob = bob.expect("a cookie");
    for cookie in [&alice, &bob] {
        let (status, body, _) = send(
            &client,
            "POST",
            &format!("{base}/api/loggedonly/joinChat"),
            Some(cookie),
            r#"{"chat":"Main"}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _, _) = send(
        &client,
        "POST",
        &format!("{base}/api/loggedonly/postMessage"),
        Some(&alice),
        r#"{"chat":"Main","text":"hi bob"}"#,
    )
    .await;
    assert_eq!(status, 200);
    let mut received = Vec::new();
    for _ in 0..10 {
        let (status, body, _) = send(
            &client,
            "GET",
            &format!("{base}/api/loggedonly/poll"),
            Some(&bob),
            "",
        )
        .await;
        assert_eq!(status, 200);
        if body.contains("MessageEvent") {
            received.push(body);
            break;
        }
    }
    assert!(received[0].contains(r#""text":"hi bob""#), "{received:?}");

    let (status, _, _) = send(
        &client,
        "POST",
        &format!("{base}/api/register"),
        None,
        r#"{"user":"carol","email":"carol@example.org","password":"secret1"}"#,
    )
    .await;
    assert_eq!(status, 200);
    let line = server.wait_for("activation link: ");
    let link = line
        .split("activation link: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let prefix = format!("http://localhost:{port}/api/verifyEmail/carol/");
    assert!(link.starts_with(&prefix), "{link}");
    let local = link.replace("http://localhost", "http://127.0.0.1");
    let (status, body, _) = send(&client, "GET", &local, None, "").await;
    assert_eq!(status, 200, "{body}");

    let (status, _, _) = send(
        &client,
        "POST",
        &format!("{base}/api/requestResetPassword"),
        None,
        r#"{"user":"carol"}"#,
    )
    .await;
    assert_eq!(status, 200);
    server.wait_for("reset password token: ");

    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    server.wait_for("server shut down");
}

/// The allocator's options compiled in by `.cargo/config.toml`: freed pages go back to the
/// system from jemalloc's background thread, so an idle server does not keep what a burst used.
#[test]
fn freed_memory_is_returned_by_the_allocators_background_thread() {
    let mut server = Server::start(&["-dev", "-config", "/nonexistent/chatty.toml"], &[]);
    server.port();
    let threads = || -> Vec<String> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", server.pid())).unwrap();
        tasks
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_owned())
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut names = threads();
    while !names.iter().any(|n| n.starts_with("jemalloc_bg")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no jemalloc background thread among {names:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
        names = threads();
    }
    server.terminate();
}

#[test]
fn the_original_config_toml_loads_unchanged() {
    let config = temp_file(
        "original.toml",
        "ServerListenAddress = \"127.0.0.1:0\"\nCleanInactiveUsersInterval = \"60s\"\nInactivityTimeout = \"1m30s\"\nCookieMaxAge = 604800\nRequestTimeout = \"15s\"\nResponseTimeout = \"30s\"\nChats = [\"Main\", \"Random\"]\nLastMessages = 50\n",
    );
    let mut server = Server::start(
        &["-dev", "-config", config.to_str().unwrap()],
        &[("CHATTY_SERVER_LISTEN_ADDRESS", "")],
    );
    server.wait_for("created default chat Random");
    server.port();
    assert!(server.terminate().success());
    std::fs::remove_file(config).unwrap();
}

#[test]
fn a_bad_config_value_stops_start_up_with_one_line() {
    let config = temp_file("bad.toml", "InactivityTimeout = \"soon\"\n");
    let (code, output) = run_to_end(&["-dev", "-config", config.to_str().unwrap()], &[]);
    assert_ne!(code, 0);
    assert_eq!(output.trim().lines().count(), 1, "{output}");
    assert!(output.contains("InactivityTimeout"), "{output}");
    std::fs::remove_file(config).unwrap();
}

#[test]
fn a_taken_port_stops_start_up_with_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let (code, output) = run_to_end(&["-dev"], &[("CHATTY_SERVER_LISTEN_ADDRESS", &address)]);
    assert_ne!(code, 0);
    let errors: Vec<_> = output
        .lines()
        .filter(|l| l.starts_with("chatty-server:"))
        .collect();
    assert_eq!(errors.len(), 1, "{output}");
    assert!(errors[0].contains(&address), "{output}");
}

#[test]
fn production_without_secret_key_refuses_to_start() {
    let (code, output) = run_to_end(
        &[],
        &[
            ("DATABASE_URL", "postgres://127.0.0.1:9/none"),
            ("CHATTY_SERVER_LISTEN_ADDRESS", "127.0.0.1:0"),
        ],
    );
    assert_ne!(code, 0);
    assert!(output.contains("SECRET_KEY"), "{output}");
    assert!(
        !output.contains("postgres://"),
        "no connection string in the output: {output}"
    );
}

#[test]
fn unknown_flags_are_refused_and_help_lists_the_flags() {
    let (code, output) = run_to_end(&["-bogus"], &[]);
    assert_ne!(code, 0);
    assert!(output.contains("-bogus"), "{output}");
    let (code, output) = run_to_end(&["--help"], &[]);
    assert_eq!(code, 0);
    for flag in ["-dev", "-config", "-loglevel", "admin grant"] {
        assert!(output.contains(flag), "{flag} missing from: {output}");
    }
}
