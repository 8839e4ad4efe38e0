//! Every use case, its error paths and its events, run against a store implementation with
//! the test doubles. Run it with [`use_case_suite!`](crate::use_case_suite).

use std::sync::Arc;
use std::time::Duration;

use super::doubles::{FakeHasher, MailerMode, ManualClock, RecordingMailer, SequentialTokens};
use super::{Stores, describe};
use crate::error::Error;
use crate::model::event::{Delivery, Event};
use crate::model::input::{Field, Problem};
use crate::model::mail::OutgoingMail;
use crate::model::name::UserName;
use crate::service::{LoggedIn, MailPolicy, Policy, PollOutcome, PollRequest, Ports, Services};

/// Runs every use-case case as its own test. `$make` as for
/// [`store_contract!`](crate::store_contract).
#[macro_export]
macro_rules! use_case_suite {
    ($make:expr) => {
        $crate::__contract_cases!(use_cases; $make;
            registration_mails_a_link_that_verifies_the_account,
            registration_refuses_bad_input_in_field_order,
            registration_refuses_taken_and_reserved_names_and_emails,
            verification_rejects_unknown_users_and_bad_or_expired_tokens,
            verification_link_keeps_working_once_verified,
            resend_verification_reveals_nothing_and_replaces_the_link,
            authorize_reveals_nothing_about_unknown_names,
            authorize_checks_the_password_before_the_verified_flag,
            authorize_replaces_the_session_of_the_same_name,
            guest_login_refuses_registered_reserved_and_logged_in_names,
            resume_renews_the_token_and_keeps_chats,
            logout_ends_the_session_and_leaves_every_chat,
            authentication_refuses_anything_but_a_live_session,
            password_reset_works_once_before_expiry_and_ends_sessions,
            password_reset_refuses_bad_input,
            password_reset_request_reveals_nothing,
            admins_come_from_config_or_the_stored_flag,
            chat_administration_validates_names,
            join_and_leave_report_their_errors,
            join_returns_the_report_with_history_and_members,
            posting_checks_membership_and_text,
            help_gets_an_answer_from_the_bot,
            last_messages_and_history_are_for_members_only,
            event_sequences_of_the_original_are_kept,
            events_between_polls_wait_in_order,
            concurrent_polls_of_one_session_never_share_an_event,
            poll_wakes_on_a_new_event,
            poll_times_out_and_ends_with_the_session,
            poll_cursor_and_limit_are_validated,
            poll_after_a_cursor_resumes_exactly,
            inactivity_sweep_ends_idle_sessions_only,
            sweep_prunes_old_events_into_a_resync,
            mail_is_retried_with_backoff_until_delivered,
            mail_that_cannot_be_delivered_fails_for_good,
        );
    };
}

/// Services on a store, with a manual clock, a fake hasher, predictable tokens and a mailer
/// that records.
pub struct Fixture {
    pub services: Services,
    pub clock: Arc<ManualClock>,
    pub mailer: Arc<RecordingMailer>,
    pub stores: Stores,
}

/// The policy of these tests: the defaults, with three messages per report and `root` as a
/// configured admin.
pub fn test_policy() -> Policy {
    Policy {
        last_messages: 3,
        max_message_chars: 20,
        admins: vec![UserName::parse("root").unwrap()],
        public_url: "https://chat.example/".to_owned(),
        reset_form_url: Some("https://chat.example/reset".to_owned()),
        max_poll_batch: 100,
        mail: MailPolicy {
            max_attempts: 3,
            first_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(60),
            lease: Duration::from_secs(30),
            batch: 10,
        },
        ..Policy::default()
    }
}

impl Fixture {
    pub fn new(stores: Stores) -> Self {
        Self::with_policy(stores, test_policy())
    }

    pub fn with_policy(stores: Stores, policy: Policy) -> Self {
        let clock = Arc::new(ManualClock::default());
        let mailer = Arc::new(RecordingMailer::default());
        let ports = Ports {
            accounts: Arc::clone(&stores.accounts),
            sessions: Arc::clone(&stores.sessions),
            chats: Arc::clone(&stores.chats),
            messages: Arc::clone(&stores.messages),
            events: Arc::clone(&stores.events),
            outbox: Arc::clone(&stores.outbox),
            mailer: mailer.clone(),
            hasher: Arc::new(FakeHasher),
            clock: clock.clone(),
            tokens: Arc::new(SequentialTokens::default()),
        };
        Self {
            services: Services::new(ports, policy),
            clock,
            mailer,
            stores,
        }
    }

    /// Delivers every queued mail to the recording mailer.
    pub async fn deliver_mail(&self) {
        while self.services.deliver_due_mail().await.unwrap().attempted() > 0 {}
    }

    pub async fn guest(&self, name: &str) -> LoggedIn {
        self.services.guest_login(name).await.unwrap()
    }

    /// Registers, verifies through the mailed link and logs in with the password `secret1`.
    pub async fn member(&self, name: &str) -> LoggedIn {
        self.services
            .register(name, &format!("{name}@example.org"), "secret1")
            .await
            .unwrap();
        self.deliver_mail().await;
        let token = self.mailer.activation_token(name).unwrap();
        self.services.verify_email(name, &token).await.unwrap();
        self.services.authorize(name, "secret1").await.unwrap()
    }

    /// Whatever the session can take now, without waiting.
    pub async fn take_all(&self, me: &LoggedIn) -> Vec<Delivery> {
        let request = PollRequest {
            after: None,
            limit: Some("100"),
        };
        match self
            .services
            .poll(me, request, std::future::ready(()))
            .await
            .unwrap()
        {
            PollOutcome::Delivered(batch) => batch,
            PollOutcome::TimedOut => Vec::new(),
            PollOutcome::SessionEnded => panic!("{} has no session", me.user()),
        }
    }

    /// The types and subjects of what the session can take now.
    pub async fn events_of(&self, me: &LoggedIn) -> Vec<String> {
        describe(&self.take_all(me).await)
    }
}

