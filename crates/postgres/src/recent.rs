//! The newest events, loaded once per instance and shared by all of its readers.
//!
//! Without it every waiting poll and stream runs its own query when an event arrives, and
//! decodes and re-encodes the same payload: a message to a chat of a thousand readers costs a
//! thousand queries. With it, the first reader to see a new last id loads the new rows once,
//! and the others filter them in memory with the same visibility rule as the SQL query.

use std::collections::VecDeque;
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
    audience: i16,
    audience_user: Option<String>,
    /// Sorted, for binary search; shared by consecutive events with the same readers, and
    /// each name shared with the list before (see `share_names`).
    recipients: Arc<[Arc<str>]>,
}

impl Cached {
    /// The SQL rule of `events::deliveries`: everyone, everyone but one user, or the chat's
    /// members whose membership span covers the event (loaded with it).
    fn visible_to(&self, user_key: &str) -> bool {
        match self.audience {
            0 => true,
            1 => self.audience_user.as_deref() != Some(user_key),
            _ => self
                .recipients
                .binary_search_by(|r| (**r).cmp(user_key))
                .is_ok(),
        }
    }
}

/// Events with ids `after + 1 ..= after + events.len()`, without gaps: ids are handed out one
/// by one under the log's lock, and rows disappear only by retention, oldest first.
#[derive(Default)]
struct Window {
    after: i64,
    events: VecDeque<Cached>,
    /// Recipient names held by `events`, bounded by `RECIPIENTS_MAX`.
    recipients: usize,
}

/// The recipient names the window may hold (16 MB of shared pointers, the names themselves
/// once): in a chat of 10,000 members each event lists 10,000 names, so a count of events
/// alone would not bound its memory.
const RECIPIENTS_MAX: usize = 1_000_000;

impl Window {
    fn through(&self) -> i64 {
        self.after + i64::try_from(self.events.len()).unwrap_or(i64::MAX)
    }

    /// Drops the oldest event; a list of names shared with the next one is counted by it.
    fn pop_front(&mut self) {
        if let Some(dropped) = self.events.pop_front() {
            let shared = self
                .events
                .front()
                .is_some_and(|next| Arc::ptr_eq(&next.recipients, &dropped.recipients));
            if !shared {
                self.recipients -= dropped.recipients.len();
            }
        }
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

/// `names` (sorted) as a list whose names already in `before` (sorted too) are the same
/// allocations, and `before` itself when the two are equal: the member lists of consecutive
/// events in a chat differ by a joiner or a leaver, so a window of events in a chat of N
/// members holds each name once, not once per event (about 45 MB for a full window of
/// separate names, 16 MB shared).
fn share_names(before: &Arc<[Arc<str>]>, names: Vec<String>) -> Arc<[Arc<str>]> {
    let mut known = before.iter().peekable();
    let mut all_known = true;
    let shared: Vec<Arc<str>> = names
        .into_iter()
        .map(|name| {
            while known.next_if(|k| ***k < *name).is_some() {
                all_known = false;
            }
            match known.next_if(|k| ***k == *name) {
                Some(same) => Arc::clone(same),
                None => {
                    all_known = false;
                    Arc::from(name)
                }
            }
        })
        .collect();
    if all_known && known.next().is_none() {
        Arc::clone(before)
    } else {
        shared.into()
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
    #[diesel(sql_type = Nullable<Array<Text>>)]
    recipients: Option<Vec<String>>,
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
        let through = self.through();
        if through >= last {
            return Ok(());
        }
        let capacity = i64::try_from(self.capacity).unwrap_or(i64::MAX);
        let from = through.max(last - capacity);
        let rows: Vec<Row> = diesel::sql_query(
            // A chat event's readers, as the table path decides them: the members whose span
            // covers it (or, for rows from before the spans, its own list).
            "SELECT e.id, e.kind, e.payload, e.audience, e.audience_user, \
                    CASE WHEN e.audience = 2 THEN COALESCE(e.recipients, ARRAY( \
                        SELECT m.user_key FROM membership_spans m \
                        WHERE m.chat = e.audience_chat AND m.from_event <= e.id \
                          AND (m.until_event IS NULL OR e.id < m.until_event))) \
                    END AS recipients \
             FROM events e WHERE e.id > $1 AND e.id <= $2 ORDER BY e.id",
        )
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(last)
        .load(c)
        .await?;
        let mut loaded = Vec::with_capacity(rows.len());
        // The list of the newest event loaded so far, to share names with.
        let mut previous: Arc<[Arc<str>]> = {
            let window = self.window.read().unwrap_or_else(PoisonError::into_inner);
            (window.events.back()).map_or_else(|| Arc::from([]), |e| Arc::clone(&e.recipients))
        };
        for row in rows {
            let stored = stored_event(row.id, &row.kind, row.payload)?;
            let mut names = row.recipients.unwrap_or_default();
            names.sort_unstable();
            let recipients = if names.is_empty() {
                Arc::from([])
            } else {
                share_names(&previous, names)
            };
            if !recipients.is_empty() {
                previous = Arc::clone(&recipients);
            }
            loaded.push((
                row.id,
                Cached {
                    stored,
                    audience: row.audience,
                    audience_user: row.audience_user,
                    recipients,
                },
            ));
        }
        let mut window = self.window.write().unwrap_or_else(PoisonError::into_inner);
        // What retention deleted before the query leaves the rows starting later: the window
        // then starts afresh just before the first row (or at `last` when none is left).
        let first = <[_]>::first(&loaded).map_or(last + 1, |(id, _)| *id);
        if first != window.through() + 1 {
            window.events.clear();
            window.recipients = 0;
            window.after = first - 1;
        }
        for (_, event) in loaded {
            // A shared list is counted once, by the first event holding it.
            let shared = window
                .events
                .back()
                .is_some_and(|last| Arc::ptr_eq(&last.recipients, &event.recipients));
            if !shared {
                window.recipients += event.recipients.len();
            }
            window.events.push_back(event);
        }
        while window.events.len() > self.capacity
            || (window.recipients > RECIPIENTS_MAX && window.events.len() > 1)
        {
            window.pop_front();
        }
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
                .filter(|e| e.visible_to(user_key))
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

    /// Consecutive member lists hold the names they have in common once.
    #[test]
    fn a_list_shares_the_names_it_has_in_common_with_the_list_before() {
        let before: Arc<[Arc<str>]> = ["ann", "bob", "dan"].into_iter().map(Arc::from).collect();
        let names = ["ann", "cat", "dan", "eve"].map(String::from).to_vec();
        let after = share_names(&before, names);
        let same = share_names(&after, after.iter().map(|n| n.to_string()).collect());
        assert!(
            Arc::ptr_eq(&same, &after),
            "an equal list is the list itself"
        );
        assert_eq!(
            after.iter().map(|n| &**n).collect::<Vec<_>>(),
            ["ann", "cat", "dan", "eve"]
        );
        assert!(Arc::ptr_eq(&after[0], &before[0]));
        assert!(Arc::ptr_eq(&after[2], &before[2]));
        assert_eq!(Arc::strong_count(&before[1]), 1, "bob left: not taken");
    }

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
