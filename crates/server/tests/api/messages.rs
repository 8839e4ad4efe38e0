//! Messages in depth: postMessage, the server bot's `/help`, getLastMessages and the
//! getMessages history extension (original-spec.md §3.6, §5.11, §5.12, §12.1; api.md §1,
//! §2 items 2 and 14, §3).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, describe};

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
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
        .unwrap_or_else(|| panic!("not an array: {messages}"))
        .iter()
        .map(|m| m["text"].as_str().expect("a text").to_owned())
        .collect()
}

fn ids(messages: &Value) -> Vec<u64> {
    messages
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {messages}"))
        .iter()
        .map(|m| m["id"].as_u64().expect("an integer id"))
        .collect()
}

/// A 200 with a JSON body, parsed.
fn ok_json(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json"),
        "{reply:?}"
    );
    reply.json()
}

/// The message a successful postMessage answered.
async fn post(actor: &crate::helpers::Actor, body: &Value) -> Value {
    let reply = actor
        .post("/api/loggedonly/postMessage", &body.to_string())
        .await;
    ok_json(&reply)
}

/// The message of a refused postMessage, after checking its status.
async fn refused(actor: &crate::helpers::Actor, body: &str, status: u16) -> String {
    let reply = actor.post("/api/loggedonly/postMessage", body).await;
    assert_eq!(reply.status, status, "{body:.80}: {reply:?}");
    reply.error()
}

fn last_messages_body(chat: &str) -> String {
    json!({ "chat": chat }).to_string()
}

// ---------------------------------------------------------------------------------------------
// postMessage

#[actix_web::test]
async fn post_message_answers_the_stored_message_in_the_original_shape() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    let before = now();
    let reply = alice
        .post(
            "/api/loggedonly/postMessage",
            r#"{"chat":"Main","text":"hello"}"#,
        )
        .await;
    let after = now();
    let message = ok_json(&reply);
    assert!(
        reply.body.starts_with(
            "{\"user\":\"alice\",\"verified\":false,\"admin\":false,\"bot\":false,\
             \"chat\":\"Main\",\"id\":"
        ),
        "{}",
        reply.body
    );
    assert!(reply.body.ends_with("}\n"), "{:?}", reply.body);
    assert_eq!(
        keys(&message),
        [
            "admin", "bot", "chat", "id", "text", "time", "user", "verified"
        ]
    );
    assert_eq!(message["text"], "hello");
    assert!(message["id"].is_u64(), "integer id: {message}");
    let time = message["time"].as_i64().expect("integer Unix seconds");
    assert!(
        (before..=after).contains(&time),
        "{time} not in {before}..={after}"
    );

    // The stored copy is the same message.
    let last = alice
        .post(
            "/api/loggedonly/getLastMessages",
            &last_messages_body("Main"),
        )
        .await;
    assert_eq!(ok_json(&last), json!([message]));
}

#[actix_web::test]
async fn post_message_takes_the_author_from_the_session_not_the_body() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    assert_eq!(alice.join("Main").await.status, 200);
    assert_eq!(bob.join("Main").await.status, 200);
    bob.events(3).await; // its login, its join and the system message

    let message = post(
        &alice,
        &json!({ "chat": "Main", "text": "I am bob", "user": "bob", "User": "bob" }),
    )
    .await;
    assert_eq!(message["user"], "alice");
    let seen = bob.events(1).await;
    assert_eq!(describe(&seen), ["MessageEvent(alice@Main:I am bob)"]);
    let last = alice
        .post(
            "/api/loggedonly/getLastMessages",
            &last_messages_body("Main"),
        )
        .await;
    assert_eq!(ok_json(&last)[0]["user"], "alice");
}

