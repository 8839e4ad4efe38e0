//! The event log: appending under the log's row lock, reading per session, retention.

use std::sync::Arc;

use async_trait::async_trait;
use chatty_domain::ports::{EventLog, Missing, SessionKey, StoreError, Wakeup};
use chatty_domain::{Audience, Delivery, Event, EventId, Session, StoredEvent, Timestamp, Token};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::recent::Recent;
use crate::schema::{event_log, events, membership_spans, sessions};
use crate::{Appended, PgStore, TxError, db_id, event_id, from_db_time, store_error, to_db_time};

/// The event log, locked for the rest of a write transaction.
pub(crate) struct Log {
    start: i64,
    last: i64,
    retention: i64,
}

impl Log {
    /// Locks the log's row: from here until commit this transaction is the only writer.
    pub(crate) async fn lock(c: &mut AsyncPgConnection, retention: usize) -> Result<Self, TxError> {
        let last: i64 = event_log::table
            .select(event_log::last_id)
            .for_update()
            .first(c)
            .await?;
        Ok(Self {
            start: last,
            last,
            retention: i64::try_from(retention).unwrap_or(i64::MAX),
        })
    }

    /// The id the next appended event gets.
    pub(crate) fn next_id(&self) -> EventId {
        event_id(self.last + 1)
    }

    /// Appends `event`, fixing its audience against what this transaction sees now.
    pub(crate) async fn append(
        &mut self,
        c: &mut AsyncPgConnection,
        event: Event,
    ) -> Result<(), TxError> {
        // A chat event's readers are the members whose span covers its id (`membership_spans`).
        let (audience, audience_user, audience_chat): (i16, Option<&str>, Option<&str>) =
            match event.audience() {
                Audience::Everyone => (0, None, None),
                Audience::EveryoneBut(user) => (1, Some(user.folded()), None),
                Audience::ChatMembers(chat) => (2, None, Some(chat.as_str())),
            };
        let payload = serde_json::to_value(&event)
            .map_err(|e| TxError::Store(StoreError::Unavailable(Box::new(e))))?;
        self.last += 1;
        diesel::insert_into(events::table)
            .values((
                events::id.eq(self.last),
                events::kind.eq(event.type_name()),
                events::payload.eq(payload),
                events::audience.eq(audience),
                events::audience_user.eq(audience_user),
                events::audience_chat.eq(audience_chat),
                events::time.eq(to_db_time(event.time())),
            ))
            .execute(c)
            .await?;
        Ok(())
    }

    /// Opens `user_key`'s span of `chat`: the chat's events from the next one on are theirs.
    pub(crate) async fn open_span(
        &self,
        c: &mut AsyncPgConnection,
        chat: &str,
        user_key: &str,
    ) -> Result<(), TxError> {
        diesel::insert_into(membership_spans::table)
            .values((
                membership_spans::chat.eq(chat),
                membership_spans::user_key.eq(user_key),
                membership_spans::from_event.eq(self.last + 1),
            ))
            .execute(c)
            .await?;
        Ok(())
    }

    /// Closes the open spans of `user_key` (of `chat` only, or of every chat) before the next
    /// event: the membership ends with what was appended so far.
    pub(crate) async fn close_spans_of_user(
        &self,
        c: &mut AsyncPgConnection,
        user_key: &str,
        chat: Option<&str>,
    ) -> Result<(), TxError> {
        let open = membership_spans::table
            .filter(membership_spans::user_key.eq(user_key))
            .filter(membership_spans::until_event.is_null());
        let until = membership_spans::until_event.eq(self.last + 1);
        match chat {
            Some(chat) => {
                diesel::update(open.filter(membership_spans::chat.eq(chat)))
                    .set(until)
                    .execute(c)
                    .await?
            }
            None => diesel::update(open).set(until).execute(c).await?,
        };
        Ok(())
    }

    /// Closes every open span of `chat` (the chat is removed) before the next event.
    pub(crate) async fn close_spans_of_chat(
        &self,
        c: &mut AsyncPgConnection,
        chat: &str,
    ) -> Result<(), TxError> {
        diesel::update(
            membership_spans::table
                .filter(membership_spans::chat.eq(chat))
                .filter(membership_spans::until_event.is_null()),
        )
        .set(membership_spans::until_event.eq(self.last + 1))
        .execute(c)
        .await?;
        Ok(())
    }

