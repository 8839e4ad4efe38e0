//! The contract of the storage ports, one function per case. Run it with
//! [`store_contract!`](crate::store_contract).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::{RETENTION_COUNT, Stores, describe};
use crate::model::chat::ChatReport;
use crate::model::email::Email;
use crate::model::event::{Delivery, Event, EventId};
use crate::model::mail::OutgoingMail;
use crate::model::message::{MessageId, MessageText, NewMessage};
use crate::model::name::{ChatName, UserName};
use crate::model::secret::{PasswordHash, Token};
use crate::model::session::{LoginMode, NewSession, Session};
use crate::model::time::Timestamp;
use crate::model::user::{ExpiringToken, NewAccount, UserFlags, UserWithStatus};
use crate::ports::{Conflict, Missing, SessionKey, StoreError};

/// Runs every case of the storage contract as its own test.
///
/// `$make` is an expression of type `impl Future<Output = (Stores, impl Sized)>`, evaluated
/// once per test.
#[macro_export]
macro_rules! store_contract {
    ($make:expr) => {
        $crate::__contract_cases!(stores; $make;
            account_is_found_by_name_in_any_case,
            account_name_taken_in_other_case_is_a_conflict,
            account_email_taken_in_other_case_is_a_conflict,
            registration_queues_its_mail,
            verification_is_stored_and_idempotent,
            activation_renewal_only_for_unverified_accounts,
            password_reset_token_works_once_and_only_before_expiry,
            admin_flag_is_stored,
            guest_login_conflicts_with_live_session_in_any_case,
            live_sessions_are_counted,
            replacing_login_revokes_the_old_token_and_keeps_chats,
            member_lists_are_sorted_and_show_the_live_sessions_names_and_flags,
            touch_records_activity_only_with_the_right_token,
            ending_a_session_needs_its_token_unless_any_token,
            inactive_sessions_end_strictly_before_cutoff,
            session_starts_with_its_own_login_event,
            chat_names_are_unique_and_exact,
            join_requires_chat_and_session_and_is_not_repeated,
            leave_requires_membership,
            reports_show_content_only_to_members,
            removing_a_chat_removes_its_messages_and_memberships,
            logout_drops_memberships_with_leave_events,
            posting_requires_membership_unless_waived,
            message_ids_increase_across_chats,
            history_pages_backwards_oldest_first,
            chat_events_reach_members_at_the_time_of_the_event,
            a_removed_chats_earlier_events_still_reach_its_members,
            login_reaches_everyone_logout_everyone_but_the_user,
            chat_creation_and_removal_reach_everyone,
            concurrent_appends_are_never_skipped_by_a_reader,
            concurrent_takers_on_one_session_share_events_exactly_once,
            reading_after_a_cursor_does_not_move_the_session_cursor,
            waiter_is_woken_by_an_append,
            waiter_is_woken_when_the_session_ends,
            retention_by_count_leads_to_a_resync,
            retention_by_age_leads_to_a_resync,
            snapshots_carry_the_last_event_id,
            mail_jobs_are_leased_retried_and_failed,
        );
    };
}

const START: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_millis(START.millis() + seconds * 1000)
}

fn user(name: &str) -> UserName {
    UserName::parse(name).unwrap()
}

fn chat(name: &str) -> ChatName {
    ChatName::parse(name).unwrap()
}

fn token(value: &str) -> Token {
    Token::new(value.to_owned())
}

fn account(name: &str, email: &str) -> NewAccount {
    NewAccount {
        name: user(name),
        email: Email::parse(email).unwrap(),
        password_hash: PasswordHash::new(format!("hash-of-{name}")),
        activation: ExpiringToken {
            token: token(&format!("activate-{name}")),
            expires_at: at(3600),
        },
        created_at: at(0),
    }
}

fn activation_mail(name: &str, email: &str) -> OutgoingMail {
    OutgoingMail::Activation {
        to: Email::parse(email).unwrap(),
        user: user(name),
        link: format!("http://localhost/api/verifyEmail/{name}/x"),
    }
}

fn key(session: &Session) -> SessionKey {
    SessionKey {
        user: session.user.clone(),
        token: session.token.clone(),
    }
}

async fn login_as(stores: &Stores, name: &str, mode: LoginMode, now: Timestamp) -> Session {
    let new = NewSession {
        user: user(name),
        token: token(&format!("session-{name}-{}", now.millis())),
        flags: UserFlags::default(),
        registered: false,
    };
    stores.sessions.start(&new, mode, now).await.unwrap()
}

async fn guest(stores: &Stores, name: &str) -> Session {
    login_as(stores, name, LoginMode::Guest, at(0)).await
}

async fn post(
    stores: &Stores,
    author: &Session,
    room: &str,
    text: &str,
) -> crate::model::message::Message {
    let message = NewMessage {
        author: author.user.clone(),
        flags: author.flags,
        chat: chat(room),
        text: MessageText::parse(text, 4000).unwrap(),
        membership_required: true,
    };
    stores.messages.post(&message, at(1)).await.unwrap()
}

/// Everything the session has not taken yet, taking it.
async fn drain(stores: &Stores, session: &Session) -> Vec<Delivery> {
    stores.events.take(&key(session), 10_000).await.unwrap()
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, expected: Conflict) {
    match result {
        Err(StoreError::Conflict(c)) if c == expected => {}
        other => panic!("expected Conflict({expected:?}), got {other:?}"),
    }
}

fn assert_missing<T: std::fmt::Debug>(result: Result<T, StoreError>, expected: Missing) {
    match result {
        Err(StoreError::NotFound(m)) if m == expected => {}
        other => panic!("expected NotFound({expected:?}), got {other:?}"),
    }
}

// ---- accounts -------------------------------------------------------------------------------