#[actix_web::test]
async fn post_message_ignores_flags_ids_and_times_sent_by_a_guest() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    let message = post(
        &alice,
        &json!({
            "chat": "Main", "text": "trust me",
            "verified": true, "admin": true, "bot": true,
            "id": 987_654_321, "time": 5
        }),
    )
    .await;
    assert_eq!(
        (&message["verified"], &message["admin"], &message["bot"]),
        (&json!(false), &json!(false), &json!(false)),
        "{message}"
    );
    assert_ne!(message["id"], 987_654_321);
    assert!(message["time"].as_i64().unwrap() > 5);
    let events = alice.events(4).await;
    let event = &events[3]["event"];
    assert_eq!(event["text"], "trust me");
    assert_eq!(
        (&event["verified"], &event["admin"], &event["bot"]),
        (&json!(false), &json!(false), &json!(false)),
        "{event}"
    );
}

#[actix_web::test]
async fn post_message_carries_the_flags_of_the_account() {
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    let bob = app.member("bob").await;
    assert_eq!(root.join("Main").await.status, 200);
    assert_eq!(bob.join("Main").await.status, 200);
    let from_root = post(
        &root,
        &json!({ "chat": "Main", "text": "admin here", "admin": false, "verified": false }),
    )
    .await;
    assert_eq!(
        (
            &from_root["verified"],
            &from_root["admin"],
            &from_root["bot"]
        ),
        (&json!(true), &json!(true), &json!(false)),
        "{from_root}"
    );
    let from_bob = post(
        &bob,
        &json!({ "chat": "Main", "text": "member here", "admin": true, "bot": true }),
    )
    .await;
    assert_eq!(
        (&from_bob["verified"], &from_bob["admin"], &from_bob["bot"]),
        (&json!(true), &json!(false), &json!(false)),
        "{from_bob}"
    );
}

#[actix_web::test]
async fn post_message_is_refused_outside_the_callers_chats() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    assert_eq!(bob.join("Main").await.status, 200);
    for body in [
        r#"{"chat":"Main","text":"let me in"}"#,
        r#"{"chat":"Nope","text":"anyone?"}"#,
        r#"{"chat":"main","text":"wrong case"}"#,
    ] {
        assert_eq!(
            refused(&alice, body, 400).await,
            "user not logged in such chat",
            "{body}"
        );
    }
    let last = bob
        .post(
            "/api/loggedonly/getLastMessages",
            &last_messages_body("Main"),
        )
        .await;
    assert_eq!(last.body, "[]\n", "nothing was stored");
}

#[actix_web::test]
async fn post_message_validates_the_text_and_names_the_field() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    let too_long = json!({ "chat": "Main", "text": "x".repeat(4001) }).to_string();
    for body in [
        r#"{"chat":"Main","text":""}"#,
        r#"{"chat":"Main"}"#,
        r#"{"chat":"Main","text":null}"#,
        r#"{"chat":"Main","text":"nul\u0000byte"}"#,
        r#"{"chat":"Main","text":"bell\u0007"}"#,
        too_long.as_str(),
    ] {
        let message = refused(&alice, body, 400).await;
        assert!(message.starts_with("text:"), "{body:.60}: {message}");
    }
    // 4,000 characters is the default limit, inclusive.
    let longest = "y".repeat(4000);
    let message = post(&alice, &json!({ "chat": "Main", "text": longest })).await;
    assert_eq!(message["text"].as_str().unwrap().len(), 4000);
}

#[actix_web::test]
async fn post_message_counts_the_text_limit_in_characters() {
    let app = TestApp::spawn_with(|s| s.max_message_chars = 10).await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    for text in ["0123456789".to_owned(), "é".repeat(10), "😀".repeat(10)] {
        let message = post(&alice, &json!({ "chat": "Main", "text": text })).await;
        assert_eq!(message["text"], text.as_str());
    }
    for text in ["0123456789A".to_owned(), "é".repeat(11)] {
        let body = json!({ "chat": "Main", "text": text }).to_string();
        let message = refused(&alice, &body, 400).await;
        assert!(message.starts_with("text:"), "{text}: {message}");
    }
    let last = alice
        .post(
            "/api/loggedonly/getLastMessages",
            &last_messages_body("Main"),
        )
        .await;
    assert_eq!(ok_json(&last).as_array().unwrap().len(), 3);
}

