//! Sessions: guest login, password login, resume, logout, keepalive and the session cookie
//! (original-spec.md §4, api.md §2 items 1, 4, 6, 9, 12).

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Actor, Reply, TestApp};

fn login(user: &str) -> String {
    json!({ "user": user }).to_string()
}

fn credentials(user: &str, password: &str) -> String {
    json!({ "user": user, "password": password }).to_string()
}

/// Registers `name` (password `secret1`) without verifying it.
async fn register(app: &TestApp, name: &str) {
    let body = json!({"user": name, "email": format!("{name}@example.org"), "password": "secret1"});
    app.client()
        .post("/api/register", &body.to_string())
        .await
        .assert_empty_ok();
}

/// Registers and verifies `name`, without logging in.
async fn register_verified(app: &TestApp, name: &str) {
    register(app, name).await;
    let token = app.activation_token(name).await;
    app.client()
        .get(&format!("/api/verifyEmail/{name}/{token}"))
        .await
        .assert_empty_ok();
}

fn assert_not_logged_in(reply: &Reply) {
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.error(), "user not logged in");
}

/// A client that presents `cookie`.
fn with_cookie(app: &TestApp, cookie: Option<String>) -> Actor {
    let actor = app.client();
    actor.set_cookie(cookie);
    actor
}

/// The report of `chat` in a getChats answer.
fn report<'a>(chats: &'a Value, chat: &str) -> &'a Value {
    chats
        .as_array()
        .expect("getChats answers an array")
        .iter()
        .find(|r| r["chat"] == chat)
        .unwrap_or_else(|| panic!("no report for {chat}: {chats}"))
}

fn member_names(report: &Value) -> Vec<&str> {
    report["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"].as_str().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// POST /api/login

#[actix_web::test]
async fn guest_login_answers_the_user_with_status_as_json() {
    let app = TestApp::spawn().await;
    let alice = app.client();
    let reply = alice.post("/api/login", &login("alice")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        "{\"user\":\"alice\",\"verified\":false,\"admin\":false,\"bot\":false}\n"
    );
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(alice.cookie().is_some());
    alice
        .put("/api/loggedonly/keepalive")
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn the_session_cookie_is_http_only_lax_site_wide_for_a_week_and_not_secure_in_dev() {
    let app = TestApp::spawn().await;
    let reply = app.client().post("/api/login", &login("wonderland")).await;
    let cookies: Vec<_> = reply.headers.get_all("set-cookie").collect();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = cookies[0].to_str().unwrap();
    assert!(cookie.starts_with("chatty="), "{cookie}");
    let attributes: Vec<&str> = cookie.split(';').skip(1).map(str::trim).collect();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(
            attributes.contains(&attribute),
            "{attribute} missing: {cookie}"
        );
    }
    assert!(
        !attributes.iter().any(|a| a.eq_ignore_ascii_case("Secure")),
        "dev-mode tests run on plain HTTP: {cookie}"
    );
}

#[actix_web::test]
async fn the_session_cookie_is_secure_when_configured() {
    let app = TestApp::spawn_with(|s| s.cookie_secure = true).await;
    let reply = app.client().post("/api/login", &login("alice")).await;
    assert_eq!(reply.status, 200);
    let cookie = reply.header("set-cookie").unwrap();
    let attributes: Vec<&str> = cookie.split(';').skip(1).map(str::trim).collect();
    assert!(attributes.contains(&"Secure"), "{cookie}");
    assert!(attributes.contains(&"HttpOnly"), "{cookie}");
}

#[actix_web::test]
async fn the_session_cookie_lives_as_long_as_configured() {
    let app = TestApp::spawn_with(|s| s.cookie_max_age = Duration::from_secs(60)).await;
    let reply = app.client().post("/api/login", &login("alice")).await;
    let cookie = reply.header("set-cookie").unwrap();
    let attributes: Vec<&str> = cookie.split(';').skip(1).map(str::trim).collect();
    assert!(attributes.contains(&"Max-Age=60"), "{cookie}");
}

#[actix_web::test]
async fn the_session_cookie_does_not_show_the_user_name() {
    let app = TestApp::spawn().await;
    let name = "wonderland";
    let actor = app.client();
    assert_eq!(actor.post("/api/login", &login(name)).await.status, 200);
    let value = actor.cookie().unwrap();
    assert!(value.len() > name.len(), "{value}");
    assert!(
        !value.to_lowercase().contains(name),
        "the cookie is encrypted: {value}"
    );
}

#[actix_web::test]
async fn guest_login_with_a_registered_name_is_409_unauthorized_verified_or_not() {
    let app = TestApp::spawn().await;
    register(&app, "pending").await;
    register_verified(&app, "alice").await;
    let c = app.client();
    for name in ["pending", "PENDING", "alice", "Alice", "ALICE"] {
        let reply = c.post("/api/login", &login(name)).await;
        assert_eq!(reply.status, 409, "{name}");
        assert_eq!(reply.error(), "unauthorized", "{name}");
    }
    assert!(c.cookie().is_none());
}

#[actix_web::test]
async fn guest_login_with_the_bot_name_is_409_unauthorized() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for name in ["Bot", "bot", "BOT"] {
        let reply = c.post("/api/login", &login(name)).await;
        assert_eq!(reply.status, 409, "{name}");
        assert_eq!(reply.error(), "unauthorized", "{name}");
    }
}