pub async fn account_is_found_by_name_in_any_case(stores: Stores) {
    let alice = account("Alice", "alice@example.org");
    stores
        .accounts
        .register(&alice, &activation_mail("Alice", "alice@example.org"))
        .await
        .unwrap();
    let found = stores.accounts.find(&user("aLiCe")).await.unwrap().unwrap();
    assert_eq!(
        found.name.as_str(),
        "Alice",
        "the registered spelling is kept"
    );
    assert_eq!(found.email.as_str(), "alice@example.org");
    assert_eq!(found.password_hash, alice.password_hash);
    assert!(!found.verified && !found.admin && !found.bot);
    assert!(
        found
            .activation
            .unwrap()
            .token
            .matches(&token("activate-Alice"))
    );
    assert!(found.reset.is_none());
    assert!(stores.accounts.find(&user("bob")).await.unwrap().is_none());
}

pub async fn account_name_taken_in_other_case_is_a_conflict(stores: Stores) {
    let mail = activation_mail("alice", "alice@example.org");
    stores
        .accounts
        .register(&account("alice", "alice@example.org"), &mail)
        .await
        .unwrap();
    let again = stores
        .accounts
        .register(&account("ALICE", "other@example.org"), &mail)
        .await;
    assert_conflict(again, Conflict::UserName);
    // Nothing of the refused registration was stored: its address is still free.
    stores
        .accounts
        .register(&account("carol", "other@example.org"), &mail)
        .await
        .unwrap();
    assert_eq!(stores.outbox.pending_count().await.unwrap(), 2);
}

pub async fn account_email_taken_in_other_case_is_a_conflict(stores: Stores) {
    let mail = activation_mail("alice", "alice@example.org");
    stores
        .accounts
        .register(&account("alice", "alice@example.org"), &mail)
        .await
        .unwrap();
    let again = stores
        .accounts
        .register(&account("bob", "ALICE@Example.org"), &mail)
        .await;
    assert_conflict(again, Conflict::Email);
    assert!(stores.accounts.find(&user("bob")).await.unwrap().is_none());
    assert_eq!(
        stores.outbox.pending_count().await.unwrap(),
        1,
        "no mail for a refused sign-up"
    );
}

pub async fn registration_queues_its_mail(stores: Stores) {
    let mail = activation_mail("alice", "alice@example.org");
    stores
        .accounts
        .register(&account("alice", "alice@example.org"), &mail)
        .await
        .unwrap();
    let jobs = stores.outbox.claim_due(at(0), at(60), 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].attempts, 0);
    match &jobs[0].mail {
        OutgoingMail::Activation { to, user: u, link } => {
            assert_eq!(to.as_str(), "alice@example.org");
            assert_eq!(u.as_str(), "alice");
            assert_eq!(link, "http://localhost/api/verifyEmail/alice/x");
        }
        other => panic!("unexpected mail {other:?}"),
    }
}

pub async fn verification_is_stored_and_idempotent(stores: Stores) {
    let mail = activation_mail("alice", "alice@example.org");
    stores
        .accounts
        .register(&account("alice", "alice@example.org"), &mail)
        .await
        .unwrap();
    stores.accounts.mark_verified(&user("ALICE")).await.unwrap();
    stores.accounts.mark_verified(&user("alice")).await.unwrap();
    let found = stores.accounts.find(&user("alice")).await.unwrap().unwrap();
    assert!(found.verified);
    assert!(
        found.activation.is_some(),
        "the token is kept so the link keeps working"
    );
    assert_missing(
        stores.accounts.mark_verified(&user("nobody")).await,
        Missing::Account,
    );
}

pub async fn activation_renewal_only_for_unverified_accounts(stores: Stores) {
    let mail = activation_mail("alice", "alice@example.org");
    stores
        .accounts
        .register(&account("alice", "alice@example.org"), &mail)
        .await
        .unwrap();
    let fresh = ExpiringToken {
        token: token("fresh"),
        expires_at: at(7200),
    };
    assert!(
        stores
            .accounts
            .renew_activation(&user("alice"), &fresh, &mail)
            .await
            .unwrap()
    );
    let found = stores.accounts.find(&user("alice")).await.unwrap().unwrap();
    let activation = found.activation.unwrap();
    assert!(activation.token.matches(&token("fresh")));
    assert_eq!(activation.expires_at, at(7200));
    assert_eq!(stores.outbox.pending_count().await.unwrap(), 2);

    assert!(
        !stores
            .accounts
            .renew_activation(&user("nobody"), &fresh, &mail)
            .await
            .unwrap()
    );
    stores.accounts.mark_verified(&user("alice")).await.unwrap();
    assert!(
        !stores
            .accounts
            .renew_activation(&user("alice"), &fresh, &mail)
            .await
            .unwrap()
    );
    assert_eq!(
        stores.outbox.pending_count().await.unwrap(),
        2,
        "nothing queued when refused"
    );
}

pub async fn password_reset_token_works_once_and_only_before_expiry(stores: Stores) {
    let mail = activation_mail("alice", "alice@example.org");
    stores
        .accounts
        .register(&account("alice", "alice@example.org"), &mail)
        .await
        .unwrap();
    let reset = ExpiringToken {
        token: token("reset-1"),
        expires_at: at(100),
    };
    assert!(
        !stores
            .accounts
            .start_password_reset(&user("nobody"), &reset, &mail)
            .await
            .unwrap()
    );
    assert!(
        stores
            .accounts
            .start_password_reset(&user("alice"), &reset, &mail)
            .await
            .unwrap()
    );
    let new_hash = PasswordHash::new("new-hash".to_owned());

    let wrong = stores
        .accounts
        .complete_password_reset(&user("alice"), &token("reset-2"), &new_hash, at(1))
        .await
        .unwrap();
    let expired = stores
        .accounts
        .complete_password_reset(&user("alice"), &token("reset-1"), &new_hash, at(100))
        .await
        .unwrap();
    assert!(!wrong && !expired);
    let unchanged = stores.accounts.find(&user("alice")).await.unwrap().unwrap();
    assert_eq!(unchanged.password_hash.as_str(), "hash-of-alice");

    let used = stores
        .accounts
        .complete_password_reset(&user("alice"), &token("reset-1"), &new_hash, at(99))
        .await
        .unwrap();
    assert!(used);
    let changed = stores.accounts.find(&user("alice")).await.unwrap().unwrap();
    assert_eq!(changed.password_hash.as_str(), "new-hash");
    assert!(changed.reset.is_none());
    let again = stores
        .accounts
        .complete_password_reset(&user("alice"), &token("reset-1"), &new_hash, at(99))
        .await
        .unwrap();
    assert!(!again, "a reset token works once");
}

