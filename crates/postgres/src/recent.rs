//! The newest events, loaded once per instance and shared by all of its readers.
//!
//! Without it every waiting poll and stream runs its own query when an event arrives, and
//! decodes and re-encodes the same payload: a message to a chat of a thousand readers costs a
//! thousand queries. With it, the first reader to see a new last id loads the new rows once,
//! and the others filter them in memory with the same visibility rule as the SQL query.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, PoisonError, RwLock};

use chatty_domain::ports::StoreError;
use chatty_domain::{Delivery, Event, StoredEvent};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, SmallInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::TxError;
use crate::events::stored_event;

/// One loaded event with what decides who may read it.
struct Cached {
    stored: Arc<StoredEvent>,
    readers: Readers,
}

/// The SQL rule of `events::deliveries`, per event.
enum Readers {
    Everyone,
    EveryoneBut(Box<str>),
    /// The chat's members whose membership span covers the event (`Spans`).
    MembersOf(Box<str>),
    /// The list a chat event was written with before the membership spans, sorted.
    Listed(Box<[String]>),
}

impl Cached {
    fn visible_to(&self, spans: &Spans, user_key: &str) -> bool {
        match &self.readers {
            Readers::Everyone => true,
            Readers::EveryoneBut(user) => **user != *user_key,
            Readers::MembersOf(chat) => spans.covers(chat, user_key, crate::db_id(self.stored.id)),
            Readers::Listed(names) => names
                .binary_search_by(|name| name.as_str().cmp(user_key))
                .is_ok(),
        }
    }
}

/// The membership spans that reach into the window: who read each chat event, kept once per
/// membership rather than as a list of members per event. A list per event held O(events ×
/// members) names (a chat of 10,000 filled by joins: 16 MB of pointers for a hundred events)
/// and every load read each event's list from the table again.
#[derive(Default)]
struct Spans {
    /// Chat → member → the stretches `[from, until)` of event ids that were theirs; `until`
    /// is `OPEN` while the membership lasts, or while its end is beyond `through`.
    by_chat: HashMap<Box<str>, HashMap<Box<str>, Stretches>>,
    /// Span changes are known through this event id; `None` until the first load.
    through: Option<i64>,
    /// The spans known to have ended, by their end (ascending), so that they are dropped
    /// once the window has moved past them.
    ended: VecDeque<(i64, Box<str>, Box<str>)>,
}

/// One member's stretches `[from, until)` of a chat's event ids.
type Stretches = Vec<(i64, i64)>;

const OPEN: i64 = i64::MAX;

impl Spans {
    fn covers(&self, chat: &str, user_key: &str, id: i64) -> bool {
        self.by_chat
            .get(chat)
            .and_then(|members| members.get(user_key))
            .is_some_and(|spans| spans.iter().any(|&(from, until)| from <= id && id < until))
    }

    /// Records spans as the table holds them, as far as ids through `last` tell: an end after
    /// `last` counts as open, and is recorded by the load that reaches it.
    fn apply(&mut self, mut rows: Vec<SpanRow>, last: i64) {
        for row in &mut rows {
            row.until_event = row.until_event.filter(|until| *until <= last);
        }
        rows.sort_unstable_by_key(|row| row.until_event.unwrap_or(OPEN));
        for row in rows {
            let until = row.until_event.unwrap_or(OPEN);
            let (chat, user) = (Box::<str>::from(row.chat), Box::<str>::from(row.user_key));
            let ended = (until != OPEN).then(|| (until, chat.clone(), user.clone()));
            let spans = self
                .by_chat
                .entry(chat)
                .or_default()
                .entry(user)
                .or_default();
            match spans.iter_mut().find(|(from, _)| *from == row.from_event) {
                Some((_, known)) if *known == until => continue,
                Some((_, known)) => *known = until,
                None => {
                    spans.push((row.from_event, until));
                    spans.sort_unstable();
                }
            }
            // Ends arrive in order: sorted within a load, and each load's ends come after
            // the previous load's `last`.
            self.ended.extend(ended);
        }
        self.through = Some(last);
    }

