//! Every migration goes up, down and up again, so every `down.sql` is exercised.

use chatty_postgres::testing::TestDatabase;
use diesel::Connection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::MigrationHarness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_go_down_and_up_again() {
    let db = TestDatabase::new().await;
    let url = db.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as Connection>::establish(&url)
            .expect("connects");
        let applied = conn.applied_migrations().expect("lists applied migrations");
        assert!(!applied.is_empty(), "the template is migrated");
        conn.revert_all_migrations(chatty_postgres::MIGRATIONS)
            .expect("every down.sql runs");
        assert!(conn.applied_migrations().expect("lists").is_empty());
        let again = conn
            .run_pending_migrations(chatty_postgres::MIGRATIONS)
            .expect("every up.sql runs again");
        assert_eq!(again.len(), applied.len());
    })
    .await
    .expect("the blocking task");
}