    pub(crate) async fn append_all(
        &mut self,
        c: &mut AsyncPgConnection,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<(), TxError> {
        for event in events {
            self.append(c, event).await?;
        }
        Ok(())
    }

    /// Records the new last id, applies count retention and announces the new events to
    /// other instances (a wake-up hint only: readers always read the table).
    pub(crate) async fn finish(self, c: &mut AsyncPgConnection) -> Result<Appended, TxError> {
        if self.last == self.start {
            return Ok(Appended { last: None });
        }
        diesel::update(event_log::table)
            .set(event_log::last_id.eq(self.last))
            .execute(c)
            .await?;
        let cut = self.last - self.retention;
        if cut > 0 {
            prune_where(c, events::id.le(cut)).await?;
        }
        diesel::sql_query("SELECT pg_notify('chatty_events', $1)")
            .bind::<Text, _>(self.last.to_string())
            .execute(c)
            .await?;
        Ok(Appended {
            last: u64::try_from(self.last).ok(),
        })
    }
}

/// What a deletion by retention removed: how many events, the newest of them.
struct Pruned {
    count: u64,
    through: Option<i64>,
}

/// Deletes the events matching `filter` and records the newest one deleted.
async fn prune_where<F>(c: &mut AsyncPgConnection, filter: F) -> Result<Pruned, TxError>
where
    F: diesel::query_builder::QueryFragment<diesel::pg::Pg>
        + diesel::expression::NonAggregate
        + diesel::AppearsOnTable<events::table>
        + diesel::Expression<SqlType = diesel::sql_types::Bool>
        + diesel::query_builder::QueryId
        + Send
        + 'static,
{
    let deleted: Vec<(i64, DateTime<Utc>)> = diesel::delete(events::table.filter(filter))
        .returning((events::id, events::time))
        .get_results(c)
        .await?;
    let newest = deleted.iter().max_by_key(|(id, _)| *id);
    if let Some((id, time)) = newest {
        diesel::update(event_log::table.filter(event_log::pruned_through.lt(*id)))
            .set((
                event_log::pruned_through.eq(*id),
                event_log::pruned_time.eq(*time),
            ))
            .execute(c)
            .await?;
        // Spans that ended before the oldest event kept decide nothing any more.
        diesel::delete(membership_spans::table.filter(membership_spans::until_event.le(*id + 1)))
            .execute(c)
            .await?;
    }
    Ok(Pruned {
        count: deleted.len() as u64,
        through: newest.map(|(id, _)| *id),
    })
}

/// The log's ends: the newest event appended and the newest deleted by retention.
pub(crate) struct LogState {
    pub(crate) last_id: i64,
    pub(crate) pruned_through: i64,
}

pub(crate) async fn log_state(
    c: &mut AsyncPgConnection,
) -> Result<LogState, diesel::result::Error> {
    let (last_id, pruned_through) = event_log::table
        .select((event_log::last_id, event_log::pruned_through))
        .first(c)
        .await?;
    Ok(LogState {
        last_id,
        pruned_through,
    })
}

pub(crate) async fn last_id(c: &mut AsyncPgConnection) -> Result<EventId, StoreError> {
    let state = log_state(c).await.map_err(store_error)?;
    Ok(event_id(state.last_id))
}

/// An `events` row as the domain's event, in the order of the log.
pub(crate) fn stored_event(
    id: i64,
    kind: &str,
    payload: serde_json::Value,
) -> Result<Arc<StoredEvent>, TxError> {
    let event = Event::from_payload(kind, payload)
        .map_err(|e| TxError::Store(StoreError::Unavailable(Box::new(e))))?;
    Ok(Arc::new(StoredEvent::new(event_id(id), event)))
}

#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Jsonb)]
    payload: serde_json::Value,
}

/// The reader's position (its session's first event and, for the legacy poll, its cursor)
/// and how far retention has pruned, read together.
struct Reader {
    user_key: String,
    first_event: i64,
    cursor: i64,
    pruned_through: i64,
    pruned_time: DateTime<Utc>,
    /// The newest event committed when the reader was read.
    last: i64,
}

#[derive(QueryableByName)]
struct ReaderRow {
    #[diesel(sql_type = Text)]
    token: String,
    #[diesel(sql_type = BigInt)]
    first_event: i64,
    #[diesel(sql_type = BigInt)]
    cursor: i64,
    #[diesel(sql_type = BigInt)]
    pruned_through: i64,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pruned_time: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    last_id: i64,
}