pub async fn admin_flag_is_stored(stores: Stores) {
    let mail = activation_mail("alice", "alice@example.org");
    stores
        .accounts
        .register(&account("alice", "alice@example.org"), &mail)
        .await
        .unwrap();
    stores
        .accounts
        .set_admin(&user("Alice"), true)
        .await
        .unwrap();
    assert!(
        stores
            .accounts
            .find(&user("alice"))
            .await
            .unwrap()
            .unwrap()
            .admin
    );
    stores
        .accounts
        .set_admin(&user("alice"), false)
        .await
        .unwrap();
    assert!(
        !stores
            .accounts
            .find(&user("alice"))
            .await
            .unwrap()
            .unwrap()
            .admin
    );
    assert_missing(
        stores.accounts.set_admin(&user("nobody"), true).await,
        Missing::Account,
    );
}

// ---- sessions -------------------------------------------------------------------------------

pub async fn guest_login_conflicts_with_live_session_in_any_case(stores: Stores) {
    guest(&stores, "alice").await;
    let again = NewSession {
        user: user("ALICE"),
        token: token("other"),
        flags: UserFlags::default(),
        registered: false,
    };
    assert_conflict(
        stores.sessions.start(&again, LoginMode::Guest, at(1)).await,
        Conflict::Session,
    );
    assert!(stores.sessions.is_logged_in(&user("Alice")).await.unwrap());
    assert!(!stores.sessions.is_logged_in(&user("bob")).await.unwrap());
}

pub async fn live_sessions_are_counted(stores: Stores) {
    assert_eq!(stores.sessions.count().await.unwrap(), 0);
    let alice = guest(&stores, "alice").await;
    guest(&stores, "bob").await;
    login_as(&stores, "bob", LoginMode::Replace, at(1)).await;
    assert_eq!(
        stores.sessions.count().await.unwrap(),
        2,
        "a replaced session is not counted twice"
    );
    stores
        .sessions
        .end(&key(&alice), false, at(2))
        .await
        .unwrap();
    assert_eq!(stores.sessions.count().await.unwrap(), 1);
}

pub async fn replacing_login_revokes_the_old_token_and_keeps_chats(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    let old = guest(&stores, "alice").await;
    stores
        .chats
        .join(&user("alice"), &chat("Main"), at(0))
        .await
        .unwrap();
    let new = login_as(&stores, "alice", LoginMode::Replace, at(5)).await;
    assert!(
        stores
            .sessions
            .touch(&key(&old), at(6))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        stores
            .sessions
            .touch(&key(&new), at(6))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        stores
            .chats
            .is_member(&user("alice"), &chat("Main"))
            .await
            .unwrap()
    );
    assert_missing(stores.events.take(&key(&old), 10).await, Missing::Session);
}

/// The list every join answers with: sorted by name regardless of case, each member with
/// the name and flags of its current session, also after a login replaced the one that joined.
pub async fn member_lists_are_sorted_and_show_the_live_sessions_names_and_flags(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    for name in ["bob", "Zed", "carol", "alice"] {
        guest(&stores, name).await;
        stores
            .chats
            .join(&user(name), &chat("Main"), at(0))
            .await
            .unwrap();
    }
    let listed = |members: Vec<UserWithStatus>| -> Vec<(String, UserFlags)> {
        members
            .into_iter()
            .map(|m| (m.user.as_str().to_owned(), m.flags))
            .collect()
    };
    let plain = UserFlags::default();
    let members = stores.chats.members(&chat("Main")).await.unwrap().value;
    assert_eq!(
        listed(members),
        [
            ("alice".to_owned(), plain),
            ("bob".to_owned(), plain),
            ("carol".to_owned(), plain),
            ("Zed".to_owned(), plain),
        ]
    );
    // Bob logs in again, as BOB, verified and an admin: the membership stays and shows him so.
    let flags = UserFlags {
        verified: true,
        admin: true,
        bot: false,
    };
    let new = NewSession {
        user: user("BOB"),
        token: token("session-BOB"),
        flags,
        registered: true,
    };
    stores
        .sessions
        .start(&new, LoginMode::Replace, at(5))
        .await
        .unwrap();
    let members = stores.chats.members(&chat("Main")).await.unwrap().value;
    assert_eq!(
        listed(members),
        [
            ("alice".to_owned(), plain),
            ("BOB".to_owned(), flags),
            ("carol".to_owned(), plain),
            ("Zed".to_owned(), plain),
        ]
    );
}