#[actix_web::test]
async fn guest_login_with_a_logged_in_name_is_409_in_any_letter_case() {
    let app = TestApp::spawn().await;
    let bob = app.guest("bob").await;
    let other = app.client();
    for name in ["bob", "BOB", "Bob"] {
        let reply = other.post("/api/login", &login(name)).await;
        assert_eq!(reply.status, 409, "{name}");
        assert_eq!(reply.error(), "user is already logged in", "{name}");
    }
    assert!(other.cookie().is_none());
    // The refused attempts left bob's session alone.
    bob.put("/api/loggedonly/keepalive").await.assert_empty_ok();
}

#[actix_web::test]
async fn guest_login_refuses_bad_names_with_a_message_naming_the_user_field() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let long = "n".repeat(5000);
    let bodies = [
        login(""),
        login(" carol"),
        login("carol "),
        login("\u{a0}carol"),
        login("ca\u{7}rol"),
        login("ca\u{0}rol"),
        login("ca\u{1b}[31mrol"),
        login("ca\u{200d}rol"),
        login(&"a".repeat(51)),
        login(&long),
        "{}".to_owned(),
        "null".to_owned(),
        r#"{"user":null}"#.to_owned(),
    ];
    for body in &bodies {
        let reply = c.post("/api/login", body).await;
        assert_eq!(reply.status, 400, "{body:.60}");
        let message = reply.error();
        assert!(message.starts_with("user: "), "{body:.60}: {message}");
    }
    let reply = c.post("/api/login", &login(&long)).await;
    assert!(reply.error().contains("50"));
    assert!(c.cookie().is_none());
    // The limit is inclusive.
    let fifty = "a".repeat(50);
    let reply = c.post("/api/login", &login(&fifty)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["user"], fifty.as_str());
}

#[actix_web::test]
async fn guest_login_answers_cannot_parse_data_for_bodies_that_are_not_the_expected_json() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for body in [
        "",
        "[]",
        "{",
        r#"{"user":1}"#,
        r#"{"user":["x"]}"#,
        "\"alice\"",
    ] {
        let reply = c.post("/api/login", body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.error(), "cannot parse data", "{body}");
    }
}

#[actix_web::test]
async fn a_guest_name_is_free_again_after_logout() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    alice
        .post("/api/loggedonly/logout", "")
        .await
        .assert_empty_ok();
    let again = app.client();
    let reply = again.post("/api/login", &login("Alice")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["user"], "Alice");
}

// ---------------------------------------------------------------------------------------------
// POST /api/authorize

#[actix_web::test]
async fn authorize_answers_the_verified_user_with_status_and_sets_the_cookie() {
    let app = TestApp::spawn().await;
    register_verified(&app, "alice").await;
    let alice = app.client();
    let reply = alice
        .post("/api/authorize", &credentials("alice", "secret1"))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        "{\"user\":\"alice\",\"verified\":true,\"admin\":false,\"bot\":false}\n"
    );
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    let cookie = reply.header("set-cookie").unwrap();
    assert!(cookie.starts_with("chatty="), "{cookie}");
    let attributes: Vec<&str> = cookie.split(';').skip(1).map(str::trim).collect();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(
            attributes.contains(&attribute),
            "{attribute} missing: {cookie}"
        );
    }
    alice
        .put("/api/loggedonly/keepalive")
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn authorize_answers_with_the_registered_spelling_of_the_name() {
    let app = TestApp::spawn().await;
    register_verified(&app, "Alice").await;
    let reply = app
        .client()
        .post("/api/authorize", &credentials("aLICE", "secret1"))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["user"], "Alice");
}