macro_rules! assert_err {
    ($result:expr, $pattern:pat) => {
        match $result {
            Err($pattern) => {}
            other => panic!(
                "expected {}, got {:?}",
                stringify!($pattern),
                other.map(|_| ())
            ),
        }
    };
}

fn invalid(field: Field, problem: &Problem, error: &Error) -> bool {
    matches!(error, Error::Invalid(e) if e.field == field && &e.problem == problem)
}

// ---- accounts -------------------------------------------------------------------------------

pub async fn registration_mails_a_link_that_verifies_the_account(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .register("Zoë Smith", "zoe@example.org", "secret1")
        .await
        .unwrap();
    assert!(f.mailer.sent().is_empty(), "mail goes through the outbox");
    f.deliver_mail().await;
    let Some(OutgoingMail::Activation { to, link, .. }) = f.mailer.last_to("Zoë Smith") else {
        panic!("no activation mail");
    };
    assert_eq!(to.as_str(), "zoe@example.org");
    let token = f.mailer.activation_token("Zoë Smith").unwrap();
    assert_eq!(
        link,
        format!("https://chat.example/api/verifyEmail/Zo%C3%AB%20Smith/{token}"),
        "absolute, from PublicUrl, segments encoded"
    );
    assert_err!(
        f.services.authorize("Zoë Smith", "secret1").await,
        Error::EmailNotVerified
    );
    f.services.verify_email("Zoë Smith", &token).await.unwrap();
    let me = f.services.authorize("zoë smith", "secret1").await.unwrap();
    assert_eq!(me.user().as_str(), "Zoë Smith", "the registered spelling");
    assert_eq!(
        me.session().flags,
        crate::UserFlags {
            verified: true,
            admin: false,
            bot: false
        }
    );
}

pub async fn registration_refuses_bad_input_in_field_order(stores: Stores) {
    let f = Fixture::new(stores);
    assert_err!(
        f.services.register("alice", "alice@example.org", "").await,
        Error::PasswordEmpty
    );
    let err = f.services.register("", "bad", "123").await.unwrap_err();
    assert!(invalid(Field::User, &Problem::Empty, &err), "{err}");
    let err = f
        .services
        .register("alice", "bad", "123")
        .await
        .unwrap_err();
    assert!(
        invalid(Field::Email, &Problem::NotAnEmailAddress, &err),
        "{err}"
    );
    let err = f
        .services
        .register("alice", "alice@example.org", "12345")
        .await
        .unwrap_err();
    assert!(
        invalid(
            Field::Password,
            &Problem::TooShort {
                min: 6,
                unit: "bytes"
            },
            &err
        ),
        "{err}"
    );
    let long = "p".repeat(73);
    let err = f
        .services
        .register("alice", "alice@example.org", &long)
        .await
        .unwrap_err();
    assert!(
        invalid(
            Field::Password,
            &Problem::TooLong {
                max: 72,
                unit: "bytes"
            },
            &err
        ),
        "{err}"
    );
    let err = f
        .services
        .register(&"a".repeat(5000), "a@example.org", "secret1")
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("user:"), "{err}");
    let err = f
        .services
        .register("al\u{0}ice", "a@example.org", "secret1")
        .await
        .unwrap_err();
    assert!(
        invalid(Field::User, &Problem::InvisibleCharacter, &err),
        "{err}"
    );
    f.deliver_mail().await;
    assert!(f.mailer.sent().is_empty(), "nothing stored, nothing sent");
}

pub async fn registration_refuses_taken_and_reserved_names_and_emails(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .register("alice", "alice@example.org", "secret1")
        .await
        .unwrap();
    assert_err!(
        f.services
            .register("ALICE", "other@example.org", "secret1")
            .await,
        Error::UserAlreadyRegistered
    );
    assert_err!(
        f.services
            .register("bob", "Alice@EXAMPLE.org", "secret1")
            .await,
        Error::EmailAlreadyRegistered
    );
    assert_err!(
        f.services
            .register("bot", "bot@example.org", "secret1")
            .await,
        Error::UserAlreadyRegistered
    );
    f.deliver_mail().await;
    assert_eq!(
        f.mailer.sent().len(),
        1,
        "only the first registration mails"
    );
}

pub async fn verification_rejects_unknown_users_and_bad_or_expired_tokens(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .register("alice", "alice@example.org", "secret1")
        .await
        .unwrap();
    f.deliver_mail().await;
    let token = f.mailer.activation_token("alice").unwrap();
    assert_err!(
        f.services.verify_email("nobody", &token).await,
        Error::UnknownUser
    );
    assert_err!(
        f.services.verify_email("", &token).await,
        Error::UnknownUser
    );
    assert_err!(
        f.services.verify_email("alice", "wrong").await,
        Error::BadActivationToken
    );
    assert_err!(
        f.services.verify_email("alice", "").await,
        Error::BadActivationToken
    );
    f.clock.advance(f.services.policy().activation_ttl);
    assert_err!(
        f.services.verify_email("alice", &token).await,
        Error::BadActivationToken
    );
    assert_err!(
        f.services.authorize("alice", "secret1").await,
        Error::EmailNotVerified
    );
}

pub async fn verification_link_keeps_working_once_verified(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .register("alice", "alice@example.org", "secret1")
        .await
        .unwrap();
    f.deliver_mail().await;
    let token = f.mailer.activation_token("alice").unwrap();
    f.services.verify_email("alice", &token).await.unwrap();
    f.services.verify_email("ALICE", &token).await.unwrap();
    f.clock.advance(f.services.policy().activation_ttl * 2);
    f.services.verify_email("alice", &token).await.unwrap();
    assert_err!(
        f.services.verify_email("alice", "wrong").await,
        Error::BadActivationToken
    );
}

