//! Chats in depth: joinChat, leaveChat, getChats, getUsers and the admin routes createChat and
//! removeChat (original-spec.md §3.7, §5.8–§5.10, §5.13–§5.15; api.md §2 items 1, 3, 6, 12).

use awc::http::Method;
use serde_json::Value;

use crate::helpers::{Reply, TestApp, describe};

/// The `Chatty-Event-Id` header of a snapshot response.
fn event_id(reply: &Reply) -> u64 {
    reply
        .header("chatty-event-id")
        .unwrap_or_else(|| panic!("no Chatty-Event-Id: {reply:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("Chatty-Event-Id is not a number ({e}): {reply:?}"))
}

/// The names of the users of a report or a getUsers answer, sorted (their order is undefined).
fn user_names(users: &Value) -> Vec<String> {
    let mut names: Vec<String> = users
        .as_array()
        .expect("an array of users")
        .iter()
        .map(|u| u["user"].as_str().expect("a user name").to_owned())
        .collect();
    names.sort();
    names
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn texts(messages: &Value) -> Vec<String> {
    messages
        .as_array()
        .expect("an array of messages")
        .iter()
        .map(|m| m["text"].as_str().expect("a text").to_owned())
        .collect()
}

fn assert_json(reply: &Reply) {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json"),
        "{reply:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// joinChat

#[actix_web::test]
async fn join_chat_answers_the_exact_chat_report_with_an_event_id() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let reply = alice.join("Main").await;
    assert_json(&reply);
    assert_eq!(
        reply.body,
        "{\"user\":\"alice\",\"chat\":\"Main\",\"joined\":true,\"messages\":[],\
         \"users\":[{\"user\":\"alice\",\"verified\":false,\"admin\":false,\"bot\":false}]}\n"
    );
    let snapshot = event_id(&reply);
    let events = alice.events(3).await;
    assert_eq!(
        describe(&events),
        [
            "LoginEvent(alice)",
            "ChatJoinEvent(alice@Main)",
            "SystemMessageChatJoinEvent(alice@Main)"
        ]
    );
    let join = events[1]["id"].as_u64().unwrap();
    assert!(
        snapshot >= join,
        "the report reflects the join: snapshot {snapshot}, join event {join}"
    );
    // A cursor started at the snapshot does not see the join again.
    let after = alice
        .get(&format!("/api/loggedonly/poll?after={snapshot}&limit=10"))
        .await;
    assert_eq!(after.status, 200, "{after:?}");
    if !after.body.is_empty() {
        let later = after.json();
        assert!(
            !describe(later.as_array().unwrap()).contains(&"ChatJoinEvent(alice@Main)".to_owned()),
            "{}",
            after.body
        );
    }
}

#[actix_web::test]
async fn join_chat_reports_the_history_oldest_first_and_the_logged_in_members() {
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    let bob = app.guest("bob").await;
    assert_eq!(bob.join("Main").await.status, 200);
    assert_eq!(root.join("Main").await.status, 200);
    assert_eq!(bob.say("Main", "one").await.status, 200);
    assert_eq!(root.say("Main", "two").await.status, 200);

    let alice = app.guest("alice").await;
    let reply = alice.join("Main").await;
    assert_json(&reply);
    let report = reply.json();
    assert_eq!(
        keys(&report),
        ["chat", "joined", "messages", "user", "users"]
    );
    assert_eq!(report["user"], "alice");
    assert_eq!(report["chat"], "Main");
    assert_eq!(report["joined"], true);
    assert_eq!(texts(&report["messages"]), ["one", "two"]);
    for message in report["messages"].as_array().unwrap() {
        assert_eq!(
            keys(message),
            [
                "admin", "bot", "chat", "id", "text", "time", "user", "verified"
            ]
        );
    }
    assert_eq!(report["messages"][0]["user"], "bob");
    assert_eq!(report["messages"][1]["user"], "root");
    assert_eq!(user_names(&report["users"]), ["alice", "bob", "root"]);
    for user in report["users"].as_array().unwrap() {
        assert_eq!(keys(user), ["admin", "bot", "user", "verified"]);
        let admin = user["user"] == "root";
        assert_eq!(user["verified"], admin, "{user}");
        assert_eq!(user["admin"], admin, "{user}");
        assert_eq!(user["bot"], false, "{user}");
    }
}

#[actix_web::test]
async fn join_chat_twice_is_refused() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    let reply = alice.join("Main").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "user is already logged in chat");
    // Still a member, and only once.
    let users = alice
        .post("/api/loggedonly/getUsers", r#"{"chat":"Main"}"#)
        .await;
    assert_eq!(user_names(&users.json()), ["alice"]);
}

#[actix_web::test]
async fn join_chat_of_a_missing_chat_answers_no_such_chat() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    for body in [
        r#"{"chat":"Nope"}"#,
        r#"{"chat":"main"}"#,
        r#"{"chat":""}"#,
        r#"{"chatasf":"Main"}"#,
        r#"{}"#,
        r#"{"chat":null}"#,
        "null",
    ] {
        let reply = alice.post("/api/loggedonly/joinChat", body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.error(), "no such chat", "{body}");
    }
    let chats = alice.get("/api/loggedonly/getChats").await.json();
    assert!(
        chats
            .as_array()
            .unwrap()
            .iter()
            .all(|report| report["joined"] == false),
        "{chats}"
    );
}

#[actix_web::test]
async fn join_chat_with_an_undecodable_body_answers_cannot_parse_data() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    for body in [
        r#"{"chat":1}"#,
        r#"{"chat":["Main"]}"#,
        r#"{"chat":{"name":"Main"}}"#,
        r#"{"chat":true}"#,
        "[]",
        "\"Main\"",
        "",
        "{",
        "not json",
    ] {
        let reply = alice.post("/api/loggedonly/joinChat", body).await;
        assert_eq!(reply.status, 400, "{body:?}: {reply:?}");
        assert_eq!(reply.error(), "cannot parse data", "{body:?}");
    }
}