#[actix_web::test]
async fn authorize_with_an_unknown_user_or_a_wrong_password_is_401_with_one_message() {
    let app = TestApp::spawn().await;
    register_verified(&app, "alice").await;
    register(&app, "pending").await;
    let c = app.client();
    for body in [
        credentials("nobody", "secret1"),
        credentials("alice", "wrong12"),
        credentials("alice", "SECRET1"),
        credentials("alice", ""),
        credentials("", "secret1"),
        credentials("pending", "wrong12"),
        credentials("Bot", "secret1"),
        "{}".to_owned(),
    ] {
        let reply = c.post("/api/authorize", &body).await;
        assert_eq!(reply.status, 401, "{body}");
        assert_eq!(reply.error(), "invalid user name or password", "{body}");
    }
    assert!(c.cookie().is_none());
}

#[actix_web::test]
async fn authorize_says_email_is_not_verified_only_to_the_right_password() {
    let app = TestApp::spawn().await;
    register(&app, "pending").await;
    let c = app.client();
    let reply = c
        .post("/api/authorize", &credentials("pending", "secret1"))
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.error(), "email is not verified");
    assert!(c.cookie().is_none());
    let reply = c
        .post("/api/authorize", &credentials("pending", "secret2"))
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.error(), "invalid user name or password");
}

#[actix_web::test]
async fn authorize_answers_cannot_parse_data_for_bodies_that_are_not_the_expected_json() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for body in [
        "",
        "[]",
        "{",
        "nonsense",
        r#"{"user":1,"password":"secret1"}"#,
        r#"{"user":"alice","password":123456}"#,
    ] {
        let reply = c.post("/api/authorize", body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.error(), "cannot parse data", "{body}");
    }
}

#[actix_web::test]
async fn authorize_ends_an_older_session_of_the_same_name() {
    let app = TestApp::spawn().await;
    let first = app.member("alice").await;
    first
        .put("/api/loggedonly/keepalive")
        .await
        .assert_empty_ok();
    let second = app.client();
    let reply = second
        .post("/api/authorize", &credentials("alice", "secret1"))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_ne!(first.cookie(), second.cookie());
    assert_not_logged_in(&first.put("/api/loggedonly/keepalive").await);
    assert_not_logged_in(&first.get("/api/loggedonly/getChats").await);
    second
        .put("/api/loggedonly/keepalive")
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn authorize_ends_a_guest_session_that_took_the_name_before_it_was_registered() {
    let app = TestApp::spawn().await;
    let guest = app.guest("carol").await;
    register_verified(&app, "carol").await;
    let owner = app.client();
    assert_eq!(
        owner
            .post("/api/authorize", &credentials("carol", "secret1"))
            .await
            .status,
        200
    );
    assert_not_logged_in(&guest.put("/api/loggedonly/keepalive").await);
    owner
        .put("/api/loggedonly/keepalive")
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn a_new_authorize_keeps_the_users_chats() {
    let app = TestApp::spawn().await;
    let first = app.member("alice").await;
    assert_eq!(first.join("Main").await.status, 200);
    let second = app.client();
    assert_eq!(
        second
            .post("/api/authorize", &credentials("alice", "secret1"))
            .await
            .status,
        200
    );
    let chats = second.get("/api/loggedonly/getChats").await;
    assert_eq!(chats.status, 200, "{chats:?}");
    let main = report(&chats.json(), "Main").clone();
    assert_eq!(main["joined"], true, "{main}");
    assert_eq!(member_names(&main), ["alice"]);
    assert_eq!(report(&chats.json(), "Random")["joined"], false);
}

#[actix_web::test]
async fn an_admin_listed_in_the_config_gets_the_admin_flag() {
    let app = TestApp::spawn().await;
    register_verified(&app, "root").await;
    let root = app.client();
    let reply = root
        .post("/api/authorize", &credentials("root", "secret1"))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        "{\"user\":\"root\",\"verified\":true,\"admin\":true,\"bot\":false}\n"
    );
    let reply = root.post("/api/loggedonly/login", "{}").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({"user":"root","verified":true,"admin":true,"bot":false})
    );
    root.post("/api/adminonly/createChat", r#"{"chat":"Staff"}"#)
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn a_guest_named_like_a_configured_admin_gets_no_admin_rights() {
    // `root` is listed in Admins but not registered: a guest may use the name, and gets no
    // admin rights from it.
    let app = TestApp::spawn().await;
    let root = app.client();
    let reply = root.post("/api/login", &login("root")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({"user":"root","verified":false,"admin":false,"bot":false})
    );
    let reply = root
        .post("/api/adminonly/createChat", r#"{"chat":"Staff"}"#)
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.error(), "admin only");
}

// ---------------------------------------------------------------------------------------------
// POST /api/loggedonly/login (resume)

#[actix_web::test]
async fn resume_answers_the_user_with_status_and_replaces_the_cookie() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let old = alice.cookie();
    let reply = alice.post("/api/loggedonly/login", "{}").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        "{\"user\":\"alice\",\"verified\":false,\"admin\":false,\"bot\":false}\n"
    );
    assert!(reply.header("set-cookie").unwrap().starts_with("chatty="));
    assert!(alice.cookie().is_some());
    assert_ne!(alice.cookie(), old, "a fresh cookie");
    alice
        .put("/api/loggedonly/keepalive")
        .await
        .assert_empty_ok();
    assert_not_logged_in(
        &with_cookie(&app, old)
            .put("/api/loggedonly/keepalive")
            .await,
    );
}

