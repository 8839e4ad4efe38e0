//! Soak test: N clients read with their own cursor, reconnecting at random (a fresh HTTP
//! client, and in Postgres mode another instance), while M posters post as fast as they can.
//! Every client must receive every message exactly once, in order: any loss, duplicate or
//! reordering fails the test. Bounded in time, loopback only.
//!
//! Small by default so CI runs it; larger with, for example,
//! `SOAK_CLIENTS=200 SOAK_POSTERS=8 SOAK_SECONDS=60 cargo test -p chatty-server --test soak -- --nocapture`.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "test code: a failed unwrap is a failed test; the soak prints its figures"
)]

mod common;

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use chatty_postgres::testing::TestDatabase;
use chatty_server::{Application, Stopper};
use common::send;
use serde_json::Value;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn instance(database_url: Option<&str>) -> (String, Stopper) {
    let mut env = vec![
        ("CHATTY_EVENT_RETENTION_COUNT", "1000000"),
        ("SECRET_KEY", "a-soak-test-secret-shared-by-every-instance"),
    ];
    if let Some(url) = database_url {
        env.push(("DATABASE_URL", url));
    }
    let settings = common::settings(&env);
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let stopper = app.stopper();
    actix_web::rt::spawn(app.run_until_stopped());
    (base, stopper)
}

/// A tiny deterministic generator: reconnects happen at random but reproducibly.
fn next_random(state: &Cell<u64>) -> u64 {
    let mut x = state.get();
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    state.set(x);
    x
}

async fn soak(bases: Vec<String>) {
    let clients = knob("SOAK_CLIENTS", 8);
    let posters = knob("SOAK_POSTERS", 2);
    let seconds = knob("SOAK_SECONDS", 3) as u64;
    let http = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();

    // Everyone joins before the first post, so every client is owed every message.
    let mut readers = Vec::new();
    for c in 0..clients {
        let base = &bases[c % bases.len()];
        let (_, _, cookie) = send(
            &http,
            "POST",
            &format!("{base}/api/login"),
            None,
            &format!(r#"{{"user":"reader{c}"}}"#),
        )
        .await;
        let cookie = cookie.unwrap();
        let (status, _, _) = send(
            &http,
            "POST",
            &format!("{base}/api/loggedonly/joinChat"),
            Some(&cookie),
            r#"{"chat":"Main"}"#,
        )
        .await;
        assert_eq!(status, 200);
        readers.push(cookie);
    }
    let mut writers = Vec::new();
    for p in 0..posters {
        let base = &bases[p % bases.len()];
        let (_, _, cookie) = send(
            &http,
            "POST",
            &format!("{base}/api/login"),
            None,
            &format!(r#"{{"user":"poster{p}"}}"#),
        )
        .await;
        let cookie = cookie.unwrap();
        send(
            &http,
            "POST",
            &format!("{base}/api/loggedonly/joinChat"),
            Some(&cookie),
            r#"{"chat":"Main"}"#,
        )
        .await;
        writers.push(cookie);
    }
    // Readers start from the beginning of the log: everything after their own login is theirs.
    let start_cursor: u64 = 0;

    let posting_done = Rc::new(Cell::new(false));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut post_tasks = Vec::new();
    for (p, cookie) in writers.into_iter().enumerate() {
        let base = bases[p % bases.len()].clone();
        post_tasks.push(actix_web::rt::spawn(async move {
            let http = awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .finish();
            let mut sent = 0u64;
            while Instant::now() < deadline {
                let body =
                    serde_json::json!({"chat": "Main", "text": format!("{p}:{sent}")}).to_string();
                let (status, reply, _) = send(
                    &http,
                    "POST",
                    &format!("{base}/api/loggedonly/postMessage"),
                    Some(&cookie),
                    &body,
                )
                .await;
                assert_eq!(status, 200, "{reply}");
                sent += 1;
            }
            sent
        }));
    }
    let mut read_tasks = Vec::new();
    for (c, cookie) in readers.into_iter().enumerate() {
        let bases = bases.clone();
        let done = Rc::clone(&posting_done);
        read_tasks.push(actix_web::rt::spawn(async move {
            let random = Cell::new(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1));
            let mut http = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
            let mut base = bases[c % bases.len()].clone();
            let mut cursor = start_cursor;
            let mut last_seq: HashMap<u64, i64> = HashMap::new();
            let mut received = 0u64;
            let mut reconnects = 0u32;
            let mut idle_after_done = 0;
            loop {
                if next_random(&random).is_multiple_of(5) {
                    // A reconnect: a new connection, maybe to another instance.
                    http = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
                    base = bases[(next_random(&random) as usize) % bases.len()].clone();
                    reconnects += 1;
                }
                let url = format!("{base}/api/loggedonly/poll?after={cursor}&limit=100");
                let (status, body, _) = send(&http, "GET", &url, Some(&cookie), "").await;
                assert_eq!(status, 200, "reader{c}: {body}");
                if body.is_empty() {
                    if done.get() {
                        idle_after_done += 1;
                        if idle_after_done >= 2 {
                            return (received, last_seq, reconnects);
                        }
                    }
                    continue;
                }
                let batch: Value = serde_json::from_str(&body).unwrap();
                for envelope in batch.as_array().unwrap() {
                    let id = envelope["id"].as_u64().unwrap();
                    assert!(id > cursor, "reader{c}: {id} after {cursor}: duplicate or reordering");
                    assert_ne!(envelope["type"], "ResyncEvent", "reader{c} fell behind retention");
                    cursor = id;
                    if envelope["type"] == "MessageEvent" {
                        let text = envelope["event"]["text"].as_str().unwrap();
                        let (poster, seq) = text.split_once(':').unwrap();
                        let (poster, seq): (u64, i64) = (poster.parse().unwrap(), seq.parse().unwrap());
                        let previous = last_seq.entry(poster).or_insert(-1);
                        assert_eq!(seq, *previous + 1, "reader{c}: poster {poster} message {seq} after {previous}: lost or reordered");
                        *previous = seq;
                        received += 1;
                    }
                }
            }
        }));
    }
    let mut sent_by = Vec::new();
    for task in post_tasks {
        sent_by.push(task.await.unwrap());
    }
    posting_done.set(true);
    let total: u64 = sent_by.iter().sum();
    let mut reconnects = 0;
    for (c, task) in read_tasks.into_iter().enumerate() {
        let (received, last_seq, r) = task.await.unwrap();
        reconnects += r;
        assert_eq!(
            received, total,
            "reader{c} received {received} of {total} messages"
        );
        for (p, sent) in sent_by.iter().enumerate() {
            assert_eq!(
                last_seq.get(&(p as u64)).copied().unwrap_or(-1),
                *sent as i64 - 1,
                "reader{c}, poster {p}"
            );
        }
    }
    println!(
        "soak: {clients} clients, {posters} posters, {seconds} s, {} instance(s): {total} messages posted, {} delivered, {reconnects} reconnects, 0 lost, 0 duplicated, 0 reordered",
        bases.len(),
        total * clients as u64
    );
}

#[actix_web::test]
async fn soak_on_the_memory_store() {
    let (base, stopper) = instance(None).await;
    soak(vec![base]).await;
    stopper.stop().await;
}

#[actix_web::test]
async fn soak_on_postgres_with_two_instances() {
    let db = TestDatabase::new().await;
    let (a, stop_a) = instance(Some(db.url())).await;
    let (b, stop_b) = instance(Some(db.url())).await;
    soak(vec![a, b]).await;
    stop_a.stop().await;
    stop_b.stop().await;
}