async fn reader(
    c: &mut AsyncPgConnection,
    key: &SessionKey,
    lock: bool,
) -> Result<Reader, TxError> {
    let sql = if lock {
        "SELECT s.token, s.first_event, s.cursor, l.pruned_through, l.pruned_time, \
         l.last_id FROM sessions s CROSS JOIN event_log l WHERE s.user_key = $1 FOR UPDATE OF s"
    } else {
        "SELECT s.token, s.first_event, s.cursor, l.pruned_through, l.pruned_time, \
         l.last_id FROM sessions s CROSS JOIN event_log l WHERE s.user_key = $1"
    };
    let row: Option<ReaderRow> = diesel::sql_query(sql)
        .bind::<Text, _>(key.user.folded())
        .get_result(c)
        .await
        .optional()?;
    match row {
        Some(row) if Token::new(row.token.clone()).matches(&key.token) => Ok(Reader {
            user_key: key.user.folded().to_owned(),
            first_event: row.first_event,
            cursor: row.cursor,
            pruned_through: row.pruned_through,
            pruned_time: row.pruned_time,
            last: row.last_id,
        }),
        _ => Err(StoreError::NotFound(Missing::Session).into()),
    }
}

/// The deliveries for `reader` after `after`: a resync first when retention dropped events
/// the reader had not read yet.
async fn deliveries(
    c: &mut AsyncPgConnection,
    recent: &Recent,
    reader: &Reader,
    after: i64,
    limit: usize,
) -> Result<Vec<Delivery>, TxError> {
    let (pruned_through, pruned_time) = (reader.pruned_through, reader.pruned_time);
    let mut out = Vec::new();
    let mut after = after;
    if after < pruned_through && reader.first_event <= pruned_through {
        out.push(Delivery::Resync {
            id: event_id(pruned_through),
            time: from_db_time(pruned_time),
        });
        after = pruned_through;
    }
    let want = limit.saturating_sub(out.len());
    if want == 0 || after >= reader.last {
        return Ok(out);
    }
    recent.load_through(c, reader.last).await?;
    if let Some(events) = recent.read(
        after,
        reader.last,
        reader.first_event,
        &reader.user_key,
        want,
    ) {
        out.extend(events);
        return Ok(out);
    }
    let rows: Vec<EventRow> = diesel::sql_query(
        "SELECT id, kind, payload FROM events \
         WHERE id > $1 AND id >= $2 \
           AND (audience = 0 \
                OR (audience = 1 AND audience_user <> $3) \
                OR (audience = 2 AND $3 = ANY (recipients)) \
                OR (audience = 2 AND EXISTS ( \
                    SELECT 1 FROM membership_spans m \
                    WHERE m.user_key = $3 AND m.chat = events.audience_chat \
                      AND m.from_event <= events.id \
                      AND (m.until_event IS NULL OR events.id < m.until_event)))) \
         ORDER BY id LIMIT $4",
    )
    .bind::<BigInt, _>(after)
    .bind::<BigInt, _>(reader.first_event)
    .bind::<Text, _>(&reader.user_key)
    .bind::<BigInt, _>(i64::try_from(want).unwrap_or(i64::MAX))
    .load(c)
    .await?;
    // Retention may have deleted events between the reader's query and this one; the rows
    // would then silently start later. Checked after the read, so the reader is told.
    let (pruned_now, pruned_now_time): (i64, DateTime<Utc>) = event_log::table
        .select((event_log::pruned_through, event_log::pruned_time))
        .first(c)
        .await?;
    let rows = if pruned_now > after && pruned_now > pruned_through {
        if reader.first_event <= pruned_now {
            out.retain(|d| !matches!(d, Delivery::Resync { .. }));
            out.push(Delivery::Resync {
                id: event_id(pruned_now),
                time: from_db_time(pruned_now_time),
            });
        }
        rows.into_iter().filter(|r| r.id > pruned_now).collect()
    } else {
        rows
    };
    for row in rows {
        out.push(Delivery::Event(stored_event(
            row.id,
            &row.kind,
            row.payload,
        )?));
    }
    // A late resync notice takes one place of the batch: the legacy poll sends only the first
    // delivery and moves the cursor to the last, so a batch never exceeds what was asked.
    out.truncate(limit);
    Ok(out)
}

#[async_trait]
impl EventLog for PgStore {
    async fn last_id(&self) -> Result<EventId, StoreError> {
        let last = last_id(&mut *self.conn().await?).await?;
        self.announce(last.0);
        Ok(last)
    }

    async fn subscribe(&self, reader_key: &SessionKey) -> Result<Wakeup, StoreError> {
        // The session is checked by the read that follows every subscription (an ended
        // session appends its logout, which wakes this): no round trip here.
        let _ = reader_key;
        let mut rx = self.newest.subscribe();
        Ok(Box::pin(async move {
            let _ = rx.changed().await;
        }))
    }

