//! The edges of the HTTP layer: CORS, the cookie, static files, wrong methods, oversize and
//! malformed bodies, and the web client's flows of original-spec.md §13.

use std::path::PathBuf;

use awc::http::Method;

use crate::helpers::TestApp;

fn origin(reply: &crate::helpers::Reply) -> Option<String> {
    reply.header("access-control-allow-origin")
}

#[actix_web::test]
async fn cors_headers_are_on_successes_errors_and_preflights() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let from = [("Origin", "http://client.example")];
    let ok = c
        .send(
            Method::POST,
            "/api/login",
            Some(r#"{"user":"alice"}"#),
            &from,
        )
        .await;
    let unauthorized = app
        .client()
        .send(Method::GET, "/api/loggedonly/getChats", None, &from)
        .await;
    let missing = c.send(Method::GET, "/nothing-here.js", None, &from).await;
    let wrong_method = c.send(Method::DELETE, "/api/login", None, &from).await;
    for (reply, status) in [
        (&ok, 200),
        (&unauthorized, 401),
        (&missing, 404),
        (&wrong_method, 405),
    ] {
        assert_eq!(reply.status, status);
        assert_eq!(
            origin(reply).as_deref(),
            Some("http://client.example"),
            "{status}"
        );
        assert_eq!(
            reply.header("access-control-allow-credentials").as_deref(),
            Some("true")
        );
        assert_eq!(reply.header("vary").as_deref(), Some("Origin"));
    }
    let preflight = app
        .client()
        .send(Method::OPTIONS, "/api/loggedonly/poll", None, &from)
        .await;
    preflight.assert_empty_ok();
    assert_eq!(origin(&preflight).as_deref(), Some("http://client.example"));
    assert!(
        preflight
            .header("access-control-allow-methods")
            .unwrap()
            .contains("PUT")
    );
    let bare = app
        .client()
        .send(Method::OPTIONS, "/api/register", None, &[])
        .await;
    bare.assert_empty_ok();
    assert!(origin(&bare).is_none());
}

/// The long poll lets go of its request headers, and of the cookies and session state parsed
/// from them, before it waits: what the answer needs (the CORS origin, the session) must have
/// been taken before, and the released session state must not read as a change.
#[actix_web::test]
async fn a_long_poll_answers_with_cors_headers_and_the_session_after_waiting() {
    let app = TestApp::spawn().await;
    let from = [("Origin", "http://client.example")];
    let alice = app.guest("alice").await;
    let bob = app.guest("bob").await;
    alice.join("Main").await;
    bob.join("Main").await;
    alice.events(6).await;
    let waiting = alice.send(Method::GET, "/api/loggedonly/poll", None, &from);
    let posting = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        bob.say("Main", "ping").await
    };
    let (reply, posted) = tokio::join!(waiting, posting);
    assert_eq!(posted.status, 200);
    assert_eq!(reply.status, 200);
    assert_eq!(
        crate::helpers::describe(&[reply.json()]),
        ["MessageEvent(bob@Main:ping)"]
    );
    assert_eq!(origin(&reply).as_deref(), Some("http://client.example"));
    assert_eq!(reply.header("vary").as_deref(), Some("Origin"));
    // The session is untouched by the poll: the cookie still works, no new cookie was set.
    assert!(reply.header("set-cookie").is_none());
    assert_eq!(alice.get("/api/loggedonly/getChats").await.status, 200);
    // Refused before any wait, with the CORS headers too.
    let stranger = app
        .client()
        .send(Method::GET, "/api/loggedonly/poll", None, &from)
        .await;
    assert_eq!(stranger.status, 401);
    assert_eq!(origin(&stranger).as_deref(), Some("http://client.example"));
    // A query string that does not decode is still read from the URI.
    let bad = alice
        .send(Method::GET, "/api/loggedonly/poll?after=x", None, &from)
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(origin(&bad).as_deref(), Some("http://client.example"));
}