pub async fn touch_records_activity_only_with_the_right_token(stores: Stores) {
    let alice = guest(&stores, "alice").await;
    assert_eq!(alice.last_active, at(0));
    let touched = stores
        .sessions
        .touch(&key(&alice), at(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.last_active, at(30));
    assert!(touched.token.matches(&alice.token));
    let forged = SessionKey {
        user: user("alice"),
        token: token("forged"),
    };
    assert!(
        stores
            .sessions
            .touch(&forged, at(40))
            .await
            .unwrap()
            .is_none()
    );
    // The forged touch recorded nothing: the session expires by its real activity.
    let ended = stores.sessions.end_inactive(at(31), at(41)).await.unwrap();
    assert_eq!(ended, vec![user("alice")]);
}

pub async fn ending_a_session_needs_its_token_unless_any_token(stores: Stores) {
    let alice = guest(&stores, "alice").await;
    let forged = SessionKey {
        user: user("alice"),
        token: token("forged"),
    };
    assert!(!stores.sessions.end(&forged, false, at(1)).await.unwrap());
    assert!(stores.sessions.is_logged_in(&user("alice")).await.unwrap());
    assert!(stores.sessions.end(&forged, true, at(1)).await.unwrap());
    assert!(!stores.sessions.is_logged_in(&user("alice")).await.unwrap());
    assert!(
        !stores
            .sessions
            .end(&key(&alice), false, at(2))
            .await
            .unwrap()
    );
}

pub async fn inactive_sessions_end_strictly_before_cutoff(stores: Stores) {
    let alice = guest(&stores, "alice").await;
    let bob = guest(&stores, "bob").await;
    stores.sessions.touch(&key(&bob), at(10)).await.unwrap();
    assert!(
        stores
            .sessions
            .end_inactive(at(0), at(20))
            .await
            .unwrap()
            .is_empty()
    );
    let ended = stores.sessions.end_inactive(at(10), at(20)).await.unwrap();
    assert_eq!(ended, vec![user("alice")]);
    assert!(
        stores
            .sessions
            .touch(&key(&alice), at(21))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        stores
            .sessions
            .touch(&key(&bob), at(21))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        describe(&drain(&stores, &bob).await)[1..],
        ["LogoutEvent(alice)"]
    );
}

pub async fn session_starts_with_its_own_login_event(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Before"), at(0))
        .await
        .unwrap();
    let alice = guest(&stores, "alice").await;
    let events = drain(&stores, &alice).await;
    assert_eq!(describe(&events), ["LoginEvent(alice)"]);
    assert_eq!(events[0].id(), alice.first_event);
}

// ---- chats ----------------------------------------------------------------------------------

pub async fn chat_names_are_unique_and_exact(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    assert_conflict(
        stores.chats.create_chat(&chat("Main"), at(0)).await,
        Conflict::ChatName,
    );
    stores
        .chats
        .create_chat(&chat("main"), at(0))
        .await
        .unwrap();
    stores
        .chats
        .create_chat(&chat("Äpfel"), at(0))
        .await
        .unwrap();
    let names = stores.chats.chat_names().await.unwrap();
    assert_eq!(names, vec![chat("Main"), chat("main"), chat("Äpfel")]);
    assert_missing(
        stores.chats.remove_chat(&chat("Nope"), at(0)).await,
        Missing::Chat,
    );
}

pub async fn join_requires_chat_and_session_and_is_not_repeated(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    assert_missing(
        stores
            .chats
            .join(&user("ghost"), &chat("Main"), at(0))
            .await,
        Missing::Session,
    );
    guest(&stores, "alice").await;
    assert_missing(
        stores
            .chats
            .join(&user("alice"), &chat("Nope"), at(0))
            .await,
        Missing::Chat,
    );
    stores
        .chats
        .join(&user("alice"), &chat("Main"), at(0))
        .await
        .unwrap();
    assert_conflict(
        stores
            .chats
            .join(&user("ALICE"), &chat("Main"), at(0))
            .await,
        Conflict::Membership,
    );
    assert!(
        stores
            .chats
            .is_member(&user("Alice"), &chat("Main"))
            .await
            .unwrap()
    );
    assert!(
        !stores
            .chats
            .is_member(&user("alice"), &chat("Nope"))
            .await
            .unwrap()
    );
}

pub async fn leave_requires_membership(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    guest(&stores, "alice").await;
    assert_missing(
        stores
            .chats
            .leave(&user("alice"), &chat("Main"), at(0))
            .await,
        Missing::Membership,
    );
    assert_missing(
        stores
            .chats
            .leave(&user("alice"), &chat("Nope"), at(0))
            .await,
        Missing::Chat,
    );
    stores
        .chats
        .join(&user("alice"), &chat("Main"), at(0))
        .await
        .unwrap();
    stores
        .chats
        .leave(&user("alice"), &chat("Main"), at(0))
        .await
        .unwrap();
    assert!(
        !stores
            .chats
            .is_member(&user("alice"), &chat("Main"))
            .await
            .unwrap()
    );
}

pub async fn reports_show_content_only_to_members(stores: Stores) {
    for name in ["Main", "Alpha"] {
        stores.chats.create_chat(&chat(name), at(0)).await.unwrap();
    }
    let alice = guest(&stores, "alice").await;
    let bob = guest(&stores, "bob").await;
    stores
        .chats
        .join(&user("alice"), &chat("Main"), at(0))
        .await
        .unwrap();
    stores
        .chats
        .join(&user("bob"), &chat("Main"), at(0))
        .await
        .unwrap();
    for i in 1..=4 {
        post(&stores, &alice, "Main", &format!("m{i}")).await;
    }
    let reports = stores
        .chats
        .reports(&bob.user, None, 3)
        .await
        .unwrap()
        .value;
    let names: Vec<_> = reports.iter().map(|r| r.chat.as_str()).collect();
    assert_eq!(names, ["Alpha", "Main"]);
    assert_eq!(
        reports[0],
        ChatReport {
            user: user("bob"),
            chat: chat("Alpha"),
            joined: false,
            messages: vec![],
            users: vec![],
        }
    );
    let main = &reports[1];
    assert!(main.joined);
    let texts: Vec<_> = main.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["m2", "m3", "m4"], "the last three, oldest first");
    let users: Vec<_> = main.users.iter().map(|u| u.user.as_str()).collect();
    assert_eq!(users, ["alice", "bob"]);

    let only = stores
        .chats
        .reports(&alice.user, Some(&chat("Main")), 50)
        .await
        .unwrap()
        .value;
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].messages.len(), 4);
    assert_missing(
        stores
            .chats
            .reports(&alice.user, Some(&chat("Nope")), 50)
            .await,
        Missing::Chat,
    );

    let members = stores.chats.members(&chat("Main")).await.unwrap().value;
    assert_eq!(members.len(), 2);
    assert_missing(stores.chats.members(&chat("Nope")).await, Missing::Chat);
}

