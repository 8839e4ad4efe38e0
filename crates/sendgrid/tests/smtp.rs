//! The SMTP mailer against a real SMTP server on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::sync::Arc;
use std::time::Duration;

use chatty_domain::contract::Stores;
use chatty_domain::contract::doubles::{FakeHasher, ManualClock, SequentialTokens};
use chatty_domain::ports::{MailError, Mailer};
use chatty_domain::{Email, OutgoingMail, Policy, Ports, Services, Token, UserName};
use chatty_memory::MemoryStore;
use chatty_sendgrid::testing::{SinkMode, SmtpSink};
use chatty_sendgrid::{SmtpMailer, SmtpSettings, TlsMode};

fn settings(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::None,
        credentials: None,
        from_address: "noreply@chat.example".into(),
        from_name: "chatty".into(),
        timeout: Duration::from_secs(2),
    }
}

fn activation(user: &str) -> OutgoingMail {
    OutgoingMail::Activation {
        to: Email::parse(&format!("{}@example.org", user.to_lowercase())).unwrap(),
        user: UserName::parse(user).unwrap(),
        link: format!("https://chat.example/api/verifyEmail/{user}/tok123"),
    }
}

#[tokio::test]
async fn an_activation_mail_arrives_with_its_link_and_headers() {
    let sink = SmtpSink::start().await;
    let mailer = SmtpMailer::new(&settings(sink.port())).unwrap();
    mailer.send(&activation("alice")).await.unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    let mail = &got[0];
    assert_eq!(mail.to, ["alice@example.org"]);
    assert_eq!(mail.from, "noreply@chat.example");
    assert_eq!(mail.header("To").unwrap(), "alice <alice@example.org>");
    assert_eq!(
        mail.header("From").unwrap(),
        "chatty <noreply@chat.example>"
    );
    assert_eq!(
        mail.header("Subject").unwrap(),
        "Confirm your e-mail address for chatty"
    );
    assert!(mail.header("Date").is_some(), "{}", mail.data);
    assert!(
        mail.header("Message-ID")
            .is_some_and(|id| id.starts_with('<') && id.contains('@'))
    );
    assert!(
        mail.body()
            .contains("https://chat.example/api/verifyEmail/alice/tok123"),
        "{}",
        mail.body()
    );
}

#[tokio::test]
async fn a_reset_mail_carries_the_token_and_the_form_link() {
    let sink = SmtpSink::start().await;
    let mailer = SmtpMailer::new(&settings(sink.port())).unwrap();
    let mail = OutgoingMail::PasswordReset {
        to: Email::parse("bob@example.org").unwrap(),
        user: UserName::parse("bob").unwrap(),
        token: Token::new("reset-token-42".into()),
        link: Some("https://chat.example/reset?user=bob&token=reset-token-42".into()),
    };
    mailer.send(&mail).await.unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    let body = got[0].body();
    assert_eq!(
        got[0].header("Subject").unwrap(),
        "Your chatty password reset"
    );
    assert!(body.contains("reset-token-42"), "{body}");
    assert!(
        body.contains("https://chat.example/reset?user=bob&token=reset-token-42"),
        "{body}"
    );
}

#[tokio::test]
async fn names_that_need_encoding_are_encoded_in_headers() {
    let sink = SmtpSink::start().await;
    let mailer = SmtpMailer::new(&settings(sink.port())).unwrap();
    let mail = OutgoingMail::Activation {
        to: Email::parse("zoe@example.org").unwrap(),
        user: UserName::parse("Zoë Ünal").unwrap(),
        link: "https://chat.example/api/verifyEmail/Zo%C3%AB%20%C3%9Cnal/t".into(),
    };
    mailer.send(&mail).await.unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    let to = got[0].header("To").unwrap();
    assert!(to.contains("=?utf-8?"), "encoded word expected: {to}");
    assert!(to.ends_with("<zoe@example.org>"), "{to}");
    assert!(
        got[0].header("To").unwrap().is_ascii(),
        "headers stay ASCII"
    );
    assert!(
        got[0].body().contains("Hello, Zoë Ünal!"),
        "{}",
        got[0].body()
    );
}

#[tokio::test]
async fn refusals_and_timeouts_are_transient_rejections_permanent() {
    let sink = SmtpSink::start().await;
    let mailer = SmtpMailer::new(&settings(sink.port())).unwrap();
    sink.set_mode(SinkMode::Refuse);
    assert!(matches!(
        mailer.send(&activation("a")).await,
        Err(MailError::Transient(_))
    ));
    sink.set_mode(SinkMode::Hang);
    let mut quick = settings(sink.port());
    quick.timeout = Duration::from_millis(500);
    let hanging = SmtpMailer::new(&quick).unwrap();
    assert!(matches!(
        hanging.send(&activation("a")).await,
        Err(MailError::Transient(_))
    ));
    sink.set_mode(SinkMode::Reject);
    let rejecting = SmtpMailer::new(&settings(sink.port())).unwrap();
    assert!(matches!(
        rejecting.send(&activation("a")).await,
        Err(MailError::Permanent(_))
    ));
    let closed = SmtpMailer::new(&settings(1)).unwrap();
    assert!(matches!(
        closed.send(&activation("a")).await,
        Err(MailError::Transient(_))
    ));
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn the_outbox_keeps_mail_through_an_outage_and_delivers_it_after() {
    let sink = SmtpSink::start().await;
    sink.set_mode(SinkMode::Refuse);
    let store = Arc::new(MemoryStore::default());
    let stores = Stores::from_store(store.clone());
    let clock = Arc::new(ManualClock::default());
    let ports = Ports {
        accounts: stores.accounts.clone(),
        sessions: stores.sessions.clone(),
        chats: stores.chats.clone(),
        messages: stores.messages.clone(),
        events: stores.events.clone(),
        outbox: stores.outbox.clone(),
        mailer: Arc::new(SmtpMailer::new(&settings(sink.port())).unwrap()),
        hasher: Arc::new(FakeHasher),
        clock: clock.clone(),
        tokens: Arc::new(SequentialTokens::default()),
    };
    let services = Services::new(ports, Policy::default());
    services
        .register("alice", "alice@example.org", "secret1")
        .await
        .unwrap();
    let round = services.deliver_due_mail().await.unwrap();
    assert_eq!(
        round.retried, 1,
        "the refusal does not fail the sign-up or lose the mail"
    );
    assert_eq!(stores.outbox.pending_count().await.unwrap(), 1);

    sink.set_mode(SinkMode::Accept);
    clock.advance(Duration::from_secs(60));
    let round = services.deliver_due_mail().await.unwrap();
    assert_eq!(round.sent, 1);
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    let link_line = got[0].body();
    assert!(
        link_line.contains("/api/verifyEmail/alice/tok0001"),
        "{link_line}"
    );
    assert_eq!(stores.outbox.pending_count().await.unwrap(), 0);
}
