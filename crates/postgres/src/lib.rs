//! Postgres implementation of chatty's storage ports, over diesel and diesel-async, so that
//! several server instances share one database.
//!
//! Every transaction that changes state and appends events first locks the single row of
//! `event_log`. That serialises writers the way the in-memory store's mutex does: event ids
//! are handed out in commit order, so a reader can never skip an id that becomes visible later,
//! and each event's audience is computed against the state its own transaction sees.

mod accounts;
mod activity;
mod chats;
mod cursors;
mod events;
mod follow;
mod maintenance;
mod messages;
mod migrate;
mod outbox;
mod recent;
mod schema;
mod sessions;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::Duration;

use chatty_domain::ports::{BoxError, Conflict, StoreError};
use chatty_domain::{EventId, Timestamp};
use chrono::{DateTime, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use tokio::sync::watch;

pub use migrate::{MIGRATIONS, migrate};

/// Settings of the store.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// Connections in the pool.
    pub pool_size: usize,
    /// How long a request waits for a connection before it gets 503.
    pub pool_timeout: Duration,
    /// Events kept (`EventRetentionCount`); older ones are pruned as new ones arrive.
    pub event_retention_count: usize,
    /// The newest events each instance keeps decoded for its readers; a reader further behind
    /// reads the table. Who reads a chat event follows from the membership spans the window
    /// keeps beside them, one per membership.
    pub recent_events: usize,
}

impl Default for PgSettings {
    fn default() -> Self {
        Self {
            pool_size: 16,
            pool_timeout: Duration::from_secs(5),
            event_retention_count: 10_000,
            recent_events: 1_024,
        }
    }
}

/// The Postgres store: implements every storage port.
pub struct PgStore {
    pool: Pool<AsyncPgConnection>,
    settings: PgSettings,
    /// The newest event id this process knows of; waiting polls watch it.
    newest: watch::Sender<u64>,
    /// For the dedicated listening connection.
    url: String,
    /// The newest events, shared by this instance's readers.
    recent: recent::Recent,
    /// Sessions read for recently, checked against the newest events instead of the table.
    live: events::LiveSessions,
    /// Legacy-poll cursor moves, written in batches.
    cursors: std::sync::Arc<cursors::CursorMoves>,
    /// Session activity, written in batches.
    activity: std::sync::Arc<activity::ActivityWrites>,
}