pub async fn removing_a_chat_removes_its_messages_and_memberships(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    let alice = guest(&stores, "alice").await;
    stores
        .chats
        .join(&user("alice"), &chat("Main"), at(0))
        .await
        .unwrap();
    post(&stores, &alice, "Main", "hello").await;
    stores
        .chats
        .remove_chat(&chat("Main"), at(1))
        .await
        .unwrap();
    assert!(
        !stores
            .chats
            .is_member(&user("alice"), &chat("Main"))
            .await
            .unwrap()
    );
    assert_missing(
        stores.messages.history(&chat("Main"), None, 10).await,
        Missing::Chat,
    );
    stores
        .chats
        .create_chat(&chat("Main"), at(2))
        .await
        .unwrap();
    let history = stores
        .messages
        .history(&chat("Main"), None, 10)
        .await
        .unwrap();
    assert!(history.value.is_empty(), "a re-created chat starts empty");
    assert!(
        !stores
            .chats
            .is_member(&user("alice"), &chat("Main"))
            .await
            .unwrap()
    );
}

pub async fn logout_drops_memberships_with_leave_events(stores: Stores) {
    for name in ["A", "B"] {
        stores.chats.create_chat(&chat(name), at(0)).await.unwrap();
    }
    let alice = guest(&stores, "alice").await;
    let bob = guest(&stores, "bob").await;
    for room in ["A", "B"] {
        stores
            .chats
            .join(&user("alice"), &chat(room), at(0))
            .await
            .unwrap();
        stores
            .chats
            .join(&user("bob"), &chat(room), at(0))
            .await
            .unwrap();
    }
    drain(&stores, &bob).await;
    assert!(
        stores
            .sessions
            .end(&key(&alice), false, at(1))
            .await
            .unwrap()
    );
    assert_eq!(
        describe(&drain(&stores, &bob).await),
        [
            "LogoutEvent(alice)",
            "ChatLeaveEvent(alice@A)",
            "SystemMessageChatLeaveEvent(alice@A)",
            "ChatLeaveEvent(alice@B)",
            "SystemMessageChatLeaveEvent(alice@B)",
        ]
    );
    assert!(
        !stores
            .chats
            .is_member(&user("alice"), &chat("A"))
            .await
            .unwrap()
    );
    let users = stores.chats.members(&chat("A")).await.unwrap().value;
    assert_eq!(users.len(), 1);
}

// ---- messages -------------------------------------------------------------------------------

pub async fn posting_requires_membership_unless_waived(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    let alice = guest(&stores, "alice").await;
    let mut message = NewMessage {
        author: alice.user.clone(),
        flags: UserFlags {
            verified: true,
            admin: false,
            bot: true,
        },
        chat: chat("Main"),
        text: MessageText::parse("hi", 10).unwrap(),
        membership_required: true,
    };
    assert_missing(
        stores.messages.post(&message, at(1)).await,
        Missing::Membership,
    );
    message.chat = chat("Nope");
    assert_missing(stores.messages.post(&message, at(1)).await, Missing::Chat);
    message.chat = chat("Main");
    message.membership_required = false;
    let stored = stores.messages.post(&message, at(7)).await.unwrap();
    assert_eq!(stored.user, alice.user);
    assert_eq!(stored.flags, message.flags);
    assert_eq!(stored.text, "hi");
    assert_eq!(stored.time, at(7));
    let history = stores
        .messages
        .history(&chat("Main"), None, 10)
        .await
        .unwrap()
        .value;
    assert_eq!(history, vec![stored]);
}

pub async fn message_ids_increase_across_chats(stores: Stores) {
    for name in ["A", "B"] {
        stores.chats.create_chat(&chat(name), at(0)).await.unwrap();
    }
    let alice = guest(&stores, "alice").await;
    for room in ["A", "B"] {
        stores
            .chats
            .join(&user("alice"), &chat(room), at(0))
            .await
            .unwrap();
    }
    let mut last = MessageId(0);
    for i in 0..6 {
        let m = post(&stores, &alice, if i % 2 == 0 { "A" } else { "B" }, "x").await;
        assert!(m.id > last, "{:?} after {:?}", m.id, last);
        last = m.id;
    }
}

pub async fn history_pages_backwards_oldest_first(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    let alice = guest(&stores, "alice").await;
    stores
        .chats
        .join(&user("alice"), &chat("Main"), at(0))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 1..=7 {
        ids.push(post(&stores, &alice, "Main", &format!("m{i}")).await.id);
    }
    let texts = |page: Vec<crate::model::message::Message>| {
        page.into_iter().map(|m| m.text).collect::<Vec<_>>()
    };
    let last3 = stores
        .messages
        .history(&chat("Main"), None, 3)
        .await
        .unwrap()
        .value;
    assert_eq!(texts(last3), ["m5", "m6", "m7"]);
    let before = stores
        .messages
        .history(&chat("Main"), Some(ids[4]), 3)
        .await
        .unwrap()
        .value;
    assert_eq!(texts(before), ["m2", "m3", "m4"]);
    let first = stores
        .messages
        .history(&chat("Main"), Some(ids[1]), 3)
        .await
        .unwrap()
        .value;
    assert_eq!(texts(first), ["m1"]);
    let none = stores
        .messages
        .history(&chat("Main"), Some(ids[0]), 3)
        .await
        .unwrap()
        .value;
    assert!(none.is_empty());
}