#[actix_web::test]
async fn post_message_names_the_chat_field_when_it_is_empty_or_of_the_wrong_type() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    for body in [
        r#"{"chat":"","text":"hi"}"#,
        r#"{"text":"hi"}"#,
        r#"{"chat":["Main"],"text":"hi"}"#,
        r#"{"chat":1,"text":"hi"}"#,
    ] {
        let message = refused(&alice, body, 400).await;
        assert!(message.starts_with("chat"), "{body}: {message}");
        assert_ne!(message, "cannot parse data");
    }
    let message = refused(&alice, r#"{"chat":"Main","text":5}"#, 400).await;
    assert!(message.starts_with("text"), "{message}");
}

#[actix_web::test]
async fn post_message_keeps_line_breaks_tabs_and_blank_text() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    for text in [
        "line one\nline two",
        "a\r\nb",
        "col\tcol",
        "   ",
        "<b>&amp;</b>",
    ] {
        let message = post(&alice, &json!({ "chat": "Main", "text": text })).await;
        assert_eq!(message["text"], text);
    }
    let last = alice
        .post(
            "/api/loggedonly/getLastMessages",
            &last_messages_body("Main"),
        )
        .await;
    assert_eq!(
        texts(&ok_json(&last)),
        [
            "line one\nline two",
            "a\r\nb",
            "col\tcol",
            "   ",
            "<b>&amp;</b>"
        ]
    );
}

#[actix_web::test]
async fn message_ids_strictly_increase_across_chats() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    assert_eq!(alice.join("Random").await.status, 200);
    let mut previous = 0;
    for i in 0..10 {
        let chat = if i % 3 == 0 { "Random" } else { "Main" };
        let message = post(&alice, &json!({ "chat": chat, "text": format!("m{i}") })).await;
        let id = message["id"].as_u64().expect("an integer id");
        assert!(id > previous, "{id} after {previous}");
        previous = id;
    }
    for chat in ["Main", "Random"] {
        let last = alice
            .post("/api/loggedonly/getLastMessages", &last_messages_body(chat))
            .await;
        let ids = ids(&ok_json(&last));
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{chat}: {ids:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The server bot

#[actix_web::test]
async fn help_gets_an_answer_from_the_bot_in_the_same_chat() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    assert_eq!(alice.join("Main").await.status, 200);
    assert_eq!(bob.join("Main").await.status, 200);
    let carol = app.guest("carol").await;
    assert_eq!(carol.join("Random").await.status, 200);
    bob.events(4).await; // its login, its join and system message, carol's login
    carol.events(3).await; // its login, its join and system message

    let question = post(&alice, &json!({ "chat": "Main", "text": "/help" })).await;
    assert_eq!(
        question["user"], "alice",
        "the answer to postMessage is the question"
    );
    assert_eq!(question["text"], "/help");

    let events = bob.events(2).await;
    assert_eq!(events[0]["type"], "MessageEvent");
    assert_eq!(events[0]["event"]["text"], "/help");
    assert_eq!(events[1]["type"], "MessageEvent");
    let answer = &events[1]["event"];
    assert_eq!(answer["user"], "Bot");
    assert_eq!(answer["chat"], "Main");
    assert_eq!(
        (&answer["verified"], &answer["admin"], &answer["bot"]),
        (&json!(false), &json!(false), &json!(false)),
        "{answer}"
    );
    let text = answer["text"].as_str().unwrap();
    assert!(text.starts_with("Available commands:"), "{text}");
    assert!(text.contains("/help"), "{text}");
    assert!(
        !text.contains("/anecdot"),
        "not offered by this server: {text}"
    );
    assert!(answer["id"].as_u64().unwrap() > question["id"].as_u64().unwrap());

    // The sender sees both too; the other chat sees nothing.
    // Her login, bob's, both joins with their system messages, carol's login, then the two.
    let mine = alice.events(9).await;
    assert_eq!(
        describe(&mine[7..]),
        [
            "MessageEvent(alice@Main:/help)".to_owned(),
            format!("MessageEvent(Bot@Main:{text})")
        ]
    );
    carol.assert_no_events().await;

    let last = alice
        .post(
            "/api/loggedonly/getLastMessages",
            &last_messages_body("Main"),
        )
        .await;
    let stored = ok_json(&last);
    assert_eq!(texts(&stored), ["/help", text]);
    assert_eq!(stored[1], *answer);
}

#[actix_web::test]
async fn only_the_exact_help_command_gets_an_answer() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    alice.events(3).await;
    for text in [
        "/help me",
        " /help",
        "/HELP",
        "/anecdot",
        "/anekdot",
        "Bot, /help",
    ] {
        post(&alice, &json!({ "chat": "Main", "text": text })).await;
    }
    let events = alice.events(6).await;
    assert!(
        events.iter().all(|e| e["event"]["user"] == "alice"),
        "{:?}",
        describe(&events)
    );
    alice.assert_no_events().await;
}

