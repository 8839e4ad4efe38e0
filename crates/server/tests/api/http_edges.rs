//! The edges of the HTTP layer in depth: CORS, static files, wrong methods and paths, body
//! limits, malformed and hostile bodies, content types (original-spec.md §2; api.md §1, §2
//! items 5 and 14).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::web::Bytes;
use awc::http::Method;
use futures_util::stream;

use crate::helpers::{Actor, Reply, TestApp};

const ORIGIN: &str = "http://client.example";

fn allow_origin(reply: &Reply) -> Option<String> {
    reply.header("access-control-allow-origin")
}

/// Whether some `Vary` header of the reply names `Origin`.
fn varies_by_origin(reply: &Reply) -> bool {
    reply.headers.get_all("vary").any(|v| {
        v.to_str()
            .unwrap()
            .split(',')
            .any(|part| part.trim().eq_ignore_ascii_case("origin"))
    })
}

fn assert_cors_for(reply: &Reply, origin: &str, what: &str) {
    assert_eq!(
        allow_origin(reply).as_deref(),
        Some(origin),
        "{what}: {reply:?}"
    );
    assert_eq!(
        reply.header("access-control-allow-credentials").as_deref(),
        Some("true"),
        "{what}: {reply:?}"
    );
    assert!(varies_by_origin(reply), "{what}: {reply:?}");
}

fn assert_no_cors(reply: &Reply, what: &str) {
    for name in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
        "access-control-allow-headers",
    ] {
        assert!(reply.header(name).is_none(), "{what}: {name} in {reply:?}");
    }
    assert!(
        varies_by_origin(reply),
        "{what}: Vary: Origin always: {reply:?}"
    );
}

async fn from(
    actor: &Actor,
    method: Method,
    path: &str,
    body: Option<&str>,
    origin: &str,
) -> Reply {
    actor.send(method, path, body, &[("Origin", origin)]).await
}

// ---------------------------------------------------------------------------------------------
// CORS

