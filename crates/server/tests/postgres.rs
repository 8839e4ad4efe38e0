//! The server on Postgres: data survives restarts and crashes, an unreachable database is a
//! clear error at start-up and a 503 per request while running, and it recovers.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::time::Duration;

use chatty_domain::UserName;
use chatty_domain::ports::AccountRepository;
use chatty_postgres::testing::TestDatabase;
use chatty_server::wiring::Store;
use chatty_server::{Application, Stopper};
use common::{Server, run_to_end, send};
use serde_json::Value;

const SECRET: &str = "a-test-secret-that-is-long-enough-for-cookies";

async fn start(db: &TestDatabase) -> (String, Stopper, Store) {
    let settings = common::settings(&[("DATABASE_URL", db.url()), ("SECRET_KEY", SECRET)]);
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let stopper = app.stopper();
    let store = app.store().clone();
    tokio::spawn(app.run_until_stopped());
    (base, stopper, store)
}

async fn activation_token(store: &Store, name: &str) -> String {
    let Store::Postgres(pg) = store else {
        panic!("not on Postgres")
    };
    let account = pg
        .find(&UserName::parse(name).unwrap())
        .await
        .unwrap()
        .unwrap();
    account.activation.unwrap().token.expose().to_owned()
}

#[actix_web::test]
async fn accounts_chats_and_messages_survive_a_restart() {
    let db = TestDatabase::new().await;
    let client = awc::Client::default();
    let (base, stopper, store) = start(&db).await;

    let register = r#"{"user":"alice","email":"alice@example.org","password":"secret1"}"#;
    let (status, body, _) = send(
        &client,
        "POST",
        &format!("{base}/api/register"),
        None,
        register,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = activation_token(&store, "alice").await;
    let (status, _, _) = send(
        &client,
        "GET",
        &format!("{base}/api/verifyEmail/alice/{token}"),
        None,
        "",
    )
    .await;
    assert_eq!(status, 200);
    let login = r#"{"user":"alice","password":"secret1"}"#;
    let (status, body, cookie) = send(
        &client,
        "POST",
        &format!("{base}/api/authorize"),
        None,
        login,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.unwrap();
    let join = r#"{"chat":"Main"}"#;
    let (status, _, _) = send(
        &client,
        "POST",
        &format!("{base}/api/loggedonly/joinChat"),
        Some(&cookie),
        join,
    )
    .await;
    assert_eq!(status, 200);
    let post = r#"{"chat":"Main","text":"kept"}"#;
    let (status, _, _) = send(
        &client,
        "POST",
        &format!("{base}/api/loggedonly/postMessage"),
        Some(&cookie),
        post,
    )
    .await;
    assert_eq!(status, 200);
    stopper.stop().await;

    let (base, stopper, _) = start(&db).await;
    // The session, its membership and the message are all still there.
    let (status, body, _) = send(
        &client,
        "POST",
        &format!("{base}/api/loggedonly/getLastMessages"),
        Some(&cookie),
        join,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let messages: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(messages[0]["text"], "kept");
    assert_eq!(messages[0]["verified"], true);
    // And the account logs in again.
    let (status, body, _) = send(
        &client,
        "POST",
        &format!("{base}/api/authorize"),
        None,
        login,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = send(
        &client,
        "POST",
        &format!("{base}/api/register"),
        None,
        register,
    )
    .await;
    assert_eq!(status, 409, "the account is still registered");
    stopper.stop().await;
}

#[actix_web::test]
async fn killing_the_server_between_two_posts_loses_neither_message() {
    let db = TestDatabase::new().await;
    let env = [("DATABASE_URL", db.url()), ("SECRET_KEY", SECRET)];
    let client = awc::Client::default();

    let mut first = Server::start(&["-dev", "-config", "/nonexistent/chatty.toml"], &env);
    let base = format!("http://127.0.0.1:{}", first.port());
    let (_, _, cookie) = send(
        &client,
        "POST",
        &format!("{base}/api/login"),
        None,
        r#"{"user":"alice"}"#,
    )
    .await;
    let cookie = cookie.unwrap();
    let join = r#"{"chat":"Main"}"#;
    send(
        &client,
        "POST",
        &format!("{base}/api/loggedonly/joinChat"),
        Some(&cookie),
        join,
    )
    .await;
    let (status, _, _) = send(
        &client,
        "POST",
        &format!("{base}/api/loggedonly/postMessage"),
        Some(&cookie),
        r#"{"chat":"Main","text":"one"}"#,
    )
    .await;
    assert_eq!(status, 200);
    first.kill();

    let mut second = Server::start(&["-dev", "-config", "/nonexistent/chatty.toml"], &env);
    let base = format!("http://127.0.0.1:{}", second.port());
    let (status, body, _) = send(
        &client,
        "POST",
        &format!("{base}/api/loggedonly/postMessage"),
        Some(&cookie),
        r#"{"chat":"Main","text":"two"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, body, _) = send(
        &client,
        "POST",
        &format!("{base}/api/loggedonly/getLastMessages"),
        Some(&cookie),
        join,
    )
    .await;
    let messages: Value = serde_json::from_str(&body).unwrap();
    let texts: Vec<_> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["one", "two"]);
    let ids: Vec<_> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert!(ids[0] < ids[1], "{ids:?}");
    assert!(second.terminate().success());
}

#[test]
fn an_unreachable_database_at_start_is_one_clear_line_without_the_password() {
    let (code, output) = run_to_end(
        &["-dev"],
        &[
            (
                "DATABASE_URL",
                "postgres://chatty:hunter2@127.0.0.1:1/chatty",
            ),
            ("CHATTY_SERVER_LISTEN_ADDRESS", "127.0.0.1:0"),
        ],
    );
    assert_ne!(code, 0);
    let errors: Vec<_> = output
        .lines()
        .filter(|l| l.starts_with("chatty-server:"))
        .collect();
    assert_eq!(errors.len(), 1, "{output}");
    assert!(errors[0].contains("database"), "{output}");
    assert!(!output.contains("hunter2"), "the password leaked: {output}");
}

#[actix_web::test]
async fn a_database_outage_gives_503_and_the_server_recovers() {
    let db = TestDatabase::new().await;
    let client = awc::Client::default();
    let (base, stopper, _) = start(&db).await;
    let (_, _, cookie) = send(
        &client,
        "POST",
        &format!("{base}/api/login"),
        None,
        r#"{"user":"alice"}"#,
    )
    .await;
    let cookie = cookie.unwrap();

    let name = db.url().rsplit('/').next().unwrap().to_owned();
    let admin = db.url().replace(&format!("/{name}"), "/postgres");
    let sql = |q: String| {
        let admin = admin.clone();
        async move {
            use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
            let mut c = AsyncPgConnection::establish(&admin).await.unwrap();
            diesel::sql_query(q).execute(&mut c).await.unwrap();
        }
    };
    sql(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await;
    sql(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .await;

    let (status, body, _) = send(
        &client,
        "GET",
        &format!("{base}/api/loggedonly/getChats"),
        Some(&cookie),
        "",
    )
    .await;
    assert_eq!(status, 503, "{body}");
    let (status, _, _) = send(&client, "GET", &format!("{base}/readyz"), None, "").await;
    assert_eq!(status, 503, "not ready while the database is unreachable");
    assert_eq!(
        body.trim(),
        r#"{"error":"service unavailable, try again later"}"#
    );

    sql(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await;
    let mut recovered = false;
    for _ in 0..50 {
        let (status, _, _) = send(
            &client,
            "GET",
            &format!("{base}/api/loggedonly/getChats"),
            Some(&cookie),
            "",
        )
        .await;
        if status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the server did not recover");
    stopper.stop().await;
}

/// deploy/import-from-go.sh moves the original server's accounts, chats and messages into
/// chatty: passwords keep working, message ids are kept, and what chatty's rules refuse is
/// skipped rather than half-copied.
#[actix_web::test]
async fn the_go_servers_data_imports_and_its_passwords_keep_working() {
    use chatty_domain::Password;
    use chatty_domain::ports::PasswordHasher;
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

    let old = TestDatabase::new().await;
    let new = TestDatabase::new().await;
    let hash = chatty_system::BcryptHasher::new(4)
        .unwrap()
        .hash(&Password::parse("secret1").unwrap())
        .await
        .unwrap();
    // The Go server wrote `$2a$` hashes; the algorithm is the same.
    let go_hash = hash.as_str().replacen("$2b$", "$2a$", 1);
    let mut c = AsyncPgConnection::establish(old.url()).await.unwrap();
    c.batch_execute(&format!(
        r#"CREATE SCHEMA go;
        CREATE TABLE go.users (id SERIAL PRIMARY KEY, "user" VARCHAR(50) NOT NULL UNIQUE,
            email VARCHAR(50) NOT NULL UNIQUE, email_activation_token VARCHAR(50) NOT NULL,
            verified BOOLEAN NOT NULL DEFAULT FALSE, password_hash VARCHAR(255) NOT NULL,
            admin BOOLEAN NOT NULL DEFAULT FALSE,
            password_reset_token VARCHAR(50) NOT NULL DEFAULT '',
            bot BOOLEAN NOT NULL DEFAULT FALSE);
        CREATE TABLE go.chats (chat VARCHAR(50) NOT NULL UNIQUE);
        CREATE TABLE go.messages (id SERIAL PRIMARY KEY, user_id INTEGER NOT NULL,
            "user" VARCHAR(50) NOT NULL, chat VARCHAR(50) NOT NULL, text TEXT NOT NULL,
            time TIMESTAMP NOT NULL, verified BOOLEAN DEFAULT FALSE,
            bot BOOLEAN NOT NULL DEFAULT FALSE);
        INSERT INTO go.users ("user", email, email_activation_token, verified, password_hash)
        VALUES ('alice', 'alice@example.org', 'tok1', true, '{go_hash}'),
               ('Alice', 'other@example.org', 'tok2', true, '{go_hash}'),
               ('bob', 'bob@example.org', 'tok3', false, '{go_hash}');
        INSERT INTO go.chats VALUES ('Main'), ('Garden'), ('');
        INSERT INTO go.messages (id, user_id, "user", chat, text, time, verified) VALUES
            (7, 1, 'alice', 'Garden', 'from the old days, it''s "quoted", with a comma',
             '2020-06-10 07:56:05', true),
            (8, -1, 'guest', 'Garden', '', '2020-06-10 07:56:06', NULL),
            (9, -1, 'guest', 'Gone', 'chat removed long ago', '2020-06-10 07:56:07', NULL);"#
    ))
    .await
    .unwrap();
    drop(c);

    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/import-from-go.sh");
    let old_url = format!("{}?options=-csearch_path%3Dgo", old.url());
    let out = std::process::Command::new("bash")
        .arg(script)
        .args([&old_url, new.url()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let client = awc::Client::default();
    let (base, stopper, _) = start(&new).await;
    let url = |path: &str| format!("{base}{path}");
    let (status, body, cookie) = send(
        &client,
        "POST",
        &url("/api/authorize"),
        None,
        r#"{"user":"alice","password":"secret1"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""verified":true"#), "{body}");
    let cookie = cookie.unwrap();
    let (status, body, _) = send(
        &client,
        "POST",
        &url("/api/authorize"),
        None,
        r#"{"user":"bob","password":"secret1"}"#,
    )
    .await;
    assert_eq!(
        (status, body.trim_end()),
        (403, r#"{"error":"email is not verified"}"#)
    );

    let (status, body, _) = send(
        &client,
        "POST",
        &url("/api/loggedonly/joinChat"),
        Some(&cookie),
        r#"{"chat":"Garden"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    let messages = report["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{body}");
    assert_eq!(messages[0]["id"], 7);
    assert_eq!(messages[0]["time"], 1_591_775_765);
    assert_eq!(
        messages[0]["text"],
        r#"from the old days, it's "quoted", with a comma"#
    );
    let (status, body, _) = send(
        &client,
        "POST",
        &url("/api/loggedonly/postMessage"),
        Some(&cookie),
        r#"{"chat":"Garden","text":"new"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let posted: Value = serde_json::from_str(&body).unwrap();
    assert!(posted["id"].as_u64().unwrap() > 7, "{body}");

    let (_, body, _) = send(
        &client,
        "GET",
        &url("/api/loggedonly/getChats"),
        Some(&cookie),
        "",
    )
    .await;
    let chats: Vec<Value> = serde_json::from_str(&body).unwrap();
    let mut names: Vec<&str> = chats.iter().filter_map(|c| c["chat"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Garden", "Main"]);
    stopper.stop().await;
}