pub async fn resend_verification_reveals_nothing_and_replaces_the_link(stores: Stores) {
    let f = Fixture::new(stores);
    f.services.resend_verification("nobody").await.unwrap();
    f.services.resend_verification("").await.unwrap();
    f.services
        .register("alice", "alice@example.org", "secret1")
        .await
        .unwrap();
    f.deliver_mail().await;
    let first = f.mailer.activation_token("alice").unwrap();
    f.services.resend_verification("Alice").await.unwrap();
    f.deliver_mail().await;
    assert_eq!(f.mailer.sent().len(), 2);
    let second = f.mailer.activation_token("alice").unwrap();
    assert_ne!(first, second);
    assert_err!(
        f.services.verify_email("alice", &first).await,
        Error::BadActivationToken
    );
    f.services.verify_email("alice", &second).await.unwrap();
    f.services.resend_verification("alice").await.unwrap();
    f.deliver_mail().await;
    assert_eq!(f.mailer.sent().len(), 2, "nothing for a verified account");
}

// ---- sessions -------------------------------------------------------------------------------

pub async fn authorize_reveals_nothing_about_unknown_names(stores: Stores) {
    let f = Fixture::new(stores);
    f.member("alice").await;
    assert_err!(
        f.services.authorize("nobody", "secret1").await,
        Error::InvalidCredentials
    );
    assert_err!(
        f.services.authorize("alice", "wrong-password").await,
        Error::InvalidCredentials
    );
    assert_err!(
        f.services.authorize("", "").await,
        Error::InvalidCredentials
    );
    assert_err!(
        f.services.authorize(&"x".repeat(5000), "secret1").await,
        Error::InvalidCredentials
    );
    assert_err!(
        f.services.authorize("alice", &"x".repeat(500)).await,
        Error::InvalidCredentials
    );
}

pub async fn authorize_checks_the_password_before_the_verified_flag(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .register("alice", "alice@example.org", "secret1")
        .await
        .unwrap();
    assert_err!(
        f.services.authorize("alice", "wrong1").await,
        Error::InvalidCredentials
    );
    assert_err!(
        f.services.authorize("alice", "secret1").await,
        Error::EmailNotVerified
    );
}

pub async fn authorize_replaces_the_session_of_the_same_name(stores: Stores) {
    let f = Fixture::new(stores);
    let squatter = f.guest("alice").await;
    let watcher = f.guest("watcher").await;
    let alice = f.member("alice").await;
    let key = squatter.key();
    assert_err!(
        f.services
            .authenticate(key.user.as_str(), key.token.expose())
            .await,
        Error::NotLoggedIn
    );
    let key = alice.key();
    f.services
        .authenticate(key.user.as_str(), key.token.expose())
        .await
        .unwrap();
    let seen = f.events_of(&watcher).await;
    assert_eq!(seen[1..], ["LogoutEvent(alice)", "LoginEvent(alice)"]);
    let again = f.services.authorize("alice", "secret1").await.unwrap();
    assert!(!again.session().token.matches(&alice.session().token));
}

pub async fn guest_login_refuses_registered_reserved_and_logged_in_names(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .register("alice", "alice@example.org", "secret1")
        .await
        .unwrap();
    assert_err!(
        f.services.guest_login("alice").await,
        Error::NameIsRegistered
    );
    assert_err!(
        f.services.guest_login("ALICE").await,
        Error::NameIsRegistered
    );
    assert_err!(f.services.guest_login("Bot").await, Error::NameIsRegistered);
    assert_err!(f.services.guest_login("bOT").await, Error::NameIsRegistered);
    let bob = f.guest("bob").await;
    assert_eq!(bob.session().flags, crate::UserFlags::default());
    assert!(!bob.session().registered);
    assert_err!(f.services.guest_login("bob").await, Error::AlreadyLoggedIn);
    assert_err!(f.services.guest_login("Bob").await, Error::AlreadyLoggedIn);
    let err = f.services.guest_login(" bob").await.unwrap_err();
    assert!(
        invalid(Field::User, &Problem::SurroundingWhitespace, &err),
        "{err}"
    );
    let err = f.services.guest_login("b\u{202E}ob").await.unwrap_err();
    assert!(
        invalid(Field::User, &Problem::InvisibleCharacter, &err),
        "{err}"
    );
    let err = f.services.guest_login("").await.unwrap_err();
    assert!(invalid(Field::User, &Problem::Empty, &err), "{err}");
    f.guest("Борис").await;
    f.guest(&"名".repeat(50)).await;
}

pub async fn resume_renews_the_token_and_keeps_chats(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .ensure_chats(&[crate::ChatName::parse("Main").unwrap()])
        .await
        .unwrap();
    let alice = f.member("alice").await;
    let bob = f.guest("bob").await;
    f.services.join_chat(&alice, "Main").await.unwrap();
    f.services.join_chat(&bob, "Main").await.unwrap();
    f.take_all(&bob).await;
    let resumed = f.services.resume(&alice).await.unwrap();
    assert!(!resumed.session().token.matches(&alice.session().token));
    assert_eq!(resumed.session().flags, alice.session().flags);
    assert_err!(
        f.services
            .authenticate("alice", alice.session().token.expose())
            .await,
        Error::NotLoggedIn
    );
    assert_eq!(
        f.events_of(&bob).await,
        ["LogoutEvent(alice)", "LoginEvent(alice)"],
        "no leave/join storm on resume"
    );
    f.services
        .post_message(&resumed, "Main", "still here")
        .await
        .unwrap();
    let guest = f.services.resume(&bob).await.unwrap();
    assert_eq!(guest.session().flags, crate::UserFlags::default());
}

pub async fn logout_ends_the_session_and_leaves_every_chat(stores: Stores) {
    let f = Fixture::new(stores);
    let chats = ["A", "B"].map(|c| crate::ChatName::parse(c).unwrap());
    f.services.ensure_chats(&chats).await.unwrap();
    let alice = f.guest("alice").await;
    let bob = f.guest("bob").await;
    for chat in ["A", "B"] {
        f.services.join_chat(&alice, chat).await.unwrap();
    }
    f.services.join_chat(&bob, "B").await.unwrap();
    f.take_all(&bob).await;
    f.services.logout(&alice).await.unwrap();
    assert_eq!(
        f.events_of(&bob).await,
        [
            "LogoutEvent(alice)",
            "ChatLeaveEvent(alice@B)",
            "SystemMessageChatLeaveEvent(alice@B)"
        ]
    );
    assert_err!(f.services.logout(&alice).await, Error::NotLoggedIn);
    let again = f.guest("alice").await;
    let report = f.services.chat_reports(&again).await.unwrap().value;
    assert!(report.iter().all(|r| !r.joined), "memberships were dropped");
}

