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

    /// A user on the coordinator's thread.
    pub fn user(&self, tag: &str) -> User {
        User::new(
            Rc::clone(&self.client),
            Rc::from(&*self.base),
            self.names.next(tag),
        )
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
