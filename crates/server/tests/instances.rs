//! Several server processes on one Postgres: events posted on one instance reach clients on
//! another, in order, exactly once, across instance switches, SSE reconnects and restarts.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use chatty_postgres::testing::TestDatabase;
use common::{Server, send};
use futures_util::StreamExt;
use serde_json::Value;

const SECRET: &str = "a-shared-secret-key-for-every-instance-of-the-test";

fn start(db: &TestDatabase) -> (Server, String) {
    let env = [
        ("DATABASE_URL", db.url()),
        ("SECRET_KEY", SECRET),
        ("CHATTY_RESPONSE_TIMEOUT", "3s"),
    ];
    let mut server = Server::start(&["-dev", "-config", "/nonexistent/chatty.toml"], &env);
    let base = format!("http://127.0.0.1:{}", server.port());
    (server, base)
}

async fn login(client: &awc::Client, base: &str, name: &str) -> String {
    let (status, body, cookie) = send(
        client,
        "POST",
        &format!("{base}/api/login"),
        None,
        &format!(r#"{{"user":"{name}"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.unwrap();
    let (status, body, _) = send(
        client,
        "POST",
        &format!("{base}/api/loggedonly/joinChat"),
        Some(&cookie),
        r#"{"chat":"Main"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    cookie
}

async fn post(client: &awc::Client, base: &str, cookie: &str, text: &str) {
    let body = serde_json::json!({"chat": "Main", "text": text}).to_string();
    let (status, reply, _) = send(
        client,
        "POST",
        &format!("{base}/api/loggedonly/postMessage"),
        Some(cookie),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
}

/// Polls with a client cursor until `n` more messages arrived (never more: the limit asks for
/// no more than are missing); returns (id, text) in order. Fails after a few empty polls.
async fn messages_after(
    client: &awc::Client,
    base: &str,
    cookie: &str,
    after: &mut u64,
    n: usize,
) -> Vec<(u64, String)> {
    let mut got = Vec::new();
    let mut empty = 0;
    while got.len() < n {
        let limit = n - got.len();
        let url = format!("{base}/api/loggedonly/poll?after={after}&limit={limit}");
        let (status, body, _) = send(client, "GET", &url, Some(cookie), "").await;
        assert_eq!(status, 200, "{body}");
        if body.is_empty() {
            empty += 1;
            assert!(empty < 5, "only {} of {n} messages arrived", got.len());
            continue;
        }
        let batch: Value = serde_json::from_str(&body).unwrap();
        for envelope in batch.as_array().unwrap() {
            let id = envelope["id"].as_u64().unwrap();
            assert!(id > *after, "{id} is not after {after}");
            *after = id;
            if envelope["type"] == "MessageEvent" {
                got.push((id, envelope["event"]["text"].as_str().unwrap().to_owned()));
            }
        }
    }
    got
}

fn texts(messages: &[(u64, String)]) -> Vec<String> {
    messages.iter().map(|(_, t)| t.clone()).collect()
}

#[actix_web::test]
async fn clients_on_one_instance_get_what_is_posted_on_another_exactly_once_in_order() {
    let db = TestDatabase::new().await;
    let (_a, a) = start(&db);
    let (_b, b) = start(&db);
    let client = awc::Client::default();
    let alice = login(&client, &a, "alice").await;
    let bob = login(&client, &b, "bob").await;
    let (_, chats, _) = send(
        &client,
        "GET",
        &format!("{a}/api/loggedonly/getChats"),
        Some(&alice),
        "",
    )
    .await;
    assert!(chats.contains("\"joined\":true"));

    // Legacy poll on A, posts on B.
    for i in 0..10 {
        post(&client, &b, &bob, &format!("b{i}")).await;
    }
    let mut legacy = Vec::new();
    for _ in 0..100 {
        if legacy.len() == 10 {
            break;
        }
        let (_, body, _) = send(
            &client,
            "GET",
            &format!("{a}/api/loggedonly/poll"),
            Some(&alice),
            "",
        )
        .await;
        if let Ok(envelope) = serde_json::from_str::<Value>(&body)
            && envelope["type"] == "MessageEvent"
        {
            legacy.push(envelope["event"]["text"].as_str().unwrap().to_owned());
        }
    }
    let expected: Vec<String> = (0..10).map(|i| format!("b{i}")).collect();
    assert_eq!(legacy, expected);

    // A client that switches instances with its cursor misses nothing and sees nothing twice.
    let mut cursor = 0;
    let mut seen = messages_after(&client, &a, &alice, &mut cursor, 10).await;
    for i in 10..20 {
        post(&client, &b, &bob, &format!("b{i}")).await;
    }
    seen.extend(messages_after(&client, &b, &alice, &mut cursor, 5).await);
    seen.extend(messages_after(&client, &a, &alice, &mut cursor, 5).await);
    let expected: Vec<String> = (0..20).map(|i| format!("b{i}")).collect();
    assert_eq!(texts(&seen), expected);
    let ids: BTreeSet<u64> = seen.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), 20, "no duplicates");

    // Logout on B ends the session on A as well.
    let (status, _, _) = send(
        &client,
        "POST",
        &format!("{b}/api/loggedonly/logout"),
        Some(&alice),
        "",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = send(
        &client,
        "GET",
        &format!("{a}/api/loggedonly/getChats"),
        Some(&alice),
        "",
    )
    .await;
    assert_eq!(status, 401);
}

/// Reads an SSE response until `n` message events arrived; returns every event read as
/// (id, type, envelope).
async fn sse_events(
    response: &mut awc::ClientResponse<
        impl futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
        + Unpin,
    >,
    n: usize,
) -> Vec<(u64, String, Value)> {
    let mut buffer = String::new();
    let mut events: Vec<(u64, String, Value)> = Vec::new();
    while events
        .iter()
        .filter(|(_, kind, _)| kind == "MessageEvent")
        .count()
        < n
    {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream stays open")
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut id = None;
            let mut kind = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    kind = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).ok();
                }
            }
            if let (Some(id), Some(kind), Some(data)) = (id, kind, data) {
                events.push((id, kind, data));
            }
        }
    }
    events
}

