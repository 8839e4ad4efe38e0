//! The companion web client's flows (original-spec.md §13), played request by request as the
//! client sends them, and the server's resilience to a burst of bad requests.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Actor, Reply, TestApp, describe};

fn login(user: &str) -> String {
    json!({ "user": user }).to_string()
}

fn credentials(user: &str, password: &str) -> String {
    json!({ "user": user, "password": password }).to_string()
}

/// The same browser after a page reload: a new tab that presents the stored cookie.
fn reload(app: &TestApp, tab: &Actor) -> Actor {
    let actor = app.client();
    actor.set_cookie(tab.cookie());
    actor
}

fn assert_not_logged_in(reply: &Reply) {
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.error(), "user not logged in");
}

/// What the client reads from a getChats or joinChat report.
fn report<'a>(chats: &'a Value, chat: &str) -> &'a Value {
    chats
        .as_array()
        .expect("an array of reports")
        .iter()
        .find(|r| r["chat"] == chat)
        .unwrap_or_else(|| panic!("no report for {chat}: {chats}"))
}

/// The client's page load: resume, then keepalive, getChats, poll.
async fn page_load(tab: &Actor) -> Value {
    let resumed = tab.post("/api/loggedonly/login", "{}").await;
    assert_eq!(resumed.status, 200, "{resumed:?}");
    tab.put("/api/loggedonly/keepalive").await.assert_empty_ok();
    let chats = tab.get("/api/loggedonly/getChats").await;
    assert_eq!(chats.status, 200, "{chats:?}");
    resumed.json()
}

/// Registers `name` with password `secret1` and opens the activation link.
async fn register_verified(app: &TestApp, name: &str) {
    let body = json!({"user": name, "email": format!("{name}@example.org"), "password": "secret1"});
    let c = app.client();
    c.post("/api/register", &body.to_string())
        .await
        .assert_empty_ok();
    let token = app.activation_token(name).await;
    c.get(&format!("/api/verifyEmail/{name}/{token}"))
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn a_page_reload_resumes_the_session_from_the_cookie_and_keeps_the_chats() {
    let app = TestApp::spawn().await;
    let tab = app.guest("alice").await;
    assert_eq!(tab.join("Main").await.status, 200);
    let bob = app.guest("bob").await;
    assert_eq!(bob.join("Main").await.status, 200);
    bob.events(3).await; // its login, its join and its system message

    let reloaded = reload(&app, &tab);
    let me = page_load(&reloaded).await;
    assert_eq!(
        me,
        json!({"user":"alice","verified":false,"admin":false,"bot":false})
    );
    let chats = reloaded.get("/api/loggedonly/getChats").await.json();
    let main = report(&chats, "Main");
    assert_eq!(main["joined"], true, "{chats}");
    let mut users: Vec<_> = main["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["user"].as_str().unwrap(),
                u["verified"].as_bool().unwrap(),
            )
        })
        .collect();
    users.sort_unstable();
    assert_eq!(users, [("alice", false), ("bob", false)]);
    assert!(main["messages"].is_array());
    assert_eq!(report(&chats, "Random")["joined"], false);

    // The resumed session polls from its new login on.
    let reply = reloaded.get("/api/loggedonly/poll?limit=100").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let events = describe(reply.json().as_array().unwrap());
    assert_eq!(
        events.first().map(String::as_str),
        Some("LoginEvent(alice)")
    );
    // The reload made nobody leave or join (no leave/join storm in the chat).
    let reply = bob.get("/api/loggedonly/poll?limit=100").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = if reply.body.is_empty() {
        Vec::new()
    } else {
        describe(reply.json().as_array().unwrap())
    };
    assert!(!seen.iter().any(|e| e.contains("Chat")), "bob saw {seen:?}");
    assert_eq!(
        reloaded.say("Main", "back again").await.status,
        200,
        "still a member after the reload"
    );
}

#[actix_web::test]
async fn a_guest_login_of_the_tabs_own_name_fails_and_the_client_falls_back_to_resume() {
    let app = TestApp::spawn().await;
    let tab = app.guest("alice").await;

    let reloaded = reload(&app, &tab);
    let reply = reloaded.post("/api/login", &login("alice")).await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.error(), "user is already logged in");
    assert!(
        reply.header("set-cookie").is_none(),
        "the refused login must leave the cookie for the fallback: {reply:?}"
    );
    let me = page_load(&reloaded).await;
    assert_eq!(me["user"], "alice");
}