pub async fn authentication_refuses_anything_but_a_live_session(stores: Stores) {
    let f = Fixture::new(stores);
    let alice = f.guest("alice").await;
    let token = alice.session().token.expose().to_owned();
    f.services.authenticate("alice", &token).await.unwrap();
    f.services.authenticate("ALICE", &token).await.unwrap();
    for (user, token) in [
        ("alice", "wrong"),
        ("bob", token.as_str()),
        ("", ""),
        ("alice", ""),
    ] {
        assert_err!(
            f.services.authenticate(user, token).await,
            Error::NotLoggedIn
        );
    }
}

pub async fn password_reset_works_once_before_expiry_and_ends_sessions(stores: Stores) {
    let f = Fixture::new(stores);
    let alice = f.member("alice").await;
    f.services.request_password_reset("alice").await.unwrap();
    f.deliver_mail().await;
    let token = f.mailer.reset_token("alice").unwrap();
    let Some(OutgoingMail::PasswordReset { link, .. }) = f.mailer.last_to("alice") else {
        panic!("no reset mail");
    };
    assert_eq!(
        link.unwrap(),
        format!("https://chat.example/reset?user=alice&token={token}")
    );
    f.services
        .reset_password("alice", &token, "newpass1")
        .await
        .unwrap();
    assert_err!(
        f.services
            .authenticate("alice", alice.session().token.expose())
            .await,
        Error::NotLoggedIn
    );
    assert_err!(
        f.services.authorize("alice", "secret1").await,
        Error::InvalidCredentials
    );
    f.services.authorize("alice", "newpass1").await.unwrap();
    assert_err!(
        f.services.reset_password("alice", &token, "another1").await,
        Error::BadResetToken
    );

    f.services.request_password_reset("alice").await.unwrap();
    f.deliver_mail().await;
    let late = f.mailer.reset_token("alice").unwrap();
    f.clock.advance(f.services.policy().reset_ttl);
    assert_err!(
        f.services.reset_password("alice", &late, "another1").await,
        Error::BadResetToken
    );
}

pub async fn password_reset_refuses_bad_input(stores: Stores) {
    let f = Fixture::new(stores);
    f.member("alice").await;
    f.services.request_password_reset("alice").await.unwrap();
    f.deliver_mail().await;
    let token = f.mailer.reset_token("alice").unwrap();
    for (user, token, password) in [
        ("", "t", "p"),
        ("alice", "", "newpass1"),
        ("alice", "t", ""),
    ] {
        assert_err!(
            f.services.reset_password(user, token, password).await,
            Error::SomeFieldsEmpty
        );
    }
    let err = f
        .services
        .reset_password("alice", &token, "short")
        .await
        .unwrap_err();
    assert!(
        invalid(
            Field::Password,
            &Problem::TooShort {
                min: 6,
                unit: "bytes"
            },
            &err
        ),
        "{err}"
    );
    assert_err!(
        f.services
            .reset_password("nobody", &token, "newpass1")
            .await,
        Error::BadResetToken
    );
    assert_err!(
        f.services
            .reset_password("alice", "wrong", "newpass1")
            .await,
        Error::BadResetToken
    );
    // None of that used the token up.
    f.services
        .reset_password("alice", &token, "newpass1")
        .await
        .unwrap();
}

pub async fn password_reset_request_reveals_nothing(stores: Stores) {
    let f = Fixture::new(stores);
    assert_err!(
        f.services.request_password_reset("").await,
        Error::UserNameEmpty
    );
    f.services.request_password_reset("nobody").await.unwrap();
    f.services
        .request_password_reset(&"x".repeat(5000))
        .await
        .unwrap();
    f.deliver_mail().await;
    assert!(f.mailer.sent().is_empty());
}

// ---- chats ----------------------------------------------------------------------------------

pub async fn admins_come_from_config_or_the_stored_flag(stores: Stores) {
    let f = Fixture::new(stores);
    let root = f.member("root").await;
    assert!(root.session().flags.admin, "listed in Admins");
    f.services.create_chat(&root, "Ops").await.unwrap();

    let alice = f.member("alice").await;
    assert_err!(
        f.services.create_chat(&alice, "Mine").await,
        Error::AdminOnly
    );
    assert_err!(
        f.services.remove_chat(&alice, "Ops").await,
        Error::AdminOnly
    );
    f.services.set_admin("alice", true).await.unwrap();
    assert_err!(
        f.services.create_chat(&alice, "Mine").await,
        Error::AdminOnly
    );
    let alice = f.services.resume(&alice).await.unwrap();
    f.services.create_chat(&alice, "Mine").await.unwrap();
    f.services.remove_chat(&alice, "Ops").await.unwrap();
    assert_err!(
        f.services.set_admin("nobody", true).await,
        Error::UnknownUser
    );

    // A listed name is no admin while unverified, nor as a guest.
    let g = f.guest("root2").await;
    assert_err!(f.services.create_chat(&g, "X").await, Error::AdminOnly);
}