impl PgStore {
    /// A store on `url`. Connections are made lazily; nothing is contacted here.
    ///
    /// # Errors
    /// When the pool cannot be built (a malformed setting).
    pub fn new(url: &str, settings: PgSettings) -> Result<Self, BoxError> {
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .wait_timeout(Some(settings.pool_timeout))
            .create_timeout(Some(settings.pool_timeout))
            .recycle_timeout(Some(settings.pool_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()?;
        Ok(Self {
            pool,
            // Count retention deletes all but the newest `event_retention_count` events, so a
            // window no longer than that never holds one the table lost that way.
            recent: recent::Recent::new(settings.recent_events.min(settings.event_retention_count)),
            live: events::LiveSessions::default(),
            cursors: std::sync::Arc::default(),
            activity: std::sync::Arc::default(),
            settings,
            newest: watch::Sender::new(0),
            url: url.to_owned(),
        })
    }

    /// A fresh database and a pool on it as the store builds it, for the tests of the parts
    /// that work on connections of their own (the batch writers, the window of recent events).
    #[cfg(test)]
    pub(crate) async fn test_pool() -> (testing::TestDatabase, Pool<AsyncPgConnection>) {
        let db = testing::TestDatabase::new().await;
        let pool = Self::new(db.url(), PgSettings::default())
            .expect("a pool on the test database")
            .pool;
        (db, pool)
    }

    /// `test_pool` holding `n` sessions `u1` to `un`, last active an hour ago, each with its
    /// first event 1 and its cursor at 0: rows for the batched session writes to update.
    #[cfg(test)]
    pub(crate) async fn test_pool_with_sessions(
        n: u32,
    ) -> (testing::TestDatabase, Pool<AsyncPgConnection>) {
        use diesel_async::RunQueryDsl;
        let (db, pool) = Self::test_pool().await;
        let mut conn = pool.get().await.expect("a connection");
        diesel::sql_query(
            "INSERT INTO sessions (user_key, user_name, token, verified, admin, bot, \
             registered, last_active, first_event, cursor) \
             SELECT 'u' || n, 'u' || n, 't' || n, false, false, false, false, \
                    now() - interval '1 hour', 1, 0 FROM generate_series(1, $1) AS n",
        )
        .bind::<diesel::sql_types::Integer, _>(i32::try_from(n).expect("a count of sessions"))
        .execute(&mut conn)
        .await
        .expect("the sessions are inserted");
        (db, pool)
    }

    async fn conn(&self) -> Result<Object<AsyncPgConnection>, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(e)))
    }

    /// Records that events up to `last` exist, waking local waiters.
    fn announce(&self, last: u64) {
        if self.learn(last) {
            self.wake();
        }
    }

    /// Records that events up to `last` exist without waking the waiters yet; whether that
    /// was news. Session checks (`newest_known`) count on it at once: an end of a session on
    /// another instance must be seen as soon as its notification is here.
    fn learn(&self, last: u64) -> bool {
        let mut newer = false;
        self.newest.send_if_modified(|known| {
            newer = last > *known;
            if newer {
                *known = last;
            }
            false
        });
        newer
    }

    /// Wakes the local waiters to read what `learn` recorded.
    fn wake(&self) {
        self.newest.send_modify(|_| ());
    }

    /// Announces events appended elsewhere (or by this instance, whose own notification comes
    /// back too) once they are in the window of recent events, for the reason `write` gives.
    async fn load_and_announce(&self, last: u64) {
        if !self.learn(last) {
            return;
        }
        let loaded = self
            .recent
            .catch_up(db_id(EventId(last)), async || self.conn().await)
            .await;
        warn_unless_loaded(loaded);
        self.wake();
    }

    /// Checks the newest event id in the database and wakes local waiters if it moved: how
    /// events appended by other instances reach the polls waiting here.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn refresh(&self) -> Result<EventId, StoreError> {
        let state = events::log_state(&mut *self.conn().await?)
            .await
            .map_err(store_error)?;
        // Deletions by age on another instance reach this one here (they notify `pruned`).
        self.recent.forget_through(state.pruned_through);
        let last = event_id(state.last_id);
        self.announce(last.0);
        Ok(last)
    }

    /// What the database server's settings would make go wrong over time, one sentence each
    /// (see `maintenance`): for the log at start-up.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn maintenance_warnings(&self) -> Result<Vec<&'static str>, StoreError> {
        let settings = maintenance::read(&mut *self.conn().await?)
            .await
            .map_err(store_error)?;
        Ok(maintenance::warnings(&settings))
    }

    /// Whether the database answers (readiness).
    ///
    /// # Errors
    /// When it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.refresh().await.map(|_| ())
    }
}

