//! Every route: its success and each error of its table, with exact statuses and messages
//! (original-spec.md §5, api.md §2).

use serde_json::{Value, json};

use crate::helpers::{TestApp, describe};

#[actix_web::test]
async fn register_verify_and_authorize() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let reply = c.post("/api/register", r#"{"user":"alice","email":"alice@example.org","password":"secret1","verified":true,"admin":true}"#).await;
    reply.assert_empty_ok();
    assert_eq!(
        c.post("/api/authorize", r#"{"user":"alice","password":"secret1"}"#)
            .await
            .error(),
        "email is not verified"
    );
    let token = app.activation_token("alice").await;
    c.get(&format!("/api/verifyEmail/alice/{token}"))
        .await
        .assert_empty_ok();
    c.get(&format!("/api/verifyEmail/alice/{token}"))
        .await
        .assert_empty_ok();
    let reply = c
        .post("/api/authorize", r#"{"user":"ALICE","password":"secret1"}"#)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        "{\"user\":\"alice\",\"verified\":true,\"admin\":false,\"bot\":false}\n"
    );
    // Client-sent flags were ignored: alice is no admin.
    assert_eq!(
        c.post("/api/adminonly/createChat", r#"{"chat":"X"}"#)
            .await
            .error(),
        "admin only"
    );
}

#[actix_web::test]
async fn register_errors() {
    let app = TestApp::spawn().await;
    let c = app.client();
    c.post(
        "/api/register",
        r#"{"user":"alice","email":"alice@example.org","password":"secret1"}"#,
    )
    .await
    .assert_empty_ok();
    let long = "a".repeat(5000);
    let cases: Vec<(String, u16, &str)> = vec![
        (
            r#"{"user":"bob","email":"bob@example.org"}"#.into(),
            422,
            "password is empty",
        ),
        (
            r#"{"user":"","email":"bob@example.org","password":"secret1"}"#.into(),
            400,
            "user: must not be empty",
        ),
        (
            format!(r#"{{"user":"{long}","email":"bob@example.org","password":"secret1"}}"#),
            400,
            "user: must be at most 50 characters long",
        ),
        (
            r#"{"user":"bo\u0007b","email":"bob@example.org","password":"secret1"}"#.into(),
            400,
            "user: must not contain",
        ),
        (
            r#"{"user":"bob","email":"bob@example","password":"secret1"}"#.into(),
            400,
            "email: is not a valid e-mail address",
        ),
        (
            r#"{"user":"bob","email":"bob@example.org","password":"12345"}"#.into(),
            400,
            "password: must be at least 6 bytes long",
        ),
        (
            format!(
                r#"{{"user":"bob","email":"bob@example.org","password":"{}"}}"#,
                "p".repeat(73)
            ),
            400,
            "password: must be at most 72 bytes long",
        ),
        (
            r#"{"user":"ALICE","email":"other@example.org","password":"secret1"}"#.into(),
            409,
            "user already registered",
        ),
        (
            r#"{"user":"Bot","email":"bot@example.org","password":"secret1"}"#.into(),
            409,
            "user already registered",
        ),
        (
            r#"{"user":"bob","email":"Alice@Example.ORG","password":"secret1"}"#.into(),
            409,
            "email already registered",
        ),
        ("".into(), 400, "cannot parse data"),
        ("[]".into(), 400, "cannot parse data"),
        ("{".into(), 400, "cannot parse data"),
        (r#"{"user":1}"#.into(), 400, "cannot parse data"),
    ];
    for (body, status, message) in cases {
        let reply = c.post("/api/register", &body).await;
        assert_eq!(reply.status, status, "{body:.80}: {}", reply.body);
        let error = reply.error();
        assert!(error.starts_with(message), "{body:.80}: {error}");
    }
    // Keys are matched case-insensitively and the content type is not checked.
    let reply = c
        .send(
            awc::http::Method::POST,
            "/api/register",
            Some(r#"{"User":"carol","EMAIL":"carol@example.org","Password":"secret1"}"#),
            &[("Content-Type", "text/plain")],
        )
        .await;
    reply.assert_empty_ok();
}

#[actix_web::test]
async fn verify_email_errors() {
    let app = TestApp::spawn().await;
    let c = app.client();
    c.post(
        "/api/register",
        r#"{"user":"Zoë Smith","email":"zoe@example.org","password":"secret1"}"#,
    )
    .await
    .assert_empty_ok();
    let token = app.activation_token("Zoë Smith").await;
    assert_eq!(
        c.get(&format!("/api/verifyEmail/nobody/{token}"))
            .await
            .error(),
        "user doesn't exist"
    );
    assert_eq!(
        c.get("/api/verifyEmail/Zo%C3%AB%20Smith/wrong")
            .await
            .error(),
        "bad activation token"
    );
    c.get(&format!("/api/verifyEmail/Zo%C3%AB%20Smith/{token}"))
        .await
        .assert_empty_ok();
    assert_eq!(
        c.get("/api/verifyEmail/Zo%C3%AB%20Smith/").await.status,
        404,
        "an empty segment matches no route"
    );
}

#[actix_web::test]
async fn resend_verification_replaces_the_link_and_reveals_nothing() {
    let app = TestApp::spawn().await;
    let c = app.client();
    c.post("/api/resendVerification", r#"{"user":"nobody"}"#)
        .await
        .assert_empty_ok();
    c.post(
        "/api/register",
        r#"{"user":"alice","email":"alice@example.org","password":"secret1"}"#,
    )
    .await
    .assert_empty_ok();
    let old = app.activation_token("alice").await;
    c.post("/api/resendVerification", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    let new = app.activation_token("alice").await;
    assert_ne!(old, new);
    assert_eq!(
        c.get(&format!("/api/verifyEmail/alice/{old}"))
            .await
            .error(),
        "bad activation token"
    );
    c.get(&format!("/api/verifyEmail/alice/{new}"))
        .await
        .assert_empty_ok();
    assert!(
        c.post("/api/resendVerification", r#"{"user":5}"#)
            .await
            .error()
            .starts_with("user: must be a string")
    );
}

#[actix_web::test]
async fn password_reset_flow_and_errors() {
    let app = TestApp::spawn().await;
    let alice = app.member("alice").await;
    let c = app.client();
    c.post("/api/requestResetPassword", r#"{"user":"nobody"}"#)
        .await
        .assert_empty_ok();
    assert_eq!(
        c.post("/api/requestResetPassword", r#"{"user":""}"#)
            .await
            .error(),
        "username is empty"
    );
    c.post("/api/requestResetPassword", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    let token = app.reset_token("alice").await;
    let reset = |user: &str, token: &str, password: &str| {
        json!({"user": user, "passwordResetToken": token, "password": password}).to_string()
    };
    assert_eq!(
        c.post("/api/resetPassword", &reset("alice", "", "newpass1"))
            .await
            .error(),
        "some fields are empty"
    );
    assert_eq!(
        c.post("/api/resetPassword", &reset("alice", "wrong", "newpass1"))
            .await
            .error(),
        "bad reset password token"
    );
    assert_eq!(
        c.post("/api/resetPassword", &reset("nobody", &token, "newpass1"))
            .await
            .error(),
        "bad reset password token"
    );
    assert!(
        c.post("/api/resetPassword", &reset("alice", &token, "short"))
            .await
            .error()
            .starts_with("password:")
    );
    c.post("/api/resetPassword", &reset("alice", &token, "newpass1"))
        .await
        .assert_empty_ok();
    assert_eq!(
        c.post("/api/resetPassword", &reset("alice", &token, "newpass2"))
            .await
            .error(),
        "bad reset password token"
    );
    assert_eq!(
        alice.get("/api/loggedonly/getChats").await.status,
        401,
        "the reset ended the session"
    );
    assert_eq!(
        c.post("/api/authorize", r#"{"user":"alice","password":"secret1"}"#)
            .await
            .error(),
        "invalid user name or password"
    );
    assert_eq!(
        c.post(
            "/api/authorize",
            r#"{"user":"alice","password":"newpass1"}"#
        )
        .await
        .status,
        200
    );
}

#[actix_web::test]
async fn guest_login_answers_and_refusals() {
    let app = TestApp::spawn().await;
    app.member("alice").await;
    let c = app.client();
    let reply = c.post("/api/login", r#"{"user":"bob"}"#).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        "{\"user\":\"bob\",\"verified\":false,\"admin\":false,\"bot\":false}\n"
    );
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    let other = app.client();
    for (body, status, message) in [
        (r#"{"user":"alice"}"#, 409, "unauthorized"),
        (r#"{"user":"Alice"}"#, 409, "unauthorized"),
        (r#"{"user":"bot"}"#, 409, "unauthorized"),
        (r#"{"user":"bob"}"#, 409, "user is already logged in"),
        (r#"{"user":"BOB"}"#, 409, "user is already logged in"),
        (
            r#"{"user":" carol"}"#,
            400,
            "user: must not start or end with white space",
        ),
        (r#"{"user":""}"#, 400, "user: must not be empty"),
        (r#"{}"#, 400, "user: must not be empty"),
        (r#"{"user":["x"]}"#, 400, "cannot parse data"),
    ] {
        let reply = other.post("/api/login", body).await;
        assert_eq!(reply.status, status, "{body}");
        assert_eq!(reply.error(), message, "{body}");
    }
}

#[actix_web::test]
async fn authorize_resume_logout_keepalive() {
    let app = TestApp::spawn().await;
    let alice = app.member("alice").await;
    let c = app.client();
    for body in [
        r#"{"user":"nobody","password":"secret1"}"#,
        r#"{"user":"alice","password":"wrong1"}"#,
        r#"{}"#,
    ] {
        assert_eq!(
            c.post("/api/authorize", body).await.error(),
            "invalid user name or password",
            "{body}"
        );
    }
    assert_eq!(
        c.post("/api/authorize", "nonsense").await.error(),
        "cannot parse data"
    );
    // A second login of the name ends the first session.
    let second = app.client();
    assert_eq!(
        second
            .post("/api/authorize", r#"{"user":"alice","password":"secret1"}"#)
            .await
            .status,
        200
    );
    assert_eq!(
        alice.put("/api/loggedonly/keepalive").await.error(),
        "user not logged in"
    );
    second
        .put("/api/loggedonly/keepalive")
        .await
        .assert_empty_ok();
    let old_cookie = second.cookie();
    let resumed = second.post("/api/loggedonly/login", "{}").await;
    assert_eq!(resumed.status, 200);
    assert_eq!(resumed.json()["verified"], true);
    assert_ne!(second.cookie(), old_cookie, "a fresh cookie");
    let stale = app.client();
    stale.set_cookie(old_cookie);
    assert_eq!(stale.put("/api/loggedonly/keepalive").await.status, 401);
    let reply = second.post("/api/loggedonly/logout", "").await;
    reply.assert_empty_ok();
    let cleared = reply.header("set-cookie").unwrap_or_default();
    assert!(
        cleared.starts_with("chatty=") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    for (method, path) in [
        ("POST", "/api/loggedonly/logout"),
        ("PUT", "/api/loggedonly/keepalive"),
        ("POST", "/api/loggedonly/login"),
    ] {
        let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let reply = app.client().send(method, path, Some("{}"), &[]).await;
        assert_eq!(reply.error(), "user not logged in", "{path}");
    }
}

#[actix_web::test]
async fn chats_join_leave_and_reports() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let reply = alice.join("Main").await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("chatty-event-id").is_some());
    assert_eq!(
        reply.body,
        "{\"user\":\"alice\",\"chat\":\"Main\",\"joined\":true,\"messages\":[],\"users\":[{\"user\":\"alice\",\"verified\":false,\"admin\":false,\"bot\":false}]}\n"
    );
    for (body, message) in [
        (r#"{"chat":"Main"}"#, "user is already logged in chat"),
        (r#"{"chat":"Nope"}"#, "no such chat"),
        (r#"{"chat":""}"#, "no such chat"),
        (r#"{"chatasf":"Main"}"#, "no such chat"),
        ("null", "no such chat"),
        (r#"{"chat":1}"#, "cannot parse data"),
        ("", "cannot parse data"),
    ] {
        let reply = alice.post("/api/loggedonly/joinChat", body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.error(), message, "{body}");
    }
    let chats = alice.get("/api/loggedonly/getChats").await.json();
    let names: Vec<_> = chats
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["chat"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Main", "Random"]);
    assert_eq!(
        chats[1],
        json!({"user":"alice","chat":"Random","joined":false,"messages":[],"users":[]})
    );
    let users = alice
        .post("/api/loggedonly/getUsers", r#"{"chat":"Main"}"#)
        .await
        .json();
    assert_eq!(
        users,
        json!([{"user":"alice","verified":false,"admin":false,"bot":false}])
    );
    assert_eq!(
        alice
            .post("/api/loggedonly/getUsers", r#"{"chat":"Random"}"#)
            .await
            .error(),
        "user not logged in such chat"
    );
    assert_eq!(
        alice
            .post("/api/loggedonly/leaveChat", r#"{"chat":"Random"}"#)
            .await
            .error(),
        "user not logged in such chat"
    );
    assert_eq!(
        alice
            .post("/api/loggedonly/leaveChat", r#"{"chat":"Nope"}"#)
            .await
            .error(),
        "no such chat"
    );
    assert_eq!(
        alice.post("/api/loggedonly/leaveChat", "[1]").await.error(),
        "cannot parse data"
    );
    alice
        .post("/api/loggedonly/leaveChat", r#"{"chat":"Main"}"#)
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn admin_routes_need_a_logged_in_admin() {
    let app = TestApp::spawn().await;
    let anonymous = app.client();
    assert_eq!(
        anonymous
            .post("/api/adminonly/createChat", r#"{"chat":"X"}"#)
            .await
            .error(),
        "user not logged in"
    );
    let guest = app.guest("guest").await;
    assert_eq!(
        guest
            .post("/api/adminonly/createChat", r#"{"chat":"X"}"#)
            .await
            .error(),
        "admin only"
    );
    let member = app.member("member").await;
    let reply = member.post("/api/adminonly/removeChat", "garbage").await;
    assert_eq!(reply.status, 403, "the guard comes before the body");
    let root = app.member("root").await;
    root.post("/api/adminonly/createChat", r#"{"chat":"X"}"#)
        .await
        .assert_empty_ok();
    for (body, message) in [
        (r#"{"chat":"X"}"#, "chat already exists"),
        (r#"{"chat":""}"#, "chat: must not be empty"),
        (r#"{"chat":"tab\there"}"#, "chat: must not contain"),
    ] {
        let reply = root.post("/api/adminonly/createChat", body).await;
        assert_eq!(reply.status, 400);
        assert!(reply.error().starts_with(message), "{body}");
    }
    let long = format!(r#"{{"chat":"{}"}}"#, "c".repeat(51));
    assert!(
        root.post("/api/adminonly/createChat", &long)
            .await
            .error()
            .starts_with("chat: must be at most 50")
    );
    member.join("X").await;
    member.say("X", "soon gone").await;
    root.post("/api/adminonly/removeChat", r#"{"chat":"X"}"#)
        .await
        .assert_empty_ok();
    assert_eq!(
        root.post("/api/adminonly/removeChat", r#"{"chat":"X"}"#)
            .await
            .error(),
        "no such chat"
    );
    assert_eq!(
        member.say("X", "anyone?").await.error(),
        "user not logged in such chat"
    );
    root.post("/api/adminonly/createChat", r#"{"chat":"X"}"#)
        .await
        .assert_empty_ok();
    member.join("X").await;
    let history = member
        .post("/api/loggedonly/getLastMessages", r#"{"chat":"X"}"#)
        .await
        .json();
    assert_eq!(history, json!([]), "removal deleted the history");
}

#[actix_web::test]
async fn messages_post_history_and_the_bot() {
    let app = TestApp::spawn_with(|s| s.last_messages = 3).await;
    let alice = app.guest("alice").await;
    assert_eq!(
        alice.say("Main", "hi").await.error(),
        "user not logged in such chat"
    );
    alice.join("Main").await;
    let reply = alice
        .post("/api/loggedonly/postMessage", r#"{"chat":"Main","text":"hello","user":"mallory","verified":true,"admin":true,"bot":true}"#)
        .await;
    assert_eq!(reply.status, 200);
    let message = reply.json();
    assert_eq!(message["user"], "alice", "no impersonation");
    assert_eq!(
        (
            message["verified"].clone(),
            message["admin"].clone(),
            message["bot"].clone()
        ),
        (json!(false), json!(false), json!(false))
    );
    assert!(message["id"].is_u64() && message["time"].is_i64());
    let keys: Vec<_> = message.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 8, "{keys:?}");
    for (body, message) in [
        (r#"{"chat":"Main","text":""}"#, "text: must not be empty"),
        (r#"{"chat":"","text":"x"}"#, "chat: must not be empty"),
        (
            r#"{"chat":"Main","text":"nul\u0000"}"#,
            "text: must not contain",
        ),
        (
            r#"{"chat":["Main"],"text":"x"}"#,
            "chat: must be a string, not an array",
        ),
        ("{oops", "the request body is not valid JSON"),
    ] {
        let reply = alice.post("/api/loggedonly/postMessage", body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert!(reply.error().starts_with(message), "{body}: {}", reply.body);
    }
    let long = json!({"chat":"Main","text":"x".repeat(4001)}).to_string();
    assert!(
        alice
            .post("/api/loggedonly/postMessage", &long)
            .await
            .error()
            .starts_with("text: must be at most 4000")
    );
    alice.say("Main", "two\nlines").await;
    alice.say("Main", "/help").await;
    let last = alice
        .post("/api/loggedonly/getLastMessages", r#"{"chat":"Main"}"#)
        .await
        .json();
    let texts: Vec<_> = last
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts[0], "two\nlines");
    assert_eq!(texts[1], "/help");
    assert!(texts[2].starts_with("Available commands:"), "{texts:?}");
    assert_eq!(last[2]["user"], "Bot");
    // login, join and its system message, three messages, the bot's answer
    let events = alice.events(7).await;
    assert_eq!(
        describe(&events)[6],
        "MessageEvent(Bot@Main:Available commands: /help)"
    );
    let ids: Vec<u64> = last
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    let page = alice
        .post(
            "/api/loggedonly/getMessages",
            &json!({"chat":"Main","before":ids[0],"limit":5}).to_string(),
        )
        .await
        .json();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["text"], "hello");
    for limit in [0, 100_000] {
        let reply = alice
            .post(
                "/api/loggedonly/getMessages",
                &json!({"chat":"Main","limit":limit}).to_string(),
            )
            .await;
        assert!(reply.error().starts_with("limit:"), "{limit}");
    }
    assert_eq!(
        app.guest("bob")
            .await
            .post("/api/loggedonly/getLastMessages", r#"{"chat":"Main"}"#)
            .await
            .error(),
        "user not logged in such chat"
    );
}

#[actix_web::test]
async fn every_logged_only_route_refuses_without_a_session() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let garbage = app.client();
    garbage.set_cookie(Some("not-a-real-cookie".into()));
    for actor in [&c, &garbage] {
        for (method, path) in [
            ("POST", "/api/loggedonly/login"),
            ("POST", "/api/loggedonly/logout"),
            ("PUT", "/api/loggedonly/keepalive"),
            ("GET", "/api/loggedonly/poll"),
            ("POST", "/api/loggedonly/joinChat"),
            ("POST", "/api/loggedonly/leaveChat"),
            ("GET", "/api/loggedonly/getChats"),
            ("POST", "/api/loggedonly/getUsers"),
            ("POST", "/api/loggedonly/getLastMessages"),
            ("POST", "/api/loggedonly/getMessages"),
            ("POST", "/api/loggedonly/postMessage"),
            ("POST", "/api/adminonly/createChat"),
            ("POST", "/api/adminonly/removeChat"),
        ] {
            let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
            let reply = actor
                .send(method, path, Some(r#"{"chat":"Main"}"#), &[])
                .await;
            assert_eq!(reply.status, 401, "{path}");
            assert_eq!(reply.error(), "user not logged in", "{path}");
        }
    }
    let _: Value = Value::Null;
}
