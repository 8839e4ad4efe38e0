//! The test server and its clients.

#![allow(
    dead_code,
    reason = "shared by every test module; each uses part of it"
)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use awc::http::Method;
use awc::http::header::{HeaderMap, SET_COOKIE};
use chatty_domain::UserName;
use chatty_domain::ports::AccountRepository;
use chatty_memory::MemoryStore;
use chatty_server::cli::{Cli, Command};
use chatty_server::config::Settings;
use chatty_server::{Application, Stopper};
use serde_json::Value;

/// A running server.
pub struct TestApp {
    pub base: String,
    pub store: Arc<MemoryStore>,
    stopper: Stopper,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server with the dev defaults, bcrypt at its cheapest cost, a short poll
    /// timeout, and whatever `tweak` changes.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        let cli = Cli {
            dev: true,
            config: "/nonexistent/chatty-api-tests.toml".into(),
            log_level: None,
            command: Command::Serve,
        };
        let env: HashMap<String, String> = [
            ("CHATTY_SERVER_LISTEN_ADDRESS", "127.0.0.1:0"),
            ("CHATTY_BCRYPT_COST", "4"),
            ("CHATTY_RESPONSE_TIMEOUT", "2s"),
            ("CHATTY_ADMINS", "root"),
            ("CHATTY_CHATS", "Main,Random"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let (mut settings, _warnings) = Settings::load(&cli, &env).expect("test settings load");
        tweak(&mut settings);
        let app = Application::build(settings)
            .await
            .expect("the server starts");
        let base = format!("http://127.0.0.1:{}", app.port());
        let store = app
            .memory_store()
            .expect("dev mode runs on the memory store");
        let stopper = app.stopper();
        tokio::spawn(app.run_until_stopped());
        Self {
            base,
            store,
            stopper,
        }
    }

    /// A client without a cookie.
    pub fn client(&self) -> Actor {
        Actor::new(&self.base)
    }

    /// A logged-in guest.
    pub async fn guest(&self, name: &str) -> Actor {
        let actor = self.client();
        let reply = actor
            .post("/api/login", &format!(r#"{{"user":"{name}"}}"#))
            .await;
        assert_eq!(reply.status, 200, "guest login of {name}: {}", reply.body);
        actor
    }

    /// Registers with password `secret1`, verifies through the link, logs in.
    pub async fn member(&self, name: &str) -> Actor {
        let actor = self.client();
        let body =
            format!(r#"{{"user":"{name}","email":"{name}@example.org","password":"secret1"}}"#);
        assert_eq!(actor.post("/api/register", &body).await.status, 200);
        let token = self.activation_token(name).await;
        let reply = actor.get(&format!("/api/verifyEmail/{name}/{token}")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let reply = actor
            .post(
                "/api/authorize",
                &format!(r#"{{"user":"{name}","password":"secret1"}}"#),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        actor
    }

    /// The activation token stored for `name` (what the mailed link carries).
    pub async fn activation_token(&self, name: &str) -> String {
        let account = self
            .store
            .find(&UserName::parse(name).unwrap())
            .await
            .unwrap()
            .expect("registered");
        account.activation.unwrap().token.expose().to_owned()
    }

    /// The reset token stored for `name`.
    pub async fn reset_token(&self, name: &str) -> String {
        let account = self
            .store
            .find(&UserName::parse(name).unwrap())
            .await
            .unwrap()
            .expect("registered");
        account.reset.unwrap().token.expose().to_owned()
    }

    pub async fn stop(&self) {
        self.stopper.stop().await;
    }
}

/// A reply, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The message of an error body, after checking the body's shape and content type.
    pub fn error(&self) -> String {
        assert!(
            self.status >= 400,
            "not an error: {} {}",
            self.status,
            self.body
        );
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/json"),
            "{self:?}"
        );
        let json = self.json();
        let object = json.as_object().expect("an object");
        assert_eq!(object.len(), 1, "only the error key: {json}");
        object["error"]
            .as_str()
            .expect("a string message")
            .to_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub fn assert_empty_ok(&self) {
        assert_eq!(self.status, 200, "{self:?}");
        assert!(self.body.is_empty(), "{self:?}");
        assert!(self.header("content-type").is_none(), "{self:?}");
    }
}

/// An HTTP client that keeps the `chatty` cookie, like a browser tab.
pub struct Actor {
    base: String,
    client: awc::Client,
    cookie: RefCell<Option<String>>,
}

impl Actor {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            client: awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .disable_redirects()
                .finish(),
            cookie: RefCell::new(None),
        }
    }

    pub fn cookie(&self) -> Option<String> {
        self.cookie.borrow().clone()
    }

    pub fn set_cookie(&self, cookie: Option<String>) {
        *self.cookie.borrow_mut() = cookie;
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &str) -> Reply {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    pub async fn put(&self, path: &str) -> Reply {
        self.send(Method::PUT, path, Some(""), &[]).await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = self.cookie.borrow().as_ref() {
            request = request.insert_header(("Cookie", format!("chatty={cookie}")));
        }
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        let mut response = match body {
            Some(body) => request.send_body(body.to_owned()).await,
            None => request.send().await,
        }
        .expect("the server answers");
        let bytes = response
            .body()
            .limit(16 * 1024 * 1024)
            .await
            .expect("a body");
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            if let Some(rest) = text.strip_prefix("chatty=") {
                let value = rest.split(';').next().unwrap_or_default();
                let cleared = value.is_empty() || text.contains("Max-Age=0");
                *self.cookie.borrow_mut() = (!cleared).then(|| value.to_owned());
            }
        }
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// One poll: the envelope, or `None` on an empty 200.
    pub async fn poll(&self) -> Option<Value> {
        let reply = self.get("/api/loggedonly/poll").await;
        assert_eq!(reply.status, 200, "{reply:?}");
        (!reply.body.is_empty()).then(|| reply.json())
    }

    /// The next `n` envelopes, from as few polls as it takes. Fails when a poll times out
    /// before `n` arrived.
    pub async fn events(&self, n: usize) -> Vec<Value> {
        let mut all = Vec::new();
        while all.len() < n {
            let reply = self
                .get(&format!("/api/loggedonly/poll?limit={}", n - all.len()))
                .await;
            assert_eq!(reply.status, 200, "{reply:?}");
            assert!(
                !reply.body.is_empty(),
                "only {} of {n} events arrived: {:?}",
                all.len(),
                describe(&all)
            );
            all.extend(
                reply
                    .json()
                    .as_array()
                    .expect("an array with limit")
                    .iter()
                    .cloned(),
            );
        }
        all
    }

    /// Asserts that no event arrives within one poll timeout.
    pub async fn assert_no_events(&self) {
        let reply = self.get("/api/loggedonly/poll?limit=100").await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(
            reply.body.is_empty(),
            "unexpected events: {:?}",
            describe(reply.json().as_array().unwrap())
        );
    }

    pub async fn join(&self, chat: &str) -> Reply {
        self.post(
            "/api/loggedonly/joinChat",
            &format!(r#"{{"chat":"{chat}"}}"#),
        )
        .await
    }

    pub async fn say(&self, chat: &str, text: &str) -> Reply {
        let body = serde_json::json!({ "chat": chat, "text": text }).to_string();
        self.post("/api/loggedonly/postMessage", &body).await
    }
}

/// `Type(subject)` of envelopes, for readable assertions.
pub fn describe(envelopes: &[Value]) -> Vec<String> {
    envelopes
        .iter()
        .map(|e| {
            let kind = e["type"].as_str().unwrap_or("?");
            let event = &e["event"];
            let subject = match kind {
                "MessageEvent" => format!(
                    "{}@{}:{}",
                    event["user"].as_str().unwrap(),
                    event["chat"].as_str().unwrap(),
                    event["text"].as_str().unwrap()
                ),
                "ChatCreatedEvent" | "ChatRemovedEvent" => {
                    event["chat"].as_str().unwrap().to_owned()
                }
                "LoginEvent" | "LogoutEvent" => event["user"].as_str().unwrap().to_owned(),
                "ResyncEvent" => String::new(),
                _ => format!(
                    "{}@{}",
                    event["user"].as_str().unwrap(),
                    event["chat"].as_str().unwrap()
                ),
            };
            format!("{kind}({subject})")
        })
        .collect()
}