// ---------------------------------------------------------------------------------------------
// getLastMessages

#[actix_web::test]
async fn get_last_messages_is_an_empty_array_for_a_quiet_chat() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    let reply = alice
        .post(
            "/api/loggedonly/getLastMessages",
            &last_messages_body("Main"),
        )
        .await;
    ok_json(&reply);
    assert_eq!(reply.body, "[]\n");
    reply
        .header("chatty-event-id")
        .expect("a snapshot header")
        .parse::<u64>()
        .expect("an event id");
}

#[actix_web::test]
async fn get_last_messages_returns_at_most_last_messages_oldest_first() {
    let app = TestApp::spawn_with(|s| s.last_messages = 3).await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    assert_eq!(alice.join("Random").await.status, 200);
    for i in 1..=5 {
        post(&alice, &json!({ "chat": "Main", "text": format!("m{i}") })).await;
    }
    post(&alice, &json!({ "chat": "Random", "text": "elsewhere" })).await;
    let reply = alice
        .post(
            "/api/loggedonly/getLastMessages",
            &last_messages_body("Main"),
        )
        .await;
    let last = ok_json(&reply);
    assert_eq!(texts(&last), ["m3", "m4", "m5"]);
    for message in last.as_array().unwrap() {
        assert_eq!(
            keys(message),
            [
                "admin", "bot", "chat", "id", "text", "time", "user", "verified"
            ]
        );
        assert_eq!(message["chat"], "Main");
    }
    // The join report keeps the same limit.
    let bob = app.guest("bob").await;
    let report = ok_json(&bob.join("Main").await);
    assert_eq!(texts(&report["messages"]), ["m3", "m4", "m5"]);
}

#[actix_web::test]
async fn get_last_messages_is_refused_to_non_members() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    assert_eq!(bob.join("Main").await.status, 200);
    post(&bob, &json!({ "chat": "Main", "text": "private" })).await;
    for body in [
        r#"{"chat":"Main"}"#,
        r#"{"chat":"Nope"}"#,
        r#"{"chat":""}"#,
        "{}",
    ] {
        let reply = alice.post("/api/loggedonly/getLastMessages", body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.error(), "user not logged in such chat", "{body}");
    }
    let reply = alice
        .post("/api/loggedonly/getLastMessages", r#"{"chat":1}"#)
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.error().starts_with("chat"));
}

// ---------------------------------------------------------------------------------------------
// getMessages (extension)

async fn history(actor: &crate::helpers::Actor, body: Value) -> Value {
    let reply = actor
        .post("/api/loggedonly/getMessages", &body.to_string())
        .await;
    reply
        .header("chatty-event-id")
        .unwrap_or_else(|| panic!("a snapshot header: {reply:?}"));
    ok_json(&reply)
}