pub async fn chat_administration_validates_names(stores: Stores) {
    let f = Fixture::new(stores);
    let root = f.member("root").await;
    let err = f.services.create_chat(&root, "").await.unwrap_err();
    assert!(invalid(Field::Chat, &Problem::Empty, &err), "{err}");
    let err = f
        .services
        .create_chat(&root, &"c".repeat(51))
        .await
        .unwrap_err();
    assert!(
        invalid(
            Field::Chat,
            &Problem::TooLong {
                max: 50,
                unit: "characters"
            },
            &err
        ),
        "{err}"
    );
    let err = f
        .services
        .create_chat(&root, "tab\there")
        .await
        .unwrap_err();
    assert!(
        invalid(Field::Chat, &Problem::InvisibleCharacter, &err),
        "{err}"
    );
    f.services.create_chat(&root, "Main").await.unwrap();
    assert_err!(
        f.services.create_chat(&root, "Main").await,
        Error::ChatExists
    );
    f.services.create_chat(&root, "main").await.unwrap();
    assert_err!(
        f.services.remove_chat(&root, "Nope").await,
        Error::NoSuchChat
    );
    assert_err!(f.services.remove_chat(&root, "").await, Error::NoSuchChat);
    let created = f
        .services
        .ensure_chats(&["Main", "Extra"].map(|c| crate::ChatName::parse(c).unwrap()))
        .await
        .unwrap();
    assert_eq!(created, vec![crate::ChatName::parse("Extra").unwrap()]);
}

pub async fn join_and_leave_report_their_errors(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .ensure_chats(&[crate::ChatName::parse("Main").unwrap()])
        .await
        .unwrap();
    let alice = f.guest("alice").await;
    assert_err!(
        f.services.join_chat(&alice, "Nope").await,
        Error::NoSuchChat
    );
    assert_err!(f.services.join_chat(&alice, "").await, Error::NoSuchChat);
    assert_err!(
        f.services.join_chat(&alice, &"x".repeat(5000)).await,
        Error::NoSuchChat
    );
    assert_err!(
        f.services.leave_chat(&alice, "Main").await,
        Error::NotInChat
    );
    assert_err!(
        f.services.leave_chat(&alice, "Nope").await,
        Error::NoSuchChat
    );
    f.services.join_chat(&alice, "Main").await.unwrap();
    assert_err!(
        f.services.join_chat(&alice, "Main").await,
        Error::AlreadyInChat
    );
    f.services.leave_chat(&alice, "Main").await.unwrap();
    assert_err!(
        f.services.leave_chat(&alice, "Main").await,
        Error::NotInChat
    );
}

pub async fn join_returns_the_report_with_history_and_members(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .ensure_chats(&[crate::ChatName::parse("Main").unwrap()])
        .await
        .unwrap();
    let alice = f.member("alice").await;
    f.services.join_chat(&alice, "Main").await.unwrap();
    for text in ["one", "two", "three", "four"] {
        f.services.post_message(&alice, "Main", text).await.unwrap();
    }
    let bob = f.guest("bob").await;
    let report = f.services.join_chat(&bob, "Main").await.unwrap();
    assert!(report.value.joined);
    assert_eq!(report.value.user.as_str(), "bob");
    let texts: Vec<_> = report
        .value
        .messages
        .iter()
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(
        texts,
        ["two", "three", "four"],
        "LastMessages = 3 in this policy"
    );
    let users: Vec<_> = report
        .value
        .users
        .iter()
        .map(|u| (u.user.as_str(), u.flags.verified))
        .collect();
    assert_eq!(users, [("alice", true), ("bob", false)]);
    assert_eq!(report.as_of, f.services.last_event_id().await.unwrap());
    let chats = f.services.chat_reports(&bob).await.unwrap();
    assert_eq!(chats.value, vec![report.value]);
}

// ---- messages -------------------------------------------------------------------------------

pub async fn posting_checks_membership_and_text(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .ensure_chats(&[crate::ChatName::parse("Main").unwrap()])
        .await
        .unwrap();
    let alice = f.member("alice").await;
    assert_err!(
        f.services.post_message(&alice, "Main", "hi").await,
        Error::NotInChat
    );
    assert_err!(
        f.services.post_message(&alice, "Nope", "hi").await,
        Error::NotInChat
    );
    f.services.join_chat(&alice, "Main").await.unwrap();
    let err = f.services.post_message(&alice, "", "hi").await.unwrap_err();
    assert!(invalid(Field::Chat, &Problem::Empty, &err), "{err}");
    let err = f
        .services
        .post_message(&alice, "Main", "")
        .await
        .unwrap_err();
    assert!(invalid(Field::Text, &Problem::Empty, &err), "{err}");
    let err = f
        .services
        .post_message(&alice, "Main", &"é".repeat(21))
        .await
        .unwrap_err();
    assert!(
        invalid(
            Field::Text,
            &Problem::TooLong {
                max: 20,
                unit: "characters"
            },
            &err
        ),
        "{err}"
    );
    let err = f
        .services
        .post_message(&alice, "Main", "nul\u{0}")
        .await
        .unwrap_err();
    assert!(
        invalid(Field::Text, &Problem::InvisibleCharacter, &err),
        "{err}"
    );
    let message = f
        .services
        .post_message(&alice, "Main", &"é".repeat(20))
        .await
        .unwrap();
    assert_eq!(message.user.as_str(), "alice");
    assert!(message.flags.verified, "flags come from the account");
    assert_eq!(message.time, crate::ports::Clock::now(f.clock.as_ref()));
    let lines = f
        .services
        .post_message(&alice, "Main", "two\nlines\t!")
        .await
        .unwrap();
    assert!(lines.id > message.id);
}

pub async fn help_gets_an_answer_from_the_bot(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .ensure_chats(&[crate::ChatName::parse("Main").unwrap()])
        .await
        .unwrap();
    let alice = f.guest("alice").await;
    f.services.join_chat(&alice, "Main").await.unwrap();
    f.take_all(&alice).await;
    f.services
        .post_message(&alice, "Main", "/help")
        .await
        .unwrap();
    let events = f.take_all(&alice).await;
    assert_eq!(
        describe(&events),
        [
            "MessageEvent(alice@Main:/help)",
            "MessageEvent(Bot@Main:Available commands: /help)"
        ]
    );
    let Delivery::Event(answer) = &events[1] else {
        unreachable!()
    };
    let Event::Message(answer) = &answer.event else {
        unreachable!()
    };
    assert_eq!(answer.flags, crate::UserFlags::default());
    f.services
        .post_message(&alice, "Main", "/help me")
        .await
        .unwrap();
    assert_eq!(
        f.events_of(&alice).await.len(),
        1,
        "only the exact text gets an answer"
    );
}