// ---- events ---------------------------------------------------------------------------------

pub async fn chat_events_reach_members_at_the_time_of_the_event(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    let alice = guest(&stores, "alice").await;
    let bob = guest(&stores, "bob").await;
    stores
        .chats
        .join(&user("bob"), &chat("Main"), at(0))
        .await
        .unwrap();
    post(&stores, &bob, "Main", "before alice").await;
    stores
        .chats
        .join(&user("alice"), &chat("Main"), at(0))
        .await
        .unwrap();
    post(&stores, &bob, "Main", "with alice").await;
    stores
        .chats
        .leave(&user("alice"), &chat("Main"), at(0))
        .await
        .unwrap();
    post(&stores, &bob, "Main", "after alice").await;

    assert_eq!(
        describe(&drain(&stores, &alice).await),
        [
            "LoginEvent(alice)",
            "LoginEvent(bob)",
            "ChatJoinEvent(alice@Main)",
            "SystemMessageChatJoinEvent(alice@Main)",
            "MessageEvent(bob@Main:with alice)",
        ],
        "alice gets her own join, not her own leave, and only what was sent while she was in"
    );
    assert_eq!(
        describe(&drain(&stores, &bob).await),
        [
            "LoginEvent(bob)",
            "ChatJoinEvent(bob@Main)",
            "SystemMessageChatJoinEvent(bob@Main)",
            "MessageEvent(bob@Main:before alice)",
            "ChatJoinEvent(alice@Main)",
            "SystemMessageChatJoinEvent(alice@Main)",
            "MessageEvent(bob@Main:with alice)",
            "ChatLeaveEvent(alice@Main)",
            "SystemMessageChatLeaveEvent(alice@Main)",
            "MessageEvent(bob@Main:after alice)",
        ]
    );
}

/// Events are owed from the moment they happen: removing a chat (or re-creating one of the
/// same name) changes nothing about what its members were sent before.
pub async fn a_removed_chats_earlier_events_still_reach_its_members(stores: Stores) {
    let chats = &stores.chats;
    chats.create_chat(&chat("Main"), at(0)).await.unwrap();
    let alice = guest(&stores, "alice").await;
    let bob = guest(&stores, "bob").await;
    chats
        .join(&user("alice"), &chat("Main"), at(0))
        .await
        .unwrap();
    chats
        .join(&user("bob"), &chat("Main"), at(0))
        .await
        .unwrap();
    drain(&stores, &alice).await;
    post(&stores, &bob, "Main", "last words").await;
    chats.remove_chat(&chat("Main"), at(0)).await.unwrap();
    chats.create_chat(&chat("Main"), at(0)).await.unwrap();
    chats
        .join(&user("bob"), &chat("Main"), at(0))
        .await
        .unwrap();
    post(&stores, &bob, "Main", "new chat").await;

    assert_eq!(
        describe(&drain(&stores, &alice).await),
        [
            "MessageEvent(bob@Main:last words)",
            "ChatRemovedEvent(Main)",
            "ChatCreatedEvent(Main)",
        ],
        "alice keeps what was sent while she was in, and nothing of the new chat"
    );
}

pub async fn login_reaches_everyone_logout_everyone_but_the_user(stores: Stores) {
    let alice = guest(&stores, "alice").await;
    let bob = guest(&stores, "bob").await;
    drain(&stores, &alice).await;
    drain(&stores, &bob).await;
    let carol = guest(&stores, "carol").await;
    for s in [&alice, &bob, &carol] {
        assert_eq!(
            describe(&drain(&stores, s).await),
            ["LoginEvent(carol)"],
            "{}",
            s.user
        );
    }
    stores.sessions.end(&key(&bob), false, at(1)).await.unwrap();
    for s in [&alice, &carol] {
        assert_eq!(
            describe(&drain(&stores, s).await),
            ["LogoutEvent(bob)"],
            "{}",
            s.user
        );
    }
    // A replaced session: the old one gets nothing more, the new one starts at its login.
    let carol2 = login_as(&stores, "carol", LoginMode::Replace, at(2)).await;
    assert_eq!(
        describe(&drain(&stores, &alice).await),
        ["LogoutEvent(carol)", "LoginEvent(carol)"]
    );
    assert_eq!(
        describe(&drain(&stores, &carol2).await),
        ["LoginEvent(carol)"]
    );
}

pub async fn chat_creation_and_removal_reach_everyone(stores: Stores) {
    let alice = guest(&stores, "alice").await;
    let bob = guest(&stores, "bob").await;
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    stores
        .chats
        .join(&user("bob"), &chat("Main"), at(0))
        .await
        .unwrap();
    drain(&stores, &alice).await;
    drain(&stores, &bob).await;
    stores.chats.create_chat(&chat("X"), at(1)).await.unwrap();
    stores
        .chats
        .remove_chat(&chat("Main"), at(1))
        .await
        .unwrap();
    for s in [&alice, &bob] {
        assert_eq!(
            describe(&drain(&stores, s).await),
            ["ChatCreatedEvent(X)", "ChatRemovedEvent(Main)"],
            "{} gets both, and bob no leave for the removed chat",
            s.user
        );
    }
}

