//! Accounts: registration, e-mail verification, resending the link, password reset
//! (original-spec.md §5.1–5.4, api.md §2 items 2, 6–10).

use std::time::Duration;

use awc::http::Method;
use serde_json::json;

use crate::helpers::{Actor, Reply, TestApp};

fn registration(user: &str, email: &str, password: &str) -> String {
    json!({ "user": user, "email": email, "password": password }).to_string()
}

fn reset(user: &str, token: &str, password: &str) -> String {
    json!({ "user": user, "passwordResetToken": token, "password": password }).to_string()
}

fn credentials(user: &str, password: &str) -> String {
    json!({ "user": user, "password": password }).to_string()
}

/// Registers `name` with `<name>@example.org` and password `secret1`.
async fn register(app: &TestApp, name: &str) -> Actor {
    let actor = app.client();
    actor
        .post(
            "/api/register",
            &registration(name, &format!("{name}@example.org"), "secret1"),
        )
        .await
        .assert_empty_ok();
    actor
}

/// Registers `name` and opens its activation link.
async fn register_verified(app: &TestApp, name: &str) -> Actor {
    let actor = register(app, name).await;
    let token = app.activation_token(name).await;
    actor
        .get(&format!("/api/verifyEmail/{name}/{token}"))
        .await
        .assert_empty_ok();
    actor
}

/// Asserts a 400 whose message names `field` (`"<field>: ..."`), and returns the message.
fn assert_field_error(reply: &Reply, field: &str) -> String {
    assert_eq!(reply.status, 400, "{reply:?}");
    let message = reply.error();
    assert!(
        message.starts_with(&format!("{field}: ")),
        "the message should name `{field}`: {message:?}"
    );
    message
}

// ---------------------------------------------------------------------------------------------
// POST /api/register

#[actix_web::test]
async fn register_answers_an_empty_200_and_the_account_then_needs_verification() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let reply = c
        .post(
            "/api/register",
            &registration("alice", "alice@example.org", "secret1"),
        )
        .await;
    reply.assert_empty_ok();
    assert_eq!(
        c.post("/api/authorize", &credentials("alice", "secret1"))
            .await
            .error(),
        "email is not verified"
    );
    assert!(!app.activation_token("alice").await.is_empty());
}

#[actix_web::test]
async fn register_without_a_password_is_422_password_is_empty() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for body in [
        r#"{"user":"bob","email":"bob@example.org"}"#,
        r#"{"user":"bob","email":"bob@example.org","password":""}"#,
        r#"{"user":"bob","email":"bob@example.org","password":null}"#,
        // A top-level null reads as an object without fields.
        "null",
    ] {
        let reply = c.post("/api/register", body).await;
        assert_eq!(reply.status, 422, "{body}: {reply:?}");
        assert_eq!(reply.error(), "password is empty", "{body}");
    }
}

#[actix_web::test]
async fn register_refuses_bad_user_names_with_a_message_naming_the_user_field() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let long = "a".repeat(5000);
    for name in [
        "",
        " bob",
        "bob ",
        "\tbob",
        "bo\u{7}b",
        "bo\u{0}b",
        "bo\nb",
        "bo\u{200b}b",
        "bob\u{202e}",
        "a".repeat(51).as_str(),
        long.as_str(),
    ] {
        let reply = c
            .post(
                "/api/register",
                &registration(name, "bob@example.org", "secret1"),
            )
            .await;
        assert_field_error(&reply, "user");
    }
    // The limits are in the message.
    let reply = c
        .post(
            "/api/register",
            &registration(&long, "bob@example.org", "secret1"),
        )
        .await;
    assert!(assert_field_error(&reply, "user").contains("50"));
    // Nothing was stored: the plain name is still free.
    c.post(
        "/api/register",
        &registration("bob", "bob@example.org", "secret1"),
    )
    .await
    .assert_empty_ok();
}

#[actix_web::test]
async fn register_accepts_a_name_of_exactly_fifty_characters_with_inner_spaces_and_unicode() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let fifty = "é".repeat(50);
    for (name, email) in [
        (fifty.as_str(), "e@example.org"),
        ("Zoë Smith", "zoe@example.org"),
        ("李小龍", "li@example.org"),
    ] {
        c.post("/api/register", &registration(name, email, "secret1"))
            .await
            .assert_empty_ok();
    }
}

