//! The three measurements, and what they share: the target server, unique guest names, the
//! ways a client receives events, and bounded waits.

pub mod fanout;
pub mod idle;
pub mod request;

use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use awc::Client;

use crate::client::{Error, Result, User};
use crate::server::Memory;

/// How many virtual users log in and join at the same time: enough to be quick, few enough
/// not to open thousands of connections for the set-up alone.
pub const SETUP_CONCURRENCY: usize = 128;

/// How a receiver gets its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// `GET /api/loggedonly/poll` (one event per request).
    Poll,
    /// `GET /api/loggedonly/events` (Server-Sent Events).
    Sse,
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Poll => "poll",
            Self::Sse => "sse",
        })
    }
}

/// Unique, valid guest names (1–50 characters): `b<run>-<tag><n>`.
pub struct Names {
    prefix: String,
    next: AtomicU64,
}

impl Names {
    pub fn new(run: &str) -> Self {
        Self {
            prefix: format!("b{run}-"),
            next: AtomicU64::new(0),
        }
    }

    pub fn next(&self, tag: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{}{tag}{n}", self.prefix)
    }
}

/// The server a scenario measures.
pub struct Ctx {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base: Arc<str>,
    pub chat: Arc<str>,
    /// `memory`, `postgres` or the `--url`.
    pub server: String,
    /// The server process, for its memory.
    pub pid: Option<u32>,
    /// Log the virtual users out at the end: only on a server the bench did not start (its
    /// own servers are stopped after each scenario).
    pub cleanup: bool,
    pub names: Arc<Names>,
    /// The coordinator's client (the main thread's).
    pub client: Rc<Client>,
}

impl Ctx {
    pub fn memory(&self) -> Option<Memory> {
        self.pid.and_then(Memory::of)
    }

    /// The server's and the bench's CPU time so far (ns); the server's `None` without its pid.
    pub fn cpu_ns(&self) -> (Option<u64>, Option<u64>) {
        (
            self.pid.and_then(crate::server::cpu_ns),
            crate::server::cpu_ns(std::process::id()),
        )
    }

    /// A user on the coordinator's thread.
    pub fn user(&self, tag: &str) -> User {
        User::new(
            Rc::clone(&self.client),
            Rc::from(&*self.base),
            self.names.next(tag),
        )
    }
}

/// How often a set-up step answered 503 or cut off is tried, and the pause between two tries.
const SETUP_TRIES: u32 = 40;
const SETUP_PAUSE: Duration = Duration::from_millis(250);

/// Logs `user` in and joins `chat`, for a scenario's set-up; the join's `Chatty-Event-Id`.
/// A 503 ("try again later") or a request whose connection failed before an answer is tried
/// again after a pause, and noted in `retried`: thousands of logins at once can outrun a
/// server's store, a pooled connection can be closed by the server's keep-alive timeout just
/// as the request goes out (a browser sends such a request again too), and the set-up is not
/// what a scenario measures. A join answered 503 or cut off may have committed; tried again,
/// it is refused as a duplicate (409), and the cursor is then taken from a getChats.
pub async fn log_in_and_join(user: &mut User, chat: &str, retried: &Errors) -> Result<Option<u64>> {
    let mut tries = 1;
    loop {
        match user.login().await {
            Err(e) if is_transient(&e) && tries < SETUP_TRIES => retried.note(&e),
            outcome => break outcome?,
        }
        tries += 1;
        tokio::time::sleep(SETUP_PAUSE).await;
    }
    let mut joined_before = false;
    loop {
        match user.join(chat).await {
            Err(e) if is_transient(&e) && tries < SETUP_TRIES => {
                retried.note(&e);
                joined_before = true;
            }
            Err(Error::Status { status: 409, .. }) if joined_before => {
                return user.get_chats().await.map(Some);
            }
            outcome => return outcome,
        }
        tries += 1;
        tokio::time::sleep(SETUP_PAUSE).await;
    }
}

/// A failure the same request may not meet again: the server busy, or no answer at all.
fn is_transient(error: &Error) -> bool {
    matches!(
        error,
        Error::Status { status: 503, .. } | Error::Http { .. }
    )
}

/// How often a user waiting for the others keeps its session alive: well inside a server's
/// inactivity timeout (60 s by default), which a set-up of thousands or a long phase can
/// outlast.
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(20);

/// Runs `work` while `user` waits for it, keeping the session alive meanwhile; a keepalive
/// that failed every try is noted in `errors`.
pub async fn keeping_alive<T>(
    user: &mut User,
    errors: &Errors,
    work: impl std::future::Future<Output = T>,
) -> T {
    keeping_alive_every(KEEPALIVE_EVERY, user, errors, work).await
}

/// `keeping_alive` with a keepalive every `every`.
pub async fn keeping_alive_every<T>(
    every: Duration,
    user: &mut User,
    errors: &Errors,
    work: impl std::future::Future<Output = T>,
) -> T {
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            () = tokio::time::sleep(every) => {
                if let Err(e) = keep_alive(user).await {
                    errors.note(&e);
                }
            }
        }
    }
}

/// How often a keepalive meeting a transient failure is tried: a user whose keepalives all
/// fail is logged out by the server's inactivity sweep, and its next poll is refused.
const KEEPALIVE_TRIES: u32 = 4;

/// `PUT keepalive`, tried again after a pause when it was answered 503 or cut off (a pooled
/// connection closed by the server's keep-alive timeout as the request went out).
async fn keep_alive(user: &mut User) -> Result<()> {
    let mut tries = 1;
    loop {
        match user.keepalive().await {
            Err(e) if is_transient(&e) && tries < KEEPALIVE_TRIES => {}
            outcome => return outcome,
        }
        tries += 1;
        tokio::time::sleep(SETUP_PAUSE).await;
    }
}