pub async fn concurrent_appends_are_never_skipped_by_a_reader(stores: Stores) {
    const WRITERS: usize = 20;
    const EACH: usize = 50;
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    let reader = guest(&stores, "reader").await;
    stores
        .chats
        .join(&user("reader"), &chat("Main"), at(0))
        .await
        .unwrap();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let name = format!("writer{w}");
        let session = guest(&stores, &name).await;
        stores
            .chats
            .join(&session.user, &chat("Main"), at(0))
            .await
            .unwrap();
        writers.push(session);
    }
    let start = stores.events.last_id().await.unwrap();
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|writer| {
            let stores = stores.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    post(&stores, &writer, "Main", &format!("{i}")).await;
                }
            })
        })
        .collect();
    // The reader advances its own cursor while the writers append; every id it ever sees must
    // be above the cursor, and it must end with every message.
    let mut cursor = start;
    let mut seen = BTreeSet::new();
    let reader_key = key(&reader);
    let mut writers_done = false;
    loop {
        // Read once more after the writers finished, then stop: a lost event must fail the
        // test, not hang it.
        let finished = writers_done;
        writers_done = tasks.iter().all(tokio::task::JoinHandle::is_finished);
        let batch = stores
            .events
            .read_after(&reader_key, cursor, 7)
            .await
            .unwrap();
        for delivery in &batch {
            assert!(
                delivery.id() > cursor,
                "{} is not after cursor {cursor}",
                delivery.id()
            );
            cursor = delivery.id();
            if let Delivery::Event(e) = delivery {
                assert!(
                    matches!(e.event, Event::Message(_)),
                    "unexpected {:?}",
                    e.event
                );
                assert!(seen.insert(e.id), "{} delivered twice", e.id);
            } else {
                panic!("unexpected resync");
            }
        }
        if batch.is_empty() {
            if finished {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    assert_eq!(seen.len(), WRITERS * EACH, "the reader missed events");
    for task in tasks {
        task.await.unwrap();
    }
    // Nothing appeared behind the cursor after the reader moved past it.
    let all = stores
        .events
        .read_after(&reader_key, start, 10_000)
        .await
        .unwrap();
    let all_ids: BTreeSet<EventId> = all.iter().map(Delivery::id).collect();
    assert_eq!(all_ids, seen);
}

pub async fn concurrent_takers_on_one_session_share_events_exactly_once(stores: Stores) {
    const MESSAGES: usize = 200;
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    let alice = guest(&stores, "alice").await;
    stores
        .chats
        .join(&user("alice"), &chat("Main"), at(0))
        .await
        .unwrap();
    let poster = guest(&stores, "poster").await;
    stores
        .chats
        .join(&poster.user, &chat("Main"), at(0))
        .await
        .unwrap();
    drain(&stores, &alice).await;
    let expected: usize = MESSAGES;
    let posted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let takers: Vec<_> = (0..3)
        .map(|_| {
            let stores = stores.clone();
            let key = key(&alice);
            let posted = std::sync::Arc::clone(&posted);
            tokio::spawn(async move {
                let mut mine = Vec::new();
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                // Bounded: a taker that gets more than was posted has seen duplicates.
                while mine.len() <= MESSAGES && std::time::Instant::now() < deadline {
                    // Read before the take: once everything was posted, nothing to take means
                    // nothing left.
                    let all_posted = posted.load(std::sync::atomic::Ordering::SeqCst);
                    let batch = stores.events.take(&key, 3).await.unwrap();
                    if batch.is_empty() {
                        if all_posted {
                            break;
                        }
                        tokio::task::yield_now().await;
                    } else {
                        mine.extend(batch.iter().map(Delivery::id));
                    }
                }
                mine
            })
        })
        .collect();
    for i in 0..MESSAGES {
        post(&stores, &poster, "Main", &format!("{i}")).await;
    }
    posted.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut all = Vec::new();
    for taker in takers {
        let mine = taker.await.unwrap();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "each taker sees ids in order"
        );
        all.extend(mine);
    }
    let distinct: BTreeSet<_> = all.iter().copied().collect();
    assert_eq!(all.len(), distinct.len(), "an event was taken twice");
    assert_eq!(distinct.len(), expected, "an event was lost");
}

pub async fn reading_after_a_cursor_does_not_move_the_session_cursor(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    let alice = guest(&stores, "alice").await;
    let first = stores
        .events
        .read_after(&key(&alice), EventId(0), 10)
        .await
        .unwrap();
    assert_eq!(describe(&first), ["LoginEvent(alice)"]);
    let again = stores
        .events
        .read_after(&key(&alice), EventId(0), 10)
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(
        describe(&drain(&stores, &alice).await),
        ["LoginEvent(alice)"]
    );
    let after = stores
        .events
        .read_after(&key(&alice), first[0].id(), 10)
        .await
        .unwrap();
    assert!(after.is_empty());
}

pub async fn waiter_is_woken_by_an_append(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    let alice = guest(&stores, "alice").await;
    stores
        .chats
        .join(&alice.user, &chat("Main"), at(0))
        .await
        .unwrap();
    drain(&stores, &alice).await;
    let wakeup = stores.events.subscribe(&key(&alice)).await.unwrap();
    let waiter = tokio::spawn(wakeup);
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished(), "nothing happened yet");
    let poster = guest(&stores, "bob").await;
    stores
        .chats
        .join(&poster.user, &chat("Main"), at(0))
        .await
        .unwrap();
    post(&stores, &poster, "Main", "wake up").await;
    // Generous bound: only there so that a broken wake-up fails instead of hanging.
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the waiter was not woken")
        .unwrap();
    let events = drain(&stores, &alice).await;
    assert!(describe(&events).contains(&"MessageEvent(bob@Main:wake up)".to_owned()));
}

pub async fn waiter_is_woken_when_the_session_ends(stores: Stores) {
    let alice = guest(&stores, "alice").await;
    let wakeup = stores.events.subscribe(&key(&alice)).await.unwrap();
    let waiter = tokio::spawn(wakeup);
    stores
        .sessions
        .end(&key(&alice), false, at(1))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the waiter was not woken")
        .unwrap();
    assert_missing(
        stores.events.read_after(&key(&alice), EventId(0), 1).await,
        Missing::Session,
    );
    assert_missing(stores.events.take(&key(&alice), 1).await, Missing::Session);
}