#[actix_web::test]
async fn resume_of_a_member_keeps_the_verified_flag() {
    let app = TestApp::spawn().await;
    let alice = app.member("alice").await;
    let reply = alice.post("/api/loggedonly/login", "{}").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({"user":"alice","verified":true,"admin":false,"bot":false})
    );
}

#[actix_web::test]
async fn resume_ignores_its_body() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    for body in ["", "nonsense", r#"{"user":"bob"}"#, "[1,2]"] {
        let reply = alice.post("/api/loggedonly/login", body).await;
        assert_eq!(reply.status, 200, "{body}: {reply:?}");
        assert_eq!(reply.json()["user"], "alice", "{body}");
    }
}

#[actix_web::test]
async fn resume_keeps_the_users_chats() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    assert_eq!(alice.join("Main").await.status, 200);
    assert_eq!(bob.join("Main").await.status, 200);
    assert_eq!(alice.post("/api/loggedonly/login", "{}").await.status, 200);
    let chats = alice.get("/api/loggedonly/getChats").await;
    assert_eq!(chats.status, 200, "{chats:?}");
    let chats = chats.json();
    let main = report(&chats, "Main");
    assert_eq!(main["joined"], true, "{main}");
    let mut names = member_names(main);
    names.sort_unstable();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(
        alice.say("Main", "still here").await.status,
        200,
        "still a member"
    );
}

#[actix_web::test]
async fn resume_without_a_session_is_401() {
    let app = TestApp::spawn().await;
    assert_not_logged_in(&app.client().post("/api/loggedonly/login", "{}").await);
    let alice = app.guest("alice").await;
    alice
        .post("/api/loggedonly/logout", "")
        .await
        .assert_empty_ok();
    assert_not_logged_in(&alice.post("/api/loggedonly/login", "{}").await);
}

// ---------------------------------------------------------------------------------------------
// POST /api/loggedonly/logout

#[actix_web::test]
async fn logout_answers_an_empty_200_and_clears_the_cookie() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let cookie = alice.cookie();
    let reply = alice.post("/api/loggedonly/logout", "").await;
    reply.assert_empty_ok();
    let cleared = reply.header("set-cookie").expect("the cookie is cleared");
    assert!(cleared.starts_with("chatty=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(cleared.contains("Path=/"), "{cleared}");
    assert!(alice.cookie().is_none());

    // The old cookie is dead on the server too.
    let stale = with_cookie(&app, cookie);
    assert_not_logged_in(&stale.put("/api/loggedonly/keepalive").await);
    assert_not_logged_in(&stale.get("/api/loggedonly/poll").await);
    assert_not_logged_in(&stale.post("/api/loggedonly/logout", "").await);
    assert_not_logged_in(&alice.post("/api/loggedonly/logout", "").await);
}

#[actix_web::test]
async fn logout_drops_the_users_chats() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    alice
        .post("/api/loggedonly/logout", "{}")
        .await
        .assert_empty_ok();
    let alice = app.guest("alice").await;
    let chats = alice.get("/api/loggedonly/getChats").await.json();
    assert_eq!(report(&chats, "Main")["joined"], false, "{chats}");
}

