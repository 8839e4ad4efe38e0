//! Events observed through `/api/loggedonly/poll`: the sequences of original-spec.md §6.5,
//! the long poll's endings, and the cursor extensions of api.md §3.

use std::time::{Duration, Instant};

use crate::helpers::{TestApp, describe};

#[actix_web::test]
async fn the_original_event_sequences_reach_the_right_clients_in_order() {
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    assert_eq!(bob.join("Main").await.status, 200);
    root.events(3).await; // its login, alice's, bob's
    alice.events(2).await; // its login, bob's
    bob.events(3).await; // its login, its join and system message

    let carol = app.guest("carol").await;
    for actor in [&alice, &bob, &carol] {
        assert_eq!(describe(&actor.events(1).await), ["LoginEvent(carol)"]);
    }

    assert_eq!(alice.join("Main").await.status, 200);
    let join = [
        "ChatJoinEvent(alice@Main)",
        "SystemMessageChatJoinEvent(alice@Main)",
    ];
    assert_eq!(describe(&alice.events(2).await), join);
    assert_eq!(describe(&bob.events(2).await), join);

    assert_eq!(alice.say("Main", "hello").await.status, 200);
    for actor in [&alice, &bob] {
        let events = actor.events(1).await;
        assert_eq!(describe(&events), ["MessageEvent(alice@Main:hello)"]);
        let event = &events[0]["event"];
        assert_eq!(event["verified"], false);
        assert!(event["id"].is_u64() && event["time"].is_i64());
    }

    let leave = alice
        .post("/api/loggedonly/leaveChat", r#"{"chat":"Main"}"#)
        .await;
    leave.assert_empty_ok();
    assert_eq!(
        describe(&bob.events(2).await),
        [
            "ChatLeaveEvent(alice@Main)",
            "SystemMessageChatLeaveEvent(alice@Main)"
        ]
    );

    bob.post("/api/loggedonly/logout", "")
        .await
        .assert_empty_ok();
    for actor in [&alice, &carol] {
        assert_eq!(describe(&actor.events(1).await), ["LogoutEvent(bob)"]);
    }

    root.post("/api/adminonly/createChat", r#"{"chat":"X"}"#)
        .await
        .assert_empty_ok();
    root.post("/api/adminonly/removeChat", r#"{"chat":"Main"}"#)
        .await
        .assert_empty_ok();
    for actor in [&alice, &carol] {
        assert_eq!(
            describe(&actor.events(2).await),
            ["ChatCreatedEvent(X)", "ChatRemovedEvent(Main)"]
        );
    }
    carol.assert_no_events().await;
}

#[actix_web::test]
async fn envelopes_have_the_original_shape_and_an_id() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let reply = alice.get("/api/loggedonly/poll").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(
        reply
            .body
            .starts_with(r#"{"event":{"user":"alice","chat":"","Time":"#),
        "{}",
        reply.body
    );
    assert!(reply.body.ends_with("}\n"), "{:?}", reply.body);
    let envelope = reply.json();
    assert_eq!(envelope["type"], "LoginEvent");
    assert!(envelope["id"].as_u64().unwrap() > 0);
    assert_eq!(envelope.as_object().unwrap().len(), 3);
}

#[actix_web::test]
async fn a_poll_with_nothing_to_deliver_ends_empty_after_the_timeout() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    alice.events(1).await;
    let started = Instant::now();
    let reply = alice.get("/api/loggedonly/poll").await;
    reply.assert_empty_ok();
    // ResponseTimeout is 2 s in these tests: the poll waits about 1 s.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[actix_web::test]
async fn a_waiting_poll_gets_a_message_posted_meanwhile() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    alice.join("Main").await;
    bob.join("Main").await;
    // Her login, bob's, her join and bob's, each with its system message.
    alice.events(6).await;
    let waiting = alice.get("/api/loggedonly/poll");
    let posting = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bob.say("Main", "ping").await
    };
    let (reply, posted) = tokio::join!(waiting, posting);
    assert_eq!(posted.status, 200);
    assert_eq!(describe(&[reply.json()]), ["MessageEvent(bob@Main:ping)"]);
}

#[actix_web::test]
async fn logout_ends_the_waiting_poll_of_the_session() {
    let app = TestApp::spawn_with(|s| s.response_timeout = Duration::from_secs(30)).await;
    let alice = app.guest("alice").await;
    alice.events(1).await;
    let other_tab = app.client();
    other_tab.set_cookie(alice.cookie());
    let started = Instant::now();
    let waiting = alice.get("/api/loggedonly/poll");
    let logout = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        other_tab.post("/api/loggedonly/logout", "").await
    };
    let (reply, logout) = tokio::join!(waiting, logout);
    logout.assert_empty_ok();
    reply.assert_empty_ok();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the poll was not ended"
    );
    assert_eq!(alice.get("/api/loggedonly/poll").await.status, 401);
}