#[actix_web::test]
async fn register_refuses_bad_email_addresses_with_a_message_naming_the_email_field() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let long = format!("{}@example.org", "a".repeat(300));
    for email in [
        "",
        "bob",
        "bob@example",
        "@example.org",
        "bob@",
        "bob@@example.org",
        "bob @example.org",
        "bob@example.org\r\nBcc: eve@example.org",
        "<bob@example.org>",
        long.as_str(),
    ] {
        let reply = c
            .post("/api/register", &registration("bob", email, "secret1"))
            .await;
        assert_field_error(&reply, "email");
    }
    let reply = c
        .post("/api/register", r#"{"user":"bob","password":"secret1"}"#)
        .await;
    assert_field_error(&reply, "email");
}

#[actix_web::test]
async fn register_refuses_passwords_outside_6_to_72_bytes_naming_the_password_field() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let reply = c
        .post(
            "/api/register",
            &registration("bob", "bob@example.org", "12345"),
        )
        .await;
    assert!(assert_field_error(&reply, "password").contains('6'));
    let reply = c
        .post(
            "/api/register",
            &registration("bob", "bob@example.org", &"p".repeat(73)),
        )
        .await;
    assert!(
        assert_field_error(&reply, "password").contains("72"),
        "never silently truncated"
    );
    // 37 characters, but 74 bytes: the limit is bcrypt's, in bytes.
    let reply = c
        .post(
            "/api/register",
            &registration("bob", "bob@example.org", &"é".repeat(37)),
        )
        .await;
    assert_field_error(&reply, "password");
}

#[actix_web::test]
async fn a_password_of_exactly_72_bytes_is_accepted_and_all_of_it_counts() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let password = format!("{}A", "p".repeat(71));
    c.post(
        "/api/register",
        &registration("bob", "bob@example.org", &password),
    )
    .await
    .assert_empty_ok();
    let token = app.activation_token("bob").await;
    c.get(&format!("/api/verifyEmail/bob/{token}"))
        .await
        .assert_empty_ok();
    // Only the last byte differs.
    let wrong = format!("{}B", "p".repeat(71));
    assert_eq!(
        c.post("/api/authorize", &credentials("bob", &wrong))
            .await
            .error(),
        "invalid user name or password"
    );
    assert_eq!(
        c.post("/api/authorize", &credentials("bob", &password))
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn register_reports_the_user_field_first_when_several_fields_are_bad() {
    let app = TestApp::spawn().await;
    let reply = app
        .client()
        .post("/api/register", &registration("", "nope", "123"))
        .await;
    assert_field_error(&reply, "user");
    let reply = app
        .client()
        .post("/api/register", &registration("bob", "nope", "123"))
        .await;
    assert_field_error(&reply, "email");
}

#[actix_web::test]
async fn register_refuses_a_taken_name_in_any_letter_case_with_409() {
    let app = TestApp::spawn().await;
    register(&app, "alice").await;
    let c = app.client();
    for name in ["alice", "ALICE", "Alice"] {
        let reply = c
            .post(
                "/api/register",
                &registration(name, "other@example.org", "secret1"),
            )
            .await;
        assert_eq!(reply.status, 409, "{name}");
        assert_eq!(reply.error(), "user already registered", "{name}");
    }
}

#[actix_web::test]
async fn the_bot_name_is_reserved_for_registration() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for name in ["Bot", "bot", "BOT"] {
        let reply = c
            .post(
                "/api/register",
                &registration(name, "bot@example.org", "secret1"),
            )
            .await;
        assert_eq!(reply.status, 409, "{name}");
        assert_eq!(reply.error(), "user already registered", "{name}");
    }
}

#[actix_web::test]
async fn register_refuses_a_taken_email_in_any_letter_case_with_409() {
    let app = TestApp::spawn().await;
    register(&app, "alice").await;
    let c = app.client();
    for email in [
        "alice@example.org",
        "Alice@Example.ORG",
        "ALICE@EXAMPLE.ORG",
    ] {
        let reply = c
            .post("/api/register", &registration("bob", email, "secret1"))
            .await;
        assert_eq!(reply.status, 409, "{email}");
        assert_eq!(reply.error(), "email already registered", "{email}");
    }
    // The refused attempts stored nothing: bob is still free.
    c.post(
        "/api/register",
        &registration("bob", "bob@example.org", "secret1"),
    )
    .await
    .assert_empty_ok();
}