pub async fn last_messages_and_history_are_for_members_only(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .ensure_chats(&[crate::ChatName::parse("Main").unwrap()])
        .await
        .unwrap();
    let alice = f.guest("alice").await;
    let bob = f.guest("bob").await;
    f.services.join_chat(&alice, "Main").await.unwrap();
    let mut ids = Vec::new();
    for i in 1..=5 {
        ids.push(
            f.services
                .post_message(&alice, "Main", &format!("m{i}"))
                .await
                .unwrap()
                .id,
        );
    }
    assert_err!(
        f.services.last_messages(&bob, "Main").await,
        Error::NotInChat
    );
    assert_err!(
        f.services.users_in_chat(&bob, "Main").await,
        Error::NotInChat
    );
    assert_err!(
        f.services.message_history(&bob, "Main", None, None).await,
        Error::NotInChat
    );
    assert_err!(
        f.services.last_messages(&alice, "Nope").await,
        Error::NotInChat
    );
    let texts = |page: crate::Snapshot<Vec<crate::Message>>| {
        page.value.into_iter().map(|m| m.text).collect::<Vec<_>>()
    };
    assert_eq!(
        texts(f.services.last_messages(&alice, "Main").await.unwrap()),
        ["m3", "m4", "m5"]
    );
    let page = f
        .services
        .message_history(&alice, "Main", Some(ids[2].0), Some(5))
        .await
        .unwrap();
    assert_eq!(texts(page), ["m1", "m2"]);
    for bad in [0, 501] {
        let err = f
            .services
            .message_history(&alice, "Main", None, Some(bad))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(e) if e.field == Field::Limit),
            "{err}"
        );
    }
    let users = f
        .services
        .users_in_chat(&alice, "Main")
        .await
        .unwrap()
        .value;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].user.as_str(), "alice");
}

// ---- events ---------------------------------------------------------------------------------

/// original-spec.md §6.5, with alice and bob logged in and bob in `Main`.
pub async fn event_sequences_of_the_original_are_kept(stores: Stores) {
    let f = Fixture::new(stores);
    let root = f.member("root").await;
    f.services
        .ensure_chats(&[crate::ChatName::parse("Main").unwrap()])
        .await
        .unwrap();
    let alice = f.guest("alice").await;
    let bob = f.guest("bob").await;
    f.services.join_chat(&bob, "Main").await.unwrap();
    for s in [&root, &alice, &bob] {
        f.take_all(s).await;
    }

    let carol = f.guest("carol").await;
    for s in [&alice, &bob, &carol] {
        assert_eq!(f.events_of(s).await, ["LoginEvent(carol)"], "{}", s.user());
    }

    f.services.join_chat(&alice, "Main").await.unwrap();
    let join = [
        "ChatJoinEvent(alice@Main)",
        "SystemMessageChatJoinEvent(alice@Main)",
    ];
    assert_eq!(f.events_of(&alice).await, join);
    assert_eq!(f.events_of(&bob).await, join);
    assert!(f.events_of(&carol).await.is_empty());

    f.services
        .post_message(&alice, "Main", "hello")
        .await
        .unwrap();
    for s in [&alice, &bob] {
        assert_eq!(f.events_of(s).await, ["MessageEvent(alice@Main:hello)"]);
    }

    f.services.leave_chat(&alice, "Main").await.unwrap();
    assert!(f.events_of(&alice).await.is_empty());
    assert_eq!(
        f.events_of(&bob).await,
        [
            "ChatLeaveEvent(alice@Main)",
            "SystemMessageChatLeaveEvent(alice@Main)"
        ]
    );

    f.services.join_chat(&alice, "Main").await.unwrap();
    f.take_all(&alice).await;
    f.take_all(&bob).await;
    f.services.logout(&bob).await.unwrap();
    assert_eq!(f.events_of(&carol).await, ["LogoutEvent(bob)"]);
    assert_eq!(
        f.events_of(&alice).await,
        [
            "LogoutEvent(bob)",
            "ChatLeaveEvent(bob@Main)",
            "SystemMessageChatLeaveEvent(bob@Main)"
        ]
    );

    f.services.create_chat(&root, "X").await.unwrap();
    f.services.remove_chat(&root, "Main").await.unwrap();
    for s in [&root, &alice, &carol] {
        let seen = f.events_of(s).await;
        assert_eq!(
            seen[seen.len() - 2..],
            ["ChatCreatedEvent(X)", "ChatRemovedEvent(Main)"]
        );
    }
    assert_err!(
        f.services.post_message(&alice, "Main", "gone").await,
        Error::NotInChat
    );
}

pub async fn events_between_polls_wait_in_order(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .ensure_chats(&[crate::ChatName::parse("Main").unwrap()])
        .await
        .unwrap();
    let alice = f.guest("alice").await;
    let bob = f.guest("bob").await;
    f.services.join_chat(&alice, "Main").await.unwrap();
    f.services.join_chat(&bob, "Main").await.unwrap();
    f.take_all(&alice).await;
    for i in 0..30 {
        f.services
            .post_message(&bob, "Main", &format!("{i}"))
            .await
            .unwrap();
    }
    // One event per legacy poll, in order, none lost.
    let mut texts = Vec::new();
    for _ in 0..30 {
        let outcome = f
            .services
            .poll(&alice, PollRequest::default(), std::future::ready(()))
            .await;
        let PollOutcome::Delivered(batch) = outcome.unwrap() else {
            panic!("nothing to take")
        };
        assert_eq!(batch.len(), 1, "one event per response without limit");
        texts.extend(describe(&batch));
    }
    let expected: Vec<_> = (0..30)
        .map(|i| format!("MessageEvent(bob@Main:{i})"))
        .collect();
    assert_eq!(texts, expected);
    assert!(f.take_all(&alice).await.is_empty());
}