    async fn read_after(
        &self,
        key: &SessionKey,
        after: EventId,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        if let Some(batch) = self.read_known_session(key, db_id(after), limit).await? {
            return Ok(batch);
        }
        let mut conn = self.conn().await?;
        let r = reader(&mut conn, key, false).await?;
        let batch = deliveries(&mut conn, &self.recent, &r, db_id(after), limit).await?;
        self.live.remember(key, r.first_event, r.last, None);
        Ok(batch)
    }

    async fn take(&self, key: &SessionKey, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        if let Some(batch) = self.take_known_session(key, limit).await? {
            return Ok(batch);
        }
        let mut conn = self.conn().await?;
        let owned = key.clone();
        let recent = &self.recent;
        let (batch, first_event, last, cursor) = conn
            .transaction::<_, TxError, _>(async move |c| {
                let key = owned;
                let r = reader(c, &key, true).await?;
                let batch = deliveries(c, recent, &r, r.cursor, limit).await?;
                let mut cursor = r.cursor;
                if let Some(last) = batch.last() {
                    cursor = db_id(last.id());
                    diesel::update(sessions::table.filter(sessions::user_key.eq(&r.user_key)))
                        .set(sessions::cursor.eq(db_id(last.id())))
                        .execute(c)
                        .await?;
                    // Moving a cursor need not wait for the disk: should Postgres crash right
                    // after, the events are delivered again, never lost. Every poll answer
                    // would otherwise wait for a WAL flush.
                    diesel::sql_query("SET LOCAL synchronous_commit = off")
                        .execute(c)
                        .await?;
                }
                Ok((batch, r.first_event, r.last, cursor))
            })
            .await?;
        self.live.remember(key, first_event, last, Some(cursor));
        Ok(batch)
    }

    async fn prune(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let pruned = conn
            .transaction::<_, TxError, _>(async move |c| {
                Log::lock(c, usize::MAX).await?;
                let pruned = prune_where(c, events::time.lt(to_db_time(cutoff))).await?;
                if pruned.through.is_some() {
                    // Other instances drop the deleted events from their windows too.
                    diesel::sql_query("SELECT pg_notify('chatty_events', 'pruned')")
                        .execute(c)
                        .await?;
                }
                Ok(pruned)
            })
            .await?;
        if let Some(through) = pruned.through {
            self.recent.forget_through(through);
        }
        Ok(pruned.count)
    }
}

/// Sessions this instance has read for recently, so that a stream's next read needs no
/// round trip: the session is known live up to `verified_through`, and the window of recent
/// events says whether it ended since (see `Recent::ended_after`).
#[derive(Default)]
pub(crate) struct LiveSessions(std::sync::Mutex<std::collections::HashMap<String, Live>>);

struct Live {
    token: Token,
    first_event: i64,
    verified_through: i64,
    /// The legacy poll's cursor as this instance last wrote or read it; a move from it is a
    /// compare-and-set, so a stale one only costs a read of the table.
    cursor: Option<i64>,
    /// The session as its last check in the table found it (flags are fixed at login).
    session: Option<Session>,
}

/// Forgotten sessions are re-read from the table; past this many, the map starts afresh.
const LIVE_SESSIONS_MAX: usize = 100_000;

impl LiveSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Live>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a session read from the table, with its cursor when that was read too (else the
    /// one known for the same session stays).
    fn remember(
        &self,
        key: &SessionKey,
        first_event: i64,
        verified_through: i64,
        cursor: Option<i64>,
    ) {
        let mut live = self.lock();
        if live.len() >= LIVE_SESSIONS_MAX {
            live.clear();
        }
        let same = live
            .get(key.user.folded())
            .filter(|l| l.first_event == first_event);
        let cursor = cursor.or_else(|| same.and_then(|l| l.cursor));
        let session = same.and_then(|l| l.session.clone());
        live.insert(
            key.user.folded().to_owned(),
            Live {
                token: key.token.clone(),
                first_event,
                verified_through,
                cursor,
                session,
            },
        );
    }

    /// Records a session checked in the table, live at least through event `verified_through`.
    pub(crate) fn remember_session(&self, session: &Session, verified_through: i64) {
        let key = SessionKey {
            user: session.user.clone(),
            token: session.token.clone(),
        };
        let first_event = db_id(session.first_event);
        self.remember(&key, first_event, verified_through, None);
        if let Some(entry) = self.lock().get_mut(key.user.folded()) {
            entry.session = Some(session.clone());
        }
    }

    /// The session of `key` as last checked in the table, and how far it is known live.
    fn known_session(&self, key: &SessionKey) -> Option<(Session, i64)> {
        let live = self.lock();
        let entry = live.get(key.user.folded())?;
        if !entry.token.matches(&key.token) {
            return None;
        }
        Some((entry.session.clone()?, entry.verified_through))
    }

    fn set_last_active(&self, key: &SessionKey, at: Timestamp) {
        if let Some(session) = self
            .lock()
            .get_mut(key.user.folded())
            .and_then(|l| l.session.as_mut())
        {
            session.last_active = at;
        }
    }

    /// The session's first event, how far it is known live, and its cursor if known, if `key`
    /// is what was read.
    fn known(&self, key: &SessionKey) -> Option<(i64, i64, Option<i64>)> {
        let live = self.lock();
        let entry = live.get(key.user.folded())?;
        entry.token.matches(&key.token).then_some((
            entry.first_event,
            entry.verified_through,
            entry.cursor,
        ))
    }

    fn set_cursor(&self, key: &SessionKey, cursor: Option<i64>) {
        if let Some(entry) = self.lock().get_mut(key.user.folded()) {
            entry.cursor = cursor;
        }
    }

    fn confirm(&self, key: &SessionKey, through: i64) {
        if let Some(entry) = self.lock().get_mut(key.user.folded()) {
            entry.verified_through = entry.verified_through.max(through);
        }
    }

    fn forget(&self, key: &SessionKey) {
        self.lock().remove(key.user.folded());
    }
}