#[actix_web::test]
async fn register_ignores_client_sent_verified_admin_and_bot_flags() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let body = json!({
        "user": "mallory",
        "email": "mallory@example.org",
        "password": "secret1",
        "verified": true,
        "admin": true,
        "bot": true,
    });
    c.post("/api/register", &body.to_string())
        .await
        .assert_empty_ok();
    assert_eq!(
        c.post("/api/authorize", &credentials("mallory", "secret1"))
            .await
            .error(),
        "email is not verified",
        "the account still has to be verified"
    );
    let token = app.activation_token("mallory").await;
    c.get(&format!("/api/verifyEmail/mallory/{token}"))
        .await
        .assert_empty_ok();
    let reply = c
        .post("/api/authorize", &credentials("mallory", "secret1"))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({"user":"mallory","verified":true,"admin":false,"bot":false})
    );
    let reply = c
        .post("/api/adminonly/createChat", r#"{"chat":"Mine"}"#)
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.error(), "admin only");
}

#[actix_web::test]
async fn register_ignores_a_client_sent_password_reset_token() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let chosen = "ChosenByTheClient1234567890abcdef";
    let body = json!({
        "user": "mallory",
        "email": "mallory@example.org",
        "password": "secret1",
        "passwordResetToken": chosen,
    });
    c.post("/api/register", &body.to_string())
        .await
        .assert_empty_ok();
    let reply = c
        .post("/api/resetPassword", &reset("mallory", chosen, "newpass1"))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "bad reset password token");
}

#[actix_web::test]
async fn register_answers_cannot_parse_data_for_bodies_that_are_not_the_expected_json() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for body in [
        "",
        "[]",
        "{",
        r#"{"user":1}"#,
        r#"{"user":"bob","email":"bob@example.org","password":123456}"#,
        r#"{"user":"bob","email":["bob@example.org"],"password":"secret1"}"#,
        r#""bob""#,
        "42",
        "not json",
    ] {
        let reply = c.post("/api/register", body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.error(), "cannot parse data", "{body}");
    }
}

#[actix_web::test]
async fn register_reads_json_sent_as_text_plain() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let reply = c
        .send(
            Method::POST,
            "/api/register",
            Some(&registration("carol", "carol@example.org", "secret1")),
            &[("Content-Type", "text/plain;charset=UTF-8")],
        )
        .await;
    reply.assert_empty_ok();
    assert!(!app.activation_token("carol").await.is_empty());
}