#[actix_web::test]
async fn shutdown_ends_waiting_polls_at_once() {
    let app = TestApp::spawn_with(|s| s.response_timeout = Duration::from_secs(30)).await;
    let alice = app.guest("alice").await;
    alice.events(1).await;
    let started = Instant::now();
    let waiting = alice.get("/api/loggedonly/poll");
    let stopping = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.stop().await;
    };
    let (reply, ()) = tokio::join!(waiting, stopping);
    reply.assert_empty_ok();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[actix_web::test]
async fn events_between_polls_wait_and_arrive_in_order() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    alice.join("Main").await;
    bob.join("Main").await;
    // Her login, bob's, her join and bob's, each with its system message.
    alice.events(6).await;
    for i in 0..20 {
        assert_eq!(bob.say("Main", &format!("{i}")).await.status, 200);
    }
    let mut seen = Vec::new();
    for _ in 0..20 {
        seen.push(alice.poll().await.expect("an event"));
    }
    let expected: Vec<_> = (0..20)
        .map(|i| format!("MessageEvent(bob@Main:{i})"))
        .collect();
    assert_eq!(describe(&seen), expected);
    let ids: Vec<u64> = seen.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

#[actix_web::test]
async fn two_tabs_of_one_session_share_the_events_without_duplicates() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    alice.join("Main").await;
    bob.join("Main").await;
    // Her login, bob's, her join and bob's, each with its system message.
    alice.events(6).await;
    let tab = app.client();
    tab.set_cookie(alice.cookie());
    for i in 0..10 {
        bob.say("Main", &format!("{i}")).await;
    }
    let (a, b) = tokio::join!(alice.events(5), tab.events(5));
    assert!(
        describe(&a)
            .iter()
            .chain(&describe(&b))
            .all(|e| e.starts_with("MessageEvent"))
    );
    let mut ids: Vec<u64> = a
        .iter()
        .chain(&b)
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10, "each event went to exactly one tab");
}

#[actix_web::test]
async fn a_client_cursor_resumes_exactly_and_moves_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    bob.join("Main").await;
    let joined = alice.join("Main").await;
    let cursor: u64 = joined
        .header("chatty-event-id")
        .expect("snapshot header")
        .parse()
        .unwrap();
    for i in 0..5 {
        bob.say("Main", &format!("{i}")).await;
    }
    let page = alice
        .get(&format!("/api/loggedonly/poll?after={cursor}&limit=2"))
        .await;
    let page = page.json();
    assert_eq!(
        describe(page.as_array().unwrap()),
        ["MessageEvent(bob@Main:0)", "MessageEvent(bob@Main:1)"]
    );
    let next = page[1]["id"].as_u64().unwrap();
    let rest = alice
        .get(&format!("/api/loggedonly/poll?after={next}&limit=10"))
        .await
        .json();
    assert_eq!(rest.as_array().unwrap().len(), 3);
    assert_eq!(rest[0]["event"]["text"], "2");
    let single = alice
        .get(&format!("/api/loggedonly/poll?after={next}"))
        .await
        .json();
    assert_eq!(
        single["event"]["text"], "2",
        "without limit: one envelope, not an array"
    );
    // The session's own cursor was not moved: the legacy poll starts at alice's login.
    assert_eq!(
        describe(&[alice.poll().await.unwrap()]),
        ["LoginEvent(alice)"]
    );
}

