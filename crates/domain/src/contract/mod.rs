//! Test support for adapter crates (feature `testing`): test doubles, the port contract suite
//! and the use-case suite, each written once and run against every store implementation, so
//! that the in-memory and the Postgres adapters cannot drift apart.
//!
//! ```ignore
//! // in an adapter crate's tests/contract.rs
//! chatty_domain::store_contract!(async { (Stores::from_store(Arc::new(MyStore::new(..))), ()) });
//! chatty_domain::use_case_suite!(async { (Stores::from_store(Arc::new(MyStore::new(..))), ()) });
//! ```
//!
//! The expression builds a fresh, empty store per test and returns it with a guard that keeps
//! any scratch resources (a database) alive for the test. Stores under test MUST be configured
//! to keep [`RETENTION_COUNT`] events per session.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test-support code: a failed expectation is a test failure"
)]

pub mod doubles;
pub mod stores;
pub mod use_cases;

use std::sync::Arc;

use crate::model::event::{Delivery, Event};

use crate::ports::{
    AccountRepository, ChatRepository, EventLog, MailOutbox, MessageRepository, SessionRepository,
};

/// Events each session keeps in stores built for these suites.
pub const RETENTION_COUNT: usize = 1500;

/// The storage ports of one store implementation.
#[derive(Clone)]
pub struct Stores {
    pub accounts: Arc<dyn AccountRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub chats: Arc<dyn ChatRepository>,
    pub messages: Arc<dyn MessageRepository>,
    pub events: Arc<dyn EventLog>,
    pub outbox: Arc<dyn MailOutbox>,
}

impl Stores {
    /// All ports from one value that implements them all.
    pub fn from_store<S>(store: Arc<S>) -> Self
    where
        S: AccountRepository
            + SessionRepository
            + ChatRepository
            + MessageRepository
            + EventLog
            + MailOutbox
            + 'static,
    {
        Self {
            accounts: store.clone(),
            sessions: store.clone(),
            chats: store.clone(),
            messages: store.clone(),
            events: store.clone(),
            outbox: store,
        }
    }
}

/// Expands to one `#[tokio::test]` per case of a suite module.
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_cases {
    ($module:ident; $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (stores, _guard) = $make.await;
                $crate::contract::$module::$case(stores).await;
            }
        )+
    };
}

/// `Type(subject)` strings for readable assertions.
pub fn describe(deliveries: &[Delivery]) -> Vec<String> {
    deliveries
        .iter()
        .map(|d| match d {
            Delivery::Resync { .. } => "ResyncEvent".to_owned(),
            Delivery::Event(e) => {
                let subject = match &e.event {
                    Event::Login(p) | Event::Logout(p) => p.user.to_string(),
                    Event::ChatJoin(j) => format!("{}@{}", j.user, j.chat),
                    Event::ChatLeave(l) => format!("{}@{}", l.user, l.chat),
                    Event::SystemMessageChatJoin(s) | Event::SystemMessageChatLeave(s) => {
                        format!("{}@{}", s.user, s.chat)
                    }
                    Event::ChatCreated(c) | Event::ChatRemoved(c) => c.chat.to_string(),
                    Event::Message(m) => format!("{}@{}:{}", m.user, m.chat, m.text),
                };
                format!("{}({subject})", e.event.type_name())
            }
        })
        .collect()
}