#[actix_web::test]
async fn register_matches_keys_case_insensitively_and_ignores_what_follows_the_object() {
    let app = TestApp::spawn().await;
    let c = app.client();
    c.post(
        "/api/register",
        r#"{"User":"carol","EMAIL":"carol@example.org","Password":"secret1"}"#,
    )
    .await
    .assert_empty_ok();
    let token = app.activation_token("carol").await;
    c.get(&format!("/api/verifyEmail/carol/{token}"))
        .await
        .assert_empty_ok();
    assert_eq!(
        c.post("/api/authorize", &credentials("carol", "secret1"))
            .await
            .status,
        200,
        "the password was read from `Password`"
    );
    c.post(
        "/api/register",
        r#"{"user":"dave","email":"dave@example.org","password":"secret1"} trailing"#,
    )
    .await
    .assert_empty_ok();
    assert!(!app.activation_token("dave").await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// GET /api/verifyEmail/{user}/{token}

#[actix_web::test]
async fn the_activation_link_verifies_the_account_and_can_be_opened_twice() {
    let app = TestApp::spawn().await;
    let c = register(&app, "alice").await;
    let token = app.activation_token("alice").await;
    c.get(&format!("/api/verifyEmail/alice/{token}"))
        .await
        .assert_empty_ok();
    c.get(&format!("/api/verifyEmail/alice/{token}"))
        .await
        .assert_empty_ok();
    let reply = c
        .post("/api/authorize", &credentials("alice", "secret1"))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["verified"], true);
}

#[actix_web::test]
async fn verify_email_for_an_unknown_user_is_400_user_does_not_exist() {
    let app = TestApp::spawn().await;
    register(&app, "alice").await;
    let token = app.activation_token("alice").await;
    let c = app.client();
    let long = "a".repeat(60);
    for user in [
        "nobody",
        "alic",
        "Bot",
        "%20alice",
        "al%00ice",
        long.as_str(),
    ] {
        let reply = c.get(&format!("/api/verifyEmail/{user}/{token}")).await;
        assert_eq!(reply.status, 400, "{user}");
        assert_eq!(reply.error(), "user doesn't exist", "{user}");
    }
}

#[actix_web::test]
async fn verify_email_with_a_wrong_token_is_400_bad_activation_token() {
    let app = TestApp::spawn().await;
    let c = register(&app, "alice").await;
    register(&app, "bob").await;
    let token = app.activation_token("alice").await;
    let bobs = app.activation_token("bob").await;
    let mut flipped = token.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    for wrong in [
        "wrong".to_owned(),
        flipped,
        token.to_uppercase(),
        format!("{token}x"),
        bobs,
        "%00".to_owned(),
        "%20".to_owned(),
        "x".repeat(5000),
    ] {
        if wrong == token {
            continue;
        }
        let reply = c.get(&format!("/api/verifyEmail/alice/{wrong}")).await;
        assert_eq!(reply.status, 400, "{wrong}");
        assert_eq!(reply.error(), "bad activation token", "{wrong}");
    }
    // Still unverified.
    assert_eq!(
        c.post("/api/authorize", &credentials("alice", "secret1"))
            .await
            .error(),
        "email is not verified"
    );
}

#[actix_web::test]
async fn verify_email_decodes_user_names_with_spaces_and_unicode() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for (name, encoded, email) in [
        ("Zoë Smith", "Zo%C3%AB%20Smith", "zoe@example.org"),
        ("李小龍", "%E6%9D%8E%E5%B0%8F%E9%BE%8D", "li@example.org"),
        ("a+b&c", "a%2Bb%26c", "ab@example.org"),
    ] {
        c.post("/api/register", &registration(name, email, "secret1"))
            .await
            .assert_empty_ok();
        let token = app.activation_token(name).await;
        c.get(&format!("/api/verifyEmail/{encoded}/{token}"))
            .await
            .assert_empty_ok();
        let reply = c
            .post("/api/authorize", &credentials(name, "secret1"))
            .await;
        assert_eq!(reply.status, 200, "{name}: {reply:?}");
        assert_eq!(reply.json()["user"], name);
    }
}

#[actix_web::test]
async fn an_expired_activation_link_is_refused_and_a_resent_one_works() {
    let app = TestApp::spawn_with(|s| s.activation_token_ttl = Duration::from_millis(500)).await;
    let c = register(&app, "alice").await;
    let token = app.activation_token("alice").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let reply = c.get(&format!("/api/verifyEmail/alice/{token}")).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "bad activation token");
    c.post("/api/resendVerification", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    let fresh = app.activation_token("alice").await;
    c.get(&format!("/api/verifyEmail/alice/{fresh}"))
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn a_used_activation_link_still_answers_200_after_it_expired() {
    let app = TestApp::spawn_with(|s| s.activation_token_ttl = Duration::from_millis(500)).await;
    let c = register_verified(&app, "alice").await;
    let token = app.activation_token("alice").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    c.get(&format!("/api/verifyEmail/alice/{token}"))
        .await
        .assert_empty_ok();
}

// ---------------------------------------------------------------------------------------------
// POST /api/resendVerification

#[actix_web::test]
async fn resend_verification_answers_an_empty_200_for_unknown_names() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for body in [
        r#"{"user":"nobody"}"#,
        r#"{"user":""}"#,
        "{}",
        r#"{"user":" padded "}"#,
    ] {
        c.post("/api/resendVerification", body)
            .await
            .assert_empty_ok();
    }
}