#[actix_web::test]
async fn bad_cursors_and_limits_get_precise_errors() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    for (query, needle) in [
        ("after=abc", "after:"),
        ("after=-3", "after:"),
        ("after=999999", "beyond the newest event"),
        ("limit=0", "limit:"),
        ("limit=100000", "limit:"),
        ("limit=x", "limit:"),
    ] {
        let reply = alice.get(&format!("/api/loggedonly/poll?{query}")).await;
        assert_eq!(reply.status, 400, "{query}: {reply:?}");
        let message = reply.error();
        assert!(message.contains(needle), "{query}: {message}");
    }
}

#[actix_web::test]
async fn snapshots_carry_the_event_id_they_reflect() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    alice.join("Main").await;
    alice.say("Main", "hi").await;
    let first = alice.events(4).await;
    let last_id = first.last().unwrap()["id"].as_u64().unwrap();
    for (reply, what) in [
        (alice.get("/api/loggedonly/getChats").await, "getChats"),
        (
            alice
                .post("/api/loggedonly/getLastMessages", r#"{"chat":"Main"}"#)
                .await,
            "getLastMessages",
        ),
        (
            alice
                .post("/api/loggedonly/getUsers", r#"{"chat":"Main"}"#)
                .await,
            "getUsers",
        ),
    ] {
        assert_eq!(reply.status, 200, "{what}");
        assert_eq!(
            reply.header("chatty-event-id"),
            Some(last_id.to_string()),
            "{what}"
        );
    }
}

#[actix_web::test]
async fn polling_without_a_session_is_refused() {
    let app = TestApp::spawn().await;
    let reply = app.client().get("/api/loggedonly/poll").await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.error(), "user not logged in");
}

/// Reads an event stream until it ends or `within` passes; returns the text read.
async fn read_stream(
    mut response: awc::ClientResponse<
        impl futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
        + Unpin,
    >,
    within: Duration,
) -> (String, bool) {
    use futures_util::StreamExt;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, response.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(std::str::from_utf8(&chunk).unwrap()),
            Ok(Some(Err(_)) | None) => return (text, true),
            Err(_) => return (text, false),
        }
    }
}

#[actix_web::test]
async fn the_event_stream_sends_envelopes_and_heartbeats_and_ends_at_logout() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let response = client
        .get(format!("{}/api/loggedonly/events?after=0", app.base))
        .insert_header(("Cookie", format!("chatty={}", alice.cookie().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let logout = async {
        // Past one heartbeat (the poll wait is 1 s in these tests).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        alice.post("/api/loggedonly/logout", "").await
    };
    let ((text, ended), logout) =
        tokio::join!(read_stream(response, Duration::from_secs(10)), logout);
    logout.assert_empty_ok();
    assert!(ended, "the stream ends when the session does: {text}");
    assert!(text.starts_with("retry: "), "{text}");
    assert!(
        text.contains("event: LoginEvent\ndata: {\"event\":{\"user\":\"alice\""),
        "{text}"
    );
    assert!(text.contains("\n\nid: "), "{text}");
    assert!(
        text.contains(": keep-alive"),
        "a heartbeat was sent: {text}"
    );
}

#[actix_web::test]
async fn the_event_stream_refuses_bad_cursors_and_ends_at_shutdown() {
    let app = TestApp::spawn_with(|s| s.response_timeout = Duration::from_secs(30)).await;
    let alice = app.guest("alice").await;
    let bad = alice
        .send(
            awc::http::Method::GET,
            "/api/loggedonly/events",
            None,
            &[("Last-Event-ID", "banana")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.error().starts_with("after:"));
    assert_eq!(
        app.client().get("/api/loggedonly/events").await.error(),
        "user not logged in"
    );

    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let response = client
        .get(format!("{}/api/loggedonly/events", app.base))
        .insert_header(("Cookie", format!("chatty={}", alice.cookie().unwrap())))
        .send()
        .await
        .unwrap();
    let stop = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.stop().await;
    };
    let ((_, ended), ()) = tokio::join!(read_stream(response, Duration::from_secs(10)), stop);
    assert!(ended, "the stream ends at shutdown");
}