    /// Drops the spans that ended by event `after` + 1: they cover no event after `after`.
    fn drop_ended_through(&mut self, after: i64) {
        while let Some((until, ..)) = self.ended.front()
            && *until <= after + 1
        {
            let Some((until, chat, user)) = self.ended.pop_front() else {
                break;
            };
            let Some(members) = self.by_chat.get_mut(&chat) else {
                continue;
            };
            if let Some(spans) = members.get_mut(&user) {
                spans.retain(|(_, end)| *end != until);
                if spans.is_empty() {
                    members.remove(&user);
                }
            }
            if members.is_empty() {
                self.by_chat.remove(&chat);
            }
        }
    }
}

#[derive(QueryableByName)]
struct SpanRow {
    #[diesel(sql_type = Text)]
    chat: String,
    #[diesel(sql_type = Text)]
    user_key: String,
    #[diesel(sql_type = BigInt)]
    from_event: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    until_event: Option<i64>,
}

/// Events with ids `after + 1 ..= after + events.len()`, without gaps: ids are handed out one
/// by one under the log's lock, and rows disappear only by retention, oldest first.
#[derive(Default)]
struct Window {
    after: i64,
    events: VecDeque<Cached>,
    /// Known from before `after` on, so they decide every event of the window.
    spans: Spans,
}

impl Window {
    fn through(&self) -> i64 {
        self.after + i64::try_from(self.events.len()).unwrap_or(i64::MAX)
    }

    fn pop_front(&mut self) {
        self.events.pop_front();
        self.after += 1;
    }
}

pub(crate) struct Recent {
    window: RwLock<Window>,
    /// One loader at a time; the others wait for its result instead of querying too.
    loading: tokio::sync::Mutex<()>,
    /// Bumped whenever a load ends, to wake the readers waiting for it.
    loads_ended: tokio::sync::watch::Sender<u64>,
    capacity: usize,
}

/// The one load under way: readers that find it wait for its end (`catch_up`), whichever path
/// started it, so every holder announces that end when it drops this, after success, failure
/// or cancellation alike.
struct Loading<'a> {
    /// Dropped first (fields drop in declaration order): readers woken by the announcement
    /// find the lock free.
    _lock: tokio::sync::MutexGuard<'a, ()>,
    _ended: LoadEnded<'a>,
}

/// Announces the end of a load when dropped.
struct LoadEnded<'a>(&'a tokio::sync::watch::Sender<u64>);

impl Drop for LoadEnded<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Jsonb)]
    payload: serde_json::Value,
    #[diesel(sql_type = SmallInt)]
    audience: i16,
    #[diesel(sql_type = Nullable<Text>)]
    audience_user: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    audience_chat: Option<String>,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    recipients: Option<Vec<String>>,
}

impl Row {
    fn readers(&mut self) -> Readers {
        match (
            self.audience,
            self.recipients.take(),
            self.audience_chat.take(),
        ) {
            (0, ..) => Readers::Everyone,
            (1, ..) => Readers::EveryoneBut(self.audience_user.take().unwrap_or_default().into()),
            (_, Some(mut names), _) => {
                names.sort_unstable();
                Readers::Listed(names.into())
            }
            (_, None, chat) => Readers::MembersOf(chat.unwrap_or_default().into()),
        }
    }
}