#[actix_web::test]
async fn dev_mode_echoes_any_origin_on_successes_and_errors() {
    let app = TestApp::spawn().await;
    let alice = app.client();
    let login = from(
        &alice,
        Method::POST,
        "/api/login",
        Some(r#"{"user":"alice"}"#),
        ORIGIN,
    )
    .await;
    assert_eq!(login.status, 200);
    assert_cors_for(&login, ORIGIN, "login");
    let chats = from(
        &alice,
        Method::GET,
        "/api/loggedonly/getChats",
        None,
        ORIGIN,
    )
    .await;
    assert_eq!(chats.status, 200);
    assert_cors_for(&chats, ORIGIN, "getChats");
    let exposed = chats
        .header("access-control-expose-headers")
        .unwrap_or_default();
    assert!(
        exposed.to_lowercase().contains("chatty-event-id"),
        "cross-origin clients can read the snapshot header: {chats:?}"
    );

    let other = "https://elsewhere.example:8443";
    let stranger = app.client();
    for (method, path, body, status) in [
        (Method::GET, "/api/loggedonly/getChats", None, 401),
        (
            Method::POST,
            "/api/loggedonly/postMessage",
            Some(r#"{"chat":"Main","text":"x"}"#),
            401,
        ),
        (Method::GET, "/nothing-here.js", None, 404),
        (Method::GET, "/api/register", None, 404),
        (Method::DELETE, "/x", None, 405),
        (Method::POST, "/api/loggedonly/poll", Some("{}"), 405),
    ] {
        let reply = from(&stranger, method.clone(), path, body, other).await;
        assert_eq!(reply.status, status, "{method} {path}");
        reply.error();
        assert_cors_for(&reply, other, &format!("{method} {path}"));
    }
    let bad = from(
        &alice,
        Method::POST,
        "/api/loggedonly/joinChat",
        Some("[]"),
        ORIGIN,
    )
    .await;
    assert_eq!(bad.error(), "cannot parse data");
    assert_cors_for(&bad, ORIGIN, "400");

    // Without an Origin there is nothing to allow, but caches are still told.
    let plain = alice.get("/api/loggedonly/getChats").await;
    assert_eq!(plain.status, 200);
    assert_no_cors(&plain, "no Origin");
}

#[actix_web::test]
async fn preflights_are_answered_200_empty_without_a_session() {
    let app = TestApp::spawn().await;
    let c = app.client();
    for path in [
        "/api/loggedonly/poll",
        "/api/loggedonly/postMessage",
        "/api/adminonly/createChat",
        "/api/login",
    ] {
        let reply = c
            .send(
                Method::OPTIONS,
                path,
                None,
                &[
                    ("Origin", ORIGIN),
                    ("Access-Control-Request-Method", "POST"),
                    ("Access-Control-Request-Headers", "content-type"),
                ],
            )
            .await;
        reply.assert_empty_ok();
        assert_cors_for(&reply, ORIGIN, path);
        let methods = reply.header("access-control-allow-methods").unwrap();
        for method in ["POST", "GET", "OPTIONS", "PUT"] {
            assert!(methods.contains(method), "{path}: {methods}");
        }
        let headers = reply
            .header("access-control-allow-headers")
            .unwrap()
            .to_lowercase();
        assert!(headers.contains("content-type"), "{path}: {headers}");
    }
    // The original answered pre-flights without CORS request headers 200 too.
    let bare = c
        .send(Method::OPTIONS, "/api/loggedonly/poll", None, &[])
        .await;
    bare.assert_empty_ok();
    assert!(allow_origin(&bare).is_none());
}

#[actix_web::test]
async fn outside_dev_mode_only_listed_origins_get_cors_headers() {
    let app = TestApp::spawn_with(|s| {
        s.dev = false;
        s.allowed_origins = vec!["https://ok.example".into()];
    })
    .await;
    let ok = "https://ok.example";
    let c = app.client();
    let login = from(
        &c,
        Method::POST,
        "/api/login",
        Some(r#"{"user":"alice"}"#),
        ok,
    )
    .await;
    assert_eq!(login.status, 200);
    assert_cors_for(&login, ok, "listed login");
    let preflight = from(&c, Method::OPTIONS, "/api/loggedonly/poll", None, ok).await;
    preflight.assert_empty_ok();
    assert_cors_for(&preflight, ok, "listed preflight");
    let stranger = app.client();
    for (method, path, status) in [
        (Method::GET, "/api/loggedonly/getChats", 401),
        (Method::GET, "/nothing-here.js", 404),
        (Method::DELETE, "/x", 405),
    ] {
        let reply = from(&stranger, method.clone(), path, None, ok).await;
        assert_eq!(reply.status, status);
        reply.error();
        assert_cors_for(&reply, ok, &format!("listed {method} {path}"));
    }

    for (i, evil) in [
        "https://evil.example",
        "https://ok.example.evil.example",
        "http://ok.example",
        "https://OK.example:443",
        "null",
    ]
    .into_iter()
    .enumerate()
    {
        let login = from(
            &app.client(),
            Method::POST,
            "/api/login",
            Some(&format!(r#"{{"user":"bob{i}"}}"#)),
            evil,
        )
        .await;
        // The request itself is served (CORS is the browser's business), without headers.
        assert_eq!(login.status, 200, "{login:?}");
        assert_no_cors(&login, evil);
        let preflight = from(&c, Method::OPTIONS, "/api/loggedonly/poll", None, evil).await;
        assert_eq!(preflight.status, 200);
        assert_no_cors(&preflight, evil);
        let error = from(
            &stranger,
            Method::GET,
            "/api/loggedonly/getChats",
            None,
            evil,
        )
        .await;
        assert_eq!(error.status, 401);
        assert_eq!(error.error(), "user not logged in");
        assert_no_cors(&error, evil);
    }
}

#[actix_web::test]
async fn a_configured_origin_list_applies_in_dev_mode_too() {
    let app = TestApp::spawn_with(|s| s.allowed_origins = vec!["https://ok.example".into()]).await;
    let listed = from(
        &app.client(),
        Method::OPTIONS,
        "/api/login",
        None,
        "https://ok.example",
    )
    .await;
    assert_cors_for(&listed, "https://ok.example", "listed");
    let other = from(
        &app.client(),
        Method::OPTIONS,
        "/api/login",
        None,
        "https://evil.example",
    )
    .await;
    assert_no_cors(&other, "unlisted");
}

// ---------------------------------------------------------------------------------------------
// Static files

/// A static directory `<root>/www` with a file beside it that must never be served.
struct StaticDir {
    root: PathBuf,
}

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

const OUTSIDE: &str = "OUTSIDE-THE-STATIC-DIR";
const HIDDEN: &str = "HIDDEN-DOTFILE";

impl StaticDir {
    fn new() -> Self {
        let root = std::env::temp_dir().join(format!(
            "chatty-static-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::SeqCst)
        ));
        let www = root.join("www");
        std::fs::create_dir_all(www.join("sub")).unwrap();
        std::fs::create_dir_all(www.join(".git")).unwrap();
        std::fs::write(www.join("index.html"), "<!doctype html><h1>chatty</h1>").unwrap();
        std::fs::write(www.join("app.js"), "console.log('chatty');").unwrap();
        std::fs::write(www.join("sub/page.txt"), "a page").unwrap();
        std::fs::write(www.join(".secret"), HIDDEN).unwrap();
        std::fs::write(www.join(".git/config"), HIDDEN).unwrap();
        std::fs::write(root.join("Cargo.toml"), OUTSIDE).unwrap();
        std::fs::write(root.join("outside.txt"), OUTSIDE).unwrap();
        Self { root }
    }

    fn www(&self) -> PathBuf {
        self.root.join("www")
    }
}

impl Drop for StaticDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[actix_web::test]
async fn static_files_are_served_from_the_static_directory() {
    let dir = StaticDir::new();
    let www = dir.www();
    let app = TestApp::spawn_with(move |s| s.static_dir = www).await;
    let c = app.client();

    let index = c.get("/").await;
    assert_eq!(index.status, 200, "{index:?}");
    assert_eq!(index.body, "<!doctype html><h1>chatty</h1>");
    assert!(
        index
            .header("content-type")
            .unwrap()
            .starts_with("text/html"),
        "{index:?}"
    );
    let script = c.get("/app.js").await;
    assert_eq!(script.status, 200);
    assert_eq!(script.body, "console.log('chatty');");
    assert!(
        script
            .header("content-type")
            .unwrap()
            .contains("javascript"),
        "{script:?}"
    );
    let page = c.get("/sub/page.txt").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body, "a page");
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    // With an Origin the static answers carry CORS headers too.
    let cross = from(&c, Method::GET, "/app.js", None, ORIGIN).await;
    assert_eq!(cross.status, 200);
    assert_cors_for(&cross, ORIGIN, "static file");

    let missing = c.get("/missing.js").await;
    assert_eq!(missing.status, 404);
    missing.error();
    // No single-page-app fallback.
    let deep = c.get("/some/client/route").await;
    assert_eq!(deep.status, 404);
    assert!(!deep.body.contains("chatty</h1>"));
    deep.error();
    // Files are read, never written: POST on a file's path is a wrong method.
    let post = c.post("/app.js", "{}").await;
    assert_eq!(post.status, 405);
    post.error();
}

#[actix_web::test]
async fn static_files_never_leave_the_directory_nor_show_hidden_files_or_listings() {
    let dir = StaticDir::new();
    let www = dir.www();
    let outside_abs = dir.root.join("outside.txt");
    let outside_abs = outside_abs.to_str().unwrap().to_owned();
    let app = TestApp::spawn_with(move |s| s.static_dir = www).await;
    let c = app.client();
    let encoded_abs = outside_abs.replace('/', "%2F");
    let paths = [
        "/../Cargo.toml".to_owned(),
        "/../../Cargo.toml".to_owned(),
        "/sub/../../Cargo.toml".to_owned(),
        "/%2e%2e/Cargo.toml".to_owned(),
        "/%2E%2E/outside.txt".to_owned(),
        "/sub/%2e%2e/%2e%2e/outside.txt".to_owned(),
        "/..%2fCargo.toml".to_owned(),
        "/%2e%2e%2fCargo.toml".to_owned(),
        "/sub/..%5c..%5cCargo.toml".to_owned(),
        "/%252e%252e/Cargo.toml".to_owned(),
        format!("/{outside_abs}"),
        format!("/{encoded_abs}"),
        "/.secret".to_owned(),
        "/%2esecret".to_owned(),
        "/.git/config".to_owned(),
        "/sub/../.secret".to_owned(),
        "/sub/".to_owned(),
        "/sub".to_owned(),
        "/app.js%00.html".to_owned(),
    ];
    for path in &paths {
        let reply = c.get(path).await;
        assert_eq!(reply.status, 404, "{path}: {reply:?}");
        reply.error();
        assert!(
            !reply.body.contains(OUTSIDE) && !reply.body.contains(HIDDEN),
            "{path}: {}",
            reply.body
        );
        assert!(
            !reply.body.contains("page.txt"),
            "{path}: a directory listing: {}",
            reply.body
        );
    }
    // Still serving what it should.
    assert_eq!(c.get("/app.js").await.status, 200);
}

#[actix_web::test]
async fn a_missing_static_directory_only_means_404s() {
    let dir = std::env::temp_dir().join(format!(
        "chatty-static-{}-missing-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, Ordering::SeqCst)
    ));
    let app = TestApp::spawn_with(move |s| s.static_dir = dir).await;
    let c = app.client();
    for path in ["/", "/index.html", "/app.js"] {
        let reply = c.get(path).await;
        assert_eq!(reply.status, 404, "{path}");
        reply.error();
    }
    assert_eq!(
        c.post("/api/login", r#"{"user":"alice"}"#).await.status,
        200
    );
}

// ---------------------------------------------------------------------------------------------
// Wrong methods and paths

#[actix_web::test]
async fn a_get_on_a_post_only_api_path_is_a_json_404() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    for path in [
        "/api/register",
        "/api/login",
        "/api/authorize",
        "/api/loggedonly/logout",
        "/api/loggedonly/keepalive",
        "/api/loggedonly/postMessage",
        "/api/adminonly/createChat",
        "/api/login/",
        "/api/verifyEmail/alice",
    ] {
        let reply = alice.get(path).await;
        assert_eq!(reply.status, 404, "{path}: {reply:?}");
        assert_eq!(reply.error(), "not found", "{path}");
    }
}

#[actix_web::test]
async fn other_wrong_methods_and_unknown_paths_are_json_405s() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    for (method, path) in [
        (Method::PUT, "/api/register"),
        (Method::DELETE, "/api/register"),
        (Method::PATCH, "/api/login"),
        (Method::DELETE, "/x"),
        (Method::POST, "/api/loggedonly/poll"),
        (Method::POST, "/api/loggedonly/getChats"),
        (Method::POST, "/api/loggedonly/keepalive"),
        (Method::PUT, "/api/loggedonly/postMessage"),
        (Method::POST, "/unknown"),
        (Method::POST, "/api/login/"),
        (Method::POST, "/api/loggedonly/joinChat/"),
        (Method::POST, "/API/LOGIN"),
    ] {
        let reply = alice.send(method.clone(), path, Some("{}"), &[]).await;
        assert_eq!(reply.status, 405, "{method} {path}: {reply:?}");
        assert_eq!(reply.error(), "method not allowed", "{method} {path}");
    }
    // None of them did anything: alice is still logged in and in no chat.
    let chats = alice.get("/api/loggedonly/getChats").await;
    assert_eq!(chats.status, 200);
    assert!(!chats.body.contains("\"joined\":true"), "{}", chats.body);
}

// ---------------------------------------------------------------------------------------------
// Body size

#[actix_web::test]
async fn bodies_over_the_default_limit_get_a_json_413() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    let big_login = format!(r#"{{"user":"{}"}}"#, "x".repeat(70 * 1024));
    let reply = app.client().post("/api/login", &big_login).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert!(!reply.error().is_empty());
    let big_message = format!(r#"{{"chat":"Main","text":"{}"}}"#, "y".repeat(70 * 1024));
    for path in [
        "/api/loggedonly/postMessage",
        "/api/loggedonly/joinChat",
        "/api/register",
    ] {
        let reply = alice.post(path, &big_message).await;
        assert_eq!(reply.status, 413, "{path}: {reply:?}");
        reply.error();
    }
    // A body just under the limit is read (and then judged on its content).
    let under = format!(r#"{{"chat":"Main","text":"{}"}}"#, "z".repeat(65536 - 30));
    assert!(under.len() <= 65536);
    let reply = alice.post("/api/loggedonly/postMessage", &under).await;
    assert_eq!(reply.status, 400, "too long a text, not too large a body");
    assert!(reply.error().starts_with("text:"));
    // Nothing was posted, alice is still in.
    let last = alice
        .post("/api/loggedonly/getLastMessages", r#"{"chat":"Main"}"#)
        .await;
    assert_eq!(last.body, "[]\n");
}

#[actix_web::test]
async fn the_body_limit_is_configurable_and_inclusive() {
    let app = TestApp::spawn_with(|s| s.max_body_bytes = 100).await;
    let login = |user: &str, size: usize| {
        let body = format!(r#"{{"user":"{user}"}}"#);
        format!("{body}{}", " ".repeat(size - body.len()))
    };
    let exact = login("alice", 100);
    assert_eq!(exact.len(), 100);
    let reply = app.client().post("/api/login", &exact).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let over = login("bob", 101);
    let reply = app.client().post("/api/login", &over).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    reply.error();
}

#[actix_web::test]
async fn a_chunked_body_over_the_limit_gets_413_too() {
    let app = TestApp::spawn_with(|s| s.max_body_bytes = 1024).await;
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        std::iter::once(Ok(Bytes::from_static(br#"{"user":""#)))
            .chain((0..9).map(|_| Ok(Bytes::from(vec![b'x'; 128]))))
            .chain(std::iter::once(Ok(Bytes::from_static(br#""}"#))))
            .collect();
    let mut response = awc::Client::default()
        .post(format!("{}/api/login", app.base))
        .send_stream(stream::iter(chunks))
        .await
        .expect("the server answers");
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
    let body = response.body().await.unwrap();
    assert!(
        String::from_utf8_lossy(&body).starts_with("{\"error\":"),
        "{body:?}"
    );
    // A small chunked body is fine.
    let mut response = awc::Client::default()
        .post(format!("{}/api/login", app.base))
        .send_stream(stream::iter(vec![
            Ok::<_, std::io::Error>(Bytes::from_static(br#"{"user":"#)),
            Ok(Bytes::from_static(br#""alice"}"#)),
        ]))
        .await
        .expect("the server answers");
    assert_eq!(response.status().as_u16(), 200);
    response.body().await.unwrap();
}

/// Sends a raw HTTP/1.1 request and reads what comes back within a few seconds.
fn raw_request(base: &str, request: &str) -> String {
    let address = base.strip_prefix("http://").unwrap();
    let mut socket = std::net::TcpStream::connect(address).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    exchange(&mut socket, request)
}

/// Sends `request` on `socket` and reads until the end of a JSON answer (every answer the
/// raw tests expect is one), the end of the stream or the socket's read timeout.
fn exchange(socket: &mut std::net::TcpStream, request: &str) -> String {
    socket.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        match socket.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                answer.extend_from_slice(&buffer[..n]);
                if String::from_utf8_lossy(&answer).contains("\"}\n") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[actix_web::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_body_arrives() {
    let app = TestApp::spawn().await;
    let base = app.base.clone();
    let answer = tokio::task::spawn_blocking(move || {
        raw_request(
            &base,
            "POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: 10000000\r\n\r\n{\"user\":\"",
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    assert!(
        answer
            .to_lowercase()
            .contains("content-type: application/json"),
        "{answer:?}"
    );
    assert!(answer.contains("{\"error\":\""), "{answer:?}");
    // The server is fine afterwards.
    assert_eq!(
        app.client()
            .post("/api/login", r#"{"user":"alice"}"#)
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn an_idle_connection_is_closed_after_the_configured_keep_alive() {
    let app = TestApp::spawn_with(|s| s.keep_alive = Duration::from_secs(1)).await;
    let address = app.base.strip_prefix("http://").unwrap().to_owned();
    let idle = tokio::task::spawn_blocking(move || {
        let mut socket = std::net::TcpStream::connect(address).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // Requests one after another reuse the connection.
        for _ in 0..2 {
            let answer = exchange(
                &mut socket,
                "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
            );
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        }
        let idle_since = std::time::Instant::now();
        let mut buffer = [0_u8; 64];
        let n = socket.read(&mut buffer).unwrap();
        assert_eq!(
            n, 0,
            "the server closes the idle connection, sending nothing"
        );
        idle_since.elapsed()
    })
    .await
    .unwrap();
    // actix reads its clock at half-second steps: the deadline is 1 s give or take 0.5 s. The
    // default (5 s) would take far longer.
    assert!(
        idle > Duration::from_millis(400) && idle < Duration::from_secs(3),
        "closed after {idle:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Malformed and hostile bodies

/// The precise-wording routes with a valid body for a logged-in admin in `Main`.
const PRECISE: [&str; 9] = [
    "/api/loggedonly/getUsers",
    "/api/loggedonly/getLastMessages",
    "/api/loggedonly/getMessages",
    "/api/loggedonly/postMessage",
    "/api/adminonly/createChat",
    "/api/adminonly/removeChat",
    "/api/requestResetPassword",
    "/api/resetPassword",
    "/api/resendVerification",
];

#[actix_web::test]
async fn malformed_json_on_precise_routes_says_the_body_is_not_valid_json() {
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    assert_eq!(root.join("Main").await.status, 200);
    for path in PRECISE {
        for body in [
            "{",
            r#"{"chat":"#,
            r#"{"chat":"Main",}"#,
            "not json",
            r#"{'chat':'Main'}"#,
        ] {
            let reply = root.post(path, body).await;
            assert_eq!(reply.status, 400, "{path} {body}: {reply:?}");
            let message = reply.error();
            assert!(
                message.contains("not valid JSON"),
                "{path} {body}: {message}"
            );
        }
        for body in ["", "[]", "\"text\"", "42"] {
            let reply = root.post(path, body).await;
            assert_eq!(reply.status, 400, "{path} {body:?}: {reply:?}");
            let message = reply.error();
            assert_ne!(message, "cannot parse data", "{path} {body:?}");
        }
    }
    // And the legacy routes keep the original's words.
    for path in [
        "/api/register",
        "/api/authorize",
        "/api/login",
        "/api/loggedonly/joinChat",
        "/api/loggedonly/leaveChat",
    ] {
        let reply = root.post(path, "{").await;
        assert_eq!(reply.status, 400, "{path}");
        assert_eq!(reply.error(), "cannot parse data", "{path}");
    }
}

#[actix_web::test]
async fn fields_of_the_wrong_type_are_named_in_the_error() {
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    assert_eq!(root.join("Main").await.status, 200);
    for path in &PRECISE[..6] {
        for body in [
            r#"{"chat":["Main"],"text":"x"}"#,
            r#"{"chat":{"name":"Main"},"text":"x"}"#,
            r#"{"chat":7,"text":"x"}"#,
        ] {
            let reply = root.post(path, body).await;
            assert_eq!(reply.status, 400, "{path} {body}: {reply:?}");
            let message = reply.error();
            assert!(message.starts_with("chat"), "{path} {body}: {message}");
        }
    }
    for path in &PRECISE[6..] {
        let reply = root.post(path, r#"{"user":["root"]}"#).await;
        assert_eq!(reply.status, 400, "{path}: {reply:?}");
        let message = reply.error();
        assert!(message.starts_with("user"), "{path}: {message}");
    }
    assert!(
        app.client()
            .post(
                "/api/resetPassword",
                r#"{"user":"root","passwordResetToken":1,"password":"x"}"#
            )
            .await
            .error()
            .starts_with("passwordResetToken"),
    );
}

#[actix_web::test]
async fn five_thousand_character_names_and_texts_are_refused_with_4xx() {
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    assert_eq!(root.join("Main").await.status, 200);
    let long = "n".repeat(5000);
    let anonymous = app.client();
    let cases = [
        (&anonymous, "/api/login", format!(r#"{{"user":"{long}"}}"#)),
        (
            &anonymous,
            "/api/register",
            format!(r#"{{"user":"{long}","email":"x@example.org","password":"secret1"}}"#),
        ),
        (
            &anonymous,
            "/api/register",
            format!(r#"{{"user":"eve","email":"{long}@example.org","password":"secret1"}}"#),
        ),
        (
            &anonymous,
            "/api/authorize",
            format!(r#"{{"user":"{long}","password":"secret1"}}"#),
        ),
        (
            &anonymous,
            "/api/resetPassword",
            format!(r#"{{"user":"root","passwordResetToken":"{long}","password":"secret2"}}"#),
        ),
        (
            &root,
            "/api/loggedonly/joinChat",
            format!(r#"{{"chat":"{long}"}}"#),
        ),
        (
            &root,
            "/api/loggedonly/leaveChat",
            format!(r#"{{"chat":"{long}"}}"#),
        ),
        (
            &root,
            "/api/loggedonly/getUsers",
            format!(r#"{{"chat":"{long}"}}"#),
        ),
        (
            &root,
            "/api/loggedonly/getLastMessages",
            format!(r#"{{"chat":"{long}"}}"#),
        ),
        (
            &root,
            "/api/adminonly/createChat",
            format!(r#"{{"chat":"{long}"}}"#),
        ),
        (
            &root,
            "/api/adminonly/removeChat",
            format!(r#"{{"chat":"{long}"}}"#),
        ),
        (
            &root,
            "/api/loggedonly/postMessage",
            format!(r#"{{"chat":"{long}","text":"x"}}"#),
        ),
        (
            &root,
            "/api/loggedonly/postMessage",
            format!(r#"{{"chat":"Main","text":"{}"}}"#, "t".repeat(5000)),
        ),
    ];
    for (actor, path, body) in &cases {
        let reply = actor.post(path, body).await;
        assert!(
            (400..500).contains(&reply.status),
            "{path}: {} {}",
            reply.status,
            reply.body
        );
        assert!(!reply.error().is_empty());
    }
    // Nothing of it was stored.
    let chats = root.get("/api/loggedonly/getChats").await.json();
    assert_eq!(chats.as_array().unwrap().len(), 2, "{chats}");
    let last = root
        .post("/api/loggedonly/getLastMessages", r#"{"chat":"Main"}"#)
        .await;
    assert_eq!(last.body, "[]\n");
}

#[actix_web::test]
async fn request_bodies_are_json_whatever_their_content_type() {
    let app = TestApp::spawn().await;
    for (user, content_type) in [
        ("alice", "text/plain"),
        ("bob", "application/x-www-form-urlencoded"),
        ("carol", "multipart/form-data; boundary=x"),
        ("dave", "application/json; charset=utf-8"),
    ] {
        let c = app.client();
        let reply = c
            .send(
                Method::POST,
                "/api/login",
                Some(&format!(r#"{{"user":"{user}"}}"#)),
                &[("Content-Type", content_type)],
            )
            .await;
        assert_eq!(reply.status, 200, "{content_type}: {reply:?}");
        assert_eq!(reply.json()["user"], user);
    }
}

// ---------------------------------------------------------------------------------------------
// Content types, and still serving

fn assert_json_body(reply: &Reply, what: &str) {
    assert!(!reply.body.is_empty(), "{what}: {reply:?}");
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json"),
        "{what}: {reply:?}"
    );
    assert!(reply.body.ends_with('\n'), "{what}: {:?}", reply.body);
    reply.json();
}

#[actix_web::test]
async fn json_bodies_are_application_json_and_empty_200s_have_no_content_type() {
    let app = TestApp::spawn().await;
    // Registered and verified; the session it opens is replaced by the authorize below.
    let _first = app.member("root").await;
    let root = app.client();
    let authorize = root
        .post("/api/authorize", r#"{"user":"root","password":"secret1"}"#)
        .await;
    assert_eq!(authorize.status, 200);
    assert_json_body(&authorize, "authorize");
    let alice = app.client();
    let login = alice.post("/api/login", r#"{"user":"alice"}"#).await;
    assert_eq!(login.status, 200);
    assert_json_body(&login, "login");

    let bodies = [
        alice.post("/api/loggedonly/login", "{}").await,
        alice.join("Main").await,
        alice.get("/api/loggedonly/poll").await,
        alice.get("/api/loggedonly/poll?limit=5").await,
        alice.get("/api/loggedonly/getChats").await,
        alice
            .post("/api/loggedonly/getUsers", r#"{"chat":"Main"}"#)
            .await,
        alice.say("Main", "hello").await,
        alice
            .post("/api/loggedonly/getLastMessages", r#"{"chat":"Main"}"#)
            .await,
        alice
            .post(
                "/api/loggedonly/getMessages",
                r#"{"chat":"Main","limit":5}"#,
            )
            .await,
        alice.get("/healthz").await,
    ];
    for (i, reply) in bodies.iter().enumerate() {
        assert_eq!(reply.status, 200, "#{i}: {reply:?}");
        assert_json_body(reply, &format!("#{i}"));
    }
    let errors = [
        app.client().get("/api/loggedonly/getChats").await,
        alice.post("/api/loggedonly/joinChat", "[]").await,
        alice.post("/api/loggedonly/getUsers", "{").await,
        alice
            .post("/api/adminonly/createChat", r#"{"chat":"X"}"#)
            .await,
        app.client().get("/nothing").await,
        app.client().send(Method::DELETE, "/x", None, &[]).await,
        app.client()
            .post("/api/register", &"x".repeat(70 * 1024))
            .await,
    ];
    for reply in &errors {
        assert_json_body(reply, &format!("{}", reply.status));
        reply.error();
    }

    let empties = [
        alice.put("/api/loggedonly/keepalive").await,
        alice
            .post("/api/loggedonly/leaveChat", r#"{"chat":"Main"}"#)
            .await,
        root.post("/api/adminonly/createChat", r#"{"chat":"X"}"#)
            .await,
        root.post("/api/adminonly/removeChat", r#"{"chat":"X"}"#)
            .await,
        app.client()
            .post(
                "/api/register",
                r#"{"user":"bob","email":"bob@example.org","password":"secret1"}"#,
            )
            .await,
        app.client()
            .post("/api/requestResetPassword", r#"{"user":"nobody"}"#)
            .await,
        app.client()
            .send(Method::OPTIONS, "/api/login", None, &[])
            .await,
    ];
    for (i, reply) in empties.iter().enumerate() {
        assert!(reply.status == 200, "#{i}: {reply:?}");
        reply.assert_empty_ok();
    }
    // A poll with nothing to deliver (after the events above are taken) ends empty too.
    let cursor = app.client();
    cursor.set_cookie(alice.cookie());
    while !cursor
        .get("/api/loggedonly/poll?limit=100")
        .await
        .body
        .is_empty()
    {}
    cursor.get("/api/loggedonly/poll").await.assert_empty_ok();
    alice
        .post("/api/loggedonly/logout", "")
        .await
        .assert_empty_ok();
}

#[actix_web::test]
async fn the_server_keeps_serving_after_hostile_traffic() {
    let app = TestApp::spawn().await;
    let alice = app.guest("alice").await;
    assert_eq!(alice.join("Main").await.status, 200);
    let junk: Vec<String> = vec![
        String::new(),
        "\u{0}\u{1}\u{2}".into(),
        "\u{feff}{}".into(),
        "{".repeat(10_000),
        "[".repeat(10_000),
        format!("{}{}", "{\"a\":".repeat(2000), "}".repeat(2000)),
        r#"{"chat":"Main","text":"\ud800"}"#.into(),
        r#"{"chat":"Ma\u0000in","text":"\u0000"}"#.into(),
        "\"\\".into(),
        "x".repeat(60_000),
    ];
    for path in [
        "/api/login",
        "/api/register",
        "/api/authorize",
        "/api/loggedonly/joinChat",
        "/api/loggedonly/postMessage",
        "/api/loggedonly/getMessages",
        "/api/adminonly/createChat",
    ] {
        for body in &junk {
            let reply = alice.post(path, body).await;
            assert!(
                (400..500).contains(&reply.status),
                "{path} {body:.40?}: {reply:?}"
            );
            reply.error();
        }
    }
    for path in [
        "/%",
        "/%zz",
        "/a%00b",
        "/%ff%fe",
        "/api/verifyEmail/%ff/%fe",
    ] {
        let reply = alice.get(path).await;
        assert!((400..500).contains(&reply.status), "{path}: {reply:?}");
        reply.error();
    }
    // Alice is still logged in and in Main, and new users are served.
    assert_eq!(alice.say("Main", "still here").await.status, 200);
    let bob = app.guest("bob").await;
    assert_eq!(bob.join("Main").await.status, 200);
    let last = bob
        .post("/api/loggedonly/getLastMessages", r#"{"chat":"Main"}"#)
        .await;
    assert_eq!(last.json()[0]["text"], "still here");
    assert_eq!(app.client().get("/healthz").await.status, 200);
}