#[actix_web::test]
async fn logout_without_a_session_is_401() {
    let app = TestApp::spawn().await;
    assert_not_logged_in(&app.client().post("/api/loggedonly/logout", "").await);
}

// ---------------------------------------------------------------------------------------------
// PUT /api/loggedonly/keepalive

#[actix_web::test]
async fn keepalive_answers_an_empty_200_to_a_session() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let member = app.member("bob").await;
    for actor in [&alice, &member] {
        let reply = actor.put("/api/loggedonly/keepalive").await;
        reply.assert_empty_ok();
        assert!(reply.header("set-cookie").is_none(), "{reply:?}");
    }
}

#[actix_web::test]
async fn keepalive_without_a_session_is_401() {
    let app = TestApp::spawn().await;
    assert_not_logged_in(&app.client().put("/api/loggedonly/keepalive").await);
}

// ---------------------------------------------------------------------------------------------
// Inactivity

#[actix_web::test]
async fn an_idle_session_expires_and_any_request_counts_as_activity() {
    let app = TestApp::spawn_with(|s| {
        s.inactivity_timeout = Duration::from_millis(1500);
        s.clean_inactive_users_interval = Duration::from_millis(100);
    })
    .await;
    let reader = app.guest("alice").await;
    let pinger = app.guest("bob").await;
    let idle = app.guest("carol").await;
    assert_eq!(idle.join("Main").await.status, 200);
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(reader.get("/api/loggedonly/getChats").await.status, 200);
        pinger
            .put("/api/loggedonly/keepalive")
            .await
            .assert_empty_ok();
    }
    assert_not_logged_in(&idle.put("/api/loggedonly/keepalive").await);
    reader
        .put("/api/loggedonly/keepalive")
        .await
        .assert_empty_ok();
    // The expired name is free again, and its chats were dropped.
    let carol = app.guest("carol").await;
    let chats = carol.get("/api/loggedonly/getChats").await.json();
    assert_eq!(report(&chats, "Main")["joined"], false, "{chats}");
}

// ---------------------------------------------------------------------------------------------
// Cookies the server did not issue

#[actix_web::test]
async fn a_tampered_or_garbage_cookie_counts_as_no_cookie() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let good = alice.cookie().unwrap();
    let mut tampered: Vec<char> = good.chars().collect();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let cases = [
        tampered,
        format!("{good}x"),
        good[..good.len() - 4].to_owned(),
        "garbage".to_owned(),
        "x".repeat(3000),
        "%00%ff".to_owned(),
        String::new(),
    ];
    for (i, cookie) in cases.into_iter().enumerate() {
        let c = with_cookie(&app, Some(cookie.clone()));
        for reply in [
            c.put("/api/loggedonly/keepalive").await,
            c.get("/api/loggedonly/getChats").await,
            c.post("/api/loggedonly/login", "{}").await,
            c.post("/api/loggedonly/logout", "").await,
        ] {
            assert_eq!(reply.status, 401, "{cookie:.40}: {reply:?}");
            assert_eq!(reply.error(), "user not logged in");
        }
        // Routes without a guard work as without a cookie, and replace it.
        let reply = c.post("/api/login", &login(&format!("guest{i}"))).await;
        assert_eq!(reply.status, 200, "{cookie:.40}: {reply:?}");
        c.put("/api/loggedonly/keepalive").await.assert_empty_ok();
    }
    // The genuine session survived all of it.
    alice
        .put("/api/loggedonly/keepalive")
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn a_guest_login_over_another_session_moves_the_cookie_to_the_new_name() {
    let app = TestApp::spawn().await;
    let tab = app.guest("bob").await;
    let bobs = tab.cookie();
    let reply = tab.post("/api/login", &login("alice")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_ne!(tab.cookie(), bobs);
    let reply = tab.post("/api/loggedonly/login", "{}").await;
    assert_eq!(reply.json()["user"], "alice");
}