/// The first error of many, and how many there were.
#[derive(Default)]
pub struct Errors {
    count: AtomicU64,
    first: Mutex<Option<String>>,
}

impl Errors {
    pub fn note(&self, error: &Error) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first.lock().unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            *first = Some(error.to_string());
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn first(&self) -> Option<String> {
        self.first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `; first error: …` when there was one.
    pub fn suffix(&self) -> String {
        self.first()
            .map(|e| format!("; first error: {e}"))
            .unwrap_or_default()
    }
}

/// Waits until `done()` holds, checking every 20 ms, for at most `limit`; whether it held.
pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Awaits the virtual users' tasks for at most `limit` altogether (they end on their own once
/// told to stop); the errors they returned.
pub async fn collect<T>(
    tasks: Vec<tokio::sync::oneshot::Receiver<Result<T>>>,
    limit: Duration,
) -> (Vec<T>, Vec<Error>) {
    let deadline = tokio::time::Instant::now() + limit;
    let (mut done, mut errors) = (Vec::new(), Vec::new());
    for task in tasks {
        match tokio::time::timeout_at(deadline, crate::pool::outcome(task)).await {
            Ok(Ok(value)) => done.push(value),
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push(Error::other("a virtual user did not stop in time")),
        }
    }
    (done, errors)
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::{Errors, keep_alive, log_in_and_join};
    use crate::client::{Error, User, new_client};

    /// A server that answers the requests it gets, one per connection, with `answers` in
    /// order: (status, extra header lines, body); status 0 closes the connection without an
    /// answer. What it was asked is sent back at the end.
    pub(crate) async fn canned(
        answers: Vec<(u16, &'static str, &'static str)>,
    ) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let mut asked = Vec::new();
            for (status, headers, body) in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = vec![0; 4096];
                let n = socket.read(&mut request).await.unwrap();
                let text = String::from_utf8_lossy(&request[..n]).into_owned();
                asked.push(text.lines().next().unwrap_or_default().to_owned());
                if status == 0 {
                    continue;
                }
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(reply.as_bytes()).await.unwrap();
            }
            asked
        });
        (base, server)
    }

    const BUSY: (u16, &str, &str) = (
        503,
        "",
        r#"{"error":"service unavailable, try again later"}"#,
    );
    const LOGGED_IN: (u16, &str, &str) = (200, "Set-Cookie: chatty=abc; Path=/\r\n", "{}");
    const CUT_OFF: (u16, &str, &str) = (0, "", "");

    /// awc spawns onto a `LocalSet`, as on the bench's worker threads.
    pub(crate) fn run_local<F: std::future::Future<Output = ()>>(test: F) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&runtime, test);
    }

    #[test]
    fn set_up_tries_a_busy_or_cut_off_request_again_and_takes_a_committed_join_as_joined() {
        run_local(set_up_tries_again());
    }

    async fn set_up_tries_again() {
        let (base, server) = canned(vec![
            BUSY,
            CUT_OFF,
            LOGGED_IN,
            BUSY,
            CUT_OFF,
            (409, "", r#"{"error":"already in chat"}"#),
            (200, "Chatty-Event-Id: 42\r\n", "[]"),
        ])
        .await;
        let mut user = User::new(Rc::new(new_client()), Rc::from(base.as_str()), "b1".into());
        let retried = Errors::default();
        let cursor = log_in_and_join(&mut user, "Main", &retried).await.unwrap();
        assert_eq!(cursor, Some(42));
        assert_eq!(retried.count(), 4);
        let asked = server.await.unwrap();
        assert_eq!(
            asked,
            [
                "POST /api/login HTTP/1.1",
                "POST /api/login HTTP/1.1",
                "POST /api/login HTTP/1.1",
                "POST /api/loggedonly/joinChat HTTP/1.1",
                "POST /api/loggedonly/joinChat HTTP/1.1",
                "POST /api/loggedonly/joinChat HTTP/1.1",
                "GET /api/loggedonly/getChats HTTP/1.1",
            ]
        );
    }

    #[test]
    fn set_up_fails_on_a_refusal_that_is_not_busy() {
        run_local(set_up_fails());
    }

    async fn set_up_fails() {
        let (base, server) =
            canned(vec![LOGGED_IN, (409, "", r#"{"error":"already in chat"}"#)]).await;
        let mut user = User::new(Rc::new(new_client()), Rc::from(base.as_str()), "b2".into());
        let retried = Errors::default();
        let outcome = log_in_and_join(&mut user, "Main", &retried).await;
        assert!(
            matches!(outcome, Err(Error::Status { status: 409, .. })),
            "{outcome:?}"
        );
        assert_eq!(retried.count(), 0);
        server.await.unwrap();
    }

    #[test]
    fn a_keepalive_cut_off_or_busy_is_tried_again_a_bounded_number_of_times() {
        run_local(keepalive_tries_again());
    }

    async fn keepalive_tries_again() {
        let (base, server) = canned(vec![CUT_OFF, BUSY, (200, "", "")]).await;
        let mut user = User::new(Rc::new(new_client()), Rc::from(base.as_str()), "k1".into());
        keep_alive(&mut user).await.unwrap();
        assert_eq!(server.await.unwrap().len(), 3);

        let (base, server) = canned(vec![CUT_OFF; 4]).await;
        let mut user = User::new(Rc::new(new_client()), Rc::from(base.as_str()), "k2".into());
        let outcome = keep_alive(&mut user).await;
        assert!(matches!(outcome, Err(Error::Http { .. })), "{outcome:?}");
        assert_eq!(
            server.await.unwrap(),
            ["PUT /api/loggedonly/keepalive HTTP/1.1"; 4]
        );
    }
}