pub async fn concurrent_polls_of_one_session_never_share_an_event(stores: Stores) {
    let f = Arc::new(Fixture::new(stores));
    f.services
        .ensure_chats(&[crate::ChatName::parse("Main").unwrap()])
        .await
        .unwrap();
    let alice = f.guest("alice").await;
    let bob = f.guest("bob").await;
    f.services.join_chat(&alice, "Main").await.unwrap();
    f.services.join_chat(&bob, "Main").await.unwrap();
    f.take_all(&alice).await;
    const MESSAGES: usize = 60;
    let pollers: Vec<_> = (0..2)
        .map(|_| {
            let f = Arc::clone(&f);
            let alice = alice.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                // Bounded: more than was posted means duplicates, which the asserts report.
                while got.len() <= MESSAGES {
                    let give_up = tokio::time::sleep(Duration::from_millis(500));
                    match f
                        .services
                        .poll(&alice, PollRequest::default(), give_up)
                        .await
                        .unwrap()
                    {
                        PollOutcome::Delivered(batch) => got.extend(batch.iter().map(Delivery::id)),
                        PollOutcome::TimedOut | PollOutcome::SessionEnded => break,
                    }
                }
                got
            })
        })
        .collect();
    for i in 0..MESSAGES {
        f.services
            .post_message(&bob, "Main", &format!("{i}"))
            .await
            .unwrap();
        if i % 7 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let mut all = Vec::new();
    for poller in pollers {
        all.extend(poller.await.unwrap());
    }
    let distinct: std::collections::BTreeSet<_> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "an event went to both polls");
    assert_eq!(distinct.len(), MESSAGES, "an event was lost");
}

pub async fn poll_wakes_on_a_new_event(stores: Stores) {
    let f = Arc::new(Fixture::new(stores));
    f.services
        .ensure_chats(&[crate::ChatName::parse("Main").unwrap()])
        .await
        .unwrap();
    let alice = f.guest("alice").await;
    let bob = f.guest("bob").await;
    f.services.join_chat(&alice, "Main").await.unwrap();
    f.services.join_chat(&bob, "Main").await.unwrap();
    f.take_all(&alice).await;
    let waiting = {
        let f = Arc::clone(&f);
        let alice = alice.clone();
        tokio::spawn(async move {
            // The bound only keeps a broken wake-up from hanging the test.
            let give_up = tokio::time::sleep(Duration::from_secs(30));
            f.services
                .poll(&alice, PollRequest::default(), give_up)
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        !waiting.is_finished(),
        "the poll waits while nothing happens"
    );
    f.services.post_message(&bob, "Main", "ping").await.unwrap();
    let PollOutcome::Delivered(batch) = waiting.await.unwrap() else {
        panic!("not delivered")
    };
    assert_eq!(describe(&batch), ["MessageEvent(bob@Main:ping)"]);
}

pub async fn poll_times_out_and_ends_with_the_session(stores: Stores) {
    let f = Arc::new(Fixture::new(stores));
    let alice = f.guest("alice").await;
    f.take_all(&alice).await;
    let outcome = f
        .services
        .poll(
            &alice,
            PollRequest::default(),
            tokio::time::sleep(Duration::from_millis(10)),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, PollOutcome::TimedOut), "{outcome:?}");
    let waiting = {
        let f = Arc::clone(&f);
        let alice = alice.clone();
        tokio::spawn(async move {
            let give_up = tokio::time::sleep(Duration::from_secs(30));
            f.services
                .poll(&alice, PollRequest::default(), give_up)
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    f.services.resume(&alice).await.unwrap();
    let outcome = waiting.await.unwrap();
    assert!(matches!(outcome, PollOutcome::SessionEnded), "{outcome:?}");
}

pub async fn poll_cursor_and_limit_are_validated(stores: Stores) {
    let f = Fixture::new(stores);
    let alice = f.guest("alice").await;
    let last = f.services.last_event_id().await.unwrap().0;
    let poll = |after: String, limit: Option<&'static str>| {
        let f = &f;
        let alice = &alice;
        async move {
            let request = PollRequest {
                after: Some(&after),
                limit,
            };
            f.services
                .poll(alice, request, std::future::ready(()))
                .await
        }
    };
    assert_err!(poll("abc".into(), None).await, Error::BadCursor(_));
    assert_err!(poll("-1".into(), None).await, Error::BadCursor(_));
    assert_err!(
        poll((last + 1).to_string(), None).await,
        Error::BadCursor(_)
    );
    let err = poll(last.to_string(), Some("0")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(e) if e.field == Field::Limit),
        "{err}"
    );
    let err = poll(last.to_string(), Some("101")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(e) if e.field == Field::Limit),
        "{err}"
    );
    assert!(matches!(
        poll(last.to_string(), Some("100")).await.unwrap(),
        PollOutcome::TimedOut
    ));
}

pub async fn poll_after_a_cursor_resumes_exactly(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .ensure_chats(&[crate::ChatName::parse("Main").unwrap()])
        .await
        .unwrap();
    let alice = f.guest("alice").await;
    f.services.join_chat(&alice, "Main").await.unwrap();
    let snapshot = f
        .services
        .join_chat(&f.guest("bob").await, "Main")
        .await
        .unwrap();
    for i in 0..5 {
        f.services
            .post_message(&alice, "Main", &format!("{i}"))
            .await
            .unwrap();
    }
    let after = |cursor: u64, limit: &'static str| {
        let f = &f;
        let alice = &alice;
        async move {
            let cursor = cursor.to_string();
            let request = PollRequest {
                after: Some(&cursor),
                limit: Some(limit),
            };
            match f
                .services
                .poll(alice, request, std::future::ready(()))
                .await
                .unwrap()
            {
                PollOutcome::Delivered(batch) => batch,
                other => panic!("{other:?}"),
            }
        }
    };
    let first = after(snapshot.as_of.0, "2").await;
    assert_eq!(
        describe(&first),
        ["MessageEvent(alice@Main:0)", "MessageEvent(alice@Main:1)"]
    );
    let rest = after(first[1].id().0, "100").await;
    assert_eq!(describe(&rest)[0], "MessageEvent(alice@Main:2)");
    assert_eq!(rest.len(), 3);
    // The same cursor again gives the same events: nothing moved on the server.
    assert_eq!(after(first[1].id().0, "100").await, rest);
    // And the legacy cursor was not touched by any of it.
    assert_eq!(f.events_of(&alice).await[0], "LoginEvent(alice)");
}