#[actix_web::test]
async fn resend_verification_replaces_the_activation_link() {
    let app = TestApp::spawn().await;
    let c = register(&app, "alice").await;
    let old = app.activation_token("alice").await;
    c.post("/api/resendVerification", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    let new = app.activation_token("alice").await;
    assert_ne!(old, new);
    let reply = c.get(&format!("/api/verifyEmail/alice/{old}")).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "bad activation token");
    c.get(&format!("/api/verifyEmail/alice/{new}"))
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn resend_verification_for_a_verified_account_changes_nothing() {
    let app = TestApp::spawn().await;
    let c = register_verified(&app, "alice").await;
    let token = app.activation_token("alice").await;
    c.post("/api/resendVerification", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    assert_eq!(app.activation_token("alice").await, token);
    c.get(&format!("/api/verifyEmail/alice/{token}"))
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn resend_verification_names_the_field_of_a_malformed_body() {
    let app = TestApp::spawn().await;
    let c = app.client();
    assert_field_error(
        &c.post("/api/resendVerification", r#"{"user":5}"#).await,
        "user",
    );
    for body in ["", "{", "[]"] {
        let reply = c.post("/api/resendVerification", body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert!(!reply.error().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// POST /api/requestResetPassword

#[actix_web::test]
async fn request_reset_password_answers_an_empty_200_for_unknown_names() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for body in [r#"{"user":"nobody"}"#, r#"{"user":"Bot"}"#] {
        c.post("/api/requestResetPassword", body)
            .await
            .assert_empty_ok();
    }
}

#[actix_web::test]
async fn request_reset_password_for_a_known_user_stores_a_token_and_answers_an_empty_200() {
    let app = TestApp::spawn().await;
    let c = register_verified(&app, "alice").await;
    c.post("/api/requestResetPassword", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    assert!(app.reset_token("alice").await.len() >= 16);
}

#[actix_web::test]
async fn request_reset_password_without_a_name_is_400_username_is_empty() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for body in [r#"{"user":""}"#, "{}", "null", r#"{"user":null}"#] {
        let reply = c.post("/api/requestResetPassword", body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.error(), "username is empty", "{body}");
    }
}

#[actix_web::test]
async fn request_reset_password_names_the_field_of_a_malformed_body() {
    let app = TestApp::spawn().await;
    let c = app.client();
    assert_field_error(
        &c.post("/api/requestResetPassword", r#"{"user":["alice"]}"#)
            .await,
        "user",
    );
    for body in ["", "{", "[]"] {
        let reply = c.post("/api/requestResetPassword", body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert!(!reply.error().is_empty());
    }
}

#[actix_web::test]
async fn a_second_reset_request_replaces_the_first_token() {
    let app = TestApp::spawn().await;
    let c = register_verified(&app, "alice").await;
    c.post("/api/requestResetPassword", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    let first = app.reset_token("alice").await;
    c.post("/api/requestResetPassword", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    let second = app.reset_token("alice").await;
    assert_ne!(first, second);
    let reply = c
        .post("/api/resetPassword", &reset("alice", &first, "newpass1"))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "bad reset password token");
    c.post("/api/resetPassword", &reset("alice", &second, "newpass1"))
        .await
        .assert_empty_ok();
}

// ---------------------------------------------------------------------------------------------
// POST /api/resetPassword

#[actix_web::test]
async fn reset_password_with_a_missing_field_is_400_some_fields_are_empty() {
    let app = TestApp::spawn().await;
    let c = register_verified(&app, "alice").await;
    c.post("/api/requestResetPassword", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    let token = app.reset_token("alice").await;
    for body in [
        reset("", &token, "newpass1"),
        reset("alice", "", "newpass1"),
        reset("alice", &token, ""),
        json!({"user": "alice", "password": "newpass1"}).to_string(),
        "{}".to_owned(),
        "null".to_owned(),
    ] {
        let reply = c.post("/api/resetPassword", &body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.error(), "some fields are empty", "{body}");
    }
    // None of that used the token up.
    c.post("/api/resetPassword", &reset("alice", &token, "newpass1"))
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn reset_password_with_a_wrong_token_or_unknown_user_is_400_bad_reset_password_token() {
    let app = TestApp::spawn().await;
    let c = register_verified(&app, "alice").await;
    register_verified(&app, "bob").await;
    register_verified(&app, "carol").await;
    for name in ["alice", "bob"] {
        c.post(
            "/api/requestResetPassword",
            &json!({ "user": name }).to_string(),
        )
        .await
        .assert_empty_ok();
    }
    let token = app.reset_token("alice").await;
    let bobs = app.reset_token("bob").await;
    for (user, wrong) in [
        ("alice", "wrong"),
        ("alice", &token.to_uppercase()),
        ("alice", &format!("{token}x")),
        ("alice", &bobs),
        ("nobody", &token),
        // carol never asked for a reset.
        ("carol", &token),
    ] {
        if user == "alice" && *wrong == token {
            continue;
        }
        let reply = c
            .post("/api/resetPassword", &reset(user, wrong, "newpass1"))
            .await;
        assert_eq!(reply.status, 400, "{user} {wrong}");
        assert_eq!(reply.error(), "bad reset password token", "{user} {wrong}");
    }
    // The old passwords still work.
    for name in ["alice", "carol"] {
        assert_eq!(
            app.client()
                .post("/api/authorize", &credentials(name, "secret1"))
                .await
                .status,
            200,
            "{name}"
        );
    }
}

#[actix_web::test]
async fn a_reset_token_works_only_once() {
    let app = TestApp::spawn().await;
    let c = register_verified(&app, "alice").await;
    c.post("/api/requestResetPassword", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    let token = app.reset_token("alice").await;
    c.post("/api/resetPassword", &reset("alice", &token, "newpass1"))
        .await
        .assert_empty_ok();
    let reply = c
        .post("/api/resetPassword", &reset("alice", &token, "newpass2"))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "bad reset password token");
    assert_eq!(
        c.post("/api/authorize", &credentials("alice", "newpass1"))
            .await
            .status,
        200,
        "the refused second reset changed nothing"
    );
}

#[actix_web::test]
async fn an_expired_reset_token_is_refused() {
    let app = TestApp::spawn_with(|s| s.reset_token_ttl = Duration::from_millis(500)).await;
    let c = register_verified(&app, "alice").await;
    c.post("/api/requestResetPassword", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    let token = app.reset_token("alice").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let reply = c
        .post("/api/resetPassword", &reset("alice", &token, "newpass1"))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "bad reset password token");
    assert_eq!(
        c.post("/api/authorize", &credentials("alice", "secret1"))
            .await
            .status,
        200,
        "the password is unchanged"
    );
}

#[actix_web::test]
async fn reset_password_refuses_an_invalid_new_password_and_keeps_the_token() {
    let app = TestApp::spawn().await;
    let c = register_verified(&app, "alice").await;
    c.post("/api/requestResetPassword", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    let token = app.reset_token("alice").await;
    for password in ["short", "12345", &"p".repeat(73)] {
        let reply = c
            .post("/api/resetPassword", &reset("alice", &token, password))
            .await;
        assert_field_error(&reply, "password");
    }
    c.post("/api/resetPassword", &reset("alice", &token, "newpass1"))
        .await
        .assert_empty_ok();
    assert_eq!(
        c.post("/api/authorize", &credentials("alice", "newpass1"))
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn reset_password_names_the_field_of_a_malformed_body() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for (body, field) in [
        (
            r#"{"user":1,"passwordResetToken":"t","password":"newpass1"}"#,
            "user",
        ),
        (
            r#"{"user":"alice","passwordResetToken":1,"password":"newpass1"}"#,
            "passwordResetToken",
        ),
        (
            r#"{"user":"alice","passwordResetToken":"t","password":true}"#,
            "password",
        ),
    ] {
        assert_field_error(&c.post("/api/resetPassword", body).await, field);
    }
    for body in ["", "{", "[]"] {
        let reply = c.post("/api/resetPassword", body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert!(!reply.error().is_empty());
    }
}

#[actix_web::test]
async fn a_password_reset_replaces_the_password_and_ends_the_users_session() {
    let app = TestApp::spawn().await;
    let alice = app.member("alice").await;
    alice
        .put("/api/loggedonly/keepalive")
        .await
        .assert_empty_ok();
    let c = app.client();
    c.post("/api/requestResetPassword", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    let token = app.reset_token("alice").await;
    c.post("/api/resetPassword", &reset("alice", &token, "newpass1"))
        .await
        .assert_empty_ok();

    let reply = alice.put("/api/loggedonly/keepalive").await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.error(), "user not logged in");

    let reply = c
        .post("/api/authorize", &credentials("alice", "secret1"))
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.error(), "invalid user name or password");

    let reply = c
        .post("/api/authorize", &credentials("alice", "newpass1"))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({"user":"alice","verified":true,"admin":false,"bot":false}),
        "the reset kept the account verified"
    );
}

#[actix_web::test]
async fn a_password_reset_works_for_an_unverified_account_and_keeps_it_unverified() {
    let app = TestApp::spawn().await;
    let c = register(&app, "alice").await;
    c.post("/api/requestResetPassword", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    let token = app.reset_token("alice").await;
    c.post("/api/resetPassword", &reset("alice", &token, "newpass1"))
        .await
        .assert_empty_ok();
    let reply = c
        .post("/api/authorize", &credentials("alice", "newpass1"))
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.error(), "email is not verified");
}
