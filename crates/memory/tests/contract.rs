//! The storage contract and the use-case suite of chatty-domain, run on the in-memory store.

use std::sync::Arc;

use chatty_domain::contract::{RETENTION_COUNT, Stores};
use chatty_memory::{MemoryLimits, MemoryStore};

async fn fresh() -> (Stores, ()) {
    let store = MemoryStore::new(MemoryLimits {
        event_retention_count: RETENTION_COUNT,
        ..MemoryLimits::default()
    });
    (Stores::from_store(Arc::new(store)), ())
}

chatty_domain::store_contract!(fresh());
chatty_domain::use_case_suite!(fresh());