/// Runs `batch` 25 times in each of four tasks at once and fails on its first error: how the
/// tests of the batched session writes make overlapping batches.
#[cfg(test)]
pub(crate) async fn run_overlapping<F, Fut>(pool: &Pool<AsyncPgConnection>, batch: F)
where
    F: Fn(Pool<AsyncPgConnection>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (batch, pool) = (batch.clone(), pool.clone());
            tokio::spawn(async move {
                for _ in 0..25 {
                    batch(pool.clone()).await?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for writer in writers {
        writer
            .await
            .expect("the writer ran to its end")
            .expect("every batch is written");
    }
}

/// A load of new events before waking their readers that failed: the readers load them
/// themselves (`Recent::catch_up`), so it is only worth a warning.
fn warn_unless_loaded(loaded: Result<(), TxError>) {
    if let Err(e) = loaded {
        let e = StoreError::from(e);
        tracing::warn!(error = %e, "could not load new events before announcing them");
    }
}

/// An error inside a transaction: the database's, or a refusal the port reports.
#[derive(Debug)]
pub(crate) enum TxError {
    Db(DieselError),
    Store(StoreError),
}

impl From<DieselError> for TxError {
    fn from(e: DieselError) -> Self {
        TxError::Db(e)
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

impl From<TxError> for StoreError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Store(e) => e,
            TxError::Db(e) => store_error(e),
        }
    }
}

/// Translates a database error at the seam: unique violations become the domain's conflicts
/// (by constraint), everything else is "unavailable" with the database's error as the source.
pub(crate) fn store_error(e: DieselError) -> StoreError {
    if let DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = &e {
        let conflict = match info.constraint_name() {
            Some("accounts_pkey") => Some(Conflict::UserName),
            Some("accounts_email_key_key") => Some(Conflict::Email),
            Some("chats_pkey") => Some(Conflict::ChatName),
            Some("memberships_pkey") => Some(Conflict::Membership),
            Some("sessions_pkey") => Some(Conflict::Session),
            _ => None,
        };
        if let Some(conflict) = conflict {
            return StoreError::Conflict(conflict);
        }
    }
    StoreError::Unavailable(Box::new(e))
}

pub(crate) fn to_db_time(t: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.millis()).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub(crate) fn from_db_time(t: DateTime<Utc>) -> Timestamp {
    Timestamp::from_millis(t.timestamp_millis())
}

pub(crate) fn event_id(raw: i64) -> EventId {
    EventId(u64::try_from(raw).unwrap_or(0))
}

pub(crate) fn db_id(id: EventId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

/// The body of a write transaction.
pub(crate) type TxFuture<'c, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, TxError>> + Send + 'c>>;

/// What a write transaction hands back besides its result: the events it appended.
pub(crate) struct Appended {
    pub(crate) last: Option<u64>,
}

impl PgStore {
    /// Runs a write transaction that locks the event log first, then announces what it
    /// appended once it committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send,
        F: for<'c> FnOnce(&'c mut AsyncPgConnection, &'c mut events::Log) -> TxFuture<'c, T> + Send,
    {
        use diesel_async::AsyncConnection;
        let mut conn = self.conn().await?;
        let retention = self.settings.event_retention_count;
        let (value, appended) = conn
            .transaction::<_, TxError, _>(async move |c| {
                let mut log = events::Log::lock(c, retention).await?;
                let value = f(c, &mut log).await?;
                let appended = log.finish(c).await?;
                Ok((value, appended))
            })
            .await?;
        if let Some(last) = appended.last {
            let news = self.learn(last);
            // Loaded before the announcement, on the connection at hand: the waiting readers
            // then wake once and find the events in memory. Woken first, every one of them
            // would find the load missing, wait for one of them to make it and wake again; a
            // thousand waiting polls took 4 ms for that second round. A load that fails or is
            // already under way leaves it to the readers (`Recent::catch_up`).
            warn_unless_loaded(
                self.recent
                    .load_through(&mut conn, db_id(EventId(last)))
                    .await,
            );
            // Not news: the follower learned it first, from this instance's own notification,
            // and wakes the waiters once it has loaded it.
            if news {
                self.wake();
            }
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chatty_domain::ChatName;
    use chatty_domain::ports::{ChatRepository, EventLog};

    use super::*;

    async fn two_instances() -> (testing::TestDatabase, Arc<PgStore>, Arc<PgStore>) {
        let db = testing::TestDatabase::new().await;
        let store = || Arc::new(PgStore::new(db.url(), PgSettings::default()).expect("a pool"));
        let (a, b) = (store(), store());
        (db, a, b)
    }

    fn chat(name: &str) -> ChatName {
        ChatName::parse(name).unwrap()
    }

    /// Readers woken by an append find its events in memory: one round of wake-ups per
    /// event, not one to find the load missing and another when it ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appended_events_are_in_the_window_when_they_are_announced() {
        let (_db, a, _) = two_instances().await;
        let mut newest = a.newest.subscribe();
        a.create_chat(&chat("Main"), Timestamp::from_millis(0))
            .await
            .unwrap();
        assert!(newest.has_changed().unwrap(), "the append was announced");
        let announced = i64::try_from(*newest.borrow_and_update()).unwrap();
        assert!(announced > 0);
        assert_eq!(a.recent.through(), announced);
    }

    /// The same for events another instance appended, announced here by the follower.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_of_another_instance_are_in_the_window_when_they_are_announced() {
        let (_db, a, b) = two_instances().await;
        tokio::spawn(Arc::clone(&a).follow());
        // The follower reads the table once it listens; then it has nothing left to load.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut newest = a.newest.subscribe();
        b.create_chat(&chat("Main"), Timestamp::from_millis(0))
            .await
            .unwrap();
        let last = b.last_id().await.unwrap();
        // Woken, not only learned of: waiters see the value once they are woken.
        tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                newest.changed().await.unwrap();
                if *newest.borrow_and_update() >= last.0 {
                    break;
                }
            }
        })
        .await
        .expect("the follower announces the other instance's append");
        assert_eq!(a.recent.through(), db_id(last));
    }

    /// The window decides who reads a chat event from the membership spans it keeps, which
    /// each load updates with the spans that began or ended since the one before. At every
    /// step of joins, leaves, a rejoin, a logout and a removed chat, it must hand each reader
    /// what the table does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_window_and_the_table_agree_on_who_reads_each_chat_event() {
        use chatty_domain::Delivery;
        use chatty_domain::ports::{SessionKey, SessionRepository};

        let db = testing::TestDatabase::new().await;
        let windowed = PgStore::new(db.url(), PgSettings::default()).unwrap();
        // A window of one event: reads from the start go to the table.
        let tabled = PgSettings {
            recent_events: 1,
            ..PgSettings::default()
        };
        let tabled = PgStore::new(db.url(), tabled).unwrap();
        let at = Timestamp::from_millis(0);
        let (main, side) = (chat("Main"), chat("Side"));
        let mut people = Vec::new();
        for name in ["ann", "bob", "cat"] {
            people.push(testing::guest(&windowed, name).await);
        }
        let [ann, bob, cat] = &people[..] else {
            unreachable!()
        };
        let say = async |who: &SessionKey, room: &ChatName, text: &str| {
            testing::say(&windowed, who, room, text, at).await;
        };
        let ids = |read: Result<Vec<Delivery>, StoreError>| {
            read.map(|d| d.iter().map(|d| d.id().0).collect::<Vec<_>>())
                .map_err(|e| e.to_string())
        };
        let compare = async |step: &str| {
            for who in &people {
                let from_window = ids(windowed.read_after(who, EventId(0), 1000).await);
                let from_table = ids(tabled.read_after(who, EventId(0), 1000).await);
                assert_eq!(from_window, from_table, "{} after {step}", who.user);
            }
            assert_eq!(
                windowed.recent.through(),
                db_id(windowed.last_id().await.unwrap()),
                "read from the window"
            );
        };

        windowed.create_chat(&main, at).await.unwrap();
        windowed.create_chat(&side, at).await.unwrap();
        compare("the chats").await;
        windowed.join(&ann.user, &main, at).await.unwrap();
        windowed.join(&bob.user, &main, at).await.unwrap();
        say(ann, &main, "both in").await;
        compare("two joins").await;
        windowed.leave(&bob.user, &main, at).await.unwrap();
        say(ann, &main, "bob out").await;
        compare("a leave").await;
        windowed.join(&bob.user, &main, at).await.unwrap();
        windowed.join(&cat.user, &side, at).await.unwrap();
        say(bob, &main, "bob back").await;
        say(cat, &side, "cat alone").await;
        compare("a rejoin").await;
        windowed.join(&bob.user, &side, at).await.unwrap();
        windowed.leave(&bob.user, &side, at).await.unwrap();
        windowed.join(&bob.user, &side, at).await.unwrap();
        say(cat, &side, "bob in and out and in").await;
        compare("spans that began and ended between two loads").await;
        windowed.end(cat, false, at).await.unwrap();
        say(bob, &side, "cat logged out").await;
        compare("a logout").await;
        windowed.remove_chat(&side, at).await.unwrap();
        say(ann, &main, "side removed").await;
        compare("a removed chat").await;
        // An instance that starts now loads every span at once.
        let fresh = PgStore::new(db.url(), PgSettings::default()).unwrap();
        for who in &people[..2] {
            let all = ids(fresh.read_after(who, EventId(0), 1000).await).unwrap();
            let table = ids(tabled.read_after(who, EventId(0), 1000).await).unwrap();
            assert_eq!(all, table, "{} on a fresh instance", who.user);
        }
    }
}
