//! The storage contract and the use-case suite of chatty-domain, run on Postgres: each test
//! on its own scratch database.

use std::sync::Arc;

use chatty_domain::contract::{RETENTION_COUNT, Stores};
use chatty_postgres::testing::TestDatabase;
use chatty_postgres::{PgSettings, PgStore};

async fn fresh() -> (Stores, TestDatabase) {
    let db = TestDatabase::new().await;
    let settings = PgSettings {
        event_retention_count: RETENTION_COUNT,
        pool_size: 8,
        ..PgSettings::default()
    };
    let store = PgStore::new(db.url(), settings).expect("a pool");
    (Stores::from_store(Arc::new(store)), db)
}

chatty_domain::store_contract!(fresh());
chatty_domain::use_case_suite!(fresh());