#[actix_web::test]
async fn join_chat_decodes_the_body_like_the_original() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    // Keys match case-insensitively; the request's Content-Type is not looked at.
    let reply = alice
        .send(
            Method::POST,
            "/api/loggedonly/joinChat",
            Some(r#"{"CHAT":"Main"}"#),
            &[("Content-Type", "text/plain")],
        )
        .await;
    assert_json(&reply);
    assert_eq!(reply.json()["chat"], "Main");
    // Only the first JSON value is read.
    let reply = alice
        .post(
            "/api/loggedonly/joinChat",
            r#"{"chat":"Random"} trailing words"#,
        )
        .await;
    assert_json(&reply);
    assert_eq!(reply.json()["chat"], "Random");
}

// ---------------------------------------------------------------------------------------------
// leaveChat

#[actix_web::test]
async fn leave_chat_answers_an_empty_200_and_ends_the_membership() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    assert_eq!(alice.join("Main").await.status, 200);
    assert_eq!(bob.join("Main").await.status, 200);
    assert_eq!(alice.say("Main", "bye").await.status, 200);

    alice
        .post("/api/loggedonly/leaveChat", r#"{"chat":"Main"}"#)
        .await
        .assert_empty_ok();

    let chats = alice.get("/api/loggedonly/getChats").await.json();
    let main = &chats.as_array().unwrap()[0];
    assert_eq!(main["chat"], "Main");
    assert_eq!(main["joined"], false);
    assert_eq!(main["messages"], serde_json::json!([]));
    assert_eq!(main["users"], serde_json::json!([]));
    let users = bob
        .post("/api/loggedonly/getUsers", r#"{"chat":"Main"}"#)
        .await;
    assert_eq!(user_names(&users.json()), ["bob"]);
    let refused = alice.say("Main", "still here?").await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.error(), "user not logged in such chat");
}

#[actix_web::test]
async fn leave_chat_of_a_missing_chat_answers_no_such_chat() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    for body in [r#"{"chat":"Nope"}"#, r#"{"chat":""}"#, r#"{}"#, "null"] {
        let reply = alice.post("/api/loggedonly/leaveChat", body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.error(), "no such chat", "{body}");
    }
}