#[actix_web::test]
async fn an_sse_client_reconnecting_elsewhere_with_last_event_id_resumes_exactly() {
    let db = TestDatabase::new().await;
    let (_a, a) = start(&db);
    let (_b, b) = start(&db);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let alice = login(&client, &a, "alice").await;
    let bob = login(&client, &b, "bob").await;

    let mut stream = client
        .get(format!("{a}/api/loggedonly/events?after=0"))
        .insert_header(("Cookie", alice.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    assert_eq!(
        stream.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    for i in 0..6 {
        post(&client, &b, &bob, &format!("m{i}")).await;
    }
    let first = sse_events(&mut stream, 3).await;
    drop(stream);
    let last_id = first.last().unwrap().0;
    assert_eq!(first.last().unwrap().1, "MessageEvent");

    let mut resumed = client
        .get(format!("{b}/api/loggedonly/events"))
        .insert_header(("Cookie", alice.clone()))
        .insert_header(("Last-Event-ID", last_id.to_string()))
        .send()
        .await
        .unwrap();
    let rest = sse_events(&mut resumed, 3).await;
    let messages: Vec<_> = first
        .iter()
        .chain(&rest)
        .filter(|(_, kind, _)| kind == "MessageEvent")
        .map(|(_, _, d)| d["event"]["text"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..6).map(|i| format!("m{i}")).collect();
    assert_eq!(messages, expected, "every message exactly once, in order");
    let ids: Vec<u64> = first.iter().chain(&rest).map(|(id, _, _)| *id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeats: {ids:?}"
    );
}

#[actix_web::test]
async fn an_instance_restarted_while_clients_read_loses_nothing() {
    let db = TestDatabase::new().await;
    let (mut a, a_base) = start(&db);
    let (_b, b) = start(&db);
    let client = awc::Client::default();
    let alice = login(&client, &a_base, "alice").await;
    let bob = login(&client, &b, "bob").await;
    let mut cursor = 0;
    for i in 0..5 {
        post(&client, &b, &bob, &format!("{i}")).await;
    }
    let mut seen = messages_after(&client, &a_base, &alice, &mut cursor, 5).await;
    a.kill();
    for i in 5..10 {
        post(&client, &b, &bob, &format!("{i}")).await;
    }
    let (_a2, a2) = start(&db);
    seen.extend(messages_after(&client, &a2, &alice, &mut cursor, 5).await);
    let expected: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    assert_eq!(texts(&seen), expected);
}