pub async fn inactivity_sweep_ends_idle_sessions_only(stores: Stores) {
    let f = Fixture::new(stores);
    f.services
        .ensure_chats(&[crate::ChatName::parse("Main").unwrap()])
        .await
        .unwrap();
    let idle = f.guest("idle").await;
    let busy = f.guest("busy").await;
    f.services.join_chat(&idle, "Main").await.unwrap();
    f.services.join_chat(&busy, "Main").await.unwrap();
    f.take_all(&busy).await;
    let timeout = f.services.policy().inactivity_timeout;
    f.clock.advance(timeout / 2);
    let key = busy.key();
    f.services
        .authenticate(key.user.as_str(), key.token.expose())
        .await
        .unwrap();
    f.clock.advance(timeout / 2);
    assert!(
        f.services.sweep().await.unwrap().is_empty(),
        "exactly the timeout is not longer"
    );
    f.clock.advance(Duration::from_millis(1));
    let ended = f.services.sweep().await.unwrap();
    assert_eq!(ended, vec![UserName::parse("idle").unwrap()]);
    assert_eq!(
        f.events_of(&busy).await,
        [
            "LogoutEvent(idle)",
            "ChatLeaveEvent(idle@Main)",
            "SystemMessageChatLeaveEvent(idle@Main)"
        ]
    );
    let key = idle.key();
    assert_err!(
        f.services
            .authenticate(key.user.as_str(), key.token.expose())
            .await,
        Error::NotLoggedIn
    );
    f.clock.advance(timeout / 2 + Duration::from_millis(1));
    assert_eq!(
        f.services.sweep().await.unwrap(),
        vec![UserName::parse("busy").unwrap()]
    );
}

pub async fn sweep_prunes_old_events_into_a_resync(stores: Stores) {
    let policy = Policy {
        inactivity_timeout: Duration::from_secs(3600),
        event_retention: Duration::from_secs(60),
        ..test_policy()
    };
    let f = Fixture::with_policy(stores, policy);
    f.services
        .ensure_chats(&[crate::ChatName::parse("Main").unwrap()])
        .await
        .unwrap();
    let alice = f.guest("alice").await;
    let bob = f.guest("bob").await;
    f.services.join_chat(&alice, "Main").await.unwrap();
    f.services.join_chat(&bob, "Main").await.unwrap();
    f.take_all(&alice).await;
    f.services.post_message(&bob, "Main", "old").await.unwrap();
    f.clock.advance(Duration::from_secs(61));
    f.services.post_message(&bob, "Main", "new").await.unwrap();
    f.services.sweep().await.unwrap();
    assert_eq!(
        f.events_of(&alice).await,
        ["ResyncEvent", "MessageEvent(bob@Main:new)"]
    );
}

// ---- mail -----------------------------------------------------------------------------------

pub async fn mail_is_retried_with_backoff_until_delivered(stores: Stores) {
    let f = Fixture::new(stores);
    f.mailer.set_mode(MailerMode::FailTransiently);
    f.services
        .register("alice", "alice@example.org", "secret1")
        .await
        .unwrap();
    let round = f.services.deliver_due_mail().await.unwrap();
    assert_eq!((round.sent, round.retried, round.failed), (0, 1, 0));
    assert_eq!(
        f.services.deliver_due_mail().await.unwrap().attempted(),
        0,
        "backing off"
    );
    f.mailer.set_mode(MailerMode::Accept);
    f.clock.advance(Duration::from_secs(9));
    assert_eq!(
        f.services.deliver_due_mail().await.unwrap().attempted(),
        0,
        "first retry after 10 s"
    );
    f.clock.advance(Duration::from_secs(1));
    assert_eq!(f.services.deliver_due_mail().await.unwrap().sent, 1);
    assert_eq!(f.mailer.sent().len(), 1);
    assert_eq!(f.stores.outbox.pending_count().await.unwrap(), 0);
    let backoff = &f.services.policy().mail;
    assert_eq!(backoff.backoff(1), Duration::from_secs(10));
    assert_eq!(backoff.backoff(2), Duration::from_secs(20));
    assert_eq!(backoff.backoff(30), Duration::from_secs(60), "capped");
}

pub async fn mail_that_cannot_be_delivered_fails_for_good(stores: Stores) {
    let f = Fixture::new(stores);
    f.mailer.set_mode(MailerMode::FailPermanently);
    f.services
        .register("alice", "alice@example.org", "secret1")
        .await
        .unwrap();
    assert_eq!(f.services.deliver_due_mail().await.unwrap().failed, 1);
    assert_eq!(f.stores.outbox.pending_count().await.unwrap(), 0);

    f.mailer.set_mode(MailerMode::FailTransiently);
    f.services
        .register("bob", "bob@example.org", "secret1")
        .await
        .unwrap();
    let mut rounds = Vec::new();
    for _ in 0..3 {
        rounds.push(f.services.deliver_due_mail().await.unwrap());
        f.clock.advance(Duration::from_secs(120));
    }
    let summary: Vec<_> = rounds.iter().map(|r| (r.retried, r.failed)).collect();
    assert_eq!(
        summary,
        [(1, 0), (1, 0), (0, 1)],
        "three attempts, then failed for good"
    );
    f.mailer.set_mode(MailerMode::Accept);
    f.clock.advance(Duration::from_secs(3600));
    assert_eq!(f.services.deliver_due_mail().await.unwrap().attempted(), 0);
    // The account itself is fine: the sign-up did not fail.
    assert!(
        f.stores
            .accounts
            .find(&UserName::parse("bob").unwrap())
            .await
            .unwrap()
            .is_some()
    );
}
