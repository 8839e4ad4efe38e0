//! Mail end to end: the server sends through a real SMTP server on 127.0.0.1, the link in the
//! received mail verifies the account, and queued mail survives an outage and a crash.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::time::Duration;

use chatty_postgres::testing::TestDatabase;
use chatty_sendgrid::testing::{SinkMode, SmtpSink};
use chatty_server::Application;
use common::{Server, send, temp_file};

/// The verification link in a received activation mail.
fn link_in(body: &str) -> String {
    body.split_whitespace()
        .find(|w| w.contains("/api/verifyEmail/"))
        .unwrap_or_else(|| panic!("no link in {body}"))
        .to_owned()
}

#[actix_web::test]
async fn registration_mails_a_link_that_verifies_the_account() {
    let sink = SmtpSink::start().await;
    let port = sink.port().to_string();
    let mut settings = common::settings(&[
        ("CHATTY_MAIL_TRANSPORT", "smtp"),
        ("CHATTY_SMTP_HOST", "127.0.0.1"),
        ("CHATTY_SMTP_PORT", port.as_str()),
        ("CHATTY_SMTP_TLS", "none"),
        ("CHATTY_MAIL_FROM", "noreply@chat.example"),
        ("SENDGRID_KEY", "SG.unused-by-the-sink"),
    ]);
    settings.smtp_user = String::new();
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let stopper = app.stopper();
    tokio::spawn(app.run_until_stopped());
    let client = awc::Client::default();

    let register = r#"{"user":"alice","email":"alice@example.org","password":"secret1"}"#;
    let (status, _, _) = send(
        &client,
        "POST",
        &format!("{base}/api/register"),
        None,
        register,
    )
    .await;
    assert_eq!(status, 200);
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "the activation mail arrives");
    assert_eq!(got[0].to, ["alice@example.org"]);
    let link = link_in(&got[0].body()).replace("http://localhost", "http://127.0.0.1");
    let (status, body, _) = send(&client, "GET", &link, None, "").await;
    assert_eq!(status, 200, "{body}");
    let login = r#"{"user":"alice","password":"secret1"}"#;
    let (status, body, _) = send(
        &client,
        "POST",
        &format!("{base}/api/authorize"),
        None,
        login,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let (status, _, _) = send(
        &client,
        "POST",
        &format!("{base}/api/requestResetPassword"),
        None,
        r#"{"user":"alice"}"#,
    )
    .await;
    assert_eq!(status, 200);
    let got = sink.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        got[1].header("Subject").unwrap(),
        "Your chatty password reset"
    );
    let (_, metrics, _) = send(&client, "GET", &format!("{base}/metrics"), None, "").await;
    assert!(
        metrics.lines().any(|l| l == "chatty_mail_sent_total 2"),
        "{metrics}"
    );
    stopper.stop().await;
}

#[actix_web::test]
async fn mail_queued_before_a_crash_is_delivered_after_the_restart() {
    let db = TestDatabase::new().await;
    let sink = SmtpSink::start().await;
    sink.set_mode(SinkMode::Refuse);
    // Production mode: Postgres, a real secret, mail over SMTP (the sink needs no login).
    let config = temp_file(
        "mail.toml",
        &format!(
            "SmtpHost = \"127.0.0.1\"\nSmtpPort = {}\nSmtpTls = \"none\"\nSmtpUser = \"\"\nMailFrom = \"noreply@chat.example\"\n",
            sink.port()
        ),
    );
    let env = [
        ("DATABASE_URL", db.url()),
        ("SECRET_KEY", "a-secret-key-of-a-decent-length-for-tests"),
        ("CHATTY_COOKIE_SECURE", "false"),
    ];
    let args = ["-config", config.to_str().unwrap()];
    let client = awc::Client::default();

    let mut first = Server::start(&args, &env);
    let base = format!("http://127.0.0.1:{}", first.port());
    let register = r#"{"user":"alice","email":"alice@example.org","password":"secret1"}"#;
    let (status, body, _) = send(
        &client,
        "POST",
        &format!("{base}/api/register"),
        None,
        register,
    )
    .await;
    assert_eq!(
        status, 200,
        "the sign-up succeeds while mail is refused: {body}"
    );
    first.wait_for("will retry");
    first.kill();

    sink.set_mode(SinkMode::Accept);
    let mut second = Server::start(&args, &env);
    second.port();
    let got = sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(
        got.len(),
        1,
        "the queued mail was delivered after the restart"
    );
    assert!(link_in(&got[0].body()).contains("/api/verifyEmail/alice/"));
    assert!(second.terminate().success());
    std::fs::remove_file(config).unwrap();
}
