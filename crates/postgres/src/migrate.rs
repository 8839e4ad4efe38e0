//! Schema migrations, embedded from `migrations/` and applied at start-up.

use chatty_domain::ports::BoxError;
use diesel::Connection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tracing::info;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Key of the advisory lock that keeps two instances starting together from migrating at once.
const MIGRATION_LOCK: i64 = 0x6368_6174_7479; // "chatty"

/// Applies pending migrations on `url`, holding an advisory lock. Returns the versions applied.
///
/// # Errors
/// When the database cannot be reached or a migration fails.
pub async fn migrate(url: &str) -> Result<Vec<String>, BoxError> {
    let url = url.to_owned();
    // Blocking: diesel's migration harness is synchronous, so it runs off the executor on a
    // wrapper of the async connection (no libpq needed).
    tokio::task::spawn_blocking(move || -> Result<Vec<String>, BoxError> {
        let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as Connection>::establish(&url)?;
        diesel::RunQueryDsl::execute(
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")),
            &mut conn,
        )?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>());
        diesel::RunQueryDsl::execute(
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")),
            &mut conn,
        )?;
        let applied = applied?;
        for version in &applied {
            info!(migration = %version, "applied migration {version}");
        }
        Ok(applied)
    })
    .await?
}