#[actix_web::test]
async fn the_fallback_fails_for_a_name_held_by_another_browser() {
    let app = TestApp::spawn().await;
    let _holder = app.guest("alice").await;
    let stranger = app.client();
    let reply = stranger.post("/api/login", &login("alice")).await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.error(), "user is already logged in");
    assert_not_logged_in(&stranger.post("/api/loggedonly/login", "{}").await);
}

#[actix_web::test]
async fn after_authorize_the_clients_guest_login_fails_and_resume_accepts_the_authorize_cookie() {
    let app = TestApp::spawn().await;
    register_verified(&app, "bob").await;
    let tab = app.client();
    let reply = tab
        .post("/api/authorize", &credentials("bob", "secret1"))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let name = reply.json()["user"].as_str().unwrap().to_owned();

    // The client's guest login with `data.user` must fail...
    let reply = tab.post("/api/login", &login(&name)).await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.error(), "unauthorized");
    assert!(reply.header("set-cookie").is_none(), "{reply:?}");
    // ... so that it resumes with the cookie authorize set.
    let me = page_load(&tab).await;
    assert_eq!(
        me,
        json!({"user":"bob","verified":true,"admin":false,"bot":false})
    );
    assert_eq!(tab.join("Main").await.status, 200);
}

#[actix_web::test]
async fn an_admin_sees_the_admin_flag_after_the_login_fallback_and_can_use_the_admin_panel() {
    let app = TestApp::spawn().await;
    register_verified(&app, "root").await;
    let tab = app.client();
    let reply = tab
        .post("/api/authorize", &credentials("root", "secret1"))
        .await;
    assert_eq!(reply.json()["admin"], true, "{reply:?}");
    assert_eq!(tab.post("/api/login", &login("root")).await.status, 409);
    let me = page_load(&tab).await;
    assert_eq!(me["admin"], true);
    tab.post("/api/adminonly/createChat", r#"{"chat":"Staff"}"#)
        .await
        .assert_empty_ok();
    tab.post("/api/adminonly/removeChat", r#"{"chat":"Staff"}"#)
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn the_reset_form_sets_a_new_password_that_the_login_form_then_uses() {
    let app = TestApp::spawn().await;
    let old_tab = app.member("alice").await;

    let browser = app.client();
    browser
        .post("/api/requestResetPassword", r#"{"user":"alice"}"#)
        .await
        .assert_empty_ok();
    let token = app.reset_token("alice").await;
    let form = json!({"user": "alice", "passwordResetToken": token, "password": "newpass1"});
    browser
        .post("/api/resetPassword", &form.to_string())
        .await
        .assert_empty_ok();

    let reply = browser
        .post("/api/authorize", &credentials("alice", "secret1"))
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.error(), "invalid user name or password");
    let reply = browser
        .post("/api/authorize", &credentials("alice", "newpass1"))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        browser.post("/api/login", &login("alice")).await.status,
        409
    );
    assert_eq!(page_load(&browser).await["verified"], true);

    // The tab logged in before the reset finds its session gone and logs out.
    assert_not_logged_in(&old_tab.get("/api/loggedonly/poll").await);
    assert_not_logged_in(&old_tab.post("/api/loggedonly/logout", "{}").await);
}

#[actix_web::test]
async fn after_a_logout_in_another_tab_poll_and_keepalive_fail_so_the_client_resets() {
    let app = TestApp::spawn().await;
    let tab = app.guest("alice").await;
    let other_tab = reload(&app, &tab);
    other_tab.events(1).await;

    tab.post("/api/loggedonly/logout", "{}")
        .await
        .assert_empty_ok();

    assert_not_logged_in(&other_tab.get("/api/loggedonly/poll").await);
    assert_not_logged_in(&other_tab.put("/api/loggedonly/keepalive").await);
    // The client calls logout on any non-2xx; that fails too, and it resets anyway.
    assert_not_logged_in(&other_tab.post("/api/loggedonly/logout", "{}").await);
    // The user can log in again from the reset client.
    let reply = other_tab.post("/api/login", &login("alice")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    other_tab
        .put("/api/loggedonly/keepalive")
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn a_session_replaced_elsewhere_gets_401_on_poll_and_keepalive() {
    let app = TestApp::spawn().await;
    let laptop = app.member("alice").await;
    let phone = app.client();
    assert_eq!(
        phone
            .post("/api/authorize", &credentials("alice", "secret1"))
            .await
            .status,
        200
    );
    assert_not_logged_in(&laptop.get("/api/loggedonly/poll").await);
    assert_not_logged_in(&laptop.put("/api/loggedonly/keepalive").await);
    phone
        .put("/api/loggedonly/keepalive")
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn a_guest_chats_the_way_the_web_client_does() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    let chats = bob.get("/api/loggedonly/getChats").await.json();
    assert_eq!(report(&chats, "Main")["joined"], false);
    assert_eq!(bob.join("Main").await.status, 200);
    bob.events(3).await; // its login, its join and its system message

    let joined = alice.join("Main").await;
    assert_eq!(joined.status, 200, "{joined:?}");
    let joined = joined.json();
    assert_eq!(joined["chat"], "Main");
    assert_eq!(joined["joined"], true);
    let mut users: Vec<_> = joined["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["user"].as_str().unwrap(),
                u["verified"].as_bool().unwrap(),
            )
        })
        .collect();
    users.sort_unstable();
    assert_eq!(users, [("alice", false), ("bob", false)]);

    // The client sends only text and chat.
    let posted = alice
        .post(
            "/api/loggedonly/postMessage",
            r#"{"text":"hello","chat":"Main"}"#,
        )
        .await;
    assert_eq!(posted.status, 200, "{posted:?}");

    let events = bob.events(3).await;
    assert_eq!(
        describe(&events),
        [
            "ChatJoinEvent(alice@Main)",
            "SystemMessageChatJoinEvent(alice@Main)",
            "MessageEvent(alice@Main:hello)",
        ]
    );
    let join = &events[0]["event"];
    assert_eq!(join["verified"], false);
    let system = &events[1]["event"];
    assert!(system["time"].is_i64(), "{system}");
    let message = &events[2]["event"];
    for key in ["user", "text", "chat"] {
        assert!(message[key].is_string(), "{key}: {message}");
    }
    for key in ["verified", "bot"] {
        assert_eq!(message[key], false, "{key}: {message}");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let time = message["time"].as_u64().expect("integer seconds");
    assert!(time.abs_diff(now) < 60, "seconds, not milliseconds: {time}");

    alice
        .post("/api/loggedonly/leaveChat", r#"{"chat":"Main"}"#)
        .await
        .assert_empty_ok();
    assert_eq!(
        describe(&bob.events(2).await),
        [
            "ChatLeaveEvent(alice@Main)",
            "SystemMessageChatLeaveEvent(alice@Main)"
        ]
    );
}

#[actix_web::test]
async fn the_server_keeps_serving_after_a_burst_of_malformed_requests() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    let anonymous = app.client();

    let bodies = [
        "",
        "{",
        "[]",
        "\"text\"",
        "12",
        "\u{0}\u{1}\u{2}",
        r#"{"user":1,"chat":1,"email":1,"password":1,"passwordResetToken":1}"#,
        r#"{"user":[],"chat":{}}"#,
    ];
    let open_routes = [
        "/api/register",
        "/api/authorize",
        "/api/login",
        "/api/requestResetPassword",
        "/api/resetPassword",
        "/api/resendVerification",
    ];
    let logged_routes = [
        "/api/loggedonly/joinChat",
        "/api/loggedonly/leaveChat",
        "/api/loggedonly/postMessage",
        "/api/loggedonly/getUsers",
        "/api/loggedonly/getLastMessages",
    ];
    let mut requests = Vec::new();
    for body in bodies {
        for route in open_routes {
            requests.push((&anonymous, route, body));
        }
        for route in logged_routes {
            requests.push((&alice, route, body));
        }
    }
    requests.push((&anonymous, "/api/loggedonly/getUsers", r#"{"chat":"Main"}"#));
    assert!(requests.len() >= 50);
    let replies = join_all(
        requests
            .iter()
            .map(|(actor, route, body)| actor.post(route, body)),
    )
    .await;
    for ((_, route, body), reply) in requests.iter().zip(&replies) {
        assert!(
            (400..500).contains(&reply.status),
            "{route} {body:?}: {reply:?}"
        );
        assert!(!reply.error().is_empty(), "{route} {body:?}");
    }

    // Still serving: a normal guest login works, and alice's session and chat are intact.
    let reply = app.client().post("/api/login", &login("bob")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({"user":"bob","verified":false,"admin":false,"bot":false})
    );
    alice
        .put("/api/loggedonly/keepalive")
        .await
        .assert_empty_ok();
    assert_eq!(alice.say("Main", "still here").await.status, 200);
}