#[actix_web::test]
async fn outside_dev_mode_only_listed_origins_get_cors_headers() {
    let app = TestApp::spawn_with(|s| {
        s.dev = false;
        s.allowed_origins = vec!["https://ok.example".into()];
    })
    .await;
    let c = app.client();
    let listed = c
        .send(
            Method::OPTIONS,
            "/api/login",
            None,
            &[("Origin", "https://ok.example")],
        )
        .await;
    assert_eq!(origin(&listed).as_deref(), Some("https://ok.example"));
    let other = c
        .send(
            Method::POST,
            "/api/login",
            Some(r#"{"user":"x"}"#),
            &[("Origin", "https://evil.example")],
        )
        .await;
    assert_eq!(other.status, 200);
    assert!(origin(&other).is_none());
    assert!(other.header("access-control-allow-credentials").is_none());
    assert_eq!(other.header("vary").as_deref(), Some("Origin"));
}

#[actix_web::test]
async fn the_session_cookie_has_the_right_attributes_and_hides_its_content() {
    let app = TestApp::spawn().await;
    let reply = app.client().post("/api/login", r#"{"user":"alice"}"#).await;
    let cookie = reply.header("set-cookie").unwrap();
    assert!(cookie.starts_with("chatty="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "dev mode tests run on plain HTTP: {cookie}"
    );
    let value = cookie.split(';').next().unwrap();
    assert!(!value.contains("alice"), "the cookie is encrypted: {value}");

    let secure = TestApp::spawn_with(|s| s.cookie_secure = true).await;
    let reply = secure
        .client()
        .post("/api/login", r#"{"user":"alice"}"#)
        .await;
    assert!(reply.header("set-cookie").unwrap().contains("Secure"));
}

struct StaticDir(PathBuf);

impl StaticDir {
    fn new() -> Self {
        let root = std::env::temp_dir().join(format!(
            "chatty-static-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(root.join("www/sub")).unwrap();
        std::fs::write(root.join("www/index.html"), "<h1>chatty</h1>").unwrap();
        std::fs::write(root.join("www/app.js"), "console.log(1)").unwrap();
        std::fs::write(root.join("www/.secret"), "hidden").unwrap();
        std::fs::write(root.join("outside.txt"), "outside").unwrap();
        Self(root)
    }
}

impl Drop for StaticDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[actix_web::test]
async fn static_files_are_served_without_escaping_the_directory() {
    let dir = StaticDir::new();
    let www = dir.0.join("www");
    let app = TestApp::spawn_with(move |s| s.static_dir = www).await;
    let c = app.client();
    let index = c.get("/").await;
    assert_eq!(index.status, 200);
    assert_eq!(index.body, "<h1>chatty</h1>");
    let script = c.get("/app.js").await;
    assert_eq!(script.status, 200);
    assert!(
        script
            .header("content-type")
            .unwrap()
            .contains("javascript")
    );
    for path in [
        "/missing.js",
        "/.secret",
        "/sub/",
        "/sub",
        "/../outside.txt",
        "/%2e%2e/outside.txt",
        "/sub/%2E%2E/%2E%2E/outside.txt",
    ] {
        let reply = c.get(path).await;
        assert!(
            reply.status == 404 || reply.status == 400,
            "{path}: {}",
            reply.status
        );
        assert!(
            !reply.body.contains("outside") && !reply.body.contains("hidden"),
            "{path}"
        );
        reply.error();
    }
}

#[actix_web::test]
async fn wrong_methods_and_unknown_paths_get_json_errors() {
    let app = TestApp::spawn().await;
    let c = app.client();
    assert_eq!(c.get("/api/register").await.error(), "not found");
    assert_eq!(c.get("/api/loggedonly/logout").await.status, 404);
    for (method, path) in [
        (Method::PUT, "/api/register"),
        (Method::DELETE, "/x"),
        (Method::POST, "/api/loggedonly/poll"),
        (Method::POST, "/unknown"),
        (Method::POST, "/api/login/"),
    ] {
        let reply = c.send(method.clone(), path, Some("{}"), &[]).await;
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.error(), "method not allowed");
    }
}

#[actix_web::test]
async fn oversize_bodies_get_413_and_bad_input_never_a_5xx() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    alice.join("Main").await;
    let big = format!(r#"{{"user":"{}"}}"#, "x".repeat(70 * 1024));
    let reply = app.client().post("/api/login", &big).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.error(), "request body is larger than 65536 bytes");
    let big_post = format!(r#"{{"chat":"Main","text":"{}"}}"#, "x".repeat(70 * 1024));
    assert_eq!(
        alice
            .post("/api/loggedonly/postMessage", &big_post)
            .await
            .status,
        413
    );

    let huge_name = "n".repeat(5000);
    let bodies = [
        String::new(),
        "null".into(),
        "[]".into(),
        "{".into(),
        "\"just a string\"".into(),
        r#"{"chat":{"nested":true},"text":1}"#.into(),
        format!(r#"{{"chat":"{huge_name}","text":"x"}}"#),
        format!(r#"{{"chat":"Main","text":"{huge_name}"}}"#),
        r#"{"chat":"Ma\u0000in","text":"x"}"#.into(),
        "\u{feff}{}".into(),
        "\u{0}\u{1}\u{2}".into(),
    ];
    let routes = [
        "/api/register",
        "/api/authorize",
        "/api/login",
        "/api/requestResetPassword",
        "/api/resetPassword",
        "/api/resendVerification",
        "/api/loggedonly/joinChat",
        "/api/loggedonly/leaveChat",
        "/api/loggedonly/getUsers",
        "/api/loggedonly/getLastMessages",
        "/api/loggedonly/getMessages",
        "/api/loggedonly/postMessage",
        "/api/adminonly/createChat",
    ];
    for route in routes {
        for body in &bodies {
            let reply = alice.post(route, body).await;
            assert!(reply.status < 500, "{route} {body:.40}: {}", reply.status);
            if reply.status >= 400 {
                reply.error();
            }
        }
    }
    // Still serving, and alice's session is intact (one of the bodies above was a valid
    // leaveChat for Main).
    alice.join("Main").await;
    assert_eq!(alice.say("Main", "still here").await.status, 200);
    assert_eq!(
        app.client()
            .post("/api/login", r#"{"user":"bob"}"#)
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn the_web_clients_flows_work_unchanged() {
    let app = TestApp::spawn().await;
    // Page load: resume with the stored cookie, then keepalive, poll and getChats.
    let tab = app.guest("alice").await;
    let reload = app.client();
    reload.set_cookie(tab.cookie());
    let resumed = reload.post("/api/loggedonly/login", "{}").await;
    assert_eq!(resumed.json()["user"], "alice");
    reload
        .put("/api/loggedonly/keepalive")
        .await
        .assert_empty_ok();
    assert_eq!(reload.get("/api/loggedonly/getChats").await.status, 200);
    assert_eq!(reload.events(1).await[0]["type"], "LoginEvent");

    // Guest login of the tab's own name fails, the client falls back to resuming.
    assert_eq!(
        reload
            .post("/api/login", r#"{"user":"alice"}"#)
            .await
            .status,
        409
    );
    assert_eq!(reload.post("/api/loggedonly/login", "{}").await.status, 200);

    // Password login, then the client's guest login with the same name must fail so that it
    // resumes with the cookie authorize set.
    let member = app.client();
    member
        .post(
            "/api/register",
            r#"{"user":"bob","email":"bob@example.org","password":"secret1"}"#,
        )
        .await
        .assert_empty_ok();
    let token = app.activation_token("bob").await;
    member
        .get(&format!("/api/verifyEmail/bob/{token}"))
        .await
        .assert_empty_ok();
    assert_eq!(
        member
            .post("/api/authorize", r#"{"user":"bob","password":"secret1"}"#)
            .await
            .status,
        200
    );
    assert_eq!(
        member.post("/api/login", r#"{"user":"bob"}"#).await.error(),
        "unauthorized"
    );
    let resumed = member.post("/api/loggedonly/login", "{}").await;
    assert_eq!(resumed.json()["verified"], true);

    // After logout every logged-only call fails, which makes the client reset itself.
    member
        .post("/api/loggedonly/logout", "{}")
        .await
        .assert_empty_ok();
    assert_eq!(member.get("/api/loggedonly/poll").await.status, 401);
    assert_eq!(member.put("/api/loggedonly/keepalive").await.status, 401);
}

#[actix_web::test]
async fn health_and_readiness_report_the_store() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let health = c.get("/healthz").await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, "{\"status\":\"ok\"}\n")
    );
    let ready = c.get("/readyz").await;
    assert_eq!(
        (ready.status, ready.body.as_str()),
        (200, "{\"status\":\"ready\"}\n")
    );
    app.store.set_unavailable(true);
    let down = c.get("/readyz").await;
    assert_eq!(down.status, 503);
    assert_eq!(down.error(), "service unavailable, try again later");
    assert_eq!(
        c.get("/healthz").await.status,
        200,
        "alive even when the store is not"
    );
    assert_eq!(
        c.post("/api/login", r#"{"user":"alice"}"#).await.status,
        503
    );
    app.store.set_unavailable(false);
    assert_eq!(c.get("/readyz").await.status, 200);
    assert_eq!(
        c.post("/api/login", r#"{"user":"alice"}"#).await.status,
        200
    );
}

#[actix_web::test]
async fn metrics_count_requests_sessions_and_events_in_prometheus_format() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    alice.join("Main").await;
    alice.say("Main", "hello").await;
    alice.events(4).await;
    app.client().get("/nothing/here").await;
    app.client()
        .get("/api/verifyEmail/nobody/token-in-the-path")
        .await;
    let reply = app.client().get("/metrics").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = reply.body;
    for line in [
        "chatty_http_requests_total{method=\"POST\",route=\"/api/loggedonly/postMessage\",status=\"200\"} 1",
        "chatty_http_requests_total{method=\"GET\",route=\"other\",status=\"404\"} 1",
        "chatty_logged_in_users 1",
        "chatty_events_delivered_total 4",
        "chatty_waiting_polls 0",
        "chatty_open_event_streams 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    assert!(text.contains(
        "chatty_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/login\",status=\"200\""
    ));
    // A route with parameters is counted by its pattern: no path, no token, in a label.
    assert!(
        text.contains("route=\"/api/verifyEmail/{user}/{token}\""),
        "{text}"
    );
    assert!(!text.contains("token-in-the-path"));
    assert!(
        text.lines()
            .any(|l| l.starts_with("chatty_events_appended ") && l != "chatty_events_appended 0")
    );
    assert!(text.contains("chatty_mail_sent_total 0"));
}