#[actix_web::test]
async fn get_messages_pages_backwards_through_the_history() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    assert_eq!(alice.join("Random").await.status, 200);
    let (mut posted, mut elsewhere) = (Vec::new(), Vec::new());
    for i in 1..=10 {
        let message = post(&alice, &json!({ "chat": "Main", "text": format!("m{i}") })).await;
        posted.push(message["id"].as_u64().unwrap());
        let message = post(
            &alice,
            &json!({ "chat": "Random", "text": format!("r{i}") }),
        )
        .await;
        elsewhere.push(message["id"].as_u64().unwrap());
    }

    let newest = history(&alice, json!({ "chat": "Main", "limit": 3 })).await;
    assert_eq!(texts(&newest), ["m8", "m9", "m10"]);
    let page = history(
        &alice,
        json!({ "chat": "Main", "before": posted[7], "limit": 3 }),
    )
    .await;
    assert_eq!(texts(&page), ["m5", "m6", "m7"]);
    let page = history(
        &alice,
        json!({ "chat": "Main", "before": posted[4], "limit": 3 }),
    )
    .await;
    assert_eq!(texts(&page), ["m2", "m3", "m4"]);
    let page = history(
        &alice,
        json!({ "chat": "Main", "before": posted[1], "limit": 3 }),
    )
    .await;
    assert_eq!(texts(&page), ["m1"]);
    let page = history(
        &alice,
        json!({ "chat": "Main", "before": posted[0], "limit": 3 }),
    )
    .await;
    assert_eq!(page, json!([]));

    // Without a limit: the LastMessages default (50), so all ten; `before` alone works too.
    let all = history(&alice, json!({ "chat": "Main" })).await;
    assert_eq!(ids(&all), posted);
    let older = history(&alice, json!({ "chat": "Main", "before": posted[2] })).await;
    assert_eq!(texts(&older), ["m1", "m2"]);
    // `before` the id of another chat's message (r9 came after m9) pages this chat only.
    let mixed = history(&alice, json!({ "chat": "Main", "before": elsewhere[8] })).await;
    assert_eq!(ids(&mixed), posted[..9]);
    assert!(
        mixed
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["chat"] == "Main")
    );
    // A `before` beyond every id is the newest page.
    let beyond = history(
        &alice,
        json!({ "chat": "Main", "before": 1_000_000_000, "limit": 2 }),
    )
    .await;
    assert_eq!(texts(&beyond), ["m9", "m10"]);
}

#[actix_web::test]
async fn get_messages_refuses_limits_out_of_range_and_names_the_field() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    for (body, field) in [
        (r#"{"chat":"Main","limit":0}"#, "limit:"),
        (r#"{"chat":"Main","limit":1000000}"#, "limit:"),
        (r#"{"chat":"Main","limit":18446744073709551615}"#, "limit:"),
        (r#"{"chat":"Main","limit":-1}"#, "limit"),
        (r#"{"chat":"Main","limit":2.5}"#, "limit"),
        (r#"{"chat":"Main","limit":"3"}"#, "limit"),
        (r#"{"chat":"Main","before":-4}"#, "before"),
        (r#"{"chat":"Main","before":"abc"}"#, "before"),
    ] {
        let reply = alice.post("/api/loggedonly/getMessages", body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        let message = reply.error();
        assert!(message.starts_with(field), "{body}: {message}");
    }
    // The boundaries that are allowed.
    assert_eq!(
        history(&alice, json!({ "chat": "Main", "limit": 1 })).await,
        json!([])
    );
}

#[actix_web::test]
async fn get_messages_is_refused_to_non_members() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    assert_eq!(bob.join("Main").await.status, 200);
    post(&bob, &json!({ "chat": "Main", "text": "private" })).await;
    for body in [
        r#"{"chat":"Main","limit":5}"#,
        r#"{"chat":"Nope","limit":5}"#,
        r#"{"chat":"Main"}"#,
    ] {
        let reply = alice.post("/api/loggedonly/getMessages", body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.error(), "user not logged in such chat", "{body}");
    }
}