impl Recent {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            window: RwLock::new(Window::default()),
            loading: tokio::sync::Mutex::new(()),
            loads_ended: tokio::sync::watch::Sender::new(0),
            capacity: capacity.max(1),
        }
    }

    /// The right to load, unless another load is under way.
    fn try_load(&self) -> Option<Loading<'_>> {
        let lock = self.loading.try_lock().ok()?;
        Some(Loading {
            _lock: lock,
            _ended: LoadEnded(&self.loads_ended),
        })
    }

    /// Loads what is missing up to `last` (an id the caller has seen committed), unless
    /// another load is under way.
    pub(crate) async fn load_through(
        &self,
        c: &mut AsyncPgConnection,
        last: i64,
    ) -> Result<(), TxError> {
        if self.through() >= last {
            return Ok(());
        }
        // A caller holding a connection never waits for the loader: the loader may itself be
        // waiting for a connection. If another load is under way, the caller reads the table.
        let Some(_loading) = self.try_load() else {
            return Ok(());
        };
        self.load_locked(c, last).await
    }

    /// Brings the window up to `last`. When an event wakes a thousand readers, one of them
    /// loads it and the others wait for that load to end, all woken at once: neither queued
    /// for the pool nor handed a lock one after another.
    pub(crate) async fn catch_up<F, C>(&self, last: i64, connect: F) -> Result<(), TxError>
    where
        F: AsyncFnOnce() -> Result<C, StoreError>,
        C: std::ops::DerefMut<Target = AsyncPgConnection>,
    {
        let mut connect = Some(connect);
        loop {
            if self.through() >= last {
                return Ok(());
            }
            // Subscribed before trying the lock, so a load that ends in between is seen.
            let mut ended = self.loads_ended.subscribe();
            let Some(_loading) = self.try_load() else {
                // Another reader is loading; whether it succeeds or fails, look again after.
                if ended.changed().await.is_err() {
                    return Ok(());
                }
                continue;
            };
            if self.through() >= last {
                return Ok(());
            }
            let Some(connect) = connect.take() else {
                return Ok(());
            };
            let mut conn = connect().await?;
            return self.load_locked(&mut conn, last).await;
        }
    }

    async fn load_locked(&self, c: &mut AsyncPgConnection, last: i64) -> Result<(), TxError> {
        let (through, spans_through) = {
            let window = self.window.read().unwrap_or_else(PoisonError::into_inner);
            (window.through(), window.spans.through)
        };
        if through >= last {
            return Ok(());
        }
        let capacity = i64::try_from(self.capacity).unwrap_or(i64::MAX);
        let from = through.max(last - capacity);
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT id, kind, payload, audience, audience_user, audience_chat, recipients \
             FROM events WHERE id > $1 AND id <= $2 ORDER BY id",
        )
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(last)
        .load(c)
        .await?;
        let spans: Vec<SpanRow> = match spans_through {
            // What began or ended since: every change with an end through `last` committed
            // before `last` did, for both ends are ids taken under the log's lock.
            Some(known) => diesel::sql_query(
                "SELECT chat, user_key, from_event, until_event FROM membership_spans \
                 WHERE (from_event > $1 AND from_event <= $2) \
                    OR (until_event > $1 AND until_event <= $2)",
            )
            .bind::<BigInt, _>(known)
            .bind::<BigInt, _>(last),
            // Every span that covers an event after `from`.
            None => diesel::sql_query(
                "SELECT chat, user_key, from_event, until_event FROM membership_spans \
                 WHERE from_event <= $2 AND (until_event IS NULL OR until_event > $1 + 1)",
            )
            .bind::<BigInt, _>(from)
            .bind::<BigInt, _>(last),
        }
        .load(c)
        .await?;
        let mut loaded = Vec::with_capacity(rows.len());
        for mut row in rows {
            let readers = row.readers();
            loaded.push(Cached {
                stored: stored_event(row.id, &row.kind, row.payload)?,
                readers,
            });
        }
        let mut window = self.window.write().unwrap_or_else(PoisonError::into_inner);
        window.spans.apply(spans, last);
        // What retention deleted before the query leaves the rows starting later: the window
        // then starts afresh just before the first row (or at `last` when none is left).
        let first = <[_]>::first(&loaded).map_or(last + 1, |event| crate::db_id(event.stored.id));
        if first != window.through() + 1 {
            window.events.clear();
            window.after = first - 1;
        }
        window.events.extend(loaded);
        while window.events.len() > self.capacity {
            window.pop_front();
        }
        let after = window.after;
        window.spans.drop_ended_through(after);
        Ok(())
    }

    /// Drops the events through `id` that retention deleted from the table, so that a reader
    /// behind them is served by the table and gets its `ResyncEvent` there, as on every other
    /// instance.
    pub(crate) fn forget_through(&self, id: i64) {
        let mut window = self.window.write().unwrap_or_else(PoisonError::into_inner);
        while window.after < id && !window.events.is_empty() {
            window.pop_front();
        }
        // Nothing loaded that far: the window starts afresh after the deleted events.
        window.after = window.after.max(id);
        let after = window.after;
        window.spans.drop_ended_through(after);
    }

    /// Whether the session of `user_key` ended after event `since`, as far as the window
    /// tells: every end of a session (logout, expiry, a newer login of the name, a password
    /// reset) appends a `LogoutEvent` of its user in the same transaction. `None` when the
    /// window does not reach back to `since`.
    pub(crate) fn ended_after(&self, user_key: &str, since: i64) -> Option<(bool, i64)> {
        let window = self.window.read().unwrap_or_else(PoisonError::into_inner);
        if since < window.after {
            return None;
        }
        let start = usize::try_from(since - window.after).ok()?;
        let ended = window
            .events
            .range(start.min(window.events.len())..)
            .any(|e| matches!(&e.stored.event, Event::Logout(p) if p.user.folded() == user_key));
        Some((ended, window.through()))
    }

    pub(crate) fn through(&self) -> i64 {
        self.window
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .through()
    }

    /// Up to `limit` events after `after` that `user_key` may read, from its first event on;
    /// `None` when the window does not reach back to `after` or forward to `last`.
    pub(crate) fn read(
        &self,
        after: i64,
        last: i64,
        first_event: i64,
        user_key: &str,
        limit: usize,
    ) -> Option<Vec<Delivery>> {
        let window = self.window.read().unwrap_or_else(PoisonError::into_inner);
        if after < window.after || window.through() < last {
            return None;
        }
        let start = usize::try_from(after - window.after).ok()?;
        let from = usize::try_from((first_event - 1 - window.after).max(0)).ok()?;
        Some(
            window
                .events
                .range(start.max(from).min(window.events.len())..)
                .filter(|e| e.visible_to(&window.spans, user_key))
                .take(limit)
                .map(|e| Delivery::Event(Arc::clone(&e.stored)))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use diesel_async::SimpleAsyncConnection;

    use super::*;

    /// A reader of `catch_up` that finds a load under way waits for its end. A load of the
    /// table path (`load_through`, on the caller's own connection) must announce its end too,
    /// or the reader waits until something else loads: under load every reader of the instance
    /// ended up waiting so, and polls hung until their clients gave up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_waiting_for_a_load_of_the_table_path_is_woken_when_it_ends() {
        let (_db, pool) = crate::PgStore::test_pool().await;
        let recent = Arc::new(Recent::new(100));
        // Holds the table path's load in its query until released.
        let mut blocker = pool.get().await.unwrap();
        blocker
            .batch_execute("BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
        let table_path = {
            let (recent, pool) = (Arc::clone(&recent), pool.clone());
            tokio::spawn(async move {
                let mut c = pool.get().await.unwrap();
                recent.load_through(&mut c, 1).await.unwrap();
            })
        };
        while recent.loading.try_lock().is_ok() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let reader = {
            let (recent, pool) = (Arc::clone(&recent), pool.clone());
            tokio::spawn(async move {
                let connect = async || {
                    pool.get()
                        .await
                        .map_err(|e| StoreError::Unavailable(Box::new(e)))
                };
                recent.catch_up(1, connect).await.unwrap();
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !reader.is_finished(),
            "the reader waits for the load under way"
        );
        blocker.batch_execute("COMMIT").await.unwrap();
        table_path.await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("the reader is woken when the table path's load ends")
            .unwrap();
        assert_eq!(recent.through(), 1);
    }
}