impl PgStore {
    /// The newest event id this instance knows of.
    pub(crate) fn newest_known(&self) -> i64 {
        i64::try_from(*self.newest.borrow()).unwrap_or(i64::MAX)
    }

    /// `touch` without reading the table, for a session this instance checked recently: the
    /// window of recent events says whether it ended since (every end appends its user's
    /// `LogoutEvent`). `Ok(None)` when the table must be asked; `Ok(Some(None))` when it ended.
    pub(crate) async fn touch_known_session(
        &self,
        key: &SessionKey,
        now: Timestamp,
    ) -> Result<Option<Option<Session>>, StoreError> {
        let Some((mut session, verified)) = self.live.known_session(key) else {
            return Ok(None);
        };
        self.recent
            .catch_up(self.newest_known(), async || self.conn().await)
            .await?;
        match self.recent.ended_after(key.user.folded(), verified) {
            None => Ok(None),
            Some((true, _)) => {
                self.live.forget(key);
                Ok(Some(None))
            }
            Some((false, through)) => {
                self.live.confirm(key, through);
                if crate::sessions::activity_is_due(session.last_active, now) {
                    self.note_activity(key, now);
                    session.last_active = now;
                    self.live.set_last_active(key, now);
                }
                Ok(Some(Some(session)))
            }
        }
    }

    pub(crate) fn note_activity(&self, key: &SessionKey, now: Timestamp) {
        self.activity
            .note(&self.pool, key.user.folded(), to_db_time(now));
    }

    /// `take` for a session whose cursor this instance knows: the events from the window of
    /// recent events, and the cursor moved in a batch with the other polls answered at the
    /// same time. `None` when the table must be asked (the cursor moved elsewhere, say).
    async fn take_known_session(
        &self,
        key: &SessionKey,
        limit: usize,
    ) -> Result<Option<Vec<Delivery>>, StoreError> {
        let Some((first_event, _, Some(cursor))) = self.live.known(key) else {
            return Ok(None);
        };
        let Some(batch) = self.read_known_session(key, cursor, limit).await? else {
            return Ok(None);
        };
        let Some(last) = batch.last() else {
            return Ok(Some(batch));
        };
        let to = db_id(last.id());
        let moved = self
            .cursors
            .compare_and_set(&self.pool, key.user.folded(), first_event, cursor, to)
            .await?;
        self.live.set_cursor(key, moved.then_some(to));
        Ok(moved.then_some(batch))
    }

    /// `read_after` without a round trip for a session read recently, when the window of
    /// recent events covers both the cursor and the time since the session was last seen
    /// live; `None` when the table must be asked.
    async fn read_known_session(
        &self,
        key: &SessionKey,
        after: i64,
        limit: usize,
    ) -> Result<Option<Vec<Delivery>>, StoreError> {
        let Some((first_event, verified, _)) = self.live.known(key) else {
            return Ok(None);
        };
        self.recent
            .catch_up(self.newest_known(), async || self.conn().await)
            .await?;
        let user_key = key.user.folded();
        match self.recent.ended_after(user_key, verified) {
            None => Ok(None),
            Some((true, _)) => {
                self.live.forget(key);
                Err(StoreError::NotFound(Missing::Session))
            }
            Some((false, through)) => {
                self.live.confirm(key, through);
                if after >= through {
                    return Ok(Some(Vec::new()));
                }
                Ok(self
                    .recent
                    .read(after, through, first_event, user_key, limit))
            }
        }
    }
}