#[actix_web::test]
async fn leave_chat_of_a_chat_not_joined_answers_not_logged_in_such_chat() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let reply = alice
        .post("/api/loggedonly/leaveChat", r#"{"chat":"Random"}"#)
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "user not logged in such chat");

    assert_eq!(alice.join("Main").await.status, 200);
    alice
        .post("/api/loggedonly/leaveChat", r#"{"chat":"Main"}"#)
        .await
        .assert_empty_ok();
    let twice = alice
        .post("/api/loggedonly/leaveChat", r#"{"chat":"Main"}"#)
        .await;
    assert_eq!(twice.status, 400);
    assert_eq!(twice.error(), "user not logged in such chat");
}

#[actix_web::test]
async fn leave_chat_with_an_undecodable_body_answers_cannot_parse_data() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    for body in [r#"{"chat":1}"#, "[]", "", "{"] {
        let reply = alice.post("/api/loggedonly/leaveChat", body).await;
        assert_eq!(reply.status, 400, "{body:?}: {reply:?}");
        assert_eq!(reply.error(), "cannot parse data", "{body:?}");
    }
    // None of them left the chat.
    assert_eq!(alice.say("Main", "still in").await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// getChats

#[actix_web::test]
async fn get_chats_lists_every_chat_sorted_by_name_with_content_only_for_joined_ones() {
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    for chat in ["Zeta", "Alpha"] {
        root.post(
            "/api/adminonly/createChat",
            &format!(r#"{{"chat":"{chat}"}}"#),
        )
        .await
        .assert_empty_ok();
    }
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Random").await.status, 200);
    assert_eq!(alice.say("Random", "hi").await.status, 200);
    let bob = app.guest("bob").await;
    assert_eq!(bob.join("Main").await.status, 200);
    assert_eq!(bob.say("Main", "not for alice").await.status, 200);

    let reply = alice.get("/api/loggedonly/getChats").await;
    assert_json(&reply);
    event_id(&reply);
    let reports = reply.json();
    let reports = reports.as_array().expect("an array of reports");
    let names: Vec<&str> = reports
        .iter()
        .map(|r| r["chat"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alpha", "Main", "Random", "Zeta"]);
    for report in reports {
        assert_eq!(
            keys(report),
            ["chat", "joined", "messages", "user", "users"],
            "{report}"
        );
        assert_eq!(report["user"], "alice");
        if report["chat"] == "Random" {
            assert_eq!(report["joined"], true);
            assert_eq!(texts(&report["messages"]), ["hi"]);
            assert_eq!(user_names(&report["users"]), ["alice"]);
        } else {
            // Not joined: empty arrays, never null, even where others talk.
            assert_eq!(report["joined"], false, "{report}");
            assert_eq!(report["messages"], serde_json::json!([]), "{report}");
            assert_eq!(report["users"], serde_json::json!([]), "{report}");
        }
    }
}

#[actix_web::test]
async fn get_chats_is_an_empty_array_when_there_are_no_chats() {
    let app = TestApp::spawn_with(|s| s.chats = Vec::new()).await;
    let alice = app.guest("alice").await;
    let reply = alice.get("/api/loggedonly/getChats").await;
    assert_json(&reply);
    assert_eq!(reply.body, "[]\n");
}

// ---------------------------------------------------------------------------------------------
// getUsers

#[actix_web::test]
async fn get_users_lists_the_logged_in_members_without_internals() {
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    let alice = app.guest("alice").await;
    let carol = app.guest("carol").await;
    assert_eq!(root.join("Main").await.status, 200);
    assert_eq!(alice.join("Main").await.status, 200);
    assert_eq!(carol.join("Random").await.status, 200);
    let bob = app.guest("bob").await;
    assert_eq!(bob.join("Main").await.status, 200);
    bob.post("/api/loggedonly/logout", "")
        .await
        .assert_empty_ok();

    let reply = alice
        .post("/api/loggedonly/getUsers", r#"{"chat":"Main"}"#)
        .await;
    assert_json(&reply);
    event_id(&reply);
    assert!(
        !reply.body.contains("LoginToken") && !reply.body.contains("LastActivity"),
        "{}",
        reply.body
    );
    let users = reply.json();
    assert_eq!(user_names(&users), ["alice", "root"]);
    for user in users.as_array().unwrap() {
        assert_eq!(keys(user), ["admin", "bot", "user", "verified"], "{user}");
        let admin = user["user"] == "root";
        assert_eq!(
            (&user["verified"], &user["admin"], &user["bot"]),
            (
                &Value::Bool(admin),
                &Value::Bool(admin),
                &Value::Bool(false)
            ),
            "{user}"
        );
    }
}

#[actix_web::test]
async fn get_users_is_refused_to_non_members_and_for_missing_chats() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    assert_eq!(bob.join("Main").await.status, 200);
    for body in [
        r#"{"chat":"Main"}"#,
        r#"{"chat":"Nope"}"#,
        r#"{"chat":""}"#,
        r#"{}"#,
    ] {
        let reply = alice.post("/api/loggedonly/getUsers", body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.error(), "user not logged in such chat", "{body}");
    }
}

#[actix_web::test]
async fn get_users_names_the_field_of_a_body_of_the_wrong_type() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    let reply = alice
        .post("/api/loggedonly/getUsers", r#"{"chat":1}"#)
        .await;
    assert_eq!(reply.status, 400);
    let message = reply.error();
    assert!(message.starts_with("chat"), "{message}");
    assert_ne!(message, "cannot parse data");
}

// ---------------------------------------------------------------------------------------------
// createChat / removeChat: who may

#[actix_web::test]
async fn admin_routes_without_a_session_answer_401() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for path in ["/api/adminonly/createChat", "/api/adminonly/removeChat"] {
        for body in [r#"{"chat":"Main"}"#, r#"{"chat":"X"}"#, "garbage", ""] {
            let reply = c.post(path, body).await;
            assert_eq!(reply.status, 401, "{path} {body:?}: {reply:?}");
            assert_eq!(reply.error(), "user not logged in", "{path} {body:?}");
        }
    }
    // A cookie that is not one of ours counts as none.
    c.set_cookie(Some("forged-cookie-value".into()));
    let reply = c.post("/api/adminonly/createChat", r#"{"chat":"X"}"#).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.error(), "user not logged in");
    // Nothing changed.
    let alice = app.guest("alice").await;
    let chats = alice.get("/api/loggedonly/getChats").await.json();
    let names: Vec<&str> = chats
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["chat"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Main", "Random"]);
}

#[actix_web::test]
async fn admin_routes_refuse_guests_with_403_before_reading_the_body() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    for path in ["/api/adminonly/createChat", "/api/adminonly/removeChat"] {
        for body in [
            r#"{"chat":"Main"}"#,
            r#"{"chat":"X"}"#,
            r#"{"chat":""}"#,
            "{",
        ] {
            let reply = alice.post(path, body).await;
            assert_eq!(reply.status, 403, "{path} {body:?}: {reply:?}");
            assert_eq!(reply.error(), "admin only", "{path} {body:?}");
        }
    }
    assert_eq!(alice.join("Main").await.status, 200, "Main still exists");
    assert_eq!(alice.join("X").await.error(), "no such chat");
}

#[actix_web::test]
async fn a_guest_named_like_a_configured_admin_is_not_an_admin() {
    let app = TestApp::spawn().await;
    // `root` is listed in Admins but not registered: a guest may take the name, not the rights.
    let fake = app.guest("root").await;
    let reply = fake
        .post("/api/adminonly/createChat", r#"{"chat":"X"}"#)
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.error(), "admin only");
    let reply = fake
        .post("/api/adminonly/removeChat", r#"{"chat":"Main"}"#)
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.error(), "admin only");
}

#[actix_web::test]
async fn admin_routes_refuse_registered_users_that_are_not_admins() {
    let app = TestApp::spawn().await;
    let bob = app.member("bob").await;
    for (path, body) in [
        ("/api/adminonly/createChat", r#"{"chat":"X"}"#),
        ("/api/adminonly/removeChat", r#"{"chat":"Main"}"#),
    ] {
        let reply = bob.post(path, body).await;
        assert_eq!(reply.status, 403, "{path}: {reply:?}");
        assert_eq!(reply.error(), "admin only", "{path}");
    }
}

#[actix_web::test]
async fn a_configured_admin_creates_and_removes_chats_with_empty_200s() {
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    let alice = app.guest("alice").await;
    root.post("/api/adminonly/createChat", r#"{"chat":"Games"}"#)
        .await
        .assert_empty_ok();
    let reply = alice.join("Games").await;
    assert_json(&reply);
    assert_eq!(reply.json()["chat"], "Games");
    root.post("/api/adminonly/removeChat", r#"{"chat":"Games"}"#)
        .await
        .assert_empty_ok();
    assert_eq!(alice.join("Games").await.error(), "no such chat");
    // Config chats can be removed too.
    root.post("/api/adminonly/removeChat", r#"{"chat":"Random"}"#)
        .await
        .assert_empty_ok();
    let chats = alice.get("/api/loggedonly/getChats").await.json();
    let names: Vec<&str> = chats
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["chat"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Main"]);
}

// ---------------------------------------------------------------------------------------------
// createChat / removeChat: what

#[actix_web::test]
async fn create_chat_refuses_an_existing_name() {
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    for body in [r#"{"chat":"Main"}"#, r#"{"chat":"Random"}"#] {
        let reply = root.post("/api/adminonly/createChat", body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.error(), "chat already exists");
    }
    root.post("/api/adminonly/createChat", r#"{"chat":"X"}"#)
        .await
        .assert_empty_ok();
    let reply = root
        .post("/api/adminonly/createChat", r#"{"chat":"X"}"#)
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "chat already exists");
}

#[actix_web::test]
async fn create_chat_validates_the_name_and_names_the_field() {
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    let too_long = "c".repeat(51);
    let bodies = [
        r#"{"chat":""}"#.to_owned(),
        r#"{}"#.to_owned(),
        "null".to_owned(),
        format!(r#"{{"chat":"{too_long}"}}"#),
        format!(r#"{{"chat":"{}"}}"#, "é".repeat(51)),
        r#"{"chat":"bell\u0007"}"#.to_owned(),
        r#"{"chat":"new\nline"}"#.to_owned(),
        r#"{"chat":"nul\u0000"}"#.to_owned(),
        r#"{"chat":"zero\u200bwidth"}"#.to_owned(),
        r#"{"chat":" Lead"}"#.to_owned(),
        r#"{"chat":"Trail "}"#.to_owned(),
    ];
    for body in &bodies {
        let reply = root.post("/api/adminonly/createChat", body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        let message = reply.error();
        assert!(message.starts_with("chat:"), "{body}: {message}");
    }
    // The limits are inclusive and count characters, not bytes.
    for name in ["c".repeat(50), "é".repeat(50), "Two words".to_owned()] {
        root.post(
            "/api/adminonly/createChat",
            &serde_json::json!({ "chat": name }).to_string(),
        )
        .await
        .assert_empty_ok();
    }
    let chats = root.get("/api/loggedonly/getChats").await.json();
    assert_eq!(chats.as_array().unwrap().len(), 5, "{chats}");
}

#[actix_web::test]
async fn create_chat_names_the_field_of_a_body_of_the_wrong_type() {
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    for body in [r#"{"chat":1}"#, r#"{"chat":["X"]}"#] {
        let reply = root.post("/api/adminonly/createChat", body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        let message = reply.error();
        assert!(message.starts_with("chat"), "{body}: {message}");
    }
}

#[actix_web::test]
async fn remove_chat_of_a_missing_chat_answers_no_such_chat() {
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    for body in [
        r#"{"chat":"Nope"}"#,
        r#"{"chat":"main"}"#,
        r#"{"chat":""}"#,
        "{}",
    ] {
        let reply = root.post("/api/adminonly/removeChat", body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.error(), "no such chat", "{body}");
    }
    root.post("/api/adminonly/removeChat", r#"{"chat":"Random"}"#)
        .await
        .assert_empty_ok();
    let again = root
        .post("/api/adminonly/removeChat", r#"{"chat":"Random"}"#)
        .await;
    assert_eq!(again.status, 400);
    assert_eq!(again.error(), "no such chat");
}

#[actix_web::test]
async fn removing_a_chat_ends_its_memberships_and_deletes_its_messages() {
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    let alice = app.guest("alice").await;
    root.post("/api/adminonly/createChat", r#"{"chat":"Games"}"#)
        .await
        .assert_empty_ok();
    assert_eq!(alice.join("Games").await.status, 200);
    assert_eq!(alice.say("Games", "first").await.status, 200);
    assert_eq!(alice.say("Games", "second").await.status, 200);

    root.post("/api/adminonly/removeChat", r#"{"chat":"Games"}"#)
        .await
        .assert_empty_ok();
    let refused = alice.say("Games", "anyone?").await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.error(), "user not logged in such chat");
    for path in [
        "/api/loggedonly/getLastMessages",
        "/api/loggedonly/getUsers",
    ] {
        let reply = alice.post(path, r#"{"chat":"Games"}"#).await;
        assert_eq!(reply.status, 400, "{path}");
        assert_eq!(reply.error(), "user not logged in such chat", "{path}");
    }
    let leave = alice
        .post("/api/loggedonly/leaveChat", r#"{"chat":"Games"}"#)
        .await;
    assert_eq!(leave.error(), "no such chat");

    // The same name again is a new, empty chat that alice has not joined.
    root.post("/api/adminonly/createChat", r#"{"chat":"Games"}"#)
        .await
        .assert_empty_ok();
    let refused = alice.say("Games", "back?").await;
    assert_eq!(refused.error(), "user not logged in such chat");
    let chats = alice.get("/api/loggedonly/getChats").await.json();
    let games = chats
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["chat"] == "Games")
        .expect("Games is listed again")
        .clone();
    assert_eq!(games["joined"], false);
    let reply = alice.join("Games").await;
    assert_json(&reply);
    let report = reply.json();
    assert_eq!(report["messages"], serde_json::json!([]), "{report}");
    assert_eq!(user_names(&report["users"]), ["alice"]);
    let last = alice
        .post("/api/loggedonly/getLastMessages", r#"{"chat":"Games"}"#)
        .await;
    assert_eq!(last.body, "[]\n");
}

// ---------------------------------------------------------------------------------------------
// The logged-only guard

const LOGGED_ONLY: [(&str, &str, &str); 12] = [
    ("POST", "/api/loggedonly/login", "{}"),
    ("POST", "/api/loggedonly/logout", ""),
    ("PUT", "/api/loggedonly/keepalive", ""),
    ("GET", "/api/loggedonly/poll", ""),
    ("GET", "/api/loggedonly/events", ""),
    ("POST", "/api/loggedonly/joinChat", r#"{"chat":"Main"}"#),
    ("POST", "/api/loggedonly/leaveChat", r#"{"chat":"Main"}"#),
    ("GET", "/api/loggedonly/getChats", ""),
    ("POST", "/api/loggedonly/getUsers", r#"{"chat":"Main"}"#),
    (
        "POST",
        "/api/loggedonly/getLastMessages",
        r#"{"chat":"Main"}"#,
    ),
    (
        "POST",
        "/api/loggedonly/getMessages",
        r#"{"chat":"Main","limit":5}"#,
    ),
    (
        "POST",
        "/api/loggedonly/postMessage",
        r#"{"chat":"Main","text":"hi"}"#,
    ),
];

async fn assert_every_logged_only_route_refuses(actor: &crate::helpers::Actor, why: &str) {
    for (method, path, body) in LOGGED_ONLY {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (method != Method::GET).then_some(body);
        let reply = actor.send(method.clone(), path, body, &[]).await;
        assert_eq!(reply.status, 401, "{why}: {method} {path}: {reply:?}");
        assert_eq!(
            reply.error(),
            "user not logged in",
            "{why}: {method} {path}"
        );
    }
}

#[actix_web::test]
async fn every_logged_only_route_answers_401_without_a_cookie() {
    let app = TestApp::spawn().await;
    assert_every_logged_only_route_refuses(&app.client(), "no cookie").await;
}

#[actix_web::test]
async fn every_logged_only_route_answers_401_to_a_forged_or_ended_session() {
    let app = TestApp::spawn().await;
    let forged = app.client();
    forged.set_cookie(Some("dGhpcyBpcyBub3QgYSBjb29raWU=".into()));
    assert_every_logged_only_route_refuses(&forged, "forged cookie").await;

    let alice = app.guest("alice").await;
    let old = app.client();
    old.set_cookie(alice.cookie());
    alice
        .post("/api/loggedonly/logout", "")
        .await
        .assert_empty_ok();
    assert_every_logged_only_route_refuses(&old, "after logout").await;
}