pub async fn retention_by_count_leads_to_a_resync(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    let alice = guest(&stores, "alice").await;
    stores
        .chats
        .join(&alice.user, &chat("Main"), at(0))
        .await
        .unwrap();
    drain(&stores, &alice).await;
    let cursor = stores.events.last_id().await.unwrap();
    let overflow = 5;
    let mut ids = Vec::new();
    for i in 0..RETENTION_COUNT + overflow {
        ids.push(post(&stores, &alice, "Main", &format!("{i}")).await.id);
    }
    let batch = stores
        .events
        .read_after(&key(&alice), cursor, 10_000)
        .await
        .unwrap();
    let Delivery::Resync { id: resync_id, .. } = batch[0] else {
        panic!("expected a resync first, got {:?}", describe(&batch));
    };
    assert_eq!(
        batch.len(),
        1 + RETENTION_COUNT,
        "the resync and every kept event"
    );
    assert!(batch[1..].iter().all(|d| d.id() > resync_id));
    assert_eq!(
        batch[1..]
            .windows(2)
            .filter(|w| w[0].id() >= w[1].id())
            .count(),
        0
    );
    // The legacy poll sees the same: a resync, then the kept events.
    let taken = drain(&stores, &alice).await;
    assert_eq!(taken, batch);
    // A reader past the gap gets no resync.
    let fresh = stores
        .events
        .read_after(&key(&alice), resync_id, 1)
        .await
        .unwrap();
    assert!(matches!(fresh[0], Delivery::Event(_)));
}

pub async fn retention_by_age_leads_to_a_resync(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    let alice = guest(&stores, "alice").await;
    let bob = guest(&stores, "bob").await;
    stores
        .chats
        .join(&alice.user, &chat("Main"), at(0))
        .await
        .unwrap();
    drain(&stores, &alice).await;
    // An old message, then a recent one.
    let old = NewMessage {
        author: alice.user.clone(),
        flags: UserFlags::default(),
        chat: chat("Main"),
        text: MessageText::parse("old", 10).unwrap(),
        membership_required: true,
    };
    stores.messages.post(&old, at(10)).await.unwrap();
    let recent = NewMessage {
        text: MessageText::parse("recent", 10).unwrap(),
        ..old.clone()
    };
    stores.messages.post(&recent, at(100)).await.unwrap();
    let dropped = stores.events.prune(at(50)).await.unwrap();
    assert!(dropped >= 1);
    let batch = drain(&stores, &alice).await;
    assert_eq!(
        describe(&batch),
        ["ResyncEvent", "MessageEvent(alice@Main:recent)"]
    );
    match batch[0] {
        Delivery::Resync { time, .. } => assert_eq!(time, at(10), "the time of the last dropped"),
        Delivery::Event(_) => unreachable!(),
    }
    // bob's own login was at 0 and is gone too, but he has seen nothing since: resync as well.
    assert_eq!(describe(&drain(&stores, &bob).await)[0], "ResyncEvent");
}

pub async fn snapshots_carry_the_last_event_id(stores: Stores) {
    stores
        .chats
        .create_chat(&chat("Main"), at(0))
        .await
        .unwrap();
    let alice = guest(&stores, "alice").await;
    stores
        .chats
        .join(&alice.user, &chat("Main"), at(0))
        .await
        .unwrap();
    post(&stores, &alice, "Main", "hi").await;
    let last = stores.events.last_id().await.unwrap();
    assert!(last > EventId(0));
    let reports = stores.chats.reports(&alice.user, None, 10).await.unwrap();
    let history = stores
        .messages
        .history(&chat("Main"), None, 10)
        .await
        .unwrap();
    let members = stores.chats.members(&chat("Main")).await.unwrap();
    assert_eq!(
        (reports.as_of, history.as_of, members.as_of),
        (last, last, last)
    );
    // The snapshot's id is a cursor with nothing missing and nothing repeated after it.
    post(&stores, &alice, "Main", "after").await;
    let next = stores
        .events
        .read_after(&key(&alice), reports.as_of, 10)
        .await
        .unwrap();
    assert_eq!(describe(&next), ["MessageEvent(alice@Main:after)"]);
}

pub async fn mail_jobs_are_leased_retried_and_failed(stores: Stores) {
    for (name, email) in [
        ("a", "a@example.org"),
        ("b", "b@example.org"),
        ("c", "c@example.org"),
    ] {
        stores
            .accounts
            .register(&account(name, email), &activation_mail(name, email))
            .await
            .unwrap();
    }
    let outbox = Arc::clone(&stores.outbox);
    let first = outbox.claim_due(at(0), at(60), 2).await.unwrap();
    assert_eq!(first.len(), 2, "the limit is honoured");
    let rest = outbox.claim_due(at(0), at(60), 10).await.unwrap();
    assert_eq!(rest.len(), 1, "leased jobs are hidden");
    assert!(
        outbox
            .claim_due(at(59), at(120), 10)
            .await
            .unwrap()
            .is_empty()
    );

    outbox.mark_sent(first[0].id).await.unwrap();
    outbox
        .retry_later(first[1].id, at(30), "connection refused")
        .await
        .unwrap();
    outbox
        .mark_failed(rest[0].id, "550 no such user")
        .await
        .unwrap();
    assert_eq!(outbox.pending_count().await.unwrap(), 1);

    assert!(
        outbox
            .claim_due(at(29), at(90), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let retried = outbox.claim_due(at(30), at(90), 10).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].id, first[1].id);
    assert_eq!(retried[0].attempts, 1);
    assert!(
        outbox
            .claim_due(at(1000), at(2000), 10)
            .await
            .unwrap()
            .len()
            == 1
    );
}
